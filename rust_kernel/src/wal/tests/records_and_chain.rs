//! Records and their chain: what is appended comes back in order, sequence numbers and
//! hashes run on across reopens, and bad options, appends and replays are refused by name.

use super::*;

#[rstest]
#[case(FsyncPolicy::Always)]
#[case(FsyncPolicy::DEFAULT_BATCH)]
#[case(FsyncPolicy::Batch { max_records: 3, max_delay: Duration::from_millis(1) })]
#[case(FsyncPolicy::None)]
fn records_come_back_in_order_after_reopen(#[case] fsync: FsyncPolicy) {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, report, (ckpt, recs)) = open_collect(dir.path(), options(fsync)).unwrap();
    assert!(ckpt.is_none() && recs.is_empty());
    assert_eq!(report.last_seq, 0);
    for i in 1..=100u64 {
        wal.append(1000.0 + i as f64, &payload(i)).unwrap();
    }
    let head = wal.head_hash();
    drop(wal);
    let (wal, report, (ckpt, recs)) = open_collect(dir.path(), options(fsync)).unwrap();
    assert!(ckpt.is_none());
    assert_eq!(recs.len(), 100);
    for (i, (seq, ts, p)) in recs.iter().enumerate() {
        let i = i as u64 + 1;
        assert_eq!((*seq, *ts, p.clone()), (i, 1000.0 + i as f64, payload(i)));
    }
    assert_eq!(
        (report.last_seq, report.replayed_records, report.head_hash),
        (100, 100, head.unwrap())
    );
    assert_eq!(wal.head_hash(), head);
    assert!(report.torn_tail.is_none());
}

#[test]
fn reopened_log_continues_the_chain() {
    let dir = log_with(10, options(FsyncPolicy::None));
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(wal.append(11.0, b"eleven").unwrap(), 11);
    wal.close().unwrap();
    let audit = verify(dir.path()).unwrap();
    assert_eq!(
        (audit.records, audit.first_seq, audit.last_seq),
        (11, 1, 11)
    );
    assert_eq!(audit.kernel_id, "kernel-a");
}

#[rstest]
#[case::kernel_id_empty(WalOptions::new(""), "kernel_id")]
#[case::segment_too_small(WalOptions::new("k").with_segment_bytes(10), "segment_bytes")]
#[case::batch_of_zero(
    WalOptions::new("k").with_fsync(FsyncPolicy::Batch { max_records: 0, max_delay: Duration::from_millis(1) }),
    "fsync.max_records"
)]
fn bad_options_are_refused_naming_the_field(#[case] opts: WalOptions, #[case] field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let err = open_collect(dir.path(), opts).unwrap_err();
    assert!(
        matches!(err, WalError::InvalidOption { .. }) && err.to_string().contains(field),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

#[test]
fn bad_appends_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    wal.append(1.0, b"ok").unwrap();
    let head = wal.head_hash();
    for ts in [f64::NAN, f64::INFINITY] {
        let err = wal.append(ts, b"x").unwrap_err();
        assert!(err.to_string().contains("timestamp"), "{err}");
    }
    assert_eq!((wal.last_seq(), wal.head_hash()), (1, head));
    assert_eq!(wal.append(2.0, b"next").unwrap(), 2);
}

#[test]
fn a_failing_replay_aborts_open_naming_the_record() {
    let dir = log_with(5, options(FsyncPolicy::None));
    let err = Wal::open(dir.path(), options(FsyncPolicy::None), |item| match item {
        Replay::Record(r) if r.seq == 3 => Err("cannot decode".into()),
        _ => Ok(()),
    })
    .unwrap_err();
    assert!(matches!(err, WalError::Replay { seq: 3, .. }), "{err}");
    assert!(err.to_string().contains("cannot decode"));
}

#[test]
fn a_record_the_replay_refuses_is_named_by_its_segment_and_byte_offset() {
    let dir = log_with(5, options(FsyncPolicy::None));
    let at = frames(&seg(dir.path(), 1))[2].0;
    let err = Wal::open(dir.path(), options(FsyncPolicy::None), |item| match item {
        Replay::Record(r) if r.seq == 3 => Err("cannot decode".into()),
        _ => Ok(()),
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "replaying record seq 3 ({} at byte offset {at}) failed: cannot decode",
            seg(dir.path(), 1).display()
        )),
        "{text}"
    );
}

#[test]
fn a_record_at_the_last_sequence_number_is_refused_not_overflowed() {
    // A checkpoint at seq 2^64-2 and a record at 2^64-1 after it (a buggy or newer writer's,
    // checksums and chain fine): the record's successor seq would overflow.
    let dir = tempfile::tempdir().unwrap();
    let prev = [7u8; 32];
    let path = seg(dir.path(), u64::MAX);
    let mut bytes = format::encode_segment_header("kernel-a", u64::MAX, &prev, 0);
    let header_len = bytes.len();
    let mut frame = Vec::new();
    format::encode_unsealed_frame(&mut frame, u64::MAX, 1.0, b"last");
    format::seal_frames(&mut frame, prev);
    bytes.extend_from_slice(&frame);
    fs::write(&path, bytes).unwrap();
    let checkpoint = format::encode_checkpoint(
        "kernel-a",
        u64::MAX - 1,
        &prev,
        u64::MAX,
        header_len as u64,
        0.0,
        0,
        b"state",
    );
    fs::write(dir.path().join(checkpoint_file(u64::MAX - 1)), checkpoint).unwrap();
    let err = open_collect(dir.path(), options(FsyncPolicy::None))
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(err, WalError::Corrupt { ref file, .. } if *file == path),
        "{err}"
    );
    assert!(err.to_string().contains("18446744073709551615"), "{err}");
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    Checkpoint,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..120).prop_map(Op::Append),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever mix of appends, checkpoints and reopens: reopening yields the newest
    /// checkpoint's state plus exactly the records appended after it, and the audit walk
    /// counts every record.
    #[test]
    fn reopen_returns_what_was_appended(ops in proptest::collection::vec(op(), 1..80), segment_bytes in 1024u64..4096) {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(FsyncPolicy::None).with_segment_bytes(segment_bytes);
        let mut all: Vec<Vec<u8>> = Vec::new();
        let mut last_checkpoint: Option<u64> = None;
        let (mut wal, _, _) = open_collect(dir.path(), opts.clone()).unwrap();
        for op in ops {
            match op {
                Op::Append(p) => {
                    all.push(p.clone());
                    prop_assert_eq!(wal.append(all.len() as f64, &p).unwrap(), all.len() as u64);
                }
                Op::Checkpoint => {
                    let seq = all.len() as u64;
                    wal.checkpoint(seq, &seq.to_le_bytes()).unwrap();
                    last_checkpoint = Some(seq);
                }
                Op::Reopen => {
                    drop(wal);
                    let (w, report, (ckpt, recs)) = open_collect(dir.path(), opts.clone()).unwrap();
                    wal = w;
                    let from = last_checkpoint.unwrap_or(0);
                    prop_assert_eq!(ckpt.map(|c| c.0), last_checkpoint);
                    let expected: Vec<(u64, Vec<u8>)> =
                        all.iter().enumerate().skip(from as usize).map(|(i, p)| (i as u64 + 1, p.clone())).collect();
                    let got: Vec<(u64, Vec<u8>)> = recs.into_iter().map(|(s, _, p)| (s, p)).collect();
                    prop_assert_eq!(got, expected);
                    prop_assert_eq!(report.last_seq, all.len() as u64);
                }
            }
        }
        drop(wal);
        let audit = verify(dir.path()).unwrap();
        prop_assert_eq!(audit.records, all.len() as u64);
    }
}
