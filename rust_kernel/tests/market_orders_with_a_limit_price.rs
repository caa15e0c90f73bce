//! An ENTER or EXIT whose order type is MARKET (the default) with a limit price above 0 is
//! refused as INVALID_INTENT naming `limit_price` and its value, nothing sent: a take-profit
//! written with a limit price and no order type went out as a market order at once.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{detail, long_btc, open_btc, well_formed_details};

fn kernel() -> Kernel {
    let mut k = Kernel::new("market-limit", 1).unwrap();
    k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
    k
}

/// `out` refuses `limit_price` = `value`, sending nothing.
fn refuses_limit(out: KernelOutcome, value: f64) {
    let out = well_formed_details(out);
    assert!(!out.accepted, "{out:?}");
    assert!(out.submit.is_none(), "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("limit_price")));
    assert_eq!(detail(&out, "value"), Some(Detail::F64(value)), "{out:?}");
    let Some(Detail::Static(reason)) = detail(&out, "reason") else {
        panic!("no reason: {out:?}");
    };
    assert!(reason.contains("MARKET"), "{reason}");
}

#[test]
fn a_market_entry_with_a_limit_price_is_refused_and_sends_nothing() {
    let mut k = kernel();
    let mut i = long_btc("i1", "t1", 0, KernelCommandType::Enter, 1.0);
    i.limit_price = 90.0;
    refuses_limit(k.process_intent(&i), 90.0);
    assert!(k.slots()[0].trade_id.is_empty(), "{:?}", k.slots()[0]);
    // The same entry as a LIMIT order is taken at its limit.
    i.order_type = OrderType::Limit;
    let out = k.process_intent(&i);
    assert_eq!(out.submit.map(|o| o.price), Some(90.0));
}

#[test]
fn a_market_exit_with_a_limit_price_is_refused_and_the_position_stays() {
    let mut k = kernel();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let mut x = long_btc("x1", "", 0, KernelCommandType::Exit, 0.0);
    x.limit_price = 120.0;
    refuses_limit(k.process_intent(&x), 120.0);
    assert_eq!(k.slots()[0].fsm_state, TradeStage::PositionOpen);
    assert_eq!(k.slots()[0].size, 1.0);
    // A CANCEL sends no order: its order fields are not read.
    let mut c = long_btc("c1", "", 0, KernelCommandType::Cancel, 0.0);
    c.limit_price = 120.0;
    assert_ne!(
        detail(&k.process_intent(&c), "field"),
        Some(Detail::Static("limit_price"))
    );
}
