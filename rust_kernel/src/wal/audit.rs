//! The audit walk: every frame, the sequence, the hash chain across segments and every
//! checkpoint checked against the chain, read-only.

use std::path::Path;

use super::format::{decode_checkpoint, genesis_hash, nothing_valid_after, CheckpointFile, Hash};
use super::recovery::{damaged_record, segment_discontinuity};
use super::scan::{self, list_dir, listed_kernel_id, read_segment, walk_frames, Cursor, Stop};
use super::{AuditReport, WalError};

/// Walks the whole log in `dir` (read-only, no lock) and checks every frame, the sequence,
/// the hash chain across segments and every checkpoint against the chain. Returns the
/// count, first and last sequence and head hash, or the first problem with its position.
///
/// A record removed from the very end leaves a shorter but consistent chain; it is caught
/// when a checkpoint vouches for a later sequence, or by looking for a head hash recorded
/// earlier in the chain ([`verify_expecting`]). Run it on a log no writer is appending to: a
/// record being written looks like a torn tail.
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
    let checkpoints = read_checkpoints(&listing, &kernel_id)?;
    let genesis = genesis_hash(&kernel_id);
    let mut cursor = Cursor {
        next_seq: 1,
        prev_hash: genesis,
    };
    let mut records = 0u64;
    let mut checked = 0usize;
    let mut expected_head_seq = (expect_head == Some(genesis)).then_some(0);
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
            checked += check_checkpoints_at(&checkpoints, 0, &cursor.prev_hash)?;
        }
        let walked = walk_frames(&bytes, header.len, &mut cursor, |frame, _| {
            records += 1;
            if expect_head == Some(frame.hash) {
                expected_head_seq = Some(frame.seq);
            }
            checked += check_checkpoints_at(&checkpoints, frame.seq, &frame.hash)?;
            Ok(())
        })?;
        let last = i + 1 == listing.segments.len();
        let end = end_of_records(walked, last, &bytes, path, &cursor, records)?;
        walked_before = Some((path.as_path(), end));
    }
    let last_seq = cursor.next_seq - 1;
    check_none_past(&checkpoints, last_seq)?;
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

/// Checks the checkpoints at `seq` against the chain's hash there; returns how many there are.
fn check_checkpoints_at(
    checkpoints: &[CheckpointFile],
    seq: u64,
    hash: &Hash,
) -> Result<usize, WalError> {
    let mut checked = 0;
    for c in checkpoints.iter().filter(|c| c.seq == seq) {
        if c.head_hash != *hash {
            return Err(WalError::corrupt(
                &c.path,
                0,
                seq,
                "checkpoint's chain hash disagrees with the log at its sequence: log rewritten, or the \
                 checkpoint is another log's",
            ));
        }
        checked += 1;
    }
    Ok(checked)
}

/// Where the records of a walked segment end, judged as recovery judges it: a damaged end of
/// the last segment with no valid record after it is a write the crash cut short (recovery
/// cuts it), whatever the bytes; one with valid records after it is damage (recovery refuses
/// it).
fn end_of_records(
    walked: Result<usize, Stop>,
    last: bool,
    bytes: &[u8],
    path: &Path,
    cursor: &Cursor,
    records: u64,
) -> Result<usize, WalError> {
    match walked {
        Ok(end) => Ok(end),
        Err(Stop::Damaged { offset, .. })
            if last && nothing_valid_after(&bytes[offset..], cursor.next_seq - 1) =>
        {
            Err(WalError::TornTail {
                file: path.to_path_buf(),
                offset: offset as u64,
                seq: Some(cursor.next_seq),
                bytes: (bytes.len() - offset) as u64,
                records,
                head_hash: cursor.prev_hash,
            })
        }
        Err(Stop::Damaged { offset, detail }) | Err(Stop::Broken { offset, detail }) => {
            Err(damaged_record(path, offset, cursor.next_seq, detail))
        }
    }
}

/// Refuses a checkpoint that vouches for a record past the log's end: records were removed
/// from the tail.
fn check_none_past(checkpoints: &[CheckpointFile], last_seq: u64) -> Result<(), WalError> {
    match checkpoints.iter().find(|c| c.seq > last_seq) {
        Some(c) => Err(WalError::Corrupt {
            file: c.path.clone(),
            offset: 0,
            seq: Some(last_seq + 1),
            detail: format!(
                "checkpoint vouches for seq {} but the log ends at seq {last_seq}: records removed from the \
                 tail, or the checkpoint is another log's",
                c.seq
            ),
        }),
        None => Ok(()),
    }
}

/// Every checkpoint of the listing, decoded and checked against its name.
fn read_checkpoints(
    listing: &scan::Listing,
    kernel_id: &str,
) -> Result<Vec<CheckpointFile>, WalError> {
    let mut checkpoints = Vec::new();
    for (named, path) in &listing.checkpoints {
        // Not skipped when damaged, as recovery skips it: the audit reports every problem.
        let bytes = scan::read_regular(path, "read checkpoint")?;
        let c = decode_checkpoint(&bytes, path, kernel_id)?;
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
    Ok(checkpoints)
}
