//! Rules 20: the fee calibration is kept per liquidity. A taker fill's settlement teaches the
//! taker's ratio, a maker's the maker's, and each fill is predicted by its own side's; a log
//! of rules 19 replays with the one ratio both sides shared, and a checkpoint written before
//! (without the calibration's part) loads with both sides at its one ratio.

use std::path::Path;

use dita_kernel::error::{replaying, RULES};
use dita_kernel::fees::{CalibrationTail, LiquidityCalibration};
use dita_kernel::kernel::{KernelInput, MAX_COUNT};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel, parts_since_rules, KernelLog};
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc, open_log, set_segment_rules};

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

fn as_rules_19(k: &mut Kernel, input: KernelInput) -> KernelOutcome {
    replaying(19, || k.apply(&input)).unwrap()
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
fn under_rules_19_one_ratio_scales_both_sides_as_it_ran() {
    let mut k = Kernel::new("sides", 1).unwrap();
    let p = session(&mut k, as_rules_19);
    assert!(close(p.taker, 0.05), "{p:?}");
    // The maker fill was predicted by the taker charges' 1.2, and the next taker fill by the
    // ratio the maker sample moved: 0.2 * 0.9 + 0.8 * 1.2.
    assert!(close(p.maker, 0.024), "{p:?}");
    let shared = 0.2 * 0.9 + 0.8 * 1.2;
    assert!(close(p.next_taker, 0.05 * shared), "{p:?}");
    let f = &k.fees;
    assert!(close(f.calibration_ratio, shared) && f.calibration_samples == 2);
    let one = LiquidityCalibration {
        ratio: f.calibration_ratio,
        samples: 2,
    };
    assert_eq!((f.maker, f.taker), (one, one));
}

fn open(dir: &Path, checkpoint_every: u64) -> (KernelLog, Kernel) {
    open_log(dir, "sides", checkpoint_every)
}

/// The observable state two recoveries are compared by.
fn state(k: &Kernel) -> (Vec<TradeSlot>, account::Account, fees::FeeModel, u64) {
    (
        k.slots().to_vec(),
        k.account.clone(),
        k.fees.clone(),
        k.seq(),
    )
}

#[test]
fn a_log_of_rules_19_replays_with_one_ratio_from_its_records_and_its_checkpoints() {
    for checkpoint_every in [0, 4] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut k) = open(dir.path(), checkpoint_every);
        session(&mut k, |k, input| {
            let out = as_rules_19(k, input.clone());
            log.record(k, &input).unwrap();
            out
        });
        drop(log);
        set_segment_rules(dir.path(), 19);
        let (log, recovered) = open(dir.path(), 0);
        assert_eq!(state(&recovered), state(&k), "every {checkpoint_every}");
        assert_eq!(recovered.fees.maker, recovered.fees.taker);
        // The same records judged by rules 20 would not have given this state.
        drop(log);
        set_segment_rules(dir.path(), RULES);
        if checkpoint_every == 0 {
            let (_, as_20) = open(dir.path(), 0);
            assert_ne!(as_20.fees, k.fees);
            assert_ne!(as_20.account, k.account);
        }
    }
}

#[test]
fn a_log_of_rules_19_continued_under_20_splits_the_one_ratio_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 0);
    session(&mut k, |k, input| {
        let out = as_rules_19(k, input.clone());
        log.record(k, &input).unwrap();
        out
    });
    drop(log);
    set_segment_rules(dir.path(), 19);
    let (mut log, mut k) = open(dir.path(), 0);
    let shared = k.fees.taker;
    // The third fill (a taker's, F3) settles now, at 1.0 times the rate: the taker's side
    // goes on from the one ratio (2 samples behind it), the maker's keeps it.
    let input = settle("F3", 0.05);
    let out = live(&mut k, input.clone());
    log.record(&k, &input).unwrap();
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.fees.maker, shared);
    assert!(close(k.fees.taker.ratio, 0.2 + 0.8 * shared.ratio));
    assert_eq!(k.fees.taker.samples, 3);
    assert_eq!(k.fees.calibration_samples, 3);
    // Recovered, the old segment replays under 19 and the new one under 20.
    drop(log);
    let (_, recovered) = open(dir.path(), 0);
    assert_eq!(state(&recovered), state(&k));
}

#[test]
fn a_checkpoint_without_the_calibrations_part_loads_with_both_sides_at_its_one_ratio() {
    let mut k = Kernel::new("sides", 1).unwrap();
    session(&mut k, as_rules_19);
    let state_bytes = encode_kernel(&k);
    let tail = parts_since_rules(&k, 20);
    let old = decode_kernel(&state_bytes[..state_bytes.len() - tail]).unwrap();
    assert_eq!(old.fees, k.fees);
    let one = LiquidityCalibration {
        ratio: k.fees.calibration_ratio,
        samples: 2,
    };
    assert_eq!((old.fees.maker, old.fees.taker), (one, one));
    // Live under rules 20 the sides part; the whole checkpoint keeps each.
    let mut k = Kernel::new("sides", 1).unwrap();
    session(&mut k, live);
    let back = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(back.fees, k.fees);
    assert_ne!(back.fees.maker, back.fees.taker);
    // Without its part, both sides take the newest learned sample's ratio (the maker's).
    let bytes = encode_kernel(&k);
    // This kernel's own parts (its waiting fills' rates, rules 29, differ from the first's).
    let tail = parts_since_rules(&k, 20);
    let cut = decode_kernel(&bytes[..bytes.len() - tail]).unwrap();
    assert_eq!(cut.fees.maker, cut.fees.taker);
    assert!(close(cut.fees.taker.ratio, 0.9));
}

#[test]
fn a_checkpoints_calibration_part_must_count_within_bounds() {
    let mut k = Kernel::new("sides", 1).unwrap();
    session(&mut k, live);
    let bytes = encode_kernel(&k);
    let tail = parts_since_rules(&k, 20);
    let body = &bytes[..bytes.len() - tail];
    let with = |t: CalibrationTail| {
        let mut b = body.to_vec();
        b.extend(bincode::serialize(&t).unwrap());
        decode_kernel(&b)
    };
    let fine = k.fees.calibration_tail();
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

/// A log of rules 0 learned from every charge (no band), so one calibration of a fee far over
/// its prediction leaves a ratio that is not finite, as it ran. A kernel recovered from it and
/// checkpointed by this build must open again: its checkpoint holds that ratio.
#[test]
fn a_log_of_rules_0_whose_calibration_overflowed_still_opens_once_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, k) = open_log(dir.path(), "old", 0);
    // Refused live under today's bounds (1e308 > 1e15), but rules 0 took it.
    let input = KernelInput::CalibrateFee {
        price: 100.0,
        qty: 1.0,
        actual_fee: 1e308,
        maker: false,
    };
    log.record(&k, &input).unwrap();
    log.sync().unwrap();
    drop(log);
    set_segment_rules(dir.path(), 0);
    let (mut log, mut k) = open_log(dir.path(), "old", 0);
    assert!(!k.fees.taker.ratio.is_finite(), "{:?}", k.fees);
    let input = KernelInput::SeedCapital(1000.0);
    k.apply(&input).unwrap();
    log.record(&k, &input).unwrap();
    log.checkpoint(&k).unwrap();
    log.sync().unwrap();
    drop(log);
    let (_, back) = open_log(dir.path(), "old", 0);
    assert_eq!(back.fees, k.fees);
}

/// A sample whose expected fee underflowed (a qty of 1e-320) was taken: its ratio was
/// infinite, and the kernel moved on a seq for it. Refused now naming the smaller of price and
/// qty, with nothing changed; a sample whose ratio over a tiny rate overflows too.
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
            "invalid qty: 1e-320, an expected fee of ",
        ),
        (
            1e-320,
            1.0,
            0.05,
            None,
            "invalid price: 1e-320, an expected fee of ",
        ),
        // 0 over a subnormal expectation is a ratio, of a number that lost its precision.
        (
            100.0,
            1e-320,
            0.0,
            None,
            "invalid qty: 1e-320, an expected fee of ",
        ),
        (
            100.0,
            1.0,
            1e15,
            Some(&tiny_rate),
            "invalid qty: 1.0, an expected fee of 1.0000000000000001e-298",
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
                "(price * qty * the fee rate is too small an expected fee to calibrate against)"
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

/// Refused as new input only: a log holding such a sample, taken before, replays it as it
/// ran (not learned, its ratio infinite, but one input).
#[test]
fn a_log_holding_a_calibration_whose_expected_fee_underflowed_still_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, k) = open_log(dir.path(), "old", 0);
    let input = KernelInput::CalibrateFee {
        price: 100.0,
        qty: 1e-320,
        actual_fee: 0.05,
        maker: false,
    };
    log.record(&k, &input).unwrap();
    log.sync().unwrap();
    drop(log);
    let (_, back) = open_log(dir.path(), "old", 0);
    assert_eq!(back.seq(), 1);
    assert_eq!(back.fees, Kernel::new("old", 1).unwrap().fees);
}
