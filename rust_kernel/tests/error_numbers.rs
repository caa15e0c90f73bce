//! A refused number is shown short, as Python shows it: 5e-324, not 330 digits ("invalid
//! slots[0].initial_size: 0.000...0005 (must not be below the slot's size)").

use dita_kernel::fees::ExchangeConfig;
use dita_kernel::mock::MockConfig;
use dita_kernel::risk::{ConfigValue, RiskLimits};
use dita_kernel::*;

mod common;
use common::open_btc;

const TINY: f64 = 5e-324;

/// A kernel's one slot holding 1 BTC long, saved with `edit` applied, loaded again.
fn load_edited(edit: impl Fn(&mut TradeSlot)) -> KernelError {
    let mut k = Kernel::new("numbers", 1).unwrap();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let mut saved = k.slots().to_vec();
    edit(&mut saved[0]);
    k.replace_slots(saved).unwrap_err()
}

fn risk(updates: &[(&str, ConfigValue)]) -> KernelError {
    let updates: Vec<(String, ConfigValue)> = updates
        .iter()
        .map(|(f, v)| (f.to_string(), v.clone()))
        .collect();
    RiskLimits::default().with_updates(&updates).unwrap_err()
}

#[test]
fn refused_numbers_are_shown_short() {
    let cases: Vec<(KernelError, &str)> = vec![
        (
            load_edited(|s| s.initial_size = TINY),
            "invalid slots[0].initial_size: 5e-324 (must not be below the slot's size)",
        ),
        (
            Kernel::new("numbers", 1)
                .unwrap()
                .mark_price("BTC", -TINY, 0.0)
                .unwrap_err(),
            "invalid price: -5e-324 (must be a finite positive number)",
        ),
        (
            ExchangeConfig::default()
                .with_updates(&[("taker_rate".into(), 0.0), ("maker_rate".into(), -TINY)])
                .unwrap_err(),
            "invalid maker_rate: -5e-324 (taker_rate 0) (",
        ),
        (
            MockConfig {
                fill_rate: -TINY,
                ..MockConfig::default()
            }
            .validate()
            .unwrap_err(),
            "invalid fill_rate: -5e-324 (must be a probability between 0 and 1)",
        ),
        (
            MockConfig {
                partial_fill_ratio: -TINY,
                ..MockConfig::default()
            }
            .validate()
            .unwrap_err(),
            "invalid partial_fill_ratio: -5e-324 (",
        ),
        (
            risk(&[("max_order_rate", ConfigValue::Num(TINY))]),
            "invalid max_order_rate: 5e-324 (must be at least 1",
        ),
        (
            risk(&[("regime", ConfigValue::Num(TINY))]),
            "invalid regime: 5e-324 (must be NEUTRAL, BULL, BEAR or None)",
        ),
        (
            risk(&[
                ("max_notional_per_asset", ConfigValue::Num(2e-300)),
                ("max_notional_total", ConfigValue::Num(1e-300)),
            ]),
            "invalid max_notional_per_asset: 2e-300 (max_notional_total 1e-300) (",
        ),
    ];
    for (err, expected) in cases {
        let shown = err.to_string();
        assert!(shown.starts_with(expected), "{shown}");
        assert!(shown.len() < 200, "{shown}");
    }
}

/// A huge number is shown as Python shows it too, past where Python turns to exponent form.
#[test]
fn huge_numbers_are_shown_in_exponent_form() {
    let err = risk(&[("regime", ConfigValue::Num(1e300))]);
    assert_eq!(
        err.to_string(),
        "invalid regime: 1e300 (must be NEUTRAL, BULL, BEAR or None)"
    );
    // Below Python's switch (1e16) a number is written out, as Python writes it.
    let err = risk(&[("regime", ConfigValue::Num(1e15))]);
    assert!(err
        .to_string()
        .starts_with("invalid regime: 1000000000000000 ("));
}

/// A lot step or tick finer than `fees::MIN_STEP` is refused naming it (one of 1e-309 would
/// send an order of infinite size).
#[test]
fn steps_finer_than_the_smallest_are_refused_naming_them() {
    let tiny = vec![("lot_step".to_string(), 1e-309)];
    let mut k = Kernel::new("steps", 1).unwrap();
    let err = k.set_exchange_config(&tiny).unwrap_err().to_string();
    assert!(err.contains("lot_step") && err.contains("1e-309"), "{err}");
    let ticks = vec![("tick_size".to_string(), 1e-300)];
    let err = k.set_market_limits("BTC", &ticks).unwrap_err().to_string();
    assert!(err.contains("tick_size") && err.contains("1e-300"), "{err}");
    assert_eq!(k.seq(), 0, "a refusal moved the kernel on");
    // The finest step allowed is taken.
    let finest = vec![("lot_step".to_string(), fees::MIN_STEP)];
    k.set_exchange_config(&finest).unwrap();
}
