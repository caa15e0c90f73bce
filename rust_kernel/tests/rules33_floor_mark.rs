//! The kernel's own floor (`min_notional`) judges a MARKET entry at the higher of its reference
//! and the asset's latest mark, as the caps do: at a stale low reference alone it would refuse
//! one the venue takes (reference 5, market at 100). Not at the mark alone, which carries no
//! age: a stale low mark would refuse alike. The refusal names the price it used.

use std::path::Path;

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{detail, open_log, well_formed_details};

/// A MARKET ENTER `n` of slot 0 on BTC, LONG, 1 at a reference of `reference`.
fn market(n: u32, reference: f64) -> Intent {
    Intent::new(
        &format!("i{n}"),
        &format!("t{n}"),
        0,
        "BTC",
        TradeSide::Long,
        KernelCommandType::Enter,
        reference,
        1.0,
    )
}

/// BTC's floor at a notional of 10, marked at `mark`.
fn setup(mark: f64) -> Vec<KernelInput> {
    vec![
        KernelInput::SeedCapital(10_000.0),
        KernelInput::MarketLimits {
            asset: id("BTC"),
            fields: vec![("min_notional".into(), 10.0)],
        },
        KernelInput::MarkPrice {
            asset: id("BTC"),
            price: mark,
            ts: 1_000.0,
        },
    ]
}

fn kernel(mark: f64) -> Kernel {
    let mut k = Kernel::new("floor", 1).unwrap();
    for input in setup(mark) {
        k.apply(&input).unwrap();
    }
    k
}

#[test]
fn a_market_entry_over_the_floor_at_its_mark_goes_out_at_a_stale_low_reference() {
    let mut k = kernel(100.0);
    let out = k.process_intent(&market(1, 5.0));
    assert!(out.accepted, "{out:?}");
    assert!(out.submit.is_some());
}

#[test]
fn a_stale_low_mark_refuses_nothing_its_reference_passes() {
    let mut k = kernel(5.0);
    assert!(k.process_intent(&market(1, 100.0)).accepted);
}

#[test]
fn under_both_it_is_refused_naming_the_higher() {
    let mut k = kernel(8.0);
    let out = well_formed_details(k.process_intent(&market(1, 6.0)));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    assert_eq!(detail(&out, "floor_price"), Some(Detail::F64(8.0)));
    assert_eq!(
        detail(&out, "floor_price_source"),
        Some(Detail::Static("mark"))
    );
    assert_eq!(detail(&out, "notional"), Some(Detail::F64(8.0)));
    assert!(k.slots()[0].active_entry_order.is_none());
}

#[test]
fn without_a_mark_the_reference_judges_and_is_named() {
    let mut k = Kernel::new("no-mark", 1).unwrap();
    k.apply(&setup(1.0)[1]).unwrap();
    let out = well_formed_details(k.process_intent(&market(1, 5.0)));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    assert_eq!(detail(&out, "floor_price"), Some(Detail::F64(5.0)));
    assert_eq!(
        detail(&out, "floor_price_source"),
        Some(Detail::Static("reference"))
    );
    // A LIMIT entry is judged at its limit, whatever the mark.
    let mut k = kernel(100.0);
    let mut limit = market(2, 100.0);
    limit.order_type = OrderType::Limit;
    limit.limit_price = 5.0;
    let out = well_formed_details(k.process_intent(&limit));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::BelowMinNotional);
    assert_eq!(
        detail(&out, "floor_price_source"),
        Some(Detail::Static("limit"))
    );
}

fn open(dir: &Path) -> (dita_kernel::wal::kernel_log::KernelLog, Kernel) {
    open_log(dir, "log", 0)
}

#[test]
fn a_log_of_an_entry_over_the_floor_at_its_mark_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path());
    let mut inputs = setup(100.0);
    inputs.push(KernelInput::Intent(market(1, 5.0)));
    for input in &inputs {
        k.apply(input).unwrap();
        log.record(&k, input).unwrap();
    }
    assert!(k.slots()[0].active_entry_order.is_some());
    drop(log);
    let (_, recovered) = open(dir.path());
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.seq(), k.seq());
}
