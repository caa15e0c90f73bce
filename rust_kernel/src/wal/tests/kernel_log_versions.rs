//! The kernel log's behaviour versions: a log of another version opens only from a checkpoint
//! that ends it, migrated; records of another version refuse the open.

use super::*;

/// Makes the log in `dir` one a build of behaviour version `version` wrote: its segments'
/// and checkpoints' headers say `version`, and its checkpoints hold the parts that version
/// wrote.
fn as_written_under(dir: &Path, kernel_id: &str, version: u16) {
    for (_, path) in list_dir(dir).unwrap().segments {
        let mut bytes = fs::read(&path).unwrap();
        bytes[10..12].copy_from_slice(&version.to_le_bytes());
        let id_len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
        let end = 14 + id_len + 8 + 32; // kernel id, first seq, previous hash
        let crc = crc32fast::hash(&bytes[..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        fs::write(&path, bytes).unwrap();
    }
    for (seq, path) in list_dir(dir).unwrap().checkpoints {
        let c = format::decode_checkpoint(&fs::read(&path).unwrap(), &path, kernel_id).unwrap();
        let state =
            crate::kernel::encode_before_39(&crate::kernel::decode_checkpoint(&c.state).unwrap());
        let bytes = format::encode_checkpoint(
            kernel_id,
            seq,
            &c.head_hash,
            c.segment_first_seq,
            c.segment_offset,
            c.ts,
            version,
            &state,
        );
        fs::write(&path, bytes).unwrap();
    }
}

/// A log of seven mark prices, with a checkpoint every three records, then `ended` (a
/// checkpoint after the last record) or not; the kernel as the records left it.
fn marked_log(dir: &Path, ended: bool) -> Kernel {
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every: 3,
        segment_bytes: 1 << 20,
    };
    let (mut log, mut k) = KernelLog::open(dir, Kernel::new("old", 2).unwrap(), &options).unwrap();
    for n in 1..=7u64 {
        let input = KernelInput::MarkPrice {
            asset: crate::types::id(if n % 2 == 0 { "BTCUSDT" } else { "ETHUSDT" }),
            price: 100.0 + n as f64,
            ts: n as f64,
        };
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    if ended {
        log.checkpoint(&k).unwrap();
    }
    log.sync().unwrap();
    k
}

#[test]
fn a_log_of_an_earlier_version_ended_by_a_checkpoint_opens_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let k = marked_log(dir.path(), true);
    as_written_under(dir.path(), "old", 36);
    let options = KernelLogOptions::default();
    let (log, opened) = KernelLog::open(dir.path(), Kernel::new("old", 2).unwrap(), &options)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.migrated_from(), Some(36));
    assert_eq!(opened.state_difference(&k), None);
    // The open wrote the state as a checkpoint of this version: the next open starts there.
    let newest = list_dir(dir.path())
        .unwrap()
        .checkpoints
        .last()
        .cloned()
        .unwrap();
    let c = format::decode_checkpoint(&fs::read(&newest.1).unwrap(), &newest.1, "old").unwrap();
    assert_eq!((c.seq, c.behaviour), (7, crate::kernel::BEHAVIOUR_VERSION));
    drop(log);
    let (log, again) =
        KernelLog::open(dir.path(), Kernel::new("old", 2).unwrap(), &options).unwrap();
    assert_eq!(log.migrated_from(), None);
    assert_eq!(again.state_difference(&k), None);
    drop(log);
    // The audit replay starts at the migrated checkpoint; the records before it are another
    // build's.
    let replayed = replay_checkpoints(dir.path()).unwrap();
    assert_eq!(replayed.from_seq, Some(7));
}

#[test]
fn a_log_of_another_version_with_records_after_its_last_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    marked_log(dir.path(), false);
    as_written_under(dir.path(), "old", 36);
    let before = snapshot_dir(dir.path());
    let options = KernelLogOptions::default();
    let err = KernelLog::open(dir.path(), Kernel::new("old", 2).unwrap(), &options)
        .err()
        .expect("refused")
        .to_string();
    for said in [
        "record 7 was written under behaviour version 36",
        "Open the log with the build that wrote it (version 36) and stop it cleanly",
        "close()",
    ] {
        assert!(err.contains(said), "{said:?} not in: {err}");
    }
    assert_eq!(
        snapshot_dir(dir.path()),
        before,
        "a refused open changes nothing"
    );
}

#[test]
fn a_checkpoint_of_a_version_this_build_does_not_migrate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    marked_log(dir.path(), true);
    as_written_under(dir.path(), "old", 35);
    let err = KernelLog::open(
        dir.path(),
        Kernel::new("old", 2).unwrap(),
        &KernelLogOptions::default(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("behaviour version 35, which this build"),
        "{err}"
    );
}
