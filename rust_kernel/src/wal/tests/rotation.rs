//! Rotation: segments sealed by size and replayed across, and a rotation that fails after
//! its record is on stable storage.

use super::*;

#[test]
fn segments_rotate_by_size_and_replay_across_them() {
    let opts = options(FsyncPolicy::None).with_segment_bytes(1024);
    let dir = log_with(200, opts.clone());
    let segments = fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".wal")
        })
        .count();
    assert!(
        segments > 10,
        "expected many 1 KiB segments, found {segments}"
    );
    let (_, report, (_, recs)) = open_collect(dir.path(), opts).unwrap();
    assert_eq!(recs.len(), 200);
    assert_eq!(report.segments, segments);
    let audit = verify(dir.path()).unwrap();
    assert_eq!((audit.records, audit.segments), (200, segments));
}

/// The seq of the record that fills the first segment when `record(i)` appends record `i`
/// of a new log in `dir`: the next segment starts after it.
fn first_rotation(dir: &Path, mut record: impl FnMut(u64)) -> u64 {
    (1..)
        .find(|&i| {
            record(i);
            seg(dir, i + 1).exists()
        })
        .unwrap()
}

#[test]
fn an_always_record_synced_before_the_next_segment_fails_to_start_is_reported_logged() {
    // The rotation after a record syncs it, then starts the next segment. When that fails,
    // the record is logged all the same: a caller told otherwise would drop its outcome or
    // send it again, and a restart replays it. The log refuses the next append instead.
    let opts = options(FsyncPolicy::Always).with_segment_bytes(1024);
    let scratch = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(scratch.path(), opts.clone()).unwrap();
    let last = first_rotation(scratch.path(), |i| {
        wal.append(i as f64, &payload(i)).unwrap();
    });
    drop(wal);

    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), opts.clone()).unwrap();
    let in_the_way = dir.path().join(format!("{}.tmp", segment_name(last + 1)));
    fs::create_dir(&in_the_way).unwrap();
    for i in 1..last {
        assert_eq!(wal.append(i as f64, &payload(i)).unwrap(), i);
    }
    assert_eq!(
        wal.append(last as f64, &payload(last)).unwrap(),
        last,
        "the record is on stable storage"
    );
    assert_eq!(wal.durable_seq(), last);
    assert!(wal.failure().is_some(), "the failed rotation is kept");
    assert!(matches!(
        wal.append(0.0, b"next"),
        Err(WalError::Poisoned(_))
    ));
    drop(wal);
    fs::remove_dir(&in_the_way).unwrap();
    let (_, report, (_, records)) = open_collect(dir.path(), opts).unwrap();
    assert_eq!((report.last_seq, records.len() as u64), (last, last));
}

#[test]
fn a_kernel_input_logged_before_the_next_segment_fails_to_start_is_reported_recorded() {
    // With a checkpoint due at that record, the failed log refuses the checkpoint; `record`
    // still reports the input recorded, since a restart applies it.
    let options = KernelLogOptions {
        fsync: FsyncPolicy::Always,
        checkpoint_every: 1,
        segment_bytes: 1024,
    };
    let mark = |n: u64| KernelInput::MarkPrice {
        asset: crate::types::id("BTCUSDT"),
        price: 100.0 + n as f64,
        ts: n as f64,
    };
    let apply = |k: &mut Kernel, n: u64| {
        let input = mark(n);
        k.apply(&input).unwrap();
        assert_eq!(k.seq(), n, "each mark is an input the kernel records");
        input
    };
    let scratch = tempfile::tempdir().unwrap();
    let (mut log, mut k) =
        KernelLog::open(scratch.path(), Kernel::new("k", 2).unwrap(), &options).unwrap();
    let last = first_rotation(scratch.path(), |n| {
        let input = apply(&mut k, n);
        log.record(&k, &input).unwrap();
    });
    drop(log);

    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("k", 2).unwrap(), &options).unwrap();
    let in_the_way = dir.path().join(format!("{}.tmp", segment_name(last + 1)));
    fs::create_dir(&in_the_way).unwrap();
    for n in 1..=last {
        let input = apply(&mut k, n);
        assert_eq!(log.record(&k, &input).unwrap(), n);
    }
    assert!(log.wal().failure().is_some(), "the next input is refused");
    drop(log);
    fs::remove_dir(&in_the_way).unwrap();
    let (reopened, restored) =
        KernelLog::open(dir.path(), Kernel::new("k", 2).unwrap(), &options).unwrap();
    assert_eq!(reopened.recovery().last_seq, last);
    // The failed log stopped uncleanly, but synced each record as it was appended ("always"):
    // no record of an order sent was lost, and the open skips no ids.
    assert!(!reopened.recovery().clean_stop);
    assert_eq!(reopened.order_ids_skipped_through(), None);
    assert_eq!(restored.state_difference(&k), None);
}

#[test]
fn a_log_whose_newest_segment_is_lost_reports_its_full_last_segment() {
    let opts = options(FsyncPolicy::None).with_segment_bytes(1024);
    let dir = log_with(200, opts.clone());
    let segments = scan::list_dir(dir.path()).unwrap().segments;
    let (_, newest) = segments.last().unwrap();
    fs::remove_file(newest).unwrap();
    let (_, before) = &segments[segments.len() - 2];
    let (_, report, _) = open_collect(dir.path(), opts).unwrap();
    let full = report
        .full_last_segment
        .expect("the last segment present is full");
    assert_eq!(
        (&full.segment, full.bytes, full.segment_bytes),
        (before, fs::metadata(before).unwrap().len(), 1024)
    );
}

#[rstest]
#[case::with_room(1 << 20, 1 << 20)]
// A segment written with larger segments passed the open's size before its last record.
#[case::grown_past_a_smaller_size(1 << 20, 1024)]
fn a_last_segment_its_last_record_did_not_fill_is_not_reported_full(
    #[case] written_with: u64,
    #[case] opened_with: u64,
) {
    let dir = log_with(
        200,
        options(FsyncPolicy::None).with_segment_bytes(written_with),
    );
    let opts = options(FsyncPolicy::None).with_segment_bytes(opened_with);
    let (_, report, _) = open_collect(dir.path(), opts).unwrap();
    assert_eq!(report.full_last_segment, None);
}
