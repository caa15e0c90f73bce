//! What the kernel refuses of a misbehaving venue or caller: an event naming its order by its
//! client id under another venue order id than the one the order carries (another order's
//! report: its fill booked here would move this order's position), and a loaded slot whose
//! exit-leg index is past its legs.

use dita_kernel::*;

mod common;
use common::{ack, close, detail, long_btc, well_formed_details};

fn enter() -> Intent {
    long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0)
}

/// Slot 0's entry of 1 BTC, acknowledged under venue id `v-<client id>`.
fn acked_entry(k: &mut Kernel) -> VenueOrder {
    let order = k.process_intent(&enter()).submit.expect("entry sent");
    assert!(k.on_venue_event(&ack(&order, 0.0)).accepted);
    order
}

/// A part fill `event_id` of 0.4 of `order` at 100 naming it by its client id and by
/// `venue_id` ("" for none), PARTIALLY_FILLED.
fn fill(order: &VenueOrder, event_id: &str, venue_id: &str) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, 0.4, 0.4, 1_001.0);
    e.remaining_size = order.size - 0.4;
    e.status = VenueOrderStatus::PartiallyFilled;
    e.venue_order_id = id(venue_id);
    e
}

fn own_id(order: &VenueOrder) -> String {
    format!("v-{}", order.client_order_id)
}

fn assert_other_venue_id_refused(out: &KernelOutcome, order: &VenueOrder, value: &str) {
    assert!(!out.accepted, "{out:?}");
    assert_eq!(
        (out.diagnostic_code, out.severity),
        (KernelDiagnosticCode::UnknownOrder, KernelSeverity::Error),
        "{out:?}"
    );
    assert_eq!(
        detail(out, "field"),
        Some(Detail::Static("venue_order_id")),
        "{out:?}"
    );
    assert_eq!(detail(out, "value"), Some(Detail::from(&id(value))));
    assert_eq!(
        detail(out, "order_value"),
        Some(Detail::from(&id(&own_id(order))))
    );
}

#[test]
fn a_fill_under_another_venue_id_is_refused_and_its_correction_applies() {
    let mut k = Kernel::new("other-venue-id", 1).unwrap();
    let order = acked_entry(&mut k);
    let before = k.slots().to_vec();
    let (seq, fills) = (k.seq(), k.counters.fills);
    let out = well_formed_details(k.on_venue_event(&fill(&order, "f1", "v-another")));
    assert_other_venue_id_refused(&out, &order, "v-another");
    assert_eq!(k.slots(), &before[..], "nothing changes");
    assert_eq!(k.counters.fills, fills);
    assert_eq!(k.seq(), seq + 1, "an input's seq only");
    // Its event id is not remembered: the venue's corrected report applies.
    let out = k.on_venue_event(&fill(&order, "f1", &own_id(&order)));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.slots()[0].size, 0.4));
    // One stating no venue id says nothing against the order.
    let mut next = fill(&order, "f2", "");
    (next.filled_size, next.remaining_size) = (0.8, 0.2);
    assert!(k.on_venue_event(&next).accepted);
    assert!(close(k.slots()[0].size, 0.8));
}

#[test]
fn an_end_under_another_venue_id_is_refused() {
    for kind in [
        KernelEventKind::CancelAck,
        KernelEventKind::Expired,
        KernelEventKind::Reject,
    ] {
        let mut k = Kernel::new("other-venue-id-end", 1).unwrap();
        let order = acked_entry(&mut k);
        let before = k.slots().to_vec();
        let mut end = VenueEvent::new("end", kind, &order.client_order_id);
        end.venue_order_id = id("v-another");
        let out = well_formed_details(k.on_venue_event(&end));
        assert_other_venue_id_refused(&out, &order, "v-another");
        assert_eq!(k.slots(), &before[..], "{kind}: nothing changes");
        assert_eq!(k.open_orders().len(), 1, "{kind}: the order works on");
        end.venue_order_id = id(&own_id(&order));
        let out = k.on_venue_event(&end);
        assert!(out.accepted, "{kind}: {out:?}");
        assert_eq!(k.slots()[0].fsm_state, TradeStage::Idle, "{kind}");
    }
}

#[test]
fn a_late_fill_under_another_venue_id_is_refused() {
    let mut k = Kernel::new("other-venue-id-late", 1).unwrap();
    let order = acked_entry(&mut k);
    let mut end = VenueEvent::new("x", KernelEventKind::Expired, &order.client_order_id);
    end.venue_order_id = id(&own_id(&order));
    assert!(k.on_venue_event(&end).accepted);
    let out = well_formed_details(k.on_venue_event(&fill(&order, "late", "v-another")));
    assert_other_venue_id_refused(&out, &order, "v-another");
    assert!(close(k.slots()[0].size, 0.0));
    // The same fill under the order's own id is the late fill it is.
    let out = k.on_venue_event(&fill(&order, "late", &own_id(&order)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "late_fill"), Some(Detail::Bool(true)));
    assert!(close(k.slots()[0].size, 0.4));
}

/// The venue id slot 0's working entry carries.
fn entry_venue_id(k: &Kernel) -> String {
    let order = k.slots()[0]
        .active_entry_order
        .as_ref()
        .expect("an entry works");
    order.venue_order_id.to_string()
}

#[test]
fn a_fill_before_the_ack_teaches_its_id_and_an_ack_under_another_is_refused() {
    let mut k = Kernel::new("fill-first", 1).unwrap();
    let order = k.process_intent(&enter()).submit.expect("entry sent");
    // The order carries no venue id yet: the fill's is learned.
    assert!(
        k.on_venue_event(&fill(&order, "f1", "v-from-fill"))
            .accepted
    );
    assert_eq!(entry_venue_id(&k), "v-from-fill");
    // An ack of the working order under another id is refused as a transition, the order
    // keeping the fill's id.
    let out = k.on_venue_event(&ack(&order, 0.0));
    assert_eq!(
        (out.diagnostic_code, out.severity),
        (
            KernelDiagnosticCode::InvalidTransition,
            KernelSeverity::Warning
        ),
        "{out:?}"
    );
    assert_eq!(entry_venue_id(&k), "v-from-fill");
}

#[test]
fn an_ack_of_a_loaded_order_under_a_new_id_still_rekeys_it() {
    let mut k = Kernel::new("rekey", 1).unwrap();
    let order = k.process_intent(&enter()).submit.expect("entry sent");
    // The slot loaded with its order carrying an id, still ORDER_SENT.
    let mut slots = k.slots().to_vec();
    slots[0].active_entry_order.as_mut().unwrap().venue_order_id = id("v-old");
    k.replace_slots(slots).unwrap();
    assert!(k.on_venue_event(&ack(&order, 0.0)).accepted);
    // The new id names the order from then on; the old one is another order's.
    let out = k.on_venue_event(&fill(&order, "f1", "v-old"));
    assert!(!out.accepted, "{out:?}");
    assert!(
        k.on_venue_event(&fill(&order, "f1", &own_id(&order)))
            .accepted
    );
    assert!(close(k.slots()[0].size, 0.4));
}

/// Slot 0 of `k` as the kernel shows it, its exit-leg index `index`.
fn slots_with_leg_index(k: &Kernel, index: usize) -> Vec<TradeSlot> {
    let mut slots = k.slots().to_vec();
    slots[0].exit_leg_ratios = [0.5, 0.5].into_iter().collect();
    slots[0].active_leg_index = index;
    slots
}

#[test]
fn a_loaded_leg_index_past_the_legs_is_refused_naming_it_and_the_legs() {
    let mut k = Kernel::new("legs", 2).unwrap();
    let (before, seq) = (k.slots().to_vec(), k.seq());
    let err = k.replace_slots(slots_with_leg_index(&k, 3)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("slots[0].active_leg_index"), "{msg}");
    assert!(msg.contains("3, past the slot's 2 exit legs"), "{msg}");
    assert_eq!(k.slots(), &before[..], "nothing changes");
    assert_eq!(k.seq(), seq);
    // All legs done is an index at their number.
    k.replace_slots(slots_with_leg_index(&k, 2)).unwrap();
    assert_eq!(k.slots()[0].active_leg_index, 2);
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
    (by_venue_id.size, by_venue_id.venue_order_id) = (0.1, id(&own_id(&order)));
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
