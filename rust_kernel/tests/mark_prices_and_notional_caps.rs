//! Mark prices: the kernel keeps each asset's latest mark. The notional caps value an entry at
//! that mark when it is above the intent's reference: a MARKET entry (and a SELL LIMIT one,
//! which fills at the market or above) valued at its reference alone lets an understated or
//! stale reference through an entry the cap should stop (max 500 per asset, marked at 119.5: 5
//! at a reference of 1 would pass, and fill at 120, 600 held). What a working entry commits is
//! valued the same way. The kernel's own floor (`min_notional`) judges a MARKET entry at the
//! higher of its reference and the mark too, not at the mark alone, which carries no age. And
//! a slot whose position opens on an asset with a mark shows that mark, and the unrealized PnL
//! at it, at once.

use std::path::Path;

use dita_kernel::kernel::KernelInput;
use dita_kernel::risk::{ConfigValue, RiskLimits};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel, KernelLog};
use dita_kernel::*;

mod common;
use common::{close, detail, fill_at_100, long_btc, open_btc, open_log, well_formed_details};

/// Default risk limits with `updates` (here, the notional caps) set.
fn limits(updates: &[(&str, f64)]) -> RiskLimits {
    let u: Vec<(String, ConfigValue)> = updates
        .iter()
        .map(|(f, v)| (f.to_string(), ConfigValue::Num(*v)))
        .collect();
    RiskLimits::default().with_updates(&u).unwrap()
}

/// An ENTER `n` of slot `slot` on BTC, `side`, MARKET at a reference of `reference`.
fn market(n: u32, slot: i64, side: TradeSide, reference: f64, size: f64) -> Intent {
    Intent::new(
        &format!("i{n}"),
        &format!("t{n}"),
        slot,
        "BTC",
        side,
        KernelCommandType::Enter,
        reference,
        size,
    )
}

/// A kernel of `slots` slots with `caps`, BTC marked at 119.5 (no slot open on it).
fn marked(name: &str, slots: usize, caps: &[(&str, f64)]) -> Kernel {
    let mut k = Kernel::new(name, slots).unwrap();
    k.set_risk_limits(limits(caps));
    assert_eq!(k.mark_price("BTC", 119.5, 1.0).unwrap(), 0);
    k
}

fn fill(order: &VenueOrder, event_id: &str, price: f64, size: f64, total: f64) -> VenueEvent {
    let mut f = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    f.price = price;
    f.size = size;
    f.filled_size = total;
    // A fill stating FILLED short of its order's size would end the order.
    if total < order.size {
        f.status = VenueOrderStatus::PartiallyFilled;
    }
    f
}

/// `out` is a risk refusal (the caps').
fn assert_risk_rejected(out: &KernelOutcome) {
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::RiskRejected,
        "{out:?}"
    );
}

#[test]
fn a_market_entry_under_a_stale_reference_is_judged_at_the_mark() {
    let mut k = marked("per_asset", 2, &[("max_notional_per_asset", 500.0)]);
    let out = well_formed_details(k.process_intent(&market(1, 0, TradeSide::Long, 1.0, 5.0)));
    assert_risk_rejected(&out);
    assert_eq!(
        detail(&out, "rule"),
        Some(Detail::Static("max_notional_per_asset"))
    );
    assert_eq!(detail(&out, "value"), Some(Detail::F64(5.0 * 119.5)));
    assert_eq!(detail(&out, "cap_price"), Some(Detail::F64(119.5)));
    assert_eq!(
        detail(&out, "cap_price_source"),
        Some(Detail::Static("mark_price"))
    );
    // 4 at 119.5 is within the cap, and commits what it was judged at.
    let out = k.process_intent(&market(2, 0, TradeSide::Long, 1.0, 4.0));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.total_committed_notional(), 4.0 * 119.5));
    assert!(close(k.slots()[0].committed_notional, 4.0 * 119.5));
    // A short beside it on the total cap too: 478 + 1 x 119.5 passes 500.
    let mut k2 = marked("total", 2, &[("max_notional_total", 500.0)]);
    assert!(
        k2.process_intent(&market(1, 0, TradeSide::Long, 1.0, 4.0))
            .accepted
    );
    let out = k2.process_intent(&market(2, 1, TradeSide::Short, 1.0, 1.0));
    assert_risk_rejected(&out);
    assert_eq!(
        detail(&out, "rule"),
        Some(Detail::Static("max_notional_total"))
    );
    assert_eq!(detail(&out, "value"), Some(Detail::F64(5.0 * 119.5)));
}

#[test]
fn a_reference_above_the_mark_is_what_the_caps_take() {
    let mut k = marked("ref", 1, &[("max_notional_per_asset", 500.0)]);
    let out = k.process_intent(&market(1, 0, TradeSide::Long, 130.0, 4.0));
    assert_risk_rejected(&out);
    assert_eq!(detail(&out, "cap_price"), Some(Detail::F64(130.0)));
    assert_eq!(
        detail(&out, "cap_price_source"),
        Some(Detail::Static("reference_price"))
    );
    // Another asset's mark is not this one's: ETH has none, and is judged at its reference.
    let mut eth = market(2, 0, TradeSide::Long, 1.0, 5.0);
    eth.asset = id("ETH");
    assert!(k.process_intent(&eth).accepted);
    assert!(close(k.total_committed_notional(), 5.0));
}

#[test]
fn a_short_limit_under_the_market_is_judged_at_the_mark() {
    let mut k = marked("short_limit", 1, &[("max_notional_total", 500.0)]);
    let mut i = market(1, 0, TradeSide::Short, 1.0, 5.0);
    i.order_type = OrderType::Limit;
    i.limit_price = 1.0;
    let out = k.process_intent(&i);
    assert_risk_rejected(&out);
    assert_eq!(detail(&out, "cap_price"), Some(Detail::F64(119.5)));
    // A buy limit fills at its price or under: judged at its price, the mark aside.
    i.side = TradeSide::Long;
    i.intent_id = id("i2");
    assert!(k.process_intent(&i).accepted);
    assert!(close(k.total_committed_notional(), 5.0));
}

#[test]
fn what_still_works_of_a_market_entry_commits_at_the_mark_after_a_fill_and_a_reload() {
    let mut k = marked("commit", 2, &[("max_notional_per_asset", 500.0)]);
    let order = k
        .process_intent(&market(1, 0, TradeSide::Long, 1.0, 4.0))
        .submit
        .unwrap();
    assert!(
        k.on_venue_event(&fill(&order, "f1", 120.0, 1.0, 1.0))
            .accepted
    );
    let expected = 120.0 + 3.0 * 119.5;
    assert!(
        close(k.slots()[0].committed_notional, expected),
        "{}",
        k.slots()[0].committed_notional
    );
    let slots = k.slots().to_vec();
    k.replace_slots(slots).unwrap();
    assert!(close(k.total_committed_notional(), expected));
    // So a second entry is judged beside it: even 0.2 at 1 passes 500 at the mark.
    let out = k.process_intent(&market(2, 1, TradeSide::Long, 1.0, 0.2));
    assert_risk_rejected(&out);
    // What works commits at the mark it was judged at, whatever marks come after, and so does
    // a kernel restored from a checkpoint.
    k.mark_price("BTC", 200.0, 2.0).unwrap();
    let mut back = decode_kernel(&encode_kernel(&k)).unwrap();
    for k in [&mut k, &mut back] {
        assert!(
            k.on_venue_event(&fill(&order, "f2", 121.0, 1.0, 2.0))
                .accepted
        );
        let expected = 241.0 + 2.0 * 119.5;
        assert!(close(k.slots()[0].committed_notional, expected));
        assert!(close(k.total_committed_notional(), expected));
    }
}

#[test]
fn an_entry_in_doubt_commits_at_the_mark() {
    let mut k = marked("doubt", 2, &[("max_notional_total", 500.0)]);
    let entry = k
        .process_intent(&market(1, 0, TradeSide::Long, 1.0, 4.0))
        .submit
        .unwrap();
    let mut cancel = market(2, 0, TradeSide::Long, 1.0, 0.0);
    cancel.action = KernelCommandType::Cancel;
    cancel.trade_id = id("t1");
    assert!(k.process_intent(&cancel).accepted);
    let mut throttled = VenueEvent::new("r1", KernelEventKind::RateLimited, &entry.client_order_id);
    throttled.retry_after = 1.0;
    k.on_venue_event(&throttled);
    assert_eq!(k.orders_in_doubt().len(), 1);
    assert!(close(k.total_committed_notional(), 4.0 * 119.5));
}

#[test]
fn a_checkpoint_keeps_the_marks() {
    let k = marked("ckpt", 1, &[("max_notional_per_asset", 500.0)]);
    let bytes = encode_kernel(&k);
    let mut back = decode_kernel(&bytes).unwrap();
    assert_eq!(encode_kernel(&back), bytes);
    let i = market(1, 0, TradeSide::Long, 1.0, 5.0);
    let out = back.process_intent(&i);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::RiskRejected);
}

/// A session: a cap of 500 per asset, BTC marked at 119.5, 5 at a reference of 1 entered.
fn session() -> Vec<KernelInput> {
    vec![
        KernelInput::RiskLimits(limits(&[("max_notional_per_asset", 500.0)])),
        KernelInput::MarkPrice {
            asset: id("BTC"),
            price: 119.5,
            ts: 1.0,
        },
        KernelInput::Intent(market(1, 0, TradeSide::Long, 1.0, 5.0)),
    ]
}

fn open(dir: &Path, checkpoint_every: u64) -> (KernelLog, Kernel) {
    open_log(dir, "log", checkpoint_every)
}

#[test]
fn a_log_of_an_entry_refused_at_the_mark_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 40_000);
    let mut last = None;
    for input in session() {
        last = Some(k.apply(&input).unwrap());
        log.record(&k, &input).unwrap();
    }
    assert_risk_rejected(&last.unwrap());
    drop(log);
    let (_, recovered) = open(dir.path(), 0);
    assert_eq!(recovered.seq(), k.seq());
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.total_committed_notional(), 0.0);
}

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
fn marked_under_a_total_cap() -> Kernel {
    let mut k = Kernel::new("doubt", 2).unwrap();
    let caps = vec![("max_notional_total".to_string(), ConfigValue::Num(500.0))];
    k.set_risk_limits(RiskLimits::default().with_updates(&caps).unwrap());
    k.mark_price("BTC", 119.5, 1.0).unwrap();
    k
}

#[test]
fn an_entry_in_doubt_commits_at_its_mark_after_a_reload_of_the_slots() {
    let mut k = marked_under_a_total_cap();
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

/// A MARKET ENTER `n` of slot 0 on BTC, LONG, 1 at a reference of `reference`.
fn market_at(n: u32, reference: f64) -> Intent {
    Intent::new(
        &format!("i{n}"),
        &format!("t{n}"),
        0,
        "BTC",
        TradeSide::Long,
        KernelCommandType::Enter,
        reference,
        1.0,
    )
}

/// BTC's floor at a notional of 10, marked at `mark`.
fn floor_of_10(mark: f64) -> Vec<KernelInput> {
    vec![
        KernelInput::SeedCapital(10_000.0),
        KernelInput::MarketLimits {
            asset: id("BTC"),
            fields: vec![("min_notional".into(), 10.0)],
        },
        KernelInput::MarkPrice {
            asset: id("BTC"),
            price: mark,
            ts: 1_000.0,
        },
    ]
}

fn floor_kernel(mark: f64) -> Kernel {
    let mut k = Kernel::new("floor", 1).unwrap();
    for input in floor_of_10(mark) {
        k.apply(&input).unwrap();
    }
    k
}

#[test]
fn a_market_entry_over_the_floor_at_its_mark_goes_out_at_a_stale_low_reference() {
    let mut k = floor_kernel(100.0);
    let out = k.process_intent(&market_at(1, 5.0));
    assert!(out.accepted, "{out:?}");
    assert!(out.submit.is_some());
}

#[test]
fn a_stale_low_mark_refuses_nothing_its_reference_passes() {
    let mut k = floor_kernel(5.0);
    assert!(k.process_intent(&market_at(1, 100.0)).accepted);
}

#[test]
fn under_both_it_is_refused_naming_the_higher() {
    let mut k = floor_kernel(8.0);
    let out = well_formed_details(k.process_intent(&market_at(1, 6.0)));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    assert_eq!(detail(&out, "floor_price"), Some(Detail::F64(8.0)));
    assert_eq!(
        detail(&out, "floor_price_source"),
        Some(Detail::Static("mark"))
    );
    assert_eq!(detail(&out, "notional"), Some(Detail::F64(8.0)));
    assert!(k.slots()[0].active_entry_order.is_none());
}

#[test]
fn without_a_mark_the_reference_judges_and_is_named() {
    let mut k = Kernel::new("no-mark", 1).unwrap();
    k.apply(&floor_of_10(1.0)[1]).unwrap();
    let out = well_formed_details(k.process_intent(&market_at(1, 5.0)));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    assert_eq!(detail(&out, "floor_price"), Some(Detail::F64(5.0)));
    assert_eq!(
        detail(&out, "floor_price_source"),
        Some(Detail::Static("reference"))
    );
    // A LIMIT entry is judged at its limit, whatever the mark.
    let mut k = floor_kernel(100.0);
    let mut limit = market_at(2, 100.0);
    limit.order_type = OrderType::Limit;
    limit.limit_price = 5.0;
    let out = well_formed_details(k.process_intent(&limit));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    assert_eq!(
        detail(&out, "floor_price_source"),
        Some(Detail::Static("limit"))
    );
}

#[test]
fn a_log_of_an_entry_over_the_floor_at_its_mark_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    let mut inputs = floor_of_10(100.0);
    inputs.push(KernelInput::Intent(market_at(1, 5.0)));
    for input in &inputs {
        k.apply(input).unwrap();
        log.record(&k, input).unwrap();
    }
    assert!(k.slots()[0].active_entry_order.is_some());
    drop(log);
    let (_, recovered) = open(dir.path(), 0);
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.seq(), k.seq());
}

/// An asset with whitespace at either end is refused naming `asset` and the value quoted, by an
/// ENTER and by every input naming a market: "BTC " would be a market of its own, outside the
/// per-asset cap and the market limits of BTC.
#[test]
fn an_asset_with_whitespace_at_either_end_is_refused_everywhere() {
    for padded in ["BTC ", " BTC", "\tBTC", "BTC\n"] {
        let mut k = Kernel::new("padded", 1).unwrap();
        k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
        let mut e = long_btc("e1", "t1", 0, KernelCommandType::Enter, 1.0);
        e.asset = id(padded);
        let out = well_formed_details(k.process_intent(&e));
        assert!(!out.accepted && out.submit.is_none(), "{out:?}");
        assert_eq!(detail(&out, "field"), Some(Detail::Static("asset")));
        assert_eq!(
            detail(&out, "value"),
            Some(Detail::Str(format!("{padded:?}")))
        );
        let seq = k.seq();
        let quoted = format!("invalid asset: {padded:?} (must not have whitespace at either end)");
        let fields = vec![("tick_size".to_string(), 0.01)];
        for err in [
            k.mark_price(padded, 100.0, 1.0).map(|_| ()),
            k.set_market_limits(padded, &fields),
            k.on_edge_update(padded, 5.0, 1.0).map(|_| ()),
        ] {
            assert_eq!(err.unwrap_err().to_string(), quoted);
        }
        assert_eq!(k.seq(), seq);
        let mut slot = k.slots()[0].clone();
        slot.asset = id(padded);
        assert!(dita_kernel::kernel::check_slot_fields(&slot, |f| f.to_string()).is_err());
    }
}
