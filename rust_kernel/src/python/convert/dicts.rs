//! Mappings: a dict, or any other Mapping copied into one.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping};

/// `obj` as a dict: a dict (or a subclass) as it is, any other Mapping (the stubs take one)
/// copied into a new dict, None when it is no Mapping.
pub fn as_dict<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Some(d.clone()));
    }
    if obj.cast::<PyMapping>().is_err() {
        return Ok(None);
    }
    let copy = obj.py().get_type::<PyDict>().call1((obj,))?;
    Ok(Some(copy.cast_into::<PyDict>()?))
}

/// The items of `dict` as they are now. Iterate this, not the dict, when reading an item may
/// run Python code (a value's __float__) that can change the dict: PyO3's dict iterator
/// panics when the dict changes size under it.
pub fn dict_items<'py>(
    dict: &Bound<'py, PyDict>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    dict.items().iter().map(|kv| kv.extract()).collect()
}
