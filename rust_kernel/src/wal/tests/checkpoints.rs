//! Checkpoints: recovery starts at the newest, old ones are pruned, and one that fails
//! (in the foreground, the background, or before its thread starts) leaves the log whole.

use super::*;

#[rstest]
#[case::one_segment(64 << 20)]
#[case::small_segments(1024)]
fn recovery_starts_at_the_newest_checkpoint(#[case] segment_bytes: u64) {
    let opts = options(FsyncPolicy::None).with_segment_bytes(segment_bytes);
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), opts.clone()).unwrap();
    for i in 1..=100 {
        wal.append(i as f64, &payload(i)).unwrap();
        if i == 40 || i == 100 {
            wal.checkpoint(i, format!("state@{i}").as_bytes()).unwrap();
        }
    }
    for i in 101..=150 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    drop(wal);
    let (mut wal, report, (ckpt, recs)) = open_collect(dir.path(), opts.clone()).unwrap();
    assert_eq!(ckpt, Some((100, b"state@100".to_vec())));
    assert_eq!(
        recs.iter().map(|r| r.0).collect::<Vec<_>>(),
        (101..=150).collect::<Vec<_>>()
    );
    assert_eq!(
        (
            report.checkpoint_seq,
            report.replayed_records,
            report.last_seq
        ),
        (Some(100), 50, 150)
    );
    assert_eq!(recs[0].2, payload(101));
    // A checkpoint with no record after it replays nothing.
    wal.checkpoint(150, b"state@150").unwrap();
    drop(wal);
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), opts).unwrap();
    assert_eq!(
        (ckpt.unwrap().0, recs.len(), report.last_seq),
        (150, 0, 150)
    );
    let audit = verify(dir.path()).unwrap();
    assert_eq!(
        (audit.records, audit.checkpoints),
        (150, 2),
        "keep_checkpoints = 2"
    );
}

#[test]
fn checkpoint_of_an_empty_log_and_of_a_wrong_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    wal.checkpoint(0, b"initial").unwrap();
    wal.append(1.0, b"one").unwrap();
    let err = wal.checkpoint(0, b"stale").unwrap_err();
    assert!(
        matches!(
            err,
            WalError::CheckpointSeq {
                seq: 0,
                last_seq: 1
            }
        ),
        "{err}"
    );
    drop(wal);
    let (_, _, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(ckpt, Some((0, b"initial".to_vec())));
    assert_eq!(recs.len(), 1);
}

#[test]
fn only_the_newest_checkpoints_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(FsyncPolicy::None);
    opts.keep_checkpoints = 3;
    let (mut wal, _, _) = open_collect(dir.path(), opts).unwrap();
    for i in 1..=6 {
        wal.append(0.0, b"x").unwrap();
        wal.checkpoint(i, b"s").unwrap();
    }
    let names = checkpoint_names(dir.path());
    assert_eq!(
        names,
        vec![checkpoint_file(4), checkpoint_file(5), checkpoint_file(6)]
    );
}

#[test]
fn the_checkpoint_at_seq_0_is_kept_beside_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    wal.checkpoint(0, b"initial").unwrap();
    for i in 1..=4 {
        wal.append(0.0, b"x").unwrap();
        wal.checkpoint(i, b"s").unwrap();
    }
    drop(wal);
    let names = checkpoint_names(dir.path());
    assert_eq!(
        names,
        vec![checkpoint_file(0), checkpoint_file(3), checkpoint_file(4)]
    );
    // Both newer ones damaged: the whole log replays from the state it started with.
    flip_byte(&dir.path().join(checkpoint_file(3)), 60);
    flip_byte(&dir.path().join(checkpoint_file(4)), 60);
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(ckpt, Some((0, b"initial".to_vec())));
    assert_eq!((recs.len(), report.skipped_checkpoints.len()), (4, 2));
}

#[test]
fn a_background_checkpoint_is_used_on_reopen_and_appends_go_on_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(FsyncPolicy::DEFAULT_BATCH).with_segment_bytes(2048);
    let (mut wal, _, _) = open_collect(dir.path(), opts.clone()).unwrap();
    for i in 1..=50 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    let err = wal
        .checkpoint_in_background(49, b"stale".to_vec())
        .unwrap_err();
    assert!(
        matches!(
            err,
            WalError::CheckpointSeq {
                seq: 49,
                last_seq: 50
            }
        ),
        "{err}"
    );
    wal.checkpoint_in_background(50, b"state@50".to_vec())
        .unwrap();
    for i in 51..=80 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    let path = wal
        .finish_checkpoint()
        .unwrap()
        .expect("a checkpoint was pending");
    assert!(path.ends_with(checkpoint_file(50)));
    assert!(
        wal.durable_seq() >= 50,
        "the log is synced before the checkpoint vouches for it"
    );
    drop(wal);
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), opts).unwrap();
    assert_eq!(ckpt, Some((50, b"state@50".to_vec())));
    assert_eq!(
        recs.iter().map(|r| r.0).collect::<Vec<_>>(),
        (51..=80).collect::<Vec<_>>()
    );
    assert_eq!(report.last_seq, 80);
    assert_eq!(verify(dir.path()).unwrap().checkpoints, 1);
}

/// The write that passes a background checkpoint's record notes where the next record
/// starts, wherever the record falls (the last of its segment, the rotation it made
/// included) and whether it was written before the checkpoint was asked for or after.
#[test]
fn a_background_checkpoint_resumes_after_its_record_wherever_the_record_falls() {
    let mut ended_a_segment = 0;
    for at in 1..=40u64 {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(FsyncPolicy::DEFAULT_BATCH).with_segment_bytes(1024);
        let (mut wal, _, _) = open_collect(dir.path(), opts.clone()).unwrap();
        for i in 1..=at {
            wal.append(i as f64, &payload(i)).unwrap();
        }
        if at % 2 == 0 {
            wal.head_hash().expect("the writer's own log"); // written before it is asked for
        }
        let state = format!("state@{at}").into_bytes();
        // Held until the later records are appended: its commit then writes them with its own.
        let (appended, hold) = std::sync::mpsc::channel::<()>();
        let kept = state.clone();
        wal.checkpoint_encoded_in_background(at, move || {
            hold.recv().unwrap();
            kept
        })
        .unwrap();
        for i in at + 1..=at + 20 {
            wal.append(i as f64, &payload(i)).unwrap();
        }
        appended.send(()).unwrap();
        assert!(wal.finish_checkpoint().unwrap().is_some(), "at {at}");
        drop(wal);
        ended_a_segment += usize::from(seg(dir.path(), at + 1).exists());
        let (_, report, (ckpt, recs)) = open_collect(dir.path(), opts).unwrap();
        assert_eq!(ckpt, Some((at, state)), "at {at}");
        assert_eq!(
            recs.iter().map(|r| r.0).collect::<Vec<_>>(),
            (at + 1..=at + 20).collect::<Vec<_>>(),
            "at {at}"
        );
        assert_eq!(report.last_seq, at + 20, "at {at}");
    }
    assert!(
        ended_a_segment > 0,
        "no checkpoint's record ended its segment"
    );
}

#[test]
fn a_failed_background_checkpoint_is_reported_not_returned_to_later_calls() {
    // A checkpoint only shortens recovery; one that failed must not fail the next checkpoint
    // (the kernel would take it for a failed log), a sync or the close.
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::DEFAULT_BATCH)).unwrap();
    fs::create_dir(dir.path().join(format!("{}.tmp", checkpoint_file(10)))).unwrap();
    for i in 1..=10 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    assert_eq!(wal.checkpoint_failures(), 0);
    wal.checkpoint_in_background(10, b"state@10".to_vec())
        .unwrap();
    for i in 11..=20 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while wal.checkpoint_failures() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the failure never showed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let error = wal.checkpoint_error().expect("the failure is kept");
    assert!(error.starts_with("checkpoint at seq 10:"), "{error}");
    wal.checkpoint_in_background(20, b"state@20".to_vec())
        .unwrap();
    assert!(wal.finish_checkpoint().unwrap().is_some());
    assert_eq!(wal.checkpoint_failures(), 1);
    assert_eq!(
        wal.checkpoint_error(),
        None,
        "a checkpoint written clears it"
    );
    assert_eq!(wal.close().unwrap(), 20);
}

#[test]
fn a_failed_checkpoint_leaves_no_temporary_file_behind() {
    // The log goes on after a failed checkpoint, so a temporary file each one left (disk
    // full, a name in the way) would stay until a restart: one more state's worth of disk per
    // checkpoint, on the disk the log itself needs.
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::DEFAULT_BATCH)).unwrap();
    for i in 1..=10 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    fs::create_dir(dir.path().join(checkpoint_file(10))).unwrap(); // the rename fails
    assert!(wal.checkpoint(10, b"state@10").is_err());
    assert_eq!(wal.checkpoint_failures(), 1);
    let tmp = dir.path().join(format!("{}.tmp", checkpoint_file(10)));
    assert!(!tmp.exists(), "{} left behind", tmp.display());
}

/// A checkpoint whose thread cannot be started (the process at its thread limit) is a failed
/// checkpoint: the log is whole. Returned as an error of the record that made the checkpoint
/// due, it would tell the caller an input failed that the log holds and a restart applies.
#[test]
fn a_checkpoint_thread_that_cannot_start_fails_the_checkpoint_not_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::DEFAULT_BATCH)).unwrap();
    for i in 1..=10 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    writer::FAIL_SPAWN.with(|fail| fail.set(true));
    let started = wal.checkpoint_in_background(10, b"state@10".to_vec());
    writer::FAIL_SPAWN.with(|fail| fail.set(false));
    started.expect("a checkpoint's failure is not the log's");
    assert_eq!(wal.checkpoint_failures(), 1);
    let error = wal.checkpoint_error().expect("the failure is kept");
    assert!(
        error.starts_with("checkpoint at seq 10:") && error.contains("spawn checkpoint thread"),
        "{error}"
    );
    assert!(wal.failure().is_none(), "the log takes records");
    wal.append(11.0, &payload(11)).unwrap();
    assert_eq!(wal.close().unwrap(), 11);
    let (_, report, (ckpt, recs)) =
        open_collect(dir.path(), options(FsyncPolicy::DEFAULT_BATCH)).unwrap();
    assert_eq!((report.last_seq, ckpt, recs.len()), (11, None, 11));
}

/// The kernel's log: the record that made the checkpoint due is recorded, the next goes on.
#[test]
fn a_kernel_record_whose_checkpoint_thread_cannot_start_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let options = KernelLogOptions {
        fsync: FsyncPolicy::DEFAULT_BATCH,
        checkpoint_every: 2,
        segment_bytes: 1 << 20,
    };
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("spawn", 2).unwrap(), &options).unwrap();
    let mark = |k: &mut Kernel, log: &mut KernelLog, n: u64| {
        let input = KernelInput::MarkPrice {
            asset: crate::types::id("BTCUSDT"),
            price: 100.0 + n as f64,
            ts: n as f64,
        };
        k.apply(&input).unwrap();
        log.record(k, &input)
    };
    mark(&mut k, &mut log, 1).unwrap();
    writer::FAIL_SPAWN.with(|fail| fail.set(true));
    let recorded = mark(&mut k, &mut log, 2);
    writer::FAIL_SPAWN.with(|fail| fail.set(false));
    assert_eq!(recorded.expect("the record is in the log"), 2);
    assert_eq!(log.wal().checkpoint_failures(), 1);
    assert_eq!(mark(&mut k, &mut log, 3).unwrap(), 3);
    assert_eq!(log.sync().unwrap(), 3);
}
