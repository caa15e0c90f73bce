//! A LIMIT order's fill at a price worse than its limit (a buy above it, a sell below it) is
//! booked, as the venue made it, but CRITICAL, naming the fill's `price`, the `limit_price`
//! and the order: a unit slip in an adapter or a wrong order matched, which no venue may do.
//! Half a tick of the asset (without a tick, a billionth of the limit) is rounding, not a slip.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{detail, long_btc, open_btc, well_formed_details};

fn kernel(tick: f64) -> Kernel {
    let mut k = Kernel::new("past-limit", 1).unwrap();
    k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
    if tick > 0.0 {
        k.apply(&KernelInput::MarketLimits {
            asset: id("BTC"),
            fields: vec![("tick_size".into(), tick)],
        })
        .unwrap();
    }
    k
}

/// The LIMIT order `cmd` of slot 0 sends at `limit`.
fn limit_order(k: &mut Kernel, cmd: KernelCommandType, size: f64, limit: f64) -> VenueOrder {
    let mut i = long_btc("l1", "t0", 0, cmd, size);
    (i.order_type, i.limit_price) = (OrderType::Limit, limit);
    let out = k.process_intent(&i);
    out.submit.clone().unwrap_or_else(|| panic!("{out:?}"))
}

fn fill_at(k: &mut Kernel, order: &VenueOrder, price: f64) -> KernelOutcome {
    let mut f = VenueEvent::new("f-l1", KernelEventKind::Fill, &order.client_order_id);
    (f.price, f.size, f.filled_size) = (price, order.size, order.size);
    well_formed_details(k.on_venue_event(&f))
}

/// `out` booked a fill at `price` past `limit`, CRITICAL, naming both and the order.
fn flagged(out: &KernelOutcome, order: &VenueOrder, price: f64, limit: f64) {
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    assert_eq!(detail(out, "price"), Some(Detail::F64(price)), "{out:?}");
    assert_eq!(
        detail(out, "limit_price"),
        Some(Detail::F64(limit)),
        "{out:?}"
    );
    assert_eq!(
        detail(out, "client_order_id"),
        Some((&order.client_order_id).into())
    );
    let Some(Detail::Static(reason)) = detail(out, "reason") else {
        panic!("no reason: {out:?}");
    };
    assert!(reason.contains("reconcile"), "{reason}");
}

#[test]
fn a_buy_limit_filled_above_its_limit_is_booked_and_critical() {
    let mut k = kernel(0.0);
    let order = limit_order(&mut k, KernelCommandType::Enter, 1.0, 100.0);
    let out = fill_at(&mut k, &order, 150.0);
    flagged(&out, &order, 150.0, 100.0);
    assert_eq!(k.slots()[0].entry_price, 150.0);
    assert_eq!(k.slots()[0].size, 1.0);
}

#[test]
fn a_sell_limit_exit_filled_below_its_limit_is_booked_and_critical() {
    let mut k = kernel(0.0);
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let mut x = long_btc("x1", "", 0, KernelCommandType::Exit, 0.0);
    (x.order_type, x.limit_price) = (OrderType::Limit, 110.0);
    let order = k.process_intent(&x).submit.expect("exit sent");
    let out = fill_at(&mut k, &order, 90.0);
    flagged(&out, &order, 90.0, 110.0);
    assert_eq!(k.slots()[0].realized_pnl, -10.0);
}

#[test]
fn a_limit_fill_at_or_better_than_its_limit_or_within_half_a_tick_is_not_flagged() {
    for (price, tick) in [
        (100.0, 0.0),
        (99.0, 0.0),
        (100.0 + 1e-8, 0.0),
        (100.004, 0.01),
    ] {
        let mut k = kernel(tick);
        let order = limit_order(&mut k, KernelCommandType::Enter, 1.0, 100.0);
        let out = fill_at(&mut k, &order, price);
        assert_eq!(
            out.severity,
            KernelSeverity::Info,
            "{price} {tick}: {out:?}"
        );
        assert_eq!(detail(&out, "limit_price"), None, "{out:?}");
    }
    // Past half a tick, it is flagged.
    let mut k = kernel(0.01);
    let order = limit_order(&mut k, KernelCommandType::Enter, 1.0, 100.0);
    flagged(&fill_at(&mut k, &order, 100.006), &order, 100.006, 100.0);
}
