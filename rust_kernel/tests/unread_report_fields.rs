//! What the kernel does not read of a venue's report, and what a report built without some of
//! its fields says: a FILL_SETTLED finds its fill by the fill's key only (its `fill_id`, else
//! its event id), and a fill built without a `status` and `remaining_size` says FILLED with
//! nothing remaining, which ends its order at the running total booked
//! (orders_filled_or_acked_short.rs).

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
    // none, and a total may stand for many trades), and a FILL_SETTLED names no order. It is
    // held for a fill of that id, which never comes: the prediction waits.
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
    // remaining: with its running total, such a fill ends its order, so a venue building its
    // partial fills so must state PARTIALLY_FILLED or what remains.
    let f = VenueEvent::new("f", KernelEventKind::Fill, &id("c"));
    assert_eq!(f.status, VenueOrderStatus::Filled);
    assert_eq!(f.remaining_size, 0.0);
    let mut k = Kernel::new("partial", 1).unwrap();
    let order = acked_entry(&mut k);
    let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
    (f.price, f.size, f.filled_size) = (100.0, 0.4, 0.4);
    assert!(k.on_venue_event(&f).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
    // Stated, it works on.
    let mut k = Kernel::new("partial", 1).unwrap();
    let order = acked_entry(&mut k);
    let mut f = VenueEvent::new("f1", KernelEventKind::Fill, &order.client_order_id);
    (f.price, f.size, f.filled_size) = (100.0, 0.4, 0.4);
    f.status = VenueOrderStatus::PartiallyFilled;
    assert!(k.on_venue_event(&f).accepted);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::EntryWorking);
}
