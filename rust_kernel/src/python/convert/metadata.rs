//! Metadata: a dict of str to str, int, float, bool or None, bounded in size.

use super::dicts::{as_dict, dict_items};
use super::ints::{int_value, is_int};
use super::numbers::{float_arg, is_real};
use super::text::utf8;
use super::type_name;
use crate::types::{MetaValue, Metadata};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyFloat, PyInt, PyString, PyType};

/// The most bytes of keys and text values one metadata dict may hold.
pub const MAX_METADATA_BYTES: usize = 4 << 20;

pub fn metadata_arg(obj: Option<&Bound<'_, PyAny>>, field: &str) -> PyResult<Metadata> {
    let mut out = Metadata::new();
    let mut size = 0;
    let Some(obj) = obj else { return Ok(out) };
    if obj.is_none() {
        return Ok(out);
    }
    let dict = as_dict(obj)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "invalid {field}: expected a dict of str to str/int/float/bool/None, got {}",
            type_name(obj)
        ))
    })?;
    // A copy of the items, as `dict_items` reads a config's: a value's __float__ may change
    // the dict, and PyO3's dict iterator panics when the dict changes size under it.
    for (k, v) in dict_items(&dict)? {
        let key = match k.cast::<PyString>() {
            Ok(k) => utf8(k, field)?.to_string(),
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "invalid {field}: keys must be str, got {}",
                    k.repr().map(|r| r.to_string()).unwrap_or_default()
                )))
            }
        };
        let value = if v.is_none() {
            MetaValue::Null
        } else if let Ok(s) = v.cast::<PyString>() {
            // Text and floats are looked at before bool: a failed bool extraction builds an
            // error object, which costs more than the rest of the fill's metadata.
            MetaValue::Str(utf8(s, format_args!("{field}[{key:?}]"))?.to_string())
        } else if v.is_instance_of::<PyFloat>() {
            MetaValue::Float(v.extract::<f64>()?)
        } else if let Ok(b) = v.extract::<bool>() {
            // Python's bool or numpy's (which is no int, unlike Python's).
            MetaValue::Bool(b)
        } else if v.is_instance_of::<PyInt>() || is_int(&v)? {
            MetaValue::Int(int_value(&v, format_args!("{field}[{key:?}]"))?)
        } else if is_real(&v)? {
            // Any other real number, as every entry point takes one: numpy's float32 (a model's
            // output) as numpy's integers.
            MetaValue::Float(float_arg(&v, &format!("{field}[{key:?}]"))?)
        } else {
            return Err(PyTypeError::new_err(format!(
                "invalid {field}[{key:?}]: values must be str, int, float, bool or None, got {}",
                type_name(&v)
            )));
        };
        size += key.len()
            + if let MetaValue::Str(s) = &value {
                s.len()
            } else {
                8
            };
        if size > MAX_METADATA_BYTES {
            return Err(PyValueError::new_err(format!(
                "invalid {field}: more than {MAX_METADATA_BYTES} bytes of keys and values"
            )));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// `meta` as a read-only mapping (`types.MappingProxyType`), for an object whose metadata is its
/// own: a change in place would change a fresh copy and be lost without a word, so it raises.
pub fn read_only_metadata<'py>(py: Python<'py>, meta: &Metadata) -> PyResult<Bound<'py, PyAny>> {
    read_only(metadata_to_py(py, meta)?)
}

/// `dict` behind a read-only view (a `types.MappingProxyType`).
pub fn read_only<'py>(dict: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    static PROXY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    PROXY
        .import(dict.py(), "types", "MappingProxyType")?
        .call1((dict,))
}

pub fn metadata_to_py<'py>(py: Python<'py>, meta: &Metadata) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in meta {
        match v {
            MetaValue::Null => d.set_item(k, py.None())?,
            MetaValue::Bool(b) => d.set_item(k, *b)?,
            MetaValue::Int(i) => d.set_item(k, *i)?,
            MetaValue::Float(f) => d.set_item(k, *f)?,
            MetaValue::Str(s) => d.set_item(k, s)?,
        }
    }
    Ok(d)
}
