//! Damage and recovery: damage before the tail and files of another kernel or format refuse
//! the open by name; a damaged checkpoint is skipped and reported; recovery repairs only an
//! open it accepts.

use super::*;

#[rstest]
#[case::first_record(0)]
#[case::middle_record(2)]
#[case::last_but_one(3)]
fn damage_before_the_tail_refuses_to_open_naming_segment_and_offset(#[case] record: usize) {
    let dir = log_with(5, options(FsyncPolicy::None));
    let path = seg(dir.path(), 1);
    let (start, end) = frames(&path)[record];
    flip_byte(&path, (start + end) / 2);
    let damaged = fs::read(&path).unwrap();
    let err = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    match &err {
        WalError::Corrupt {
            file, offset, seq, ..
        } => {
            assert_eq!(
                (file, *offset, *seq),
                (&path, start as u64, Some(record as u64 + 1))
            );
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("seg-00000000000000000001.wal")
            && text.contains(&format!("byte offset {start}")),
        "{text}"
    );
    assert_eq!(
        fs::read(&path).unwrap(),
        damaged,
        "refusing changed nothing on disk"
    );
}

#[test]
fn a_log_of_another_kernel_is_refused() {
    let dir = log_with(2, options(FsyncPolicy::None));
    let err = open_collect(
        dir.path(),
        WalOptions::new("kernel-b").with_fsync(FsyncPolicy::None),
    )
    .unwrap_err();
    assert!(matches!(err, WalError::KernelIdMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("\"kernel-a\"") && text.contains("\"kernel-b\""),
        "{text}"
    );
}

#[test]
fn another_format_version_is_refused() {
    let dir = log_with(2, options(FsyncPolicy::None));
    let path = seg(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..10].copy_from_slice(&7u16.to_le_bytes());
    fs::write(&path, bytes).unwrap();
    let err = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::FormatVersion {
                found: 7,
                supported: FORMAT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("version 7"), "{err}");
}

#[test]
fn a_foreign_file_under_a_segment_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(seg(dir.path(), 1), b"PK\x03\x04 definitely a zip file").unwrap();
    let err = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    assert!(matches!(err, WalError::NotAWalFile { .. }), "{err}");
}

#[test]
fn a_segment_of_another_kernel_is_named_wherever_it_sorts() {
    // A stray segment of another kernel sorting first: the log's id is the one most segments
    // carry, so the stray file is the one blamed, not the kernel's own.
    let dir = log_with(100, options(FsyncPolicy::None).with_segment_bytes(1024));
    let listing = scan::list_dir(dir.path()).unwrap();
    assert!(listing.segments.len() >= 2);
    let (first_seq, first) = listing.segments[0].clone();
    let other = log_with(1, WalOptions::new("kernel-b").with_fsync(FsyncPolicy::None));
    fs::copy(seg(other.path(), 1), &first).unwrap();
    assert_eq!(first_seq, 1);
    for err in [
        verify(dir.path()).unwrap_err(),
        read_only_replay(dir.path(), |_| Ok(())).unwrap_err(),
        log_kernel_id(dir.path()).unwrap_err(),
    ] {
        match &err {
            WalError::KernelIdMismatch {
                file,
                found,
                expected,
            } => assert_eq!(
                (file, found.as_str(), expected.as_str()),
                (&first, "kernel-b", "kernel-a")
            ),
            other => panic!("unexpected error: {other}"),
        }
    }
}

#[test]
fn a_log_of_kernels_tied_on_segments_names_the_same_files_at_every_look() {
    // Segments of kernels b, c, b, c, a: b and c tie, and c's segment is the newer.
    let dir = log_with(200, options(FsyncPolicy::None).with_segment_bytes(1024));
    let segments = scan::list_dir(dir.path()).unwrap().segments;
    assert!(segments.len() >= 5);
    for (_, between) in &segments[4..segments.len() - 1] {
        fs::remove_file(between).unwrap();
    }
    let of = |kernel: &str| log_with(1, WalOptions::new(kernel).with_fsync(FsyncPolicy::None));
    let (b, c) = (of("kernel-b"), of("kernel-c"));
    for (i, other) in [&b, &c, &b, &c].into_iter().enumerate() {
        fs::copy(seg(other.path(), 1), &segments[i].1).unwrap();
    }
    for _ in 0..16 {
        match log_kernel_id(dir.path()).unwrap_err() {
            WalError::KernelIdMismatch {
                file,
                found,
                expected,
            } => assert_eq!(
                (&file, found.as_str(), expected.as_str()),
                (&segments[0].1, "kernel-b", "kernel-c")
            ),
            other => panic!("unexpected error: {other}"),
        }
    }
}

#[test]
fn a_checkpoint_with_a_damaged_version_or_kernel_id_is_skipped_not_refused() {
    let dir = log_with_checkpoints_at_10_and_20();
    let newest = dir.path().join(checkpoint_file(20));
    let original = fs::read(&newest).unwrap();
    // magic, format version, kernel id
    for at in [0, 8, 9, 14] {
        fs::write(&newest, &original).unwrap();
        flip_byte(&newest, at);
        let (_, report, (ckpt, _)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
        assert_eq!(ckpt.map(|c| c.0), Some(10), "byte {at}");
        assert_eq!(report.skipped_checkpoints.len(), 1, "byte {at}");
        assert!(
            report.skipped_checkpoints[0]
                .reason
                .contains("digest mismatch"),
            "byte {at}: {}",
            report.skipped_checkpoints[0].reason
        );
    }
}

#[test]
fn a_damaged_checkpoint_is_skipped_and_reported_and_an_older_one_used() {
    let dir = log_with_checkpoints_at_10_and_20();
    let newest = dir.path().join(checkpoint_file(20));
    flip_byte(&newest, 60);
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(ckpt, Some((10, b"state@10".to_vec())));
    assert_eq!(recs.first().map(|r| r.0), Some(11));
    assert_eq!(report.skipped_checkpoints.len(), 1);
    assert_eq!(report.skipped_checkpoints[0].path, newest);
    // Damage to both: full replay, both reported.
    flip_byte(&dir.path().join(checkpoint_file(10)), 60);
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert!(ckpt.is_none());
    assert_eq!((recs.len(), report.skipped_checkpoints.len()), (20, 2));
    // The audit walk does not skip anything: a damaged checkpoint is an error there.
    assert!(matches!(verify(dir.path()), Err(WalError::Corrupt { .. })));
}

#[test]
fn a_checkpoint_removed_after_the_listing_is_skipped() {
    // A live writer prunes old checkpoints while a read-only replay looks at the directory.
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join(checkpoint_file(5));
    let mut skipped = Vec::new();
    let found = newest_checkpoint(&[(5, gone.clone())], "k", &mut skipped, None).unwrap();
    assert!(found.is_none());
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].path, gone);
    assert!(
        skipped[0].reason.contains("removed"),
        "{}",
        skipped[0].reason
    );
}

#[test]
fn a_checkpoint_at_the_last_sequence_number_is_skipped_not_overflowed() {
    // A checkpoint (digest fine) at seq 2^64-1 leaves no seq for the record after it:
    // recovery's `seq + 1` would overflow.
    let dir = log_with_checkpoints_at_10_and_20();
    let newest = dir.path().join(checkpoint_file(20));
    let c = format::decode_checkpoint(&fs::read(&newest).unwrap(), &newest, "kernel-a").unwrap();
    let last = dir.path().join(checkpoint_file(u64::MAX));
    let bytes = format::encode_checkpoint(
        "kernel-a",
        u64::MAX,
        &c.head_hash,
        c.segment_first_seq,
        c.segment_offset,
        c.ts,
        c.behaviour,
        &c.state,
    );
    fs::write(&last, bytes).unwrap();
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(ckpt.map(|c| c.0), Some(20));
    assert!(recs.is_empty());
    assert_eq!(report.skipped_checkpoints.len(), 1);
    assert_eq!(report.skipped_checkpoints[0].path, last);
    let reason = &report.skipped_checkpoints[0].reason;
    assert!(reason.contains("18446744073709551615"), "{reason}");
    // The audit walk refuses it, naming the file.
    let err = verify(dir.path()).unwrap_err();
    assert!(
        matches!(err, WalError::Corrupt { ref file, .. } if *file == last),
        "{err}"
    );
}

#[test]
fn a_log_refused_after_skipping_checkpoints_names_them_and_why() {
    // Segments covered by the newest checkpoint archived (the operator's decision),
    // then that checkpoint damaged: recovery falls back to an older one, whose segment is
    // archived, and the open is refused. The refusal names the newest checkpoint skipped and
    // why, since the report of an open refused is not seen and the operator asks why the
    // newest checkpoint, whose segments are all there, is not used.
    let (dir, opts) = segmented_log();
    let newest = dir.path().join(checkpoint_file(90));
    let c = format::decode_checkpoint(&fs::read(&newest).unwrap(), &newest, "kernel-a").unwrap();
    for (first, path) in scan::list_dir(dir.path()).unwrap().segments {
        if first < c.segment_first_seq {
            fs::remove_file(path).unwrap();
        }
    }
    let (_, report, _) = open_collect(dir.path(), opts.clone()).unwrap();
    assert_eq!(report.checkpoint_seq, Some(90), "the archived log opens");
    flip_byte(&newest, 100);
    let err = open_collect(dir.path(), opts.clone()).unwrap_err();
    let text = err.to_string();
    let older = dir.path().join(checkpoint_file(60));
    assert!(
        matches!(&err, WalError::Corrupt { file, .. } if *file == older),
        "{err}"
    );
    assert!(text.contains("which is missing"), "{text}");
    assert!(
        text.contains(&format!(
            "checkpoint(s) skipped: corrupt write-ahead log: {}",
            newest.display()
        )) && text.contains("checkpoint digest mismatch"),
        "{text}"
    );
    // The same when no checkpoint is left and the log's start is archived.
    fs::remove_file(&older).unwrap();
    fs::remove_file(dir.path().join(checkpoint_file(0))).unwrap();
    let text = open_collect(dir.path(), opts).unwrap_err().to_string();
    assert!(
        text.contains("no checkpoint covers the records before it")
            && text.contains(&format!(
                "skipped: corrupt write-ahead log: {}",
                newest.display()
            )),
        "{text}"
    );
}

#[test]
fn leftover_temporary_files_are_removed_and_reported() {
    let dir = log_with(3, options(FsyncPolicy::None));
    let tmp = dir.path().join("ckpt-00000000000000000003.ckpt.tmp");
    fs::write(&tmp, b"half a checkpoint").unwrap();
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert!(ckpt.is_none());
    assert_eq!(recs.len(), 3);
    assert_eq!(report.removed_temp_files, vec![tmp.clone()]);
    assert!(!tmp.exists());
}

#[test]
fn a_recovered_log_dropped_before_finish_is_left_as_it_was() {
    // A torn tail, a leftover temporary file and a last segment of another behaviour version:
    // the three repairs an open makes. A caller refusing what recovery gave (a kernel of
    // another shape) drops it, and none of them may have happened: the refused open leaves
    // the evidence.
    let dir = log_with(4, options(FsyncPolicy::None).with_behaviour(3));
    let path = seg(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(b"\x07\x00\x00\x00 half a record");
    fs::write(&path, bytes).unwrap();
    fs::write(
        dir.path().join("ckpt-00000000000000000004.ckpt.tmp"),
        b"half",
    )
    .unwrap();
    let before = snapshot_dir(dir.path());
    let mut seen = 0;
    let recovered = Wal::recover_locked(dir.path(), options(FsyncPolicy::None), |_| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, 4);
    assert!(recovered.report().torn_tail.is_some());
    assert!(recovered.report().removed_temp_files.is_empty());
    // Locked while held: another writer is refused.
    let second = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    assert!(matches!(second, WalError::Locked { .. }), "{second}");
    drop(recovered);
    assert_eq!(snapshot_dir(dir.path()), before, "nothing changed on disk");
    // Finished, the open repairs: the tail cut, the leftover removed, a segment of this version.
    let (mut wal, report) = Wal::recover_locked(dir.path(), options(FsyncPolicy::None), |_| Ok(()))
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(report.removed_temp_files.len(), 1);
    assert_eq!(wal.append(5.0, b"next").unwrap(), 5);
    wal.close().unwrap();
    assert!(seg(dir.path(), 5).exists());
    assert_eq!(verify(dir.path()).unwrap().last_seq, 5);
}
