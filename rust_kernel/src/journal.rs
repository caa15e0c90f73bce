//! The journal outbox: rows the kernel leaves for a journal writer to drain, gated by
//! verbosity. Nothing here does I/O; the hot path only pushes onto a bounded queue.

use crate::model::{Intent, KernelOutcome, KernelTransition, VenueEvent};
use crate::types::*;
use std::collections::VecDeque;

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

#[derive(Clone, Debug)]
pub struct IntentRow {
    pub intent: Intent,
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
    Intent(Box<IntentRow>),
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

    fn table_index(&self) -> usize {
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

pub const DEFAULT_JOURNAL_CAPACITY: usize = 1_000_000;

#[derive(Clone, Debug)]
pub struct Outbox {
    pub enabled: bool,
    pub verbosity: Verbosity,
    pub capacity: usize,
    pub rows: VecDeque<Row>,
    pub dropped: u64,
    pub queued_total: u64,
    cur_seq: u64,
    subs: [u32; 6],
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            enabled: false,
            verbosity: Verbosity::Normal,
            capacity: DEFAULT_JOURNAL_CAPACITY,
            rows: VecDeque::new(),
            dropped: 0,
            queued_total: 0,
            cur_seq: 0,
            subs: [0; 6],
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
        if self.rows.len() >= self.capacity {
            self.rows.pop_front();
            self.dropped += 1;
        }
        self.queued_total += 1;
        self.rows.push_back(Row { seq, sub, data });
    }

    /// Records an intent and the transitions it caused, as verbosity allows.
    pub fn record_intent(&mut self, intent: &Intent, out: &KernelOutcome) {
        if self.wants(Verbosity::Normal) {
            self.push(
                out.seq,
                RowData::Intent(Box::new(IntentRow {
                    intent: intent.clone(),
                    accepted: out.accepted,
                    code: out.diagnostic_code,
                    severity: out.severity,
                    details: out.details.clone(),
                })),
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

    pub fn drain(&mut self, max_rows: usize) -> Vec<Row> {
        let n = max_rows.min(self.rows.len());
        self.rows.drain(..n).collect()
    }
}
