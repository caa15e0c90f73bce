//! Names of the log directory that are no regular file (a FIFO, a link to /dev/zero, a
//! directory): never read, refused or skipped by name. Each test runs in a guarded child so a
//! regression fails it rather than hanging the run or taking the machine's memory.

use super::*;

/// Puts a FIFO (`"fifo"`) or a link to /dev/zero (`"/dev/zero"`) in place of `path`; returns
/// the kind the log names it by.
fn special_file_in_place_of(path: &Path, special: &str) -> &'static str {
    let _ = fs::remove_file(path);
    if special == "fifo" {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo {}", path.display());
        "a FIFO"
    } else {
        std::os::unix::fs::symlink(special, path).unwrap();
        "a character device"
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_names_it(err: &str, path: &Path, kind: &str) {
    let said = format!("{} is {kind}, not a regular file", path.display());
    assert!(err.contains(&said), "{err:?} does not say {said:?}");
}

#[rstest]
#[case::fifo("fifo")]
#[case::dev_zero("/dev/zero")]
fn a_fifo_or_a_device_under_a_segment_name_refuses_every_reader_naming_it(#[case] special: &str) {
    if in_guarded_child() {
        return;
    }
    let dir = log_with(40, options(FsyncPolicy::None).with_segment_bytes(1024));
    assert!(names_in(dir.path()).len() > 3, "several segments");
    let first = seg(dir.path(), 1);
    let kind = special_file_in_place_of(&first, special);
    let before = (names_in(dir.path()), snapshot_dir(dir.path()));
    let err = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    assert!(matches!(err, WalError::NotRegularFile { .. }), "{err}");
    assert_names_it(&err.to_string(), &first, kind);
    assert_names_it(&verify(dir.path()).unwrap_err().to_string(), &first, kind);
    let err = read_only_replay(dir.path(), |_| Ok(())).unwrap_err();
    assert_names_it(&err.to_string(), &first, kind);
    assert_names_it(
        &log_kernel_id(dir.path()).unwrap_err().to_string(),
        &first,
        kind,
    );
    assert_eq!((names_in(dir.path()), snapshot_dir(dir.path())), before);
}

#[rstest]
#[case::fifo("fifo")]
#[case::dev_zero("/dev/zero")]
fn a_fifo_or_a_device_under_a_checkpoint_name_is_skipped_by_recovery_and_fails_the_audit(
    #[case] special: &str,
) {
    if in_guarded_child() {
        return;
    }
    let dir = log_with_checkpoints_at_10_and_20();
    let newest = dir.path().join(checkpoint_file(20));
    let kind = special_file_in_place_of(&newest, special);
    // The audit reports it, as it reports a damaged checkpoint; so does the audit's replay.
    assert_names_it(&verify(dir.path()).unwrap_err().to_string(), &newest, kind);
    let err = kernel_log::replay_checkpoints(dir.path()).unwrap_err();
    assert_names_it(&err.to_string(), &newest, kind);
    // Recovery skips it, as it skips a damaged checkpoint, and says so.
    let report = read_only_replay(dir.path(), |_| Ok(())).unwrap();
    assert_eq!(report.checkpoint_seq, Some(10));
    assert_eq!(report.skipped_checkpoints.len(), 1);
    assert_eq!(report.skipped_checkpoints[0].path, newest);
    assert_names_it(&report.skipped_checkpoints[0].reason, &newest, kind);
    let (wal, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(ckpt, Some((10, b"state@10".to_vec())));
    assert_eq!((recs.len(), report.last_seq), (10, 20));
    assert_eq!(report.skipped_checkpoints[0].path, newest);
    drop(wal);
}

/// A checkpoint whose read fails (here: a size no memory holds; on a disk, a bad sector's
/// EIO) is skipped as one whose bytes are damaged is: the records are the log, and an older
/// checkpoint recovers the same state, so a damaged checkpoint in its likeliest form keeps no
/// log from opening. The audit still fails.
#[test]
fn a_checkpoint_that_cannot_be_read_is_skipped_by_recovery_and_fails_the_audit() {
    if in_guarded_child() {
        return;
    }
    let dir = log_with_checkpoints_at_10_and_20();
    let newest = dir.path().join(checkpoint_file(20));
    let file = fs::OpenOptions::new().write(true).open(&newest).unwrap();
    file.set_len(4 << 30).unwrap(); // sparse: 4 GiB, past the child's 1 GiB of memory
    drop(file);
    let report = read_only_replay(dir.path(), |_| Ok(())).unwrap();
    assert_eq!((report.checkpoint_seq, report.last_seq), (Some(10), 20));
    let (wal, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(ckpt, Some((10, b"state@10".to_vec())));
    assert_eq!((recs.len(), report.last_seq), (10, 20));
    assert_eq!(report.skipped_checkpoints.len(), 1);
    assert_eq!(report.skipped_checkpoints[0].path, newest);
    let reason = &report.skipped_checkpoints[0].reason;
    assert!(reason.contains("read checkpoint"), "{reason}");
    drop(wal);
    assert!(matches!(verify(dir.path()), Err(WalError::Io { .. })));
}

#[test]
fn a_fifo_as_the_lock_refuses_the_open_naming_it() {
    if in_guarded_child() {
        return;
    }
    let dir = log_with(3, options(FsyncPolicy::None));
    let lock = dir.path().join("LOCK");
    let kind = special_file_in_place_of(&lock, "fifo");
    let err = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap_err();
    assert!(matches!(err, WalError::NotRegularFile { .. }), "{err}");
    assert_names_it(&err.to_string(), &lock, kind);
}

#[test]
fn a_fifo_in_the_way_of_a_checkpoint_fails_that_checkpoint_only() {
    if in_guarded_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    for i in 1..=3 {
        wal.append(0.0, &payload(i)).unwrap();
    }
    let tmp = dir.path().join(format!("{}.tmp", checkpoint_file(3)));
    let kind = special_file_in_place_of(&tmp, "fifo");
    let err = wal.checkpoint(3, b"state@3").unwrap_err();
    assert_names_it(&err.to_string(), &tmp, kind);
    assert_eq!(wal.checkpoint_failures(), 1);
    // The log goes on; the next open removes the leftover and reports it.
    assert_eq!(wal.append(0.0, &payload(4)).unwrap(), 4);
    wal.close().unwrap();
    let (_, report, (ckpt, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!((ckpt, recs.len()), (None, 4));
    assert_eq!(report.removed_temp_files, vec![tmp]);
}
