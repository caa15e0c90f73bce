//! The journal outbox: rows the kernel leaves for a journal writer to drain, gated by
//! verbosity. Nothing here does I/O; the hot path only pushes onto a bounded queue.

use crate::model::{Intent, KernelOutcome, KernelTransition, VenueEvent};
use crate::types::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub mod native;

pub const TABLES: [&str; 6] = [
    "fills",
    "account_events",
    "control_changes",
    "transitions",
    "intents",
    "venue_events",
];

pub const FILL_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "trade_id",
    "slot_id",
    "event_id",
    "fill_id",
    "client_order_id",
    "venue_order_id",
    "asset",
    "side",
    "leg",
    "price",
    "qty",
    "fee",
    "liquidity",
    "realized_pnl",
];
pub const ACCOUNT_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "event_id",
    "kind",
    "asset",
    "amount",
    "fee",
    "fill_id",
    "wallet_balance",
    "available_margin",
    "used_margin",
    "maint_margin",
    "k_capital",
    "reconcile_status",
    "reconcile_delta",
];
pub const CONTROL_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "mode",
    "verbosity",
    "debug_clickhouse_enabled",
    "source",
];
pub const TRANSITION_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "trade_id",
    "slot_id",
    "prev_state",
    "next_state",
    "trigger",
    "intent_id",
    "event_id",
    "details",
];
pub const INTENT_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "intent_id",
    "trade_id",
    "slot_id",
    "asset",
    "side",
    "action",
    "order_type",
    "reference_price",
    "target_size",
    "limit_price",
    "leverage",
    "reason",
    "accepted",
    "diagnostic_code",
    "severity",
    "details",
];
pub const VENUE_EVENT_COLUMNS: &[&str] = &[
    "seq",
    "sub",
    "ts",
    "event_id",
    "trade_id",
    "slot_id",
    "kind",
    "status",
    "venue_order_id",
    "venue_client_id",
    "side",
    "asset",
    "price",
    "size",
    "filled_size",
    "remaining_size",
    "reason",
    "accepted",
    "diagnostic_code",
    "metadata",
];

pub fn columns(table: &str) -> &'static [&'static str] {
    match table {
        "fills" => FILL_COLUMNS,
        "account_events" => ACCOUNT_COLUMNS,
        "control_changes" => CONTROL_COLUMNS,
        "transitions" => TRANSITION_COLUMNS,
        "intents" => INTENT_COLUMNS,
        _ => VENUE_EVENT_COLUMNS,
    }
}

/// The ClickHouse type each column is sent as in a Native block, aligned with the column
/// lists above (`kernel_id`, sent first as `String`, excluded). The tables declare enums as
/// `LowCardinality(String)`; ClickHouse converts a `String` column into them on insert, so
/// the wire types are the table types without `LowCardinality` (and, for always-present
/// strings, without `Nullable`). A test checks them against the schema.
const TS: &str = "DateTime64(6, 'UTC')";
pub const FILL_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "Int64", "String", "String", "String", "String", "String",
    "String", "String", "Float64", "Float64", "Float64", "String", "Float64",
];
pub const ACCOUNT_TYPES: &[&str] = &[
    "UInt64",
    "UInt32",
    TS,
    "String",
    "String",
    "String",
    "Float64",
    "Float64",
    "String",
    "Nullable(Float64)",
    "Nullable(Float64)",
    "Nullable(Float64)",
    "Nullable(Float64)",
    "Float64",
    "String",
    "Float64",
];
pub const CONTROL_TYPES: &[&str] = &["UInt64", "UInt32", TS, "String", "String", "Bool", "String"];
pub const TRANSITION_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "Int64", "String", "String", "String", "String", "String",
    "String",
];
pub const INTENT_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "String", "Int64", "String", "String", "String", "String",
    "Float64", "Float64", "Float64", "Float64", "String", "Bool", "String", "String", "String",
];
pub const VENUE_EVENT_TYPES: &[&str] = &[
    "UInt64", "UInt32", TS, "String", "String", "Int64", "String", "String", "String", "String",
    "String", "String", "Float64", "Float64", "Float64", "Float64", "String", "Bool", "String",
    "String",
];

/// Wire types of a table's columns (see [`FILL_TYPES`]); `None` for an unknown table.
pub fn wire_types(table: &str) -> Option<&'static [&'static str]> {
    Some(match table {
        "fills" => FILL_TYPES,
        "account_events" => ACCOUNT_TYPES,
        "control_changes" => CONTROL_TYPES,
        "transitions" => TRANSITION_TYPES,
        "intents" => INTENT_TYPES,
        "venue_events" => VENUE_EVENT_TYPES,
        _ => return None,
    })
}

#[derive(Clone, Debug)]
pub struct FillRow {
    pub ts: f64,
    pub trade_id: Id,
    pub slot_id: usize,
    pub event_id: Id,
    pub fill_id: Id,
    pub client_order_id: Id,
    pub venue_order_id: Id,
    pub asset: Id,
    pub side: OrderSide,
    pub is_entry: bool,
    pub price: f64,
    pub qty: f64,
    pub fee: f64,
    pub liquidity: &'static str,
    pub realized_pnl: f64,
}

#[derive(Clone, Debug)]
pub struct AccountRow {
    pub ts: f64,
    pub event_id: Id,
    pub kind: AccountEventKind,
    pub asset: Id,
    pub amount: f64,
    pub fee: f64,
    pub fill_id: Id,
    pub wallet_balance: Option<f64>,
    pub available_margin: Option<f64>,
    pub used_margin: Option<f64>,
    pub maint_margin: Option<f64>,
    pub k_capital: f64,
    pub reconcile_status: &'static str,
    pub reconcile_delta: f64,
}

#[derive(Clone, Debug)]
pub struct ControlRow {
    pub ts: f64,
    pub mode: ControlMode,
    pub verbosity: Verbosity,
    pub debug_clickhouse_enabled: bool,
    pub source: String,
}

/// The fields of an intent the journal keeps (not its legs or metadata, which it never
/// writes), so capturing one costs no allocation beyond a non-empty reason.
#[derive(Clone, Debug)]
pub struct IntentRow {
    pub ts: f64,
    pub intent_id: Id,
    pub trade_id: Id,
    pub slot_id: i64,
    pub asset: Id,
    pub side: TradeSide,
    pub action: KernelCommandType,
    pub order_type: OrderType,
    pub reference_price: f64,
    pub target_size: f64,
    pub limit_price: f64,
    pub leverage: f64,
    pub reason: String,
    pub accepted: bool,
    pub code: KernelDiagnosticCode,
    pub severity: KernelSeverity,
    pub details: Details,
}

#[derive(Clone, Debug)]
pub struct VenueEventRow {
    pub event: VenueEvent,
    pub accepted: bool,
    pub code: KernelDiagnosticCode,
}

#[derive(Clone, Debug)]
pub enum RowData {
    Fill(FillRow),
    Account(AccountRow),
    Control(ControlRow),
    Transition(KernelTransition),
    Intent(IntentRow),
    VenueEvent(Box<VenueEventRow>),
}

impl RowData {
    pub fn table(&self) -> &'static str {
        match self {
            RowData::Fill(_) => "fills",
            RowData::Account(_) => "account_events",
            RowData::Control(_) => "control_changes",
            RowData::Transition(_) => "transitions",
            RowData::Intent(_) => "intents",
            RowData::VenueEvent(_) => "venue_events",
        }
    }

    pub fn table_index(&self) -> usize {
        match self {
            RowData::Fill(_) => 0,
            RowData::Account(_) => 1,
            RowData::Control(_) => 2,
            RowData::Transition(_) => 3,
            RowData::Intent(_) => 4,
            RowData::VenueEvent(_) => 5,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    pub seq: u64,
    pub sub: u32,
    pub data: RowData,
}

/// One column value of a row, typed as the journal writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    U64(u64),
    U32(u32),
    I64(i64),
    F64(f64),
    OptF64(Option<f64>),
    Bool(bool),
    /// Seconds since the epoch (written as DateTime64(6) microseconds).
    Ts(f64),
    Str(&'a str),
    /// Text made for the journal (JSON of details or metadata).
    Text(String),
}

impl Row {
    /// Hands `out` the row's values in column order (`columns(self.data.table())`): the one
    /// place that says what a journal row holds, for both Python tuples and Native blocks.
    pub fn visit<'a>(&'a self, out: &mut impl FnMut(Value<'a>)) {
        use Value::*;
        out(U64(self.seq));
        out(U32(self.sub));
        match &self.data {
            RowData::Fill(f) => {
                out(Ts(f.ts));
                out(Str(&f.trade_id));
                out(I64(f.slot_id as i64));
                out(Str(&f.event_id));
                out(Str(&f.fill_id));
                out(Str(&f.client_order_id));
                out(Str(&f.venue_order_id));
                out(Str(&f.asset));
                out(Str(f.side.name()));
                out(Str(if f.is_entry { "ENTRY" } else { "EXIT" }));
                out(F64(f.price));
                out(F64(f.qty));
                out(F64(f.fee));
                out(Str(f.liquidity));
                out(F64(f.realized_pnl));
            }
            RowData::Account(a) => {
                out(Ts(a.ts));
                out(Str(&a.event_id));
                out(Str(a.kind.name()));
                out(Str(&a.asset));
                out(F64(a.amount));
                out(F64(a.fee));
                out(Str(&a.fill_id));
                out(OptF64(a.wallet_balance));
                out(OptF64(a.available_margin));
                out(OptF64(a.used_margin));
                out(OptF64(a.maint_margin));
                out(F64(a.k_capital));
                out(Str(a.reconcile_status));
                out(F64(a.reconcile_delta));
            }
            RowData::Control(c) => {
                out(Ts(c.ts));
                out(Str(c.mode.name()));
                out(Str(c.verbosity.name()));
                out(Bool(c.debug_clickhouse_enabled));
                out(Str(&c.source));
            }
            RowData::Transition(t) => {
                out(Ts(t.timestamp));
                out(Str(&t.trade_id));
                out(I64(t.slot_id as i64));
                out(Str(t.prev_state.name()));
                out(Str(t.next_state.name()));
                out(Str(t.trigger));
                out(Str(&t.intent_id));
                out(Str(&t.event_id));
                out(Text(details_json(&t.details)));
            }
            RowData::Intent(r) => {
                out(Ts(r.ts));
                out(Str(&r.intent_id));
                out(Str(&r.trade_id));
                out(I64(r.slot_id));
                out(Str(&r.asset));
                out(Str(r.side.name()));
                out(Str(r.action.name()));
                out(Str(r.order_type.name()));
                out(F64(r.reference_price));
                out(F64(r.target_size));
                out(F64(r.limit_price));
                out(F64(r.leverage));
                out(Str(&r.reason));
                out(Bool(r.accepted));
                out(Str(r.code.name()));
                out(Str(r.severity.name()));
                out(Text(details_json(&r.details)));
            }
            RowData::VenueEvent(r) => {
                let e = &r.event;
                out(Ts(e.timestamp));
                out(Str(&e.event_id));
                out(Str(&e.trade_id));
                out(I64(e.slot_id));
                out(Str(e.kind.name()));
                out(Str(e.status.name()));
                out(Str(&e.venue_order_id));
                out(Str(&e.venue_client_id));
                out(Str(e.side.map(|s| s.name()).unwrap_or("")));
                out(Str(&e.asset));
                out(F64(e.price));
                out(F64(e.size));
                out(F64(e.filled_size));
                out(F64(e.remaining_size));
                out(Str(&e.reason));
                out(Bool(r.accepted));
                out(Str(r.code.name()));
                out(Text(metadata_json(&e.metadata)));
            }
        }
    }
}

pub const DEFAULT_JOURNAL_CAPACITY: usize = 1_000_000;

/// Emptied row buffers handed back by whoever drained them, so the outbox refills memory that
/// is already mapped instead of growing a fresh queue (page faults, copies) after each drain.
#[derive(Debug, Default)]
pub struct Recycler(Arc<Mutex<Vec<Vec<Row>>>>);

/// Buffers kept for reuse at most: a drain takes one per table; a second set covers the
/// blocks still being written.
const RECYCLED_BUFFERS: usize = 12;

impl Clone for Recycler {
    /// A cloned outbox gets a pool of its own.
    fn clone(&self) -> Self {
        Recycler::default()
    }
}

impl Recycler {
    /// A handle on the same pool (for a drainer on another thread).
    pub fn share(&self) -> Recycler {
        Recycler(Arc::clone(&self.0))
    }

    /// Takes back a buffer whose rows were moved out.
    pub fn give(&self, mut buffer: Vec<Row>) {
        buffer.clear();
        let mut pool = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < RECYCLED_BUFFERS {
            pool.push(buffer);
        }
    }

    fn take(&self) -> Option<Vec<Row>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }
}

/// Rows waiting for a journal, one queue per table (in `TABLES` order), each in seq order.
#[derive(Clone, Debug)]
pub struct Outbox {
    pub enabled: bool,
    pub verbosity: Verbosity,
    /// Rows held at most; beyond it the oldest row is dropped and counted.
    pub capacity: usize,
    tables: [VecDeque<Row>; 6],
    len: usize,
    pub dropped: u64,
    pub queued_total: u64,
    cur_seq: u64,
    subs: [u32; 6],
    pub recycler: Recycler,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            enabled: false,
            verbosity: Verbosity::Normal,
            capacity: DEFAULT_JOURNAL_CAPACITY,
            tables: Default::default(),
            len: 0,
            dropped: 0,
            queued_total: 0,
            cur_seq: 0,
            subs: [0; 6],
            recycler: Recycler::default(),
        }
    }
}

impl Outbox {
    #[inline]
    pub fn wants(&self, level: Verbosity) -> bool {
        self.enabled && self.verbosity >= level
    }

    pub fn push(&mut self, seq: u64, data: RowData) {
        if seq != self.cur_seq {
            self.cur_seq = seq;
            self.subs = [0; 6];
        }
        let t = data.table_index();
        let sub = self.subs[t];
        self.subs[t] += 1;
        if self.len >= self.capacity {
            self.drop_oldest();
        }
        self.queued_total += 1;
        self.len += 1;
        self.tables[t].push_back(Row { seq, sub, data });
    }

    /// Rows waiting, over all tables.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn drop_oldest(&mut self) {
        let oldest = (0..self.tables.len())
            .filter_map(|t| self.tables[t].front().map(|r| (r.seq, t)))
            .min();
        if let Some((_, t)) = oldest {
            self.tables[t].pop_front();
            self.len -= 1;
            self.dropped += 1;
        }
    }

    /// How many rows have a seq below `cut`.
    fn count_below(&self, cut: u64) -> usize {
        self.tables
            .iter()
            .map(|q| q.partition_point(|r| r.seq < cut))
            .sum()
    }

    /// Takes the oldest rows, per table in `TABLES` order: every row below some seq, and at
    /// most `max_rows` of them unless the oldest seq alone has more (it is never split, so a
    /// drain always ends on a whole input: whoever stores drains in order knows every row
    /// below the last seq it stored is stored). Taking everything swaps the queues for
    /// recycled buffers, so draining costs the kernel no copying.
    pub fn drain_tables(&mut self, max_rows: usize) -> [Vec<Row>; 6] {
        if self.len <= max_rows {
            self.len = 0;
            return std::array::from_fn(|t| {
                let next = self.recycler.take().map(VecDeque::from).unwrap_or_default();
                Vec::from(std::mem::replace(&mut self.tables[t], next))
            });
        }
        let first = self
            .tables
            .iter()
            .filter_map(|q| q.front())
            .map(|r| r.seq)
            .min();
        let last = self
            .tables
            .iter()
            .filter_map(|q| q.back())
            .map(|r| r.seq)
            .max();
        let (Some(first), Some(last)) = (first, last) else {
            return Default::default();
        };
        // The highest cut with at most max_rows rows below it (at least the oldest seq).
        let (mut lo, mut hi) = (first + 1, last + 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.count_below(mid) <= max_rows {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let cut = lo;
        let out = std::array::from_fn(|t| {
            let q = &mut self.tables[t];
            let n = q.partition_point(|r| r.seq < cut);
            q.drain(..n).collect::<Vec<Row>>()
        });
        self.len = self.tables.iter().map(VecDeque::len).sum();
        out
    }

    /// [`Outbox::drain_tables`] as one list (table by table).
    pub fn drain(&mut self, max_rows: usize) -> Vec<Row> {
        self.drain_tables(max_rows).into_iter().flatten().collect()
    }

    /// Records an intent and the transitions it caused, as verbosity allows.
    pub fn record_intent(&mut self, intent: &Intent, out: &KernelOutcome) {
        if self.wants(Verbosity::Normal) {
            self.push(
                out.seq,
                RowData::Intent(IntentRow {
                    ts: intent.timestamp,
                    intent_id: intent.intent_id.clone(),
                    trade_id: intent.trade_id.clone(),
                    slot_id: intent.slot_id,
                    asset: intent.asset.clone(),
                    side: intent.side,
                    action: intent.action,
                    order_type: intent.order_type,
                    reference_price: intent.reference_price,
                    target_size: intent.target_size,
                    limit_price: intent.limit_price,
                    leverage: intent.leverage,
                    reason: intent.reason.clone(),
                    accepted: out.accepted,
                    code: out.diagnostic_code,
                    severity: out.severity,
                    details: out.details.clone(),
                }),
            );
        }
        self.record_transitions(out);
    }

    /// Transitions at NORMAL; closes are kept at QUIET too.
    pub fn record_transitions(&mut self, out: &KernelOutcome) {
        if !self.enabled {
            return;
        }
        let all = self.verbosity >= Verbosity::Normal;
        for t in &out.transitions {
            if all || t.next_state == TradeStage::Closed {
                self.push(out.seq, RowData::Transition(t.clone()));
            }
        }
    }

    pub fn record_venue_event(&mut self, ev: &VenueEvent, out: &KernelOutcome) {
        if self.wants(Verbosity::Debug) {
            self.push(
                out.seq,
                RowData::VenueEvent(Box::new(VenueEventRow {
                    event: ev.clone(),
                    accepted: out.accepted,
                    code: out.diagnostic_code,
                })),
            );
        }
        self.record_transitions(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(ts: f64) -> RowData {
        RowData::Control(ControlRow {
            ts,
            mode: ControlMode::Paper,
            verbosity: Verbosity::Normal,
            debug_clickhouse_enabled: true,
            source: String::new(),
        })
    }

    fn transition() -> RowData {
        RowData::Transition(KernelTransition {
            timestamp: 0.0,
            trade_id: id("t"),
            slot_id: 0,
            prev_state: TradeStage::Idle,
            next_state: TradeStage::OrderRequested,
            trigger: "ENTER",
            intent_id: id("i"),
            event_id: id(""),
            details: Vec::new(),
        })
    }

    /// seq 1..=n, each with one control row and `per_seq - 1` transitions.
    fn outbox(n: u64, per_seq: usize) -> Outbox {
        let mut o = Outbox::default();
        for seq in 1..=n {
            o.push(seq, control(seq as f64));
            for _ in 1..per_seq {
                o.push(seq, transition());
            }
        }
        o
    }

    fn keys(rows: &[Row]) -> Vec<(u64, u32)> {
        rows.iter().map(|r| (r.seq, r.sub)).collect()
    }

    #[test]
    fn taking_everything_hands_over_each_table_in_order() {
        let mut o = outbox(3, 3);
        let tables = o.drain_tables(100);
        assert!(o.is_empty());
        assert_eq!(
            keys(&tables[2]),
            [(1, 0), (2, 0), (3, 0)],
            "control_changes"
        );
        assert_eq!(
            keys(&tables[3]),
            [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)],
            "transitions, numbered per table within a seq"
        );
        assert!(tables[0].is_empty() && tables[4].is_empty());
    }

    #[test]
    fn a_partial_drain_ends_on_a_whole_seq() {
        let mut o = outbox(10, 3);
        // 7 rows allowed: seqs 1 and 2 (6 rows); seq 3 would make 9.
        let taken: Vec<Row> = o.drain_tables(7).into_iter().flatten().collect();
        let mut seqs: Vec<u64> = taken.iter().map(|r| r.seq).collect();
        seqs.sort();
        assert_eq!(seqs, [1, 1, 1, 2, 2, 2]);
        assert_eq!(o.len(), 24);
        // Fewer rows allowed than the oldest seq holds: that seq still goes out whole.
        let taken = o.drain(2);
        assert_eq!(taken.len(), 3);
        assert!(taken.iter().all(|r| r.seq == 3));
        assert_eq!(o.len(), 21);
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_row_of_any_table_and_counts_it() {
        let mut o = Outbox {
            capacity: 4,
            ..Outbox::default()
        };
        o.push(1, transition());
        o.push(2, control(2.0));
        o.push(3, transition());
        o.push(4, control(4.0));
        o.push(5, control(5.0));
        assert_eq!((o.len(), o.dropped, o.queued_total), (4, 1, 5));
        let rows = o.drain(100);
        let mut seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
        seqs.sort();
        assert_eq!(seqs, [2, 3, 4, 5], "seq 1 (a transition) was the oldest");
    }

    #[test]
    fn drained_buffers_come_back_for_the_next_rows() {
        let mut o = outbox(100, 2);
        let tables = o.drain_tables(usize::MAX);
        let capacity = tables[3].capacity();
        for t in tables {
            o.recycler.give(t);
        }
        o.push(101, transition());
        o.drain_tables(usize::MAX);
        assert!(
            o.tables.iter().any(|q| q.capacity() >= capacity),
            "a queue continues in a recycled buffer"
        );
    }
}
