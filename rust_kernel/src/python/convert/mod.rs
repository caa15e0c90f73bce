//! Argument conversion at the boundary, one module per kind of value: each takes a Python
//! value for one field, checks it and names the field and the value when it refuses it.
//! `numbers` (real numbers and lists of them), `ints`, `flags` (a bool or 0/1), `text` (and
//! ids), `enums` (a member or its name), `time` (seconds since the epoch), `metadata`,
//! `details`, `dicts` (any Mapping), `paths`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// Extractors for `#[pyo3(from_py_with = ...)]`, one per argument: PyO3 hands an extractor
/// the value, not the argument's name.
macro_rules! named_extractors {
    ($module:ident -> $t:ty = $extract:ident($($name:ident),+ $(,)?)) => {
        pub mod $module {
            use pyo3::prelude::*;
            $(
                pub fn $name(obj: &Bound<'_, PyAny>) -> PyResult<$t> {
                    super::$extract(obj, stringify!($name))
                }
            )+
        }
    };
}

pub mod details;
pub mod dicts;
pub mod enums;
pub mod flags;
pub mod ints;
pub mod metadata;
pub mod numbers;
pub mod paths;
pub mod text;
pub mod time;

/// The Python type name of `obj`, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// `obj` as the native class `T`, or a TypeError "`expects`, got <type>".
pub fn expect_native<'a, 'py, T: pyo3::type_object::PyTypeCheck>(
    obj: &'a Bound<'py, PyAny>,
    expects: &str,
) -> PyResult<&'a Bound<'py, T>> {
    obj.cast::<T>()
        .map_err(|_| PyTypeError::new_err(format!("{expects}, got {}", type_name(obj))))
}

/// The TypeError for `obj` where `what` is expected: "{what}, got {type} {value}", the value
/// as a short repr, so the error names both.
pub fn wrong_type(what: impl std::fmt::Display, obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "{what}, got {} {}",
        type_name(obj),
        short_repr(obj)
    ))
}

/// A value's repr for an error message, cut at 80 characters (an int may have thousands).
pub fn short_repr(obj: &Bound<'_, PyAny>) -> String {
    let r = obj.repr().map(|r| r.to_string()).unwrap_or_default();
    match r.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &r[..cut]),
        None => r,
    }
}
