//! An order in doubt (rate limited before its ack, with a cancel asked) that the venue says is
//! over in a late fill short of its size (`FILLED`, nothing remaining, its running total what
//! is booked with it): such a fill ends the doubt, as it ends a working order. Were the doubt
//! to end only when a fill completed the order, its slot would take no new ENTER (an exit's, no
//! new EXIT) until `reconcile_with_venue`.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{close, exit_whole, fill, filled_short, long_btc, open_btc, open_log};

fn intent(intent_id: &str, action: KernelCommandType) -> Intent {
    long_btc(intent_id, "t0", 0, action, 1.0)
}

/// The inputs that leave slot 0's `order` in doubt: a CANCEL, then a rate limit before the
/// venue acknowledged the order.
fn doubting(order: &VenueOrder) -> [KernelInput; 2] {
    let mut throttled = VenueEvent::new("rl", KernelEventKind::RateLimited, &order.client_order_id);
    throttled.retry_after = 1.0;
    [
        KernelInput::Intent(long_btc("c0", "", 0, KernelCommandType::Cancel, 0.0)),
        KernelInput::VenueEvent(throttled),
    ]
}

/// Applies `inputs` to `k`: the CANCEL taken, the rate limit said.
fn apply(k: &mut Kernel, inputs: impl IntoIterator<Item = KernelInput>) {
    for input in inputs {
        let out = k.apply(&input).unwrap();
        assert!(
            out.accepted || out.diagnostic_code == KernelDiagnosticCode::RateLimited,
            "{out:?}"
        );
    }
}

/// Slot 0's entry of 1 BTC, in doubt.
fn entry_in_doubt(k: &mut Kernel) -> VenueOrder {
    let order = k
        .process_intent(&intent("e0", KernelCommandType::Enter))
        .submit
        .expect("entry sent");
    apply(k, doubting(&order));
    assert_eq!(k.orders_in_doubt().len(), 1);
    order
}

/// Slot 0 holding 1 BTC, its exit of the whole in doubt.
fn exit_in_doubt(k: &mut Kernel) -> VenueOrder {
    open_btc(k, 0, TradeSide::Long, 1.0);
    let order = exit_whole(k, 0, 0);
    apply(k, doubting(&order));
    assert_eq!(k.orders_in_doubt().len(), 1);
    order
}

fn late(k: &mut Kernel, ev: &VenueEvent) -> KernelOutcome {
    let out = common::well_formed_details(k.on_venue_event(ev));
    assert!(out.accepted, "{out:?}");
    assert_eq!(
        common::detail(&out, "late_fill"),
        Some(Detail::Bool(true)),
        "{out:?}"
    );
    out
}

#[test]
fn an_exit_in_doubt_the_venue_says_is_over_short_takes_a_new_exit() {
    let mut k = Kernel::new("exit-over", 1).unwrap();
    let order = exit_in_doubt(&mut k);
    late(&mut k, &filled_short(&order, "x1", 0.6, 0.6));
    assert!(close(k.slots()[0].size, 0.4));
    assert!(k.orders_in_doubt().is_empty(), "{:?}", k.orders_in_doubt());
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    let out = k.process_intent(&intent("x0-1", KernelCommandType::Exit));
    assert!(out.accepted, "{out:?}");
    assert!(close(out.submit.expect("exit sent").size, 0.4));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn an_entry_in_doubt_the_venue_says_is_over_short_lets_the_slot_trade_again() {
    let mut k = Kernel::new("entry-over", 1).unwrap();
    let order = entry_in_doubt(&mut k);
    late(&mut k, &filled_short(&order, "f1", 0.6, 0.6));
    assert!(close(k.slots()[0].size, 0.6));
    assert!(k.orders_in_doubt().is_empty(), "{:?}", k.orders_in_doubt());
    // The trade exits what filled, and the slot takes a new one.
    let exit = exit_whole(&mut k, 0, 0);
    assert!(close(exit.size, 0.6));
    common::fill_at_100(&mut k, &exit, 0.6, 0.6, "x1");
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    let mut next = long_btc("e1", "t1", 0, KernelCommandType::Enter, 1.0);
    next.side = TradeSide::Long;
    let out = k.process_intent(&next);
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.side_counts_difference(), None);
}

/// A late part fill of slot 0's exit in doubt leaves it in doubt: the slot takes no new EXIT.
fn still_in_doubt(k: &mut Kernel, order: &VenueOrder) {
    let in_doubt: Vec<_> = k
        .orders_in_doubt()
        .iter()
        .map(|o| o.client_order_id.clone())
        .collect();
    assert_eq!(in_doubt, std::slice::from_ref(&order.client_order_id));
    let out = k.process_intent(&intent("x0-1", KernelCommandType::Exit));
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::SlotBusy,
        "{out:?}"
    );
}

#[test]
fn a_late_part_fill_not_saying_the_order_is_over_leaves_it_in_doubt() {
    use VenueOrderStatus::{Filled, PartiallyFilled};
    for (what, size, total, status, remaining) in [
        ("partially filled", 0.6, 0.6, PartiallyFilled, 0.0),
        ("something remaining", 0.6, 0.6, Filled, 0.4),
        ("no running total", 0.6, 0.0, Filled, 0.0),
        // A fill of the order missing: the venue says 0.6 filled, 0.3 is booked with this one.
        ("a total above what is booked", 0.3, 0.6, Filled, 0.0),
    ] {
        let mut k = Kernel::new("exit-part", 1).unwrap();
        let order = exit_in_doubt(&mut k);
        late(&mut k, &fill(&order, "x1", size, total, status, remaining));
        assert!(close(k.slots()[0].size, 1.0 - size), "{what}");
        still_in_doubt(&mut k, &order);
    }
}

#[test]
fn a_late_fill_stating_less_than_is_booked_leaves_the_order_in_doubt() {
    // 0.3 booked by an earlier late fill; this one of 0.3 states 0.3 filled in all, FILLED:
    // its total is not what is booked with it (the earlier fill counted twice, or this one).
    let mut k = Kernel::new("exit-short-total", 1).unwrap();
    let order = exit_in_doubt(&mut k);
    let first = fill(
        &order,
        "x1",
        0.3,
        0.3,
        VenueOrderStatus::PartiallyFilled,
        0.7,
    );
    late(&mut k, &first);
    let out = k.on_venue_event(&filled_short(&order, "x2", 0.3, 0.3));
    assert!(k.slots()[0].size > 0.4 - 1e-9, "{out:?}");
    still_in_doubt(&mut k, &order);
}

#[test]
fn a_fill_made_without_a_status_of_an_order_in_doubt_takes_it_from_the_sizes() {
    // The bindings give a FILL made without a status the one its sizes say, for an order kept
    // after it ended too: FILLED whatever it left would say the order is over.
    let mut k = Kernel::new("no-status", 1).unwrap();
    let order = exit_in_doubt(&mut k);
    let mut part = VenueEvent::new("x1", KernelEventKind::Fill, &order.client_order_id);
    (part.price, part.size, part.filled_size) = (100.0, 0.6, 0.6);
    part.status = k.fill_status_by_sizes(&part);
    assert_eq!(part.status, VenueOrderStatus::PartiallyFilled);
    late(&mut k, &part);
    still_in_doubt(&mut k, &order);
    // Named by its venue id alone (learned from that fill), the kept order is found so.
    let mut by_venue_id = VenueEvent::new("x2", KernelEventKind::Fill, &id(""));
    (by_venue_id.size, by_venue_id.venue_order_id) = (0.1, id("V-x"));
    let mut teach = fill(
        &order,
        "x1b",
        0.1,
        0.7,
        VenueOrderStatus::PartiallyFilled,
        0.3,
    );
    teach.venue_order_id = id("V-x");
    late(&mut k, &teach);
    assert_eq!(
        k.fill_status_by_sizes(&by_venue_id),
        VenueOrderStatus::PartiallyFilled
    );
    // The last of it, stating its running total or its size only, is FILLED.
    let mut last = VenueEvent::new("x3", KernelEventKind::Fill, &order.client_order_id);
    last.filled_size = 1.0;
    assert_eq!(k.fill_status_by_sizes(&last), VenueOrderStatus::Filled);
    (last.size, last.filled_size) = (0.3, 0.0);
    assert_eq!(k.fill_status_by_sizes(&last), VenueOrderStatus::Filled);
}

/// Slot 0's exit in doubt, then a late fill of 0.6 saying it is over (recorded in a log in
/// `dir`); the kernel after.
fn exit_over_short(dir: &std::path::Path) -> Kernel {
    let (mut log, mut k) = open_log(dir, "log", 0);
    let mut record = |k: &mut Kernel, input: KernelInput| {
        let out = k.apply(&input).unwrap();
        log.record(k, &input).unwrap();
        out
    };
    let enter = KernelInput::Intent(intent("e0", KernelCommandType::Enter));
    let entry = record(&mut k, enter).submit.unwrap();
    let opened = fill(&entry, "f1", 1.0, 1.0, VenueOrderStatus::Filled, 0.0);
    record(&mut k, KernelInput::VenueEvent(opened));
    let exit = KernelInput::Intent(long_btc("x0", "", 0, KernelCommandType::Exit, 0.0));
    let order = record(&mut k, exit).submit.unwrap();
    for input in doubting(&order) {
        record(&mut k, input);
    }
    let over = filled_short(&order, "x1", 0.6, 0.6);
    record(&mut k, KernelInput::VenueEvent(over));
    k
}

#[test]
fn a_log_of_a_doubt_ended_by_a_short_fill_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let k = exit_over_short(dir.path());
    assert!(k.orders_in_doubt().is_empty());
    assert!(close(k.slots()[0].size, 0.4));
    let (_, recovered) = open_log(dir.path(), "log", 0);
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.seq(), k.seq());
    assert!(recovered.orders_in_doubt().is_empty());
}
