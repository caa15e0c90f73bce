//! A kernel whose log did not end in a clean stop skips the client order ids the records a
//! crash lost may have issued; a log a clean stop ended goes on from its last id.

use super::*;
use kernel_log::replay_read_only;

fn log_options() -> KernelLogOptions {
    KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every: 0,
        segment_bytes: 4096,
    }
}

/// Lets `log` go as a crash of its process does: no clean-stop file after its records (a
/// dropped log writes one).
fn crash(log: KernelLog, dir: &Path) {
    drop(log);
    fs::remove_file(dir.join("clean-stop")).unwrap();
}

/// The client id of the order an ENTER on `slot` sends, the intent recorded.
fn send_entry(k: &mut Kernel, log: &mut KernelLog, n: u64, slot: i64) -> String {
    let input = KernelInput::Intent(intent(n, slot, KernelCommandType::Enter, 100.0));
    let out = k.apply(&input).unwrap();
    log.record(k, &input).unwrap();
    out.submit.expect("an order").client_order_id.to_string()
}

/// A log whose kernel sent `k-1`, `k-2` and `k-3` and lost the records of the last two, as a
/// crash of the machine loses what was not synced: the segment is cut back to its synced end.
fn log_that_lost_two_orders() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    let seed = KernelInput::SeedCapital(1000.0);
    k.apply(&seed).unwrap();
    log.record(&k, &seed).unwrap();
    assert_eq!(send_entry(&mut k, &mut log, 1, 0), "k-1");
    log.sync().unwrap();
    let segment = seg(dir.path(), 1);
    let synced = fs::metadata(&segment).unwrap().len();
    assert_eq!(send_entry(&mut k, &mut log, 2, 1), "k-2");
    assert_eq!(send_entry(&mut k, &mut log, 3, 2), "k-3");
    crash(log, dir.path());
    let file = fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(synced).unwrap();
    dir
}

#[test]
fn a_log_that_lost_orders_issues_none_of_their_client_ids_again() {
    let dir = log_that_lost_two_orders();
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert_eq!(
        log.recovery().last_seq,
        2,
        "the lost orders' records are gone"
    );
    // 4096-byte segments of frames of 56 bytes at least: 74 records at most, one order each.
    assert_eq!(log.order_ids_skipped_through(), Some(1 + 4096 / 56 + 1));
    let next = send_entry(&mut k, &mut log, 4, 1);
    assert_eq!(next, "k-76");
    assert!(next != "k-2" && next != "k-3");
}

#[test]
fn the_skip_is_recorded_so_a_replay_issues_the_ids_the_open_did() {
    let dir = log_that_lost_two_orders();
    let (mut log, mut live) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert_eq!(send_entry(&mut live, &mut log, 4, 1), "k-76");
    log.sync().unwrap();
    let (mut replayed, _) = replay_read_only(dir.path(), |id| {
        Kernel::new(id, 4).map_err(|e| e.to_string())
    })
    .unwrap();
    assert_eq!(replayed.state_difference(&live), None);
    assert_eq!(replayed.open_orders()[1].client_order_id.as_str(), "k-76");
    let next = KernelInput::Intent(intent(5, 2, KernelCommandType::Enter, 100.0));
    let sent = |k: &mut Kernel| k.apply(&next).unwrap().submit.unwrap().client_order_id;
    assert_eq!(sent(&mut replayed).as_str(), "k-77");
    assert_eq!(sent(&mut live).as_str(), "k-77");
}

#[test]
fn a_log_a_clean_stop_ended_goes_on_from_its_last_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    let seed = KernelInput::SeedCapital(1000.0);
    k.apply(&seed).unwrap();
    log.record(&k, &seed).unwrap();
    assert_eq!(send_entry(&mut k, &mut log, 1, 0), "k-1");
    log.checkpoint(&k).unwrap();
    log.close().unwrap();
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert_eq!(log.order_ids_skipped_through(), None);
    assert_eq!(send_entry(&mut k, &mut log, 2, 1), "k-2");
}

#[test]
fn a_log_its_process_left_without_a_clean_stop_skips_too() {
    // A crash of the process loses no order's record, but the log cannot tell it from a crash
    // of the machine: neither writes the clean-stop file.
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    let seed = KernelInput::SeedCapital(1000.0);
    k.apply(&seed).unwrap();
    log.record(&k, &seed).unwrap();
    assert_eq!(send_entry(&mut k, &mut log, 1, 0), "k-1");
    crash(log, dir.path());
    let (log, k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert_eq!(log.order_ids_skipped_through(), Some(1 + 4096 / 56 + 1));
    assert_eq!(k.seq(), 3, "the skip is an input of its own");
}

#[test]
fn a_log_that_lost_every_record_after_a_periodic_checkpoint_skips_too() {
    // It ends at a checkpoint as a clean stop's log does, but no close said nothing came after.
    let dir = tempfile::tempdir().unwrap();
    let options = KernelLogOptions {
        checkpoint_every: 2,
        ..log_options()
    };
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &options).unwrap();
    let seed = KernelInput::SeedCapital(1000.0);
    k.apply(&seed).unwrap();
    log.record(&k, &seed).unwrap();
    assert_eq!(send_entry(&mut k, &mut log, 1, 0), "k-1");
    log.sync().unwrap();
    assert!(
        dir.path().join(checkpoint_file(2)).exists(),
        "a periodic checkpoint at seq 2"
    );
    let segment = seg(dir.path(), 1);
    let synced = fs::metadata(&segment).unwrap().len();
    assert_eq!(send_entry(&mut k, &mut log, 2, 1), "k-2");
    crash(log, dir.path());
    let file = fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(synced).unwrap();
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &options).unwrap();
    assert_eq!(log.recovery().checkpoint_seq, Some(log.recovery().last_seq));
    assert_ne!(send_entry(&mut k, &mut log, 3, 1), "k-2");
}

#[test]
fn a_clean_stop_is_told_once_the_next_open_may_write_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    drop(log); // as a close does: every record synced, then the clean-stop file
    let (log, _) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert!(log.recovery().clean_stop);
    assert!(
        !dir.path().join("clean-stop").exists(),
        "removed before anything is written"
    );
    crash(log, dir.path());
    let (log, _) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert!(!log.recovery().clean_stop);
}

#[test]
fn a_crash_of_a_writer_that_synced_every_record_skips_no_ids() {
    // Under "always" each record is on disk before its order goes out: a crash loses none.
    let dir = tempfile::tempdir().unwrap();
    let always = KernelLogOptions {
        fsync: FsyncPolicy::Always,
        ..log_options()
    };
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &always).unwrap();
    assert_eq!(send_entry(&mut k, &mut log, 1, 0), "k-1");
    crash(log, dir.path());
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &always).unwrap();
    assert!(log.recovery().synced_always);
    assert_eq!(log.order_ids_skipped_through(), None);
    assert_eq!(send_entry(&mut k, &mut log, 2, 1), "k-2");
}

#[test]
fn a_crash_of_a_batch_writer_after_an_always_one_skips_again() {
    let dir = tempfile::tempdir().unwrap();
    let always = KernelLogOptions {
        fsync: FsyncPolicy::Always,
        ..log_options()
    };
    let (log, _) = KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &always).unwrap();
    drop(log);
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert!(
        !dir.path().join("synced-always").exists(),
        "removed before anything is written"
    );
    assert_eq!(send_entry(&mut k, &mut log, 1, 0), "k-1");
    crash(log, dir.path());
    let (log, _) =
        KernelLog::open(dir.path(), Kernel::new("k", 4).unwrap(), &log_options()).unwrap();
    assert!(!log.recovery().synced_always);
    assert!(log.order_ids_skipped_through().is_some());
}
