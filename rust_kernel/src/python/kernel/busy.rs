//! Waiting for the kernel while another thread is inside it.

use super::PyKernel;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// How long a call waits for the kernel when another thread is inside it.
const BUSY_LIMIT: Duration = Duration::from_secs(10);

/// The kernel for writing. Another thread may be inside the kernel running Python code (a
/// garbage-collector pass while it builds a dict, say); that thread needs the GIL to finish,
/// so this releases the GIL and retries instead of failing with "Already borrowed".
pub(super) fn wait_mut<'py>(slf: &Bound<'py, PyKernel>) -> PyResult<PyRefMut<'py, PyKernel>> {
    wait_for(slf.py(), || slf.try_borrow_mut().ok())
}

/// The kernel for applying a venue's answer to a call already made: waits as long as another
/// thread holds it. The kernel took the input and the venue acted on it, so the answer is
/// never given up: raised as "busy", the order would work at the venue unknown to the kernel,
/// and a fill the answer holds would never be booked.
pub(super) fn wait_mut_for_answer<'py>(slf: &Bound<'py, PyKernel>) -> PyRefMut<'py, PyKernel> {
    loop {
        if let Ok(k) = wait_mut(slf) {
            return k;
        }
    }
}

/// The kernel for reading; waits like `wait_mut`.
pub(super) fn wait_ref<'py>(slf: &Bound<'py, PyKernel>) -> PyResult<PyRef<'py, PyKernel>> {
    wait_for(slf.py(), || slf.try_borrow().ok())
}

/// Retries `take` with the GIL released between attempts, up to `BUSY_LIMIT`.
pub(super) fn wait_for<T>(py: Python<'_>, mut take: impl FnMut() -> Option<T>) -> PyResult<T> {
    if let Some(k) = take() {
        return Ok(k);
    }
    let start = Instant::now();
    loop {
        py.detach(|| std::thread::sleep(Duration::from_micros(50)));
        if let Some(k) = take() {
            return Ok(k);
        }
        if start.elapsed() > BUSY_LIMIT {
            return Err(PyRuntimeError::new_err(
                "kernel busy in another call for 10 s (is a thread stuck inside it?)",
            ));
        }
    }
}

/// How often a long read hands the GIL to a thread waiting for it, and how long it lets go.
const TURN_EVERY: Duration = Duration::from_millis(1);
const TURN_LENGTH: Duration = Duration::from_micros(20);

/// Turns at the GIL for a long read holding it. Letting go and taking it straight back is not
/// enough: the waiting thread counts that as a switch and waits on, so the read sleeps briefly.
pub(super) struct GilTurns {
    since: Instant,
}

impl GilTurns {
    pub(super) fn new() -> Self {
        Self {
            since: Instant::now(),
        }
    }

    /// Lets another thread have the GIL if `TURN_EVERY` passed since the last turn.
    pub(super) fn take_if_due(&mut self, py: Python<'_>) {
        if self.since.elapsed() >= TURN_EVERY {
            py.detach(|| std::thread::sleep(TURN_LENGTH));
            self.since = Instant::now();
        }
    }
}
