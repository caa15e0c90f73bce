//! Maker rebates: a negative `maker_rate` (down to -taker_rate) books each maker fill's
//! predicted fee as a rebate, the account identity holds with negative fees, a rebate's
//! settlement replaces the prediction and teaches the maker's calibration alone, and a log
//! holding such a config replays to the same state. A rate past the floor changes nothing.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc, open_log};

/// Taker 5 bp, maker -2.5 bp (a rebate), seed 10,000.
fn rebate_config() -> Vec<(String, f64)> {
    vec![
        ("taker_rate".into(), 0.0005),
        ("maker_rate".into(), -0.00025),
    ]
}

fn intent(n: u32, action: KernelCommandType, order_type: OrderType, size: f64) -> Intent {
    let mut i = long_btc(&format!("i{n}"), "trade", 0, action, size);
    i.order_type = order_type;
    if order_type == OrderType::Limit {
        i.limit_price = 100.0;
    }
    i
}

/// The whole fill of `order` at `price`, fill id `fill_id`, without a fee (predicted).
fn fill(order: &VenueOrder, fill_id: &str, price: f64) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("e-{fill_id}"),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    e.fill_id = id(fill_id);
    (e.price, e.size, e.filled_size) = (price, order.size, order.size);
    e
}

fn settle(event_id: &str, fill_id: &str, fee: f64) -> AccountEvent {
    let mut e = AccountEvent::new(event_id, AccountEventKind::FillSettled);
    e.fill_id = id(fill_id);
    e.fee = fee;
    e
}

fn identity_holds(k: &Kernel) {
    let a = &k.account;
    let want = a.seed_capital + a.k_realized_pnl - a.k_fees_paid + a.k_funding_net;
    assert!(close(a.k_capital(), want), "{} != {want}", a.k_capital());
    let slots: f64 = k.slots().iter().map(|s| s.fees_paid).sum();
    assert!(
        close(slots, a.k_fees_paid),
        "slots {slots} account {}",
        a.k_fees_paid
    );
}

/// The inputs of a round trip: a LIMIT entry of 2 filled at 100 as a maker (rebate 0.05),
/// a MARKET exit filled at 110 as a taker (fee 0.11), a funding payment, and the exchange's
/// settlement of both fills (a rebate of 0.04, a fee of 0.11), as `apply` takes them.
fn round_trip(k: &mut Kernel, mut apply: impl FnMut(&mut Kernel, KernelInput) -> KernelOutcome) {
    apply(k, KernelInput::SeedCapital(10_000.0));
    apply(k, KernelInput::ExchangeConfig(rebate_config()));
    let entry = apply(
        k,
        KernelInput::Intent(intent(1, KernelCommandType::Enter, OrderType::Limit, 2.0)),
    )
    .submit
    .unwrap();
    let out = apply(k, KernelInput::VenueEvent(fill(&entry, "F1", 100.0)));
    assert!(out.accepted, "{out:?}");
    // The maker fill is predicted as a rebate: a negative fee, credited to K.
    assert!(close(k.slots()[0].fees_paid, -0.05), "{:?}", k.slots()[0]);
    assert!(close(k.account.k_fees_paid, -0.05));
    assert!(close(k.account.k_unsettled_fees, -0.05));
    assert!(close(k.account.k_capital(), 10_000.05));
    identity_holds(k);

    let exit = apply(
        k,
        KernelInput::Intent(intent(2, KernelCommandType::Exit, OrderType::Market, 0.0)),
    )
    .submit
    .unwrap();
    assert!(apply(k, KernelInput::VenueEvent(fill(&exit, "F2", 110.0))).accepted);
    let mut funding = AccountEvent::new("fund1", AccountEventKind::FundingFee);
    funding.amount = -1.5;
    assert!(apply(k, KernelInput::AccountEvent(funding)).accepted);
    assert!(close(k.account.k_realized_pnl, 20.0));
    assert!(close(k.account.k_fees_paid, -0.05 + 0.11));
    identity_holds(k);

    // The exchange paid a rebate of 0.04, not the 0.05 predicted (a ratio of 0.8): K takes
    // its figure, and the maker's calibration learns it; the taker's does not move.
    let calibration = k.fees.clone();
    let out = apply(k, KernelInput::AccountEvent(settle("s1", "F1", -0.04)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "predicted_fee"), Some(Detail::F64(-0.05)));
    assert_eq!(detail(&out, "calibration_learned"), None);
    assert_eq!(detail(&out, "liquidity"), Some(Detail::Static("MAKER")));
    assert!(close(k.fees.maker.ratio, 0.8), "{:?}", k.fees);
    assert_eq!(k.fees.taker, calibration.taker);
    assert!(close(k.account.k_fees_paid, -0.04 + 0.11));
    assert!(close(k.account.k_unsettled_fees, 0.11));
    // The taker fill's charge (1.0 times the rate) is learned, by the taker's side alone.
    let out = apply(k, KernelInput::AccountEvent(settle("s2", "F2", 0.11)));
    assert!(out.accepted, "{out:?}");
    let (m, t) = (k.fees.maker, k.fees.taker);
    assert_eq!(
        (m.samples, t.samples, k.fees.calibration_samples),
        (1, 1, 2)
    );
    assert!(close(m.ratio, 0.8) && close(t.ratio, 1.0), "{:?}", k.fees);
    assert!(close(k.account.k_unsettled_fees, 0.0));
    assert!(close(
        k.account.k_capital(),
        10_000.0 + 20.0 - (0.11 - 0.04) - 1.5
    ));
    identity_holds(k);
}

#[test]
fn a_rebate_fill_is_booked_as_a_negative_fee_and_the_account_adds_up() {
    let mut k = Kernel::new("rebate", 1).unwrap();
    round_trip(&mut k, |k, input| k.apply(&input).unwrap());
}

#[test]
fn a_log_holding_a_rebate_config_replays_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut live) = open_log(dir.path(), "rebate", 0);
    round_trip(&mut live, |k, input| {
        let out = k.apply(&input).unwrap();
        log.record(k, &input).unwrap();
        out
    });
    drop(log);
    let (_log, replayed) = open_log(dir.path(), "rebate", 0);
    assert_eq!(replayed.fees, live.fees);
    assert_eq!(replayed.account, live.account);
    assert_eq!(replayed.slots(), live.slots());
    assert_eq!(replayed.seq(), live.seq());
}

#[test]
fn a_rate_past_the_floor_is_refused_naming_it_and_changes_nothing() {
    let mut k = Kernel::new("floor", 1).unwrap();
    k.set_exchange_config(&rebate_config()).unwrap();
    let (config, seq) = (k.fees.config.clone(), k.seq());
    for (fields, message) in [
        (
            vec![("maker_rate", -0.0006)],
            "invalid maker_rate: -0.0006 (taker_rate 0.0005)",
        ),
        (
            vec![("taker_rate", 0.0002)],
            "invalid taker_rate: 0.0002 (maker_rate -0.00025)",
        ),
        (
            vec![("taker_rate", -0.0005)],
            "invalid taker_rate: -0.0005 (must not be negative)",
        ),
        // All or nothing: a valid field beside a refused one is not applied either.
        (
            vec![("lot_step", 0.001), ("maker_rate", f64::NAN)],
            "invalid maker_rate: NaN",
        ),
    ] {
        let fields: Vec<(String, f64)> = fields.iter().map(|(f, v)| (f.to_string(), *v)).collect();
        let err = k.set_exchange_config(&fields).unwrap_err().to_string();
        assert!(err.starts_with(message), "{err}");
        assert_eq!(k.fees.config, config);
        assert_eq!(k.seq(), seq, "a refused config is not an input");
    }
}

#[test]
fn calibrate_fee_on_a_rebate_teaches_the_makers_ratio_alone() {
    let mut k = Kernel::new("cal", 1).unwrap();
    k.set_exchange_config(&rebate_config()).unwrap();
    let before = k.fees.clone();
    // 2 at 100 at -2.5 bp: a rebate of 0.05 expected, 0.045 paid.
    let c = k.calibrate_fee(100.0, 2.0, -0.045, true).unwrap();
    assert!(close(c.expected_fee, -0.05));
    assert!(close(c.ratio, 0.9));
    assert_eq!(c.calibration_status.name(), "ERROR");
    assert!(c.learned);
    assert!(close(c.calibration_ratio, 0.9) && c.calibration_samples == 1);
    assert_eq!(k.fees.taker, before.taker);
    // A charge where a rebate was expected is reported, not learned.
    let learned = k.fees.clone();
    let c = k.calibrate_fee(100.0, 2.0, 0.05, true).unwrap();
    assert!(c.ratio < 0.0 && !c.learned);
    assert_eq!(k.fees, learned);
    // A taker sample is the taker's first.
    let c = k.calibrate_fee(100.0, 2.0, 0.11, false).unwrap();
    assert!(c.learned && c.calibration_samples == 1);
    assert!(close(c.calibration_ratio, 1.1));
    assert!(close(k.fees.maker.ratio, 0.9));
}
