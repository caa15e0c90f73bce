//! Recovery: checks every segment header, picks the newest usable checkpoint, replays the
//! records after it and finds a torn tail. Writes nothing: the writer repairs what it found
//! once the open is accepted.

use std::path::{Path, PathBuf};

use super::format::{self, decode_checkpoint, genesis_hash, nothing_valid_after};
use super::scan::{self, list_dir, listed_kernel_id, read_segment, walk_frames, Cursor, Stop};
use super::{
    FullLastSegment, Record, RecoveryReport, Replay, ReplayError, SkippedCheckpoint, TornTail,
    WalError,
};

/// The newest checkpoint that decodes, plus the ones skipped on the way (with reasons).
pub(super) fn newest_checkpoint(
    checkpoints: &[(u64, PathBuf)],
    kernel_id: &str,
    skipped: &mut Vec<SkippedCheckpoint>,
    before: Option<u64>,
) -> Result<Option<format::CheckpointFile>, WalError> {
    let usable = |seq: &u64| before.is_none_or(|b| *seq < b);
    for (named_seq, path) in checkpoints.iter().rev().filter(|(seq, _)| usable(seq)) {
        let bytes = match scan::read_regular(path, "read checkpoint") {
            Ok(bytes) => bytes,
            // Listed, then gone: a writer prunes old checkpoints while a read-only replay
            // looks. An older one, or the log's start, serves.
            Err(WalError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                skipped.push(SkippedCheckpoint {
                    path: path.clone(),
                    reason: "removed while the log was being read".into(),
                });
                continue;
            }
            // A FIFO, a device or a directory under a checkpoint's name holds no checkpoint,
            // and one whose read fails (a bad sector's EIO, a size no memory holds) is damaged
            // in the form a disk shows most: skipped and reported as a damaged checkpoint is,
            // since a checkpoint only shortens the replay and an older one or the records
            // recover the same state. A segment under such a name is refused instead: its
            // records cannot be replaced.
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

/// Where the writer continues: the last segment, its first seq, its length, and the format
/// and behaviour versions in its header (it continues there only if both are its own).
pub(crate) struct LastSegment {
    pub path: PathBuf,
    pub first_seq: u64,
    pub len: u64,
    pub version: u16,
    pub behaviour: u16,
    /// Where its last record starts, when the replay walked one in it.
    pub last_record_at: Option<u64>,
}

/// Notes in `report` a last segment that reached `segment_bytes` with its last record (see
/// [`FullLastSegment`]). One that only passed the size before its last record was written by
/// a writer of larger segments, and is not full by that writer's measure.
pub(crate) fn note_full_last_segment(
    report: &mut RecoveryReport,
    last: Option<&LastSegment>,
    segment_bytes: u64,
) {
    let Some(last) = last else { return };
    let reached_by_its_last_record = last.last_record_at.is_none_or(|at| at < segment_bytes);
    if last.len >= segment_bytes && reached_by_its_last_record {
        report.full_last_segment = Some(FullLastSegment {
            segment: last.path.clone(),
            bytes: last.len,
            segment_bytes,
        });
    }
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
/// report, the last segment (its length without a torn tail; `None` when the replay stops
/// early at `span.until`) and what the writer must repair before it appends. Nothing on disk
/// changes here.
pub(crate) fn recover(
    dir: &Path,
    kernel_id: &str,
    replay: &mut dyn FnMut(Replay<'_>) -> Result<(), ReplayError>,
    span: ReplaySpan,
) -> Result<(RecoveryReport, Option<LastSegment>, Repairs), WalError> {
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

    // Damage anywhere before the checkpoint (a flipped bit, a removed or swapped segment) is
    // refused as the damage after it is: the replay starts past those records.
    if let Some(c) = &checkpoint {
        check_before_checkpoint(segments, kernel_id, c).map_err(noting_skipped)?;
    }
    let (mut index, mut offset, mut cursor) = replay_start(
        checkpoint.as_ref(),
        segments,
        &headers[0],
        kernel_id,
        replay,
    )
    .map_err(noting_skipped)?;
    report.checkpoint_seq = checkpoint.map(|c| c.seq);

    // The segment walked before this one and where its records end.
    let mut walked_before: Option<(PathBuf, usize)> = None;
    loop {
        let (_, path) = &segments[index];
        let (bytes, header) = read_segment(path, segments[index].0, kernel_id)?;
        let last = index + 1 == segments.len();
        let before = walked_before.as_ref().map(|(p, end)| (p.as_path(), *end));
        check_walk_start(path, &header, bytes.len(), offset, &cursor, before)
            .map_err(noting_skipped)?;
        let mut last_record_at = None;
        let walked = walk_frames(&bytes, offset, &mut cursor, |frame, at| {
            report.replayed_records += 1;
            last_record_at = Some(at as u64);
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
        let end = end_of_records(walked, last, &bytes, path, &cursor, &mut report)?;
        if last {
            report.last_seq = cursor.next_seq - 1;
            report.head_hash = cursor.prev_hash;
            let last_segment = LastSegment {
                path: path.clone(),
                first_seq: header.first_seq,
                len: end as u64,
                version: header.version,
                behaviour: header.behaviour,
                last_record_at,
            };
            return Ok((report, Some(last_segment), repairs));
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

/// Walks the records checkpoint `c` vouches for, from the first segment kept, as the audit
/// does (checksum, sequence, hash chain, one segment continuing the one before), and checks
/// that they lead to `c`: its sequence and chain hash at its byte in its segment. Segments
/// before the first kept may have been archived (an operator's decision): the walk starts
/// where the first kept segment's header says the chain stands. A checkpoint of another log
/// (another run of the kernel id) is refused here, saying what does not match, before any of
/// its state is replayed.
fn check_before_checkpoint(
    segments: &[(u64, PathBuf)],
    kernel_id: &str,
    c: &format::CheckpointFile,
) -> Result<(), WalError> {
    let mut cursor: Option<Cursor> = None;
    let mut walked_before: Option<(&Path, usize)> = None;
    for (named, path) in segments {
        if *named > c.segment_first_seq {
            break;
        }
        let (bytes, header) = read_segment(path, *named, kernel_id)?;
        let cursor = cursor.get_or_insert(Cursor {
            next_seq: header.first_seq,
            prev_hash: header.prev_hash,
        });
        if header.first_seq != cursor.next_seq || header.prev_hash != cursor.prev_hash {
            return Err(segment_discontinuity(path, &header, cursor, walked_before));
        }
        let at_checkpoint = *named == c.segment_first_seq;
        let end = if at_checkpoint {
            c.segment_offset as usize
        } else {
            bytes.len()
        };
        if end < header.len {
            break; // the replay's start refuses it, naming the checkpoint's byte
        }
        let start = *cursor;
        if end > bytes.len() {
            return Err(checkpoint_past_records(c, path, &bytes, header.len, start));
        }
        match walk_frames(&bytes[..end], header.len, cursor, |_, _| Ok(()))? {
            Ok(_) => walked_before = Some((path.as_path(), end)),
            Err(Stop::Damaged { offset, detail }) | Err(Stop::Broken { offset, detail }) => {
                if let Some(inside) = record_around(&bytes, header.len, start, end) {
                    return Err(checkpoint_inside_record(c, path, end, inside));
                }
                let detail = format!(
                    "{detail} before byte {end}, where checkpoint seq {} starts its replay",
                    c.seq
                );
                return Err(damaged_record(path, offset, cursor.next_seq, detail));
            }
        }
    }
    let Some(cursor) = cursor.filter(|_| walked_before.is_some()) else {
        return Ok(()); // the checkpoint's segment is missing: the replay's start refuses it
    };
    let ends = cursor.next_seq - 1;
    if ends < c.seq && !segments.iter().any(|(n, _)| *n == c.segment_first_seq) {
        let after = walked_before.map(|(path, _)| path);
        return Err(checkpoint_past_lost_segment(c, ends, after));
    }
    if cursor.next_seq != c.seq + 1 || cursor.prev_hash != c.head_hash {
        let what = if ends != c.seq {
            format!("the log's records end at seq {ends} before the checkpoint's byte, not at its seq {}", c.seq)
        } else {
            format!(
                "the log's chain hash at seq {ends} is {}, the checkpoint's {}",
                format::hex(&cursor.prev_hash),
                format::hex(&c.head_hash)
            )
        };
        let detail = format!("{what}: {NOT_OF_THIS_LOG}");
        return Err(WalError::corrupt(&c.path, 0, c.seq, detail));
    }
    Ok(())
}

/// What a checkpoint the log's records do not lead to is.
const NOT_OF_THIS_LOG: &str = "the checkpoint is not of this log (another run's under the same \
     kernel id, copied in), or the log was rewritten; remove the checkpoint, and recovery starts \
     at an older one or at the log's first record";

/// What removing a checkpoint of seq `checkpoint` does to a log whose records end at seq
/// `ends` before it: said beside the way that keeps them.
fn removing_the_checkpoint(ends: u64, checkpoint: u64) -> String {
    format!(
        "removing the checkpoint instead opens the kernel at seq {ends} and drops seqs {}..\
         {checkpoint} with no record of them (orders sent among them): then run \
         reconcile_with_venue() before trading",
        ends + 1,
    )
}

/// The refusal of checkpoint `c`, whose segment is missing, by a log whose records end at seq
/// `ends` (in the segment at `after`): the segment lost (a copy or restore that missed it) is
/// named first, since removing the checkpoint opens the kernel without its records.
#[cold]
fn checkpoint_past_lost_segment(
    c: &format::CheckpointFile,
    ends: u64,
    after: Option<&Path>,
) -> WalError {
    let lost = format::segment_name(c.segment_first_seq);
    let between = if ends + 1 < c.segment_first_seq {
        format!(" (and the segment(s) from seq {} before it)", ends + 1)
    } else {
        String::new()
    };
    let end = after.map_or_else(String::new, |p| format!(", in {}", p.display()));
    let detail = format!(
        "segment {lost}{between}, where checkpoint seq {} starts its replay, is missing: the \
         log's records end at seq {ends}{end}. Put {lost} back (from a copy or backup) and open \
         again; {}. A checkpoint not of this log (another run's under the same kernel id, \
         copied in) is refused so too: remove it",
        c.seq,
        removing_the_checkpoint(ends, c.seq),
    );
    WalError::corrupt(&c.path, 0, c.seq, detail)
}

/// The refusal of checkpoint `c`, whose byte is past the end of its segment at `path`
/// (`bytes`, records from byte `from`, the chain at `start` there): where the segment's
/// records end, or the damage that stops the walk to there.
#[cold]
fn checkpoint_past_records(
    c: &format::CheckpointFile,
    path: &Path,
    bytes: &[u8],
    from: usize,
    start: Cursor,
) -> WalError {
    let mut cursor = start;
    let end = match walk_frames(bytes, from, &mut cursor, |_, _| Ok(())) {
        Ok(Ok(end)) => end,
        // A torn tail ends the records as well.
        Ok(Err(Stop::Damaged { offset, .. }))
            if nothing_valid_after(&bytes[offset..], cursor.next_seq - 1) =>
        {
            offset
        }
        Ok(Err(Stop::Damaged { offset, detail }) | Err(Stop::Broken { offset, detail })) => {
            return damaged_record(path, offset, cursor.next_seq, detail)
        }
        Err(e) => return e,
    };
    let ends = cursor.next_seq - 1;
    let detail = format!(
        "checkpoint seq {} starts its replay at byte {} of {}, but the log's records end at seq \
         {ends} at byte {end} of it: that segment cut short (its last records lost), or the \
         checkpoint is not of this log (another run's under the same kernel id, copied in). Put \
         the segment's lost bytes back (restore it from a copy or backup) and open again; {}",
        c.seq,
        c.segment_offset,
        path.display(),
        removing_the_checkpoint(ends, c.seq),
    );
    WalError::corrupt(&c.path, 0, c.seq, detail)
}

/// The record of the segment `bytes` (records from byte `from`, the chain at `start` there)
/// whose bytes span byte `end`, when the records walk cleanly to it: its seq and bytes.
#[cold]
fn record_around(
    bytes: &[u8],
    from: usize,
    start: Cursor,
    end: usize,
) -> Option<(u64, usize, usize)> {
    let mut cursor = start;
    let mut around = None;
    let _ = walk_frames(bytes, from, &mut cursor, |frame, at| {
        if at < end && end < at + frame.total_len {
            around = Some((frame.seq, at, at + frame.total_len));
        }
        Ok(())
    });
    around
}

/// The refusal of checkpoint `c`, whose byte `end` in the segment at `path` is inside a
/// record (`inside`: its seq and bytes), not where one ends.
#[cold]
fn checkpoint_inside_record(
    c: &format::CheckpointFile,
    path: &Path,
    end: usize,
    (seq, from, to): (u64, usize, usize),
) -> WalError {
    let detail = format!(
        "checkpoint seq {} starts its replay at byte {end} of {}, inside record seq {seq} (bytes \
         {from}..{to}), not where a record ends: {NOT_OF_THIS_LOG}",
        c.seq,
        path.display(),
    );
    WalError::corrupt(&c.path, 0, c.seq, detail)
}

/// Where the replay starts: in the checkpoint's segment at the byte and chain position it
/// vouches for (the checkpoint handed to `replay` first), or at the log's first record when
/// there is no checkpoint. Returns the segment's index, the byte offset and the chain position.
fn replay_start(
    checkpoint: Option<&format::CheckpointFile>,
    segments: &[(u64, PathBuf)],
    first_header: &format::SegmentHeader,
    kernel_id: &str,
    replay: &mut dyn FnMut(Replay<'_>) -> Result<(), ReplayError>,
) -> Result<(usize, usize, Cursor), WalError> {
    match checkpoint {
        Some(c) => {
            let Some(index) = segments
                .iter()
                .position(|(seq, _)| *seq == c.segment_first_seq)
            else {
                return Err(WalError::corrupt(
                    &c.path,
                    0,
                    c.seq + 1,
                    format!(
                        "checkpoint refers to segment {} which is missing",
                        format::segment_name(c.segment_first_seq)
                    ),
                ));
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
            Ok((
                index,
                c.segment_offset as usize,
                Cursor {
                    next_seq: c.seq + 1,
                    prev_hash: c.head_hash,
                },
            ))
        }
        None => {
            let h = first_header;
            let genesis = genesis_hash(kernel_id);
            if h.first_seq != 1 || h.prev_hash != genesis {
                return Err(WalError::corrupt(
                    &segments[0].1,
                    0,
                    1,
                    format!(
                        "log starts at seq {} and no checkpoint covers the records before it",
                        h.first_seq
                    ),
                ));
            }
            Ok((
                0,
                h.len,
                Cursor {
                    next_seq: 1,
                    prev_hash: genesis,
                },
            ))
        }
    }
}

/// Checks that the walk of the segment at `path` may start at byte `offset`: where the
/// segment's records start, its header continuing the chain, or inside its records, where a
/// checkpoint points. `before`: see [`segment_discontinuity`].
fn check_walk_start(
    path: &Path,
    header: &format::SegmentHeader,
    len: usize,
    offset: usize,
    cursor: &Cursor,
    before: Option<(&Path, usize)>,
) -> Result<(), WalError> {
    if offset == header.len
        && (header.first_seq != cursor.next_seq || header.prev_hash != cursor.prev_hash)
    {
        return Err(segment_discontinuity(path, header, cursor, before));
    }
    if offset < header.len || offset > len {
        return Err(WalError::corrupt(
            path,
            offset as u64,
            cursor.next_seq,
            format!(
                "checkpoint points at byte {offset} but the segment holds bytes {}..{len}: log truncated or replaced",
                header.len,
            ),
        ));
    }
    Ok(())
}

/// Where the records of a walked segment end: where the walk stopped, or where a torn tail
/// starts (the last segment's damaged end with no valid record after it, put in the report).
/// Any other stop is damage.
fn end_of_records(
    walked: Result<usize, Stop>,
    last: bool,
    bytes: &[u8],
    path: &Path,
    cursor: &Cursor,
    report: &mut RecoveryReport,
) -> Result<usize, WalError> {
    match walked {
        Ok(end) => Ok(end),
        Err(Stop::Damaged { offset: at, .. })
            if last && nothing_valid_after(&bytes[at..], cursor.next_seq - 1) =>
        {
            report.torn_tail = Some(TornTail {
                segment: path.to_path_buf(),
                offset: at as u64,
                bytes_dropped: (bytes.len() - at) as u64,
                seq: cursor.next_seq,
            });
            Ok(at)
        }
        Err(Stop::Damaged { offset: at, detail }) | Err(Stop::Broken { offset: at, detail }) => {
            Err(damaged_record(path, at, cursor.next_seq, detail))
        }
    }
}

/// The refusal of damage at byte `offset` of the segment at `path`, where record `seq` starts
/// (a flipped bit, an edit), with the way back to trading: every open refuses it until the
/// segment is restored or the log is cut there.
#[cold]
pub(super) fn damaged_record(path: &Path, offset: usize, seq: u64, detail: String) -> WalError {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let detail = format!(
        "{detail}; to trade again, keep a copy of the log directory as it is, then restore {name} \
         from a copy, or cut the log here: truncate {name} to {offset} bytes and move aside the \
         segments after it and the checkpoints of seq {seq} or later; the kernel then opens at \
         seq {}, the records from seq {seq} on dropped: run reconcile_with_venue() before trading",
        seq - 1,
    );
    WalError::corrupt(path, offset as u64, seq, detail)
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
pub(super) fn segment_discontinuity(
    path: &Path,
    header: &format::SegmentHeader,
    cursor: &Cursor,
    before: Option<(&Path, usize)>,
) -> WalError {
    let detail = if header.first_seq != cursor.next_seq {
        match before {
            // Records lost between the two: the one before lost its last ones whole (cut at a
            // record boundary), or files between are gone. Both are named: the names alone run
            // on, and the one cut short is where the records went.
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
