//! The audit walk: tampering with records, segments or the chain is caught and located, and a
//! head hash recorded earlier is found in a log that grew.

use super::*;

/// A head hash recorded earlier vouches for the log up to it: a log that grew since still
/// passes through it, one cut before it does not.
#[test]
fn a_head_recorded_earlier_is_found_in_a_log_that_grew_and_not_in_one_cut_before_it() {
    let dir = log_with(10, options(FsyncPolicy::None));
    let head = verify(dir.path()).unwrap().head_hash;
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    wal.append(11.0, b"eleven").unwrap();
    wal.close().unwrap();
    let grown = verify_expecting(dir.path(), Some(head)).unwrap();
    assert_eq!((grown.last_seq, grown.expected_head_seq), (11, Some(10)));
    assert_eq!(verify(dir.path()).unwrap().expected_head_seq, None);
    let genesis = genesis_hash("kernel-a");
    assert_eq!(
        verify_expecting(dir.path(), Some(genesis))
            .unwrap()
            .expected_head_seq,
        Some(0)
    );
    // Cut back to record 9: consistent in itself, but record 10 with that hash is gone.
    let path = seg(dir.path(), 1);
    let cut = frames(&path)[9].0;
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..cut]).unwrap();
    let short = verify_expecting(dir.path(), Some(head)).unwrap();
    assert_eq!((short.last_seq, short.expected_head_seq), (9, None));
}

enum Tamper {
    EditPayload,
    EditAndRecomputeChecksum,
    DeleteRecord,
    SwapRecords,
    TruncateInsideLastRecord,
    TruncateLastRecordUnderCheckpoint,
    DeleteMiddleSegment,
    DeleteFirstSegment,
}

fn recompute_crc(bytes: &mut [u8], start: usize, end: usize) {
    let crc = crc32fast::hash(&bytes[start + 4..end]);
    bytes[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

#[rstest]
#[case::edit(Tamper::EditPayload, "checksum mismatch", 3)]
#[case::edit_recompute_crc(Tamper::EditAndRecomputeChecksum, "hash chain broken", 3)]
#[case::delete(Tamper::DeleteRecord, "1 record(s) removed", 3)]
#[case::reorder(Tamper::SwapRecords, "found seq 4 where seq 3 was expected", 3)]
#[case::truncate(Tamper::TruncateInsideLastRecord, "incomplete record", 6)]
#[case::truncate_boundary(
    Tamper::TruncateLastRecordUnderCheckpoint,
    "records removed from the tail",
    6
)]
fn verify_catches_tampering_with_its_position(
    #[case] tamper: Tamper,
    #[case] says: &str,
    #[case] at_seq: u64,
) {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    for i in 1..=6 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    wal.checkpoint(6, b"state").unwrap();
    drop(wal);
    let before = verify(dir.path()).unwrap();
    assert_eq!(
        (
            before.records,
            before.first_seq,
            before.last_seq,
            before.checkpoints
        ),
        (6, 1, 6, 1)
    );

    let path = seg(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let f = frames(&path);
    let (s3, e3) = f[2];
    match tamper {
        Tamper::EditPayload => bytes[e3 - 1] ^= 1,
        Tamper::EditAndRecomputeChecksum => {
            bytes[e3 - 1] ^= 1;
            recompute_crc(&mut bytes, s3, e3);
        }
        Tamper::DeleteRecord => {
            bytes.drain(s3..e3);
        }
        Tamper::SwapRecords => {
            let (s4, e4) = f[3];
            let third = bytes[s3..e3].to_vec();
            let fourth = bytes[s4..e4].to_vec();
            bytes.splice(s3..e4, fourth.into_iter().chain(third));
        }
        Tamper::TruncateInsideLastRecord => bytes.truncate(f[5].1 - 1),
        Tamper::TruncateLastRecordUnderCheckpoint => bytes.truncate(f[5].0),
        _ => unreachable!(),
    }
    fs::write(&path, &bytes).unwrap();
    let err = verify(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(says), "{text}");
    assert!(text.contains(&format!("record seq {at_seq}")), "{text}");
    match (&tamper, &err) {
        (Tamper::TruncateLastRecordUnderCheckpoint, WalError::Corrupt { file, .. }) => {
            assert!(file.to_string_lossy().ends_with(".ckpt"));
        }
        (Tamper::TruncateInsideLastRecord, WalError::TornTail { file, offset, .. }) => {
            assert_eq!((file, *offset), (&path, f[5].0 as u64));
        }
        (_, WalError::Corrupt { file, offset, .. }) => {
            assert_eq!((file, *offset), (&path, s3 as u64))
        }
        (_, other) => panic!("unexpected error kind: {other:?}"),
    }
}

#[rstest]
#[case::middle(Tamper::DeleteMiddleSegment, "segment(s) missing")]
#[case::first(Tamper::DeleteFirstSegment, "segments before it are missing")]
fn verify_catches_removed_segments(#[case] tamper: Tamper, #[case] says: &str) {
    let opts = options(FsyncPolicy::None).with_segment_bytes(1024);
    let dir = log_with(100, opts);
    let listing = scan::list_dir(dir.path()).unwrap();
    let victim = match tamper {
        Tamper::DeleteMiddleSegment => &listing.segments[listing.segments.len() / 2].1,
        Tamper::DeleteFirstSegment => &listing.segments[0].1,
        _ => unreachable!(),
    };
    fs::remove_file(victim).unwrap();
    let err = verify(dir.path()).unwrap_err();
    assert!(err.to_string().contains(says), "{err}");
}

#[test]
fn verify_of_an_empty_directory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(verify(dir.path()), Err(WalError::Empty { .. })));
}

#[test]
fn a_damaged_length_before_valid_records_is_corrupt_to_the_audit_as_to_recovery() {
    // A length field damaged mid-segment, whole records after it: damage, not a torn tail, to
    // the audit as to recovery, which refuses it.
    let dir = log_with(6, options(FsyncPolicy::None));
    let path = seg(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let (s3, _) = frames(&path)[2];
    bytes[s3 + 4..s3 + 8].copy_from_slice(&100_000u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let recovery = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    assert!(matches!(recovery, WalError::Corrupt { .. }), "{recovery}");
    match verify(dir.path()).unwrap_err() {
        WalError::Corrupt { file, offset, .. } => assert_eq!((file, offset), (path, s3 as u64)),
        other => panic!("unexpected error: {other}"),
    }
}

#[test]
fn a_segment_cut_short_at_a_record_boundary_is_named_by_the_audit_and_recovery() {
    // A segment before the last that lost its last records whole (cut at a record boundary):
    // both it and the next segment are named, since the names alone run on and the one cut
    // short is where the records went.
    let opts = options(FsyncPolicy::None).with_segment_bytes(1024);
    let dir = log_with(60, opts.clone());
    let listing = scan::list_dir(dir.path()).unwrap();
    let (cut, next) = (&listing.segments[1].1, &listing.segments[2].1);
    let kept = frames(cut);
    let end = kept[kept.len() - 2].1;
    fs::OpenOptions::new()
        .write(true)
        .open(cut)
        .unwrap()
        .set_len(end as u64)
        .unwrap();
    let last = listing.segments[2].0 - 2;
    let expected = format!(
        "the log before it ends at seq {last}, at byte {end} of {}: segment(s) missing between \
         them, or that segment cut short (its last record(s) lost)",
        cut.display()
    );
    for err in [
        verify(dir.path()).unwrap_err(),
        open_collect(dir.path(), opts.clone()).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(text.contains(&next.display().to_string()), "{text}");
        assert!(text.contains(&expected), "{text}");
    }
}
