//! Orders the venue fills or acknowledges short of their size. An ORDER_ACK for less than was
//! sent (cut to the venue's lot, or a reduce-only exit to the position) fills no more than
//! that: the acknowledged size is the order's (WARNING, `acked_size` and `order_size`), so the
//! kernel waits for no fill that never comes and the order completes; a larger one is not
//! taken (WARNING). A late ack (after a fill) for less cuts the order the same way. A FILL
//! saying its order is over short of its size (`FILLED`, nothing remaining, at the running
//! total booked: a market order on thin liquidity, an order cut to the lot) ends the order
//! there, as an expiry does (WARNING, `ended_short`), and keeps it for its late fills; left
//! working, its slot would take no new ENTER or EXIT for good.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{
    ack, close, detail, exit_whole, fill, filled_short, long_btc, open_btc, open_log,
    well_formed_details,
};

fn enter() -> Intent {
    long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0)
}

/// A partial fill as a venue states one: PARTIALLY_FILLED with the rest remaining.
fn partial(order: &VenueOrder, event_id: &str, size: f64, total: f64) -> VenueEvent {
    let rest = order.size - total;
    fill(
        order,
        event_id,
        size,
        total,
        VenueOrderStatus::PartiallyFilled,
        rest,
    )
}

/// Slot 0's entry of 1 BTC, acknowledged.
fn acked_entry(k: &mut Kernel) -> VenueOrder {
    let order = k.process_intent(&enter()).submit.expect("entry sent");
    assert!(k.on_venue_event(&ack(&order, 0.0)).accepted);
    order
}

fn triggers(out: &KernelOutcome) -> Vec<&str> {
    out.transitions.iter().map(|t| t.trigger).collect()
}

#[test]
fn an_entry_filled_short_opens_the_position_at_what_filled_and_takes_an_exit() {
    let mut k = Kernel::new("entry-short", 1).unwrap();
    let order = acked_entry(&mut k);
    let out = well_formed_details(k.on_venue_event(&filled_short(&order, "f1", 0.6, 0.6)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "ended_short"), Some(Detail::Bool(true)));
    assert_eq!(detail(&out, "order_size"), Some(Detail::F64(1.0)));
    assert_eq!(detail(&out, "filled_size"), Some(Detail::F64(0.6)));
    assert!(detail(&out, "reason").is_some());
    // The fill is booked as a fill, then the order ends as an expiry does.
    assert_eq!(triggers(&out), ["PARTIAL_FILL", "EXPIRED"]);
    assert_eq!(out.state, TradeStage::PositionOpen);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(slot.active_entry_order.is_none(), "{slot:?}");
    assert!(close(slot.size, 0.6) && close(slot.initial_size, 0.6));
    // It commits what it holds; nothing is owed, in doubt or working.
    assert!(close(slot.committed_notional, 60.0), "{slot:?}");
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    assert!(k.awaited_orders().is_empty() && k.open_orders().is_empty());
    assert_eq!(k.side_counts_difference(), None);
    // The venue's own end of it, should it send one too, is a late event: nothing changes.
    let mut end = VenueEvent::new("x", KernelEventKind::Expired, &order.client_order_id);
    end.filled_size = 0.6;
    let out = k.on_venue_event(&end);
    assert_eq!(
        (out.diagnostic_code, out.severity),
        (
            KernelDiagnosticCode::InvalidTransition,
            KernelSeverity::Info
        ),
        "{out:?}"
    );
    // The slot takes an EXIT of what it holds.
    assert!(close(exit_whole(&mut k, 0, 0).size, 0.6));
}

#[test]
fn an_exit_filled_short_leaves_the_rest_open() {
    let mut k = Kernel::new("exit-short", 1).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let order = exit_whole(&mut k, 0, 0);
    assert!(k.on_venue_event(&ack(&order, 0.0)).accepted);
    let out = well_formed_details(k.on_venue_event(&filled_short(&order, "x1", 0.4, 0.4)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "ended_short"), Some(Detail::Bool(true)));
    assert_eq!(triggers(&out), ["PARTIAL_FILL", "EXPIRED"]);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(slot.active_exit_order.is_none(), "{slot:?}");
    assert!(close(slot.size, 0.6));
    assert_eq!(k.side_counts_difference(), None);
    // The next exit closes the rest.
    assert!(close(exit_whole(&mut k, 0, 1).size, 0.6));
}

#[test]
fn a_total_only_report_short_beyond_the_tolerance_ends_the_order() {
    let mut k = Kernel::new("exit-closes", 1).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let order = exit_whole(&mut k, 0, 0);
    // A fill stating its total only (no size of its own), 1e-6 short: beyond the tolerance.
    let mut f = filled_short(&order, "x1", 0.0, 1.0 - 1e-6);
    f.fill_id = id("");
    let out = k.on_venue_event(&f);
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "ended_short"), Some(Detail::Bool(true)));
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(close(slot.size, 1e-6), "{slot:?}");
}

#[test]
fn a_short_end_before_the_ack_or_after_a_cancel_asked_ends_the_order_as_the_venue_would() {
    // Before its ack: the fill implies the ack, and the order ends.
    let mut k = Kernel::new("before-ack", 1).unwrap();
    let order = k.process_intent(&enter()).submit.expect("entry sent");
    let out = k.on_venue_event(&filled_short(&order, "f1", 0.6, 0.6));
    assert_eq!(triggers(&out), ["PARTIAL_FILL", "EXPIRED"], "{out:?}");
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
    // With a cancel asked: ended as its cancel ack would.
    let mut k = Kernel::new("canceling", 1).unwrap();
    let order = acked_entry(&mut k);
    let cancel = long_btc("c", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let out = k.on_venue_event(&filled_short(&order, "f1", 0.6, 0.6));
    assert_eq!(triggers(&out), ["PARTIAL_FILL", "CANCEL_ACK"], "{out:?}");
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
    assert!(close(k.slots()[0].size, 0.6));
}

#[test]
fn a_fill_that_does_not_say_the_order_is_over_keeps_it_working() {
    type Make = fn(&VenueOrder) -> VenueEvent;
    let cases: [(&str, Make); 5] = [
        ("PARTIALLY_FILLED", |o| partial(o, "f1", 0.6, 0.6)),
        ("FILLED with some remaining", |o| {
            fill(o, "f1", 0.6, 0.6, VenueOrderStatus::Filled, 0.4)
        }),
        ("PARTIALLY_FILLED, none remaining", |o| {
            fill(o, "f1", 0.6, 0.6, VenueOrderStatus::PartiallyFilled, 0.0)
        }),
        ("no running total", |o| filled_short(o, "f1", 0.6, 0.0)),
        // Its running total is beyond what is booked: a fill before it is missing.
        ("a gap before it", |o| filled_short(o, "f1", 0.3, 0.6)),
    ];
    for (case, make) in cases {
        let mut k = Kernel::new("works", 1).unwrap();
        let order = acked_entry(&mut k);
        let out = k.on_venue_event(&make(&order));
        assert!(out.accepted, "{case}: {out:?}");
        assert_eq!(detail(&out, "ended_short"), None, "{case}");
        assert_eq!(triggers(&out), ["PARTIAL_FILL"], "{case}");
        assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking, "{case}");
        assert_eq!(k.open_orders().len(), 1, "{case}");
    }
}

#[test]
fn a_resend_or_a_total_below_what_is_booked_keeps_the_order_working() {
    // The first fill, then its resend stating FILLED under a new event id: refused, nothing ends.
    let mut k = Kernel::new("resend", 1).unwrap();
    let order = acked_entry(&mut k);
    assert!(k.on_venue_event(&partial(&order, "f1", 0.6, 0.6)).accepted);
    let mut resend = filled_short(&order, "f1-again", 0.6, 0.6);
    resend.fill_id = id("T-f1");
    let out = k.on_venue_event(&resend);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::DuplicateEvent,
        "{out:?}"
    );
    assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking);
    // An earlier fill arriving late, FILLED at its own total (0.2) below what is booked (0.8):
    // not the venue's last word on the order.
    let mut k = Kernel::new("out-of-order", 1).unwrap();
    let order = acked_entry(&mut k);
    assert!(k.on_venue_event(&partial(&order, "f2", 0.6, 0.8)).accepted);
    let out = k.on_venue_event(&filled_short(&order, "f1", 0.2, 0.2));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "ended_short"), None);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::EntryWorking);
    assert!(close(slot.size, 0.8));
    // Once the total booked is the one stated, a FILLED short ends it.
    let out = k.on_venue_event(&filled_short(&order, "f3", 0.1, 0.9));
    assert_eq!(
        detail(&out, "ended_short"),
        Some(Detail::Bool(true)),
        "{out:?}"
    );
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
}

#[test]
fn a_fill_of_the_order_after_its_short_end_is_booked_as_a_late_fill() {
    let mut k = Kernel::new("late", 1).unwrap();
    let order = acked_entry(&mut k);
    assert!(
        k.on_venue_event(&filled_short(&order, "f1", 0.6, 0.6))
            .accepted
    );
    // The same fill resent is known.
    let mut resend = filled_short(&order, "f1-again", 0.6, 0.6);
    resend.fill_id = id("T-f1");
    let out = k.on_venue_event(&resend);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::DuplicateEvent,
        "{out:?}"
    );
    // The venue filled more after all: booked, WARNING, the position grows.
    let out = well_formed_details(k.on_venue_event(&partial(&order, "f2", 0.2, 0.8)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::Ok);
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "late_fill"), Some(Detail::Bool(true)));
    assert_eq!(triggers(&out), ["LATE_FILL"]);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(close(slot.size, 0.8) && close(slot.initial_size, 0.8));
    assert_eq!(k.side_counts_difference(), None);
    // Named by the venue's id alone, too.
    let mut by_venue_id = partial(&order, "f3", 0.1, 0.9);
    by_venue_id.venue_client_id = id("");
    by_venue_id.venue_order_id = id(&format!("v-{}", order.client_order_id));
    let out = k.on_venue_event(&by_venue_id);
    assert!(out.accepted, "{out:?}");
    assert!(close(k.slots()[0].size, 0.9));
}

/// Enters slot 0, then the venue acks and fills 0.6, FILLED (recorded in a log in `dir`); the
/// kernel after.
fn entered_filled_short(dir: &std::path::Path) -> Kernel {
    let (mut log, mut k) = open_log(dir, "log", 0);
    let enter = KernelInput::Intent(enter());
    let out = k.apply(&enter).unwrap();
    log.record(&k, &enter).unwrap();
    let order = out.submit.unwrap();
    for input in [
        KernelInput::VenueEvent(ack(&order, 0.0)),
        KernelInput::VenueEvent(filled_short(&order, "f1", 0.6, 0.6)),
    ] {
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    k
}

#[test]
fn a_log_of_an_order_ended_short_by_its_fill_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let k = entered_filled_short(dir.path());
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
    assert!(close(k.slots()[0].size, 0.6));
    let (_, recovered) = open_log(dir.path(), "log", 0);
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.seq(), k.seq());
    assert_eq!(recovered.open_orders().len(), k.open_orders().len());
}

/// Slot 0's entry of 1, filled 0.4 before its ack (the fill carries no venue id); the order.
fn filled_before_its_ack(k: &mut Kernel) -> VenueOrder {
    let order = k.process_intent(&enter()).submit.expect("entry sent");
    assert!(k.on_venue_event(&partial(&order, "f1", 0.4, 0.4)).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking);
    order
}

#[test]
fn a_late_ack_for_less_cuts_the_order_and_its_fill_completes_it() {
    let mut k = Kernel::new("late-ack", 1).unwrap();
    let order = filled_before_its_ack(&mut k);
    let out = well_formed_details(k.on_venue_event(&ack(&order, 0.6)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "late_ack"), Some(Detail::Bool(true)));
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "acked_size"), Some(Detail::F64(0.6)));
    assert_eq!(detail(&out, "order_size"), Some(Detail::F64(1.0)));
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::EntryWorking);
    assert_eq!(slot.active_entry_order.as_ref().unwrap().size, 0.6);
    assert!(close(slot.committed_notional, 60.0), "{slot:?}");
    assert_eq!(k.side_counts_difference(), None);
    let out = k.on_venue_event(&partial(&order, "f2", 0.2, 0.6));
    assert!(out.accepted, "{out:?}");
    assert_eq!(triggers(&out), ["FILL"]);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(slot.active_entry_order.is_none() && close(slot.size, 0.6));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn a_late_ack_at_what_filled_completes_the_order() {
    let mut k = Kernel::new("late-ack-done", 1).unwrap();
    let order = filled_before_its_ack(&mut k);
    let out = well_formed_details(k.on_venue_event(&ack(&order, 0.4)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "acked_size"), Some(Detail::F64(0.4)));
    assert_eq!(triggers(&out), ["FILL"]);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(slot.active_entry_order.is_none(), "{slot:?}");
    assert!(close(slot.size, 0.4) && close(slot.committed_notional, 40.0));
    assert!(k.open_orders().is_empty());
    assert_eq!(k.side_counts_difference(), None);
    // The order is over: a fill of it beyond is money no slot shows, for reconciliation.
    let out = k.on_venue_event(&partial(&order, "f2", 0.1, 0.5));
    assert!(!out.accepted, "{out:?}");
    // An exit's the same: what is left of the position stays open, the leg done.
    let mut k = Kernel::new("late-ack-exit", 1).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let order = exit_whole(&mut k, 0, 0);
    assert!(k.on_venue_event(&partial(&order, "x1", 0.3, 0.3)).accepted);
    let out = k.on_venue_event(&ack(&order, 0.3));
    assert!(out.accepted, "{out:?}");
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(
        slot.active_exit_order.is_none() && close(slot.size, 0.7),
        "{slot:?}"
    );
    assert_eq!(k.side_counts_difference(), None);
}

/// A fill of `size` of `order` at 100, its total `size`, FILLED with nothing remaining.
fn filled(order: &VenueOrder, size: f64) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("fill-{}", order.client_order_id),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, size, size, 1_000.0);
    e.status = VenueOrderStatus::Filled;
    e
}

#[test]
fn an_entry_acknowledged_for_less_is_that_size_and_completes_at_it() {
    let mut k = Kernel::new("ack-less", 1).unwrap();
    let order = k.process_intent(&enter()).submit.unwrap();
    assert!(close(k.slots()[0].committed_notional, 100.0));
    let out = well_formed_details(k.on_venue_event(&ack(&order, 0.6)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "acked_size"), Some(Detail::F64(0.6)));
    assert_eq!(detail(&out, "order_size"), Some(Detail::F64(1.0)));
    assert!(detail(&out, "reason").is_some());
    let slot = &k.slots()[0];
    assert_eq!(slot.active_entry_order.as_ref().unwrap().size, 0.6);
    assert!(close(slot.committed_notional, 60.0), "{slot:?}");
    assert_eq!(k.side_counts_difference(), None);
    assert!(k.on_venue_event(&filled(&order, 0.6)).accepted);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(slot.active_entry_order.is_none(), "{slot:?}");
    assert!(close(slot.size, 0.6));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn an_exit_acknowledged_for_less_completes_at_it_the_rest_held() {
    let mut k = Kernel::new("ack-exit", 1).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let x = long_btc("x0", "", 0, KernelCommandType::Exit, 0.0);
    let order = k.process_intent(&x).submit.unwrap();
    let out = k.on_venue_event(&ack(&order, 0.4));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert!(k.on_venue_event(&filled(&order, 0.4)).accepted);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert!(slot.active_exit_order.is_none(), "{slot:?}");
    assert!(close(slot.size, 0.6));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn an_ack_for_more_than_was_sent_leaves_the_size_and_says_so() {
    let mut k = Kernel::new("ack-more", 1).unwrap();
    let order = k.process_intent(&enter()).submit.unwrap();
    let out = well_formed_details(k.on_venue_event(&ack(&order, 1.5)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "acked_size"), Some(Detail::F64(1.5)));
    assert_eq!(k.slots()[0].active_entry_order.as_ref().unwrap().size, 1.0);
    // An ack of the size sent, or stating none, is an ack as ever.
    for size in [1.0, 0.0] {
        let mut k = Kernel::new("ack-same", 1).unwrap();
        let order = k.process_intent(&enter()).submit.unwrap();
        let out = k.on_venue_event(&ack(&order, size));
        assert_eq!(out.severity, KernelSeverity::Info, "{size}: {out:?}");
        assert_eq!(detail(&out, "acked_size"), None);
    }
}

#[test]
fn a_log_of_an_ack_for_less_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open_log(dir.path(), "log", 0);
    let enter = KernelInput::Intent(enter());
    let out = k.apply(&enter).unwrap();
    log.record(&k, &enter).unwrap();
    let order = out.submit.unwrap();
    for input in [
        KernelInput::VenueEvent(ack(&order, 0.6)),
        KernelInput::VenueEvent(filled(&order, 0.6)),
    ] {
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
    drop(log);
    let (_, recovered) = open_log(dir.path(), "log", 0);
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.seq(), k.seq());
}

#[test]
fn a_fill_made_without_a_status_takes_it_from_the_sizes() {
    // What the bindings give a FILL made without a status before the kernel takes it: a part
    // fill so made must not say FILLED, or its running total ends the order at it.
    let mut k = Kernel::new("no-status", 1).unwrap();
    let order = acked_entry(&mut k);
    let mut part = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
    (part.price, part.size, part.filled_size) = (100.0, 0.4, 0.4);
    assert_eq!(part.status, VenueOrderStatus::Filled, "the kind's own");
    part.status = k.fill_status_by_sizes(&part);
    assert_eq!(part.status, VenueOrderStatus::PartiallyFilled);
    let out = k.on_venue_event(&part);
    assert!(
        out.accepted && detail(&out, "ended_short").is_none(),
        "{out:?}"
    );
    assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking);
    // Stating only its running total, or only its size, the last fill is FILLED.
    let mut last = VenueEvent::new("f2", KernelEventKind::Fill, &order.client_order_id);
    (last.price, last.filled_size) = (100.0, 1.0);
    assert_eq!(k.fill_status_by_sizes(&last), VenueOrderStatus::Filled);
    (last.size, last.filled_size) = (0.6, 0.0);
    assert_eq!(k.fill_status_by_sizes(&last), VenueOrderStatus::Filled);
    // Named by its venue id alone, the order is found so.
    let mut by_venue_id = VenueEvent::new("f3", KernelEventKind::Fill, &id(""));
    (by_venue_id.size, by_venue_id.venue_order_id) =
        (0.1, id(&format!("v-{}", order.client_order_id)));
    assert_eq!(
        k.fill_status_by_sizes(&by_venue_id),
        VenueOrderStatus::PartiallyFilled
    );
    // An order the kernel does not hold working: the kind's own.
    let unknown = VenueEvent::new("f4", KernelEventKind::Fill, &id("nobody"));
    assert_eq!(k.fill_status_by_sizes(&unknown), VenueOrderStatus::Filled);
    assert!(k.on_venue_event(&last).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
}
