//! The kernel's write-ahead log: [`KernelInput`]s encoded with bincode as WAL records and
//! the whole [`Kernel`] as checkpoint state.
//!
//! The caller applies an input to the kernel and then calls [`KernelLog::record`] before
//! anything of the input leaves the kernel (an order to a venue, an outcome to the caller).
//! An input is recorded when it moves the kernel's sequence: every intent and venue event
//! does, refused or not (its refusal is an outcome replay must give again); an input refused
//! with an error (a mark out of range) changes nothing and is not recorded. So the log's
//! sequence numbers equal the kernel's. Replay applies each
//! record with [`Kernel::apply`], the same methods the live path calls, and never talks to a
//! venue: the venue's answers are inputs of their own and are in the log.
//!
//! The log records the [`BEHAVIOUR_VERSION`] it was written under, and a build replays only
//! records of its own version: replayed under other behaviour, they would lead to a state the
//! log never had. A log written by a build of another version opens only from a checkpoint
//! that ends it (a clean stop writes one): its state is migrated as data
//! ([`crate::kernel::decode_version`]), a checkpoint of this version is written at once, and
//! new records follow under this version. Records of another version after the last
//! checkpoint refuse the open, saying how to end them with a checkpoint.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::recovery::{read_only_span, ReplaySpan};
use super::{FsyncPolicy, RecoveredWal, RecoveryReport, Replay, Wal, WalError, WalOptions};
use crate::journal::RowBuf;
use crate::kernel::{
    decode_checkpoint, decode_version, encode_checkpoint, Kernel, KernelInput, BEHAVIOUR_VERSION,
};
use crate::model::{AccountEvent, Intent, VenueEvent};

/// The hot inputs by reference: encodes to exactly the bytes of the matching
/// [`KernelInput`] variant (bincode writes a variant by its index, and these are the first
/// three), so the hot path records an input without cloning it.
#[derive(Serialize)]
pub enum InputRef<'a> {
    Intent(&'a Intent),
    VenueEvent(&'a VenueEvent),
    AccountEvent(&'a AccountEvent),
}

/// How a kernel's log is kept.
#[derive(Debug, Clone)]
pub struct KernelLogOptions {
    pub fsync: FsyncPolicy,
    /// A checkpoint is written after this many records (0 = only on request).
    pub checkpoint_every: u64,
    pub segment_bytes: u64,
}

impl Default for KernelLogOptions {
    fn default() -> Self {
        KernelLogOptions {
            fsync: FsyncPolicy::DEFAULT_BATCH,
            // A kernel's state is megabytes (its idempotency memories); copying it is the
            // caller's cost, so checkpoints are rare enough to stay far below 0.1 us per input.
            checkpoint_every: 1_000_000,
            segment_bytes: 64 << 20,
        }
    }
}

/// An open kernel log; see the module documentation.
pub struct KernelLog {
    wal: Wal,
    checkpoint_every: u64,
    records_since_checkpoint: u64,
    encoded_input: Vec<u8>,
    report: RecoveryReport,
    new_log: bool,
    migrated_from: Option<u16>,
    /// The order counter this open moved to past the ids its log may have lost, if it did.
    order_ids_skipped_through: Option<u64>,
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Encodes a kernel input as a record payload.
pub fn encode_input(input: &KernelInput, buf: &mut Vec<u8>) {
    buf.clear();
    bincode::serialize_into(&mut *buf, input).expect("kernel inputs always encode");
}

/// The size of `input` as a record, when that is more than a record may hold: applied, such
/// an input could not be logged, and the kernel would stop for good.
pub fn too_large_to_log(input: &KernelInput) -> Option<u64> {
    let n = bincode::serialized_size(input).expect("kernel inputs always encode");
    (n > super::format::MAX_PAYLOAD_BYTES as u64).then_some(n)
}

pub fn decode_input(payload: &[u8]) -> Result<KernelInput, String> {
    bincode::deserialize(payload).map_err(|e| format!("undecodable kernel input: {e}"))
}

/// Encodes a kernel's state as a checkpoint ([`crate::kernel::encode_checkpoint`]).
pub fn encode_kernel(kernel: &Kernel) -> Vec<u8> {
    encode_checkpoint(kernel)
}

/// Decodes a checkpoint of this build's behaviour version.
pub fn decode_kernel(state: &[u8]) -> Result<Kernel, String> {
    decode_checkpoint(state)
}

/// Rebuilds a kernel from a log: `kernel` is the fresh kernel to start from when the log
/// has no checkpoint. Shared by [`KernelLog::open`] and the read-only replay.
/// `migrated_from`: set to the behaviour version of the checkpoint the replay started from,
/// when that is not this build's.
fn replayer<'k>(
    kernel_id: &'k str,
    kernel: &'k mut Kernel,
    migrated_from: &'k mut Option<u16>,
) -> impl FnMut(Replay<'_>) -> Result<(), super::ReplayError> + 'k {
    move |item| {
        match item {
            Replay::Checkpoint {
                seq,
                state,
                behaviour,
                ..
            } => {
                restore(kernel_id, kernel, seq, behaviour, state)?;
                *migrated_from = (behaviour != BEHAVIOUR_VERSION).then_some(behaviour);
            }
            Replay::Record(r) => apply_record(kernel, r.seq, r.behaviour, r.payload)?,
        }
        Ok(())
    }
}

/// Replaces `kernel` with checkpoint `seq`'s state, written under behaviour version
/// `version` (this build's, or one it migrates: [`decode_version`]).
fn restore(
    kernel_id: &str,
    kernel: &mut Kernel,
    seq: u64,
    version: u16,
    state: &[u8],
) -> Result<(), super::ReplayError> {
    let restored = decode_version(state, version)
        .map_err(|e| format!("checkpoint {seq}: {e}; {}", open_with_its_build(version)))?;
    if restored.kernel_id != kernel_id {
        return Err(format!(
            "checkpoint {seq} holds kernel {:?}, not {kernel_id:?}",
            restored.kernel_id
        )
        .into());
    }
    // The outbox is not part of the state: a journal attached before recovery keeps
    // receiving the rows of the records replayed after this checkpoint.
    let (journaling, capacity) = (kernel.journal_attached(), kernel.outbox.capacity);
    *kernel = restored;
    kernel.outbox.capacity = capacity;
    kernel.set_journal_enabled(journaling);
    Ok(())
}

/// What to do with a log of behaviour version `version`, which this build does not replay.
fn open_with_its_build(version: u16) -> String {
    format!(
        "this build (behaviour version {BEHAVIOUR_VERSION}) replays only records of its own \
         version. Open the log with the build that wrote it (version {version}) and stop it \
         cleanly, so that a checkpoint ends the log (ExecutionKernel.close() writes one; on a \
         build of version 36, call wal_checkpoint() and then close()); this build then opens it \
         from that checkpoint"
    )
}

/// Applies record `seq`, written under behaviour version `version`, checking that the kernel
/// lands on the same seq.
fn apply_record(
    kernel: &mut Kernel,
    seq: u64,
    version: u16,
    payload: &[u8],
) -> Result<(), super::ReplayError> {
    if version != BEHAVIOUR_VERSION {
        return Err(format!(
            "record {seq} was written under behaviour version {version}, after the log's last \
             checkpoint; {}",
            open_with_its_build(version)
        )
        .into());
    }
    let input = decode_input(payload)?;
    kernel
        .apply(&input)
        .map_err(|e| format!("the kernel refused the recorded input: {e}"))?;
    // Each accepted input advances the kernel by one: a mismatch means replay diverged
    // from what was recorded, which must not pass unnoticed.
    if kernel.seq() != seq {
        return Err(format!(
            "replay diverged: kernel is at seq {} after record {seq}",
            kernel.seq()
        )
        .into());
    }
    Ok(())
}

/// Which journal rows [`journal_rows_read_only`] gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayRows {
    /// Those the kernel's control let through when the records were first applied.
    AsJournaled,
    /// Those of NORMAL verbosity at least with journaling on, whatever the control said then:
    /// every intent and transition, for an audit of what a run sent.
    EveryIntent,
}

/// The journal rows of the records `from_seq..=to_seq` of the log in `dir`, derived again by
/// replaying them (read-only: no lock, nothing written): from the newest checkpoint below
/// `from_seq`, or from the log's first record with the kernel `fresh` builds from the log's
/// kernel id. The rows are those the kernel's outbox made when the records were first
/// applied: same `(seq, sub)`, same values, at the verbosity in force then. `sink` gets them
/// whenever `chunk_rows` are waiting, and once at the end, as `Outbox::take_rows` hands them
/// out (segments of the process's `SEGMENT_POOL`, for the sink to give back). Returns the
/// report of the replay; its `last_seq` is where the replay stopped. With
/// [`ReplayRows::EveryIntent`], the rows of every intent and transition, whatever the control.
pub fn journal_rows_read_only(
    dir: &Path,
    from_seq: u64,
    to_seq: u64,
    fresh: impl FnOnce(&str) -> Result<Kernel, String>,
    chunk_rows: usize,
    rows: ReplayRows,
    mut sink: impl FnMut([Vec<RowBuf>; 6]) -> Result<(), String>,
) -> Result<RecoveryReport, WalError> {
    let (kernel_id, mut kernel) = kernel_for_log(dir, fresh)?;
    kernel.set_journal_enabled(false);
    let chunk_rows = chunk_rows.max(1);
    // Never drops a row: it is drained as soon as a chunk is full.
    kernel.outbox.capacity = usize::MAX;
    // Checkpoints at or after `from_seq` hold state its records change.
    let span = ReplaySpan {
        before: Some(from_seq),
        until: Some(to_seq),
    };
    let report = read_only_span(dir, &kernel_id, span, |item| {
        match item {
            // `restore` keeps the outbox's capacity.
            Replay::Checkpoint {
                seq,
                state,
                behaviour,
                ..
            } => restore(&kernel_id, &mut kernel, seq, behaviour, state)?,
            Replay::Record(r) if r.seq > to_seq => {}
            Replay::Record(r) => {
                if r.seq == from_seq {
                    kernel.set_journal_enabled(true);
                }
                if r.seq >= from_seq && rows == ReplayRows::EveryIntent {
                    // Before each record: a control change in the log sets the gate again.
                    kernel.journal_every_intent();
                }
                apply_record(&mut kernel, r.seq, r.behaviour, r.payload)?;
                if kernel.outbox.len() >= chunk_rows {
                    sink(kernel.outbox.take_rows(usize::MAX))?;
                }
            }
        }
        Ok(())
    })?;
    if !kernel.outbox.is_empty() {
        sink(kernel.outbox.take_rows(usize::MAX))
            .map_err(|e| WalError::replay(report.last_seq, e.into()))?;
    }
    Ok(report)
}

/// What [`replay_checkpoints`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReplay {
    /// The checkpoint the replay started from: the oldest one (checkpoint 0, the state the
    /// log starts from, unless it was removed); `None` when the log has no checkpoint.
    pub from_seq: Option<u64>,
    /// The later checkpoints, each equal to the replay of the records before it.
    pub matched: Vec<u64>,
    /// Records replayed (from `from_seq` to the end of the log).
    pub replayed_records: u64,
}

/// Replays the log in `dir` (read-only, no lock) from its oldest checkpoint to its end and
/// compares each later checkpoint's state with the replayed kernel's at that checkpoint's
/// seq. In a log a build of another behaviour version wrote first, the replay starts at the
/// checkpoint its migration wrote (the records before it are not this build's to replay).
///
/// A checkpoint that differs is [`WalError::Corrupt`] naming it, its seq and the part of the
/// state that differs: a well-formed checkpoint with a wrong state (written by a bug, or left
/// with records replaced and their chain recomputed) passes [`super::verify`], and a recovery
/// would start from it. The oldest checkpoint is the replay's start, not checked: checkpoint
/// 0 holds what the constructor made, which no record says. A damaged checkpoint is an error
/// here too ([`super::verify`] names it first).
pub fn replay_checkpoints(dir: &Path) -> Result<CheckpointReplay, WalError> {
    let kernel_id = super::log_kernel_id(dir)?.ok_or_else(|| WalError::Empty {
        dir: dir.to_path_buf(),
    })?;
    let mut checkpoints = Vec::new();
    for (_, path) in super::scan::list_dir(dir)?.checkpoints {
        let bytes = super::scan::read_regular(&path, "read checkpoint")?;
        checkpoints.push(super::format::decode_checkpoint(&bytes, &path, &kernel_id)?);
    }
    checkpoints.sort_by_key(|c| c.seq);
    // After the newest checkpoint of another version comes the one its migration wrote.
    let start = match checkpoints
        .iter()
        .rposition(|c| c.behaviour != BEHAVIOUR_VERSION)
    {
        Some(i) if i + 1 < checkpoints.len() => i + 1,
        Some(i) => i,
        None => 0,
    };
    checkpoints.drain(..start);
    let Some(first) = checkpoints.first() else {
        return Ok(CheckpointReplay::default());
    };
    let from_seq = first.seq;
    // Replaced by the oldest checkpoint's state before the first record.
    let mut kernel =
        Kernel::new(&kernel_id, 1).map_err(|e| WalError::replay(0, e.to_string().into()))?;
    let mut later = checkpoints[1..].iter().peekable();
    let mut matched = Vec::new();
    let mut mismatch = None;
    let span = ReplaySpan {
        before: Some(from_seq + 1),
        until: None,
    };
    let replayed = read_only_span(dir, &kernel_id, span, |item| {
        match item {
            Replay::Checkpoint {
                seq,
                state,
                behaviour,
                ..
            } => restore(&kernel_id, &mut kernel, seq, behaviour, state)?,
            Replay::Record(r) => apply_record(&mut kernel, r.seq, r.behaviour, r.payload)?,
        }
        // Each record moves the kernel's seq by one (`apply_record` checks it).
        if let Some(c) = later.next_if(|c| c.seq == kernel.seq()) {
            let stored = decode_version(&c.state, c.behaviour)
                .map_err(|e| format!("checkpoint {}: {e}", c.seq))?;
            if let Some(part) = stored.state_difference(&kernel) {
                mismatch = Some(WalError::Corrupt {
                    file: c.path.clone(),
                    offset: 0,
                    seq: Some(c.seq),
                    detail: format!(
                        "checkpoint's state differs from the replay of the records from \
                         checkpoint {from_seq} to its seq: {part}"
                    ),
                });
                return Err("checkpoint differs".into());
            }
            matched.push(c.seq);
        }
        Ok(())
    });
    if let Some(err) = mismatch {
        return Err(err);
    }
    let report = replayed?;
    if report.checkpoint_seq != Some(from_seq) {
        return Err(WalError::replay(
            from_seq,
            format!(
                "the replay started from {:?}, not from checkpoint {from_seq}",
                report.checkpoint_seq
            )
            .into(),
        ));
    }
    if let Some(c) = later.next() {
        return Err(WalError::Corrupt {
            file: c.path.clone(),
            offset: 0,
            seq: Some(c.seq),
            detail: format!(
                "checkpoint vouches for seq {} but the log ends at seq {}",
                c.seq, report.last_seq
            ),
        });
    }
    Ok(CheckpointReplay {
        from_seq: Some(from_seq),
        matched,
        replayed_records: report.replayed_records,
    })
}

/// A kernel's log recovered, nothing on it changed yet (see [`KernelLog::recover`]).
pub struct RecoveredKernelLog {
    wal: RecoveredWal,
    checkpoint_every: u64,
    migrated_from: Option<u16>,
}

impl RecoveredKernelLog {
    /// What recovery found (before its repairs: a torn tail is still on disk).
    pub fn recovery(&self) -> &RecoveryReport {
        self.wal.report()
    }

    /// True when the log held no history: `finish` writes `kernel` as its checkpoint 0.
    pub fn is_new(&self) -> bool {
        let r = self.wal.report();
        r.last_seq == 0 && r.checkpoint_seq.is_none()
    }

    /// The behaviour version of the checkpoint recovery started from, when it was another
    /// build's and its state was migrated ([`crate::kernel::decode_version`]).
    pub fn migrated_from(&self) -> Option<u16> {
        self.migrated_from
    }

    /// True when the log's history ends in a clean stop (closed or dropped after its last
    /// record: [`RecoveryReport::clean_stop`]). A log that ends at a checkpoint may still have
    /// lost records after it: a periodic one, then a crash of the machine.
    pub fn ended_in_clean_stop(&self) -> bool {
        self.wal.report().clean_stop
    }

    /// Repairs the log and opens it for appends; a new log gets `kernel` (the one recovery
    /// returned, unchanged since) as its checkpoint 0, so its shape is in the log. A log
    /// recovered from another version's checkpoint gets `kernel`'s state as a checkpoint of
    /// this version at once, so the log's next open starts from it. A log with history that
    /// did not end in a clean stop may have lost records of orders sent: `kernel`'s order
    /// ids skip past them ([`KernelInput::OrderIdsSkipped`], recorded and synced), unless its
    /// writer synced every record ([`RecoveryReport::synced_always`]).
    pub fn finish(self, kernel: &mut Kernel) -> Result<KernelLog, WalError> {
        let new_log = self.is_new();
        let report = self.wal.report();
        let unclean = !new_log && !self.ended_in_clean_stop() && !report.synced_always;
        let (wal, report) = self.wal.finish()?;
        let mut log = KernelLog {
            wal,
            checkpoint_every: self.checkpoint_every,
            records_since_checkpoint: report.replayed_records,
            encoded_input: Vec::with_capacity(512),
            report,
            new_log,
            migrated_from: self.migrated_from,
            order_ids_skipped_through: None,
        };
        let migrated = self.migrated_from.is_some();
        match log.finish_open(kernel, new_log || migrated, unclean) {
            Ok(()) => Ok(log),
            Err(e) => {
                // Dropped, the log would write its clean-stop file and the next open would
                // skip no order ids, though this one did not record their skip.
                log.wal.forgo_clean_stop();
                Err(e)
            }
        }
    }
}

/// How many client order ids the records a crash lost may have issued, for the log in `dir`
/// opened with segments of `segment_bytes`. A crash loses records of the last segment only
/// (a rotation syncs a segment before the next one starts), a segment takes records until it
/// reaches its size (each record's frame is at least its header), and an input issues one
/// order at most (an ENTER or EXIT). The size is the largest of this open's and those of the
/// segments on disk, as a run before may have written larger ones.
fn order_ids_a_crash_may_lose(dir: &Path, segment_bytes: u64) -> Result<u64, WalError> {
    let mut largest = segment_bytes;
    for (_, path) in super::scan::list_dir(dir)?.segments {
        let size = std::fs::metadata(&path)
            .map_err(super::scan::io_err(&path, "read segment size"))?
            .len();
        largest = largest.max(size);
    }
    Ok(largest / super::format::FRAME_HEADER_BYTES as u64 + 1)
}

impl KernelLog {
    /// Opens the log in `dir` and recovers the kernel from it. `fresh` is the kernel to use
    /// when the log is new (its state becomes checkpoint 0, so the kernel's shape, such as
    /// `max_slots`, is in the log) or has no usable checkpoint.
    pub fn open(
        dir: &Path,
        fresh: Kernel,
        options: &KernelLogOptions,
    ) -> Result<(KernelLog, Kernel), WalError> {
        let (recovered, mut kernel) = KernelLog::recover(dir, fresh, options)?;
        Ok((recovered.finish(&mut kernel)?, kernel))
    }

    /// The first half of [`KernelLog::open`]: the kernel recovered under the log's lock, the
    /// log not yet changed on disk (see [`Wal::recover_locked`]). A caller that refuses the
    /// recovered kernel (another shape than asked for) drops the first value and leaves the
    /// log as it found it; otherwise [`RecoveredKernelLog::finish`] opens it for appends.
    pub fn recover(
        dir: &Path,
        fresh: Kernel,
        options: &KernelLogOptions,
    ) -> Result<(RecoveredKernelLog, Kernel), WalError> {
        let kernel_id = fresh.kernel_id.clone();
        let wal_options = WalOptions::new(kernel_id.clone())
            .with_behaviour(BEHAVIOUR_VERSION)
            .with_fsync(options.fsync)
            .with_segment_bytes(options.segment_bytes);
        let mut kernel = fresh;
        let mut migrated_from = None;
        let replay = replayer(&kernel_id, &mut kernel, &mut migrated_from);
        let wal = Wal::recover_locked(dir, wal_options, replay)?;
        let recovered = RecoveredKernelLog {
            wal,
            checkpoint_every: options.checkpoint_every,
            migrated_from,
        };
        Ok((recovered, kernel))
    }

    /// The writes [`RecoveredKernelLog::finish`] makes on the open log: the checkpoint a new or
    /// migrated log starts from, and the skip of the order ids an unclean stop may have lost.
    fn finish_open(
        &mut self,
        kernel: &mut Kernel,
        checkpoint: bool,
        unclean: bool,
    ) -> Result<(), WalError> {
        if checkpoint {
            self.checkpoint(kernel)?;
        }
        if unclean {
            self.skip_lost_order_ids(kernel)?;
        }
        // Only now: an open that failed before this point still owes the skip.
        self.wal.promise_synced_always()
    }

    /// Moves `kernel`'s order counter past every id the records a crash lost may have issued,
    /// and records and syncs that move: a later open replays it, and one after another crash
    /// skips from there, past the ids this run sends.
    fn skip_lost_order_ids(&mut self, kernel: &mut Kernel) -> Result<(), WalError> {
        let lost = order_ids_a_crash_may_lose(self.wal.dir(), self.wal.options().segment_bytes)?;
        let input = KernelInput::OrderIdsSkipped {
            through: kernel.order_counter().saturating_add(lost),
        };
        kernel
            .apply(&input)
            .map_err(|e| WalError::replay(kernel.seq(), e.to_string().into()))?;
        self.record(kernel, &input)?;
        self.wal.sync()?;
        self.order_ids_skipped_through = Some(kernel.order_counter());
        Ok(())
    }

    /// The order counter this open moved to because its log did not end in a clean stop
    /// (the next client order id is `<kernel_id>-<n + 1>`); None when it moved nothing.
    pub fn order_ids_skipped_through(&self) -> Option<u64> {
        self.order_ids_skipped_through
    }

    /// Appends an input the kernel has just accepted; writes a checkpoint when one is due.
    pub fn record(&mut self, kernel: &Kernel, input: &KernelInput) -> Result<u64, WalError> {
        encode_input(input, &mut self.encoded_input);
        self.append_encoded(kernel)
    }

    /// [`KernelLog::record`] for an intent or event borrowed from the caller.
    pub fn record_ref(&mut self, kernel: &Kernel, input: InputRef<'_>) -> Result<u64, WalError> {
        self.encoded_input.clear();
        bincode::serialize_into(&mut self.encoded_input, &input)
            .expect("kernel inputs always encode");
        self.append_encoded(kernel)
    }

    fn append_encoded(&mut self, kernel: &Kernel) -> Result<u64, WalError> {
        let seq = self.wal.append(now_seconds(), &self.encoded_input)?;
        self.records_since_checkpoint += 1;
        if self.checkpoint_every > 0 && self.records_since_checkpoint >= self.checkpoint_every {
            // Only a copy of the state is made here: its encoding, the write and sync of the
            // records before it and the file are made in the background, off the input's thread.
            let state = kernel.copy_for_checkpoint();
            match self
                .wal
                .checkpoint_encoded_in_background(seq, move || state.encode())
            {
                Ok(()) => self.records_since_checkpoint = 0,
                // The log failed on its thread after this record reached stable storage: a
                // restart replays the record, so it is not reported failed; the log's failure
                // refuses the next input instead.
                Err(_) if self.wal.failure().is_some() && self.wal.recoverable_seq() >= seq => {}
                Err(e) => return Err(e),
            }
        }
        Ok(seq)
    }

    /// Hands every recorded input to the OS (see [`Wal::write_through`]): called before an
    /// order goes to a venue, so a restart after a crash of this process knows its client id.
    pub fn write_through(&self) -> Result<(), WalError> {
        self.wal.write_through(self.wal.last_seq())
    }

    /// How many records were appended since the last checkpoint (or since the open).
    pub fn records_since_checkpoint(&self) -> u64 {
        self.records_since_checkpoint
    }

    /// Writes a checkpoint of `kernel`, which must reflect every recorded input.
    pub fn checkpoint(&mut self, kernel: &Kernel) -> Result<(), WalError> {
        self.wal
            .checkpoint(self.wal.last_seq(), &encode_kernel(kernel))?;
        self.records_since_checkpoint = 0;
        Ok(())
    }

    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// What recovery found when the log was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.report
    }

    /// True when the log held no history before this open.
    pub fn is_new(&self) -> bool {
        self.new_log
    }

    /// The behaviour version of the checkpoint this open started from, when it was another
    /// build's and its state was migrated ([`crate::kernel::decode_version`]).
    pub fn migrated_from(&self) -> Option<u16> {
        self.migrated_from
    }

    /// True when the log held no input before this open: a new log, or one whose process
    /// died after writing checkpoint 0 and before its first record reached the disk (under
    /// `batch` and `none`, up to 10 ms). What a constructor gives a new kernel still applies.
    pub fn held_no_input(&self) -> bool {
        self.recovered_seq() == 0
    }

    /// The seq of the last record this open recovered: the kernel's seq before the open's own
    /// [`KernelInput::OrderIdsSkipped`], which holds nothing of a run.
    pub fn recovered_seq(&self) -> u64 {
        self.report.last_seq
    }

    /// Waits for a background checkpoint and syncs every recorded input. A failed
    /// checkpoint is not an error of the sync: it is in [`Wal::checkpoint_error`].
    pub fn sync(&mut self) -> Result<u64, WalError> {
        let _ = self.wal.finish_checkpoint();
        self.wal.sync()
    }

    /// Stops the log cleanly ([`Wal::close`]; a drop does so too, without the error): every
    /// input synced, and the next open told that nothing after the last was lost, so it skips
    /// no order ids. Returns the synced seq.
    pub fn close(self) -> Result<u64, WalError> {
        self.wal.close()
    }
}

/// Rebuilds the kernel from the log in `dir` without writing anything (no lock, no
/// truncation): `fresh` builds the starting kernel from the log's kernel id when no
/// checkpoint is usable.
pub fn replay_read_only(
    dir: &Path,
    fresh: impl FnOnce(&str) -> Result<Kernel, String>,
) -> Result<(Kernel, RecoveryReport), WalError> {
    let (kernel_id, mut kernel) = kernel_for_log(dir, fresh)?;
    let span = ReplaySpan::default();
    let mut migrated_from = None;
    let replay = replayer(&kernel_id, &mut kernel, &mut migrated_from);
    let report = read_only_span(dir, &kernel_id, span, replay)?;
    Ok((kernel, report))
}

/// The id of the log in `dir` and the kernel `fresh` builds for it, to replay into.
fn kernel_for_log(
    dir: &Path,
    fresh: impl FnOnce(&str) -> Result<Kernel, String>,
) -> Result<(String, Kernel), WalError> {
    let kernel_id = super::log_kernel_id(dir)?.ok_or_else(|| WalError::Empty {
        dir: dir.to_path_buf(),
    })?;
    let kernel = fresh(&kernel_id).map_err(|e| WalError::replay(0, e.into()))?;
    Ok((kernel_id, kernel))
}
