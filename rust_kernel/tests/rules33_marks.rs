//! The marks the kernel keeps per asset: a slot whose position opens on an asset the kernel has
//! a mark for shows that mark (and the unrealized PnL at it) at once, not `mark_price` 0 and its
//! PnL at the fill's price until the next mark; and an entry in doubt commits at the mark it
//! was judged at, after a reload of the slots too.

use dita_kernel::risk::{ConfigValue, RiskLimits};
use dita_kernel::*;

mod common;
use common::{close, fill_at_100, long_btc, open_btc};

#[test]
fn a_position_opening_takes_its_assets_latest_mark() {
    let mut k = Kernel::new("mark", 2).unwrap();
    k.mark_price("BTC", 110.0, 1.0).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 2.0);
    let s = &k.slots()[0];
    assert_eq!(s.mark_price, 110.0, "{s:?}");
    assert!(close(s.unrealized_pnl, 20.0), "{s:?}");
    assert!(close(k.open_totals().0, 20.0));
    // A short opened beside it, the mark moved since the entry went out.
    let mut e = long_btc("e1", "t1", 1, KernelCommandType::Enter, 1.0);
    e.side = TradeSide::Short;
    let order = k.process_intent(&e).submit.unwrap();
    k.mark_price("BTC", 105.0, 2.0).unwrap();
    fill_at_100(&mut k, &order, 1.0, 1.0, "f-e1");
    let s = &k.slots()[1];
    assert_eq!(s.mark_price, 105.0, "{s:?}");
    assert!(close(s.unrealized_pnl, -5.0), "{s:?}");
    // Another asset's mark is not this one's.
    let mut k = Kernel::new("other", 1).unwrap();
    k.mark_price("ETH", 110.0, 1.0).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 2.0);
    assert_eq!(k.slots()[0].mark_price, 0.0);
    assert_eq!(k.slots()[0].unrealized_pnl, 0.0);
}

/// A kernel of 2 slots, a total cap of 500, BTC marked at 119.5.
fn marked() -> Kernel {
    let mut k = Kernel::new("doubt", 2).unwrap();
    let caps = vec![("max_notional_total".to_string(), ConfigValue::Num(500.0))];
    k.set_risk_limits(RiskLimits::default().with_updates(&caps).unwrap());
    k.mark_price("BTC", 119.5, 1.0).unwrap();
    k
}

#[test]
fn an_entry_in_doubt_commits_at_its_mark_after_a_reload_of_the_slots() {
    let mut k = marked();
    let mut e = long_btc("e0", "t0", 0, KernelCommandType::Enter, 4.0);
    e.reference_price = 1.0;
    let entry = k.process_intent(&e).submit.unwrap();
    let mut cancel = long_btc("c0", "t0", 0, KernelCommandType::Cancel, 0.0);
    cancel.reference_price = 1.0;
    assert!(k.process_intent(&cancel).accepted);
    let mut throttled = VenueEvent::new("r1", KernelEventKind::RateLimited, &entry.client_order_id);
    throttled.retry_after = 1.0;
    k.on_venue_event(&throttled);
    assert_eq!(k.orders_in_doubt().len(), 1);
    assert!(close(k.total_committed_notional(), 4.0 * 119.5));
    let slots = k.slots().to_vec();
    k.replace_slots(slots).unwrap();
    assert_eq!(k.orders_in_doubt().len(), 1);
    assert!(
        close(k.total_committed_notional(), 4.0 * 119.5),
        "{}",
        k.total_committed_notional()
    );
}
