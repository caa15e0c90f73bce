//! A log taken away from under its writer (its directory removed, its segment moved out by an
//! archive step or replaced): the writer's records would go to a file no restart reads, so the
//! log fails as after an I/O error, naming the segment, and counts nothing durable.

use super::*;

/// What happens to the log directory of a running writer.
fn take_away(dir: &Path, how: &str) -> PathBuf {
    let segment = seg(dir, 1);
    match how {
        "directory removed" => fs::remove_dir_all(dir).unwrap(),
        "segment moved away" => fs::rename(&segment, dir.with_extension("archived")).unwrap(),
        "segment replaced" => {
            let copy = dir.join("copy");
            fs::copy(&segment, &copy).unwrap();
            fs::rename(&copy, &segment).unwrap();
        }
        _ => unreachable!("{how}"),
    }
    segment
}

fn says_segment_left_the_log(failure: &str, segment: &Path) {
    assert!(
        failure.contains("removed or moved out of the log directory")
            && failure.contains(&segment.display().to_string()),
        "{failure}"
    );
}

#[rstest]
fn a_sync_of_a_segment_no_longer_in_the_log_fails_the_log(
    #[values("directory removed", "segment moved away", "segment replaced")] how: &str,
    #[values(FsyncPolicy::Always, FsyncPolicy::DEFAULT_BATCH, FsyncPolicy::None)]
    fsync: FsyncPolicy,
) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("wal");
    let (mut wal, _, _) = open_collect(&dir, options(fsync)).unwrap();
    for i in 1..=3 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    assert_eq!(wal.sync().unwrap(), 3);
    wal.hold_flusher(true); // the sync below meets it, not the log's thread
    let segment = take_away(&dir, how);
    let appended = wal.append(4.0, &payload(4));
    let synced = match fsync {
        FsyncPolicy::Always => appended.map(|_| 4),
        _ => wal.sync(),
    };
    let err = synced.expect_err("a record in a file no restart reads was counted durable");
    assert!(matches!(err, WalError::Io { .. }), "{err}");
    says_segment_left_the_log(&err.to_string(), &segment);
    assert_eq!(wal.durable_seq(), 3);
    says_segment_left_the_log(&wal.failure().expect("the log failed"), &segment);
    assert!(matches!(
        wal.append(5.0, &payload(5)),
        Err(WalError::Poisoned(_))
    ));
    assert!(wal.close().is_err(), "close reports the log's failure");
}

/// A log taken away under an idle writer fails within its thread's next pass, so the next
/// input is refused before it is applied.
#[rstest]
fn the_writer_thread_finds_a_segment_no_longer_in_the_log(
    #[values("directory removed", "segment moved away")] how: &str,
    #[values(FsyncPolicy::DEFAULT_BATCH, FsyncPolicy::None)] fsync: FsyncPolicy,
) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("wal");
    let (mut wal, _, _) = open_collect(&dir, options(fsync)).unwrap();
    wal.append(1.0, &payload(1)).unwrap();
    wal.sync().unwrap();
    let segment = take_away(&dir, how);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let failure = loop {
        if let Some(failure) = wal.failure() {
            break failure;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log's thread did not notice"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    says_segment_left_the_log(&failure, &segment);
    assert!(wal.close().is_err());
}
