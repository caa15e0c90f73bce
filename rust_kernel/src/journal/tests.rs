//! The outbox's tests: what a take, a drain, a drop and a discard leave, and how segments
//! are filled, handed out and pooled; and the rows and outboxes the journal's tests share.

use super::pool::POOLED_SEGMENTS;
use super::row_buf::{ROW_ROOM, SEGMENT_ROWS};
use super::*;

/// A control change of input `seq`.
fn control(o: &mut Outbox, seq: u64) {
    o.record_control(
        seq,
        &ControlRow {
            ts: seq as f64,
            mode: ControlMode::Paper,
            verbosity: Verbosity::Normal,
            debug_clickhouse_enabled: true,
            source: String::new(),
        },
    );
}

/// A transition of input `seq`, with details of every kind.
pub(super) fn transition(o: &mut Outbox, seq: u64) {
    let t = KernelTransition {
        timestamp: 0.5,
        trade_id: id("t"),
        slot_id: 0,
        prev_state: TradeStage::Idle,
        next_state: TradeStage::OrderRequested,
        trigger: "ENTER",
        intent_id: id("i"),
        event_id: id(""),
        details: vec![
            ("qty", Detail::F64(0.25)),
            ("n", Detail::I64(-3)),
            ("ok", Detail::Bool(true)),
            ("why", Detail::Static("stale")),
            ("id", Detail::Id(id("c-é"))),
            ("text", Detail::Str("a\"b".into())),
        ]
        .into(),
    };
    o.record_transition(seq, &t);
}

/// seq 1..=n, each with one control row and `per_seq - 1` transitions.
fn outbox(n: u64, per_seq: usize) -> Outbox {
    let mut o = Outbox::default();
    for seq in 1..=n {
        control(&mut o, seq);
        for _ in 1..per_seq {
            transition(&mut o, seq);
        }
    }
    o
}

/// The `(seq, sub)` of every row of `b`.
fn keys(b: &RowBuf) -> Vec<(u64, u32)> {
    (0..b.len()).map(|i| b.key(i)).collect()
}

/// The seqs of the rows of `bufs` (drained tables, or taken segments flattened), sorted.
fn seqs<'a>(bufs: impl IntoIterator<Item = &'a RowBuf>) -> Vec<u64> {
    let mut s: Vec<u64> = bufs
        .into_iter()
        .flat_map(|b| (0..b.len()).map(|i| b.seq(i)))
        .collect();
    s.sort();
    s
}

/// Every value of row `i` as text, for comparisons.
pub(super) fn values(b: &RowBuf, table: usize, i: usize) -> Vec<String> {
    let mut out = Vec::new();
    b.visit(table, i, &mut |v| {
        out.push(match v {
            Value::Details(d) => d.to_json(),
            other => format!("{other:?}"),
        })
    });
    out
}

/// An outbox with a pool of its own, so what a test sees in it is its own doing.
pub(super) fn own_pool(capacity: usize) -> Outbox {
    Outbox {
        capacity,
        pool: Box::leak(Box::new(SegmentPool::new())),
        ..Outbox::default()
    }
}

/// Records one transition per seq, from `seq + 1` on, until the transitions span
/// `segments` segments; returns the last seq recorded.
fn fill_segments(o: &mut Outbox, mut seq: u64, segments: usize) -> u64 {
    while o.tables[TRANSITIONS].len() < segments {
        seq += 1;
        transition(o, seq);
    }
    seq
}

/// Where each segment of `table` keeps its bytes.
fn addresses(o: &Outbox, table: usize) -> Vec<*const u8> {
    o.tables[table].iter().map(|s| s.bytes.as_ptr()).collect()
}

#[test]
fn taking_everything_hands_over_each_table_in_order() {
    let mut o = outbox(3, 3);
    let tables = o.drain_tables(100);
    assert!(o.is_empty());
    assert_eq!(keys(&tables[CONTROL_CHANGES]), [(1, 0), (2, 0), (3, 0)]);
    assert_eq!(
        keys(&tables[TRANSITIONS]),
        [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)],
        "numbered per table within a seq"
    );
    assert!(tables[FILLS].is_empty() && tables[INTENTS].is_empty());
}

#[test]
fn a_partial_drain_ends_on_a_whole_seq() {
    let mut o = outbox(10, 3);
    // 7 rows allowed: seqs 1 and 2 (6 rows); seq 3 would make 9.
    let taken = o.drain_tables(7);
    assert_eq!(seqs(&taken), [1, 1, 1, 2, 2, 2]);
    assert_eq!(o.len(), 24);
    // Fewer rows allowed than the oldest seq holds: that seq still goes out whole.
    let taken = o.drain_tables(2);
    assert_eq!(seqs(&taken), [3, 3, 3]);
    assert_eq!(o.len(), 21);
    assert_eq!(seqs(&o.drain_tables(usize::MAX)).first(), Some(&4));
}

#[test]
fn discard_from_forgets_the_newest_inputs_rows_across_segments() {
    let mut o = Outbox {
        enabled: true,
        ..Outbox::default()
    };
    for seq in 1..=3 {
        transition(&mut o, seq);
        control(&mut o, seq);
    }
    // Enough rows of seq 4 to run over into further segments.
    for _ in 0..5000 {
        transition(&mut o, 4);
    }
    control(&mut o, 4);
    assert!(o.tables[TRANSITIONS].len() > 1);
    assert_eq!(o.discard_from(4), 5001);
    assert_eq!((o.len(), o.queued_total), (6, 6));
    assert_eq!(o.tables[TRANSITIONS].len(), 1);
    assert_eq!(o.discard_from(9), 0);
    assert_eq!(seqs(&o.drain_tables(usize::MAX)), [1, 1, 2, 2, 3, 3]);
}

#[test]
fn a_full_outbox_drops_the_oldest_row_of_any_table_and_counts_it() {
    let mut o = Outbox {
        capacity: 4,
        ..Outbox::default()
    };
    transition(&mut o, 1);
    control(&mut o, 2);
    transition(&mut o, 3);
    control(&mut o, 4);
    control(&mut o, 5);
    assert_eq!((o.len(), o.dropped, o.queued_total), (4, 1, 5));
    assert_eq!(o.first_seq(), Some(2), "a dropped row is not held");
    assert_eq!(
        seqs(&o.drain_tables(100)),
        [2, 3, 4, 5],
        "seq 1 was the oldest"
    );
    assert_eq!(o.first_seq(), None);
}

#[test]
fn a_full_outbox_drops_whole_inputs_but_never_the_one_being_recorded() {
    let mut o = Outbox {
        capacity: 4,
        ..Outbox::default()
    };
    for _ in 0..3 {
        transition(&mut o, 1);
    }
    control(&mut o, 2);
    control(&mut o, 3); // full: all three rows of input 1 go
    assert_eq!((o.len(), o.dropped, o.first_seq()), (2, 3, Some(2)));
    assert_eq!(o.first_dropped_seq, Some(1));
    for _ in 0..5 {
        transition(&mut o, 4); // input 4 pushes out 2 and 3, then outgrows the capacity
    }
    assert_eq!((o.len(), o.dropped, o.first_seq()), (5, 5, Some(4)));
    control(&mut o, 5);
    assert_eq!((o.len(), o.dropped), (1, 10));
    assert_eq!(
        o.first_dropped_seq,
        Some(1),
        "the oldest drop is what a journal needs"
    );
    assert_eq!(seqs(&o.drain_tables(100)), [5]);
    control(&mut o, 6);
    o.restart();
    assert_eq!(
        (o.len(), o.first_seq(), o.first_dropped_seq),
        (0, None, None)
    );
    control(&mut o, 7);
    assert_eq!(seqs(&o.drain_tables(100)), [7]);
}

#[test]
fn a_cleared_drop_mark_stays_clear_for_the_inputs_it_covers() {
    let mut o = Outbox {
        capacity: 2,
        ..Outbox::default()
    };
    for seq in 1..=3 {
        control(&mut o, seq); // input 1 dropped
    }
    assert_eq!(o.first_dropped_seq, Some(1));
    o.clear_drop_mark(3); // rows of 1..=3 come from the log now
    assert_eq!(o.first_dropped_seq, None);
    control(&mut o, 4); // drops input 2: covered, not marked
    assert_eq!((o.first_dropped_seq, o.first_seq()), (None, Some(3)));
    control(&mut o, 5); // drops 3, covered
    control(&mut o, 6); // drops 4: not covered
    assert_eq!((o.dropped, o.first_dropped_seq), (4, Some(4)));
    o.clear_drop_mark(2); // an older span never lowers what is covered
    control(&mut o, 7); // drops 5
    assert_eq!(o.first_dropped_seq, Some(5));
}

#[test]
fn a_full_segment_is_never_regrown_the_next_row_starts_a_new_one() {
    let mut o = own_pool(usize::MAX);
    // Every segment keeps the memory it started with while its rows are added.
    let mut seen: Vec<*const u8> = Vec::new();
    let mut seq = 0;
    while o.tables[TRANSITIONS].len() < 4 {
        seq += 1;
        transition(&mut o, seq);
        let segments = &o.tables[TRANSITIONS];
        let back = segments.last().unwrap();
        assert!(back.is_segment(), "row {seq}: the sizes it was made with");
        match seen.get(segments.len() - 1) {
            Some(&at) => assert_eq!(back.bytes.as_ptr(), at, "row {seq} moved its segment"),
            None => seen.push(back.bytes.as_ptr()),
        }
    }
    assert_eq!(addresses(&o, TRANSITIONS), seen);
    for full in &o.tables[TRANSITIONS][..3] {
        assert!(
            full.bytes.len() + ROW_ROOM > SEGMENT_BYTES,
            "a segment is left only when full: {} bytes",
            full.bytes.len()
        );
    }
    // Short rows run out of row starts first: the segment ends there, bytes to spare.
    let mut seq = 0;
    while o.tables[CONTROL_CHANGES].len() < 2 {
        seq += 1;
        control(&mut o, seq);
    }
    let first = &o.tables[CONTROL_CHANGES][0];
    assert_eq!(first.len(), SEGMENT_ROWS);
    assert!(first.is_segment() && first.bytes.len() + ROW_ROOM <= SEGMENT_BYTES);
    let all = o.drain_tables(usize::MAX);
    assert_eq!(
        all[TRANSITIONS].len() + all[CONTROL_CHANGES].len(),
        o.queued_total as usize
    );
    assert_eq!(seqs(&all).len(), o.queued_total as usize);
}

#[test]
fn a_whole_take_hands_out_the_segments_and_a_partial_one_copies_at_most_one() {
    let mut o = own_pool(usize::MAX);
    let last = fill_segments(&mut o, 0, 4);
    let at = addresses(&o, TRANSITIONS);
    let lens: Vec<usize> = o.tables[TRANSITIONS].iter().map(RowBuf::len).collect();
    // The cut falls in the middle of the third segment.
    let max_rows = lens[0] + lens[1] + lens[2] / 2;
    let taken = o.take_rows(max_rows);
    let part = &taken[TRANSITIONS];
    assert_eq!(part.len(), 3);
    assert_eq!(
        [part[0].bytes.as_ptr(), part[1].bytes.as_ptr()],
        [at[0], at[1]],
        "the segments below the cut go out as they are"
    );
    assert_ne!(
        part[2].bytes.as_ptr(),
        at[2],
        "the rows below the cut are a copy"
    );
    assert_eq!(part[2].len(), lens[2] / 2);
    assert_eq!(
        seqs(taken.iter().flatten()),
        (1..=max_rows as u64).collect::<Vec<u64>>()
    );
    // The segment the cut fell in keeps the rest of its rows where they are.
    assert_eq!(addresses(&o, TRANSITIONS), at[2..]);
    assert_eq!(o.tables[TRANSITIONS][0].len(), lens[2] - lens[2] / 2);
    assert_eq!(o.len(), lens[2] - lens[2] / 2 + lens[3]);
    assert_eq!(o.first_seq(), Some(max_rows as u64 + 1));
    // Taking everything hands out every segment, copying nothing.
    let rest = o.take_rows(usize::MAX);
    let rest_at: Vec<*const u8> = rest[TRANSITIONS].iter().map(|s| s.bytes.as_ptr()).collect();
    assert_eq!(rest_at, at[2..]);
    assert_eq!(
        seqs(rest.iter().flatten()),
        (max_rows as u64 + 1..=last).collect::<Vec<u64>>()
    );
    assert!(o.is_empty() && o.tables.iter().all(Vec::is_empty));
}

#[test]
fn a_take_through_a_seq_leaves_the_later_inputs_whole() {
    let mut o = own_pool(usize::MAX);
    let last = fill_segments(&mut o, 0, 2);
    let held = o.len();
    // Nothing yet in the log: nothing taken, not even the oldest input.
    assert!(o
        .take_rows_through(usize::MAX, Some(0))
        .iter()
        .all(Vec::is_empty));
    assert_eq!(o.len(), held);
    let taken = o.take_rows_through(usize::MAX, Some(last / 2));
    assert_eq!(
        seqs(taken.iter().flatten()),
        (1..=last / 2).collect::<Vec<u64>>()
    );
    assert_eq!(o.first_seq(), Some(last / 2 + 1));
    // Bounded by both: the fewer rows win.
    let taken = o.take_rows_through(3, Some(last));
    assert_eq!(
        seqs(taken.iter().flatten()),
        (last / 2 + 1..=last / 2 + 3).collect::<Vec<u64>>()
    );
    // Past the newest input: everything left, as take_rows.
    let rest = o.take_rows_through(usize::MAX, Some(last + 10));
    assert_eq!(
        seqs(rest.iter().flatten()),
        (last / 2 + 4..=last).collect::<Vec<u64>>()
    );
    assert!(o.is_empty());
}

#[test]
fn a_take_never_splits_an_input_whose_rows_span_segments() {
    let mut o = own_pool(usize::MAX);
    // Inputs 1..=before fill the first segment; the next one's rows fill the second
    // and run into the third, where one more input follows.
    let spanning = fill_segments(&mut o, 0, 2);
    let before = spanning - 1;
    control(&mut o, spanning);
    while o.tables[TRANSITIONS].len() < 3 {
        transition(&mut o, spanning);
    }
    let spanning_rows = o.len() - before as usize;
    transition(&mut o, spanning + 1);
    // Allowed all but one row of the spanning input: the take ends before it.
    let taken = o.take_rows(before as usize + spanning_rows - 1);
    assert_eq!(
        seqs(taken.iter().flatten()),
        (1..=before).collect::<Vec<u64>>()
    );
    assert_eq!(o.first_seq(), Some(spanning));
    // Allowed fewer rows than it alone has: it goes out whole, over both segments.
    let taken = o.take_rows(1);
    assert_eq!(seqs(taken.iter().flatten()), vec![spanning; spanning_rows]);
    assert_eq!(
        taken[TRANSITIONS].len(),
        2,
        "the second segment whole, a copy of the third's first row"
    );
    assert_eq!(taken[TRANSITIONS][1].len(), 1);
    assert_eq!((o.len(), o.first_seq()), (1, Some(spanning + 1)));
}

#[test]
fn small_takes_from_a_large_outbox_pass_over_rows_instead_of_moving_the_rest() {
    let mut o = own_pool(usize::MAX);
    let last = fill_segments(&mut o, 0, 3);
    let at = addresses(&o, TRANSITIONS);
    let mut seen = Vec::new();
    // A journal behind takes 10 rows at a time: each take copies those rows, at most
    // two segments' worth of them, and every row left stays where it was written.
    while !o.is_empty() {
        let taken = o.take_rows(10);
        assert!(taken[TRANSITIONS].len() <= 2);
        seen.extend(seqs(taken.iter().flatten()));
        let left = addresses(&o, TRANSITIONS);
        assert_eq!(left, at[at.len() - left.len()..]);
    }
    // Rows come out whole, once, in order, whatever was handed out in between.
    assert_eq!(seen, (1..=last).collect::<Vec<u64>>());
    transition(&mut o, last + 1);
    assert_eq!(seqs(&o.drain_tables(usize::MAX)), [last + 1]);
}

#[test]
fn a_full_outbox_nobody_drains_holds_its_capacity_and_a_segment_per_table() {
    let mut o = own_pool(5_000);
    let mut most = 0;
    for seq in 1..=40_000 {
        transition(&mut o, seq);
        // Rows still in memory, live or passed over.
        let held: usize = o.tables[TRANSITIONS].iter().map(|s| s.starts.len()).sum();
        most = most.max(held);
    }
    assert_eq!((o.len(), o.dropped), (5_000, 35_000));
    let per_segment = o.tables[TRANSITIONS][0].starts.len();
    assert!(
        most <= 5_000 + per_segment,
        "{most} rows held for 5,000 live, {per_segment} a segment"
    );
    let left = o.drain_tables(usize::MAX);
    assert_eq!(seqs(&left), (35_001..=40_000).collect::<Vec<u64>>());
}

#[test]
fn a_segment_emptied_by_drops_goes_back_to_the_pool_for_the_next_rows() {
    let per_segment = fill_segments(&mut own_pool(usize::MAX), 0, 2) - 1;
    let capacity = per_segment / 2;
    let mut o = own_pool(capacity as usize);
    // Full from input `capacity` on: each input drops the oldest. The first segment
    // now holds only its last row; the second has room.
    let mut seq = per_segment + capacity - 1;
    for s in 1..=seq {
        transition(&mut o, s);
    }
    let at = addresses(&o, TRANSITIONS);
    assert_eq!((at.len(), o.tables[TRANSITIONS][0].len()), (2, 1));
    assert_eq!(o.pool.held(), 0);
    seq += 1;
    transition(&mut o, seq);
    assert_eq!(o.dropped, per_segment);
    assert_eq!(o.pool.held(), 1, "the emptied segment");
    assert_eq!(addresses(&o, TRANSITIONS), at[1..]);
    // When the second is full, the table goes on in the first one's memory.
    let last = fill_segments(&mut o, seq, 2);
    assert_eq!(addresses(&o, TRANSITIONS), [at[1], at[0]]);
    assert_eq!(o.pool.held(), 0);
    assert_eq!(o.first_seq(), Some(last - capacity + 1));
    assert_eq!(
        seqs(&o.drain_tables(usize::MAX)),
        (last - capacity + 1..=last).collect::<Vec<u64>>()
    );
    // A table's only segment goes back too, emptied by a row of another table.
    let mut one = own_pool(2);
    control(&mut one, 1);
    transition(&mut one, 2);
    transition(&mut one, 3);
    assert_eq!((one.dropped, one.pool.held()), (1, 1));
    assert!(one.tables[CONTROL_CHANGES].is_empty());
    assert_eq!(one.first_seq(), Some(2));
}

#[test]
fn a_row_larger_than_its_segments_room_regrows_it_once_and_ends_it() {
    let mut o = own_pool(usize::MAX);
    transition(&mut o, 1);
    control(&mut o, 1);
    let source = "x".repeat(SEGMENT_BYTES + 100);
    o.record_control(
        2,
        &ControlRow {
            ts: 2.0,
            mode: ControlMode::Paper,
            verbosity: Verbosity::Normal,
            debug_clickhouse_enabled: true,
            source: source.clone(),
        },
    );
    control(&mut o, 3);
    control(&mut o, 4);
    let segments = &o.tables[CONTROL_CHANGES];
    assert_eq!(
        segments.iter().map(RowBuf::len).collect::<Vec<_>>(),
        [2, 2],
        "the rows after it start a new segment"
    );
    assert!(
        !segments[0].is_segment(),
        "it regrew the segment it started in"
    );
    assert!(segments[1].is_segment());
    assert_eq!(
        values(&segments[0], CONTROL_CHANGES, 1)[6],
        format!("Str({source:?})")
    );
    // A take whose cut falls after it hands its segment out as it is.
    let big = segments[0].bytes.as_ptr();
    let taken = o.take_rows(3);
    assert_eq!(seqs(taken.iter().flatten()), [1, 1, 2]);
    assert_eq!(taken[CONTROL_CHANGES].len(), 1);
    assert_eq!(taken[CONTROL_CHANGES][0].bytes.as_ptr(), big);
    assert_eq!(seqs(o.take_rows(usize::MAX).iter().flatten()), [3, 4]);
    // Given back, the regrown segment is freed rather than kept at its size.
    for segments in taken {
        o.pool.give(segments);
    }
    assert_eq!(
        o.pool.held(),
        1,
        "the transitions' segment, not the regrown one"
    );
}

#[test]
fn a_cloned_outbox_goes_on_in_a_segment_of_its_own() {
    let mut o = own_pool(usize::MAX);
    transition(&mut o, 1);
    let mut copy = o.clone();
    transition(&mut copy, 2);
    let segments = &copy.tables[TRANSITIONS];
    assert_eq!(
        segments.len(),
        2,
        "the clone's copy of a segment has no room to spare"
    );
    assert!(segments[1].is_segment());
    assert_eq!(seqs(&copy.drain_tables(usize::MAX)), [1, 2]);
    assert_eq!(seqs(&o.drain_tables(usize::MAX)), [1]);
}

#[test]
fn drained_segments_come_back_for_the_next_kernels_rows() {
    let mut o = own_pool(usize::MAX);
    fill_segments(&mut o, 0, 2);
    let at = addresses(&o, TRANSITIONS);
    for segments in o.take_rows(usize::MAX) {
        o.pool.give(segments);
    }
    assert_eq!(o.pool.held(), 2);
    // A new outbox on the same pool writes into the memory drained from the first.
    let mut next = Outbox {
        pool: o.pool,
        ..Outbox::default()
    };
    control(&mut next, 1);
    transition(&mut next, 1);
    let reused = [
        addresses(&next, CONTROL_CHANGES)[0],
        addresses(&next, TRANSITIONS)[0],
    ];
    assert_eq!(reused, [at[1], at[0]], "the last given back goes out first");
    assert_eq!(o.pool.held(), 0);
    // The pool keeps up to its cap, and only segments.
    o.pool
        .give((0..POOLED_SEGMENTS + 6).map(|_| RowBuf::segment()));
    o.pool.give([RowBuf::concat(&[])]);
    assert_eq!(o.pool.held(), POOLED_SEGMENTS);
}
