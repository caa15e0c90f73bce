//! The venue order id an order carries names it. An event naming the order by its client id
//! under another venue order id is refused, whatever it is (another order's report: its fill
//! booked here would move this order's position), and the venue's corrected report applies. A
//! fill before the ack teaches the order its id, and an ack of a loaded order under a new id
//! rekeys it.

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
