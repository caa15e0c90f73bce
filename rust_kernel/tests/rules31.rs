//! An exit fill beyond what its slot holds realizes PnL on what the slot held, and says the
//! rest (CRITICAL, `unheld_qty`): the venue sold a position no slot holds, which the operator
//! must hear of, and the trade never held it to gain or lose on. Only an exit the venue does
//! not cap (one not reduce-only, in a book hedged on the asset) can get there, after a late
//! fill of an earlier exit took part of the position.
//!
//! And the order-rate window rewrites no stamp: a count at an intent's time counts the stamps
//! within a second of it either way, so an intent stamped behind the window's orders or far
//! ahead of them moves none of them out of the window.

use dita_kernel::risk::RiskLimits;
use dita_kernel::*;

mod common;
use common::{close, detail, exit_whole, long_btc, open_btc};

fn event(event_id: &str, kind: KernelEventKind, order: &VenueOrder) -> VenueEvent {
    VenueEvent::new(event_id, kind, &order.client_order_id)
}

/// A fill of `size` of `order` at 110 stating the running total `size`, fill id `fill_id`.
fn fill_at_110(event_id: &str, order: &VenueOrder, size: f64, fill_id: &str) -> VenueEvent {
    let mut f = event(event_id, KernelEventKind::Fill, order);
    (f.price, f.size, f.filled_size) = (110.0, size, size);
    f.fill_id = id(fill_id);
    // A fill stating FILLED short of its order's size would end the order.
    if size < order.size {
        f.status = VenueOrderStatus::PartiallyFilled;
    }
    f
}

/// A book hedged on BTC (slot 0 long 1, slot 1 short 1, both bought at 100), so slot 0's
/// exits go out plain. Its exit `X1` is canceled, the cancel acknowledged without a filled
/// size; a second exit `X2` of the whole position goes out; then the venue's report that it
/// sold 0.4 on X1 before the cancel comes, and is booked: slot 0 holds 0.6, and
/// X2, which the venue does not cap, still works for 1. Returns X2.
fn plain_exit_working_beyond_the_position(k: &mut Kernel) -> VenueOrder {
    open_btc(k, 0, TradeSide::Long, 1.0);
    open_btc(k, 1, TradeSide::Short, 1.0);
    let x1 = exit_whole(k, 0, 1);
    assert!(!x1.reduce_only, "the hedged book nets to nothing: {x1:?}");
    let cancel = long_btc("c1", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    assert!(
        k.on_venue_event(&event("cx1", KernelEventKind::CancelAck, &x1))
            .accepted
    );
    let x2 = exit_whole(k, 0, 2);
    assert!(!x2.reduce_only && x2.size == 1.0, "{x2:?}");
    let late = k.on_venue_event(&fill_at_110("fx1", &x1, 0.4, "T1"));
    assert_eq!(
        detail(&late, "late_fill"),
        Some(Detail::Bool(true)),
        "{late:?}"
    );
    assert!(close(k.slots()[0].size, 0.6));
    x2
}

#[test]
fn an_exit_filled_beyond_the_position_realizes_what_the_slot_held_and_says_the_rest() {
    let mut k = Kernel::new("beyond", 2).unwrap();
    let x2 = plain_exit_working_beyond_the_position(&mut k);
    // The venue fills all of X2: 1 sold where the slot held 0.6.
    let out = k.on_venue_event(&fill_at_110("fx2", &x2, 1.0, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    match detail(&out, "unheld_qty") {
        Some(Detail::F64(q)) => assert!(close(q, 0.4), "{q}"),
        other => panic!("no unheld_qty: {other:?} in {out:?}"),
    }
    assert!(detail(&out, "reason").is_some(), "{out:?}");
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::Closed);
    assert_eq!(s.size, 0.0);
    // 1 bought at 100, sold at 110: 10, not 14 (0.4 more sold than held).
    assert!(close(s.realized_pnl, 10.0), "{}", s.realized_pnl);
    assert!(close(k.account.k_realized_pnl, 10.0));
    // The venue charged the whole fill: its fee is predicted on all of it.
    let fees = 100.0 * 0.0005 * 2.0 + 110.0 * 1.4 * 0.0005;
    assert!(
        close(k.account.k_fees_paid, fees),
        "{}",
        k.account.k_fees_paid
    );
    // The order is filled as the venue said, and the trade is over.
    assert_eq!(k.free_slot(), Some(0));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn an_exit_filling_what_the_slot_holds_realizes_it_all() {
    let mut k = Kernel::new("within", 2).unwrap();
    let x2 = plain_exit_working_beyond_the_position(&mut k);
    let out = k.on_venue_event(&fill_at_110("fx2", &x2, 0.6, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Info, "{out:?}");
    assert_eq!(detail(&out, "unheld_qty"), None);
    assert!(close(k.account.k_realized_pnl, 10.0));
}

/// A kernel of 24 slots whose orders are limited to 5 a second.
fn rate_of_five() -> Kernel {
    let mut k = Kernel::new("rate", 24).unwrap();
    k.set_risk_limits(RiskLimits {
        max_order_rate: Some(5.0),
        ..RiskLimits::default()
    });
    k
}

/// Whether an ENTER of 1 BTC on slot `i`, ids `<tag><i>` and trade `t<i>`, stamped `ts`, is
/// taken; one refused must be refused by the order rate.
fn enter_at(k: &mut Kernel, tag: &str, i: i64, ts: f64) -> bool {
    let mut e = long_btc(
        &format!("{tag}{i}"),
        &format!("t{i}"),
        i,
        KernelCommandType::Enter,
        1.0,
    );
    e.timestamp = ts;
    let out = k.process_intent(&e);
    if !out.accepted {
        let rule = detail(&out, "rule");
        assert_eq!(rule, Some(Detail::Static("max_order_rate")), "{out:?}");
    }
    out.accepted
}

/// The entries taken of slots `slots`, stamped `ts`.
fn taken(k: &mut Kernel, tag: &str, slots: std::ops::Range<i64>, ts: f64) -> usize {
    slots.filter(|&i| enter_at(k, tag, i, ts)).count()
}

#[test]
fn an_intent_stamped_two_seconds_behind_does_not_empty_the_window() {
    let mut k = rate_of_five();
    assert_eq!(taken(&mut k, "a", 0..5, 10.0), 5);
    // Another process's clock, two seconds behind: no order is within a second of its time,
    // and it takes its own second's rate. It rewrites nothing.
    let behind = enter_at(&mut k, "b", 5, 8.0);
    // The five at 10.0 are still in the window: at 10.2 a rate of 5 takes none.
    assert_eq!(taken(&mut k, "c", 6..11, 10.2), 0);
    assert!(behind, "the intent behind passes in its own second");
    // A second after the five, the rate is free again.
    assert_eq!(taken(&mut k, "d", 11..17, 11.0), 5);
}

#[test]
fn an_intent_stamped_more_than_a_second_ahead_does_not_empty_the_window() {
    let mut k = rate_of_five();
    assert_eq!(taken(&mut k, "a", 0..5, 10.0), 5);
    // Nothing is within a second of 11.5: it passes, and its count drops nothing of the
    // second before the window's newest order.
    assert!(enter_at(&mut k, "b", 5, 11.5));
    assert_eq!(taken(&mut k, "c", 6..11, 10.2), 0);
}

#[test]
fn an_intent_stamped_an_hour_ahead_refuses_no_order_of_the_next_second() {
    let mut k = rate_of_five();
    assert!(enter_at(&mut k, "a", 0, 3_610.0));
    assert_eq!(taken(&mut k, "b", 1..6, 10.0), 5);
    assert_eq!(taken(&mut k, "c", 6..11, 11.0), 5);
    // Its stamp counts once the clock is within a second of it.
    assert_eq!(taken(&mut k, "d", 11..17, 3_609.5), 4);
}
