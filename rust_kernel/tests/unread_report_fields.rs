//! What the kernel does not read of a venue's report, and why: a FILL_SETTLED finds its fill by
//! the fill's key only (its `fill_id`, else its event id), and before rules 34 a fill's `status`
//! and `remaining_size` did not end an order (rules 34 on, a fill stating FILLED with nothing
//! remaining at the running total booked ends it: rules34_filled_short.rs).

use dita_kernel::error::replaying;
use dita_kernel::*;

mod common;
use common::long_btc;

/// Slot 0's entry of 1 BTC at 100, acknowledged.
fn acked_entry(k: &mut Kernel) -> VenueOrder {
    let out = k.process_intent(&long_btc("e", "t", 0, KernelCommandType::Enter, 1.0));
    let order = out.submit.expect("entry sent");
    let mut ack = VenueEvent::new("ack", KernelEventKind::OrderAck, &order.client_order_id);
    ack.venue_order_id = id("V1");
    assert!(k.on_venue_event(&ack).accepted);
    order
}

fn settle(event_id: &str, fill_id: &str, fee: f64) -> AccountEvent {
    let mut e = AccountEvent::new(event_id, AccountEventKind::FillSettled);
    e.fill_id = id(fill_id);
    e.fee = fee;
    e
}

#[test]
fn a_total_only_fill_waits_for_its_settlement_under_its_event_id() {
    let mut k = Kernel::new("total-only", 1).unwrap();
    let order = acked_entry(&mut k);
    // The venue's order status: filled 1 at 100, no trade named (no fill id, no size).
    let mut f = VenueEvent::new("status-1", KernelEventKind::Fill, &order.client_order_id);
    f.price = 100.0;
    f.filled_size = 1.0;
    assert!(k.on_venue_event(&f).accepted);
    let predicted = k.account.k_unsettled_fees;
    assert!((predicted - 0.05).abs() < 1e-12, "{predicted}");
    // The exchange settles its trade T-123: the kernel never saw that id (the report named
    // none, and a total may stand for many trades), and a FILL_SETTLED names no order. Rules
    // 32 on it is held for a fill of that id, which never comes (before, refused
    // UNKNOWN_ORDER): either way the prediction waits.
    let out = k.on_account_event(&settle("s1", "T-123", 0.04));
    let held = out.details.iter().any(|(n, _)| *n == "held_for_fill");
    assert!(out.accepted && held, "{out:?}");
    assert_eq!(k.account.k_unsettled_fees, predicted);
    // Settled under the fill's key (its event id), as the kernel promises, it clears.
    let out = k.on_account_event(&settle("s2", "status-1", 0.04));
    assert!(out.accepted, "{out:?}");
    assert!(k.account.k_unsettled_fees.abs() < 1e-12);
}

#[test]
fn a_fill_built_without_a_status_says_filled_with_nothing_remaining() {
    // A fill built without them (a partial fill of 0.4 of 1 here) says FILLED with nothing
    // remaining. Rules 34 reads them: with its running total, such a fill ends its order (a
    // venue building its partial fills so must state PARTIALLY_FILLED or what remains); before,
    // the order worked on.
    let f = VenueEvent::new("f", KernelEventKind::Fill, &id("c"));
    assert_eq!(f.status, VenueOrderStatus::Filled);
    assert_eq!(f.remaining_size, 0.0);
    for (rules, stage) in [
        (33, TradeStage::EntryWorking),
        (34, TradeStage::PositionOpen),
    ] {
        let mut k = Kernel::new("partial", 1).unwrap();
        replaying(rules, || {
            let order = acked_entry(&mut k);
            let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
            (f.price, f.size, f.filled_size) = (100.0, 0.4, 0.4);
            assert!(k.on_venue_event(&f).accepted);
        });
        assert_eq!(k.slots()[0].fsm_state, stage, "rules {rules}");
        // Stated, it works on under both.
        let mut k = Kernel::new("partial", 1).unwrap();
        replaying(rules, || {
            let order = acked_entry(&mut k);
            let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
            (f.price, f.size, f.filled_size) = (100.0, 0.4, 0.4);
            f.status = VenueOrderStatus::PartiallyFilled;
            assert!(k.on_venue_event(&f).accepted);
        });
        assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking);
    }
}

#[test]
fn an_order_the_venue_filled_short_ended_by_its_expiry_not_by_its_fills_status_under_rules_33() {
    replaying(33, filled_short_ends_by_its_expiry);
}

fn filled_short_ends_by_its_expiry() {
    let mut k = Kernel::new("short", 1).unwrap();
    let order = acked_entry(&mut k);
    // The venue says FILLED, nothing remaining, at 0.9 of 1: the fill is booked, the order
    // keeps working in the kernel (rules 33 reads neither status nor remaining).
    let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
    (f.price, f.size, f.filled_size) = (100.0, 0.9, 0.9);
    f.status = VenueOrderStatus::Filled;
    f.remaining_size = 0.0;
    assert!(k.on_venue_event(&f).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking);
    // A cancel of it is refused by the venue (it is over there): the stage stays.
    let cancel = long_btc("c", "", 0, KernelCommandType::Cancel, 0.0);
    assert_eq!(k.process_intent(&cancel).cancels.len(), 1);
    let rej = VenueEvent::new("cr", KernelEventKind::CancelReject, &order.client_order_id);
    assert!(k.on_venue_event(&rej).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking);
    // The venue's end with its filled size (what the ccxt adapter sends for an order closed
    // short, and what `reconcile_with_venue` sends) ends it at that size.
    let mut end = VenueEvent::new("x", KernelEventKind::Expired, &order.client_order_id);
    end.filled_size = 0.9;
    assert!(k.on_venue_event(&end).accepted);
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::PositionOpen);
    assert!((s.size - 0.9).abs() < 1e-12);
    assert_eq!(k.awaited_fill_qty(0), 0.0);
}
