//! One writer: a second writer is refused naming the holder, and a process forked from the
//! writer neither writes to its copy of the log, nor waits on its locks, nor holds its LOCK.

use super::*;

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    let err = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
}

#[test]
fn a_second_writer_is_refused_naming_the_process_that_holds_the_log() {
    // The operator needs to know which process holds the log: two kernels of one deployment,
    // a forgotten shell, a service restarted before the old one ended.
    let dir = tempfile::tempdir().unwrap();
    let (_wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    let err = open_collect(dir.path(), options(FsyncPolicy::None))
        .unwrap_err()
        .to_string();
    let holder = format!("process {}", std::process::id());
    assert!(err.contains(&holder), "{err}");
    // A LOCK that names no process is said to.
    drop(_wal);
    let (_wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    fs::write(dir.path().join("LOCK"), b"").unwrap();
    let err = open_collect(dir.path(), options(FsyncPolicy::None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("names no process"), "{err}");
}

/// An operator clearing what looks like a stale LOCK, or a restore copying one over it, lets
/// no second writer in while the first still writes: both would append to one segment and
/// hand out the same client ids.
#[rstest]
#[case::removed("removed")]
#[case::replaced("replaced")]
fn a_second_writer_is_refused_after_the_lock_file_is_removed_or_replaced(#[case] how: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::Always)).unwrap();
    wal.append(1.0, &payload(1)).unwrap();
    let lock = dir.path().join("LOCK");
    if how == "removed" {
        fs::remove_file(&lock).unwrap();
    } else {
        let copy = dir.path().join("LOCK.restored");
        fs::write(&copy, b"pid 1\n").unwrap();
        fs::rename(&copy, &lock).unwrap();
    }
    let err = open_collect(dir.path(), options(FsyncPolicy::Always)).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
    if how == "removed" {
        assert!(err.to_string().contains("it was removed"), "{err}");
    }
    // The first writer goes on, its log whole.
    assert_eq!(wal.append(2.0, &payload(2)).unwrap(), 2);
    assert_eq!(wal.close().unwrap(), 2);
    assert_eq!(verify(dir.path()).unwrap().last_seq, 2);
}

#[rstest]
#[case::lock_file("LOCK")]
#[case::directory("")]
fn a_lock_held_for_an_instant_elsewhere_is_waited_for(#[case] name: &str) {
    // As by a child this process is starting: it holds the locks from its fork to its exec,
    // and a log reopened in that instant must not be refused as Locked.
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    drop(wal);
    let held = std::fs::File::open(dir.path().join(name)).unwrap();
    held.try_lock().unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(30));
        drop(held);
    });
    let reopened = open_collect(dir.path(), options(FsyncPolicy::None));
    release.join().unwrap();
    assert!(reopened.is_ok(), "{:?}", reopened.err());
}

/// A process forked from the writer (`os.fork()`, a `multiprocessing` worker started by fork)
/// holds a copy of the log: its buffered records, its file and its lock. Its writes would go
/// into the parent's segment (the buffered records a second time) and make the parent's log
/// corrupt, so the copy refuses to write, and drops without a word (its flusher thread was
/// never copied). Run in a child process of its own, where no other test's thread holds a
/// lock at the fork.
#[cfg(unix)]
#[test]
fn a_process_forked_from_the_writer_cannot_write_to_its_log() {
    if in_guarded_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let held = FsyncPolicy::Batch {
        max_records: 1000,
        max_delay: Duration::from_secs(30),
    };
    let (mut wal, _, _) = open_collect(dir.path(), options(held)).unwrap();
    for i in 1..=3 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    // SAFETY: the child only uses the log and `_exit`s; this process runs no other thread
    // that could hold a lock the child needs but the log's idle flusher.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let refused = wal.failure().is_some()
                && matches!(wal.append(9.0, b"child"), Err(WalError::Forked { .. }))
                && matches!(wal.sync(), Err(WalError::Forked { .. }))
                && matches!(wal.checkpoint(3, b"child"), Err(WalError::Forked { .. }));
            drop(wal);
            refused
        }));
        unsafe { libc::_exit(if matches!(refused, Ok(true)) { 0 } else { 1 }) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked copy of the log wrote or failed otherwise (status {status})"
    );
    assert!(wal.failure().is_none(), "the parent's log goes on");
    for i in 4..=5 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    wal.close().unwrap();
    let (_, report, (_, recs)) = open_collect(dir.path(), options(held)).unwrap();
    assert_eq!(report.last_seq, 5);
    let payloads: Vec<Vec<u8>> = recs.into_iter().map(|r| r.2).collect();
    assert_eq!(payloads, (1..=5).map(payload).collect::<Vec<_>>());
}

/// A process forked while the parent's writer thread held one of the log's locks (the `io` lock
/// during each write and sync, the `state` lock while it takes the buffer) has a copy of that
/// lock no thread of it will ever release. Its reads of the log (`wal_info()` in Python, the
/// journal's `journaled_through()`) must answer without it.
#[cfg(unix)]
#[rstest]
#[case("io")]
#[case("state")]
fn a_forked_copy_reads_its_log_without_a_lock_the_parents_writer_held(#[case] held: &str) {
    if in_guarded_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::DEFAULT_BATCH)).unwrap();
    for i in 1..=3 {
        wal.append(i as f64, &payload(i)).unwrap();
    }
    wal.sync().unwrap();
    let head = wal.head_hash();
    let pid = wal.holding_lock(held, || {
        // SAFETY: the child only reads the log and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let seqs = (
                    wal.last_seq(),
                    wal.durable_seq(),
                    wal.written_seq(),
                    wal.recoverable_seq(),
                );
                // Known when everything was written before the fork and the lock is free.
                let hash = wal.head_hash();
                let hash_ok = if held == "io" {
                    hash.is_none()
                } else {
                    hash == head
                };
                seqs == (3, 3, 3, 3)
                    && hash_ok
                    && wal.failure().is_some_and(|f| f.contains("forked"))
                    && wal.checkpoint_error().is_none()
                    && format!("{wal:?}").contains("last_seq")
            }));
            unsafe { libc::_exit(if matches!(read, Ok(true)) { 0 } else { 1 }) };
        }
        pid
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut status = 0;
    let hung = loop {
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            break false;
        }
        if std::time::Instant::now() > deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            break true;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        !hung,
        "the forked copy's reads waited for the {held} lock forever"
    );
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked copy read wrong values (status {status})"
    );
    assert_eq!(wal.close().unwrap(), 3, "the parent's log goes on");
}

/// A process forked from the writer (a `multiprocessing` worker started by fork) shares the
/// log's open LOCK file, and a flock belongs to the open file. The child must not hold the
/// parent's lock: the parent opens its log again after closing it (a kernel restarted in the
/// process, or the process restarted while its orphaned workers run on).
#[cfg(unix)]
#[test]
fn a_process_forked_from_the_writer_does_not_hold_its_lock() {
    if in_guarded_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::Always)).unwrap();
    wal.append(1.0, &payload(1)).unwrap();
    // SAFETY: the child only sleeps and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        std::thread::sleep(Duration::from_secs(5));
        unsafe { libc::_exit(0) };
    }
    assert_eq!(wal.close().unwrap(), 1);
    let reopened = open_collect(dir.path(), options(FsyncPolicy::Always));
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let (wal, report, _) = reopened.expect("the parent opens its log while the child lives");
    assert_eq!(report.last_seq, 1);
    // And the reopened log is locked against another writer, its own process included.
    let err = open_collect(dir.path(), options(FsyncPolicy::Always)).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
    drop(wal);
}
