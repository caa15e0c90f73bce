//! Times: seconds since the Unix epoch, as floats, or timezone-aware datetimes (the original
//! kernel's form). A time argument is either, or None for now; a naive datetime is refused, as
//! its moment depends on the machine's zone. Times read back as datetimes are in UTC.

use super::numbers::float_arg;
use super::short_repr;
use crate::error::check_timestamp;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyFloat, PyTzInfo};
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in seconds since the Unix epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `ts`, or now when it is None.
pub fn time_or_now(ts: Option<f64>) -> f64 {
    ts.unwrap_or_else(now)
}

/// A time in seconds since the Unix epoch: a real number, or a timezone-aware datetime;
/// named on error. A float is taken first, so the usual argument pays for no other check.
pub fn seconds_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<f64> {
    if obj.is_exact_instance_of::<PyFloat>() {
        return obj.extract::<f64>();
    }
    if let Ok(moment) = obj.cast::<PyDateTime>() {
        return datetime_seconds(moment, field);
    }
    float_arg(obj, field)
}

/// A datetime's seconds since the Unix epoch; a naive one (no zone) is refused, naming `field`,
/// as is one whose own `utcoffset()` or `timestamp()` raises (pandas' missing time, `NaT`).
fn datetime_seconds(moment: &Bound<'_, PyDateTime>, field: &str) -> PyResult<f64> {
    let unreadable = |e: PyErr| {
        let refused = PyValueError::new_err(format!(
            "invalid {field}: {} ({e}): give a timezone-aware datetime or seconds since the epoch",
            short_repr(moment)
        ));
        refused.set_cause(moment.py(), Some(e));
        refused
    };
    if moment
        .call_method0("utcoffset")
        .map_err(unreadable)?
        .is_none()
    {
        return Err(PyValueError::new_err(format!(
            "invalid {field}: naive datetime {} (no timezone): give a timezone-aware datetime \
             (e.g. tzinfo=timezone.utc) or seconds since the epoch",
            short_repr(moment)
        )));
    }
    moment
        .call_method0("timestamp")
        .and_then(|ts| ts.extract::<f64>())
        .map_err(unreadable)
}

/// A time argument as `seconds_arg` takes it, None when not given. A time past the last
/// second a datetime holds is refused (`check_timestamp`), as the object's own reads of it
/// would fail; one not finite or negative is taken as given, and refused where the kernel
/// takes the input, as other numbers are.
fn opt_seconds_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<f64>> {
    if obj.is_none() {
        return Ok(None);
    }
    let ts = seconds_arg(obj, field)?;
    if ts.is_finite() && ts >= 0.0 {
        check_timestamp(field, ts)?;
    }
    Ok(Some(ts))
}

named_extractors!(opt_time -> Option<f64> = opt_seconds_arg(timestamp));

/// `seconds` (since the Unix epoch) as a UTC datetime; ValueError naming `field` for a time
/// beyond the years a datetime holds (its seconds still read under `{field}_s`).
pub fn datetime_of<'py>(
    py: Python<'py>,
    seconds: f64,
    field: &str,
) -> PyResult<Bound<'py, PyDateTime>> {
    let utc = PyTzInfo::utc(py)?;
    PyDateTime::from_timestamp(py, seconds, Some(&utc)).map_err(|e| {
        PyValueError::new_err(format!(
            "{field} {seconds} s is no date a datetime holds ({e}); read {field}_s for the seconds"
        ))
    })
}

/// A slot's time as a UTC datetime, or None when it has none (0: no trade, no event yet).
pub fn opt_datetime_of<'py>(
    py: Python<'py>,
    seconds: f64,
    field: &str,
) -> PyResult<Option<Bound<'py, PyDateTime>>> {
    if seconds == 0.0 {
        return Ok(None);
    }
    datetime_of(py, seconds, field).map(Some)
}
