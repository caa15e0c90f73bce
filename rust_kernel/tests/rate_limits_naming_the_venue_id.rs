//! A rate limit naming the venue's id of the order it throttles. A venue may stamp its id on
//! every event, its answer to a submit too: the id alone does not show the venue took the
//! order. Before an ack, with no cancel asked, the only request of the kernel's a rate limit
//! can answer is the submit, so the order ends and the slot may send again; the order is kept,
//! and the venue's ack or fill of it after all puts it in doubt, CRITICAL. With a cancel asked,
//! the throttled request may be either, whatever id it names: the order is in doubt. An order
//! the slot works, or one carrying the venue's id before the rate limit, is held: the
//! throttled request was its cancel.

use dita_kernel::*;
use rstest::rstest;

mod common;
use common::{detail, exit_whole, long_btc, open_btc, well_formed_details};

/// The venue's event of `kind` about `order`, stamped with its venue id `v-<client id>`.
fn said(order: &VenueOrder, event_id: &str, kind: KernelEventKind) -> VenueEvent {
    let mut ev = VenueEvent::new(event_id, kind, &order.client_order_id);
    ev.venue_order_id = id(&format!("v-{}", order.client_order_id));
    ev
}

/// The venue's rate limit of `order`, stamped with its venue id.
fn throttled(order: &VenueOrder, event_id: &str) -> VenueEvent {
    let mut ev = said(order, event_id, KernelEventKind::RateLimited);
    ev.retry_after = 2.0;
    ev
}

/// The venue's fill of `size` of `order` at 100, stating the running total `size` and what
/// remains.
fn filled(order: &VenueOrder, event_id: &str, size: f64) -> VenueEvent {
    let mut ev = said(order, event_id, KernelEventKind::Fill);
    (ev.price, ev.size, ev.filled_size) = (100.0, size, size);
    ev.remaining_size = order.size - size;
    ev
}

/// Slot 0's entry of 1 BTC sent (`entry`), or its exit of the 1 BTC it holds.
fn sent(k: &mut Kernel, entry: bool) -> VenueOrder {
    if entry {
        let out = k.process_intent(&long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0));
        return out.submit.expect("entry sent");
    }
    open_btc(k, 0, TradeSide::Long, 1.0);
    exit_whole(k, 0, 0)
}

/// The slot's next order of the same kind: a new entry (another trade), or an exit again.
fn again(k: &mut Kernel, entry: bool) -> KernelOutcome {
    if entry {
        k.process_intent(&long_btc("e1", "t1", 0, KernelCommandType::Enter, 1.0))
    } else {
        k.process_intent(&long_btc("x0-1", "", 0, KernelCommandType::Exit, 0.0))
    }
}

#[rstest]
#[case::entry(true, TradeStage::Idle)]
#[case::exit(false, TradeStage::PositionOpen)]
fn a_rate_limit_answering_a_submit_ends_the_order_whatever_venue_id_it_names(
    #[case] entry: bool,
    #[case] back_to: TradeStage,
) {
    let mut k = Kernel::new("throttled-submit", 1).unwrap();
    let order = sent(&mut k, entry);
    let out = well_formed_details(k.on_venue_event(&throttled(&order, "r1")));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RateLimited);
    assert_eq!(detail(&out, "retry_after"), Some(Detail::F64(2.0)));
    assert_eq!(out.state, back_to);
    let slot = &k.slots()[0];
    assert_eq!(slot.fsm_state, back_to);
    assert!(slot.active_entry_order.is_none() && slot.active_exit_order.is_none());
    assert!(k.orders_in_doubt().is_empty());
    // The slot sends again: an exit of what it holds, or a new entry.
    let again = again(&mut k, entry);
    assert!(again.accepted && again.submit.is_some(), "{again:?}");
}

#[rstest]
#[case::entry(true)]
#[case::exit(false)]
fn an_ack_of_an_order_ended_as_a_throttled_submit_puts_it_in_doubt(#[case] entry: bool) {
    let mut k = Kernel::new("acked-after-throttle", 1).unwrap();
    let order = sent(&mut k, entry);
    k.on_venue_event(&throttled(&order, "r1"));
    let out = well_formed_details(k.on_venue_event(&said(&order, "a1", KernelEventKind::OrderAck)));
    // The venue took the order after all: it may work there, the slot sends no other.
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    assert!(
        matches!(detail(&out, "order_kept"), Some(Detail::Static(s)) if s.contains("RATE_LIMITED")),
        "{out:?}"
    );
    assert!(detail(&out, "slot_waits").is_some(), "{out:?}");
    let doubted: Vec<_> = k.orders_in_doubt().into_iter().cloned().collect();
    assert_eq!(doubted.len(), 1);
    assert_eq!(doubted[0].client_order_id, order.client_order_id);
    assert_eq!(
        doubted[0].venue_order_id,
        id(&format!("v-{}", order.client_order_id))
    );
    assert_ne!(k.free_slot(), Some(0));
    let refused = again(&mut k, entry);
    assert_eq!(
        refused.diagnostic_code,
        KernelDiagnosticCode::SlotBusy,
        "{refused:?}"
    );
    // Its fill books on the slot, and completes the order: the doubt is over.
    let fill = well_formed_details(k.on_venue_event(&filled(&order, "f1", 1.0)));
    assert!(fill.accepted, "{fill:?}");
    assert_eq!(k.slots()[0].size, if entry { 1.0 } else { 0.0 });
    assert!(k.orders_in_doubt().is_empty());
}

#[rstest]
#[case::entry(true)]
#[case::exit(false)]
fn a_fill_of_an_order_ended_as_a_throttled_submit_is_booked_as_a_late_fill(#[case] entry: bool) {
    let mut k = Kernel::new("filled-after-throttle", 1).unwrap();
    let order = sent(&mut k, entry);
    k.on_venue_event(&throttled(&order, "r1"));
    let out = well_formed_details(k.on_venue_event(&filled(&order, "f1", 0.4)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    assert_eq!(detail(&out, "late_fill"), Some(Detail::Bool(true)));
    assert!(detail(&out, "slot_waits").is_some(), "{out:?}");
    let held = if entry { 0.4 } else { 0.6 };
    assert!(
        (k.slots()[0].size - held).abs() < 1e-9,
        "{:?}",
        k.slots()[0]
    );
    // 0.6 of it may still work at the venue: in doubt until settled.
    assert_eq!(k.orders_in_doubt().len(), 1);
    let refused = again(&mut k, entry);
    assert_eq!(
        refused.diagnostic_code,
        KernelDiagnosticCode::SlotBusy,
        "{refused:?}"
    );
}

#[test]
fn a_throttled_submit_no_venue_event_contradicts_stays_out_of_doubt() {
    // Kept owed nothing, the order weighs on no cap and holds no slot back.
    let mut k = Kernel::new("throttled-only", 1).unwrap();
    let order = sent(&mut k, true);
    k.on_venue_event(&throttled(&order, "r1"));
    assert!(k.orders_in_doubt().is_empty());
    assert!(k.awaited_orders().is_empty());
    assert!(k.orders_ended_without_figure().is_empty());
    assert_eq!(k.free_slot(), Some(0));
    // Its rate limit resent changes nothing.
    let out = k.on_venue_event(&throttled(&order, "r2"));
    assert_eq!(out.severity, KernelSeverity::Info, "{out:?}");
    assert!(k.orders_in_doubt().is_empty());
}

#[rstest]
#[case::entry(true)]
#[case::exit(false)]
fn a_rate_limit_naming_the_venue_id_of_an_order_asked_to_cancel_before_its_ack_puts_it_in_doubt(
    #[case] entry: bool,
) {
    let mut k = Kernel::new("throttled-cancel", 1).unwrap();
    let order = sent(&mut k, entry);
    let cancel = long_btc("c0", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let out = well_formed_details(k.on_venue_event(&throttled(&order, "r1")));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RateLimited);
    assert!(detail(&out, "slot_waits").is_some(), "{out:?}");
    let slot = &k.slots()[0];
    assert!(slot.active_entry_order.is_none() && slot.active_exit_order.is_none());
    let doubted = k.orders_in_doubt();
    assert_eq!(doubted.len(), 1);
    assert_eq!(doubted[0].client_order_id, order.client_order_id);
}

#[rstest]
#[case::working(TradeStage::EntryWorking, "")]
#[case::sent_with_its_venue_id(TradeStage::OrderSent, "v-9")]
fn a_rate_limit_does_not_end_a_loaded_order_the_venue_holds(
    #[case] stage: TradeStage,
    #[case] venue_id: &str,
) {
    // A slot loaded working its entry (status NEW, as a loaded order defaults), or still
    // sent but carrying the venue's id: the venue holds the order, and a rate limit with no
    // cancel asked throttled no request of the kernel's.
    let mut k = Kernel::new("loaded", 1).unwrap();
    let order = sent(&mut k, true);
    let mut slots = k.slots().to_vec();
    slots[0].fsm_state = stage;
    let loaded = slots[0].active_entry_order.as_mut().unwrap();
    (loaded.status, loaded.venue_order_id) = (VenueOrderStatus::New, id(venue_id));
    k.replace_slots(slots).unwrap();
    let mut limit = throttled(&order, "r1");
    limit.venue_order_id = id(venue_id);
    let out = k.on_venue_event(&limit);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::InvalidTransition,
        "{out:?}"
    );
    assert!(k.slots()[0].active_entry_order.is_some());
    let mut fill = filled(&order, "f1", 1.0);
    fill.venue_order_id = id(venue_id);
    let out = k.on_venue_event(&fill);
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.slots()[0].size, 1.0);
}
