//! A SELL LIMIT entry priced under the market counts at the market towards the notional caps
//! (a sell fills at its limit or above), turning the edge freeze off lifts a freeze in place,
//! and an ACCOUNT_UPDATE carrying a payment's figure is refused naming it.

use dita_kernel::risk::{ConfigValue, RiskLimits};
use dita_kernel::*;

mod common;
use common::close;

fn limits(updates: &[(&str, ConfigValue)]) -> RiskLimits {
    let u: Vec<(String, ConfigValue)> = updates
        .iter()
        .map(|(f, v)| (f.to_string(), v.clone()))
        .collect();
    RiskLimits::default().with_updates(&u).unwrap()
}

fn short_limit(n: u32, slot: i64, limit: f64, size: f64) -> Intent {
    let mut i = Intent::new(
        &format!("i{n}"),
        &format!("t{slot}"),
        slot,
        "BTC",
        TradeSide::Short,
        KernelCommandType::Enter,
        100.0,
        size,
    );
    i.order_type = OrderType::Limit;
    i.limit_price = limit;
    i
}

#[test]
fn a_short_limit_entry_under_the_market_counts_at_the_market() {
    let mut k = Kernel::new("short", 2).unwrap();
    k.set_risk_limits(limits(&[("max_notional_total", ConfigValue::Num(1000.0))]));
    let out = k.process_intent(&short_limit(1, 0, 1.0, 500.0));
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::RiskRejected,
        "{out:?}"
    );
    let out = k.process_intent(&short_limit(2, 0, 1.0, 5.0));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.total_committed_notional(), 500.0));
    // A resting sell above the market counts at its price, and after a reload the same.
    assert!(k.process_intent(&short_limit(3, 1, 120.0, 4.0)).accepted);
    assert!(close(k.total_committed_notional(), 500.0 + 480.0));
    let slots = k.slots().to_vec();
    k.replace_slots(slots).unwrap();
    assert!(close(k.total_committed_notional(), 500.0 + 480.0));
}

#[test]
fn turning_the_edge_freeze_off_lifts_a_freeze() {
    let mut k = Kernel::new("freeze", 1).unwrap();
    k.set_risk_limits(limits(&[(
        "edge_freeze_threshold_bps",
        ConfigValue::Num(0.0),
    )]));
    k.on_edge_update("BTC", -5.0, 1.0).unwrap();
    assert!(k.control.frozen);
    k.set_risk_limits(RiskLimits::default());
    assert!(!k.control.frozen);
    let i = common::long_btc("e", "t", 0, KernelCommandType::Enter, 1.0);
    assert!(k.process_intent(&i).accepted);
}

#[test]
fn an_account_update_carrying_an_amount_or_fee_is_refused_naming_it() {
    for field in ["amount", "fee"] {
        let mut k = Kernel::new("update", 1).unwrap();
        let mut e = AccountEvent::new("u1", AccountEventKind::AccountUpdate);
        e.wallet_balance = Some(10_500.0);
        if field == "amount" {
            e.amount = 500.0;
        } else {
            e.fee = 3.0;
        }
        // Taken, its balance would apply and its figure be dropped.
        let out = k.on_account_event(&e);
        assert!(!out.accepted, "{out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        assert_eq!(common::detail(&out, "field"), Some(Detail::Static(field)));
        assert_eq!(k.account.event_seq, 0);
        assert_eq!(k.account.e_wallet_balance, None);
    }
}
