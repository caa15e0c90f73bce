//! A rate limit naming the venue's id of the order it throttles. A venue may stamp its id on
//! every event, its answer to a submit too: the id alone does not show the venue took the
//! order. Before an ack, with no cancel asked, the only request of the kernel's a rate limit
//! can answer is the submit, so the order ends and the slot may send again; once a cancel is
//! asked, the id shows the venue holds the order and the throttled request was the cancel.

use dita_kernel::*;
use rstest::rstest;

mod common;
use common::{detail, exit_whole, long_btc, open_btc, well_formed_details};

/// The venue's rate limit of `order`, stamped with its venue id `v-<client id>`.
fn throttled(order: &VenueOrder, event_id: &str) -> VenueEvent {
    let mut ev = VenueEvent::new(
        event_id,
        KernelEventKind::RateLimited,
        &order.client_order_id,
    );
    ev.venue_order_id = id(&format!("v-{}", order.client_order_id));
    ev.retry_after = 2.0;
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
    let again = if entry {
        k.process_intent(&long_btc("e1", "t1", 0, KernelCommandType::Enter, 1.0))
    } else {
        k.process_intent(&long_btc("x0-1", "", 0, KernelCommandType::Exit, 0.0))
    };
    assert!(again.accepted && again.submit.is_some(), "{again:?}");
}

#[test]
fn a_rate_limit_naming_the_venue_id_of_an_order_asked_to_cancel_is_its_cancel_throttled() {
    let mut k = Kernel::new("throttled-cancel", 1).unwrap();
    let order = sent(&mut k, true);
    let cancel = long_btc("c0", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let out = well_formed_details(k.on_venue_event(&throttled(&order, "r1")));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RateLimited);
    assert!(
        matches!(detail(&out, "order_kept"), Some(Detail::Static(s)) if s.contains("still works")),
        "{out:?}"
    );
    let working = k.slots()[0]
        .active_entry_order
        .as_ref()
        .expect("it works on");
    assert!(!working.cancel_requested, "the cancel may be asked again");
    assert!(k.orders_in_doubt().is_empty());
}
