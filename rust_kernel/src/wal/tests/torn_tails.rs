//! Torn tails: a write a crash cut short is cut off and reported, and the search for valid
//! records behind damage tells a torn tail from damage.

use super::*;

#[test]
fn torn_tail_at_every_byte_of_the_last_record_recovers_to_the_previous_record() {
    let pristine = log_with(5, options(FsyncPolicy::None));
    let path = seg(pristine.path(), 1);
    let (start, end) = *frames(&path).last().unwrap();
    let full = fs::read(&path).unwrap();
    for cut in start..end {
        let dir = tempfile::tempdir().unwrap();
        fs::write(seg(dir.path(), 1), &full[..cut]).unwrap();
        let (mut wal, report, (_, recs)) =
            open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
        assert_eq!(
            recs.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 2, 3, 4],
            "cut at {cut}"
        );
        assert_eq!(report.last_seq, 4);
        let expected_torn = (cut > start).then(|| TornTail {
            segment: seg(dir.path(), 1),
            offset: start as u64,
            bytes_dropped: (cut - start) as u64,
            seq: 5,
        });
        assert_eq!(report.torn_tail, expected_torn, "cut at {cut}");
        // The log is usable again: the next record takes seq 5 and the chain verifies.
        assert_eq!(wal.append(5.0, b"again").unwrap(), 5);
        wal.close().unwrap();
        assert_eq!(verify(dir.path()).unwrap().last_seq, 5);
    }
}

#[rstest]
#[case::zero_filled_tail(vec![0u8; 300])]
#[case::garbage_tail(b"\x07\x00\x00\x00 half a record".to_vec())]
fn junk_after_the_last_record_is_a_torn_tail(#[case] junk: Vec<u8>) {
    let dir = log_with(3, options(FsyncPolicy::None));
    let path = seg(dir.path(), 1);
    let good_len = fs::metadata(&path).unwrap().len();
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&junk);
    fs::write(&path, bytes).unwrap();
    // The audit calls it a torn tail too, as recovery judges it: junk after the last record is
    // a write the crash cut short.
    // It names the chain up to the tail, where the open goes on from.
    let audit_head = match verify(dir.path()).unwrap_err() {
        WalError::TornTail {
            offset,
            bytes,
            records,
            head_hash,
            ..
        } => {
            assert_eq!((offset, bytes, records), (good_len, junk.len() as u64, 3));
            head_hash
        }
        other => panic!("unexpected error: {other}"),
    };
    let (_, report, (_, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(audit_head, report.head_hash);
    let torn = report.torn_tail.unwrap();
    assert_eq!(
        (torn.offset, torn.bytes_dropped),
        (good_len, junk.len() as u64)
    );
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        good_len,
        "the torn bytes are cut off"
    );
}

/// The damaged-tail search done the plain way: every offset read as a frame, each checksum
/// computed by reading its span. What `nothing_valid_after` must agree with.
fn nothing_valid_after_by_reading(tail: &[u8], after_seq: u64) -> bool {
    (1..tail.len()).all(|at| match read_frame(&tail[at..]) {
        FrameRead::Frame(f) => f.seq <= after_seq,
        _ => true,
    })
}

fn sealed_frame(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_unsealed_frame(&mut frame, seq, seq as f64, payload);
    seal_frames(&mut frame, [7; 32]);
    frame
}

/// Four bytes whose every copy reads as a length field of 65,536 and a sequence number far
/// above any log's: in a tail of them, every fourth offset names a span of 64 KB to checksum.
const LONG_LENGTHS: [u8; 4] = [0, 0, 1, 0];

#[derive(Debug, Clone)]
enum TailPiece {
    Junk(Vec<u8>),
    /// A frame, cut to its first `keep` bytes and with byte `flip` changed when given.
    Frame {
        seq: u64,
        payload_len: usize,
        keep: Option<usize>,
        flip: Option<usize>,
    },
    LongLengths(usize),
}

fn tail_piece() -> impl Strategy<Value = TailPiece> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(TailPiece::Junk),
        (
            0u64..6,
            prop_oneof![0usize..64, 1000usize..1100, 1500usize..2500],
            proptest::option::of(0usize..2600),
            proptest::option::of(0usize..2600),
        )
            .prop_map(|(seq, payload_len, keep, flip)| TailPiece::Frame {
                seq,
                payload_len,
                keep,
                flip,
            }),
        (1usize..400).prop_map(TailPiece::LongLengths),
    ]
}

fn build_tail(pieces: &[TailPiece]) -> Vec<u8> {
    let mut tail = Vec::new();
    for piece in pieces {
        match piece {
            TailPiece::Junk(bytes) => tail.extend_from_slice(bytes),
            TailPiece::Frame {
                seq,
                payload_len,
                keep,
                flip,
            } => {
                let payload: Vec<u8> = (0..*payload_len).map(|i| (i * 31 + 7) as u8).collect();
                let mut frame = sealed_frame(*seq, &payload);
                if let Some(at) = flip {
                    let at = at % frame.len();
                    frame[at] ^= 0x5a;
                }
                if let Some(keep) = keep {
                    frame.truncate(*keep);
                }
                tail.extend_from_slice(&frame);
            }
            TailPiece::LongLengths(copies) => {
                tail.extend(LONG_LENGTHS.iter().cycle().take(4 * copies));
            }
        }
    }
    tail
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Whatever mix of junk, whole, cut and damaged frames (short and long payloads, so that
    /// both ways of checksumming are taken): the search gives the answer reading does.
    #[test]
    fn the_damaged_tail_search_agrees_with_reading_every_frame(
        pieces in proptest::collection::vec(tail_piece(), 1..8),
        after_seq in 0u64..6,
    ) {
        let tail = build_tail(&pieces);
        prop_assert_eq!(
            nothing_valid_after(&tail, after_seq),
            nothing_valid_after_by_reading(&tail, after_seq)
        );
    }
}

/// The offsets at the very ends of a tail: the first byte after the damage, and the last
/// place a frame (of an empty payload, 56 bytes) can start.
#[rstest]
#[case::a_record_at_the_last_offset(b"\x01\x02\x03".to_vec(), 5, false)]
#[case::a_record_right_after_the_first_byte(Vec::new(), 5, false)]
#[case::an_old_record_at_the_last_offset(b"\x01\x02\x03".to_vec(), 4, true)]
#[case::a_record_cut_by_one_byte(b"\x01\x02\x03".to_vec(), 5, true)]
fn a_record_at_either_end_of_the_tail_is_found(
    #[case] junk: Vec<u8>,
    #[case] seq: u64,
    #[case] nothing_valid: bool,
) {
    let mut tail = vec![0xEE];
    tail.extend_from_slice(&junk);
    let mut frame = sealed_frame(seq, b"");
    if nothing_valid && seq > 4 {
        frame.pop();
    }
    tail.extend_from_slice(&frame);
    assert_eq!(nothing_valid_after(&tail, 4), nothing_valid);
    assert_eq!(nothing_valid_after_by_reading(&tail, 4), nothing_valid);
}

#[rstest]
#[case::nothing_behind(false)]
#[case::a_long_record_behind(true)]
fn a_long_tail_of_fitting_length_fields_is_cut_as_torn_or_refused_behind_a_record(
    #[case] record_behind: bool,
) {
    // 256 KB of four-byte copies whose length fields all fit, each candidate a span of 64 KB
    // (read span by span, the search would checksum 4 GB). A damaged record first, so the
    // search runs; with a good record at seq 5 behind it (a span checksummed from the
    // prefixes), the log must be refused.
    let dir = log_with(4, options(FsyncPolicy::None));
    let path = seg(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let good_len = bytes.len();
    let mut damaged = sealed_frame(5, b"damaged");
    damaged[FRAME_HEADER_BYTES] ^= 0x5a;
    bytes.extend_from_slice(&damaged);
    bytes.extend(LONG_LENGTHS.iter().cycle().take(256 << 10));
    if record_behind {
        bytes.extend_from_slice(&sealed_frame(5, &vec![9u8; 4000]));
    }
    fs::write(&path, &bytes).unwrap();
    let opened = open_collect(dir.path(), options(FsyncPolicy::None));
    if record_behind {
        match opened.map(|_| ()).unwrap_err() {
            WalError::Corrupt { offset, seq, .. } => {
                assert_eq!((offset, seq), (good_len as u64, Some(5)));
            }
            other => panic!("expected Corrupt, got {other}"),
        }
        assert_eq!(fs::read(&path).unwrap(), bytes, "refusing changed nothing");
    } else {
        let (_, report, (_, recs)) = opened.unwrap();
        assert_eq!(recs.len(), 4);
        let torn = report.torn_tail.unwrap();
        assert_eq!(
            (torn.offset, torn.bytes_dropped),
            (good_len as u64, (bytes.len() - good_len) as u64)
        );
    }
}

#[test]
fn read_only_replay_reports_a_torn_tail_and_leaves_it_on_disk() {
    let dir = log_with(4, options(FsyncPolicy::None));
    let path = seg(dir.path(), 1);
    let (start, end) = *frames(&path).last().unwrap();
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..end - 3]).unwrap();
    let mut seqs = Vec::new();
    let report = read_only_replay(dir.path(), |item| {
        if let Replay::Record(r) = item {
            seqs.push(r.seq);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(report.torn_tail.map(|t| t.offset), Some(start as u64));
    assert_eq!(fs::metadata(&path).unwrap().len() as usize, end - 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Cutting the single segment at any length keeps exactly the records wholly before the
    /// cut; everything after is reported as one torn tail.
    #[test]
    fn any_truncation_keeps_the_complete_records(n in 1u64..12, cut_frac in 0.0f64..1.0) {
        let pristine = log_with(n, options(FsyncPolicy::None));
        let path = seg(pristine.path(), 1);
        let bytes = fs::read(&path).unwrap();
        let f = frames(&path);
        let header_len = f[0].0;
        let cut = header_len + ((bytes.len() - header_len) as f64 * cut_frac) as usize;
        let dir = tempfile::tempdir().unwrap();
        fs::write(seg(dir.path(), 1), &bytes[..cut]).unwrap();
        let (_, report, (_, recs)) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
        let whole = f.iter().filter(|(_, end)| *end <= cut).count();
        prop_assert_eq!(recs.len(), whole);
        let boundary = f.iter().any(|(start, _)| *start == cut) || cut == bytes.len() || cut == header_len;
        prop_assert_eq!(report.torn_tail.is_some(), !boundary);
    }
}
