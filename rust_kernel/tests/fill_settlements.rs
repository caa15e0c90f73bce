//! A FILL_SETTLED settles the unsettled fill of its fill id and asset (venues number trades per
//! market, so two assets' fills may share an id), and a fill report only partly booked is
//! settled for the part booked. A settlement of a fill booked with its venue's own fee is
//! refused DUPLICATE_EVENT naming the fill (not held for a fill that will not come), and so is
//! (UNKNOWN_ORDER, settled already) a settlement resent naming the fill's asset another way. A
//! venue's self-trade (one trade id, both sides of one asset, two slots) leaves both fills'
//! fees waiting, and each settlement settles the fill its fee is nearest.

use dita_kernel::account::Account;
use dita_kernel::kernel::{asset_print, KernelInput};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
use dita_kernel::*;

mod common;
use common::{
    close, detail, long_btc, settle as settle_at, well_formed_details, with_part_replaced,
};

fn number(out: &KernelOutcome, name: &str) -> f64 {
    match detail(out, name) {
        Some(Detail::F64(x)) => x,
        d => panic!("{name}: {d:?} in {out:?}"),
    }
}

fn entry(n: u32, slot: i64, asset: &str, price: f64, size: f64) -> Intent {
    Intent::new(
        &format!("i{n}"),
        &format!("t{n}"),
        slot,
        asset,
        TradeSide::Long,
        KernelCommandType::Enter,
        price,
        size,
    )
}

/// A report of `size` at running total `total` of `order`, at `price`, without a fee (so
/// its fee is predicted and waits for the exchange's FILL_SETTLED).
fn fill(
    order: &Id,
    event_id: &str,
    fill_id: &str,
    price: f64,
    size: f64,
    total: f64,
) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, order);
    e.fill_id = id(fill_id);
    (e.price, e.size, e.filled_size) = (price, size, total);
    e
}

/// Enters 1 of `asset` at `price` on `slot` (intent `i<n>`) and books its whole fill, event
/// `e<n>` of trade `fill_id`, without a fee: what the kernel answers the fill.
fn filled_one(
    k: &mut Kernel,
    n: u32,
    slot: i64,
    asset: &str,
    price: f64,
    fill_id: &str,
) -> KernelOutcome {
    let order = k
        .process_intent(&entry(n, slot, asset, price, 1.0))
        .submit
        .unwrap();
    k.on_venue_event(&fill(
        &order.client_order_id,
        &format!("e{n}"),
        fill_id,
        price,
        1.0,
        1.0,
    ))
}

fn settle(event_id: &str, fill_id: &str, asset: &str, fee: f64) -> AccountEvent {
    let mut e = AccountEvent::new(event_id, AccountEventKind::FillSettled);
    (e.fill_id, e.asset, e.fee) = (id(fill_id), id(asset), fee);
    e
}

/// What the account was charged in fees is what its slots were (each still holds the trade
/// its fills were booked to): a settlement moves both by the same difference.
fn fees_agree(k: &Kernel) {
    let slots: f64 = k.slots().iter().map(|s| s.fees_paid).sum();
    assert!(
        close(slots, k.account.k_fees_paid),
        "slots {slots}, account {:?}",
        k.account
    );
}

/// A kernel of three slots holding 1 BTC at 50,000 (slot 0) and 1 ETH at 3,000 (slot 1),
/// both filled as trade "123" of their market, their fees predicted at the taker rate
/// (0.05 %): 25 and 1.5.
fn two_markets_one_trade_id() -> Kernel {
    let mut k = Kernel::new("markets", 3).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    for (n, slot, asset, price) in [(0, 0, "BTC", 50_000.0), (1, 1, "ETH", 3_000.0)] {
        let out = filled_one(&mut k, n, slot, asset, price, "123");
        assert!(out.accepted, "{out:?}");
    }
    k
}

#[test]
fn two_assets_fills_under_one_fill_id_each_settle_against_their_own() {
    for btc_first in [true, false] {
        let mut k = two_markets_one_trade_id();
        assert!(close(k.account.k_fees_paid, 26.5));
        // Both predictions wait: the second did not replace the first.
        assert!(
            close(k.account.k_unsettled_fees, 26.5),
            "{}",
            k.account.k_unsettled_fees
        );
        let mut settlements = vec![("s-btc", "BTC", 20.0, 25.0), ("s-eth", "ETH", 2.0, 1.5)];
        if !btc_first {
            settlements.reverse();
        }
        for (n, (event_id, asset, fee, predicted)) in settlements.into_iter().enumerate() {
            let out = k.on_account_event(&settle(event_id, "123", asset, fee));
            assert!(out.accepted, "{asset}: {out:?}");
            assert_eq!(number(&out, "predicted_fee"), predicted, "{asset}");
            assert_eq!(number(&out, "actual_fee"), fee, "{asset}");
            if n == 0 {
                // The first sample is the model's ratio: the fill's own, 0.8 for BTC and
                // 1.333 for ETH (against the other fill's price it read 13.3 or 0.08).
                assert!(
                    close(number(&out, "calibration_ratio"), fee / predicted),
                    "{out:?}"
                );
            }
            fees_agree(&k);
        }
        assert!(
            close(k.account.k_fees_paid, 22.0),
            "{}",
            k.account.k_fees_paid
        );
        assert!(close(k.account.k_unsettled_fees, 0.0));
        assert!(
            close(k.slots()[0].fees_paid, 20.0),
            "{}",
            k.slots()[0].fees_paid
        );
        assert!(
            close(k.slots()[1].fees_paid, 2.0),
            "{}",
            k.slots()[1].fees_paid
        );
        // Settled once each.
        let again = k.on_account_event(&settle("s-again", "123", "BTC", 20.0));
        assert_eq!(again.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    }
}

#[test]
fn a_settlement_without_an_asset_settles_the_one_fill_of_its_id_and_refuses_an_ambiguous_id() {
    let mut k = two_markets_one_trade_id();
    let before = k.account.clone();
    let out = k.on_account_event(&settle("s-any", "123", "", 25.0));
    assert!(!out.accepted);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("asset")));
    assert_eq!(detail(&out, "fill_id"), Some(Detail::from(&id("123"))));
    assert!(matches!(detail(&out, "reason"), Some(Detail::Static(r)) if r.contains("asset")));
    assert_eq!(k.account, before);
    // Refused, not remembered: the same event id naming the asset is taken.
    assert!(
        k.on_account_event(&settle("s-any", "123", "ETH", 2.0))
            .accepted
    );
    // One fill of the id left: a settlement without an asset is that fill's (as callers
    // that never named the asset did).
    let out = k.on_account_event(&settle("s-btc", "123", "", 20.0));
    assert!(out.accepted, "{out:?}");
    assert_eq!(number(&out, "predicted_fee"), 25.0);
    assert!(close(k.account.k_fees_paid, 22.0));
    assert!(close(k.slots()[0].fees_paid, 20.0));
    assert!(close(k.account.k_unsettled_fees, 0.0));
    fees_agree(&k);
}

/// An entry of 10 BTC at 100 of which the venue reports a total of 2 filled (no fill id,
/// no fee: 2 booked, its fee of 0.1 predicted), then trade "T2" of 3 at total 3 (no fee),
/// which overlaps it: 1 is new and booked, its fee for 1 predicted (0.05).
fn partly_booked_report(k: &mut Kernel) -> [KernelOutcome; 2] {
    let o = k
        .process_intent(&entry(0, 0, "BTC", 100.0, 10.0))
        .submit
        .unwrap()
        .client_order_id;
    let total = k.on_venue_event(&fill(&o, "s1", "", 100.0, 0.0, 2.0));
    let report = k.on_venue_event(&fill(&o, "e2", "T2", 100.0, 3.0, 3.0));
    [total, report]
}

#[test]
fn a_partly_booked_report_is_settled_for_its_part_and_calibrates_on_the_whole() {
    let mut k = Kernel::new("part", 1).unwrap();
    let [total, report] = partly_booked_report(&mut k);
    assert!(total.accepted && report.accepted, "{total:?} {report:?}");
    assert!(close(k.slots()[0].size, 3.0));
    assert!(
        close(k.account.k_fees_paid, 0.15),
        "{}",
        k.account.k_fees_paid
    );
    // The exchange charged 0.18 for the whole trade of 3 (1.2 times the rate): 0.06 of it is
    // the part booked under T2; the other 2 were charged under the total's report.
    let out = k.on_account_event(&settle("s2", "T2", "BTC", 0.18));
    assert!(out.accepted, "{out:?}");
    assert!(close(number(&out, "predicted_fee"), 0.05));
    assert_eq!(number(&out, "actual_fee"), 0.18);
    assert!(close(number(&out, "fee_charged"), 0.06));
    assert_eq!(number(&out, "booked_qty"), 1.0);
    assert_eq!(number(&out, "reported_qty"), 3.0);
    assert!(
        close(k.account.k_fees_paid, 0.16),
        "{}",
        k.account.k_fees_paid
    );
    assert!(close(k.slots()[0].fees_paid, 0.16));
    assert!(close(k.account.k_unsettled_fees, 0.1));
    // The rate learned is the trade's: 0.18 for 3 at 100, 1.2 times the rate (0.18 over the
    // part's 1 read 3.6, an outlier not learned).
    assert!(close(number(&out, "calibration_ratio"), 1.2), "{out:?}");
    assert!(close(k.fees.calibration_ratio, 1.2));
    fees_agree(&k);
}

/// The two markets' fills under trade "123", and a fill booked from part of a report.
fn kernel_with_every_kind_of_waiting_fill() -> Kernel {
    let mut k = two_markets_one_trade_id();
    let o = k
        .process_intent(&entry(7, 2, "BTC", 100.0, 10.0))
        .submit
        .unwrap()
        .client_order_id;
    assert!(
        k.on_venue_event(&fill(&o, "s1", "", 100.0, 0.0, 2.0))
            .accepted
    );
    assert!(
        k.on_venue_event(&fill(&o, "e2", "T2", 100.0, 3.0, 3.0))
            .accepted
    );
    k
}

/// Settles all three fills of [`kernel_with_every_kind_of_waiting_fill`]; the account after.
fn settle_all(k: &mut Kernel) -> Account {
    for (event_id, fill_id, asset, fee) in [
        ("s-btc", "123", "BTC", 20.0),
        ("s-eth", "123", "ETH", 2.0),
        ("s-t2", "T2", "BTC", 0.18),
    ] {
        let out = k.on_account_event(&settle(event_id, fill_id, asset, fee));
        assert!(out.accepted, "{event_id}: {out:?}");
    }
    fees_agree(k);
    k.account.clone()
}

#[test]
fn a_checkpoint_keeps_the_fills_assets_report_sizes_and_fills_sharing_an_id() {
    let k = kernel_with_every_kind_of_waiting_fill();
    // Restored, every fill settles as it does live: by its asset beside the other asset's
    // fill of its id, and for its share of the report it was booked from.
    let mut restored = decode_kernel(&encode_kernel(&k)).unwrap();
    let mut live = k.clone();
    let expected = settle_all(&mut live);
    assert!(close(expected.k_fees_paid, 0.1 + 20.0 + 2.0 + 0.06));
    assert!(close(expected.k_unsettled_fees, 0.1));
    assert_eq!(settle_all(&mut restored), expected);
    let fees = |k: &Kernel| k.slots().iter().map(|s| s.fees_paid).collect::<Vec<_>>();
    assert_eq!(fees(&restored), fees(&live));
}

#[test]
fn a_checkpoints_unsettled_fills_part_must_fit_its_fills() {
    let k = kernel_with_every_kind_of_waiting_fill();
    let state = encode_kernel(&k);
    // Three ids wait: "123" (BTC, with ETH beside it) and the total's "s1" and "T2" (BTC),
    // their assets by fingerprint as runs, then the fill booked from part of a report (T2,
    // the third) with the report's size. The ETH fill beside "123" follows them.
    let btc = asset_print("BTC").unwrap().get();
    let written = bincode::serialize(&(vec![(btc, 3u32)], vec![(2u32, 3.0f64)])).unwrap();
    let with = |assets: Vec<(u64, u32)>, sizes: Vec<(u32, f64)>| {
        let part = bincode::serialize(&(assets, sizes)).unwrap();
        decode_kernel(&with_part_replaced(&state, &written, &part)).map(|_| ())
    };
    assert_eq!(with(vec![(btc, 3)], vec![(2, 3.0)]), Ok(()));
    for (assets, sizes, why) in [
        (vec![(btc, 2)], vec![], "name 2 fills, not the 3"),
        (vec![(btc, 1), (0, 3)], vec![], "name 4 fills, not the 3"),
        (vec![(btc, 3)], vec![(3, 3.0)], "at 3, beyond the 3"),
        (vec![(btc, 3)], vec![(2, f64::NAN)], "report size NaN"),
        (vec![(btc, 3)], vec![(2, -1.0)], "report size -1"),
    ] {
        let err = with(assets, sizes).expect_err(why);
        assert!(err.contains(why), "{why}: {err}");
    }
}

/// Taker 5 bp, maker -2.5 bp (a rebate).
fn config() -> KernelInput {
    KernelInput::ExchangeConfig(vec![
        ("taker_rate".into(), 0.0005),
        ("maker_rate".into(), -0.00025),
    ])
}

/// A kernel of `slots` slots, seed 10,000, fees as [`config`] (a maker rebate).
fn kernel(name: &str, slots: usize) -> Kernel {
    let mut k = Kernel::new(name, slots).unwrap();
    k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
    k.apply(&config()).unwrap();
    k
}

/// An ENTER of slot `slot` on BTC, 1, `side`, as a MARKET or a LIMIT (at 100) order.
fn enter(slot: i64, side: TradeSide, limit: bool) -> Intent {
    let mut i = long_btc(
        &format!("i{slot}"),
        &format!("t{slot}"),
        slot,
        KernelCommandType::Enter,
        1.0,
    );
    i.side = side;
    if limit {
        i.order_type = OrderType::Limit;
        i.limit_price = 100.0;
    }
    i
}

/// A fill of all of `order` (1) at 100, fill id `fill_id`, its fee `fee` (None: predicted).
fn fill_whole(order: &VenueOrder, fill_id: &str, fee: Option<f64>) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("e-{}-{fill_id}", order.client_order_id),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    e.fill_id = id(fill_id);
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, 1.0, 1.0, 1_000.0);
    e.fee = fee;
    e
}

/// Sends slot `slot`'s entry and fills it under `fill_id`.
fn entered(
    k: &mut Kernel,
    slot: i64,
    side: TradeSide,
    limit: bool,
    fill_id: &str,
    fee: Option<f64>,
) {
    let out = k.process_intent(&enter(slot, side, limit));
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    let out = k.on_venue_event(&fill_whole(&order, fill_id, fee));
    assert!(out.accepted, "{out:?}");
}

#[test]
fn a_settlement_of_a_fill_booked_with_its_venues_fee_is_refused_not_held() {
    for asset in ["BTC", ""] {
        let mut k = kernel("own-fee", 1);
        entered(&mut k, 0, TradeSide::Long, false, "F1", Some(0.2));
        let out =
            well_formed_details(k.on_account_event(&settle_at("s1", "F1", asset, 0.2, 1_001.0)));
        assert!(!out.accepted, "{asset:?}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        assert_eq!(out.severity, KernelSeverity::Info);
        assert_eq!(detail(&out, "field"), Some(Detail::Static("fill_id")));
        assert_eq!(detail(&out, "value"), Some(Detail::Id(id("F1"))));
        assert!(detail(&out, "reason").is_some(), "{out:?}");
        assert!(k.early_settlements().0.is_empty());
        assert!(close(k.account.k_fees_paid, 0.2));
    }
}

#[test]
fn a_settlement_resent_naming_the_asset_another_way_is_settled_already() {
    for (first, again) in [("", "BTC"), ("BTC", "")] {
        let mut k = kernel("forms", 1);
        entered(&mut k, 0, TradeSide::Long, false, "F1", None);
        assert!(
            k.on_account_event(&settle_at("s1", "F1", first, 0.06, 1_001.0))
                .accepted
        );
        let out = k.on_account_event(&settle_at("s2", "F1", again, 0.06, 1_002.0));
        assert!(!out.accepted, "{first:?} then {again:?}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
        assert!(k.early_settlements().0.is_empty());
        assert!(close(k.account.k_fees_paid, 0.06));
    }
}

#[test]
fn a_self_trades_settlements_each_settle_their_own_side() {
    for taker_first in [true, false] {
        let mut k = kernel("self-trade", 2);
        // Slot 0 buys at market (taker, 0.05 predicted), slot 1 sells resting (maker, -0.025):
        // the venue matched them against each other, one trade id.
        entered(&mut k, 0, TradeSide::Long, false, "T1", None);
        entered(&mut k, 1, TradeSide::Short, true, "T1", None);
        assert!(
            close(k.account.k_unsettled_fees, 0.05 - 0.025),
            "{:?}",
            k.account
        );
        let taker = settle_at("s-taker", "T1", "BTC", 0.06, 1_001.0);
        let maker = settle_at("s-maker", "T1", "BTC", -0.02, 1_001.0);
        let order = if taker_first {
            [taker, maker]
        } else {
            [maker, taker]
        };
        for s in &order {
            let out = well_formed_details(k.on_account_event(s));
            assert!(out.accepted, "{out:?}");
        }
        assert!(close(k.slots()[0].fees_paid, 0.06), "{:?}", k.slots()[0]);
        assert!(close(k.slots()[1].fees_paid, -0.02), "{:?}", k.slots()[1]);
        assert!(close(k.account.k_fees_paid, 0.04));
        assert!(k.account.k_unsettled_fees.abs() < 1e-12, "{:?}", k.account);
        // Each liquidity learned its own side's ratio.
        assert!(close(k.fees.taker.ratio, 1.2), "{:?}", k.fees);
        assert!(close(k.fees.maker.ratio, 0.8), "{:?}", k.fees);
    }
}
