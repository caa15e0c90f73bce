//! The pre-trade guards hold across assets and clocks. The edge freeze lifts only once no
//! asset's last edge is below the threshold (not when the edge of the asset that froze the
//! kernel comes back while another asset's is still below), and an intent stamped behind the
//! orders in the rate window does not move them back with it (they would leave the window
//! early, and the orders after pass a rate they double).

use dita_kernel::risk::RiskLimits;
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
use dita_kernel::*;

mod common;
use common::{detail, long_btc};

/// A kernel with the edge freeze at 0 bp, frozen by ETH's edge (-5 bp), BTC's edge then
/// below too (-3 bp).
fn frozen_by_eth_with_btc_below() -> Kernel {
    let mut k = Kernel::new("edge", 4).unwrap();
    k.set_risk_limits(RiskLimits {
        edge_freeze_threshold_bps: Some(0.0),
        ..RiskLimits::default()
    });
    let out = k.on_edge_update("ETH", -5.0, 1.0).unwrap();
    assert_eq!(detail(&out, "frozen"), Some(Detail::Bool(true)));
    k.on_edge_update("BTC", -3.0, 2.0).unwrap();
    k
}

fn enter_btc(k: &mut Kernel, n: u32) -> KernelOutcome {
    let e = long_btc(
        &format!("i{n}"),
        &format!("t{n}"),
        0,
        KernelCommandType::Enter,
        1.0,
    );
    k.process_intent(&e)
}

#[test]
fn an_asset_coming_back_leaves_the_freeze_while_another_is_below() {
    let mut k = frozen_by_eth_with_btc_below();
    let out = k.on_edge_update("ETH", 5.0, 3.0).unwrap();
    assert_eq!(detail(&out, "frozen"), None, "{out:?}");
    assert!(k.control.frozen);
    // The freeze now names the asset still below, and its edge.
    assert_eq!(k.control.freeze_asset, "BTC");
    assert!(
        k.control.freeze_reason.contains("-3.0000"),
        "{}",
        k.control.freeze_reason
    );
    let refused = enter_btc(&mut k, 1);
    assert_eq!(refused.diagnostic_code, KernelDiagnosticCode::RiskRejected);
    assert_eq!(
        detail(&refused, "rule"),
        Some(Detail::Static("edge_freeze"))
    );
    assert_eq!(detail(&refused, "asset"), Some(Detail::Str("BTC".into())));
    // BTC's edge back too: nothing is below, the freeze lifts.
    let out = k.on_edge_update("BTC", 1.0, 4.0).unwrap();
    assert_eq!(detail(&out, "frozen"), Some(Detail::Bool(false)));
    assert!(enter_btc(&mut k, 2).accepted);
}

#[test]
fn the_asset_that_did_not_freeze_coming_back_lifts_nothing() {
    let mut k = frozen_by_eth_with_btc_below();
    k.on_edge_update("BTC", 1.0, 3.0).unwrap();
    assert!(k.control.frozen);
    assert_eq!(k.control.freeze_asset, "ETH");
    k.on_edge_update("ETH", 0.0, 4.0).unwrap(); // at the threshold: not below
    assert!(!k.control.frozen);
}

#[test]
fn a_checkpoint_keeps_the_assets_whose_edge_is_below() {
    let k = frozen_by_eth_with_btc_below();
    let mut back = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(encode_kernel(&back), encode_kernel(&k));
    back.on_edge_update("ETH", 5.0, 3.0).unwrap();
    assert!(back.control.frozen);
    assert_eq!(back.control.freeze_asset, "BTC");
}

#[test]
fn turning_the_freeze_off_forgets_the_assets_below() {
    let mut k = frozen_by_eth_with_btc_below();
    k.set_risk_limits(RiskLimits::default());
    assert!(!k.control.frozen);
    k.set_risk_limits(RiskLimits {
        edge_freeze_threshold_bps: Some(0.0),
        ..RiskLimits::default()
    });
    // ETH's edge below again freezes; its coming back lifts: BTC's old edge is forgotten.
    k.on_edge_update("ETH", -1.0, 5.0).unwrap();
    k.on_edge_update("ETH", 1.0, 6.0).unwrap();
    assert!(!k.control.frozen);
}

/// An ENTER of 1 BTC on slot `i`, ids `<tag><i>` and trade `t<i>`, stamped `ts`.
fn entry_at(tag: &str, i: i64, ts: f64) -> Intent {
    let mut e = long_btc(
        &format!("{tag}{i}"),
        &format!("t{i}"),
        i,
        KernelCommandType::Enter,
        1.0,
    );
    e.timestamp = ts;
    e
}

/// A kernel of 12 slots whose orders are limited to 5 a second, 5 entries stamped 10.0
/// taken, then an entry stamped half a second behind them (another process's clock) refused.
fn five_at_ten_then_one_behind() -> Kernel {
    let mut k = Kernel::new("rate", 12).unwrap();
    k.set_risk_limits(RiskLimits {
        max_order_rate: Some(5.0),
        ..RiskLimits::default()
    });
    for i in 0..5 {
        assert!(k.process_intent(&entry_at("a", i, 10.0)).accepted);
    }
    let out = k.process_intent(&entry_at("b", 5, 9.5));
    assert_eq!(detail(&out, "rule"), Some(Detail::Static("max_order_rate")));
    k
}

/// The entries taken of six more, stamped 10.5: half a second after the first five.
fn six_more_at_ten_and_a_half(k: &mut Kernel) -> usize {
    (6..12)
        .filter(|&i| k.process_intent(&entry_at("c", i, 10.5)).accepted)
        .count()
}

#[test]
fn an_intent_stamped_behind_the_window_does_not_empty_it() {
    let mut k = five_at_ten_then_one_behind();
    // The five at 10.0 are half a second before 10.5: a rate of 5 takes none.
    assert_eq!(six_more_at_ten_and_a_half(&mut k), 0);
    let mut later = long_btc("d", "td", 6, KernelCommandType::Enter, 1.0);
    later.timestamp = 11.0;
    assert!(k.process_intent(&later).accepted, "a second after them");
}
