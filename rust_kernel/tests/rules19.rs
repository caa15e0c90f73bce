//! Rules 19: a FILL_SETTLED settles the unsettled fill of its fill id and asset (venues number
//! trades per market, so two assets' fills may share an id), and a fill report only partly
//! booked is settled for the part booked; a log of rules 18 replays as it ran.

use dita_kernel::account::Account;
use dita_kernel::error::replaying;
use dita_kernel::kernel::asset_print;
use dita_kernel::*;

mod common;
use common::{close, detail};

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
fn the_same_assets_fill_id_again_still_replaces_its_waiting_fee() {
    // Until rules 33: from then on a fill of another slot waits beside it (a self-trade:
    // rules33_account.rs).
    replaying(32, || {
        // A BTC fill of trade "123" again (on another slot) while the first's fee waits: only
        // the newest counts, as for any fill id before; the ETH fill's beside it stays.
        let mut k = two_markets_one_trade_id();
        let out = filled_one(&mut k, 2, 2, "BTC", 50_000.0, "123");
        assert!(out.accepted, "{out:?}");
        assert!(close(k.account.k_fees_paid, 51.5));
        assert!(
            close(k.account.k_unsettled_fees, 26.5),
            "{}",
            k.account.k_unsettled_fees
        );
        assert!(
            k.on_account_event(&settle("s-btc", "123", "BTC", 20.0))
                .accepted
        );
        assert!(
            k.on_account_event(&settle("s-eth", "123", "ETH", 1.5))
                .accepted
        );
        assert!(close(k.account.k_unsettled_fees, 0.0));
        let fees: Vec<f64> = k.slots().iter().map(|s| s.fees_paid).collect();
        assert_eq!(fees, [25.0, 1.5, 20.0]);
        fees_agree(&k);
    });
}

#[test]
fn a_settlement_naming_an_asset_no_fill_of_its_id_has_is_refused_and_changes_nothing() {
    // Until rules 32: from then on it is held for a fill of its asset (rules32_settlement.rs).
    replaying(
        31,
        a_settlement_naming_an_asset_no_fill_of_its_id_has_is_refused,
    );
}

fn a_settlement_naming_an_asset_no_fill_of_its_id_has_is_refused() {
    let mut k = two_markets_one_trade_id();
    let before = k.account.clone();
    let out = k.on_account_event(&settle("s-sol", "123", "SOL", 0.4));
    assert!(!out.accepted);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("fill_id")));
    assert_eq!(detail(&out, "value"), Some(Detail::from(&id("123"))));
    assert_eq!(detail(&out, "asset"), Some(Detail::from(&id("SOL"))));
    assert_eq!(k.account, before);
    assert_eq!(
        (k.slots()[0].fees_paid, k.slots()[1].fees_paid),
        (25.0, 1.5)
    );
    // Both fills still settle.
    assert!(
        k.on_account_event(&settle("s-btc", "123", "BTC", 25.0))
            .accepted
    );
    assert!(
        k.on_account_event(&settle("s-eth", "123", "ETH", 1.5))
            .accepted
    );
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

#[test]
fn a_log_of_rules_18_keeps_one_fill_per_id_and_settles_by_id_alone_as_it_ran() {
    let mut k = Kernel::new("markets", 2).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    let (btc, eth) = replaying(18, || {
        for (n, slot, asset, price) in [(0, 0, "BTC", 50_000.0), (1, 1, "ETH", 3_000.0)] {
            assert!(filled_one(&mut k, n, slot, asset, price, "123").accepted);
        }
        // The ETH fill's prediction replaced the BTC fill's.
        assert!(close(k.account.k_unsettled_fees, 1.5));
        (
            k.on_account_event(&settle("s-btc", "123", "BTC", 25.0)),
            k.on_account_event(&settle("s-eth", "123", "ETH", 1.5)),
        )
    });
    // The BTC settlement went to the ETH fill, and the ETH one found nothing.
    assert!(btc.accepted);
    assert_eq!(number(&btc, "predicted_fee"), 1.5);
    assert_eq!(eth.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert!(close(k.account.k_fees_paid, 50.0));
    assert!(close(k.slots()[1].fees_paid, 25.0));
}

#[test]
fn a_fill_booked_under_rules_18_settles_under_19_whatever_asset_is_named() {
    // A log written by the build before, then continued: its fill's asset is not known.
    let mut k = Kernel::new("markets", 1).unwrap();
    assert!(replaying(18, || filled_one(&mut k, 0, 0, "BTC", 50_000.0, "123")).accepted);
    let out = k.on_account_event(&settle("s-btc", "123", "BTCUSDT", 20.0));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.account.k_fees_paid, 20.0));
    assert!(close(k.account.k_unsettled_fees, 0.0));
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

#[test]
fn a_log_of_rules_18_settles_a_partly_booked_report_whole_as_it_ran() {
    let mut k = Kernel::new("part", 1).unwrap();
    let out = replaying(18, || {
        partly_booked_report(&mut k);
        k.on_account_event(&settle("s2", "T2", "BTC", 0.18))
    });
    assert!(out.accepted);
    assert_eq!(detail(&out, "fee_charged"), None);
    assert!(close(k.account.k_fees_paid, 0.1 + 0.18));
    // A fill booked under 18 and settled under 19 is settled as it was remembered: whole.
    let mut k = Kernel::new("part", 1).unwrap();
    replaying(18, || partly_booked_report(&mut k));
    assert!(
        k.on_account_event(&settle("s2", "T2", "BTC", 0.18))
            .accepted
    );
    assert!(close(k.account.k_fees_paid, 0.1 + 0.18));
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

/// The size of the last parts of `k`'s checkpoint from the unsettled fills' on (rules 19).
fn tails(k: &Kernel) -> usize {
    dita_kernel::wal::kernel_log::parts_since_rules(k, 19)
}

#[test]
fn a_checkpoint_keeps_the_fills_assets_report_sizes_and_fills_sharing_an_id() {
    use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
    let k = kernel_with_every_kind_of_waiting_fill();
    let state = encode_kernel(&k);
    let mut restored = decode_kernel(&state).unwrap();
    assert_eq!(restored.unsettled_tail(), k.unsettled_tail());
    let mut live = k.clone();
    let expected = settle_all(&mut live);
    assert!(close(expected.k_fees_paid, 0.1 + 20.0 + 2.0 + 0.06));
    assert!(close(expected.k_unsettled_fees, 0.1));
    assert_eq!(settle_all(&mut restored), expected);
    let fees = |k: &Kernel| k.slots().iter().map(|s| s.fees_paid).collect::<Vec<_>>();
    assert_eq!(fees(&restored), fees(&live));
}

#[test]
fn a_checkpoint_written_before_rules_19_loads_and_its_fills_settle_whole_by_id() {
    use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
    // What the build before wrote: fills booked under rules 18 (one per id, no asset), and a
    // checkpoint ending with the kept orders in doubt.
    let mut k = Kernel::new("markets", 3).unwrap();
    replaying(18, || {
        assert!(filled_one(&mut k, 0, 0, "BTC", 50_000.0, "123").accepted);
    });
    let state = encode_kernel(&k);
    let tail = tails(&k);
    let mut old = decode_kernel(&state[..state.len() - tail]).unwrap();
    // Its fill's asset is not known: a settlement naming any asset, or none, settles it.
    for asset in ["BTCUSDT", ""] {
        let mut k = old.clone();
        let out = k.on_account_event(&settle("s", "123", asset, 20.0));
        assert!(out.accepted, "{asset:?}: {out:?}");
        assert!(close(k.account.k_fees_paid, 20.0));
        assert!(close(k.account.k_unsettled_fees, 0.0));
    }
    // A fill of another asset under the id, booked now, waits beside it.
    assert!(filled_one(&mut old, 1, 1, "ETH", 3_000.0, "123").accepted);
    assert!(close(old.account.k_unsettled_fees, 26.5));
    assert!(
        old.on_account_event(&settle("s-eth", "123", "ETH", 2.0))
            .accepted
    );
    assert!(
        old.on_account_event(&settle("s-btc", "123", "BTC", 20.0))
            .accepted
    );
    assert!(close(old.account.k_fees_paid, 22.0));
    assert!(close(old.account.k_unsettled_fees, 0.0));
}

#[test]
fn a_checkpoints_unsettled_fills_part_must_fit_its_fills() {
    use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
    let k = kernel_with_every_kind_of_waiting_fill();
    let state = encode_kernel(&k);
    let body = &state[..state.len() - tails(&k)];
    let with = |assets: Vec<(u64, u32)>, sizes: Vec<(u32, f64)>| {
        let mut bytes = body.to_vec();
        // No fill of another asset under an id: an empty list.
        let more = Vec::<()>::new();
        bytes.extend(bincode::serialize(&(assets, sizes, more)).unwrap());
        decode_kernel(&bytes).map(|_| ())
    };
    // Three ids wait: "123" (BTC, with ETH beside it) and the total's "s1" and "T2" (BTC),
    // their assets by fingerprint.
    let btc = asset_print("BTC").unwrap().get();
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
