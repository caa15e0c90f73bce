//! The fee calibration is kept per liquidity: a taker fill's settlement teaches the taker's
//! ratio, a maker's the maker's, and each fill is predicted by its own side's; a checkpoint
//! keeps both sides. A fill's settlement is compared with the fee at the rate the fill was
//! predicted at, not the rate configured when the settlement comes: otherwise a fee tier
//! changed while a fill's fee waits would teach the calibration the ratio of the two rates,
//! and every later fill of that liquidity would be predicted off by it.

use dita_kernel::fees::{CalibrationByLiquidity, Liquidity};
use dita_kernel::kernel::{KernelInput, MAX_COUNT};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc, with_part_replaced};

fn intent(n: u32, action: KernelCommandType, order_type: OrderType) -> Intent {
    let size = if action == KernelCommandType::Enter {
        1.0
    } else {
        0.0
    };
    let mut i = long_btc(&format!("i{n}"), &format!("t{}", n / 2), 0, action, size);
    i.order_type = order_type;
    if order_type == OrderType::Limit {
        i.limit_price = 100.0;
    }
    i
}

/// The whole fill of `order` at 100, fill id `fill_id`, without a fee (predicted).
fn fill(order: &VenueOrder, fill_id: &str) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("e-{fill_id}"),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    e.fill_id = id(fill_id);
    (e.price, e.size, e.filled_size) = (100.0, order.size, order.size);
    e
}

fn settle(fill_id: &str, fee: f64) -> KernelInput {
    let mut e = AccountEvent::new(&format!("s-{fill_id}"), AccountEventKind::FillSettled);
    (e.fill_id, e.asset, e.fee) = (id(fill_id), id("BTC"), fee);
    KernelInput::AccountEvent(e)
}

/// What a session saw of its fills' predictions: the taker entry's, the maker exit's after
/// the venue charged the entry 1.2 times the taker rate, and the next taker entry's after
/// the venue charged the exit 0.9 times the maker rate.
#[derive(Debug)]
struct Predicted {
    taker: f64,
    maker: f64,
    next_taker: f64,
}

/// Taker 5 bp, maker 2 bp. A MARKET entry of 1 at 100 (a taker fill, F1: 0.05 predicted),
/// settled at 0.06; a LIMIT exit filled at 100 (a maker fill, F2), settled at 0.018; a second
/// MARKET entry (F3), its fee left waiting. Each input through `apply`.
fn session(
    k: &mut Kernel,
    mut apply: impl FnMut(&mut Kernel, KernelInput) -> KernelOutcome,
) -> Predicted {
    apply(k, KernelInput::SeedCapital(10_000.0));
    apply(
        k,
        KernelInput::ExchangeConfig(vec![
            ("taker_rate".into(), 0.0005),
            ("maker_rate".into(), 0.0002),
        ]),
    );
    let mut fill_of = |k: &mut Kernel, n: u32, action, order_type, fill_id: &str| {
        let order = apply(k, KernelInput::Intent(intent(n, action, order_type)))
            .submit
            .expect("sent");
        let before = k.account.k_unsettled_fees;
        let out = apply(k, KernelInput::VenueEvent(fill(&order, fill_id)));
        assert!(out.accepted, "{out:?}");
        let predicted = k.account.k_unsettled_fees - before;
        let settled = apply(
            k,
            settle(fill_id, if fill_id == "F1" { 0.06 } else { 0.018 }),
        );
        (predicted, settled)
    };
    use KernelCommandType::{Enter, Exit};
    let (taker, out) = fill_of(k, 0, Enter, OrderType::Market, "F1");
    assert!(out.accepted && close(taker, 0.05), "{taker} {out:?}");
    let (maker, out) = fill_of(k, 1, Exit, OrderType::Limit, "F2");
    assert!(out.accepted, "{out:?}");
    // F3 waits: the sessions settle it as they go on.
    let order = apply(k, KernelInput::Intent(intent(2, Enter, OrderType::Market)))
        .submit
        .expect("sent");
    let before = k.account.k_unsettled_fees;
    assert!(apply(k, KernelInput::VenueEvent(fill(&order, "F3"))).accepted);
    let next_taker = k.account.k_unsettled_fees - before;
    Predicted {
        taker,
        maker,
        next_taker,
    }
}

fn live(k: &mut Kernel, input: KernelInput) -> KernelOutcome {
    k.apply(&input).unwrap()
}

#[test]
fn each_liquidity_is_predicted_by_the_ratio_its_own_fills_taught() {
    let mut k = Kernel::new("sides", 1).unwrap();
    let p = session(&mut k, live);
    assert!(close(p.taker, 0.05), "{p:?}");
    // The taker charge of 1.2 times the rate leaves the maker fill at its rate...
    assert!(close(p.maker, 0.02), "{p:?}");
    // ...and the maker's 0.9 leaves the next taker fill at the taker's 1.2.
    assert!(close(p.next_taker, 0.06), "{p:?}");
    let f = &k.fees;
    assert!(close(f.taker.ratio, 1.2) && f.taker.samples == 1, "{f:?}");
    assert!(close(f.maker.ratio, 0.9) && f.maker.samples == 1, "{f:?}");
    // The model's own figures: the newest learned sample's ratio (the maker's), all samples.
    assert!(close(f.calibration_ratio, 0.9) && f.calibration_samples == 2);
}

#[test]
fn a_settlement_says_whose_calibration_it_taught() {
    let mut k = Kernel::new("sides", 1).unwrap();
    let mut outs = vec![];
    session(&mut k, |k, input| {
        let settles = matches!(input, KernelInput::AccountEvent(_));
        let out = k.apply(&input).unwrap();
        if settles {
            outs.push(out.clone());
        }
        out
    });
    let said: Vec<_> = outs
        .iter()
        .map(|o| (detail(o, "liquidity"), detail(o, "calibration_ratio")))
        .collect();
    assert_eq!(
        said[..2],
        [
            (
                Some(Detail::Static("TAKER")),
                Some(Detail::F64(0.06 / 0.05))
            ),
            (
                Some(Detail::Static("MAKER")),
                Some(Detail::F64(0.018 / 0.02))
            ),
        ],
        "{outs:?}"
    );
}

#[test]
fn a_checkpoint_keeps_each_liquiditys_calibration() {
    let mut k = Kernel::new("sides", 1).unwrap();
    session(&mut k, live);
    let back = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(back.fees, k.fees);
    assert_ne!(back.fees.maker, back.fees.taker);
}

#[test]
fn a_checkpoints_calibration_part_must_count_within_bounds() {
    let mut k = Kernel::new("sides", 1).unwrap();
    session(&mut k, live);
    let bytes = encode_kernel(&k);
    let fine = k.fees.calibration_by_liquidity();
    let written = bincode::serialize(&fine).unwrap();
    let with = |t: CalibrationByLiquidity| {
        let part = bincode::serialize(&t).unwrap();
        decode_kernel(&with_part_replaced(&bytes, &written, &part))
    };
    assert_eq!(with(fine).unwrap().fees, k.fees);
    let mut t = fine;
    t.taker.samples = MAX_COUNT + 1;
    let err = with(t).map(|_| ()).unwrap_err();
    assert!(err.contains("fees.taker.samples"), "{err}");
    let mut t = fine;
    t.maker.samples = u64::MAX;
    let err = with(t).map(|_| ()).unwrap_err();
    assert!(err.contains("fees.maker.samples"), "{err}");
}

/// A sample whose expected fee underflows (a qty of 1e-320) would give an infinite ratio: it
/// is refused naming the smaller of price and qty, with nothing changed (the kernel's seq
/// included); a sample whose ratio over a tiny rate overflows too.
#[test]
fn a_calibration_whose_expected_fee_underflows_is_refused_naming_it() {
    let mut k = Kernel::new("tiny", 1).unwrap();
    let tiny_rate = vec![("taker_rate".to_string(), 1e-300)];
    for (price, qty, actual_fee, rates, shown) in [
        (
            100.0,
            1e-320,
            0.05,
            None,
            "invalid fill_qty: 1e-320, an expected fee of ",
        ),
        (
            1e-320,
            1.0,
            0.05,
            None,
            "invalid fill_price: 1e-320, an expected fee of ",
        ),
        // An expectation that underflowed to 0 is the numbers' doing, not a free rate.
        (
            1e-150,
            1e-200,
            0.05,
            None,
            "invalid fill_qty: 1e-200, an expected fee of 0.0",
        ),
        (
            1e-200,
            1e-150,
            0.05,
            None,
            "invalid fill_price: 1e-200, an expected fee of 0.0",
        ),
        // 0 over a subnormal expectation is a ratio, of a number that lost its precision.
        (
            100.0,
            1e-320,
            0.0,
            None,
            "invalid fill_qty: 1e-320, an expected fee of ",
        ),
        (
            100.0,
            1.0,
            1e15,
            Some(&tiny_rate),
            "invalid fill_qty: 1.0, an expected fee of 1.0000000000000001e-298",
        ),
    ] {
        if let Some(rates) = rates {
            k.set_exchange_config(rates).unwrap();
        }
        let (seq, fees) = (k.seq(), k.fees.clone());
        let err = k
            .calibrate_fee(price, qty, actual_fee, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(shown), "{err}");
        assert!(
            err.ends_with(
                "(fill_price * fill_qty * the fee rate is too small an expected fee to calibrate against)"
            ),
            "{err}"
        );
        assert_eq!((k.seq(), &k.fees), (seq, &fees), "{err}");
    }
    // A tiny expectation that is still a number of its precision is a sample as any other.
    let mut k = Kernel::new("tiny", 1).unwrap();
    let c = k.calibrate_fee(100.0, 1e-300, 5e-302, false).unwrap();
    assert!(close(c.ratio, 1.0) && c.learned, "{c:?}");
}

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
