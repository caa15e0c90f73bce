//! The order-rate window holds across clocks: it rewrites no stamp, and a count at an intent's
//! time counts the stamps within a second of it either way, so an intent stamped behind the
//! window's orders or far ahead of them moves none of them out of the window (they would leave
//! it early, and the orders after pass a rate they double).

use dita_kernel::risk::RiskLimits;
use dita_kernel::*;

mod common;
use common::{detail, long_btc};

/// An ENTER of 1 BTC on slot `i`, ids `<tag><i>` and trade `t<i>`, stamped `ts`.
fn entry_at(tag: &str, i: i64, ts: f64) -> Intent {
    let mut e = long_btc(
        &format!("{tag}{i}"),
        &format!("t{i}"),
        i,
        KernelCommandType::Enter,
        1.0,
    );
    e.timestamp = ts;
    e
}

/// A kernel of 12 slots whose orders are limited to 5 a second, 5 entries stamped 10.0
/// taken, then an entry stamped half a second behind them (another process's clock) refused.
fn five_at_ten_then_one_behind() -> Kernel {
    let mut k = Kernel::new("rate", 12).unwrap();
    k.set_risk_limits(RiskLimits {
        max_order_rate: Some(5.0),
        ..RiskLimits::default()
    });
    for i in 0..5 {
        assert!(k.process_intent(&entry_at("a", i, 10.0)).accepted);
    }
    let out = k.process_intent(&entry_at("b", 5, 9.5));
    assert_eq!(detail(&out, "rule"), Some(Detail::Static("max_order_rate")));
    k
}

/// The entries taken of six more, stamped 10.5: half a second after the first five.
fn six_more_at_ten_and_a_half(k: &mut Kernel) -> usize {
    (6..12)
        .filter(|&i| k.process_intent(&entry_at("c", i, 10.5)).accepted)
        .count()
}

#[test]
fn an_intent_stamped_behind_the_window_does_not_empty_it() {
    let mut k = five_at_ten_then_one_behind();
    // The five at 10.0 are half a second before 10.5: a rate of 5 takes none.
    assert_eq!(six_more_at_ten_and_a_half(&mut k), 0);
    let mut later = long_btc("d", "td", 6, KernelCommandType::Enter, 1.0);
    later.timestamp = 11.0;
    assert!(k.process_intent(&later).accepted, "a second after them");
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
