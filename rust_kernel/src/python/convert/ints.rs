//! Ints: Python's or any `numbers.Integral`, never a bool; ids of slots, counts, indexes.

use super::{short_repr, type_name, wrong_type};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyInt, PyType};

/// Whether `obj` is an int as dita takes one: Python's or any `numbers.Integral` (numpy's
/// integers, as a slot id computed from an array is), never a bool (Python's, which Python
/// counts as an int; numpy's is no `Integral`).
pub fn is_int(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    static INTEGRAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if obj.is_instance_of::<PyBool>() {
        return Ok(false);
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(true);
    }
    obj.is_instance(INTEGRAL.import(obj.py(), "numbers", "Integral")?)
}

/// Refuses anything but an int (`is_int`: a bool, which Python counts as one, included),
/// naming `field` and the value.
pub fn expect_int(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<()> {
    if !is_int(obj)? {
        return Err(wrong_type(
            format_args!("invalid {field}: expected int"),
            obj,
        ));
    }
    Ok(())
}

/// An int of at least `min` (not a bool, which Python counts as an int), naming `field`.
pub fn int_at_least(v: &Bound<'_, PyAny>, field: &str, min: u64) -> PyResult<u64> {
    expect_int(v, field)?;
    let n: i64 = v.extract().map_err(|_| {
        PyValueError::new_err(format!(
            "invalid {field}: {} (must be at most {})",
            v.repr().map(|r| r.to_string()).unwrap_or_default(),
            i64::MAX
        ))
    })?;
    if n < min as i64 {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {n} (must be at least {min})"
        )));
    }
    Ok(n as u64)
}

/// An int argument (not bool, not float), named on error; one beyond 64 bits is a ValueError.
pub fn int_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<i64> {
    expect_int(obj, field)?;
    int_value(obj, format_args!("{field}"))
}

/// The i64 of `obj`, an int (`is_int`), named `field` on error: one past the signed 64-bit
/// range says so, and an `Integral` that gives no int (no `__index__`) says that, not that it
/// is too large.
pub fn int_value<'py, T>(obj: &Bound<'py, PyAny>, field: std::fmt::Arguments<'_>) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    obj.extract::<T>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(obj.py()) {
            PyValueError::new_err(format!(
                "invalid {field}: {} (out of range)",
                short_repr(obj)
            ))
        } else {
            PyTypeError::new_err(format!(
                "invalid {field}: {} {} cannot be read as an int ({e})",
                type_name(obj),
                short_repr(obj)
            ))
        }
    })
}

/// `slot_id` arguments (`#[pyo3(from_py_with = slot_id_arg)]`): PyO3 names the argument of
/// a wrong type but not of an int too large, so the field is named here.
pub fn slot_id_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    int_arg(obj, "slot_id")
}

/// A non-negative int argument (a slot index, a seed), named on error.
pub fn count_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<u64> {
    let v = int_arg(obj, field)?;
    u64::try_from(v)
        .map_err(|_| PyValueError::new_err(format!("invalid {field}: {v} (must not be negative)")))
}

/// An index (a slot's `active_leg_index`): an int from 0 to `usize::MAX`, named on error;
/// one negative or past that is a ValueError, anything but an int a TypeError.
pub fn index_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<usize> {
    expect_int(obj, field)?;
    if obj.lt(0)? {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: {} (must not be negative)",
            short_repr(obj)
        )));
    }
    int_value(obj, format_args!("{field}"))
}

fn opt_int_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<i64>> {
    if obj.is_none() {
        return Ok(None);
    }
    int_arg(obj, field).map(Some)
}

named_extractors!(count -> u64 = count_arg(max_rows, seq));
named_extractors!(int -> i64 = int_arg(from_seq, chunk_rows));
named_extractors!(opt_int -> Option<i64> = opt_int_arg(to_seq));

/// A `VenueOrder`'s `slot_id`: an index.
pub fn slot_index_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(count_arg(obj, "slot_id")? as usize)
}

/// The mock venue's `seed`.
pub fn seed_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    count_arg(obj, "seed")
}
