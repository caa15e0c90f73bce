//! An ORDER_ACK's `size`: a venue acknowledging an order for less than was sent (cut to its
//! lot, or a reduce-only exit to the position) fills no more than that, so the acknowledged
//! size is the order's (WARNING, `acked_size` and `order_size`): the kernel waits for no fill
//! that never comes, and the order completes. A larger one is not taken (WARNING).

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{ack, close, detail, long_btc, open_btc, open_log, well_formed_details};

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

fn enter() -> Intent {
    long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0)
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
