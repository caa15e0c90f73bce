//! A FILL_SETTLED saying its fill's predicted fee stands (`predicted_fee_stands`: the venue will
//! never report the fee) settles the waiting fill at its prediction: it leaves
//! `k_unsettled_fees` and the fills waiting, the fees paid stay the prediction, and the
//! calibration learns nothing. Otherwise it is any settlement: one coming before its fill is
//! held for it (also when the fill is booked without its id, until a resend names it), a
//! self-trade's other side is held beside it (the exchange's fee coming after it too), and saying
//! it again is a resend. While both sides of a self-trade wait, it waits for the other
//! side's settlement. One with a fee or of another kind is refused, nothing changed; its record
//! replays to the same account.

use dita_kernel::kernel::KernelInput;
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel, KernelLog};
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

/// The long entry of 1 `asset` at `price` on `slot`, intent "i{slot}" of trade "t{slot}".
fn entry(slot: i64, asset: &str, price: f64) -> Intent {
    Intent::new(
        &format!("i{slot}"),
        &format!("t{slot}"),
        slot,
        asset,
        TradeSide::Long,
        KernelCommandType::Enter,
        price,
        1.0,
    )
}

/// The entry of 1 `asset` at `price` on `slot` and its whole fill, trade "123", no fee: the
/// inputs, the intent applied already (its order's id is the kernel's).
fn fill_of(k: &mut Kernel, slot: i64, asset: &str, price: f64) -> Vec<KernelInput> {
    let order = k.process_intent(&entry(slot, asset, price)).submit.unwrap();
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

    // The same word again under another id is a resend.
    let out = k.on_account_event(&stands("s2", "123", "ETH"));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert!(close(k.account.k_fees_paid, 26.5));
    assert!(
        k.early_settlements().0.is_empty(),
        "held for a fill settled already"
    );
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

/// A kernel of `slots` slots and 100,000 of capital.
fn kernel(slots: usize) -> Kernel {
    let mut k = Kernel::new("stands", slots).unwrap();
    k.set_seed_capital(100_000.0).unwrap();
    k
}

/// Books the inputs of [`fill_of`] 1 BTC at 50,000 on `slot`; its fee predicted at 25.
fn book_btc(k: &mut Kernel, slot: i64) -> KernelOutcome {
    let mut out = None;
    for input in fill_of(k, slot, "BTC", 50_000.0) {
        let o = k.apply(&input).unwrap();
        assert!(o.accepted, "{o:?}");
        out = Some(o);
    }
    out.unwrap()
}

#[test]
fn a_predicted_fee_standing_before_its_fill_is_held_and_settles_the_fill_at_its_prediction() {
    let mut k = kernel(1);
    let out = well_formed_details(k.on_account_event(&stands("s1", "123", "BTC")));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
    assert_eq!(k.early_settlements().0.len(), 1);
    // Said again under another id, it is the one held.
    let again = k.on_account_event(&stands("s2", "123", "BTC"));
    assert_eq!(again.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    let fees = k.fees.clone();

    let out = book_btc(&mut k, 0);
    assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s1"))));
    assert_eq!(
        detail(&out, "predicted_fee_stands"),
        Some(Detail::Bool(true))
    );
    assert!(close(k.account.k_unsettled_fees, 0.0), "{:?}", k.account);
    assert!(close(k.account.k_fees_paid, 25.0));
    assert!(close(k.slots()[0].fees_paid, 25.0));
    assert!(k.early_settlements().0.is_empty());
    assert_eq!(k.fees, fees, "the calibration learned from the prediction");
}

#[test]
fn a_held_predicted_fee_standing_is_kept_by_a_checkpoint() {
    let mut k = kernel(1);
    assert!(k.on_account_event(&stands("s1", "123", "BTC")).accepted);
    let mut back = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(back.early_settlements(), k.early_settlements());
    assert!(back.early_settlements().0[0].predicted_fee_stands);
    let out = book_btc(&mut back, 0);
    assert_eq!(
        detail(&out, "predicted_fee_stands"),
        Some(Detail::Bool(true))
    );
    assert!(close(back.account.k_unsettled_fees, 0.0));
    assert!(close(back.account.k_fees_paid, 25.0));
}

#[test]
fn a_checkpoint_naming_a_held_settlement_that_is_not_there_as_standing_is_refused() {
    let mut k = kernel(1);
    assert!(k.on_account_event(&stands("s1", "123", "BTC")).accepted);
    let state = encode_kernel(&k);
    // The part is the checkpoint's third from last: one place, the first held. The last two say
    // no slot spent its exempt close and no load made up a kept order's figure (empty lists).
    let last = [0u64.to_le_bytes(), 0u64.to_le_bytes()].concat();
    let part = [1u64.to_le_bytes().as_slice(), &0u32.to_le_bytes(), &last].concat();
    assert!(state.ends_with(&part));
    let mut bad = state[..state.len() - part.len()].to_vec();
    bad.extend_from_slice(&1u64.to_le_bytes());
    bad.extend_from_slice(&3u32.to_le_bytes());
    bad.extend_from_slice(&last);
    let Err(err) = decode_kernel(&bad) else {
        panic!("a checkpoint naming no held settlement was taken");
    };
    assert!(
        err.contains("settlement 3 stands at its prediction, of 1 held"),
        "{err}"
    );
}

#[test]
fn a_self_trades_other_side_standing_before_its_fill_is_held_after_one_side_took_the_exchanges_fee()
{
    // Slot 0's side of trade 123 is settled at the exchange's fee; the other side's settlement,
    // saying its prediction stands, comes before its fill (slot 1's) and settles it when it is
    // booked.
    let mut k = kernel(2);
    book_btc(&mut k, 0);
    assert!(
        k.on_account_event(&settle("s1", "123", "BTC", 20.0, 1_001.0))
            .accepted
    );
    let out = k.on_account_event(&stands("s2", "123", "BTC"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));

    let out = book_btc(&mut k, 1);
    assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s2"))));
    assert!(close(k.account.k_unsettled_fees, 0.0));
    // The other side stands at its prediction, calibrated by the first side's 20.
    assert!(close(k.slots()[0].fees_paid, 20.0), "{:?}", k.slots()[0]);
    assert!(close(k.slots()[1].fees_paid, 20.0), "{:?}", k.slots()[1]);
}

#[test]
fn the_exchanges_fee_after_a_prediction_stood_is_held_and_the_other_side_booked_after_takes_it() {
    // The maker side (predicted 10) waits alone: the taker's standing settlement settles it. The
    // maker's fee at the exchange's (9.5, named by the asset or by none, on the kernel or on one
    // a checkpoint of it made) is held for the other side, which takes it when booked: the sides'
    // fees are swapped (a settlement names no side), and nothing waits.
    for asset in ["BTC", ""] {
        let mut k = kernel(2);
        book_btc_as(&mut k, 0, "maker");
        assert!(k.on_account_event(&stands("s1", "123", "BTC")).accepted);
        let checkpointed = decode_kernel(&encode_kernel(&k)).unwrap();
        for mut k in [k, checkpointed] {
            let paid = k.account.k_fees_paid;
            let held = settle("s2", "123", asset, 9.5, 1_002.0);
            let out = well_formed_details(k.on_account_event(&held));
            assert!(out.accepted, "{asset:?}: {out:?}");
            assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
            assert_eq!(k.account.k_fees_paid, paid);

            let out = book_btc_as(&mut k, 1, "taker");
            assert_eq!(
                detail(&out, "settled_by"),
                Some(Detail::Id(id("s2"))),
                "{out:?}"
            );
            assert!(
                close(k.account.k_unsettled_fees, 0.0),
                "{asset:?}: {:?}",
                k.account
            );
            assert!(close(k.slots()[0].fees_paid, 10.0), "{:?}", k.slots()[0]);
            assert!(close(k.slots()[1].fees_paid, 9.5), "{:?}", k.slots()[1]);
            assert!(k.early_settlements().0.is_empty());
        }
    }
}

#[test]
fn a_predicted_fee_standing_held_for_a_fill_booked_without_its_id_settles_it_once_a_resend_names_it(
) {
    let mut k = kernel(1);
    let order = k.process_intent(&entry(0, "BTC", 50_000.0)).submit.unwrap();
    let mut fill = VenueEvent::new("e0", KernelEventKind::Fill, &order.client_order_id);
    (fill.price, fill.size, fill.filled_size, fill.timestamp) = (50_000.0, 1.0, 1.0, 1_000.0);
    assert!(k.on_venue_event(&fill).accepted);
    let out = k.on_account_event(&stands("s1", "123", "BTC"));
    assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));

    fill.fill_id = id("123");
    let out = k.on_venue_event(&fill);
    assert_eq!(detail(&out, "fill_id_learned"), Some(Detail::Id(id("123"))));
    assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s1"))));
    assert!(close(k.account.k_unsettled_fees, 0.0), "{:?}", k.account);
    assert!(close(k.account.k_fees_paid, 25.0));
    assert!(k.early_settlements().0.is_empty());
}

/// Books 1 BTC at 50,000 on `slot` as fill "123", taking `liquidity`: its fee predicted at 10
/// for a maker (0.02 %), 25 for a taker (0.05 %).
fn book_btc_as(k: &mut Kernel, slot: i64, liquidity: &str) -> KernelOutcome {
    let mut inputs = fill_of(k, slot, "BTC", 50_000.0);
    let KernelInput::VenueEvent(fill) = &mut inputs[0] else {
        unreachable!("fill_of gives the fill")
    };
    fill.metadata
        .insert("liquidity".into(), MetaValue::Str(liquidity.into()));
    let out = k.apply(&inputs[0]).unwrap();
    assert!(out.accepted, "{out:?}");
    out
}

#[test]
fn a_self_trades_two_sides_held_one_standing_settle_each_side_by_its_own_prediction() {
    // The maker's side (predicted 10) settled at the exchange's fee, near it or not exactly
    // it; the taker's (predicted 25) standing. Either settlement first, either fill first.
    for maker_fee in [10.0, 9.5] {
        for exchange_first in [true, false] {
            for maker_first in [true, false] {
                let case = format!("{maker_fee} {exchange_first} {maker_first}");
                let mut k = kernel(2);
                let exchange = settle("s1", "123", "BTC", maker_fee, 1_001.0);
                let standing = stands("s2", "123", "BTC");
                let held = if exchange_first {
                    [exchange, standing]
                } else {
                    [standing, exchange]
                };
                for ev in held {
                    let out = k.on_account_event(&ev);
                    assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
                }
                let order = if maker_first {
                    [(0, "maker"), (1, "taker")]
                } else {
                    [(1, "taker"), (0, "maker")]
                };
                for (slot, liquidity) in order {
                    book_btc_as(&mut k, slot, liquidity);
                }
                assert!(
                    close(k.slots()[0].fees_paid, maker_fee),
                    "{case}: {:?}",
                    k.slots()[0]
                );
                assert!(
                    close(k.slots()[1].fees_paid, 25.0),
                    "{case}: {:?}",
                    k.slots()[1]
                );
                assert!(close(k.account.k_unsettled_fees, 0.0), "{case}");
                assert!(k.early_settlements().0.is_empty(), "{case}");
                // The maker's calibration learned the maker's fee; the taker's, nothing.
                assert!(
                    close(k.fees.maker.ratio, maker_fee / 10.0),
                    "{case}: {:?}",
                    k.fees
                );
                assert_eq!(k.fees.taker.samples, 0, "{case}: {:?}", k.fees);
            }
        }
    }
}

#[test]
fn a_predicted_fee_standing_while_both_sides_of_a_self_trade_wait_goes_to_the_side_the_exchanges_fee_fits_not(
) {
    // The maker's side predicted at 10, the taker's at 25, both booked before either
    // settlement; the standing one comes first, so it names no fee to tell the sides by.
    for (exchange_fee, maker_charged, taker_charged) in
        [(10.0, 10.0, 25.0), (9.5, 9.5, 25.0), (24.0, 10.0, 24.0)]
    {
        for maker_first in [true, false] {
            let case = format!("{exchange_fee} {maker_first}");
            let mut k = kernel(2);
            let order = if maker_first {
                [(0, "maker"), (1, "taker")]
            } else {
                [(1, "taker"), (0, "maker")]
            };
            for (slot, liquidity) in order {
                book_btc_as(&mut k, slot, liquidity);
            }
            let out = well_formed_details(k.on_account_event(&stands("s1", "123", "BTC")));
            assert!(out.accepted, "{case}: {out:?}");
            assert_eq!(
                detail(&out, "held_for_fill"),
                Some(Detail::Bool(true)),
                "{case}"
            );
            assert!(
                close(k.account.k_unsettled_fees, 35.0),
                "{case}: {:?}",
                k.account
            );
            // Said again under its id, it is a resend.
            let again = k.on_account_event(&stands("s1", "123", "BTC"));
            assert_eq!(
                again.diagnostic_code,
                KernelDiagnosticCode::DuplicateEvent,
                "{case}"
            );

            let out = well_formed_details(k.on_account_event(&settle(
                "s2",
                "123",
                "BTC",
                exchange_fee,
                1_002.0,
            )));
            assert!(out.accepted, "{case}: {out:?}");
            assert_eq!(
                detail(&out, "other_side_settled_by"),
                Some(Detail::Id(id("s1"))),
                "{case}"
            );
            assert!(
                close(k.slots()[0].fees_paid, maker_charged),
                "{case}: {:?}",
                k.slots()[0]
            );
            assert!(
                close(k.slots()[1].fees_paid, taker_charged),
                "{case}: {:?}",
                k.slots()[1]
            );
            assert!(
                close(k.account.k_fees_paid, maker_charged + taker_charged),
                "{case}"
            );
            assert!(
                close(k.account.k_unsettled_fees, 0.0),
                "{case}: {:?}",
                k.account
            );
            assert!(k.early_settlements().0.is_empty(), "{case}");
            // Neither fill is settled again.
            let late = k.on_account_event(&stands("s3", "123", "BTC"));
            assert!(!late.accepted, "{case}: {late:?}");
            assert!(
                close(k.account.k_fees_paid, maker_charged + taker_charged),
                "{case}"
            );
        }
    }
}

#[test]
fn a_predicted_fee_standing_held_by_its_asset_stands_for_the_other_side_when_the_exchanges_fee_names_none(
) {
    let mut k = kernel(2);
    book_btc_as(&mut k, 0, "maker"); // predicted 10
    book_btc_as(&mut k, 1, "taker"); // predicted 25
    let out = k.on_account_event(&stands("s1", "123", "BTC"));
    assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
    // The exchange's fee names no asset: BTC alone waits under the id, so it settles the maker.
    let out = well_formed_details(k.on_account_event(&settle("s2", "123", "", 9.5, 1_002.0)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(
        detail(&out, "other_side_settled_by"),
        Some(Detail::Id(id("s1"))),
        "{out:?}"
    );
    assert!(close(k.slots()[0].fees_paid, 9.5), "{:?}", k.slots()[0]);
    assert!(close(k.slots()[1].fees_paid, 25.0), "{:?}", k.slots()[1]);
    assert!(close(k.account.k_unsettled_fees, 0.0), "{:?}", k.account);
    assert!(k.early_settlements().0.is_empty());
}

#[test]
fn a_predicted_fee_standing_held_for_a_self_trades_sides_is_not_taken_by_a_fill_of_another_market_under_its_id(
) {
    let mut k = kernel(3);
    book_btc_as(&mut k, 0, "maker"); // predicted 10
    book_btc_as(&mut k, 1, "taker"); // predicted 25
    let out = k.on_account_event(&stands("s1", "123", ""));
    assert_eq!(
        detail(&out, "held_for_fill"),
        Some(Detail::Bool(true)),
        "{out:?}"
    );
    // ETH's trade "123" of its market, predicted 1.5.
    for input in fill_of(&mut k, 2, "ETH", 3_000.0) {
        let out = k.apply(&input).unwrap();
        assert!(out.accepted, "{out:?}");
        assert_eq!(detail(&out, "settled_by"), None, "{out:?}");
    }
    // BTC's maker fee settles the maker side, and s1 stands for the taker; ETH's settles ETH.
    let out = k.on_account_event(&settle("s2", "123", "BTC", 9.5, 1_002.0));
    assert_eq!(
        detail(&out, "other_side_settled_by"),
        Some(Detail::Id(id("s1"))),
        "{out:?}"
    );
    let out = k.on_account_event(&settle("s3", "123", "ETH", 1.2, 1_003.0));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.slots()[0].fees_paid, 9.5), "{:?}", k.slots()[0]);
    assert!(close(k.slots()[1].fees_paid, 25.0), "{:?}", k.slots()[1]);
    assert!(close(k.slots()[2].fees_paid, 1.2), "{:?}", k.slots()[2]);
    assert!(close(k.account.k_unsettled_fees, 0.0), "{:?}", k.account);
    assert!(k.early_settlements().0.is_empty());
}

#[test]
fn a_predicted_fee_standing_for_each_side_of_a_self_trade_settles_both_at_their_predictions() {
    let mut k = kernel(2);
    book_btc_as(&mut k, 0, "maker");
    book_btc_as(&mut k, 1, "taker");
    let out = k.on_account_event(&stands("s1", "123", "BTC"));
    assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
    let out = well_formed_details(k.on_account_event(&stands("s2", "123", "BTC")));
    assert!(out.accepted, "{out:?}");
    assert_eq!(
        detail(&out, "other_side_settled_by"),
        Some(Detail::Id(id("s1")))
    );
    assert!(close(k.slots()[0].fees_paid, 10.0));
    assert!(close(k.slots()[1].fees_paid, 25.0));
    assert!(close(k.account.k_unsettled_fees, 0.0), "{:?}", k.account);
    assert!(k.early_settlements().0.is_empty());
    assert_eq!(k.fees.maker.samples + k.fees.taker.samples, 0);
}

#[test]
fn a_self_trades_maker_side_booked_without_its_id_takes_the_exchanges_fee_once_a_resend_names_it() {
    let mut k = kernel(2);
    let order = k.process_intent(&entry(0, "BTC", 50_000.0)).submit.unwrap();
    let mut fill = VenueEvent::new("e0", KernelEventKind::Fill, &order.client_order_id);
    (fill.price, fill.size, fill.filled_size, fill.timestamp) = (50_000.0, 1.0, 1.0, 1_000.0);
    fill.metadata
        .insert("liquidity".into(), MetaValue::Str("maker".into()));
    assert!(k.on_venue_event(&fill).accepted);
    for ev in [
        settle("s1", "123", "BTC", 9.5, 1_001.0),
        stands("s2", "123", "BTC"),
    ] {
        let out = k.on_account_event(&ev);
        assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
    }

    fill.fill_id = id("123");
    let out = k.on_venue_event(&fill);
    assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s1"))));
    book_btc_as(&mut k, 1, "taker");
    assert!(close(k.slots()[0].fees_paid, 9.5), "{:?}", k.slots()[0]);
    assert!(close(k.slots()[1].fees_paid, 25.0), "{:?}", k.slots()[1]);
    assert!(close(k.account.k_unsettled_fees, 0.0));
}

/// Applies `input` live and records it, as the bindings do; its outcome.
fn record(k: &mut Kernel, log: &mut KernelLog, input: KernelInput) -> KernelOutcome {
    let out = k.apply(&input).unwrap();
    log.record(k, &input).unwrap();
    out
}

#[test]
fn a_predicted_fee_standing_replays_from_the_log_to_the_same_account() {
    // Without checkpoints, and with one after every record.
    for every in [0, 1] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut k) = open_log(dir.path(), "stands", every);
        record(&mut k, &mut log, KernelInput::SeedCapital(100_000.0));
        record(
            &mut k,
            &mut log,
            KernelInput::Intent(entry(0, "BTC", 50_000.0)),
        );
        // Held before its fill (a taker's, predicted 25), and the exchange's fee beside it: a
        // self-trade's other side, a maker's (predicted 10).
        for ev in [
            stands("s1", "123", "BTC"),
            settle("s2", "123", "BTC", 10.0, 1_002.0),
        ] {
            let out = record(&mut k, &mut log, KernelInput::AccountEvent(ev));
            assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
        }
        let order = k.open_orders()[0].client_order_id.clone();
        let mut fill = VenueEvent::new("e0", KernelEventKind::Fill, &order);
        fill.fill_id = id("123");
        (fill.price, fill.size, fill.filled_size, fill.timestamp) = (50_000.0, 1.0, 1.0, 1_000.0);
        let out = record(&mut k, &mut log, KernelInput::VenueEvent(fill));
        assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s1"))));
        assert!(close(k.account.k_unsettled_fees, 0.0));
        assert!(close(k.account.k_fees_paid, 25.0));
        assert_eq!(k.early_settlements().0.len(), 1);
        drop(log);

        let (_, replayed) = open_log(dir.path(), "stands", every);
        assert_eq!(replayed.seq(), k.seq());
        assert_eq!(replayed.account, k.account);
        assert_eq!(replayed.early_settlements(), k.early_settlements());
    }
}
