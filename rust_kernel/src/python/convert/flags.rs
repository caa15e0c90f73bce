//! Flags: a bool, or the int 0 or 1.

use super::ints::is_int;
use super::wrong_type;
use pyo3::prelude::*;

/// A flag: a bool (Python's or numpy's) or the int 0 or 1 (a database row's flag). Anything
/// else (the text "no", 2, None) is refused, naming `field` and the value, rather than read
/// by its truth.
pub fn bool_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<bool> {
    if let Ok(flag) = obj.extract::<bool>() {
        return Ok(flag);
    }
    // Any int dita takes (`is_int`: numpy's too, as a column of flags read into an array is).
    match is_int(obj)?.then(|| obj.extract::<i64>().ok()).flatten() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        _ => Err(wrong_type(
            format_args!("invalid {field}: expected bool (or 0 or 1)"),
            obj,
        )),
    }
}

named_extractors!(flag -> bool = bool_arg(
    maker,
    reduce_only,
    every_intent,
    predicted_fee_stands,
    full,
    with_account
));

fn opt_bool_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<bool>> {
    if obj.is_none() {
        return Ok(None);
    }
    bool_arg(obj, field).map(Some)
}

named_extractors!(opt_flag -> Option<bool> = opt_bool_arg(is_entry));
