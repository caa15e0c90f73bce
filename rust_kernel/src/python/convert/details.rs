//! Details of an outcome or a transition: named values, in their order.

use crate::types::{Detail, DetailRef, TransitionDetails};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Named values (an outcome's or a transition's details) as a dict, in their order: the one
/// conversion both take, as the journal's row writer and `details_json` have one.
fn named_values_to_py<'py, 'v>(
    py: Python<'py>,
    values: impl Iterator<Item = (&'static str, DetailRef<'v>)>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in values {
        match v {
            DetailRef::Str(s) => d.set_item(k, s)?,
            DetailRef::F64(x) => d.set_item(k, x)?,
            DetailRef::I64(x) => d.set_item(k, x)?,
            DetailRef::Bool(x) => d.set_item(k, x)?,
        }
    }
    Ok(d)
}

/// A transition's details as a dict, in their order.
pub fn transition_details_to_py<'py>(
    py: Python<'py>,
    details: &TransitionDetails,
) -> PyResult<Bound<'py, PyDict>> {
    named_values_to_py(py, details.iter())
}

pub fn details_to_py<'py>(
    py: Python<'py>,
    details: &[(&'static str, Detail)],
) -> PyResult<Bound<'py, PyDict>> {
    named_values_to_py(py, details.iter().map(|(k, v)| (*k, v.as_ref())))
}
