//! Times: seconds since the Unix epoch, as floats. A time argument is any real number, or
//! None for now.

use super::numbers::float_arg;
use pyo3::prelude::*;
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

/// A time argument in seconds since the Unix epoch, None when not given; named on error.
fn opt_seconds_arg(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Option<f64>> {
    if obj.is_none() {
        return Ok(None);
    }
    float_arg(obj, field).map(Some)
}

named_extractors!(opt_time -> Option<f64> = opt_seconds_arg(timestamp));
