//! The outbox against a model: random inputs of random rows (short, long, longer than a
//! segment, one input spanning segments), random capacities and random partial takes,
//! drains and restarts. Every row recorded comes out exactly once, in seq order per table
//! and with the values written, except the rows counted as dropped, which are always the
//! whole oldest inputs held.

use super::pool::POOLED_SEGMENTS;
use super::row_buf::ROW_ROOM;
use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

/// How long the variable column of a recorded row is.
#[derive(Clone, Copy, Debug)]
enum Sizes {
    /// 0..=40 bytes: both sides of the short-string copy.
    Short,
    /// Up to a few hundred bytes, as most rows.
    Mixed,
    /// Past a segment's `ROW_ROOM`.
    Long,
    /// Past a whole segment: the row regrows the one it starts in.
    Huge,
}

#[derive(Clone, Debug)]
enum Op {
    /// `inputs` inputs of `rows` rows each; tables and lengths drawn from `seed`.
    Record {
        inputs: u16,
        rows: u16,
        sizes: Sizes,
        seed: u64,
    },
    /// `take_rows(max_rows)`; the segments are held by the drainer until `GiveBack`.
    Take(usize),
    /// `drain_tables(max_rows)`.
    Drain(usize),
    /// The segments held by the drainer go back to the pool, checked once more first.
    GiveBack,
    Restart,
    ClearDropMark,
}

/// A row the model holds: its table, key and what its variable column says.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    table: usize,
    seq: u64,
    sub: u32,
    text: String,
}

/// A string of `len` ASCII bytes that depends on the row and on each byte's position, so a
/// byte copied to the wrong place or from the wrong row shows.
fn text_of(seq: u64, sub: u32, len: usize) -> String {
    let base = seq.wrapping_mul(31).wrapping_add(u64::from(sub) * 7);
    (0..len as u64)
        .map(|i| char::from(b'a' + (base.wrapping_add(i) % 26) as u8))
        .collect()
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rows of `segments` (one table's, in order) as the model writes them.
fn rows_of(table: usize, segments: &[RowBuf]) -> Vec<Row> {
    let mut out = Vec::new();
    for s in segments {
        for i in 0..s.len() {
            let (seq, sub) = s.key(i);
            let mut strs = Vec::new();
            s.visit(table, i, &mut |v| {
                if let Value::Str(x) = v {
                    strs.push(x.to_string());
                }
            });
            let text = match table {
                FILLS => strs[0].clone(),
                CONTROL_CHANGES => strs.last().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            out.push(Row {
                table,
                seq,
                sub,
                text,
            });
        }
    }
    out
}

struct Model {
    capacity: usize,
    held: VecDeque<Row>,
    dropped: u64,
    first_dropped_seq: Option<u64>,
    covered_through: u64,
    seq: u64,
}

impl Model {
    fn begin(&mut self, row: Row) {
        if self.held.len() >= self.capacity {
            if let Some(oldest) = self.held.front().map(|r| r.seq).filter(|&s| s != row.seq) {
                if oldest > self.covered_through {
                    self.first_dropped_seq.get_or_insert(oldest);
                }
                while self.held.front().is_some_and(|r| r.seq == oldest) {
                    self.held.pop_front();
                    self.dropped += 1;
                }
            }
        }
        self.held.push_back(row);
    }

    /// The rows a take of `max_rows` hands out: the oldest input whole, then whole inputs
    /// while they fit.
    fn take(&mut self, max_rows: usize) -> Vec<Row> {
        let mut n = 0;
        while n < self.held.len() {
            let seq = self.held[n].seq;
            let end = n + self.held.range(n..).take_while(|r| r.seq == seq).count();
            if n > 0 && end > max_rows {
                break;
            }
            n = end;
        }
        self.held.drain(..n).collect()
    }
}

fn record(o: &mut Outbox, m: &mut Model, inputs: u16, rows: u16, sizes: Sizes, seed: u64) {
    let mut rng = seed;
    for _ in 0..inputs {
        m.seq += 1;
        let seq = m.seq;
        let mut subs = [0u32; 6];
        for _ in 0..rows {
            let r = splitmix(&mut rng);
            let table = match sizes {
                Sizes::Huge => CONTROL_CHANGES,
                _ => [FILLS, CONTROL_CHANGES, TRANSITIONS][(r % 3) as usize],
            };
            let len = (r >> 8) as usize;
            let len = match sizes {
                Sizes::Short => len % 41,
                Sizes::Mixed => len % 400,
                Sizes::Long => ROW_ROOM + len % 4000,
                Sizes::Huge => SEGMENT_BYTES - 600 + len % 2000,
            };
            let sub = subs[table];
            subs[table] += 1;
            let text = if table == TRANSITIONS {
                String::new()
            } else {
                text_of(seq, sub, len)
            };
            match table {
                FILLS => o.record_fill(
                    seq,
                    &FillRow {
                        ts: 1.0,
                        trade_id: &text,
                        slot_id: 0,
                        event_id: &text[..text.len().min(9)],
                        fill_id: "f",
                        client_order_id: "",
                        venue_order_id: "v-1",
                        asset: "BTC-USDT",
                        side: OrderSide::Buy,
                        is_entry: true,
                        price: 1.0,
                        qty: 2.0,
                        fee: 0.0,
                        liquidity: "maker",
                        realized_pnl: 0.0,
                    },
                ),
                CONTROL_CHANGES => o.record_control(
                    seq,
                    &ControlRow {
                        ts: 1.0,
                        mode: ControlMode::Paper,
                        verbosity: Verbosity::Normal,
                        debug_clickhouse_enabled: false,
                        source: text.clone(),
                    },
                ),
                _ => super::tests::transition(o, seq),
            }
            m.begin(Row {
                table,
                seq,
                sub,
                text,
            });
        }
    }
}

/// What a take or drain handed out, per table, against what the model took.
fn check_taken(taken: &[Vec<Row>; 6], expected: &[Row]) -> Result<(), TestCaseError> {
    for (t, rows) in taken.iter().enumerate() {
        let want: Vec<&Row> = expected.iter().filter(|r| r.table == t).collect();
        prop_assert_eq!(rows.len(), want.len(), "table {} rows", t);
        for (got, want) in rows.iter().zip(want) {
            prop_assert_eq!(got, want);
        }
    }
    Ok(())
}

/// The outbox agrees with the model, and its segments are as the `Outbox` docs say.
fn check_state(o: &Outbox, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(o.len(), m.held.len());
    prop_assert_eq!(o.first_seq(), m.held.front().map(|r| r.seq));
    prop_assert_eq!(o.dropped, m.dropped);
    prop_assert_eq!(o.first_dropped_seq, m.first_dropped_seq);
    for segments in &o.tables {
        for (k, s) in segments.iter().enumerate() {
            prop_assert!(!s.is_empty(), "every segment holds rows");
            prop_assert!(
                k == 0 || s.discarded == 0,
                "only the front one passes rows over"
            );
            prop_assert!(
                k + 1 == segments.len() || !s.has_room(),
                "a segment is left only when full"
            );
        }
    }
    prop_assert!(o.pool.held() <= POOLED_SEGMENTS);
    Ok(())
}

fn op() -> impl Strategy<Value = Op> {
    let max_rows = prop_oneof![0usize..50, 50usize..20_000, Just(usize::MAX)];
    prop_oneof![
        8 => (1u16..1_500, 1u16..=4, any::<u64>(), prop_oneof![
            Just(Sizes::Short), Just(Sizes::Mixed), Just(Sizes::Long)
        ])
            .prop_map(|(inputs, rows, seed, sizes)| Op::Record { inputs, rows, sizes, seed }),
        1 => (1u16..=2, any::<u64>())
            .prop_map(|(rows, seed)| Op::Record { inputs: 1, rows, sizes: Sizes::Huge, seed }),
        // One input whose rows run over more than one segment.
        1 => (3_000u16..9_000, any::<u64>())
            .prop_map(|(rows, seed)| Op::Record { inputs: 1, rows, sizes: Sizes::Short, seed }),
        3 => max_rows.clone().prop_map(Op::Take),
        2 => max_rows.prop_map(Op::Drain),
        2 => Just(Op::GiveBack),
        1 => Just(Op::Restart),
        1 => Just(Op::ClearDropMark),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_row_comes_out_once_in_order_unless_its_whole_input_was_dropped(
        capacity in prop_oneof![1usize..64, 64usize..30_000, Just(usize::MAX)],
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let mut o = super::tests::own_pool(capacity);
        let mut m = Model {
            capacity,
            held: VecDeque::new(),
            dropped: 0,
            first_dropped_seq: None,
            covered_through: 0,
            seq: 0,
        };
        // Segments the drainer holds, with the rows they must still read as.
        let mut out: Vec<([Vec<RowBuf>; 6], Vec<Row>)> = Vec::new();
        for op in ops {
            match op {
                Op::Record { inputs, rows, sizes, seed } => {
                    record(&mut o, &mut m, inputs, rows, sizes, seed);
                }
                Op::Take(max_rows) => {
                    let taken = o.take_rows(max_rows);
                    let expected = m.take(max_rows);
                    let rows = std::array::from_fn(|t| rows_of(t, &taken[t]));
                    check_taken(&rows, &expected)?;
                    for segments in &taken {
                        prop_assert!(segments.iter().all(|s| !s.is_empty()));
                    }
                    out.push((taken, expected));
                }
                Op::Drain(max_rows) => {
                    let drained = o.drain_tables(max_rows);
                    let expected = m.take(max_rows);
                    let rows = std::array::from_fn(|t| rows_of(t, std::slice::from_ref(&drained[t])));
                    check_taken(&rows, &expected)?;
                }
                Op::GiveBack => {
                    for (taken, expected) in out.drain(..) {
                        let rows = std::array::from_fn(|t| rows_of(t, &taken[t]));
                        check_taken(&rows, &expected)?;
                        for segments in taken {
                            o.pool.give(segments);
                        }
                    }
                }
                Op::Restart => {
                    o.restart();
                    m.held.clear();
                    m.first_dropped_seq = None;
                }
                Op::ClearDropMark => {
                    o.clear_drop_mark(m.seq);
                    m.first_dropped_seq = None;
                    m.covered_through = m.covered_through.max(m.seq);
                }
            }
            check_state(&o, &m)?;
        }
        let rest = o.drain_tables(usize::MAX);
        let expected = m.take(usize::MAX);
        let rows = std::array::from_fn(|t| rows_of(t, std::slice::from_ref(&rest[t])));
        check_taken(&rows, &expected)?;
        prop_assert!(o.is_empty() && o.tables.iter().all(Vec::is_empty));
    }
}
