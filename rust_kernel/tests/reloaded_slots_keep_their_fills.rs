//! `reconcile_from_slots` follows a loaded working order from what it says filled, and a slot
//! loaded holding its trade keeps the memory of the fills it took.

use dita_kernel::*;

mod common;
use common::long_btc;

/// A fill of `size` of `order` at 100 stating the running total `total` (0: none).
fn fill(event_id: &str, order: &VenueOrder, size: f64, total: f64, fill_id: &str) -> VenueEvent {
    let mut f = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
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

/// An entry of 1 on slot 0, acknowledged, with its first fill of 0.4 (fill `F1`, total 0.4
/// when `with_total`) booked.
fn entry_part_filled(k: &mut Kernel, with_total: bool) -> VenueOrder {
    let out = k.process_intent(&long_btc("e", "t", 0, KernelCommandType::Enter, 1.0));
    let order = out.submit.expect("entry sent");
    let mut ack = VenueEvent::new("ack", KernelEventKind::OrderAck, &order.client_order_id);
    ack.venue_order_id = id("V1");
    assert!(k.on_venue_event(&ack).accepted);
    let total = if with_total { 0.4 } else { 0.0 };
    assert!(
        k.on_venue_event(&fill("f1", &order, 0.4, total, "F1"))
            .accepted
    );
    order
}

/// The operator loads slot 0 as the venue shows it: its entry 0.6 filled, which takes in the
/// fill `F2` (0.2, running total 0.6) the kernel has not been told of yet. Then `F2` comes.
fn reload_with_more_filled_then_its_fill(k: &mut Kernel) -> KernelOutcome {
    let order = entry_part_filled(k, true);
    let mut slots = k.slots().to_vec();
    slots[0].size = 0.6;
    slots[0].initial_size = 0.6;
    slots[0].active_entry_order.as_mut().unwrap().filled_size = 0.6;
    k.replace_slots(slots).unwrap();
    k.on_venue_event(&fill("f2", &order, 0.2, 0.6, "F2"))
}

#[test]
fn a_fill_a_loaded_order_says_it_filled_is_not_booked_again() {
    let mut k = Kernel::new("load", 1).unwrap();
    let out = reload_with_more_filled_then_its_fill(&mut k);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::DuplicateEvent,
        "{out:?}"
    );
    let s = &k.slots()[0];
    assert!(
        (s.size - 0.6).abs() < 1e-12,
        "the venue holds 0.6, the slot {}",
        s.size
    );
    let o = s.active_entry_order.clone().unwrap();
    assert!((o.filled_size - 0.6).abs() < 1e-12);
    // The fill after it still books, to the order's size.
    assert!(k.on_venue_event(&fill("f3", &o, 0.4, 1.0, "F3")).accepted);
    assert!((k.slots()[0].size - 1.0).abs() < 1e-12);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
}

/// Slot 0 part-filled by `F1` (no running total), loaded back as a slot dict brings it (no
/// memory of events or fills), then `F1` resent under a new event id; with the fees paid
/// before the resend.
fn reload_from_a_dict_then_resend(k: &mut Kernel) -> (KernelOutcome, f64) {
    let order = entry_part_filled(k, false);
    let mut slots = k.slots().to_vec();
    for s in &mut slots {
        s.seen_events = Default::default();
        s.seen_fills = Default::default();
    }
    k.replace_slots(slots).unwrap();
    let fees = k.account.k_fees_paid;
    (
        k.on_venue_event(&fill("f1-again", &order, 0.4, 0.0, "F1")),
        fees,
    )
}

#[test]
fn a_slot_loaded_without_its_fill_memory_keeps_the_one_it_had() {
    let mut k = Kernel::new("dict", 1).unwrap();
    let (out, fees) = reload_from_a_dict_then_resend(&mut k);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::DuplicateEvent,
        "{out:?}"
    );
    assert!((k.slots()[0].size - 0.4).abs() < 1e-12);
    assert_eq!(k.account.k_fees_paid, fees);
    // A slot loaded with another trade does not take the old trade's memory.
    let mut slots = k.slots().to_vec();
    slots[0] = TradeSlot::new(0);
    slots[0].trade_id = id("other");
    k.replace_slots(slots).unwrap();
    assert!(k.slots()[0].seen_fills.is_empty());
}
