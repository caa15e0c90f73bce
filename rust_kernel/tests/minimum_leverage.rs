//! An ENTER's leverage and a loaded slot's are at least `risk::MIN_LEVERAGE` (1e-15); a smaller
//! one is refused naming it (at 1e-320 the position's margin, its notional over the leverage,
//! is infinite).

use dita_kernel::risk::MIN_LEVERAGE;
use dita_kernel::*;

mod common;
use common::{detail, long_btc};

fn enter_at(leverage: f64) -> Intent {
    let mut i = long_btc("i1", "t", 0, KernelCommandType::Enter, 1.0);
    i.leverage = leverage;
    i
}

#[test]
fn an_enter_below_the_smallest_leverage_is_refused_naming_it() {
    for leverage in [1e-320, f64::MIN_POSITIVE, 1e-300, 9.9e-16] {
        let mut k = Kernel::new("lev", 1).unwrap();
        let out = k.process_intent(&enter_at(leverage));
        assert!(!out.accepted, "{leverage:e}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        assert_eq!(
            detail(&out, "field"),
            Some(Detail::Static("leverage")),
            "{out:?}"
        );
        assert_eq!(detail(&out, "value"), Some(Detail::F64(leverage)));
        assert_eq!(k.slots()[0].fsm_state, TradeStage::Idle, "nothing changed");
    }
    let mut k = Kernel::new("lev", 1).unwrap();
    assert!(k.process_intent(&enter_at(MIN_LEVERAGE)).accepted);
}

#[test]
fn a_loaded_slot_below_the_smallest_leverage_is_refused_naming_it() {
    let mut k = Kernel::new("lev", 1).unwrap();
    assert!(k.process_intent(&enter_at(1.0)).accepted);
    let mut saved = k.slots().to_vec();
    saved[0].leverage = 1e-320;
    let mut loaded = Kernel::new("lev", 1).unwrap();
    let err = loaded.replace_slots(saved).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid slots[0].leverage: 1e-320"),
        "{err}"
    );
    assert_eq!(
        loaded.slots()[0].fsm_state,
        TradeStage::Idle,
        "nothing loaded"
    );
}
