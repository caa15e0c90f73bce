//! The rows the kernel records: fills, account events and control changes as it hands them
//! over, and the `record_*` methods that write each table's values in column order.

use super::*;
use crate::kernel::Control;
use crate::model::{TradeSlot, VenueOrder};

/// The trigger of the transition journaled for a slot that slots loaded from outside changed
/// (`reconcile_from_slots`, `load_slots`, `set_slot_fields`).
pub const SLOTS_LOADED: &str = "SLOTS_LOADED";

/// A fill as the journal records it (built by the kernel when it applies the fill, from
/// what it holds: the ids are borrowed, not cloned).
#[derive(Clone, Debug)]
pub struct FillRow<'a> {
    pub ts: f64,
    pub trade_id: &'a str,
    pub slot_id: usize,
    pub event_id: &'a str,
    pub fill_id: &'a str,
    pub client_order_id: &'a str,
    pub venue_order_id: &'a str,
    pub asset: &'a str,
    pub side: OrderSide,
    pub is_entry: bool,
    pub price: f64,
    pub qty: f64,
    pub fee: f64,
    pub liquidity: &'static str,
    pub realized_pnl: f64,
}

/// An account event as the journal records it, with the account as it stands after it.
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
    /// Whether the kernel applied the event; a refused one is recorded too (with the
    /// account as it stands), so the journal shows that the exchange's fact arrived.
    pub accepted: bool,
    pub diagnostic_code: KernelDiagnosticCode,
    /// What the kernel charged for the fill an accepted FILL_SETTLED settled: its `fee`, or
    /// for a fill booked from part of a report its share. None for every other row (another
    /// kind, or a refused settlement, which charged nothing).
    pub fee_charged: Option<f64>,
}

/// A control change as the journal records it: the control plane after it, and who made it.
#[derive(Clone, Debug)]
pub struct ControlRow {
    pub ts: f64,
    pub mode: ControlMode,
    pub verbosity: Verbosity,
    pub debug_clickhouse_enabled: bool,
    pub source: String,
}

impl Outbox {
    /// Records an intent and the transitions it caused, as verbosity allows.
    pub fn record_intent(&mut self, intent: &Intent, out: &KernelOutcome) {
        if self.wants(Verbosity::Normal) {
            self.row(INTENTS, out.seq)
                .f64(intent.timestamp)
                .str(&intent.intent_id)
                .str(&intent.trade_id)
                .i64(intent.slot_id)
                .str(&intent.asset)
                .code(intent.side.code())
                .code(intent.action.code())
                .code(intent.order_type.code())
                .f64(intent.reference_price)
                .f64(intent.target_size)
                .f64(intent.limit_price)
                .f64(intent.leverage)
                .str(&intent.reason)
                .bool(out.accepted)
                .code(out.diagnostic_code.code())
                .code(out.severity.code())
                .details(&out.details)
                .str(&metadata_text(&intent.metadata));
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
                self.record_transition(out.seq, t);
            }
        }
    }

    /// One transition's row, whatever the verbosity.
    #[inline(always)]
    pub(super) fn record_transition(&mut self, seq: u64, t: &KernelTransition) {
        self.row(TRANSITIONS, seq)
            .f64(t.timestamp)
            .str(&t.trade_id)
            .i64(t.slot_id as i64)
            .code(t.prev_state.code())
            .code(t.next_state.code())
            .str(t.trigger)
            .str(&t.intent_id)
            .str(&t.event_id)
            .named_values(t.details.len(), t.details.iter());
    }

    /// Records the transition of each slot that slots loaded from outside changed (`old` to
    /// `new`, slot by slot), as verbosity allows transitions: trigger `SLOTS_LOADED`, the new
    /// values of the fields that changed in its details. A load carries no time of its own:
    /// `ts` is the kernel's latest input time, or the slot's `last_event_time` when later.
    pub fn record_slots_loaded(&mut self, seq: u64, ts: f64, old: &[TradeSlot], new: &[TradeSlot]) {
        if !self.enabled {
            return;
        }
        let all = self.verbosity >= Verbosity::Normal;
        for (before, after) in old.iter().zip(new) {
            if !all && after.fsm_state != TradeStage::Closed {
                continue;
            }
            let details = loaded_changes(before, after);
            if details.is_empty() && before.fsm_state == after.fsm_state {
                continue;
            }
            // A slot emptied by the load keeps the row on the trade it held.
            let trade_id = if after.trade_id.is_empty() {
                &before.trade_id
            } else {
                &after.trade_id
            };
            let t = KernelTransition {
                timestamp: ts.max(after.last_event_time),
                trade_id: trade_id.clone(),
                slot_id: after.slot_id,
                prev_state: before.fsm_state,
                next_state: after.fsm_state,
                trigger: SLOTS_LOADED,
                intent_id: id(""),
                event_id: id(""),
                details: TransitionDetails::Named(details),
            };
            self.record_transition(seq, &t);
        }
    }

    /// Records the edge freeze set (`source` `edge_freeze:<asset>`, the asset whose edge froze
    /// it) or lifted (`edge_freeze_lifted`) as a control change, at every verbosity: the
    /// control holds the freeze. The caller checks that the outbox is enabled.
    pub fn record_freeze(&mut self, seq: u64, ts: f64, control: &Control) {
        let source = if control.frozen {
            format!("edge_freeze:{}", control.freeze_asset)
        } else {
            "edge_freeze_lifted".to_string()
        };
        let row = ControlRow {
            ts,
            mode: control.mode,
            verbosity: control.verbosity,
            debug_clickhouse_enabled: control.debug_clickhouse_enabled,
            source,
        };
        self.record_control(seq, &row);
    }

    /// Records a venue event at DEBUG, and the transitions it caused as verbosity allows.
    /// Out of line: it runs only with a journal attached, and inlined, its code would weigh
    /// on the path of every venue event without one.
    #[inline(never)]
    pub fn record_venue_event(&mut self, ev: &VenueEvent, out: &KernelOutcome) {
        if self.wants(Verbosity::Debug) {
            let metadata = metadata_text(&ev.metadata);
            self.row(VENUE_EVENTS, out.seq)
                .f64(ev.timestamp)
                .str(&ev.event_id)
                .str(&ev.trade_id)
                .i64(ev.slot_id)
                .str(ev.kind.name())
                .str(ev.status.name())
                .str(&ev.venue_order_id)
                .str(&ev.venue_client_id)
                .str(ev.side.map(|s| s.name()).unwrap_or(""))
                .str(&ev.asset)
                .f64(ev.price)
                .f64(ev.size)
                .f64(ev.filled_size)
                .f64(ev.remaining_size)
                .str(&ev.reason)
                .str(&ev.fill_id)
                .opt_f64(ev.fee)
                .f64(ev.retry_after)
                .bool(out.accepted)
                .str(out.diagnostic_code.name())
                .code(out.severity.code())
                .details(&out.details)
                .str(&metadata);
        }
        self.record_transitions(out);
    }

    /// Records a fill at every verbosity; the caller checks that the outbox is enabled
    /// before it builds the row.
    pub fn record_fill(&mut self, seq: u64, f: &FillRow) {
        self.row(FILLS, seq)
            .f64(f.ts)
            .str(f.trade_id)
            .i64(f.slot_id as i64)
            .str(f.event_id)
            .str(f.fill_id)
            .str(f.client_order_id)
            .str(f.venue_order_id)
            .str(f.asset)
            .code(f.side.code())
            .code(u8::from(f.is_entry))
            .f64(f.price)
            .f64(f.qty)
            .f64(f.fee)
            .str(f.liquidity)
            .f64(f.realized_pnl);
    }

    /// Records an account event at every verbosity; the caller checks that the outbox is
    /// enabled before it builds the row.
    pub fn record_account(&mut self, seq: u64, a: &AccountRow) {
        self.row(ACCOUNT_EVENTS, seq)
            .f64(a.ts)
            .str(&a.event_id)
            .code(a.kind.code())
            .str(&a.asset)
            .f64(a.amount)
            .f64(a.fee)
            .str(&a.fill_id)
            .opt_f64(a.wallet_balance)
            .opt_f64(a.available_margin)
            .opt_f64(a.used_margin)
            .opt_f64(a.maint_margin)
            .f64(a.k_capital)
            .str(a.reconcile_status)
            .f64(a.reconcile_delta)
            .bool(a.accepted)
            .code(a.diagnostic_code.code())
            .opt_f64(a.fee_charged);
    }

    /// Records a control change at every verbosity; the caller checks that the outbox is
    /// enabled before it builds the row.
    pub fn record_control(&mut self, seq: u64, c: &ControlRow) {
        self.row(CONTROL_CHANGES, seq)
            .f64(c.ts)
            .str(c.mode.name())
            .str(c.verbosity.name())
            .bool(c.debug_clickhouse_enabled)
            .str(&c.source);
    }
}

/// The fields a slot load changed, each with its new value: the trade, its position and
/// figures, its exit progress and its working orders (by client order id, `''` for none).
fn loaded_changes(before: &TradeSlot, after: &TradeSlot) -> Details {
    let mut changed: Details = Vec::new();
    for (name, a, b) in [
        ("trade_id", &before.trade_id, &after.trade_id),
        ("asset", &before.asset, &after.asset),
    ] {
        if a != b {
            changed.push((name, Detail::Id(b.clone())));
        }
    }
    if before.side != after.side {
        changed.push(("side", Detail::Static(after.side.name())));
    }
    for (name, a, b) in [
        ("size", before.size, after.size),
        ("initial_size", before.initial_size, after.initial_size),
        ("entry_price", before.entry_price, after.entry_price),
        ("entry_time", before.entry_time, after.entry_time),
        ("leverage", before.leverage, after.leverage),
        ("realized_pnl", before.realized_pnl, after.realized_pnl),
        ("fees_paid", before.fees_paid, after.fees_paid),
        ("leg_taken", before.leg_taken, after.leg_taken),
    ] {
        if a != b {
            changed.push((name, Detail::F64(b)));
        }
    }
    if before.active_leg_index != after.active_leg_index {
        changed.push(("active_leg_index", Detail::from(after.active_leg_index)));
    }
    if before.closed != after.closed {
        changed.push(("closed", Detail::Bool(after.closed)));
    }
    if before.close_reason != after.close_reason {
        changed.push(("close_reason", Detail::Str(after.close_reason.clone())));
    }
    let order_id = |o: &Option<VenueOrder>| {
        o.as_ref()
            .map(|o| o.client_order_id.clone())
            .unwrap_or_default()
    };
    for (name, a, b) in [
        (
            "entry_order",
            &before.active_entry_order,
            &after.active_entry_order,
        ),
        (
            "exit_order",
            &before.active_exit_order,
            &after.active_exit_order,
        ),
    ] {
        if a != b {
            changed.push((name, Detail::Id(order_id(b))));
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::super::tests::{transition, values};
    use super::*;

    #[test]
    fn rows_read_back_as_written() {
        let mut o = Outbox::default();
        transition(&mut o, 7);
        o.record_account(
            8,
            &AccountRow {
                ts: 1.5,
                event_id: id("ev-é"),
                kind: AccountEventKind::AccountUpdate,
                asset: id("BTC"),
                amount: 2.0,
                fee: 0.1,
                fill_id: id(""),
                wallet_balance: Some(3.25),
                available_margin: None,
                used_margin: None,
                maint_margin: Some(0.0),
                k_capital: 10.0,
                reconcile_status: "OK",
                reconcile_delta: -0.5,
                accepted: false,
                diagnostic_code: KernelDiagnosticCode::UnknownOrder,
                fee_charged: Some(0.03),
            },
        );
        let t = o.drain_tables(usize::MAX);
        let tr = values(&t[TRANSITIONS], TRANSITIONS, 0);
        assert_eq!(tr.len(), TRANSITION_COLUMNS.len());
        assert_eq!(tr[0], "U64(7)");
        assert_eq!(tr[2], "Ts(0.5)");
        assert_eq!(tr[3], "Str(\"t\")");
        assert_eq!(tr[5], "Str(\"IDLE\")");
        assert_eq!(tr[7], "Str(\"ENTER\")");
        assert_eq!(
            tr[10],
            r#"{"qty":0.25,"n":-3,"ok":true,"why":"stale","id":"c-é","text":"a\"b"}"#
        );
        let ac = values(&t[ACCOUNT_EVENTS], ACCOUNT_EVENTS, 0);
        assert_eq!(ac.len(), ACCOUNT_COLUMNS.len());
        assert_eq!(ac[3], "Str(\"ev-é\")");
        assert_eq!(ac[9], "OptF64(Some(3.25))");
        assert_eq!(ac[10], "OptF64(None)");
        assert_eq!(ac[12], "OptF64(Some(0.0))");
        assert_eq!(ac[14], "Str(\"OK\")");
        assert_eq!(ac[15], "F64(-0.5)");
        assert_eq!(ac[16], "Bool(false)");
        assert_eq!(ac[17], "Str(\"UNKNOWN_ORDER\")");
        assert_eq!(ac[18], "OptF64(Some(0.03))");
    }

    #[test]
    fn refused_account_events_are_recorded_with_their_diagnostic() {
        use crate::kernel::Kernel;
        use crate::model::AccountEvent;
        let mut k = Kernel::new("k", 2).unwrap();
        k.set_journal_enabled(true);
        k.update_control(None, Some(Verbosity::Quiet), None, "test", 1.0);
        let _ = k.outbox.drain_tables(usize::MAX);
        // A settlement of no booked fill is held for it; one with its fee in `amount` is
        // refused.
        let mut unknown = AccountEvent::new("s1", AccountEventKind::FillSettled);
        unknown.fill_id = id("no-such-fill");
        unknown.amount = 0.5;
        unknown.timestamp = 2.0;
        let mut funding = AccountEvent::new("f1", AccountEventKind::FundingFee);
        funding.amount = -0.25;
        funding.timestamp = 3.0;
        let mut bad = AccountEvent::new("u1", AccountEventKind::AccountUpdate);
        bad.wallet_balance = Some(f64::NAN);
        bad.timestamp = 4.0;
        let outcomes: Vec<_> = [&unknown, &funding, &funding, &bad]
            .into_iter()
            .map(|ev| k.on_account_event(ev))
            .collect();
        let accepted: Vec<bool> = outcomes.iter().map(|o| o.accepted).collect();
        assert_eq!(accepted, [false, true, false, false]);
        let t = k.outbox.drain_tables(usize::MAX);
        let rows: Vec<Vec<String>> = (0..t[ACCOUNT_EVENTS].len())
            .map(|i| values(&t[ACCOUNT_EVENTS], ACCOUNT_EVENTS, i))
            .collect();
        let got: Vec<(&str, &str, &str, &str)> = rows
            .iter()
            .map(|r| (r[3].as_str(), r[4].as_str(), r[16].as_str(), r[17].as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Str(\"s1\")",
                    "Str(\"FILL_SETTLED\")",
                    "Bool(false)",
                    "Str(\"INVALID_INTENT\")"
                ),
                (
                    "Str(\"f1\")",
                    "Str(\"FUNDING_FEE\")",
                    "Bool(true)",
                    "Str(\"OK\")"
                ),
                (
                    "Str(\"f1\")",
                    "Str(\"FUNDING_FEE\")",
                    "Bool(false)",
                    "Str(\"DUPLICATE_EVENT\")"
                ),
                (
                    "Str(\"u1\")",
                    "Str(\"ACCOUNT_UPDATE\")",
                    "Bool(false)",
                    "Str(\"INVALID_INTENT\")"
                ),
            ]
        );
        // Each row has its input's seq, and a refused one carries the account as it stands.
        let seqs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        let want: Vec<String> = outcomes.iter().map(|o| format!("U64({})", o.seq)).collect();
        assert_eq!(seqs, want);
        assert_eq!(rows[2][13], rows[1][13], "the duplicate changed nothing");
        assert_eq!(
            rows[3][9], "OptF64(Some(NaN))",
            "the refused value as it came"
        );
        // Nothing was charged: a refused settlement, and the other kinds, leave fee_charged
        // empty.
        let charged: Vec<&str> = rows.iter().map(|r| r[18].as_str()).collect();
        assert_eq!(charged, ["OptF64(None)"; 4]);
    }

    #[test]
    fn a_settlements_row_holds_what_the_kernel_charged_the_fill() {
        use crate::kernel::Kernel;
        use crate::model::AccountEvent;
        let mut k = Kernel::new("k", 2).unwrap();
        k.set_journal_enabled(true);
        k.update_control(None, Some(Verbosity::Quiet), None, "test", 1.0);
        let fill = |k: &mut Kernel, coid: &Id, event_id: &str, fill_id: &str, size, filled| {
            let mut ev = VenueEvent::new(event_id, KernelEventKind::Fill, coid);
            (ev.price, ev.size, ev.filled_size, ev.fill_id) = (100.0, size, filled, id(fill_id));
            assert!(k.on_venue_event(&ev).accepted);
        };
        let settle = |k: &mut Kernel, event_id: &str, fill_id: &str, fee| {
            let mut ev = AccountEvent::new(event_id, AccountEventKind::FillSettled);
            (ev.fill_id, ev.asset, ev.fee) = (id(fill_id), id("BTC"), fee);
            k.on_account_event(&ev)
        };
        // Slot 0: a total of 2 (known by its event id "s1"), then trade "T2" of 3 at total 3,
        // of which the 1 left is booked. Slot 1: trade "W1" of 1, booked whole.
        let mut coids = Vec::new();
        for slot in 0..2 {
            let it = Intent::new(
                &format!("e{slot}"),
                &format!("t{slot}"),
                slot,
                "BTC",
                TradeSide::Long,
                KernelCommandType::Enter,
                100.0,
                10.0,
            );
            coids.push(k.process_intent(&it).submit.expect("sent").client_order_id);
        }
        fill(&mut k, &coids[0], "s1", "", 0.0, 2.0);
        fill(&mut k, &coids[0], "e2", "T2", 3.0, 3.0);
        fill(&mut k, &coids[1], "w1", "W1", 1.0, 1.0);
        let _ = k.outbox.drain_tables(usize::MAX);
        let part = settle(&mut k, "st", "T2", 0.18);
        let whole = settle(&mut k, "sw", "W1", 0.07);
        let again = settle(&mut k, "sw2", "W1", 0.07);
        assert!(part.accepted && whole.accepted && !again.accepted);
        let t = k.outbox.drain_tables(usize::MAX);
        let col = ACCOUNT_COLUMNS
            .iter()
            .position(|c| *c == "fee_charged")
            .unwrap();
        let charged: Vec<String> = (0..t[ACCOUNT_EVENTS].len())
            .map(|i| values(&t[ACCOUNT_EVENTS], ACCOUNT_EVENTS, i)[col].clone())
            .collect();
        // The share of the report's fee for the 1 of 3 booked under it, the whole fee of the
        // fill booked whole, nothing for the settlement refused.
        let share = 0.18 * 1.0 / 3.0;
        assert_eq!(
            charged,
            [
                format!("OptF64(Some({share:?}))"),
                "OptF64(Some(0.07))".into(),
                "OptF64(None)".into()
            ]
        );
    }

    #[test]
    fn every_table_reads_back_its_own_columns() {
        use crate::kernel::Kernel;
        let mut k = Kernel::new("k", 2).unwrap();
        k.set_journal_enabled(true);
        k.update_control(None, Some(Verbosity::Debug), None, "test", 1.0);
        let mut it = Intent::new(
            "e1",
            "t1",
            0,
            "BTC",
            TradeSide::Long,
            KernelCommandType::Enter,
            100.0,
            1.0,
        );
        it.reason = "why \"not\"".into();
        let out = k.process_intent(&it);
        let order = out.submit.expect("accepted");
        let mut fill = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
        fill.price = 100.0;
        fill.size = 1.0;
        fill.fill_id = id("exec-1");
        fill.fee = Some(0.02);
        fill.metadata
            .insert("venue".into(), MetaValue::Str("x".into()));
        assert!(k.on_venue_event(&fill).accepted);
        let mut limited = VenueEvent::new("r1", KernelEventKind::RateLimited, &id("c-9"));
        limited.retry_after = 2.5;
        let _ = k.on_venue_event(&limited);
        let tables = k.outbox.drain_tables(usize::MAX);
        for (t, buf) in tables.iter().enumerate() {
            if t == ACCOUNT_EVENTS {
                continue;
            }
            assert!(!buf.is_empty(), "{} has rows", TABLES[t]);
            for i in 0..buf.len() {
                assert_eq!(
                    values(buf, t, i).len(),
                    columns(TABLES[t]).len(),
                    "{}",
                    TABLES[t]
                );
            }
        }
        let intent = values(&tables[INTENTS], INTENTS, 0);
        assert_eq!(intent[3], "Str(\"e1\")");
        assert_eq!(intent[14], "Str(\"why \\\"not\\\"\")");
        let ev = values(&tables[VENUE_EVENTS], VENUE_EVENTS, 0);
        let col = |name| {
            columns("venue_events")
                .iter()
                .position(|c| *c == name)
                .unwrap()
        };
        assert_eq!(ev[col("fill_id")], "Str(\"exec-1\")");
        assert_eq!(ev[col("fee")], "OptF64(Some(0.02))");
        assert_eq!(ev[col("retry_after")], "F64(0.0)");
        assert_eq!(ev[col("metadata")], "Str(\"{\\\"venue\\\":\\\"x\\\"}\")");
        let limited = values(&tables[VENUE_EVENTS], VENUE_EVENTS, 1);
        assert_eq!(limited[col("fill_id")], "Str(\"\")");
        assert_eq!(limited[col("fee")], "OptF64(None)");
        assert_eq!(limited[col("retry_after")], "F64(2.5)");
        // Why the kernel refused or warned about an event is kept with it, as an intent's
        // is; an outcome with nothing to say leaves `{}`.
        assert_eq!(ev[col("severity")], "Str(\"INFO\")");
        assert_eq!(ev[col("details")], "{}");
        assert_eq!(limited[col("diagnostic_code")], "Str(\"UNKNOWN_ORDER\")");
        assert_eq!(limited[col("severity")], "Str(\"WARNING\")");
        assert_eq!(
            limited[col("details")],
            r#"{"venue_client_id":"c-9","venue_order_id":"","kind":"RATE_LIMITED"}"#
        );
    }
}
