//! The edge freeze holds across assets: it lifts only once no asset's last edge is below the
//! threshold (not when the edge of the asset that froze the kernel comes back while another
//! asset's is still below), a new threshold judges every asset's last edge again (those above
//! the old one, and those received while the rule was off), a checkpoint keeps the last edges,
//! and turning the freeze off lifts it in place.

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

/// Risk limits with the edge freeze at `threshold` bp.
fn freeze_at(threshold: f64) -> RiskLimits {
    RiskLimits {
        edge_freeze_threshold_bps: Some(threshold),
        ..RiskLimits::default()
    }
}

#[test]
fn turning_the_freeze_on_judges_the_last_edges_received_while_it_was_off() {
    let mut k = frozen_by_eth_with_btc_below();
    k.set_risk_limits(RiskLimits::default());
    assert!(!k.control.frozen);
    k.on_edge_update("SOL", -50.0, 3.0).unwrap();
    assert!(!k.control.frozen, "the rule is off");
    k.set_risk_limits(freeze_at(0.0));
    assert!(k.control.frozen);
    assert_eq!(k.control.freeze_asset, "BTC");
    assert_eq!(
        enter_btc(&mut k, 1).diagnostic_code,
        KernelDiagnosticCode::RiskRejected
    );
    // Each asset coming back leaves the freeze to the next still below, then lifts it.
    k.on_edge_update("BTC", 1.0, 4.0).unwrap();
    assert_eq!(k.control.freeze_asset, "ETH");
    k.on_edge_update("ETH", 1.0, 5.0).unwrap();
    assert_eq!(k.control.freeze_asset, "SOL");
    k.on_edge_update("SOL", 1.0, 6.0).unwrap();
    assert!(!k.control.frozen);
}

#[test]
fn raising_the_freeze_threshold_judges_the_last_edges_above_the_old_one() {
    let mut k = Kernel::new("raise", 1).unwrap();
    k.set_risk_limits(freeze_at(1.0));
    k.on_edge_update("BTC", 3.0, 1.0).unwrap();
    assert!(!k.control.frozen);
    k.set_risk_limits(freeze_at(5.0));
    assert!(k.control.frozen);
    assert_eq!(k.control.freeze_asset, "BTC");
    assert_eq!(
        k.control.freeze_reason,
        "edge 3.0000 bps below threshold 5.0000 bps"
    );
    assert_eq!(k.control.freeze_events, 1);
    assert_eq!(
        enter_btc(&mut k, 1).diagnostic_code,
        KernelDiagnosticCode::RiskRejected
    );
    // Lowered again below the edge, the freeze lifts.
    k.set_risk_limits(freeze_at(2.0));
    assert!(!k.control.frozen);
    assert!(enter_btc(&mut k, 2).accepted);
}

#[test]
fn a_checkpoint_keeps_the_last_edges_above_the_threshold() {
    let mut k = Kernel::new("kept", 1).unwrap();
    k.set_risk_limits(freeze_at(1.0));
    k.on_edge_update("BTC", 3.0, 1.0).unwrap();
    let mut back = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(encode_kernel(&back), encode_kernel(&k));
    back.set_risk_limits(freeze_at(5.0));
    assert!(back.control.frozen);
}

#[test]
fn turning_the_edge_freeze_off_lifts_a_freeze() {
    let mut k = Kernel::new("freeze", 1).unwrap();
    k.set_risk_limits(RiskLimits {
        edge_freeze_threshold_bps: Some(0.0),
        ..RiskLimits::default()
    });
    k.on_edge_update("BTC", -5.0, 1.0).unwrap();
    assert!(k.control.frozen);
    k.set_risk_limits(RiskLimits::default());
    assert!(!k.control.frozen);
    let i = common::long_btc("e", "t", 0, KernelCommandType::Enter, 1.0);
    assert!(k.process_intent(&i).accepted);
}

/// An edge update of a blank asset is refused naming the field: it would freeze the kernel
/// naming no asset, a freeze no edge update of an asset lifts.
#[test]
fn an_edge_update_of_a_blank_asset_is_refused() {
    let mut k = Kernel::new("edge", 1).unwrap();
    k.set_risk_limits(RiskLimits {
        edge_freeze_threshold_bps: Some(0.0),
        ..RiskLimits::default()
    });
    let seq = k.seq();
    for asset in [" ", ""] {
        let err = k.on_edge_update(asset, -5.0, 1.0).unwrap_err().to_string();
        assert!(err.contains("asset"), "{asset:?}: {err}");
    }
    assert!(!k.control.frozen);
    assert_eq!(k.seq(), seq, "a refusal moved the kernel on");
}
