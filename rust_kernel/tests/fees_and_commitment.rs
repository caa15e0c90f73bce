//! The fee of a partly-new report on an exit and on an order kept after it ended (the part it
//! books), and what entries commit towards the notional caps, live and after a reload: a
//! working LIMIT entry, a SELL LIMIT under the market (at the market: a sell fills at its limit
//! or above), an entry in doubt, and an entry fill the venue reported but the kernel has not
//! booked.

use dita_kernel::risk::{ConfigValue, RiskLimits};
use dita_kernel::*;

mod common;
use common::{close, long_btc};

fn intent(n: u32, action: KernelCommandType, size: f64) -> Intent {
    long_btc(&format!("i{n}"), "trade", 0, action, size)
}

/// A fill of `order`, PARTIALLY_FILLED: the kernel completes an order by its sizes, and one
/// stating FILLED short of its order's size would end the order.
fn fill(order: &Id, event_id: &str, size: f64, total: f64, fee: f64) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, order);
    e.status = VenueOrderStatus::PartiallyFilled;
    e.fill_id = id(&format!("F-{event_id}"));
    (e.price, e.size, e.filled_size, e.fee) = (100.0, size, total, Some(fee));
    e
}

#[test]
fn a_partly_new_report_on_an_exit_is_charged_the_fee_of_the_part_it_books() {
    let mut k = Kernel::new("exit", 1).unwrap();
    let entry = k
        .process_intent(&intent(1, KernelCommandType::Enter, 10.0))
        .submit
        .unwrap();
    assert!(
        k.on_venue_event(&fill(&entry.client_order_id, "e1", 10.0, 10.0, 1.0))
            .accepted
    );
    let exit = k
        .process_intent(&intent(2, KernelCommandType::Exit, 0.0))
        .submit
        .unwrap();
    let o = exit.client_order_id;
    assert!(k.on_venue_event(&fill(&o, "x1", 2.0, 2.0, 0.2)).accepted);
    // 3 at total 3 overlaps the first 2: 1 is new, and pays 0.1 of the 0.3.
    let out = k.on_venue_event(&fill(&o, "x2", 3.0, 3.0, 0.3));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.slots()[0].size, 7.0));
    let paid = k.slots()[0].fees_paid;
    assert!(close(paid, 1.0 + 0.2 + 0.1), "paid {paid}");
    assert!(close(k.account.k_fees_paid, 1.3));
    // What is left of the position commits at its entry price, live and after a reload.
    assert!(close(k.total_committed_notional(), 700.0));
    let slots = k.slots().to_vec();
    k.replace_slots(slots).unwrap();
    assert!(close(k.total_committed_notional(), 700.0));
}

#[test]
fn a_partly_new_late_report_of_an_ended_order_is_charged_the_fee_of_the_part_it_books() {
    let mut k = Kernel::new("late", 1).unwrap();
    let o = k
        .process_intent(&intent(1, KernelCommandType::Enter, 10.0))
        .submit
        .unwrap()
        .client_order_id;
    let mut ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &o);
    ack.venue_order_id = id("V1");
    assert!(k.on_venue_event(&ack).accepted);
    assert!(k.on_venue_event(&fill(&o, "e1", 2.0, 2.0, 0.2)).accepted);
    let cancel = Intent {
        trade_id: id("trade"),
        ..intent(2, KernelCommandType::Cancel, 0.0)
    };
    assert!(k.process_intent(&cancel).accepted);
    let mut ended = VenueEvent::new("c1", KernelEventKind::CancelAck, &o);
    ended.filled_size = 5.0;
    assert!(k.on_venue_event(&ended).accepted);
    // The owed 3, reported as 4 at total 5 (overlapping the first report's 2 by 1): 3 new,
    // and 0.3 of the 0.4 paid.
    let out = k.on_venue_event(&fill(&o, "e2", 4.0, 5.0, 0.4));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.slots()[0].size, 5.0), "{}", k.slots()[0].size);
    let paid = k.slots()[0].fees_paid;
    assert!(close(paid, 0.2 + 0.3), "paid {paid}");
    assert!(
        out.details.iter().any(|(n, _)| *n == "fee_charged"),
        "{out:?}"
    );
    // The position commits at its entry price.
    assert!(close(k.total_committed_notional(), 500.0));
}

#[test]
fn a_working_limit_entry_commits_the_same_live_and_after_a_reload() {
    // A LIMIT buy of 10 at 90 against a reference of 100: it commits 900 when sent. Whatever
    // it commits must not change with a reload of the slots (reconcile_from_slots), or the
    // same order passes or fails the caps depending on a restart.
    for part in [0.0, 1.0] {
        let mut k = Kernel::new("limit", 1).unwrap();
        let enter = Intent {
            order_type: OrderType::Limit,
            limit_price: 90.0,
            ..intent(1, KernelCommandType::Enter, 10.0)
        };
        let o = k.process_intent(&enter).submit.unwrap().client_order_id;
        if part > 0.0 {
            let mut f = fill(&o, "e1", part, part, 0.0);
            f.price = 90.0;
            assert!(k.on_venue_event(&f).accepted);
        }
        let live = k.total_committed_notional();
        let slots = k.slots().to_vec();
        k.replace_slots(slots).unwrap();
        let reloaded = k.total_committed_notional();
        assert!(
            close(live, reloaded),
            "filled {part}: live {live}, reloaded {reloaded}"
        );
        assert!(close(live, 900.0), "filled {part}: live {live}");
    }
}

/// An entry asked to cancel and rate limited before its ack: in doubt.
fn entry_in_doubt(k: &mut Kernel) -> Id {
    let entry = k
        .process_intent(&intent(1, KernelCommandType::Enter, 1.0))
        .submit
        .unwrap();
    assert!(
        k.process_intent(&intent(2, KernelCommandType::Cancel, 0.0))
            .accepted
    );
    let mut throttled = VenueEvent::new("r1", KernelEventKind::RateLimited, &entry.client_order_id);
    throttled.retry_after = 1.0;
    k.on_venue_event(&throttled);
    assert_eq!(k.orders_in_doubt().len(), 1);
    entry.client_order_id
}

#[test]
fn an_entry_in_doubt_commits_what_it_may_fill_until_the_venue_ends_it() {
    // The venue may work the entry (the throttled request was its cancel): the caps must see
    // it, or a second entry beside it takes the account past them.
    let mut k = Kernel::new("doubt", 2).unwrap();
    k.set_risk_limits(RiskLimits {
        max_notional_total: Some(150.0),
        ..RiskLimits::default()
    });
    let coid = entry_in_doubt(&mut k);
    assert!(close(k.total_committed_notional(), 100.0));
    // Counted by the caps, not as the slot's own: it holds and works nothing.
    assert!(close(k.slots()[0].committed_notional, 0.0));
    let mut beside = intent(3, KernelCommandType::Enter, 1.0);
    (beside.slot_id, beside.trade_id) = (1, id("other"));
    let refused = k.process_intent(&beside);
    assert_eq!(refused.diagnostic_code, KernelDiagnosticCode::RiskRejected);
    // A late fill of 0.4: the position and what is left of the order, 100 in all.
    assert!(k.on_venue_event(&fill(&coid, "f1", 0.4, 0.4, 0.0)).accepted);
    assert!(close(k.total_committed_notional(), 100.0));
    assert!(close(k.slots()[0].committed_notional, 40.0));
    // A reload of the slots as they are keeps the doubt, and what it commits.
    let slots = k.slots().to_vec();
    k.replace_slots(slots).unwrap();
    assert_eq!(k.orders_in_doubt().len(), 1);
    assert!(close(k.total_committed_notional(), 100.0));
    // The venue's cancel ack at 0.4 ends the doubt: the position alone commits.
    let mut ack = VenueEvent::new("c1", KernelEventKind::CancelAck, &coid);
    ack.filled_size = 0.4;
    assert!(k.on_venue_event(&ack).accepted);
    assert!(k.orders_in_doubt().is_empty());
    assert!(close(k.total_committed_notional(), 40.0));
    beside.intent_id = id("i4");
    beside.target_size = 1.0;
    assert!(k.process_intent(&beside).accepted, "140 is within the cap");
}

#[test]
fn a_cancel_on_a_slot_whose_entry_is_in_doubt_asks_the_venue_again() {
    let mut k = Kernel::new("doubt", 1).unwrap();
    let coid = entry_in_doubt(&mut k);
    let before = k.slots()[0].clone();
    let asked = k.counters.cancels_requested;
    let out = k.process_intent(&intent(3, KernelCommandType::Cancel, 0.0));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(out.cancels.len(), 1);
    assert_eq!(out.cancels[0].client_order_id, coid);
    assert!(out.transitions.is_empty() && out.submit.is_none());
    assert_eq!(k.slots()[0], before, "the slot is as it was");
    assert_eq!(k.counters.cancels_requested, asked + 1);
    // Another trade's CANCEL is refused, as on a working order.
    let mut other = intent(4, KernelCommandType::Cancel, 0.0);
    other.trade_id = id("other");
    let refused = k.process_intent(&other);
    assert_eq!(refused.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert!(refused.cancels.is_empty());
    // The venue's ack of the cancel ends the doubt; a CANCEL then has nothing to cancel.
    assert!(
        k.on_venue_event(&VenueEvent::new("c1", KernelEventKind::CancelAck, &coid))
            .accepted
    );
    assert!(k.orders_in_doubt().is_empty());
    let nothing = k.process_intent(&intent(5, KernelCommandType::Cancel, 0.0));
    assert_eq!(
        nothing.diagnostic_code,
        KernelDiagnosticCode::InvalidTransition
    );
}

fn limits(updates: &[(&str, ConfigValue)]) -> RiskLimits {
    let u: Vec<(String, ConfigValue)> = updates
        .iter()
        .map(|(f, v)| (f.to_string(), v.clone()))
        .collect();
    RiskLimits::default().with_updates(&u).unwrap()
}

fn short_limit(n: u32, slot: i64, limit: f64, size: f64) -> Intent {
    let mut i = Intent::new(
        &format!("i{n}"),
        &format!("t{slot}"),
        slot,
        "BTC",
        TradeSide::Short,
        KernelCommandType::Enter,
        100.0,
        size,
    );
    i.order_type = OrderType::Limit;
    i.limit_price = limit;
    i
}

#[test]
fn a_short_limit_entry_under_the_market_counts_at_the_market() {
    let mut k = Kernel::new("short", 2).unwrap();
    k.set_risk_limits(limits(&[("max_notional_total", ConfigValue::Num(1000.0))]));
    let out = k.process_intent(&short_limit(1, 0, 1.0, 500.0));
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::RiskRejected,
        "{out:?}"
    );
    let out = k.process_intent(&short_limit(2, 0, 1.0, 5.0));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.total_committed_notional(), 500.0));
    // A resting sell above the market counts at its price, and after a reload the same.
    assert!(k.process_intent(&short_limit(3, 1, 120.0, 4.0)).accepted);
    assert!(close(k.total_committed_notional(), 500.0 + 480.0));
    let slots = k.slots().to_vec();
    k.replace_slots(slots).unwrap();
    assert!(close(k.total_committed_notional(), 500.0 + 480.0));
}

/// An ENTER `i<n>` of `size` BTC long on slot `slot`, trade `t<slot>`.
fn entry_on(n: u32, slot: i64, size: f64) -> Intent {
    long_btc(
        &format!("i{n}"),
        &format!("t{slot}"),
        slot,
        KernelCommandType::Enter,
        size,
    )
}

fn filled_whole(order: &VenueOrder, event_id: &str) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    (e.price, e.size, e.filled_size) = (100.0, order.size, order.size);
    e
}

/// An entry of 10 at 100 the venue ends stating 10 filled, none of it reported yet; and the
/// caps at 1,000 in all.
fn owed_entry() -> (Kernel, VenueOrder) {
    let mut k = Kernel::new("owed", 2).unwrap();
    k.set_risk_limits(RiskLimits {
        max_notional_total: Some(1_000.0),
        ..RiskLimits::default()
    });
    let order = k.process_intent(&entry_on(1, 0, 10.0)).submit.unwrap();
    let mut end = VenueEvent::new("c1", KernelEventKind::CancelAck, &order.client_order_id);
    end.filled_size = 10.0;
    assert!(k.on_venue_event(&end).accepted);
    assert_eq!(k.awaited_fill_qty(0), 10.0);
    (k, order)
}

#[test]
fn an_entry_fill_owed_commits_towards_the_caps_until_it_comes() {
    let (mut k, order) = owed_entry();
    assert_eq!(k.total_committed_notional(), 1_000.0);
    let beside = entry_on(2, 1, 1.0);
    let refused = k.process_intent(&beside);
    assert_eq!(refused.diagnostic_code, KernelDiagnosticCode::RiskRejected);
    // The owed fill comes: the position commits it, once.
    assert!(k.on_venue_event(&filled_whole(&order, "f1")).accepted);
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    assert_eq!(k.total_committed_notional(), 1_000.0);
}
