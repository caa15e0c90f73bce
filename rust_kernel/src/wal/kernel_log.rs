//! The kernel's write-ahead log: [`KernelInput`]s encoded with bincode as WAL records and
//! the whole [`Kernel`] as checkpoint state.
//!
//! The caller applies an input to the kernel and then calls [`KernelLog::record`] before
//! anything of the input leaves the kernel (an order to a venue, an outcome to the caller).
//! Only inputs the kernel accepted are recorded: a refused input changes nothing (not even
//! the sequence), so the log's sequence numbers equal the kernel's. Replay applies each
//! record with [`Kernel::apply`], the same methods the live path calls, and never talks to a
//! venue: the venue's answers are inputs of their own and are in the log.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{
    FsyncPolicy, RecoveredWal, RecoveryReport, Replay, ReplaySpan, Wal, WalError, WalOptions,
};
use crate::journal::RowBuf;
use crate::kernel::{Kernel, KernelInput};
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
            // A kernel's state is megabytes (its idempotency memories); encoding it is the
            // caller's cost, so checkpoints are rare enough to stay below 0.2 us per input.
            checkpoint_every: 1_000_000,
            segment_bytes: 64 << 20,
        }
    }
}

/// An open kernel log; see the module documentation.
pub struct KernelLog {
    wal: Wal,
    checkpoint_every: u64,
    since_checkpoint: u64,
    buf: Vec<u8>,
    report: RecoveryReport,
    new_log: bool,
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

/// A checkpoint: the kernel's serde state, then the orders that ended and may still get a
/// late fill (added after rules 1; a checkpoint written before ends with the kernel), then
/// what the venue's fill reports of working orders covered (added with rules 5; a checkpoint
/// written before ends with the ended orders), then the running totals kept orders wait for
/// (added with rules 12; a checkpoint written before ends with the covered fills), then the
/// kept orders whose status is not known (added with rules 13; one written before ends with
/// the stated totals), then the unsettled fills' assets and report sizes, and the fills of
/// other assets under one fill id (`kernel::UnsettledTail`, added with rules 19; one written
/// before ends with the kept orders in doubt), then the maker's and the taker's fee
/// calibration (`fees::CalibrationTail`, added with rules 20; one written before ends with the
/// unsettled fills, and both sides take its one ratio), then what exit fills took of the
/// slots' legs (`kernel::LegTail`, added with rules 21; one written before ends with the fee
/// calibrations, and nothing was taken), then the unsettled fills' fee rates (rules 29) and
/// the assets whose edge is below the freeze threshold (rules 30), then the ids of the account
/// events that moved money (`Kernel::money_events`, added with rules 31; one written before
/// ends with the edges, and none is kept apart from the balance updates'), then how many of
/// each slot's remembered events its trade wrote (`Kernel::trade_event_counts`, rules 31; one
/// written before ends with the money events, and all are taken for the trade's), then the
/// venue's time of each of the account's E figures (`account::Account::e_taken_at`, added with
/// rules 32; one written before ends with the parts before it, and no figure has a time), then
/// the latest time an accepted intent or venue event, or a mark price, was stamped
/// (`account::Account::input_time`, rules 32; one written before has none, 0), then the
/// FILL_SETTLEDs held for their fills (`Kernel::early_settlements`, rules 32; one written
/// before ends with the input time, and holds none), then the times of the FUNDING_FEEs the
/// money event memory holds and forgot (`Kernel::funding_times`, rules 33; one written before
/// ends with the settlements held, and knows none), then each asset's latest mark price and
/// the marks the slots' entries were judged at (`Kernel::marks`, `Kernel::entry_marks`, rules
/// 33; one written before ends with the funding times, and knows none).
pub fn encode_kernel(kernel: &Kernel) -> Vec<u8> {
    let mut out = bincode::serialize(kernel).expect("kernel state always encodes");
    for part in tail_parts(kernel) {
        out.extend_from_slice(&part.bytes);
    }
    out
}

/// One of a checkpoint's parts after the kernel's serde state ([`tail_parts`]).
pub(crate) struct TailPart {
    /// The rules version that added it: a checkpoint of a build before ends before it.
    pub rules: u16,
    /// What it holds, as an audit names a difference in it.
    pub holds: &'static str,
    pub bytes: Vec<u8>,
}

/// The parts a checkpoint holds after the kernel's serde state, in the order they are written
/// (see [`encode_kernel`]). Written, compared ([`Kernel::state_difference_under`]) and measured
/// ([`parts_since_rules`]) from this one list, which a new part joins at its end.
pub(crate) fn tail_parts(kernel: &Kernel) -> [TailPart; 16] {
    fn part<T: Serialize>(rules: u16, holds: &'static str, value: &T) -> TailPart {
        let bytes = bincode::serialize(value).expect("checkpoint parts always encode");
        TailPart {
            rules,
            holds,
            bytes,
        }
    }
    [
        part(2, "orders kept for late fills", &kernel.ended_orders()),
        part(
            5,
            "fills covered by the venue's reports",
            &kernel.covered_fills(),
        ),
        part(
            12,
            "fills the kept orders' reports stated",
            &kernel.stated_totals(),
        ),
        part(13, "kept orders of unknown status", &kernel.in_doubt_keys()),
        part(19, "unsettled fills", &kernel.unsettled_tail()),
        part(
            20,
            "fee calibration by liquidity",
            &kernel.fees.calibration_tail(),
        ),
        part(21, "what exits took of the slots' legs", &kernel.leg_tail()),
        part(
            29,
            "the unsettled fills' fee rates",
            &kernel.unsettled_rates(),
        ),
        part(
            30,
            "the assets whose edge is below the freeze threshold",
            kernel.edge_below(),
        ),
        part(
            31,
            "the ids of the account events that moved money",
            &kernel.money_events(),
        ),
        part(
            31,
            "how many of each slot's remembered events its trade wrote",
            &kernel.trade_event_counts(),
        ),
        part(
            32,
            "the times of the exchange's account figures",
            &kernel.account.e_taken_at,
        ),
        part(
            32,
            "the latest time an accepted intent or venue event, or a mark price, was stamped",
            &kernel.account.input_time,
        ),
        part(
            32,
            "the settlements held for their fills",
            &kernel.early_settlements(),
        ),
        part(
            33,
            "the times of the funding payments remembered and forgotten",
            kernel.funding_times(),
        ),
        part(
            33,
            "the mark prices by asset, and those the slots' entries were judged at",
            &(kernel.marks(), kernel.entry_marks()),
        ),
    ]
}

/// The bytes of `kernel`'s checkpoint that a build before rules `rules` did not write: the
/// parts added with it and after it, which come last. A checkpoint cut short by as much is
/// such a build's.
pub fn parts_since_rules(kernel: &Kernel, rules: u16) -> usize {
    tail_parts(kernel)
        .iter()
        .filter(|p| p.rules >= rules)
        .map(|p| p.bytes.len())
        .sum()
}

pub fn decode_kernel(state: &[u8]) -> Result<Kernel, String> {
    fn bad(e: impl std::fmt::Display) -> String {
        format!("undecodable kernel checkpoint: {e}")
    }
    let mut rest = state;
    let mut kernel: Kernel = deserialize_part(&mut rest).map_err(bad)?;
    kernel
        .check_slot_indexes()
        .and_then(|()| kernel.check_counts())
        .map_err(bad)?;
    // Each part is there unless an older build ended the checkpoint before it (`tail_parts`):
    // once the bytes end, every later part is missing too.
    let ended: Option<crate::kernel::EndedRepr> = optional_part(&mut rest).map_err(bad)?;
    if let Some(ended) = ended {
        kernel.restore_ended_orders(ended).map_err(bad)?;
    }
    let covered: crate::kernel::CoveredRepr =
        optional_part(&mut rest).map_err(bad)?.unwrap_or_default();
    kernel.restore_covered_fills(covered).map_err(bad)?;
    let stated = optional_part(&mut rest).map_err(bad)?.unwrap_or_default();
    kernel.restore_stated_totals(stated).map_err(bad)?;
    let in_doubt = optional_part(&mut rest).map_err(bad)?.unwrap_or_default();
    kernel.restore_in_doubt(in_doubt).map_err(bad)?;
    let unsettled = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_unsettled_tail(unsettled).map_err(bad)?;
    let calibrations = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_calibration_tail(calibrations).map_err(bad)?;
    let legs = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_leg_tail(legs).map_err(bad)?;
    let rates = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_unsettled_rates(rates).map_err(bad)?;
    let edge_below = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_edge_below(edge_below).map_err(bad)?;
    let money_events = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_money_events(money_events).map_err(bad)?;
    let trade_events = optional_part(&mut rest).map_err(bad)?;
    kernel
        .restore_trade_event_counts(trade_events)
        .map_err(bad)?;
    let taken_at = optional_part(&mut rest).map_err(bad)?;
    kernel.account.restore_taken_at(taken_at).map_err(bad)?;
    let input_time = optional_part(&mut rest).map_err(bad)?;
    kernel.account.restore_input_time(input_time).map_err(bad)?;
    let early_settlements = optional_part(&mut rest).map_err(bad)?;
    kernel
        .restore_early_settlements(early_settlements)
        .map_err(bad)?;
    let funding_times = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_funding_times(funding_times).map_err(bad)?;
    let marks: Option<crate::kernel::MarksRepr> = optional_part(&mut rest).map_err(bad)?;
    kernel.restore_marks(marks).map_err(bad)?;
    kernel.recount_sides();
    Ok(kernel)
}

/// The next part of a checkpoint's state ([`deserialize_part`]), or None where the checkpoint
/// ended before it: a build before that part's rules version did not write it.
fn optional_part<T: serde::de::DeserializeOwned>(rest: &mut &[u8]) -> bincode::Result<Option<T>> {
    if rest.is_empty() {
        return Ok(None);
    }
    deserialize_part(rest).map(Some)
}

/// Decodes the next part of a checkpoint's state from `rest` and moves past it. Same
/// encoding as `bincode::deserialize_from`, but bounded by the bytes left: reading from a
/// stream, bincode allocates a string's length before reading it, so a length field from a
/// buggy or newer writer (past the digest) would allocate up to 2^64 bytes and abort.
fn deserialize_part<T: serde::de::DeserializeOwned>(rest: &mut &[u8]) -> bincode::Result<T> {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(rest.len() as u64)
        .deserialize_from(rest)
}

/// Rebuilds a kernel from a log: `kernel` is the fresh kernel to start from when the log
/// has no checkpoint. Shared by [`KernelLog::open`] and the read-only replay.
fn replayer<'k>(
    kernel_id: &'k str,
    kernel: &'k mut Kernel,
) -> impl FnMut(Replay<'_>) -> Result<(), super::ReplayError> + 'k {
    move |item| {
        match item {
            Replay::Checkpoint {
                seq, state, rules, ..
            } => restore(kernel_id, kernel, seq, rules, state)?,
            Replay::Record(r) => apply_record(kernel, r.seq, r.rules, r.payload)?,
        }
        Ok(())
    }
}

/// Replaces `kernel` with checkpoint `seq`'s state, written under `rules` (the rules version
/// of the segment its position is in).
fn restore(
    kernel_id: &str,
    kernel: &mut Kernel,
    seq: u64,
    rules: u16,
    state: &[u8],
) -> Result<(), super::ReplayError> {
    // As a record of newer rules is refused: the state was made by judging records under
    // rules this build does not know, and may end with parts it does not read (they are
    // ignored: a newer build's checkpoint ends with them). Before, a log whose newer records
    // all lay behind its newest checkpoint opened in an older build, which then took input on
    // that state under its own rules.
    known_rules("checkpoint", seq, rules)?;
    let restored = decode_kernel(state)?;
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

/// Refuses `what` `seq` of the log (a record, a checkpoint) written under newer rules than
/// this build's: judged by older rules, it would lead to a state the log never had.
fn known_rules(what: &str, seq: u64, rules: u16) -> Result<(), super::ReplayError> {
    if rules > crate::error::RULES {
        return Err(format!(
            "{what} {seq} was written under rules version {rules}, newer than this build's {}: \
             open this log with that build or a newer one",
            crate::error::RULES
        )
        .into());
    }
    Ok(())
}

/// Applies record `seq`, checking that the kernel lands on the same seq.
fn apply_record(
    kernel: &mut Kernel,
    seq: u64,
    rules: u16,
    payload: &[u8],
) -> Result<(), super::ReplayError> {
    known_rules("record", seq, rules)?;
    let input = decode_input(payload)?;
    crate::error::replaying(rules, || kernel.apply(&input))
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

/// The journal rows of the records `from_seq..=to_seq` of the log in `dir`, derived again by
/// replaying them (read-only: no lock, nothing written): from the newest checkpoint below
/// `from_seq`, or from the log's first record with the kernel `fresh` builds from the log's
/// kernel id. The rows are those the kernel's outbox made when the records were first
/// applied: same `(seq, sub)`, same values, at the verbosity in force then. `sink` gets them
/// whenever `chunk_rows` are waiting, and once at the end, as `Outbox::take_rows` hands them
/// out (segments of the process's `SEGMENT_POOL`, for the sink to give back). Returns the
/// report of the replay; its `last_seq` is where the replay stopped.
pub fn journal_rows_read_only(
    dir: &Path,
    from_seq: u64,
    to_seq: u64,
    fresh: impl FnOnce(&str) -> Result<Kernel, String>,
    chunk_rows: usize,
    mut sink: impl FnMut([Vec<RowBuf>; 6]) -> Result<(), String>,
) -> Result<RecoveryReport, WalError> {
    let (kernel_id, mut kernel) = scratch_kernel(dir, fresh)?;
    kernel.set_journal_enabled(false);
    let chunk_rows = chunk_rows.max(1);
    // Never drops a row: it is drained as soon as a chunk is full.
    kernel.outbox.capacity = usize::MAX;
    // Checkpoints at or after `from_seq` hold state its records change.
    let span = ReplaySpan {
        before: Some(from_seq),
        until: Some(to_seq),
    };
    let report = super::read_only_span(dir, &kernel_id, span, |item| {
        match item {
            // `restore` keeps the outbox's capacity.
            Replay::Checkpoint {
                seq, state, rules, ..
            } => restore(&kernel_id, &mut kernel, seq, rules, state)?,
            Replay::Record(r) if r.seq > to_seq => {}
            Replay::Record(r) => {
                if r.seq == from_seq {
                    kernel.set_journal_enabled(true);
                }
                apply_record(&mut kernel, r.seq, r.rules, r.payload)?;
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
/// seq. A checkpoint that differs is [`WalError::Corrupt`] naming it, its seq and the part
/// of the state that differs: a well-formed checkpoint with a wrong state (written by a bug,
/// or left with records replaced and their chain recomputed) passes [`super::verify`], and a
/// recovery would start from it. The oldest checkpoint is the replay's start, not checked:
/// checkpoint 0 holds what the constructor made, which no record says. A damaged
/// checkpoint is an error here too ([`super::verify`] names it first).
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
    let replayed = super::read_only_span(dir, &kernel_id, span, |item| {
        match item {
            Replay::Checkpoint {
                seq, state, rules, ..
            } => restore(&kernel_id, &mut kernel, seq, rules, state)?,
            Replay::Record(r) => apply_record(&mut kernel, r.seq, r.rules, r.payload)?,
        }
        // Each record moves the kernel's seq by one (`apply_record` checks it).
        if let Some(c) = later.next_if(|c| c.seq == kernel.seq()) {
            // A newer build's checkpoint may hold parts this build skips: not comparable.
            known_rules("checkpoint", c.seq, c.rules)?;
            let stored =
                decode_kernel(&c.state).map_err(|e| format!("checkpoint {}: {e}", c.seq))?;
            // A build before rules 23 wrote 0; it wrote no part of a later version.
            let written_under = if c.rules == 0 { 22 } else { c.rules };
            if let Some(part) = stored.state_difference_under(&kernel, written_under) {
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

    /// Repairs the log and opens it for appends; a new log gets `kernel` (the one recovery
    /// returned, unchanged since) as its checkpoint 0, so its shape is in the log.
    pub fn finish(self, kernel: &Kernel) -> Result<KernelLog, WalError> {
        let new_log = self.is_new();
        let (wal, report) = self.wal.finish()?;
        let mut log = KernelLog {
            wal,
            checkpoint_every: self.checkpoint_every,
            since_checkpoint: report.replayed_records,
            buf: Vec::with_capacity(512),
            report,
            new_log,
        };
        if new_log {
            log.checkpoint(kernel)?;
        }
        Ok(log)
    }
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
        let (recovered, kernel) = KernelLog::recover(dir, fresh, options)?;
        Ok((recovered.finish(&kernel)?, kernel))
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
            .with_rules(crate::error::RULES)
            .with_fsync(options.fsync)
            .with_segment_bytes(options.segment_bytes);
        let mut kernel = fresh;
        let wal = Wal::recover_locked(dir, wal_options, replayer(&kernel_id, &mut kernel))?;
        let recovered = RecoveredKernelLog {
            wal,
            checkpoint_every: options.checkpoint_every,
        };
        Ok((recovered, kernel))
    }

    /// Appends an input the kernel has just accepted; writes a checkpoint when one is due.
    pub fn record(&mut self, kernel: &Kernel, input: &KernelInput) -> Result<u64, WalError> {
        encode_input(input, &mut self.buf);
        self.append_encoded(kernel)
    }

    /// [`KernelLog::record`] for an intent or event borrowed from the caller.
    pub fn record_ref(&mut self, kernel: &Kernel, input: InputRef<'_>) -> Result<u64, WalError> {
        self.buf.clear();
        bincode::serialize_into(&mut self.buf, &input).expect("kernel inputs always encode");
        self.append_encoded(kernel)
    }

    fn append_encoded(&mut self, kernel: &Kernel) -> Result<u64, WalError> {
        let seq = self.wal.append(now_seconds(), &self.buf)?;
        self.since_checkpoint += 1;
        if self.checkpoint_every > 0 && self.since_checkpoint >= self.checkpoint_every {
            // Only the encoding runs here; the sync and the file are written in the background.
            match self
                .wal
                .checkpoint_in_background(seq, encode_kernel(kernel))
            {
                Ok(()) => self.since_checkpoint = 0,
                // The log failed after this record reached stable storage (the next segment
                // could not be started): a restart replays the record, so it is not reported
                // failed; the log's failure refuses the next input instead.
                Err(_) if self.wal.failure().is_some() && self.wal.recoverable_seq() >= seq => {}
                Err(e) => return Err(e),
            }
        }
        Ok(seq)
    }

    /// Writes a checkpoint of `kernel`, which must reflect every recorded input.
    pub fn checkpoint(&mut self, kernel: &Kernel) -> Result<(), WalError> {
        self.wal
            .checkpoint(self.wal.last_seq(), &encode_kernel(kernel))?;
        self.since_checkpoint = 0;
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

    /// True when the log held no input before this open: a new log, or one whose process
    /// died after writing checkpoint 0 and before its first record reached the disk (under
    /// `batch` and `none`, up to 10 ms). What a constructor gives a new kernel still applies.
    pub fn held_no_input(&self) -> bool {
        self.report.last_seq == 0
    }

    /// Waits for a background checkpoint and syncs every recorded input. A failed
    /// checkpoint is not an error of the sync: it is in [`Wal::checkpoint_error`].
    pub fn sync(&mut self) -> Result<u64, WalError> {
        let _ = self.wal.finish_checkpoint();
        self.wal.sync()
    }
}

/// Rebuilds the kernel from the log in `dir` without writing anything (no lock, no
/// truncation): `fresh` builds the starting kernel from the log's kernel id when no
/// checkpoint is usable.
pub fn replay_read_only(
    dir: &Path,
    fresh: impl FnOnce(&str) -> Result<Kernel, String>,
) -> Result<(Kernel, RecoveryReport), WalError> {
    let (kernel_id, mut kernel) = scratch_kernel(dir, fresh)?;
    let span = ReplaySpan::default();
    let report = super::read_only_span(dir, &kernel_id, span, replayer(&kernel_id, &mut kernel))?;
    Ok((kernel, report))
}

/// The id of the log in `dir` and the kernel `fresh` builds for it, to replay into.
fn scratch_kernel(
    dir: &Path,
    fresh: impl FnOnce(&str) -> Result<Kernel, String>,
) -> Result<(String, Kernel), WalError> {
    let kernel_id = super::log_kernel_id(dir)?.ok_or_else(|| WalError::Empty {
        dir: dir.to_path_buf(),
    })?;
    let kernel = fresh(&kernel_id).map_err(|e| WalError::replay(0, e.into()))?;
    Ok((kernel_id, kernel))
}
