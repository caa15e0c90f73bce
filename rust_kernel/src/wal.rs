//! Write-ahead log: the kernel's recovery source and its tamper-evident audit ledger.
//!
//! The log is payload-agnostic: callers append opaque bytes (an encoded kernel input) and
//! get them back, in order, when the log is reopened. What the log guarantees:
//!
//! - **Framing.** Records live in append-only segment files `seg-<first_seq>.wal`; each
//!   record carries a crc32 checksum, a monotonic sequence number (1, 2, ...), a timestamp
//!   (f64 seconds) and a blake3 hash chained to the previous record, so an edited, removed
//!   or reordered record breaks the chain at a position that [`verify`] names. Layout in
//!   [`format`](self::format).
//! - **Durability** per [`FsyncPolicy`]: `always` (fdatasync before `append` returns),
//!   `batch` (group commit when `max_records` are pending or every `max_delay`, by a
//!   background thread), `none` (handed to the OS every `flush_interval`, never synced
//!   except at rotation, checkpoint and close). [`Wal::durable_seq`] says how far the log
//!   is synced.
//! - **Rotation.** A segment is sealed (synced) and a new one started once it reaches
//!   `segment_bytes`. New segment and checkpoint files are written to `*.tmp`, synced and
//!   renamed, so a crash never leaves a half-written header under a real name.
//! - **Checkpoints.** [`Wal::checkpoint`] stores the caller's state as of the last appended
//!   record, with the chain hash and the byte position of the next record. [`Wal::open`]
//!   hands the newest valid checkpoint to the caller and replays only the records after
//!   it, reading from that position: recovery time depends on the records since the last
//!   checkpoint, not on the age of the log. The newest `keep_checkpoints` are kept, and
//!   the one at seq 0 (the state the log starts from, which the records alone do not hold).
//!   **Segments covered by a checkpoint are kept**: the log is also the audit ledger and
//!   [`verify`] walks it from record 1; archiving old segments is an operator's decision.
//! - **Damage.** A torn record at the tail of the last segment (a write cut short by a
//!   crash: the record runs past the end, or is unreadable and nothing valid follows it)
//!   is truncated and reported in [`RecoveryReport::torn_tail`]. Any other damage refuses
//!   to open with [`WalError::Corrupt`] naming the file, the byte offset and the sequence
//!   number expected there. Logs of another kernel id ([`WalError::KernelIdMismatch`]) or
//!   format version ([`WalError::FormatVersion`]) are refused. A checkpoint that fails its
//!   digest is skipped and listed in [`RecoveryReport::skipped_checkpoints`]; recovery then
//!   uses an older one or the full log. Nothing is skipped silently. A name that is no
//!   regular file (a FIFO, a device such as a link to /dev/zero, a directory) is never read:
//!   every file is opened without blocking and refused with [`WalError::NotRegularFile`],
//!   judged as damage of that file is (a segment or the LOCK refuses the open, a checkpoint
//!   is skipped and reported).
//! - **One writer.** `open` takes an exclusive lock on `<dir>/LOCK` for the life of the
//!   [`Wal`]; a second writer on the same directory is refused, after asking again for the
//!   lock for up to 200 ms (a child the process is starting holds it from its fork to its
//!   exec, so a log closed and opened again in that instant would be refused). A process
//!   forked after the open holds a copy of the [`Wal`] (its buffer and segment, not its lock:
//!   the fork handler lets go of the child's copy of it) that writes nothing: its writes are
//!   refused with [`WalError::Forked`], its drop syncs nothing, and its reads take no lock a
//!   thread of the parent may have held at the fork.
//!
//! After an I/O error while writing, the log refuses further appends ([`WalError::Poisoned`]):
//! whether the failed record reached the disk is unknown, so the process must restart and
//! let recovery read what is really there. A checkpoint that fails to be written (its file,
//! the removal of an old one, a thread to write it that cannot be started) is not such an
//! error: the log is whole and recovery starts from the previous checkpoint. It is counted in
//! [`Wal::checkpoint_failures`] and kept in [`Wal::checkpoint_error`], never returned to a
//! later append, checkpoint, sync or close.
//!
//! ```no_run
//! use dita_kernel::wal::{FsyncPolicy, Replay, Wal, WalOptions};
//! let options = WalOptions::new("kernel-1").with_fsync(FsyncPolicy::parse("batch").unwrap());
//! let (mut wal, report) = Wal::open("/tmp/wal", options, |item| {
//!     match item {
//!         Replay::Checkpoint { state, .. } => { /* restore state */ let _ = state; }
//!         Replay::Record(record) => { /* re-apply record.payload */ let _ = record; }
//!     }
//!     Ok(())
//! })?;
//! let seq = wal.append(1_700_000_000.0, b"input")?;
//! wal.checkpoint(seq, b"state")?;
//! # let _ = report;
//! # Ok::<(), dita_kernel::wal::WalError>(())
//! ```

mod crc_span;
mod format;
pub mod kernel_log;
mod scan;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use format::{FORMAT_VERSION, FRAME_HEADER_BYTES, MAX_KERNEL_ID_BYTES, MAX_PAYLOAD_BYTES};
pub use writer::{RecoveredWal, Wal};

use format::{decode_checkpoint, genesis_hash, hex, nothing_valid_after, Hash};
use scan::{list_dir, read_segment, walk_frames, Cursor, Stop};

/// When appended records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fdatasync before `append` returns: an acknowledged record survives a power cut.
    Always,
    /// Group commit: sync once `max_records` records are pending or `max_delay` has passed.
    Batch {
        max_records: u32,
        max_delay: Duration,
    },
    /// Never sync on append; records reach the OS every `flush_interval` and survive a
    /// process crash from then on, but not a power cut.
    None,
}

impl FsyncPolicy {
    /// The `batch` policy with its defaults: 16,384 records or 10 ms, whichever comes first
    /// (time is the usual bound; the count caps the loss window under a burst).
    pub const DEFAULT_BATCH: FsyncPolicy = FsyncPolicy::Batch {
        max_records: 16_384,
        max_delay: Duration::from_millis(10),
    };

    /// Parses `"always"`, `"batch"` (default limits) or `"none"` (case-insensitive).
    pub fn parse(value: &str) -> Result<FsyncPolicy, WalError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "batch" => Ok(FsyncPolicy::DEFAULT_BATCH),
            "none" => Ok(FsyncPolicy::None),
            _ => Err(WalError::InvalidOption {
                field: "fsync",
                value: value.to_string(),
                reason: "expected one of: always, batch, none".into(),
            }),
        }
    }

    /// The name `parse` accepts.
    pub fn name(&self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Batch { .. } => "batch",
            FsyncPolicy::None => "none",
        }
    }
}

impl std::str::FromStr for FsyncPolicy {
    type Err = WalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FsyncPolicy::parse(s)
    }
}

/// Settings of one log. `kernel_id` is written into every file and checked on open.
#[derive(Debug, Clone)]
pub struct WalOptions {
    pub kernel_id: String,
    pub fsync: FsyncPolicy,
    /// A segment is sealed and a new one started once it holds this many bytes.
    pub segment_bytes: u64,
    /// Appended records are buffered in memory up to this many bytes before a write(2).
    pub write_buffer_bytes: usize,
    /// How often the background thread hands buffered records to the OS under `none`.
    pub flush_interval: Duration,
    /// How many checkpoint files to keep (the newest ones); at least 1.
    pub keep_checkpoints: usize,
    /// The writer's behaviour version, written into each segment it starts and handed back
    /// with each record on replay; opening a log whose last segment has another version starts
    /// a new segment, so no segment mixes records of two versions. Opaque to the log.
    pub behaviour: u16,
}

impl WalOptions {
    pub fn new(kernel_id: impl Into<String>) -> WalOptions {
        WalOptions {
            kernel_id: kernel_id.into(),
            fsync: FsyncPolicy::DEFAULT_BATCH,
            segment_bytes: 64 << 20,
            write_buffer_bytes: 256 << 10,
            flush_interval: Duration::from_millis(10),
            keep_checkpoints: 2,
            behaviour: 0,
        }
    }

    pub fn with_behaviour(mut self, behaviour: u16) -> WalOptions {
        self.behaviour = behaviour;
        self
    }

    pub fn with_fsync(mut self, fsync: FsyncPolicy) -> WalOptions {
        self.fsync = fsync;
        self
    }

    pub fn with_segment_bytes(mut self, segment_bytes: u64) -> WalOptions {
        self.segment_bytes = segment_bytes;
        self
    }

    fn validate(&self) -> Result<(), WalError> {
        let bad = |field: &'static str, value: String, reason: &str| {
            Err(WalError::InvalidOption {
                field,
                value,
                reason: reason.to_string(),
            })
        };
        if self.kernel_id.is_empty() || self.kernel_id.len() > MAX_KERNEL_ID_BYTES {
            return bad(
                "kernel_id",
                self.kernel_id.clone(),
                "must be 1 to 1024 bytes",
            );
        }
        if self.segment_bytes < 1024 {
            return bad(
                "segment_bytes",
                self.segment_bytes.to_string(),
                "must be at least 1024",
            );
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints", "0".into(), "must be at least 1");
        }
        if self.flush_interval.is_zero() {
            return bad(
                "flush_interval",
                format!("{:?}", self.flush_interval),
                "must be positive",
            );
        }
        if let FsyncPolicy::Batch {
            max_records,
            max_delay,
        } = self.fsync
        {
            if max_records == 0 {
                return bad("fsync.max_records", "0".into(), "must be at least 1");
            }
            if max_delay.is_zero() {
                return bad(
                    "fsync.max_delay",
                    format!("{max_delay:?}"),
                    "must be positive",
                );
            }
        }
        Ok(())
    }
}

/// One record handed back by replay.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub seq: u64,
    /// The behaviour version of the segment that holds it ([`WalOptions::behaviour`] of its
    /// writer).
    pub behaviour: u16,
    pub timestamp: f64,
    pub hash: [u8; 32],
    pub payload: &'a [u8],
}

/// What `Wal::open` hands to the replay callback: at most one checkpoint, first, then
/// every record after it in sequence order.
#[derive(Debug, Clone, Copy)]
pub enum Replay<'a> {
    Checkpoint {
        seq: u64,
        timestamp: f64,
        state: &'a [u8],
        /// The behaviour version of the checkpoint's writer ([`WalOptions::behaviour`]).
        behaviour: u16,
    },
    Record(Record<'a>),
}

/// Error a replay callback may return; it aborts `open` as [`WalError::Replay`].
pub type ReplayError = Box<dyn std::error::Error + Send + Sync>;

/// A torn record found at the tail of the last segment and cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    pub offset: u64,
    pub bytes_dropped: u64,
    /// The sequence number the torn record would have had.
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedCheckpoint {
    pub path: PathBuf,
    pub reason: String,
}

/// What recovery found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Sequence number of the checkpoint recovery started from, if any.
    pub checkpoint_seq: Option<u64>,
    /// Records replayed after the checkpoint (or from the start).
    pub replayed_records: u64,
    pub last_seq: u64,
    pub head_hash: [u8; 32],
    pub torn_tail: Option<TornTail>,
    pub skipped_checkpoints: Vec<SkippedCheckpoint>,
    pub removed_temp_files: Vec<PathBuf>,
    pub segments: usize,
}

impl RecoveryReport {
    pub fn head_hash_hex(&self) -> String {
        hex(&self.head_hash)
    }
}

/// Result of walking a whole log with [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub kernel_id: String,
    pub records: u64,
    /// 0 (with `last_seq` 0) for a log without records.
    pub first_seq: u64,
    pub last_seq: u64,
    pub head_hash: [u8; 32],
    pub segments: usize,
    /// Checkpoints whose sequence and hash were matched against the chain.
    pub checkpoints: usize,
    /// Where the chain passes through the head hash [`verify_expecting`] was given: the seq
    /// of the record with that hash (0 for the genesis hash of an empty log), or `None` when
    /// no record has it (or none was given).
    pub expected_head_seq: Option<u64>,
}

impl AuditReport {
    pub fn head_hash_hex(&self) -> String {
        hex(&self.head_hash)
    }
}

/// Everything that can go wrong with a log. File-level errors name the file and offset.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("{op} {path}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("corrupt write-ahead log: {} at byte offset {offset}{}: {detail}", .file.display(), SeqSuffix(*.seq))]
    Corrupt {
        file: PathBuf,
        offset: u64,
        seq: Option<u64>,
        detail: String,
    },
    #[error(
        "write-ahead log truncated: {} at byte offset {offset}{}: {bytes} byte(s) of an incomplete record",
        .file.display(), SeqSuffix(*.seq)
    )]
    TornTail {
        file: PathBuf,
        offset: u64,
        seq: Option<u64>,
        bytes: u64,
    },
    #[error("{} belongs to kernel id {found:?}, not {expected:?}", .file.display())]
    KernelIdMismatch {
        file: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{} has write-ahead log format version {found}; this build reads versions 1 to {supported}", .file.display())]
    FormatVersion {
        file: PathBuf,
        found: u16,
        supported: u16,
    },
    #[error("{} is not a dita write-ahead log file (magic {found:02x?})", .file.display())]
    NotAWalFile { file: PathBuf, found: Vec<u8> },
    /// A name of the log directory (segment, checkpoint, LOCK, temporary file) that is no
    /// regular file: a FIFO, a device (such as a link to /dev/zero), a directory, a socket.
    /// Never read: a FIFO's open would wait for a writer forever, a device's bytes may never
    /// end.
    #[error("{} is {kind}, not a regular file: the write-ahead log reads and writes only regular files", .file.display())]
    NotRegularFile { file: PathBuf, kind: &'static str },
    #[error("{} holds no write-ahead log segments", .dir.display())]
    Empty { dir: PathBuf },
    /// `holder`: the process the log's LOCK file names (the writer notes itself there).
    #[error("write-ahead log {} is locked by another writer: {}", .dir.display(), HolderNote(*.holder))]
    Locked { dir: PathBuf, holder: Option<u32> },
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidOption {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    #[error("checkpoint at seq {seq} refused: the log's last record is seq {last_seq}; a checkpoint holds the state after the last record")]
    CheckpointSeq { seq: u64, last_seq: u64 },
    /// `file`: the checkpoint (`checkpoint`) or the segment (at byte `offset`) the replayed
    /// item came from, when it came from one. Before, a checkpoint whose state was refused was
    /// named a "record" and no file was: the operator looked for a damaged record in segments
    /// that were whole.
    #[error("replaying {} failed: {source}", ReplayPlace(*.seq, .file.as_deref(), *.offset, *.checkpoint))]
    Replay {
        seq: u64,
        file: Option<PathBuf>,
        offset: u64,
        checkpoint: bool,
        source: ReplayError,
    },
    #[error("write-ahead log refuses writes after an earlier I/O error: {0}")]
    Poisoned(String),
    /// The log was opened by the process this one was forked from: its copy of the log (the
    /// buffered records, the segment, the lock) is the parent's, and what it wrote would
    /// interleave with the parent's records in one file.
    #[error("write-ahead log {} belongs to the process that opened it: a process forked from it cannot write to it (open a log of its own)", .dir.display())]
    Forked { dir: PathBuf },
}

struct HolderNote(Option<u32>);

impl fmt::Display for HolderNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(pid) if pid == std::process::id() => write!(
                f,
                "process {pid}, this one (a kernel or log of it still has the directory open)"
            ),
            Some(pid) => write!(f, "process {pid}"),
            None => write!(
                f,
                "its LOCK file names no process (a build before they did)"
            ),
        }
    }
}

/// What a [`WalError::Replay`] was replaying (its seq, file, byte offset, whether it is a
/// checkpoint), and where it lies.
struct ReplayPlace<'a>(u64, Option<&'a Path>, u64, bool);

impl fmt::Display for ReplayPlace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ReplayPlace(seq, file, offset, checkpoint) = *self;
        let what = if checkpoint { "checkpoint" } else { "record" };
        write!(f, "{what} seq {seq}")?;
        match file {
            Some(file) if checkpoint => write!(f, " ({})", file.display()),
            Some(file) => write!(f, " ({} at byte offset {offset})", file.display()),
            None => Ok(()),
        }
    }
}

struct SeqSuffix(Option<u64>);

impl fmt::Display for SeqSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(seq) => write!(f, " (record seq {seq})"),
            None => Ok(()),
        }
    }
}

impl WalError {
    /// A replay failure of record `seq` not tied to a place in the log's files.
    pub(crate) fn replay(seq: u64, source: ReplayError) -> WalError {
        WalError::Replay {
            seq,
            file: None,
            offset: 0,
            checkpoint: false,
            source,
        }
    }

    fn corrupt(file: &Path, offset: u64, seq: u64, detail: impl Into<String>) -> WalError {
        WalError::Corrupt {
            file: file.to_path_buf(),
            offset,
            seq: Some(seq),
            detail: detail.into(),
        }
    }
}

/// The newest checkpoint that decodes, plus the ones skipped on the way (with reasons).
fn newest_checkpoint(
    checkpoints: &[(u64, PathBuf)],
    kernel_id: &str,
    skipped: &mut Vec<SkippedCheckpoint>,
    before: Option<u64>,
) -> Result<Option<format::CheckpointFile>, WalError> {
    let usable = |seq: &u64| before.is_none_or(|b| *seq < b);
    for (named_seq, path) in checkpoints.iter().rev().filter(|(seq, _)| usable(seq)) {
        let bytes = match scan::read_regular(path, "read checkpoint") {
            Ok(bytes) => bytes,
            // Listed, then gone: a writer pruning old checkpoints while a read-only replay
            // looks (only the newest two are kept). An older one, or the log's start, serves.
            Err(WalError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                skipped.push(SkippedCheckpoint {
                    path: path.clone(),
                    reason: "removed while the log was being read".into(),
                });
                continue;
            }
            // A FIFO, a device or a directory under a checkpoint's name holds no checkpoint:
            // skipped and reported as a damaged checkpoint is (a checkpoint only shortens the
            // replay; the records are the log), never read. A segment under such a name is
            // refused instead, as a damaged segment is: its records cannot be replaced.
            // So is one whose read fails (a bad sector's EIO, a size no memory holds): it is
            // damaged in the form a disk shows most, and an older checkpoint or the records
            // recover the same state. Before, the open was refused with the log whole.
            Err(e @ (WalError::NotRegularFile { .. } | WalError::Io { .. })) => {
                skipped.push(SkippedCheckpoint {
                    path: path.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        match decode_checkpoint(&bytes, path, kernel_id) {
            Ok(c) if c.seq == *named_seq => return Ok(Some(c)),
            Ok(c) => skipped.push(SkippedCheckpoint {
                path: path.clone(),
                reason: format!("holds seq {} but is named for seq {named_seq}", c.seq),
            }),
            // Another kernel's or another version's file is not damage: refuse, like segments.
            Err(e @ (WalError::KernelIdMismatch { .. } | WalError::FormatVersion { .. })) => {
                return Err(e)
            }
            Err(e) => skipped.push(SkippedCheckpoint {
                path: path.clone(),
                reason: e.to_string(),
            }),
        }
    }
    Ok(None)
}

/// Where appends continue after recovery: segment path, its first seq, its length in bytes.
/// Where the writer continues: the last segment, its first seq, its length, and the format
/// and behaviour versions in its header (it continues there only if both are its own).
pub(crate) struct WriteTail {
    pub path: PathBuf,
    pub first_seq: u64,
    pub len: u64,
    pub version: u16,
    pub behaviour: u16,
}

/// Which part of a log a replay covers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReplaySpan {
    /// Start from the newest checkpoint below this seq (from the log's start if none is);
    /// `None`: the newest checkpoint.
    pub before: Option<u64>,
    /// Stop once the segment holding this seq is walked (the callback sees the rest of that
    /// segment); `None`: the end of the log.
    pub until: Option<u64>,
}

/// What recovery leaves the writer to change on disk once the open is accepted: leftover
/// temporary files to remove (in `removed_temp_files` of the report) and a torn tail to cut
/// (its `torn_tail`). Recovery itself writes nothing, so an open refused after it (a kernel of
/// another shape) leaves the log as it found it.
pub(crate) struct Repairs {
    pub temps: Vec<PathBuf>,
}

/// Recovery: checks headers, picks the checkpoint, replays, finds a torn tail. Returns the
/// report, where the writer continues (segment path, its first seq, its length: the tail
/// cut off); no tail when the replay stopped early at `span.until`), and what the writer must
/// repair before it appends. Nothing on disk changes here.
pub(crate) fn recover(
    dir: &Path,
    kernel_id: &str,
    replay: &mut dyn FnMut(Replay<'_>) -> Result<(), ReplayError>,
    span: ReplaySpan,
) -> Result<(RecoveryReport, Option<WriteTail>, Repairs), WalError> {
    let mut report = RecoveryReport::default();
    let listing = list_dir(dir)?;
    let repairs = Repairs {
        temps: listing.temps.clone(),
    };
    let segments = &listing.segments;
    report.segments = segments.len();
    // Every header is checked (cheap) so a foreign or damaged file is refused even when
    // recovery starts past it.
    let mut headers = Vec::with_capacity(segments.len());
    for (seq, path) in segments {
        headers.push(scan::read_segment_header(path, *seq, kernel_id)?);
    }
    let checkpoint = newest_checkpoint(
        &listing.checkpoints,
        kernel_id,
        &mut report.skipped_checkpoints,
        span.before,
    )?;

    // A refusal that follows from which checkpoint recovery starts at says which ones it
    // skipped, and why: the report that lists them is not seen when the open is refused.
    let skipped = report.skipped_checkpoints.clone();
    let noting_skipped = |e: WalError| with_skipped_checkpoints(e, &skipped);

    if segments.is_empty() {
        if let Some(c) = checkpoint {
            return Err(noting_skipped(WalError::corrupt(
                &c.path,
                0,
                c.seq + 1,
                "checkpoint present but every log segment is missing",
            )));
        }
        report.head_hash = genesis_hash(kernel_id);
        return Ok((report, None, repairs));
    }

    let (mut index, mut offset, mut cursor) = match &checkpoint {
        Some(c) => {
            let Some(index) = segments
                .iter()
                .position(|(seq, _)| *seq == c.segment_first_seq)
            else {
                return Err(noting_skipped(WalError::corrupt(
                    &c.path,
                    0,
                    c.seq + 1,
                    format!(
                        "checkpoint refers to segment {} which is missing",
                        format::segment_name(c.segment_first_seq)
                    ),
                )));
            };
            replay(Replay::Checkpoint {
                seq: c.seq,
                timestamp: c.ts,
                state: &c.state,
                behaviour: c.behaviour,
            })
            .map_err(|source| WalError::Replay {
                seq: c.seq,
                file: Some(c.path.clone()),
                offset: 0,
                checkpoint: true,
                source,
            })?;
            report.checkpoint_seq = Some(c.seq);
            (
                index,
                c.segment_offset as usize,
                Cursor {
                    next_seq: c.seq + 1,
                    prev_hash: c.head_hash,
                },
            )
        }
        None => {
            let h = &headers[0];
            let genesis = genesis_hash(kernel_id);
            if h.first_seq != 1 || h.prev_hash != genesis {
                return Err(noting_skipped(WalError::corrupt(
                    &segments[0].1,
                    0,
                    1,
                    format!(
                        "log starts at seq {} and no checkpoint covers the records before it",
                        h.first_seq
                    ),
                )));
            }
            (
                0,
                h.len,
                Cursor {
                    next_seq: 1,
                    prev_hash: genesis,
                },
            )
        }
    };

    // The segment walked before this one and where its records end.
    let mut walked_before: Option<(PathBuf, usize)> = None;
    loop {
        let (_, path) = &segments[index];
        let (bytes, header) = read_segment(path, segments[index].0, kernel_id)?;
        let last = index + 1 == segments.len();
        if offset == header.len
            && (header.first_seq != cursor.next_seq || header.prev_hash != cursor.prev_hash)
        {
            let before = walked_before.as_ref().map(|(p, end)| (p.as_path(), *end));
            return Err(noting_skipped(segment_discontinuity(
                path, &header, &cursor, before,
            )));
        }
        if offset < header.len || offset > bytes.len() {
            return Err(noting_skipped(WalError::corrupt(
                path,
                offset as u64,
                cursor.next_seq,
                format!(
                    "checkpoint points at byte {offset} but the segment holds bytes {}..{}: log truncated or replaced",
                    header.len,
                    bytes.len()
                ),
            )));
        }
        let walked = walk_frames(&bytes, offset, &mut cursor, |frame, at| {
            report.replayed_records += 1;
            let record = Record {
                seq: frame.seq,
                behaviour: header.behaviour,
                timestamp: frame.ts,
                hash: frame.hash,
                payload: frame.payload,
            };
            replay(Replay::Record(record)).map_err(|source| WalError::Replay {
                seq: frame.seq,
                file: Some(path.clone()),
                offset: at as u64,
                checkpoint: false,
                source,
            })
        })?;
        let end = match walked {
            Ok(end) => end,
            Err(Stop::Damaged {
                offset: at, detail, ..
            }) if last && nothing_valid_after(&bytes[at..], cursor.next_seq - 1) => {
                let dropped = (bytes.len() - at) as u64;
                let _ = detail;
                report.torn_tail = Some(TornTail {
                    segment: path.clone(),
                    offset: at as u64,
                    bytes_dropped: dropped,
                    seq: cursor.next_seq,
                });
                at
            }
            Err(Stop::Damaged {
                offset: at, detail, ..
            })
            | Err(Stop::Broken { offset: at, detail }) => {
                return Err(WalError::corrupt(path, at as u64, cursor.next_seq, detail));
            }
        };
        if last {
            report.last_seq = cursor.next_seq - 1;
            report.head_hash = cursor.prev_hash;
            let tail = WriteTail {
                path: path.clone(),
                first_seq: header.first_seq,
                len: end as u64,
                version: header.version,
                behaviour: header.behaviour,
            };
            return Ok((report, Some(tail), repairs));
        }
        if span.until.is_some_and(|until| cursor.next_seq > until) {
            report.last_seq = cursor.next_seq - 1;
            report.head_hash = cursor.prev_hash;
            return Ok((report, None, repairs));
        }
        walked_before = Some((path.clone(), end));
        index += 1;
        offset = headers[index].len;
    }
}

/// `e` (a [`WalError::Corrupt`]) saying which checkpoints recovery skipped before it, and why.
fn with_skipped_checkpoints(e: WalError, skipped: &[SkippedCheckpoint]) -> WalError {
    match e {
        WalError::Corrupt {
            file,
            offset,
            seq,
            mut detail,
        } if !skipped.is_empty() => {
            detail.push_str("; checkpoint(s) skipped: ");
            for (i, s) in skipped.iter().enumerate() {
                if i > 0 {
                    detail.push_str("; ");
                }
                // A reason of damage names the file already.
                let path = s.path.display().to_string();
                if !s.reason.contains(&path) {
                    detail.push_str(&path);
                    detail.push_str(": ");
                }
                detail.push_str(&s.reason);
            }
            WalError::Corrupt {
                file,
                offset,
                seq,
                detail,
            }
        }
        other => other,
    }
}

/// `before`: the segment walked just before this one and where its records end, when there is
/// one (not when the walk starts at this segment from a checkpoint).
fn segment_discontinuity(
    path: &Path,
    header: &format::SegmentHeader,
    cursor: &Cursor,
    before: Option<(&Path, usize)>,
) -> WalError {
    let detail = if header.first_seq != cursor.next_seq {
        match before {
            // Records lost between the two: the one before lost its last ones whole (cut at a
            // record boundary), or files between are gone. Before, only this segment was
            // named, and the operator looked for a missing file among names that run on.
            Some((previous, end)) if header.first_seq > cursor.next_seq => format!(
                "segment starts at seq {} but the log before it ends at seq {}, at byte {end} of \
                 {}: segment(s) missing between them, or that segment cut short (its last \
                 record(s) lost)",
                header.first_seq,
                cursor.next_seq - 1,
                previous.display()
            ),
            _ => format!(
                "segment starts at seq {} but the log before it ends at seq {}: segment(s) missing or replaced",
                header.first_seq,
                cursor.next_seq - 1
            ),
        }
    } else {
        "segment header's previous hash does not match the end of the log before it: segment replaced".to_string()
    };
    WalError::corrupt(path, 0, cursor.next_seq, detail)
}

/// Walks the whole log in `dir` (read-only, no lock) and checks every frame, the sequence,
/// the hash chain across segments and every checkpoint against the chain. Returns the
/// count, first and last sequence and head hash, or the first problem with its position.
///
/// A record removed from the very end leaves a shorter but consistent chain; it is caught
/// when a checkpoint vouches for a later sequence, or by looking for a head hash recorded
/// earlier in the chain ([`verify_expecting`]). Run it on a log no writer is appending to: a record being written
/// looks like a torn tail.
pub fn verify(dir: impl AsRef<Path>) -> Result<AuditReport, WalError> {
    verify_expecting(dir, None)
}

/// [`verify`], also looking for `expect_head` (a head hash recorded earlier) in the chain: a
/// log that grew since still passes through it, one cut or rewritten before it does not.
/// Where it was found is [`AuditReport::expected_head_seq`].
pub fn verify_expecting(
    dir: impl AsRef<Path>,
    expect_head: Option<[u8; 32]>,
) -> Result<AuditReport, WalError> {
    let dir = dir.as_ref();
    let listing = list_dir(dir)?;
    let Some(kernel_id) = listed_kernel_id(&listing)? else {
        return Err(WalError::Empty {
            dir: dir.to_path_buf(),
        });
    };
    let first_named = listing.segments[0].0;
    let mut checkpoints = Vec::new();
    for (named, path) in &listing.checkpoints {
        // Not skipped here, as a damaged checkpoint is not: the audit reports every problem.
        let bytes = scan::read_regular(path, "read checkpoint")?;
        let c = decode_checkpoint(&bytes, path, &kernel_id)?;
        if c.seq != *named {
            return Err(WalError::corrupt(
                path,
                0,
                c.seq,
                format!(
                    "checkpoint holds seq {} but is named for seq {named}",
                    c.seq
                ),
            ));
        }
        checkpoints.push(c);
    }
    let genesis = genesis_hash(&kernel_id);
    let mut cursor = Cursor {
        next_seq: 1,
        prev_hash: genesis,
    };
    let mut records = 0u64;
    let mut checked = 0usize;
    let mut expected_head_seq = (expect_head == Some(genesis)).then_some(0);
    let check_checkpoints = |seq: u64, hash: &Hash, checked: &mut usize| -> Result<(), WalError> {
        for c in checkpoints.iter().filter(|c| c.seq == seq) {
            if c.head_hash != *hash {
                return Err(WalError::corrupt(
                    &c.path,
                    0,
                    seq,
                    "checkpoint's chain hash disagrees with the log at its sequence: log rewritten",
                ));
            }
            *checked += 1;
        }
        Ok(())
    };
    // The segment walked before this one and where its records end.
    let mut walked_before: Option<(&Path, usize)> = None;
    for (i, (named, path)) in listing.segments.iter().enumerate() {
        let (bytes, header) = read_segment(path, *named, &kernel_id)?;
        if i == 0 && (header.first_seq != 1 || header.prev_hash != genesis) {
            let detail =
                format!("log starts at seq {first_named}: the segments before it are missing");
            return Err(WalError::corrupt(path, 0, 1, detail));
        }
        if header.first_seq != cursor.next_seq || header.prev_hash != cursor.prev_hash {
            return Err(segment_discontinuity(path, &header, &cursor, walked_before));
        }
        if cursor.next_seq == 1 {
            check_checkpoints(0, &cursor.prev_hash, &mut checked)?;
        }
        let walked = walk_frames(&bytes, header.len, &mut cursor, |frame, _| {
            records += 1;
            if expect_head == Some(frame.hash) {
                expected_head_seq = Some(frame.seq);
            }
            check_checkpoints(frame.seq, &frame.hash, &mut checked)
        })?;
        match walked {
            Ok(end) => walked_before = Some((path.as_path(), end)),
            // Judged as recovery judges it: a damaged end of the last segment with no valid
            // record after it is a write the crash cut short (recovery cuts it), whatever the
            // bytes; one with valid records after it is damage (recovery refuses it).
            Err(Stop::Damaged { offset, .. })
                if i + 1 == listing.segments.len()
                    && nothing_valid_after(&bytes[offset..], cursor.next_seq - 1) =>
            {
                return Err(WalError::TornTail {
                    file: path.clone(),
                    offset: offset as u64,
                    seq: Some(cursor.next_seq),
                    bytes: (bytes.len() - offset) as u64,
                });
            }
            Err(Stop::Damaged { offset, detail, .. }) | Err(Stop::Broken { offset, detail }) => {
                return Err(WalError::corrupt(
                    path,
                    offset as u64,
                    cursor.next_seq,
                    detail,
                ));
            }
        }
    }
    let last_seq = cursor.next_seq - 1;
    if let Some(c) = checkpoints.iter().find(|c| c.seq > last_seq) {
        return Err(WalError::Corrupt {
            file: c.path.clone(),
            offset: 0,
            seq: Some(last_seq + 1),
            detail: format!(
                "checkpoint vouches for seq {} but the log ends at seq {last_seq}: records removed from the tail",
                c.seq
            ),
        });
    }
    Ok(AuditReport {
        kernel_id,
        records,
        first_seq: if records > 0 { 1 } else { 0 },
        last_seq,
        head_hash: cursor.prev_hash,
        segments: listing.segments.len(),
        checkpoints: checked,
        expected_head_seq,
    })
}

/// Reads the newest valid checkpoint and the records after it without opening the log for
/// writing (no lock, nothing truncated or removed): what `dita wal replay` shows. A torn
/// tail is reported in the returned [`RecoveryReport`] but left on disk.
pub fn read_only_replay(
    dir: impl AsRef<Path>,
    replay: impl FnMut(Replay<'_>) -> Result<(), ReplayError>,
) -> Result<RecoveryReport, WalError> {
    let dir = dir.as_ref();
    let Some(kernel_id) = listed_kernel_id(&list_dir(dir)?)? else {
        return Err(WalError::Empty {
            dir: dir.to_path_buf(),
        });
    };
    read_only_span(dir, &kernel_id, ReplaySpan::default(), replay)
}

/// [`read_only_replay`] of the log of `kernel_id` in `dir` over `span` (see [`ReplaySpan`]):
/// with `before: Some(from_seq)` the callback also sees the records before `from_seq` that
/// rebuild the state, and with `until` it may see a few records past it.
pub(crate) fn read_only_span(
    dir: &Path,
    kernel_id: &str,
    span: ReplaySpan,
    mut replay: impl FnMut(Replay<'_>) -> Result<(), ReplayError>,
) -> Result<RecoveryReport, WalError> {
    recover(dir, kernel_id, &mut replay, span).map(|(report, _, _)| report)
}

/// The kernel id written in the log in `dir`, or `None` when `dir` holds no segment (a new
/// log). Lets a kernel reopened without an explicit id adopt the id of its log.
pub fn log_kernel_id(dir: impl AsRef<Path>) -> Result<Option<String>, WalError> {
    let dir = dir.as_ref();
    if !dir.exists() {
        return Ok(None);
    }
    listed_kernel_id(&list_dir(dir)?)
}

/// The kernel id of the listed segments: the one most of them carry (the newest segment's on
/// a tie), `None` when there is none. A segment of another kernel among them is refused by
/// its name: taken from the first segment, a stray file sorting first made the kernel's own
/// files the ones blamed.
fn listed_kernel_id(listing: &scan::Listing) -> Result<Option<String>, WalError> {
    let mut ids = Vec::with_capacity(listing.segments.len());
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (_, path) in &listing.segments {
        let id = scan::read_segment_header_any(path)?.kernel_id;
        *counts.entry(id.clone()).or_default() += 1;
        ids.push((path, id));
    }
    let Some(mut kernel_id) = ids.last().map(|(_, id)| id.clone()) else {
        return Ok(None);
    };
    for (id, n) in &counts {
        if *n > counts[&kernel_id] {
            kernel_id = id.clone();
        }
    }
    if let Some((path, found)) = ids.iter().find(|(_, id)| *id != kernel_id) {
        return Err(WalError::KernelIdMismatch {
            file: path.to_path_buf(),
            found: found.clone(),
            expected: kernel_id,
        });
    }
    Ok(Some(kernel_id))
}

/// Lowercase hex of a 32-byte hash (how hashes are printed by the CLI and reports).
pub fn hash_hex(hash: &[u8; 32]) -> String {
    hex(hash)
}
