//! The kernel's write-ahead log: the record step every state-changing method takes after the
//! core accepted an input and before anything leaves the kernel, the guards that refuse input
//! once the kernel is closed or its log failed, and sync, checkpoint and close.

use super::busy::{wait_for, wait_mut, wait_ref};
use super::venue::VenueCall;
use super::PyKernel;
use crate::kernel::{KernelInput, BEHAVIOUR_VERSION};
use crate::python::errors::{wal_err, WalError};
use crate::python::wal::recovery_dict;
use crate::wal::kernel_log::{InputRef, KernelLog};
use crate::wal::FsyncPolicy;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The log of one kernel, and the reason it stopped accepting input if a write failed.
pub(super) struct WalState {
    pub(super) log: KernelLog,
    /// The directory the log writes to, absolute.
    pub(super) dir: PathBuf,
    fsync: FsyncPolicy,
    /// The error of a record of this kernel's that failed to write: no input is taken after.
    write_failure: Option<String>,
    /// `checkpoint_failures` of the log already logged as a warning.
    checkpoint_failures_warned: u64,
}

impl WalState {
    pub(super) fn new(log: KernelLog, dir: PathBuf, fsync: FsyncPolicy) -> WalState {
        WalState {
            log,
            dir,
            fsync,
            write_failure: None,
            checkpoint_failures_warned: 0,
        }
    }

    /// Why the log refuses input: a record of this kernel's that failed, or an I/O error the
    /// log's writer thread (or a sync) met since, which the next append would be refused for.
    /// Checked before an input is applied, so such an input changes nothing and
    /// `wal_info()["poisoned"]` names the failure at once.
    #[inline]
    fn failure(&self) -> Option<String> {
        match &self.write_failure {
            Some(reason) => Some(reason.clone()),
            None => self.log.wal().failure(),
        }
    }

    /// Adds to the failure the input is refused for what it left behind (an order live at
    /// the venue whose answer the log could not record).
    pub(super) fn note_failure(&mut self, consequence: &str) {
        if let Some(reason) = self.write_failure.as_mut() {
            reason.push_str("; ");
            reason.push_str(consequence);
        }
    }

    /// Logs a warning on the `dita.kernel` logger for each checkpoint that failed since the
    /// last call (one atomic load when none did). Trading goes on unless the log itself failed:
    /// a failed checkpoint leaves the log whole, only a restart would replay more of it.
    #[inline]
    fn warn_new_checkpoint_failures(&mut self, kernel_id: &str) {
        let failures = self.log.wal().checkpoint_failures();
        if failures != self.checkpoint_failures_warned {
            self.warn_checkpoint_failed(kernel_id, failures);
        }
    }

    #[cold]
    fn warn_checkpoint_failed(&mut self, kernel_id: &str, failures: u64) {
        let new = failures - self.checkpoint_failures_warned;
        self.checkpoint_failures_warned = failures;
        let error = self
            .log
            .wal()
            .checkpoint_error()
            .unwrap_or_else(|| "a later checkpoint was written".into());
        let message = match self.failure() {
            // The log failed too (a full disk fails both): no input is taken.
            Some(failure) => format!(
                "kernel {kernel_id:?}: {new} write-ahead log checkpoint(s) failed in {} \
                 ({error}), and the log itself failed ({failure}): the kernel refuses every \
                 input; restart the process (after freeing the disk, if it is full) to recover \
                 from the log. See wal_info()['poisoned'].",
                self.dir.display()
            ),
            None => format!(
                "kernel {kernel_id:?}: {new} write-ahead log checkpoint(s) failed in {} \
                 ({error}); trading goes on and the log is whole, but a restart replays every \
                 record since the last checkpoint written. See wal_info()['checkpoint_error'].",
                self.dir.display()
            ),
        };
        Python::attach(|py| {
            let logged = py
                .import("logging")
                .and_then(|logging| logging.call_method1("getLogger", ("dita.kernel",)))
                .and_then(|logger| logger.call_method1("warning", (message,)));
            if let Err(e) = logged {
                e.write_unraisable(py, None); // a broken logging setup must not fail the input
            }
        });
    }
}

impl PyKernel {
    /// The kernel, held, with input stopped (see `stop_input`); `method` is the one called
    /// (`stop_input`, `close_core`), named in the refusal from inside a venue call.
    fn hold_with_input_stopped<'py>(
        slf: &Bound<'py, Self>,
        method: &str,
    ) -> PyResult<PyRefMut<'py, Self>> {
        if VenueCall::inside(&wait_ref(slf)?.venue_calls) {
            return Err(PyRuntimeError::new_err(format!(
                "{method}() was called from inside this kernel's own venue call (submit/cancel): \
                 its answer is not applied yet; stop or close the kernel after the call returns"
            )));
        }
        let stops_waiting = Arc::clone(&wait_ref(slf)?.stops_waiting);
        stops_waiting.fetch_add(1, Ordering::SeqCst);
        // A venue call under way has an answer still to apply and log: wait for it.
        let waited = wait_for(slf.py(), || {
            slf.try_borrow_mut()
                .ok()
                .filter(|k| k.venue_calls.load(Ordering::SeqCst) == 0)
        });
        // Given up ("busy"), the call changed nothing: once no other stop waits, the kernel
        // takes input again.
        stops_waiting.fetch_sub(1, Ordering::SeqCst);
        let mut this = waited?;
        this.closed = true;
        Ok(this)
    }

    /// Refuses input once the kernel is closed, or once a log write failed: memory may hold
    /// an input the log does not.
    #[inline]
    pub(super) fn check_takes_input(&self) -> PyResult<()> {
        if self.closed
            || (self.stops_waiting.load(Ordering::SeqCst) > 0 && !self.in_own_venue_call())
        {
            return Err(PyRuntimeError::new_err(format!(
                "kernel {:?} is closed: it takes no more input (open a new one on its wal_dir)",
                self.core.kernel_id
            )));
        }
        self.check_log_usable()
    }

    /// Whether this thread is inside one of this kernel's venue calls (see `stops_waiting`).
    fn in_own_venue_call(&self) -> bool {
        VenueCall::inside(&self.venue_calls)
    }

    /// Refuses once a log write failed, or once `close_core` let the log go (a drop mark
    /// cleared then could not be refilled from it). The journal's own bookkeeping needs only
    /// this: a kernel whose input stopped still hands its journal what it recorded.
    #[inline]
    pub(super) fn check_log_usable(&self) -> PyResult<()> {
        if self.log_released {
            return Err(PyRuntimeError::new_err(format!(
                "kernel {:?} is closed: its write-ahead log was released",
                self.core.kernel_id
            )));
        }
        match self.wal.as_ref().and_then(WalState::failure) {
            Some(reason) => Err(WalError::new_err(format!(
                "the kernel refuses input because its write-ahead log failed ({reason}); restart it to recover \
                 from the log"
            ))),
            None => Ok(()),
        }
    }

    /// Records the input the core has just applied, if it changed the kernel (advanced its
    /// sequence). Called before the outcome is returned or anything is sent to a venue.
    #[inline]
    pub(super) fn log_input(
        &mut self,
        seq_before: u64,
        input: impl FnOnce() -> KernelInput,
    ) -> PyResult<()> {
        let Some(state) = self.wal.as_mut() else {
            return Ok(());
        };
        if self.core.seq() == seq_before {
            return Ok(());
        }
        match state.log.record(&self.core, &input()) {
            Ok(_) => {
                state.warn_new_checkpoint_failures(&self.core.kernel_id);
                Ok(())
            }
            Err(e) => {
                state.write_failure = Some(e.to_string());
                self.core.outbox.discard_from(self.core.seq());
                Err(wal_err(e))
            }
        }
    }

    /// Hands the log's buffered records to the OS before something goes to the venue, so a
    /// crash of this process, during or after the venue call, never loses the record of an
    /// order the venue may hold: a restart would issue its client id again for another order.
    /// A write that fails fails the log as a record's would: nothing is sent.
    pub(super) fn write_log_through(&mut self) -> PyResult<()> {
        let Some(state) = self.wal.as_mut() else {
            return Ok(());
        };
        state.log.write_through().map_err(|e| {
            state.write_failure = Some(e.to_string());
            self.core.outbox.discard_from(self.core.seq());
            wal_err(e)
        })
    }

    /// [`PyKernel::log_input`] for the hot inputs, encoded from a borrow (no clone).
    #[inline]
    pub(super) fn log_input_ref(&mut self, seq_before: u64, input: InputRef<'_>) -> PyResult<()> {
        let Some(state) = self.wal.as_mut() else {
            return Ok(());
        };
        if self.core.seq() == seq_before {
            return Ok(());
        }
        match state.log.record_ref(&self.core, input) {
            Ok(_) => {
                state.warn_new_checkpoint_failures(&self.core.kernel_id);
                Ok(())
            }
            Err(e) => {
                state.write_failure = Some(e.to_string());
                // The caller is told the input failed: its journal rows go with it.
                self.core.outbox.discard_from(self.core.seq());
                Err(wal_err(e))
            }
        }
    }

    /// `wal_info()`: the log's state and what recovery found; None without a log.
    pub(super) fn log_info_dict<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(state) = &self.wal else {
            return Ok(None);
        };
        let w = state.log.wal();
        let d = PyDict::new(py);
        d.set_item("dir", state.dir.to_string_lossy().into_owned())?;
        d.set_item("fsync", state.fsync.name())?;
        d.set_item("last_seq", w.last_seq())?;
        d.set_item("durable_seq", w.durable_seq())?;
        d.set_item("written_seq", w.written_seq())?;
        d.set_item("head_hash", w.head_hash_hex())?;
        d.set_item("poisoned", state.failure())?;
        d.set_item("checkpoint_failures", w.checkpoint_failures())?;
        d.set_item("checkpoint_error", w.checkpoint_error())?;
        let recovery = recovery_dict(py, state.log.recovery())?;
        recovery.set_item("migrated_from_version", state.log.migrated_from())?;
        recovery.set_item(
            "order_ids_skipped_through",
            state.log.order_ids_skipped_through(),
        )?;
        d.set_item("recovery", recovery)?;
        d.set_item("behaviour_version", BEHAVIOUR_VERSION)?;
        Ok(Some(d))
    }

    /// The newest input whose journal rows may be drained: with a write-ahead log, the last
    /// one a restart recovers (`Wal::recoverable_seq`), so a journal never holds rows of an
    /// input the log lost (a crash's last milliseconds, a write that failed) and the kernel
    /// restarted on the log is not refused for them; without one, all (None).
    pub(super) fn journaled_through(&self) -> Option<u64> {
        match &self.wal {
            Some(s) => Some(s.log.wal().recoverable_seq()),
            None => self.journaled_through_at_release, // the log's last word once it is released
        }
    }

    /// Syncs every recorded input to stable storage; the durable seq, None without a log.
    pub(super) fn sync_log(&mut self) -> PyResult<Option<u64>> {
        match &mut self.wal {
            Some(state) => {
                let synced = state.log.sync().map(Some).map_err(wal_err);
                // A checkpoint that was still being written has ended: tell how, before a close.
                state.warn_new_checkpoint_failures(&self.core.kernel_id);
                synced
            }
            None => Ok(None),
        }
    }

    /// Writes a checkpoint of the whole kernel; its seq, None without a log.
    pub(super) fn checkpoint_log(&mut self) -> PyResult<Option<u64>> {
        self.check_takes_input()?;
        self.write_checkpoint()
    }

    /// Writes a checkpoint of the kernel as it stands; the caller checked the log is usable.
    fn write_checkpoint(&mut self) -> PyResult<Option<u64>> {
        let Some(state) = self.wal.as_mut() else {
            return Ok(None);
        };
        state.log.checkpoint(&self.core).map_err(wal_err)?;
        Ok(Some(state.log.wal().last_seq()))
    }
}

#[pymethods]
impl PyKernel {
    /// The write-ahead log's state and what recovery found, or None without `wal_dir`.
    fn wal_info<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let this = wait_ref(slf)?;
        this.log_info_dict(py)
    }

    /// The newest input whose journal rows the outbox hands out: with a write-ahead log, the
    /// last one a restart recovers (durable; handed to the OS under fsync "none"), so a
    /// journal never holds rows of an input the log lost; None without a log (all).
    #[pyo3(name = "journaled_through")]
    fn journaled_through_py(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        Ok(wait_ref(slf)?.journaled_through())
    }

    /// Syncs every recorded input to stable storage; returns the durable seq (None without a log).
    fn wal_sync(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        let mut this = wait_mut(slf)?;
        this.sync_log()
    }

    /// Refuses every later input (reads still work) at once, but from inside the venue calls
    /// under way, and returns once those have had their answers applied and logged. Refused
    /// (RuntimeError, nothing changes) from inside this kernel's own venue call, which could
    /// never end first. Idempotent.
    fn stop_input(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::hold_with_input_stopped(slf, "stop_input").map(drop)
    }

    /// Why the kernel takes no more input (closed or closing, or its write-ahead log failed
    /// or was released), as the refusal of an input would say it; None while it takes input.
    /// A read: it changes and logs nothing.
    fn input_refused_reason(slf: &Bound<'_, Self>) -> PyResult<Option<String>> {
        let this = wait_ref(slf)?;
        Ok(this
            .check_takes_input()
            .err()
            .map(|e| e.value(slf.py()).to_string()))
    }

    /// Ends the kernel: `stop_input`, then ends the write-ahead log with a checkpoint, syncs
    /// it, marks it stopped cleanly (the next open skips no order ids), stops its thread and
    /// releases its lock, so the same `wal_dir` can be opened again at once. Returns the
    /// durable seq (None without a log). Idempotent.
    fn close_core(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        let mut this = Self::hold_with_input_stopped(slf, "close_core")?;
        // A clean stop ends the log with a checkpoint: the next open starts from it, and a
        // build of another behaviour version can open the log from it.
        // Input has stopped by now; a log that failed is left to recovery.
        let needs_checkpoint = this.check_log_usable().is_ok()
            && this
                .wal
                .as_ref()
                .is_some_and(|s| s.log.records_since_checkpoint() > 0);
        let failures = |this: &Self| this.wal.as_ref().map(|s| s.log.wal().checkpoint_failures());
        let failed_before = failures(&this);
        let mut checkpointed = if needs_checkpoint {
            this.write_checkpoint().map(drop)
        } else {
            Ok(())
        };
        // A checkpoint that cannot be written leaves the log whole: warned of as a periodic
        // one is, it does not fail the close (the log's own failure still does).
        if checkpointed.is_err() && failures(&this) != failed_before {
            let kernel_id = this.core.kernel_id.clone();
            if let Some(state) = this.wal.as_mut() {
                state.warn_new_checkpoint_failures(&kernel_id);
            }
            checkpointed = Ok(());
        }
        let synced = this.sync_log();
        this.journaled_through_at_release = this.journaled_through();
        // Dropped whole, the log writes its clean-stop file (`Wal::close`); one that failed
        // writes none. A file that cannot be written fails nothing: the next open only skips
        // order ids it need not have.
        drop(this.wal.take());
        this.log_released = true;
        checkpointed.and(synced)
    }

    /// Writes a checkpoint of the whole kernel now; returns its seq (None without a log).
    fn wal_checkpoint(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        let mut this = wait_mut(slf)?;
        this.checkpoint_log()
    }
}
