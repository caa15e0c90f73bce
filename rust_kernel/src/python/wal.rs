//! Write-ahead log in the bindings: the constructor options (`wal_dir`, `fsync`,
//! `wal_checkpoint_every`, `wal_segment_bytes`), the record step every state-changing method
//! takes after the core accepted an input and before anything leaves the kernel, and the
//! audit and read-only replay functions behind `dita audit verify` and `dita wal replay`.

use std::path::{Path, PathBuf};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::convert::ints::expect_int;
use super::convert::paths::{path_arg, path_param};
use super::convert::text::str_arg;
use super::convert::type_name;
use super::mock::PyMockVenue;
use super::{PyKernel, VenueHandle};
use crate::kernel::{Kernel, KernelInput, BEHAVIOUR_VERSION};
use crate::model::KernelOutcome;
use crate::wal::kernel_log::{
    replay_checkpoints, replay_read_only, InputRef, KernelLog, KernelLogOptions, RecoveredKernelLog,
};
use crate::wal::{self, hash_hex, FsyncPolicy, RecoveryReport};

create_exception!(
    dita._kernel,
    WalError,
    PyException,
    "The write-ahead log is damaged, belongs to another kernel or version, or failed to write."
);

/// The log of one kernel, and the reason it stopped accepting input if a write failed.
pub(super) struct WalState {
    pub(super) log: KernelLog,
    pub(super) dir: PathBuf,
    fsync: FsyncPolicy,
    poisoned: Option<String>,
    /// `checkpoint_failures` of the log already logged as a warning.
    checkpoint_failures_told: u64,
}

impl WalState {
    /// Why the log refuses input: a record of this kernel's that failed, or an I/O error the
    /// log's writer thread (or a sync) met since, which the next append would be refused for.
    /// Checked before an input is applied, so such an input changes nothing: before, it was
    /// applied and then refused by its append, and `wal_info()["poisoned"]` said `None` until
    /// then.
    #[inline]
    fn failure(&self) -> Option<String> {
        match &self.poisoned {
            Some(reason) => Some(reason.clone()),
            None => self.log.wal().failure(),
        }
    }

    /// Logs a warning on the `dita.kernel` logger for each checkpoint that failed since the
    /// last call (one atomic load when none did). Trading goes on: the log is whole, only a
    /// restart would replay more of it.
    #[inline]
    fn tell_checkpoint_failures(&mut self, kernel_id: &str) {
        let failures = self.log.wal().checkpoint_failures();
        if failures != self.checkpoint_failures_told {
            self.warn_checkpoint_failed(kernel_id, failures);
        }
    }

    #[cold]
    fn warn_checkpoint_failed(&mut self, kernel_id: &str, failures: u64) {
        let new = failures - self.checkpoint_failures_told;
        self.checkpoint_failures_told = failures;
        let error = self
            .log
            .wal()
            .checkpoint_error()
            .unwrap_or_else(|| "a later checkpoint was written".into());
        let message = format!(
            "kernel {kernel_id:?}: {new} write-ahead log checkpoint(s) failed in {} ({error}); \
             trading goes on and the log is whole, but a restart replays every record since \
             the last checkpoint written. See wal_info()['checkpoint_error'].",
            self.dir.display()
        );
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

pub(super) fn wal_err(e: wal::WalError) -> PyErr {
    match e {
        wal::WalError::InvalidOption { .. } | wal::WalError::InvalidAppend(_) => {
            PyValueError::new_err(e.to_string())
        }
        wal::WalError::Io { .. } => PyOSError::new_err(e.to_string()),
        other => WalError::new_err(other.to_string()),
    }
}

/// The WAL keyword arguments of `ExecutionKernel(...)`, parsed before anything is opened.
#[derive(Default)]
pub(super) struct WalArgs {
    dir: Option<PathBuf>,
    fsync: Option<FsyncPolicy>,
    checkpoint_every: Option<u64>,
    segment_bytes: Option<u64>,
}

/// An int of at least `min` (not a bool, which Python counts as an int), naming `field`.
pub(super) fn positive_int(v: &Bound<'_, PyAny>, field: &str, min: u64) -> PyResult<u64> {
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

impl WalArgs {
    /// Takes the keyword if it is one of the WAL's; returns false for any other keyword.
    pub(super) fn take(&mut self, key: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        match key {
            "wal_dir" => {
                if !v.is_none() {
                    let path = path_arg(v, "wal_dir")?;
                    if path.as_os_str().is_empty() {
                        return Err(PyValueError::new_err(
                            "invalid wal_dir: '' (must name a directory; None for no log)",
                        ));
                    }
                    if path.exists() && !path.is_dir() {
                        return Err(PyValueError::new_err(format!(
                            "invalid wal_dir: {} (exists and is not a directory)",
                            path.display()
                        )));
                    }
                    self.dir = Some(path);
                }
            }
            "fsync" => {
                let name: String = v.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "invalid fsync: expected str, got {}",
                        type_name(v)
                    ))
                })?;
                self.fsync = Some(FsyncPolicy::parse(&name).map_err(wal_err)?);
            }
            "wal_checkpoint_every" => {
                self.checkpoint_every = Some(positive_int(v, "wal_checkpoint_every", 0)?)
            }
            "wal_segment_bytes" => {
                self.segment_bytes = Some(positive_int(v, "wal_segment_bytes", 1024)?)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub(super) fn dir(&self) -> Option<&PathBuf> {
        self.dir.as_ref()
    }

    /// Refuses WAL settings given without a `wal_dir` (they would silently do nothing).
    pub(super) fn check(&self) -> PyResult<()> {
        if self.dir.is_none() {
            let given = [
                ("fsync", self.fsync.is_some()),
                ("wal_checkpoint_every", self.checkpoint_every.is_some()),
                ("wal_segment_bytes", self.segment_bytes.is_some()),
            ];
            if let Some((name, _)) = given.iter().find(|(_, set)| *set) {
                return Err(PyValueError::new_err(format!(
                    "invalid {name}: it needs wal_dir (no write-ahead log)"
                )));
            }
        }
        Ok(())
    }

    /// The kernel id of an existing log in `wal_dir` (a kernel reopened without an id takes it).
    pub(super) fn existing_kernel_id(&self) -> PyResult<Option<String>> {
        match &self.dir {
            Some(dir) => wal::log_kernel_id(dir).map_err(wal_err),
            None => Ok(None),
        }
    }

    /// Opens the log and recovers the kernel; `fresh` is used for a new log. `judge` sees the
    /// recovered kernel before anything on disk changes: when it refuses, the log is left as
    /// it was (a torn tail not cut, no segment started), and unlocked.
    pub(super) fn open(
        &self,
        py: Python<'_>,
        fresh: Kernel,
        judge: impl FnOnce(&RecoveredKernelLog, &Kernel, &Path) -> PyResult<()>,
    ) -> PyResult<(Kernel, Option<WalState>)> {
        let Some(dir) = &self.dir else {
            return Ok((fresh, None));
        };
        let defaults = KernelLogOptions::default();
        let options = KernelLogOptions {
            fsync: self.fsync.unwrap_or(defaults.fsync),
            checkpoint_every: self.checkpoint_every.unwrap_or(defaults.checkpoint_every),
            segment_bytes: self.segment_bytes.unwrap_or(defaults.segment_bytes),
        };
        // Without the GIL: replaying a long log takes a while, and a lock held elsewhere is
        // asked for again for a moment before it is refused; other Python threads run meanwhile.
        let (recovered, kernel) = py
            .detach(|| KernelLog::recover(dir, fresh, &options))
            .map_err(wal_err)?;
        judge(&recovered, &kernel, dir)?;
        let log = recovered.finish(&kernel).map_err(wal_err)?;
        // The directory the log writes to, absolute (a relative `wal_dir` is taken against the
        // working directory of the constructor's call, not a later one).
        let dir = log.wal().dir().to_path_buf();
        Ok((
            kernel,
            Some(WalState {
                log,
                dir,
                fsync: options.fsync,
                poisoned: None,
                checkpoint_failures_told: 0,
            }),
        ))
    }
}

impl PyKernel {
    /// Refuses input once the kernel is closed, or once a log write failed: memory may hold
    /// an input the log does not.
    #[inline]
    pub(super) fn wal_guard(&self) -> PyResult<()> {
        if self.closed || (self.stopping && !self.in_own_venue_call()) {
            return Err(PyRuntimeError::new_err(format!(
                "kernel {:?} is closed: it takes no more input (open a new one on its wal_dir)",
                self.core.kernel_id
            )));
        }
        self.log_guard()
    }

    /// Whether this thread is inside one of this kernel's venue calls (see `stopping`).
    fn in_own_venue_call(&self) -> bool {
        super::VenueCall::inside(&self.venue_calls)
    }

    /// Refuses once a log write failed, or once `close_core` let the log go (a drop mark
    /// cleared then could not be refilled from it). The journal's own bookkeeping needs only
    /// this: a kernel whose input stopped still hands its journal what it recorded.
    #[inline]
    pub(super) fn log_guard(&self) -> PyResult<()> {
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
    pub(super) fn wal_record(
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
                state.tell_checkpoint_failures(&self.core.kernel_id);
                Ok(())
            }
            Err(e) => {
                state.poisoned = Some(e.to_string());
                self.core.outbox.discard_from(self.core.seq());
                Err(wal_err(e))
            }
        }
    }

    /// [`PyKernel::wal_record`] for the hot inputs, encoded from a borrow (no clone).
    #[inline]
    pub(super) fn wal_record_ref(&mut self, seq_before: u64, input: InputRef<'_>) -> PyResult<()> {
        let Some(state) = self.wal.as_mut() else {
            return Ok(());
        };
        if self.core.seq() == seq_before {
            return Ok(());
        }
        match state.log.record_ref(&self.core, input) {
            Ok(_) => {
                state.tell_checkpoint_failures(&self.core.kernel_id);
                Ok(())
            }
            Err(e) => {
                state.poisoned = Some(e.to_string());
                // The caller is told the input failed: its journal rows go with it.
                self.core.outbox.discard_from(self.core.seq());
                Err(wal_err(e))
            }
        }
    }

    pub(super) fn wal_info_dict<'py>(
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
            None => self.released_through, // the log's last word once it is released
        }
    }

    pub(super) fn wal_sync_now(&mut self) -> PyResult<Option<u64>> {
        match &mut self.wal {
            Some(state) => {
                let synced = state.log.sync().map(Some).map_err(wal_err);
                // A checkpoint that was still being written has ended: tell how, before a close.
                state.tell_checkpoint_failures(&self.core.kernel_id);
                synced
            }
            None => Ok(None),
        }
    }

    pub(super) fn wal_checkpoint_now(&mut self) -> PyResult<Option<u64>> {
        self.wal_guard()?;
        let Some(state) = self.wal.as_mut() else {
            return Ok(None);
        };
        state.log.checkpoint(&self.core).map_err(wal_err)?;
        Ok(Some(state.log.wal().last_seq()))
    }
}

fn recovery_dict<'py>(py: Python<'py>, r: &RecoveryReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("checkpoint_seq", r.checkpoint_seq)?;
    d.set_item("replayed_records", r.replayed_records)?;
    d.set_item("last_seq", r.last_seq)?;
    d.set_item("head_hash", r.head_hash_hex())?;
    d.set_item("segments", r.segments)?;
    let torn = match &r.torn_tail {
        Some(t) => {
            let td = PyDict::new(py);
            td.set_item("segment", t.segment.to_string_lossy().into_owned())?;
            td.set_item("offset", t.offset)?;
            td.set_item("bytes_dropped", t.bytes_dropped)?;
            td.set_item("seq", t.seq)?;
            Some(td)
        }
        None => None,
    };
    d.set_item("torn_tail", torn)?;
    let skipped = PyList::empty(py);
    for s in &r.skipped_checkpoints {
        let sd = PyDict::new(py);
        sd.set_item("path", s.path.to_string_lossy().into_owned())?;
        sd.set_item("reason", &s.reason)?;
        skipped.append(sd)?;
    }
    d.set_item("skipped_checkpoints", skipped)?;
    let removed: Vec<String> = r
        .removed_temp_files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    d.set_item("removed_temp_files", removed)?;
    Ok(d)
}

/// The kernel id written in the write-ahead log in `path`, or None when `path` holds no log
/// yet (a kernel given it starts a new one). Reads the segments' headers only; a segment of
/// another kernel among them raises `WalError` naming it.
#[pyfunction]
pub(super) fn wal_kernel_id(
    #[pyo3(from_py_with = path_param)] path: PathBuf,
) -> PyResult<Option<String>> {
    wal::log_kernel_id(&path).map_err(wal_err)
}

/// Walks the log in `path` and checks every record, the hash chain and the checkpoints.
/// Returns kernel_id, records, first_seq, last_seq, head_hash, segments, checkpoints and
/// expect_head_seq: the seq of the record whose hash is `expect_head` (a head hash recorded
/// earlier, 64 hex digits), None when no record has it or none was given. With `replay`, the
/// records are also replayed from the oldest checkpoint and each later checkpoint's state is
/// compared with the replay's: `replay` is then `{from_checkpoint, checkpoints_matched,
/// records_replayed}` (None without). Raises `WalError` naming the file, byte offset and
/// record of the first problem (for a checkpoint whose state differs: the checkpoint, its
/// seq and the part of the state).
#[pyfunction]
#[pyo3(signature = (path, expect_head=None, replay=false))]
pub(super) fn wal_verify<'py>(
    py: Python<'py>,
    #[pyo3(from_py_with = path_param)] path: PathBuf,
    expect_head: Option<&Bound<'py, PyAny>>,
    replay: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let expect_head = match expect_head {
        Some(v) if !v.is_none() => Some(str_arg(v, "expect_head")?),
        _ => None,
    };
    let expected = expect_head.as_deref().map(parse_head_hash).transpose()?;
    let (report, replayed) = py
        .detach(|| {
            let report = wal::verify_expecting(&path, expected)?;
            // After the walk: a damaged record or checkpoint is named by position first.
            let replayed = replay.then(|| replay_checkpoints(&path)).transpose()?;
            Ok((report, replayed))
        })
        .map_err(wal_err)?;
    let d = PyDict::new(py);
    d.set_item("kernel_id", &report.kernel_id)?;
    d.set_item("records", report.records)?;
    d.set_item("first_seq", report.first_seq)?;
    d.set_item("last_seq", report.last_seq)?;
    d.set_item("head_hash", hash_hex(&report.head_hash))?;
    d.set_item("segments", report.segments)?;
    d.set_item("checkpoints", report.checkpoints)?;
    d.set_item("expect_head_seq", report.expected_head_seq)?;
    let replay = match replayed {
        Some(r) => {
            let rd = PyDict::new(py);
            rd.set_item("from_checkpoint", r.from_seq)?;
            rd.set_item("checkpoints_matched", r.matched)?;
            rd.set_item("records_replayed", r.replayed_records)?;
            Some(rd)
        }
        None => None,
    };
    d.set_item("replay", replay)?;
    Ok(d)
}

/// A head hash as the audit prints it: 64 hex digits (either case, spaces around ignored).
fn parse_head_hash(text: &str) -> PyResult<[u8; 32]> {
    let t = text.trim();
    let bad = || {
        PyValueError::new_err(format!(
            "invalid expect_head: {text:?} (must be the 64 hex digits of a head hash)"
        ))
    };
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// The refusal of a log recovered without a checkpoint when the caller did not say how many
/// slots its kernel has: checkpoint 0 is the only record of it, and a kernel of the default
/// count would be replayed into silently.
pub(super) fn no_shape_error(dir: &Path, report: &RecoveryReport, option: &str) -> PyErr {
    let skipped = if report.skipped_checkpoints.is_empty() {
        "none found".to_string()
    } else {
        report
            .skipped_checkpoints
            .iter()
            .map(|s| s.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    WalError::new_err(format!(
        "the write-ahead log in {} has no usable checkpoint ({skipped}), and checkpoint 0 is the \
         only record of its kernel's slot count: give {option} the kernel was made with",
        dir.display()
    ))
}

/// Rebuilds the kernel recorded in `path` without writing to the log (no lock, a torn tail
/// is reported, not cut). Returns `(kernel, recovery)`: a `KernelCore` with the recovered
/// state, the default mock venue and no log, and the recovery report as a dict.
/// `max_slots`: the slot count of the kernel to replay into when no checkpoint is usable
/// (refused without it then: the log has no other record of it).
#[pyfunction]
#[pyo3(signature = (path, max_slots=None))]
pub(super) fn wal_replay<'py>(
    py: Python<'py>,
    #[pyo3(from_py_with = path_param)] path: PathBuf,
    max_slots: Option<usize>,
) -> PyResult<(Py<PyKernel>, Bound<'py, PyDict>)> {
    let (core, report) = py
        .detach(|| {
            replay_read_only(&path, |kernel_id| {
                Kernel::new(kernel_id, max_slots.unwrap_or(10)).map_err(|e| e.to_string())
            })
        })
        .map_err(wal_err)?;
    if report.checkpoint_seq.is_none() && max_slots.is_none() {
        return Err(no_shape_error(
            &path,
            &report,
            "max_slots (`dita wal replay --max-slots`)",
        ));
    }
    if let Some(n) = max_slots.filter(|&n| n != core.max_slots()) {
        return Err(PyValueError::new_err(format!(
            "invalid max_slots: {n} (the write-ahead log in {} holds a kernel with {} slots)",
            path.display(),
            core.max_slots()
        )));
    }
    let venue = Py::new(
        py,
        PyMockVenue {
            inner: crate::mock::MockVenue::new(Default::default())?,
        },
    )?;
    let kernel = Py::new(
        py,
        PyKernel {
            core,
            venue: VenueHandle::Mock(venue),
            wal: None,
            closed: false,
            stopping: false,
            log_released: false,
            released_through: None,
            venue_calls: Default::default(),
            follow_up: KernelOutcome::blank(),
        },
    )?;
    Ok((kernel, recovery_dict(py, &report)?))
}
