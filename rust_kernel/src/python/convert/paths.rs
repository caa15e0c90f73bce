//! File system paths: str or os.PathLike of str.

use super::{short_repr, type_name};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// A path argument (str or os.PathLike of str), named on error. One no file name can hold (a
/// lone surrogate) is a ValueError naming it: PyO3's own conversion panics on it.
pub fn path_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<std::path::PathBuf> {
    let wrong_type = || {
        PyTypeError::new_err(format!(
            "invalid {field}: expected a path, got {}",
            type_name(obj)
        ))
    };
    let os = obj.py().import("os")?;
    let path = os
        .call_method1("fspath", (obj,))
        .map_err(|_| wrong_type())?;
    if !path.is_instance_of::<PyString>() {
        return Err(wrong_type());
    }
    if let Err(e) = os.call_method1("fsencode", (&path,)) {
        let repr = path.repr().map(|r| r.to_string()).unwrap_or_default();
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {repr} (not a valid file name: {})",
            e.value(obj.py())
        )));
    }
    // The system refuses a NUL in a file name with an error that prints it and names nothing.
    if path.contains("\0")? {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {} (not a valid file name: embedded null byte)",
            short_repr(&path)
        )));
    }
    path.extract().map_err(|_| wrong_type())
}

/// `wal_verify`'s and `wal_replay`'s `path`.
pub fn path_param(obj: &Bound<'_, PyAny>) -> PyResult<std::path::PathBuf> {
    path_arg(obj, "path")
}
