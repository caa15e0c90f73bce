//! A fill's settlement is compared with the fee at the rate the fill was predicted at, not the
//! rate configured when the settlement comes: otherwise a fee tier changed while a fill's fee
//! waits would teach the calibration the ratio of the two rates, and every later fill of that
//! liquidity would be predicted off by it.

use dita_kernel::fees::Liquidity;
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc};

/// The calibration ratio learned from a fill whose rate changed since: the rate it was
/// predicted at is kept as an f32 (in the padding of a waiting fill), 1 to within 1e-7.
fn about_one(ratio: f64) -> bool {
    (ratio - 1.0).abs() < 1e-7
}

/// Slot 0 long 1 BTC at 100 by a MARKET entry (a taker fill, fill id `F1`, its fee predicted
/// at the default 5 bp: 0.05), then the taker rate lowered to 4 bp (a new fee tier) while
/// the fill's fee waits.
fn a_fill_waits_across_a_tier_change(k: &mut Kernel) {
    a_taker_fill_waits(k);
    k.set_exchange_config(&[("taker_rate".into(), 0.0004)])
        .unwrap();
}

/// Slot 0 long 1 BTC at 100 by a MARKET entry, fill id `F1`, its fee of 0.05 waiting.
fn a_taker_fill_waits(k: &mut Kernel) {
    let o = k
        .process_intent(&long_btc("i1", "t", 0, KernelCommandType::Enter, 1.0))
        .submit
        .unwrap();
    let mut f = VenueEvent::new("e1", KernelEventKind::Fill, &o.client_order_id);
    f.fill_id = id("F1");
    (f.price, f.size, f.filled_size) = (100.0, 1.0, 1.0);
    assert!(k.on_venue_event(&f).accepted);
    assert!(close(k.account.k_unsettled_fees, 0.05));
}

/// The venue's settlement of `F1`: the 5 bp the fill was charged at, as predicted.
fn settle_f1(k: &mut Kernel) -> KernelOutcome {
    let mut s = AccountEvent::new("s1", AccountEventKind::FillSettled);
    s.fill_id = id("F1");
    s.fee = 0.05;
    let out = k.on_account_event(&s);
    assert!(out.accepted, "{out:?}");
    out
}

#[test]
fn a_settlement_is_compared_with_the_rate_its_fill_was_predicted_at() {
    let mut k = Kernel::new("tier", 1).unwrap();
    a_fill_waits_across_a_tier_change(&mut k);
    let out = settle_f1(&mut k);
    // The fee was what the fill's rate said: a ratio of 1, OK, and the taker's calibration
    // stays at 1, so the next taker fill is predicted at the new 4 bp.
    assert_eq!(
        detail(&out, "calibration_status"),
        Some(Detail::Static("OK")),
        "{out:?}"
    );
    assert!(about_one(k.fees.taker.ratio), "{:?}", k.fees.taker);
    assert!((k.fees.predict(100.0, 1.0, Liquidity::Taker) - 0.04).abs() < 1e-8);
    assert!(close(k.account.k_fees_paid, 0.05));
    assert!(k.account.k_unsettled_fees.abs() < 1e-12);
}

#[test]
fn a_checkpoint_keeps_the_rate_a_waiting_fill_was_predicted_at() {
    let mut k = Kernel::new("tier", 1).unwrap();
    a_fill_waits_across_a_tier_change(&mut k);
    let mut back = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(encode_kernel(&back), encode_kernel(&k));
    settle_f1(&mut back);
    assert!(about_one(back.fees.taker.ratio), "{:?}", back.fees.taker);
}

#[test]
fn a_fill_settled_under_the_rate_it_was_predicted_at_is_calibrated_exactly() {
    // The configured rate unchanged, the settlement is compared with it, not its f32 copy.
    let mut k = Kernel::new("same", 1).unwrap();
    a_taker_fill_waits(&mut k);
    settle_f1(&mut k);
    assert_eq!(k.fees.taker.ratio, 1.0, "{:?}", k.fees.taker);
}

#[test]
fn a_waiting_fill_is_no_larger_for_its_rate() {
    // The queue of 100,000 waiting fills is what a cycle waits on memory for: the rate sits
    // in the padding beside `liquidity_maker` (an Option<f64> would make each fill 96 bytes).
    assert_eq!(
        std::mem::size_of::<dita_kernel::kernel::UnsettledFill>(),
        80
    );
}
