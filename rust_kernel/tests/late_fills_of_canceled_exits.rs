//! A late fill of an exit whose cancel was acknowledged is booked while a second exit of the
//! slot works (the venue sold it: the slot must not hold it, nor the second exit be sized on
//! it), and an exit ending with nothing left to hold closes the trade.
//! A second exit working for more than the late fill left is asked to cancel: the venue caps
//! reduce-only at its netted position, which other slots still cover. An exit fill beyond what
//! its slot holds realizes PnL on what the slot held, and says the rest (CRITICAL,
//! `unheld_qty`): the venue sold a position no slot holds, which the operator must hear of, and
//! the trade never held it to gain or lose on. It gets there after a late fill of an earlier
//! exit took part of the position: an exit the venue does not cap (one not reduce-only, in a
//! book hedged on the asset), or one capped at a net other slots cover, filled before its cancel.

use dita_kernel::*;

mod common;
use common::{close, detail, exit_whole, long_btc, open_btc};

/// An event of `kind` for `order` under `event_id`.
fn event(event_id: &str, kind: KernelEventKind, order: &VenueOrder) -> VenueEvent {
    VenueEvent::new(event_id, kind, &order.client_order_id)
}

/// A fill of `size` of `order` at 100 stating the running total `total`, fill id `fill_id`.
fn fill(event_id: &str, order: &VenueOrder, size: f64, total: f64, fill_id: &str) -> VenueEvent {
    let mut f = event(event_id, KernelEventKind::Fill, order);
    f.price = 100.0;
    f.size = size;
    f.filled_size = total;
    f.fill_id = id(fill_id);
    // A fill stating FILLED short of its order's size would end the order.
    if total < order.size {
        f.status = VenueOrderStatus::PartiallyFilled;
    }
    f
}

/// Slot 0 long 1 BTC; its exit `X1` acknowledged, canceled, and the cancel acknowledged
/// without a filled size; then a second exit `X2` of the whole position, acknowledged. The
/// venue had filled part of `X1` before the cancel: its report has not come yet. Returns
/// both exits.
fn second_exit_beside_a_canceled_one(k: &mut Kernel) -> (VenueOrder, VenueOrder) {
    open_btc(k, 0, TradeSide::Long, 1.0);
    let x1 = exit_whole(k, 0, 1);
    let mut ack = event("ack-x1", KernelEventKind::OrderAck, &x1);
    ack.venue_order_id = id("V-X1");
    assert!(k.on_venue_event(&ack).accepted);
    let cancel = common::long_btc("c1", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let out = k.on_venue_event(&event("cx1", KernelEventKind::CancelAck, &x1));
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
    let x2 = exit_whole(k, 0, 2);
    assert!((x2.size - 1.0).abs() < 1e-12);
    let mut ack = event("ack-x2", KernelEventKind::OrderAck, &x2);
    ack.venue_order_id = id("V-X2");
    assert!(k.on_venue_event(&ack).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::ExitWorking);
    (x1, x2)
}

#[test]
fn a_late_fill_of_a_canceled_exit_is_booked_while_a_second_exit_works() {
    let mut k = Kernel::new("late-exit", 1).unwrap();
    let (x1, x2) = second_exit_beside_a_canceled_one(&mut k);
    // The venue sold 0.4 on X1 before its cancel.
    let out = k.on_venue_event(&fill("fx1", &x1, 0.4, 0.4, "T1"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "late_fill"), Some(Detail::Bool(true)));
    let s = &k.slots()[0];
    assert!(
        (s.size - 0.6).abs() < 1e-12,
        "the venue holds 0.6: {}",
        s.size
    );
    assert_eq!(s.fsm_state, TradeStage::ExitWorking);
    // The second exit works for more than is left: it is asked to cancel, since the venue
    // nets the slots' positions and a reduce-only order is capped at the net, not the slot.
    let working = s.active_exit_order.as_ref().unwrap();
    assert_eq!(working.client_order_id, x2.client_order_id);
    assert!(working.cancel_requested);
    assert_eq!(out.cancels.len(), 1);
    assert_eq!(out.cancels[0].client_order_id, x2.client_order_id);
    assert_eq!(k.side_counts_difference(), None);
    // Resent, it is known.
    let again = k.on_venue_event(&fill("fx1-again", &x1, 0.4, 0.4, "T1"));
    assert_eq!(again.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    // X2 fills what the slot held before its cancel, which ends the rest.
    assert!(k.on_venue_event(&fill("fx2", &x2, 0.6, 0.6, "T2")).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::ExitWorking);
    assert!(k.slots()[0].size.abs() < 1e-12);
    let mut expired = event("ex2", KernelEventKind::Expired, &x2);
    expired.filled_size = 0.6;
    let out = k.on_venue_event(&expired);
    assert!(out.accepted, "{out:?}");
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::Closed, "the trade is over: {s:?}");
    assert!(s.closed);
    assert_eq!(k.free_slot(), Some(0));
    assert_eq!(k.side_counts_difference(), None);
    assert!((k.account.k_realized_pnl).abs() < 1e-9);
}

#[test]
fn a_late_fill_taking_the_whole_position_leaves_the_second_exit_to_end_and_close() {
    let mut k = Kernel::new("late-exit-all", 1).unwrap();
    let (x1, x2) = second_exit_beside_a_canceled_one(&mut k);
    // X1 had filled whole before the cancel: nothing is left for X2.
    let out = k.on_venue_event(&fill("fx1", &x1, 1.0, 1.0, "T1"));
    assert!(out.accepted, "{out:?}");
    let s = &k.slots()[0];
    assert!(s.size.abs() < 1e-12);
    assert_eq!(s.fsm_state, TradeStage::ExitWorking);
    assert_eq!(k.side_counts_difference(), None);
    // The venue refuses the reduce-only X2 (nothing to reduce): the trade closes, and the
    // slot is free for the next one (not left POSITION_OPEN at 0, an exit refused for good).
    let out = k.on_venue_event(&event("rx2", KernelEventKind::Reject, &x2));
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    assert_eq!(k.free_slot(), Some(0));
    let next = common::long_btc("e-next", "t-next", 0, KernelCommandType::Enter, 1.0);
    assert!(k.process_intent(&next).accepted);
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn a_late_exit_fill_beyond_the_position_is_still_refused() {
    // Within the same trade, an exit's late fill larger than what the slot holds is not
    // booked (the venue sold more than the trade held): CRITICAL.
    let mut k = Kernel::new("late-exit-over", 1).unwrap();
    let (x1, x2) = second_exit_beside_a_canceled_one(&mut k);
    assert!(k.on_venue_event(&fill("fx2", &x2, 0.7, 0.7, "T2")).accepted);
    let out = k.on_venue_event(&fill("fx1", &x1, 0.4, 0.4, "T1"));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert_eq!(out.severity, KernelSeverity::Critical);
    assert!((k.slots()[0].size - 0.3).abs() < 1e-12);
}

#[test]
fn a_late_exit_fill_after_the_slot_took_a_new_trade_is_refused() {
    // A new trade forgets the slot's kept orders: the old trade's exit fill is not booked on
    // the new one. It can only come after the second exit sold the whole position the
    // kernel held, which a reduce-only exit the venue caps cannot: that exit went out plain,
    // and the venue holds a position no slot does. CRITICAL, reconcile with the venue.
    let mut k = Kernel::new("late-exit-new", 1).unwrap();
    let (x1, x2) = second_exit_beside_a_canceled_one(&mut k);
    assert!(k.on_venue_event(&fill("fx2", &x2, 1.0, 1.0, "T2")).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    let next = common::long_btc("e-next", "t-next", 0, KernelCommandType::Enter, 1.0);
    assert!(k.process_intent(&next).accepted);
    let out = k.on_venue_event(&fill("fx1", &x1, 0.4, 0.4, "T1"));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert_eq!(out.severity, KernelSeverity::Critical);
}

/// A fill of `size` of `order` at 110 stating the running total `size`, fill id `fill_id`.
fn fill_at_110(event_id: &str, order: &VenueOrder, size: f64, fill_id: &str) -> VenueEvent {
    let mut f = event(event_id, KernelEventKind::Fill, order);
    (f.price, f.size, f.filled_size) = (110.0, size, size);
    f.fill_id = id(fill_id);
    // A fill stating FILLED short of its order's size would end the order.
    if size < order.size {
        f.status = VenueOrderStatus::PartiallyFilled;
    }
    f
}

/// A book hedged on BTC (slot 0 long 1, slot 1 short 1, both bought at 100), so slot 0's
/// exits go out plain. Its exit `X1` is canceled, the cancel acknowledged without a filled
/// size; a second exit `X2` of the whole position goes out; then the venue's report that it
/// sold 0.4 on X1 before the cancel comes, and is booked: slot 0 holds 0.6, and
/// X2, which the venue does not cap, still works for 1. Returns X2.
fn plain_exit_working_beyond_the_position(k: &mut Kernel) -> VenueOrder {
    open_btc(k, 0, TradeSide::Long, 1.0);
    open_btc(k, 1, TradeSide::Short, 1.0);
    let x1 = exit_whole(k, 0, 1);
    assert!(!x1.reduce_only, "the hedged book nets to nothing: {x1:?}");
    let cancel = long_btc("c1", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    assert!(
        k.on_venue_event(&event("cx1", KernelEventKind::CancelAck, &x1))
            .accepted
    );
    let x2 = exit_whole(k, 0, 2);
    assert!(!x2.reduce_only && x2.size == 1.0, "{x2:?}");
    let late = k.on_venue_event(&fill_at_110("fx1", &x1, 0.4, "T1"));
    assert_eq!(
        detail(&late, "late_fill"),
        Some(Detail::Bool(true)),
        "{late:?}"
    );
    assert!(close(k.slots()[0].size, 0.6));
    x2
}

#[test]
fn an_exit_filled_beyond_the_position_realizes_what_the_slot_held_and_says_the_rest() {
    let mut k = Kernel::new("beyond", 2).unwrap();
    let x2 = plain_exit_working_beyond_the_position(&mut k);
    // The venue fills all of X2: 1 sold where the slot held 0.6.
    let out = k.on_venue_event(&fill_at_110("fx2", &x2, 1.0, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    match detail(&out, "unheld_qty") {
        Some(Detail::F64(q)) => assert!(close(q, 0.4), "{q}"),
        other => panic!("no unheld_qty: {other:?} in {out:?}"),
    }
    assert!(detail(&out, "reason").is_some(), "{out:?}");
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::Closed);
    assert_eq!(s.size, 0.0);
    // 1 bought at 100, sold at 110: 10, not 14 (0.4 more sold than held).
    assert!(close(s.realized_pnl, 10.0), "{}", s.realized_pnl);
    assert!(close(k.account.k_realized_pnl, 10.0));
    // The venue charged the whole fill: its fee is predicted on all of it.
    let fees = 100.0 * 0.0005 * 2.0 + 110.0 * 1.4 * 0.0005;
    assert!(
        close(k.account.k_fees_paid, fees),
        "{}",
        k.account.k_fees_paid
    );
    // The order is filled as the venue said, and the trade is over.
    assert_eq!(k.free_slot(), Some(0));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn an_exit_filling_what_the_slot_holds_realizes_it_all() {
    let mut k = Kernel::new("within", 2).unwrap();
    let x2 = plain_exit_working_beyond_the_position(&mut k);
    let out = k.on_venue_event(&fill_at_110("fx2", &x2, 0.6, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Info, "{out:?}");
    assert_eq!(detail(&out, "unheld_qty"), None);
    assert!(close(k.account.k_realized_pnl, 10.0));
}

#[test]
fn a_late_exit_fill_asks_to_cancel_the_exit_working_for_more_than_is_left() {
    // Two slots long 1 each on a netted book: slot 0's exits go out reduce-only, and the
    // venue's net (2) covers X2 even once X1's late fill left slot 0 nothing.
    let mut k = Kernel::new("late-exit-net", 2).unwrap();
    open_btc(&mut k, 1, TradeSide::Long, 1.0);
    let (x1, x2) = second_exit_beside_a_canceled_one(&mut k);
    assert!(x2.reduce_only);
    let out = k.on_venue_event(&fill("fx1", &x1, 1.0, 1.0, "T1"));
    assert!(out.accepted, "{out:?}");
    let asked: Vec<_> = out.cancels.iter().map(|o| &o.client_order_id).collect();
    assert_eq!(asked, [&x2.client_order_id]);
    let triggers: Vec<_> = out.transitions.iter().map(|t| t.trigger).collect();
    assert_eq!(triggers, ["LATE_FILL", "CANCEL_REQUESTED"]);
    assert_eq!(
        out.transitions[1].details,
        TransitionDetails::Reason(Detail::Static("late_exit_fill"))
    );
    assert!(
        k.slots()[0]
            .active_exit_order
            .as_ref()
            .unwrap()
            .cancel_requested
    );
    // The cancel acknowledged with nothing filled, the trade closes; slot 1 keeps its 1.
    let out = k.on_venue_event(&event("cx2", KernelEventKind::CancelAck, &x2));
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    assert!(close(k.slots()[1].size, 1.0));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn a_fill_of_the_exit_racing_its_cancel_realizes_nothing_and_says_what_it_sold() {
    let mut k = Kernel::new("late-exit-race", 2).unwrap();
    open_btc(&mut k, 1, TradeSide::Long, 1.0);
    let (x1, x2) = second_exit_beside_a_canceled_one(&mut k);
    assert!(k.on_venue_event(&fill("fx1", &x1, 1.0, 1.0, "T1")).accepted);
    // The venue filled X2 before the cancel reached it: slot 1's position was sold.
    let out = k.on_venue_event(&fill("fx2", &x2, 1.0, 1.0, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    assert_eq!(detail(&out, "unheld_qty"), Some(Detail::F64(1.0)));
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    assert_eq!(k.free_slot(), Some(0));
}

#[test]
fn a_fill_its_cancel_ack_stated_is_booked_beyond_the_position_and_frees_the_slot() {
    let mut k = Kernel::new("late-exit-stated", 2).unwrap();
    open_btc(&mut k, 1, TradeSide::Long, 1.0);
    let (x1, x2) = second_exit_beside_a_canceled_one(&mut k);
    assert!(k.on_venue_event(&fill("fx1", &x1, 1.0, 1.0, "T1")).accepted);
    // The venue sold 0.4 on X2 before the cancel, said with the ack; the fill comes after.
    let mut ack = event("cx2", KernelEventKind::CancelAck, &x2);
    ack.filled_size = 0.4;
    assert!(k.on_venue_event(&ack).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    let out = k.on_venue_event(&fill("fx2", &x2, 0.4, 0.4, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    assert_eq!(detail(&out, "unheld_qty"), Some(Detail::F64(0.4)));
    assert_eq!(detail(&out, "late_fill"), Some(Detail::Bool(true)));
    let s = &k.slots()[0];
    assert_eq!((s.fsm_state, s.size), (TradeStage::Closed, 0.0));
    assert_eq!(k.free_slot(), Some(0));
    assert_eq!(k.side_counts_difference(), None);
}
