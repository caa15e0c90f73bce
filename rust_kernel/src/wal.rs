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
//! - **Clean stop.** [`Wal::close`] (and a drop) syncs every record, then writes the file
//!   `clean-stop` naming the last one; the next open reports it in
//!   [`RecoveryReport::clean_stop`] and removes it, durably, before anything is written. A
//!   crash writes none, so a log ending at a checkpoint is told apart from one a crash of the
//!   machine cut back to that checkpoint. A kernel's writer under `always` writes the file
//!   `synced-always` once its open is done ([`Wal::promise_synced_always`]), removed likewise
//!   by the next open and reported in [`RecoveryReport::synced_always`]: no crash of such a
//!   writer lost a record whose append returned.
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
//! - **One writer.** `open` takes an exclusive lock on the log directory itself, which
//!   removing or replacing a file in it does not undo (a LOCK cleared as "stale", a restore
//!   copied over it), and one on `<dir>/LOCK`, the one lock a build before it asks for, both
//!   for the life of the [`Wal`]; a second writer on the same directory is refused,
//!   after asking again for the locks for up to 200 ms (a child the process is starting holds
//!   them from its fork to its exec, so a log closed and opened again in that instant would be
//!   refused). A process forked after the open holds a copy of the [`Wal`] (its buffer and
//!   segment, not its locks: the fork handler lets go of the child's copies) that writes
//!   nothing: its writes are refused with [`WalError::Forked`], its drop syncs nothing, and its
//!   reads take no lock a thread of the parent may have held at the fork.
//!
//! After an I/O error while writing, the log refuses further appends ([`WalError::Poisoned`]):
//! whether the failed record reached the disk is unknown, so the process must restart and
//! let recovery read what is really there. So does a segment taken from under the writer (its
//! directory removed, the segment moved away or replaced), found by every sync before it counts
//! records durable and by the writer thread once an interval (`flush_interval`, or the batch
//! policy's `max_delay`): what is written to it is in no file a restart reads. A checkpoint
//! that fails to be written (its file, the removal of an old one, a thread to write it that
//! cannot be started) is not such an error: the log is whole and recovery starts from the
//! previous checkpoint. It is counted in [`Wal::checkpoint_failures`] and kept in
//! [`Wal::checkpoint_error`], never returned to a later append, checkpoint, sync or close.
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

mod audit;
mod crc_span;
mod format;
pub mod kernel_log;
mod recovery;
mod scan;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use audit::{verify, verify_expecting};
pub use format::{FORMAT_VERSION, FRAME_HEADER_BYTES, MAX_KERNEL_ID_BYTES, MAX_PAYLOAD_BYTES};
pub use recovery::read_only_replay;
pub use scan::log_kernel_id;
pub use writer::{RecoveredWal, SyncHandle, Wal};

use format::hex;

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

/// The last segment of a log that reached the open's `segment_bytes` with no segment after
/// it. The writer starts the next segment as soon as one reaches that size, so either a crash
/// came between that write and the next segment's start, or the newest segment(s) are lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullLastSegment {
    pub segment: PathBuf,
    /// Its length once a torn tail is cut.
    pub bytes: u64,
    /// The size at which the open's writer starts a new segment ([`WalOptions::segment_bytes`]).
    pub segment_bytes: u64,
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
    /// The writer before this open closed or dropped the log at its last record (its clean-stop
    /// file names it, nothing cut after it): no record it wrote was lost.
    pub clean_stop: bool,
    /// The writer before this open synced every record before its append returned (fsync
    /// "always", its synced-always file): a crash lost no record whose order went out.
    pub synced_always: bool,
    /// Set by [`Wal::open`] only: a read-only replay does not know the writer's segment size.
    pub full_last_segment: Option<FullLastSegment>,
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
    /// What the audit finds at the end of a crash's log; `records` and `head_hash`: the chain
    /// up to it, where a kernel opened on the log goes on from.
    #[error(
        "write-ahead log truncated: {} at byte offset {offset}{}: {bytes} byte(s) of an incomplete \
         record, a torn tail (a write a crash cut short) that the kernel's next open of the log cuts; \
         the log up to it holds {records} record(s), head hash {}",
        .file.display(), SeqSuffix(*.seq), hex(.head_hash)
    )]
    TornTail {
        file: PathBuf,
        offset: u64,
        seq: Option<u64>,
        bytes: u64,
        records: u64,
        head_hash: [u8; 32],
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
    /// `holder`: the process the log's LOCK file names (the writer notes itself there); None
    /// when it names none, or was removed while the writer runs.
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
    /// item came from, when it came from one, so the operator looks at the file that holds it.
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
                "its LOCK file names no process (it was removed, or a build before they did wrote it)"
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

/// Lowercase hex of a 32-byte hash (how hashes are printed by the CLI and reports).
pub fn hash_hex(hash: &[u8; 32]) -> String {
    hex(hash)
}
