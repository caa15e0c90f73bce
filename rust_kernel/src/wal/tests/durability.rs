//! Durability: when appended records reach the OS and stable storage under each fsync
//! policy, and the syncs that keep a log whole across a power cut.

use super::*;

#[rstest]
#[case("always", FsyncPolicy::Always)]
#[case("batch", FsyncPolicy::DEFAULT_BATCH)]
#[case(" None ", FsyncPolicy::None)]
#[case("BATCH", FsyncPolicy::DEFAULT_BATCH)]
fn fsync_policy_parses(#[case] text: &str, #[case] expected: FsyncPolicy) {
    assert_eq!(FsyncPolicy::parse(text).unwrap(), expected);
}

#[rstest]
#[case("sometimes")]
#[case("")]
#[case("fsync")]
fn fsync_policy_refuses_unknown_names_naming_the_value(#[case] text: &str) {
    let err = FsyncPolicy::parse(text).unwrap_err().to_string();
    assert!(
        err.contains("fsync") && err.contains(&format!("{text:?}")),
        "{err}"
    );
}

#[test]
fn always_policy_syncs_before_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::Always)).unwrap();
    for i in 1..=5 {
        let seq = wal.append(0.0, b"x").unwrap();
        assert_eq!((seq, wal.durable_seq(), wal.written_seq()), (i, i, i));
    }
}

/// What the kernel asks before an order goes to a venue: the records reach the OS, where a
/// crash of the process leaves them, without waiting for a sync the policy makes later.
#[test]
fn write_through_hands_buffered_records_to_the_os_without_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FsyncPolicy::Batch {
        max_records: 1000,
        max_delay: Duration::from_secs(3600),
    };
    let (mut wal, _, _) = open_collect(dir.path(), options(policy)).unwrap();
    wal.hold_flusher(true);
    for i in 1..=3 {
        wal.append(0.0, &payload(i)).unwrap();
    }
    assert_eq!(
        (wal.written_seq(), frames(&seg(dir.path(), 1)).len()),
        (0, 0)
    );
    wal.write_through(3).unwrap();
    assert_eq!((wal.written_seq(), wal.durable_seq()), (3, 0));
    assert_eq!(frames(&seg(dir.path(), 1)).len(), 3);
    // Written once: a second call has nothing to write.
    wal.write_through(3).unwrap();
    assert_eq!(frames(&seg(dir.path(), 1)).len(), 3);
    wal.hold_flusher(false);
}

#[test]
fn batch_policy_commits_when_max_records_are_pending() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FsyncPolicy::Batch {
        max_records: 4,
        max_delay: Duration::from_secs(3600),
    };
    let (mut wal, _, _) = open_collect(dir.path(), options(policy)).unwrap();
    for _ in 0..3 {
        wal.append(0.0, b"x").unwrap();
    }
    assert_eq!(
        wal.durable_seq(),
        0,
        "three records are below the batch size of four"
    );
    wal.append(0.0, b"x").unwrap();
    // The fourth record wakes the flusher long before its hour-long timer would.
    wait_until(
        || wal.durable_seq() >= 4,
        "a full batch was never committed",
    );
}

#[test]
fn batch_policy_commits_pending_records_after_max_delay() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FsyncPolicy::Batch {
        max_records: 1_000_000,
        max_delay: Duration::from_millis(2),
    };
    let (mut wal, _, _) = open_collect(dir.path(), options(policy)).unwrap();
    for _ in 0..3 {
        wal.append(0.0, b"x").unwrap();
    }
    wait_until(
        || wal.durable_seq() >= 3,
        "flusher never committed the pending records",
    );
}

#[test]
fn a_full_write_buffer_reaches_the_os_before_the_batch_is_due_without_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FsyncPolicy::Batch {
        max_records: 1_000_000,
        max_delay: Duration::from_secs(3600),
    };
    let mut opts = options(policy);
    opts.write_buffer_bytes = 1024;
    let (mut wal, _, _) = open_collect(dir.path(), opts).unwrap();
    // 20 frames of 156 bytes fill the 1 KiB buffer but stay far below the backlog at which
    // the appender would write them itself, so only the flusher can have written them.
    for _ in 0..20 {
        wal.append(0.0, &[7u8; 100]).unwrap();
    }
    wait_until(
        || wal.written_seq() >= 6,
        "the flusher never wrote the full buffer",
    );
    assert_eq!(
        wal.durable_seq(),
        0,
        "a full buffer is written, not synced, before the batch is due"
    );
    assert_eq!(wal.sync().unwrap(), 20);
}

#[test]
fn none_policy_hands_records_to_the_os_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    wal.append(0.0, b"x").unwrap();
    wait_until(
        || wal.written_seq() >= 1,
        "flusher never wrote the pending record",
    );
    assert_eq!(wal.durable_seq(), 0, "none never syncs on its own");
    assert_eq!(wal.sync().unwrap(), 1);
}

#[test]
fn a_sync_handle_makes_the_log_durable_from_another_thread_while_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    for _ in 0..5 {
        wal.append(0.0, b"x").unwrap();
    }
    let handle = wal.sync_handle().unwrap();
    let syncing = std::thread::spawn(move || handle.sync());
    // The log stays with its owner meanwhile: appends need no wait for the sync.
    wal.append(0.0, b"y").unwrap();
    let durable = syncing.join().unwrap().unwrap();
    assert!(durable >= 5, "the sync covers what was appended before it");
    assert!(wal.durable_seq() >= 5);
    assert_eq!(wal.sync().unwrap(), 6);
}

/// Records wait for the log's thread up to `BACKLOG_BUFFERS` write buffers (16 MiB by
/// default): the strategy's thread is spared their writing while the log's thread is held up,
/// and past that it writes them itself, which bounds the memory they take.
#[test]
fn the_appender_writes_the_records_itself_only_past_the_backlog_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(FsyncPolicy::None);
    opts.write_buffer_bytes = 1024;
    let (mut wal, _, _) = open_collect(dir.path(), opts).unwrap();
    wal.hold_flusher(true);
    let record = [7u8; 100];
    let frame = FRAME_HEADER_BYTES + record.len();
    let bound = 1024 * writer::BACKLOG_BUFFERS;
    let crossing = bound.div_ceil(frame) as u64; // the record that makes the buffer reach it
    for seq in 1..crossing {
        wal.append(seq as f64, &record).unwrap();
        assert_eq!(wal.written_seq(), 0, "record {seq} of {crossing} written");
    }
    wal.append(crossing as f64, &record).unwrap();
    assert_eq!(
        wal.written_seq(),
        crossing,
        "the appender writes what waits"
    );
    wal.hold_flusher(false);
    assert_eq!(wal.sync().unwrap(), crossing);
}

/// A sync takes milliseconds on a busy disk; an appender whose records have piled up writes
/// them itself, and must not wait for a sync under way to do so.
#[test]
fn writing_records_does_not_wait_for_a_sync_under_way() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    wal.append(0.0, b"x").unwrap();
    let handle = wal.sync_handle().unwrap();
    let (started, sync_started) = std::sync::mpsc::channel();
    let syncing = std::thread::spawn(move || {
        writer::SLOW_SYNC.with(|slow| *slow.borrow_mut() = Some((Duration::from_secs(1), started)));
        handle.sync()
    });
    sync_started.recv().unwrap();
    wal.append(0.0, b"y").unwrap();
    let at = std::time::Instant::now();
    wal.head_hash().expect("the writer's own log"); // writes the buffered records
    assert!(
        at.elapsed() < Duration::from_millis(500),
        "the write waited {:?} for the sync",
        at.elapsed()
    );
    assert_eq!(wal.written_seq(), 2);
    assert_eq!(
        syncing.join().unwrap().unwrap(),
        1,
        "the sync covers what it wrote"
    );
    assert_eq!(wal.sync().unwrap(), 2);
}

/// Pages of `path` in the page cache that are not on stable storage yet (dirty or under
/// writeback), by cachestat(2) (Linux 6.5); None where the kernel cannot say.
#[cfg(target_os = "linux")]
fn pages_not_on_disk(path: &Path) -> Option<u64> {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        cache: u64,
        dirty: u64,
        writeback: u64,
        evicted: u64,
        recently_evicted: u64,
    }
    const SYS_CACHESTAT: libc::c_long = 451; // one number on every architecture
    let file = fs::File::open(path).unwrap();
    let range = Range { off: 0, len: 0 }; // len 0: to the end of the file
    let mut stat = Stat::default();
    // SAFETY: both pointers are to live repr(C) structs of the layout the syscall takes.
    let r = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Stat,
            0u32,
        )
    };
    (r == 0).then_some(stat.dirty + stat.writeback)
}

#[cfg(target_os = "linux")]
#[rstest]
#[case::same_version(3)]
#[case::new_segment_for_another_version(4)]
fn the_records_recovery_read_are_on_stable_storage_before_the_log_goes_on(#[case] version: u16) {
    // A writer killed under `batch` or `none` leaves its last records in the page cache only:
    // the restarted kernel reads them back, says they are durable and, when its version differs,
    // starts a segment of its own after them, whose records `always` syncs. Without a sync of
    // the recovered segment, a power cut in the next half minute would cut the records out of
    // the middle of the log, and the acknowledged records after them could not be opened.
    let dir = log_with(20, options(FsyncPolicy::None).with_behaviour(3));
    let old = seg(dir.path(), 1);
    // The killed writer's pages: its bytes, written over themselves in place and not synced
    // (not truncated and written again: ext4 writes such a file out at its close).
    use std::io::Write;
    let bytes = fs::read(&old).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&old)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    // Where a sync leaves pages counted unsynced (tmpfs) or cachestat says nothing, the
    // count proves nothing: a scratch file written and synced beside the log tells.
    let scratch = dir.path().join("scratch");
    let mut f = fs::File::create(&scratch).unwrap();
    f.write_all(&bytes).unwrap();
    let before = pages_not_on_disk(&scratch);
    f.sync_data().unwrap();
    let after = pages_not_on_disk(&scratch);
    fs::remove_file(&scratch).unwrap();
    match (pages_not_on_disk(&old), before, after) {
        (Some(n), Some(b), Some(0)) if n > 0 && b > 0 => {}
        other => {
            eprintln!("cachestat cannot tell unsynced pages here ({other:?}): not checked");
            return;
        }
    }
    let (mut wal, report, _) = open_collect(
        dir.path(),
        options(FsyncPolicy::Always).with_behaviour(version),
    )
    .unwrap();
    assert_eq!((report.last_seq, wal.durable_seq()), (20, 20));
    assert_eq!(
        pages_not_on_disk(&old),
        Some(0),
        "records 1..=20 are said durable, but are not on stable storage"
    );
    assert_eq!(wal.append(21.0, b"acknowledged").unwrap(), 21);
    assert_eq!(seg(dir.path(), 21).exists(), version != 3);
    wal.close().unwrap();
}

#[test]
fn a_new_log_directory_and_the_ones_made_for_it_are_synced_into_their_parents() {
    // A directory's entry lives in its parent: until the parent is synced, a power cut can
    // take the whole log, with the records `always` acknowledged in it. No power cut can be
    // staged here, so the syncs that make the entries durable are checked.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a").join("wal");
    let (mut wal, _, _) = open_collect(&dir, options(FsyncPolicy::Always)).unwrap();
    assert_eq!(wal.append(1.0, b"acknowledged").unwrap(), 1);
    let synced: Vec<PathBuf> = writer::SYNCED_DIRS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|d| d.starts_with(root.path()))
        .cloned()
        .collect();
    for d in [
        root.path().to_path_buf(),
        root.path().join("a"),
        dir.clone(),
    ] {
        assert!(
            synced.contains(&d),
            "{} not synced before the first record was acknowledged: {synced:?}",
            d.display()
        );
    }
    wal.close().unwrap();
}

/// A log opened by a relative name keeps writing to that directory after the process changes
/// its working directory: new segments and checkpoints under the same name in the new one
/// would be lost to a restart on the log, acknowledged records included. Run in a child
/// process of its own: the working directory is the whole process's.
#[cfg(unix)]
#[test]
fn a_log_opened_by_a_relative_name_stays_in_its_directory_after_a_chdir() {
    if in_guarded_child() {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let (first, later) = (base.path().join("first"), base.path().join("later"));
    fs::create_dir_all(&first).unwrap();
    fs::create_dir_all(later.join("wal")).unwrap();
    let opts = options(FsyncPolicy::Always).with_segment_bytes(1024);
    std::env::set_current_dir(&first).unwrap();
    let (mut wal, _, _) = open_collect(Path::new("wal"), opts.clone()).unwrap();
    assert_eq!(wal.dir(), first.join("wal"));
    for i in 1..=3 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    std::env::set_current_dir(&later).unwrap();
    for i in 4..=60 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    wal.checkpoint(60, b"state@60").unwrap();
    wal.close().unwrap();
    assert!(
        fs::read_dir(later.join("wal")).unwrap().next().is_none(),
        "nothing of the log lands under the later working directory"
    );
    let (_, report, (ckpt, recs)) = open_collect(&first.join("wal"), opts).unwrap();
    assert_eq!((report.last_seq, report.segments > 1), (60, true));
    assert_eq!((ckpt, recs.len()), (Some((60, b"state@60".to_vec())), 0));
}
