//! The canonical text of everything a caller can observe: each line built from named public
//! fields (never `{:?}` of a whole struct, whose layout is the kernel's own business), floats
//! printed exactly (`{:?}` of an f64 round-trips), text quoted. Every line is hashed into the
//! sequence's digest; a dump prints them.

use std::fmt::{Display, Write};

use dita_kernel::account::Account;
use dita_kernel::fees::Calibration;
use dita_kernel::journal::{self, RowBuf, Value};
use dita_kernel::*;

/// The lines of one sequence: hashed, and printed too when dumping.
pub struct Lines {
    hasher: blake3::Hasher,
    dump: bool,
}

impl Lines {
    pub fn new(dump: bool) -> Lines {
        Lines {
            hasher: blake3::Hasher::new(),
            dump,
        }
    }

    pub fn push(&mut self, line: &str) {
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        if self.dump {
            println!("{line}");
        }
    }

    pub fn digest(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

/// One line under construction: a tag, then ` name=value` pairs.
pub struct Line(pub String);

impl Line {
    pub fn new(tag: &str) -> Line {
        Line(tag.to_string())
    }

    fn named(&mut self, name: &str) -> &mut String {
        self.0.push(' ');
        self.0.push_str(name);
        self.0.push('=');
        &mut self.0
    }

    pub fn num(&mut self, name: &str, x: f64) -> &mut Self {
        let _ = write!(self.named(name), "{x:?}");
        self
    }

    pub fn opt(&mut self, name: &str, x: Option<f64>) -> &mut Self {
        match x {
            Some(x) => self.num(name, x),
            None => self.int(name, "None"),
        }
    }

    pub fn int(&mut self, name: &str, x: impl Display) -> &mut Self {
        let _ = write!(self.named(name), "{x}");
        self
    }

    pub fn text(&mut self, name: &str, s: &str) -> &mut Self {
        let _ = write!(self.named(name), "{s:?}");
        self
    }

    pub fn flag(&mut self, name: &str, b: bool) -> &mut Self {
        self.int(name, b)
    }

    pub fn nums(&mut self, name: &str, xs: &[f64]) -> &mut Self {
        let out = self.named(name);
        out.push('[');
        for (i, x) in xs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{x:?}");
        }
        out.push(']');
        self
    }

    pub fn metadata(&mut self, name: &str, m: &Metadata) -> &mut Self {
        let out = self.named(name);
        out.push('{');
        for (i, (k, v)) in m.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k:?}:");
            let _ = match v {
                MetaValue::Null => write!(out, "null"),
                MetaValue::Bool(b) => write!(out, "{b}"),
                MetaValue::Int(x) => write!(out, "i{x}"),
                MetaValue::Float(x) => write!(out, "f{x:?}"),
                MetaValue::Str(s) => write!(out, "{s:?}"),
            };
        }
        out.push('}');
        self
    }

    pub fn detail(&mut self, name: &str, v: DetailRef<'_>) -> &mut Self {
        match v {
            DetailRef::Str(s) => self.text(name, s),
            DetailRef::F64(x) => self.num(name, x),
            DetailRef::I64(x) => self.int(name, format!("i{x}")),
            DetailRef::Bool(b) => self.flag(name, b),
        }
    }

    pub fn done(&mut self, lines: &mut Lines) {
        lines.push(&self.0);
    }
}

pub fn intent(lines: &mut Lines, n: usize, i: &Intent) {
    Line::new(&format!("I{n} intent"))
        .text("intent_id", &i.intent_id)
        .text("trade_id", &i.trade_id)
        .int("slot_id", i.slot_id)
        .text("asset", &i.asset)
        .int("side", i.side)
        .int("action", i.action)
        .num("reference_price", i.reference_price)
        .num("target_size", i.target_size)
        .num("leverage", i.leverage)
        .nums("exit_leg_ratios", &i.exit_leg_ratios)
        .int("order_type", i.order_type)
        .num("limit_price", i.limit_price)
        .text("reason", &i.reason)
        .metadata("metadata", &i.metadata)
        .num("timestamp", i.timestamp)
        .done(lines);
}

fn venue_event_fields(line: &mut Line, e: &VenueEvent) {
    line.text("event_id", &e.event_id)
        .text("trade_id", &e.trade_id)
        .int("slot_id", e.slot_id)
        .int("kind", e.kind)
        .int("status", e.status)
        .text("venue_order_id", &e.venue_order_id)
        .text("venue_client_id", &e.venue_client_id)
        .int("side", e.side.map_or("None", |s| s.name()))
        .text("asset", &e.asset)
        .num("price", e.price)
        .num("size", e.size)
        .num("filled_size", e.filled_size)
        .num("remaining_size", e.remaining_size)
        .text("reason", &e.reason)
        .metadata("metadata", &e.metadata)
        .num("timestamp", e.timestamp)
        .text("fill_id", &e.fill_id)
        .opt("fee", e.fee)
        .num("retry_after", e.retry_after);
}

pub fn venue_event(lines: &mut Lines, tag: &str, e: &VenueEvent) {
    let mut line = Line::new(tag);
    venue_event_fields(&mut line, e);
    line.done(lines);
}

pub fn account_event(lines: &mut Lines, n: usize, e: &AccountEvent) {
    Line::new(&format!("I{n} account_event"))
        .text("event_id", &e.event_id)
        .int("kind", e.kind.name())
        .text("asset", &e.asset)
        .num("amount", e.amount)
        .num("fee", e.fee)
        .text("fill_id", &e.fill_id)
        .opt("wallet_balance", e.wallet_balance)
        .opt("available_margin", e.available_margin)
        .opt("used_margin", e.used_margin)
        .opt("maint_margin", e.maint_margin)
        .num("timestamp", e.timestamp)
        .done(lines);
}

pub fn order(lines: &mut Lines, tag: &str, o: &VenueOrder) {
    Line::new(tag)
        .text("client_order_id", &o.client_order_id)
        .text("venue_order_id", &o.venue_order_id)
        .int("slot_id", o.slot_id)
        .text("trade_id", &o.trade_id)
        .text("asset", &o.asset)
        .int("side", o.side)
        .int("order_type", o.order_type)
        .num("price", o.price)
        .num("reference_price", o.reference_price)
        .num("size", o.size)
        .num("filled_size", o.filled_size)
        .num("avg_fill_price", o.avg_fill_price)
        .int("status", o.status)
        .flag("reduce_only", o.reduce_only)
        .flag("cancel_requested", o.cancel_requested)
        .num("created_at", o.created_at)
        .flag("is_entry", o.is_entry)
        .done(lines);
}

/// An outcome: its own line, then a line per transition, emitted event, order to submit
/// and order to cancel.
pub fn outcome(lines: &mut Lines, o: &KernelOutcome) {
    let mut line = Line::new("O");
    line.flag("accepted", o.accepted)
        .int("slot_id", o.slot_id)
        .text("trade_id", &o.trade_id)
        .int("state", o.state)
        .int("diagnostic_code", o.diagnostic_code)
        .int("severity", o.severity)
        .int("seq", o.seq);
    line.0.push_str(" details:");
    for (k, v) in &o.details {
        line.detail(k, v.as_ref());
    }
    line.done(lines);
    for t in &o.transitions {
        let mut line = Line::new(" T");
        line.num("timestamp", t.timestamp)
            .text("trade_id", &t.trade_id)
            .int("slot_id", t.slot_id)
            .int("prev_state", t.prev_state)
            .int("next_state", t.next_state)
            .text("trigger", t.trigger)
            .text("intent_id", &t.intent_id)
            .text("event_id", &t.event_id);
        line.0.push_str(" details:");
        for (k, v) in t.details.iter() {
            line.detail(k, v);
        }
        line.done(lines);
    }
    for e in &o.emitted_events {
        venue_event(lines, " E", e);
    }
    if let Some(s) = &o.submit {
        order(lines, " S", s);
    }
    for c in &o.cancels {
        order(lines, " C", c);
    }
}

/// The answer of an input that returns a `Result`.
pub fn result<T>(lines: &mut Lines, r: &KernelResult<T>, ok: impl Fn(&T) -> String) {
    match r {
        Ok(v) => lines.push(&format!("R ok {}", ok(v))),
        Err(e) => lines.push(&format!("R err {:?}", e.to_string())),
    }
}

pub fn calibration(c: &Calibration) -> String {
    let mut line = Line::new("calibration");
    line.num("expected_fee", c.expected_fee)
        .num("actual_fee", c.actual_fee)
        .num("ratio", c.ratio)
        .num("deviation_pct", c.deviation_pct)
        .int("calibration_status", c.calibration_status.name())
        .num("calibration_ratio", c.calibration_ratio)
        .int("calibration_samples", c.calibration_samples)
        .flag("learned", c.learned)
        .int("liquidity", c.liquidity.name());
    line.0
}

/// Every journal row the outbox holds, taken out of it (so each input shows its own), one
/// line each: table, then each column's name and value. Returns how many.
pub fn journal_rows(lines: &mut Lines, k: &mut Kernel) -> usize {
    let taken = k.outbox.take_rows(usize::MAX);
    let mut n = 0;
    for (table, segments) in taken.iter().enumerate() {
        let name = journal::TABLES[table];
        let columns = journal::columns(name);
        for segment in segments {
            for i in 0..segment.len() {
                lines.push(&row(segment, table, i, name, columns));
                n += 1;
            }
        }
    }
    let pool = k.outbox.pool;
    for segments in taken {
        pool.give(segments);
    }
    n
}

fn row(segment: &RowBuf, table: usize, i: usize, name: &str, columns: &[&str]) -> String {
    let mut line = Line::new(&format!("J {name}"));
    let mut at = 0;
    segment.visit(table, i, &mut |v| {
        let column = columns.get(at).copied().unwrap_or("?");
        at += 1;
        match v {
            Value::U64(x) => line.int(column, x),
            Value::U32(x) => line.int(column, x),
            Value::I64(x) => line.int(column, format!("i{x}")),
            Value::F64(x) | Value::Ts(x) => line.num(column, x),
            Value::OptF64(x) => line.opt(column, x),
            Value::Bool(b) => line.flag(column, b),
            Value::Str(s) => line.text(column, s),
            Value::Details(d) => line.text(column, &d.to_json()),
        };
    });
    line.0
}

/// The slots, account and control the projection is told changed, taken (slots in order:
/// the projection writes each once, whatever order they were marked in).
pub fn projection_keys(lines: &mut Lines, k: &mut Kernel) {
    let (mut slots, account, control) = k.dirty.drain();
    slots.sort_unstable();
    Line::new("D")
        .int("slots", format!("{slots:?}"))
        .flag("account", account)
        .flag("control", control)
        .done(lines);
}

/// After every input: the sequence number and the counters.
pub fn counters(lines: &mut Lines, k: &Kernel) {
    let c = &k.counters;
    Line::new("S")
        .int("seq", k.seq())
        .int("intents", c.intents)
        .int("intents_accepted", c.intents_accepted)
        .int("intents_refused", c.intents_refused)
        .int("venue_events", c.venue_events)
        .int("venue_events_refused", c.venue_events_refused)
        .int("fills", c.fills)
        .int("orders_submitted", c.orders_submitted)
        .int("cancels_requested", c.cancels_requested)
        .int("account_events", c.account_events)
        .done(lines);
}

pub fn slot(lines: &mut Lines, s: &TradeSlot) {
    Line::new("Z slot")
        .int("slot_id", s.slot_id)
        .text("trade_id", &s.trade_id)
        .text("asset", &s.asset)
        .int("side", s.side)
        .num("entry_price", s.entry_price)
        .num("size", s.size)
        .num("initial_size", s.initial_size)
        .num("leverage", s.leverage)
        .num("entry_time", s.entry_time)
        .num("unrealized_pnl", s.unrealized_pnl)
        .num("realized_pnl", s.realized_pnl)
        .num("fees_paid", s.fees_paid)
        .flag("closed", s.closed)
        .nums("exit_leg_ratios", &s.exit_leg_ratios)
        .int("active_leg_index", s.active_leg_index)
        .num("leg_taken", s.leg_taken)
        .int("fsm_state", s.fsm_state)
        .text("close_reason", &s.close_reason)
        .num("last_event_time", s.last_event_time)
        .metadata("metadata", &s.metadata)
        .num("mark_price", s.mark_price)
        .num("committed_notional", s.committed_notional)
        .text("exit_reason", &s.exit_reason)
        .done(lines);
    if let Some(o) = &s.active_entry_order {
        order(lines, "Z  entry_order", o);
    }
    if let Some(o) = &s.active_exit_order {
        order(lines, "Z  exit_order", o);
    }
}

fn account(lines: &mut Lines, a: &Account) {
    let r = a.reconcile();
    let taken_at = a.e_taken_at;
    Line::new("Z account")
        .num("seed_capital", a.seed_capital)
        .num("k_realized_pnl", a.k_realized_pnl)
        .num("k_fees_paid", a.k_fees_paid)
        .num("k_funding_net", a.k_funding_net)
        .opt("e_wallet_balance", a.e_wallet_balance)
        .opt("e_available_margin", a.e_available_margin)
        .opt("e_used_margin", a.e_used_margin)
        .opt("e_maint_margin", a.e_maint_margin)
        .num("k_unsettled_fees", a.k_unsettled_fees)
        .int("event_seq", a.event_seq)
        .num("last_update_time", a.last_update_time)
        .opt("wallet_taken_at", taken_at[0])
        .opt("available_taken_at", taken_at[1])
        .opt("used_taken_at", taken_at[2])
        .opt("maint_taken_at", taken_at[3])
        .num("input_time", a.input_time)
        .num("k_capital", a.k_capital())
        .num("available_capital", a.available_capital())
        .int("reconcile_status", r.status.name())
        .num("reconcile_delta", r.delta)
        .text("reconcile_explanation", &r.explanation)
        .done(lines);
}

fn configuration(lines: &mut Lines, k: &Kernel, assets: &[&str]) {
    let c = &k.control;
    Line::new("Z control")
        .int("mode", c.mode)
        .int("verbosity", c.verbosity)
        .flag("debug_clickhouse_enabled", c.debug_clickhouse_enabled)
        .text("source", &c.source)
        .flag("frozen", c.frozen)
        .text("freeze_reason", &c.freeze_reason)
        .text("freeze_asset", &c.freeze_asset)
        .int("freeze_events", c.freeze_events)
        .int("updated_seq", c.updated_seq)
        .done(lines);
    let f = &k.fees;
    Line::new("Z fees")
        .num("taker_rate", f.config.taker_rate)
        .num("maker_rate", f.config.maker_rate)
        .num("lot_step", f.config.lot_step)
        .num("tick_size", f.config.tick_size)
        .num("min_notional", f.config.min_notional)
        .num("funding_interval_secs", f.config.funding_interval_secs)
        .num("calibration_ratio", f.calibration_ratio)
        .int("calibration_samples", f.calibration_samples)
        .num("maker_ratio", f.maker.ratio)
        .int("maker_samples", f.maker.samples)
        .num("taker_ratio", f.taker.ratio)
        .int("taker_samples", f.taker.samples)
        .done(lines);
    let r = &k.risk;
    Line::new("Z risk")
        .opt("max_leverage", r.max_leverage)
        .opt("max_notional_per_asset", r.max_notional_per_asset)
        .opt("max_notional_total", r.max_notional_total)
        .opt("max_order_rate", r.max_order_rate)
        .int("regime", r.regime.name())
        .opt("edge_freeze_threshold_bps", r.edge_freeze_threshold_bps)
        .flag("require_source_run_in_live", r.require_source_run_in_live)
        .done(lines);
    for asset in assets {
        if let Some(m) = k.market_limits(asset) {
            Line::new("Z market_limits")
                .text("asset", asset)
                .num("lot_step", m.lot_step)
                .num("tick_size", m.tick_size)
                .num("min_qty", m.min_qty)
                .num("min_notional", m.min_notional)
                .done(lines);
        }
    }
}

/// The kernel's whole observable state: slots, account, configuration, counters, orders.
pub fn snapshot(lines: &mut Lines, k: &Kernel, assets: &[&str]) {
    for s in k.slots() {
        slot(lines, s);
    }
    account(lines, &k.account);
    configuration(lines, k, assets);
    counters(lines, k);
    let (upnl, notional) = k.open_totals();
    let o = &k.outbox;
    Line::new("Z totals")
        .int("max_slots", k.max_slots())
        .int("free_slot", format!("{:?}", k.free_slot()))
        .int("open_positions", k.open_positions())
        .num("total_committed_notional", k.total_committed_notional())
        .num("open_unrealized_pnl", upnl)
        .num("open_notional", notional)
        .int("journal_queued_total", o.queued_total)
        .int("journal_dropped", o.dropped)
        .done(lines);
    for o in k.open_orders() {
        order(lines, "Z open_order", o);
    }
    for o in k.awaited_orders() {
        order(lines, "Z awaited_order", o);
    }
    for o in k.orders_in_doubt() {
        order(lines, "Z order_in_doubt", o);
    }
    for o in k.orders_ended_without_figure() {
        order(lines, "Z order_ended_without_figure", o);
    }
    for sid in 0..k.max_slots() {
        let (fill, entry) = (k.awaited_fill_qty(sid), k.awaited_entry_qty(sid));
        if fill != 0.0 || entry != 0.0 {
            Line::new("Z awaited")
                .int("slot_id", sid)
                .num("fill_qty", fill)
                .num("entry_qty", entry)
                .done(lines);
        }
    }
}
