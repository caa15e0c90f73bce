//! Times: seconds since the Unix epoch, as floats.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn time_or_now(ts: Option<f64>) -> f64 {
    ts.unwrap_or_else(now)
}
