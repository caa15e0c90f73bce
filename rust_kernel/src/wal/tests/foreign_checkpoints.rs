//! A checkpoint of another log (another kernel's, or a run of the same kernel id in another
//! directory) among a log's files is refused by name, saying what does not match, before any of
//! its state is replayed: read as the log's, it would recover a state the records never made.

use super::*;

/// A closed log in a fresh directory: `n` records made by `payload_of`, a checkpoint after each
/// seq of `checkpoints`, under `kernel_id`.
fn log_of(
    kernel_id: &str,
    n: u64,
    payload_of: impl Fn(u64) -> Vec<u8>,
    checkpoints: &[u64],
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions::new(kernel_id).with_fsync(FsyncPolicy::None);
    let (mut wal, _, _) = open_collect(dir.path(), opts).unwrap();
    for i in 1..=n {
        wal.append(i as f64, &payload_of(i)).unwrap();
        if checkpoints.contains(&i) {
            wal.checkpoint(i, format!("state@{i}").as_bytes()).unwrap();
        }
    }
    wal.close().unwrap();
    dir
}

/// The log of "kernel-a" (20 records, a checkpoint at 10) with `foreign`'s checkpoint `seq`
/// copied in; the refusal of its read-only replay, which must never have restored a checkpoint.
fn replay_with_foreign(foreign: &Path, seq: u64) -> (tempfile::TempDir, String) {
    let dir = log_of("kernel-a", 20, payload, &[10]);
    let name = checkpoint_file(seq);
    fs::copy(foreign.join(&name), dir.path().join(&name)).unwrap();
    let mut restored = Vec::new();
    let err = read_only_replay(dir.path(), |item| {
        if let Replay::Checkpoint { seq, .. } = item {
            restored.push(seq);
        }
        Ok(())
    })
    .unwrap_err();
    assert_eq!(restored, Vec::<u64>::new(), "{err}");
    (dir, err.to_string())
}

#[test]
fn a_checkpoint_of_another_kernel_is_refused_naming_both_kernel_ids() {
    let other = log_of("kernel-b", 20, payload, &[15]);
    let (_, err) = replay_with_foreign(other.path(), 15);
    assert!(
        err.contains(&checkpoint_file(15)) && err.contains("kernel-b") && err.contains("kernel-a"),
        "{err}"
    );
}

/// Another run's records are longer: its checkpoint's byte falls inside one of this log's.
#[test]
fn a_checkpoint_of_another_log_pointing_inside_a_record_is_refused_naming_it() {
    let longer = |i: u64| format!("another-run-{i}").into_bytes();
    let other = log_of("kernel-a", 20, longer, &[15]);
    let (_, err) = replay_with_foreign(other.path(), 15);
    assert!(err.contains(&checkpoint_file(15)), "{err}");
    assert!(err.contains("inside record seq"), "{err}");
    assert!(err.contains("not of this log"), "{err}");
}

/// Another run's records are as long: its checkpoint's byte is where this log's seq 15 ends,
/// but the chain hash there is another.
#[test]
fn a_checkpoint_of_another_log_at_a_record_boundary_is_refused_naming_the_hash() {
    let same_length = |i: u64| {
        let mut p = payload(i);
        p[0] = b'X';
        p
    };
    let other = log_of("kernel-a", 20, same_length, &[15]);
    let (_, err) = replay_with_foreign(other.path(), 15);
    assert!(err.contains(&checkpoint_file(15)), "{err}");
    assert!(err.contains("chain hash"), "{err}");
    assert!(err.contains("not of this log"), "{err}");
}

/// Another run went further: its checkpoint's byte is past the end of this log's segment.
#[test]
fn a_checkpoint_of_another_log_past_its_end_is_refused_naming_the_end() {
    let other = log_of("kernel-a", 40, payload, &[30]);
    let (_, err) = replay_with_foreign(other.path(), 30);
    assert!(err.contains(&checkpoint_file(30)), "{err}");
    assert!(err.contains("records end at seq 20"), "{err}");
    assert!(err.contains("not of this log"), "{err}");
}
