//! The notional caps value an entry at the asset's latest mark when that is above the
//! intent's reference: a MARKET entry (and a SELL LIMIT one, which fills at the market or
//! above) valued at its reference alone lets an understated or stale reference through an
//! entry the cap should stop (max 500 per asset, marked at 119.5: 5 at a reference of 1 would
//! pass, and fill at 120, 600 held). What a working entry commits is valued the same way.

use std::path::Path;

use dita_kernel::kernel::KernelInput;
use dita_kernel::risk::{ConfigValue, RiskLimits};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel, KernelLog};
use dita_kernel::*;

mod common;
use common::{close, detail, open_log, well_formed_details};

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
