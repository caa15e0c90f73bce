//! The write-ahead log's module functions behind `dita audit verify` and `dita wal replay`:
//! reading a log's kernel id, verifying it, and replaying it read-only.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::convert::paths::path_param;
use super::convert::text::str_arg;
use super::errors::{wal_err, WalError};
use super::kernel::{PyKernel, DEFAULT_MAX_SLOTS};
use crate::kernel::Kernel;
use crate::wal::kernel_log::{replay_checkpoints, replay_read_only};
use crate::wal::{self, hash_hex, RecoveryReport};

/// What recovery found, as `wal_info()["recovery"]` and `wal_replay` show it.
pub(super) fn recovery_dict<'py>(
    py: Python<'py>,
    r: &RecoveryReport,
) -> PyResult<Bound<'py, PyDict>> {
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
    let full = match &r.full_last_segment {
        Some(f) => {
            let fd = PyDict::new(py);
            fd.set_item("segment", f.segment.to_string_lossy().into_owned())?;
            fd.set_item("bytes", f.bytes)?;
            fd.set_item("segment_bytes", f.segment_bytes)?;
            Some(fd)
        }
        None => None,
    };
    d.set_item("full_last_segment", full)?;
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
pub(super) fn no_slot_count_error(dir: &Path, report: &RecoveryReport, option: &str) -> PyErr {
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
                Kernel::new(kernel_id, max_slots.unwrap_or(DEFAULT_MAX_SLOTS))
                    .map_err(|e| e.to_string())
            })
        })
        .map_err(wal_err)?;
    if report.checkpoint_seq.is_none() && max_slots.is_none() {
        return Err(no_slot_count_error(
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
    let kernel = Py::new(py, PyKernel::replayed(py, core)?)?;
    Ok((kernel, recovery_dict(py, &report)?))
}
