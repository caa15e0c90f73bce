//! A FILL_SETTLED saying its fill's predicted fee stands (`predicted_fee_stands`: the venue will
//! never report the fee) settles the waiting fill at its prediction: it leaves
//! `k_unsettled_fees` and the fills waiting, the fees paid stay the prediction, the calibration
//! learns nothing, and any settlement of the fill after it is refused as settled already. One
//! with a fee, of another kind, or of no fill waiting is refused, nothing changed; its record
//! replays to the same account.

use dita_kernel::kernel::KernelInput;
use dita_kernel::wal::kernel_log::KernelLog;
use dita_kernel::*;

mod common;
use common::{close, detail, open_log, settle, well_formed_details};

/// A kernel of two slots holding 1 BTC at 50,000 (slot 0, trade "123") and 1 ETH at 3,000
/// (slot 1, trade "123" of its market), their fees predicted at the taker rate (0.05 %): 25
/// and 1.5, waiting for their settlement.
fn two_fills_waiting() -> Kernel {
    let mut k = Kernel::new("stands", 2).unwrap();
    k.set_seed_capital(100_000.0).unwrap();
    for (slot, asset, price) in [(0, "BTC", 50_000.0), (1, "ETH", 3_000.0)] {
        for input in fill_of(&mut k, slot, asset, price) {
            let out = k.apply(&input).unwrap();
            assert!(out.accepted, "{out:?}");
        }
    }
    assert!(close(k.account.k_unsettled_fees, 26.5));
    k
}

/// The entry of 1 `asset` at `price` on `slot` and its whole fill, trade "123", no fee: the
/// inputs, the intent applied already (its order's id is the kernel's).
fn fill_of(k: &mut Kernel, slot: i64, asset: &str, price: f64) -> Vec<KernelInput> {
    let intent = Intent::new(
        &format!("i{slot}"),
        &format!("t{slot}"),
        slot,
        asset,
        TradeSide::Long,
        KernelCommandType::Enter,
        price,
        1.0,
    );
    let order = k.process_intent(&intent).submit.unwrap();
    let mut fill = VenueEvent::new(
        &format!("e{slot}"),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    fill.fill_id = id("123");
    (fill.price, fill.size, fill.filled_size, fill.timestamp) = (price, 1.0, 1.0, 1_000.0);
    vec![KernelInput::VenueEvent(fill)]
}

/// `event_id`: the predicted fee of fill `fill_id` of `asset` stands.
fn stands(event_id: &str, fill_id: &str, asset: &str) -> AccountEvent {
    let mut e = settle(event_id, fill_id, asset, 0.0, 1_001.0);
    e.predicted_fee_stands = true;
    e
}

#[test]
fn a_predicted_fee_standing_settles_its_fill_at_the_prediction_and_nothing_settles_it_after() {
    let mut k = two_fills_waiting();
    let fees = k.fees.clone();
    let out = well_formed_details(k.on_account_event(&stands("s1", "123", "ETH")));
    assert!(out.accepted, "{out:?}");
    assert_eq!(
        detail(&out, "predicted_fee_stands"),
        Some(Detail::Bool(true))
    );
    assert_eq!(detail(&out, "predicted_fee"), Some(Detail::F64(1.5)));
    assert_eq!(detail(&out, "actual_fee"), None);
    // ETH's fill waits no more; BTC's, under the same id, still does.
    assert!(close(k.account.k_unsettled_fees, 25.0), "{:?}", k.account);
    assert!(close(k.account.k_fees_paid, 26.5));
    assert!(close(k.slots()[1].fees_paid, 1.5));
    assert_eq!(
        k.fees, fees,
        "the calibration learned from a fee not the exchange's"
    );

    // The exchange's settlement coming after all, or the same word again under another id,
    // is of a fill settled already.
    for (again, fee) in [
        (settle("s2", "123", "ETH", 1.2, 1_002.0), 1.2),
        (stands("s3", "123", "ETH"), 0.0),
    ] {
        let out = k.on_account_event(&again);
        assert!(!out.accepted, "{fee}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
        assert!(close(k.account.k_fees_paid, 26.5));
        assert!(
            k.early_settlements().0.is_empty(),
            "held for a fill settled already"
        );
    }
    // BTC's is settled by the exchange's fee as ever.
    assert!(
        k.on_account_event(&settle("s4", "123", "BTC", 20.0, 1_003.0))
            .accepted
    );
    assert!(close(k.account.k_unsettled_fees, 0.0));
    assert!(close(k.account.k_fees_paid, 21.5));
}

#[test]
fn a_predicted_fee_standing_without_an_asset_settles_the_one_fill_of_its_id_else_names_the_asset() {
    let mut k = two_fills_waiting();
    let out = k.on_account_event(&stands("s1", "123", ""));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("asset")));
    assert!(close(k.account.k_unsettled_fees, 26.5));

    assert!(k.on_account_event(&stands("s2", "123", "BTC")).accepted);
    assert!(k.on_account_event(&stands("s3", "123", "")).accepted);
    assert!(close(k.account.k_unsettled_fees, 0.0));
    assert!(close(k.account.k_fees_paid, 26.5));
}

#[test]
fn a_predicted_fee_standing_with_a_fee_or_of_another_kind_is_refused_naming_it() {
    let mut k = two_fills_waiting();
    let before = k.account.clone();
    let mut with_fee = stands("s1", "123", "ETH");
    with_fee.fee = 1.2;
    let mut funding = stands("s2", "", "");
    funding.kind = AccountEventKind::FundingFee;
    for (ev, field) in [(with_fee, "fee"), (funding, "predicted_fee_stands")] {
        let out = well_formed_details(k.on_account_event(&ev));
        assert!(!out.accepted, "{out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        assert_eq!(detail(&out, "field"), Some(Detail::Static(field)));
        assert!(detail(&out, "reason").is_some(), "{out:?}");
    }
    assert_eq!(k.account.k_unsettled_fees, before.k_unsettled_fees);
    assert_eq!(k.account.k_fees_paid, before.k_fees_paid);
    assert_eq!(k.account.k_funding_net, before.k_funding_net);
}

#[test]
fn a_predicted_fee_standing_for_no_fill_waiting_is_refused_not_held() {
    let mut k = Kernel::new("none", 1).unwrap();
    k.set_seed_capital(100_000.0).unwrap();
    let out = well_formed_details(k.on_account_event(&stands("s1", "123", "BTC")));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("fill_id")));
    assert!(k.early_settlements().0.is_empty());
    // The fill booked after waits for its fee.
    for input in fill_of(&mut k, 0, "BTC", 50_000.0) {
        assert!(k.apply(&input).unwrap().accepted);
    }
    assert!(close(k.account.k_unsettled_fees, 25.0));
}

/// Applies `input` live and records it, as the bindings do; its outcome.
fn record(k: &mut Kernel, log: &mut KernelLog, input: KernelInput) -> KernelOutcome {
    let out = k.apply(&input).unwrap();
    log.record(k, &input).unwrap();
    out
}

#[test]
fn a_predicted_fee_standing_replays_from_the_log_to_the_same_account() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open_log(dir.path(), "stands", 0);
    record(&mut k, &mut log, KernelInput::SeedCapital(100_000.0));
    let intent = Intent::new(
        "i0",
        "t0",
        0,
        "BTC",
        TradeSide::Long,
        KernelCommandType::Enter,
        50_000.0,
        1.0,
    );
    record(&mut k, &mut log, KernelInput::Intent(intent));
    let order = k.open_orders()[0].client_order_id.clone();
    let mut fill = VenueEvent::new("e0", KernelEventKind::Fill, &order);
    fill.fill_id = id("123");
    (fill.price, fill.size, fill.filled_size, fill.timestamp) = (50_000.0, 1.0, 1.0, 1_000.0);
    assert!(record(&mut k, &mut log, KernelInput::VenueEvent(fill)).accepted);
    let out = record(
        &mut k,
        &mut log,
        KernelInput::AccountEvent(stands("s1", "123", "BTC")),
    );
    assert!(out.accepted, "{out:?}");
    // Settled at the prediction, the exchange's fee after it is refused on replay too.
    let late = KernelInput::AccountEvent(settle("s2", "123", "BTC", 20.0, 1_002.0));
    assert!(!record(&mut k, &mut log, late).accepted);
    assert!(close(k.account.k_unsettled_fees, 0.0));
    drop(log);

    let (_, replayed) = open_log(dir.path(), "stands", 0);
    assert_eq!(replayed.seq(), k.seq());
    assert_eq!(replayed.account, k.account);
    assert_eq!(replayed.early_settlements(), k.early_settlements());
}
