//! A time past 253402300799 (9999-12-31 23:59:59 UTC, the last second a datetime holds),
//! the usual milliseconds passed as seconds, is refused where it comes in, naming the field
//! and the value, and changes nothing: taken, the trade was entered and every datetime read
//! of it failed.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{detail, long_btc, open_btc, well_formed_details};

/// 2025-03-01 09:30 UTC in milliseconds.
const MILLIS: f64 = 1_740_821_400_000.0;
const LAST_SECOND: f64 = 253_402_300_799.0;

/// A kernel of one slot, seed 10,000.
fn kernel() -> Kernel {
    let mut k = Kernel::new("times", 1).unwrap();
    k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
    k
}

/// `out` refuses `timestamp` = `value` as INVALID_INTENT, saying it reads as milliseconds.
fn refuses_time(out: KernelOutcome, value: f64) {
    let out = well_formed_details(out);
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("timestamp")));
    assert_eq!(detail(&out, "value"), Some(Detail::F64(value)), "{out:?}");
    let Some(Detail::Static(reason)) = detail(&out, "reason") else {
        panic!("no reason: {out:?}");
    };
    assert!(reason.contains("milliseconds"), "{reason}");
}

#[test]
fn an_intent_in_milliseconds_is_refused_and_enters_nothing() {
    let mut k = kernel();
    let mut i = long_btc("i1", "t1", 0, KernelCommandType::Enter, 1.0);
    i.timestamp = MILLIS;
    refuses_time(k.process_intent(&i), MILLIS);
    assert!(k.slots()[0].trade_id.is_empty(), "{:?}", k.slots()[0]);
    // The last second a datetime holds is taken.
    i.timestamp = LAST_SECOND;
    assert!(k.process_intent(&i).accepted);
}

#[test]
fn a_fill_in_milliseconds_is_refused_and_books_nothing() {
    let mut k = kernel();
    let out = k.process_intent(&long_btc("i1", "t1", 0, KernelCommandType::Enter, 0.3));
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    let mut f = VenueEvent::new("e1", KernelEventKind::Fill, &order.client_order_id);
    f.fill_id = id("T1");
    (f.price, f.size, f.filled_size, f.timestamp) = (100.0, 0.3, 0.3, MILLIS);
    refuses_time(k.on_venue_event(&f), MILLIS);
    assert_eq!(k.slots()[0].size, 0.0);
    // The same fill in seconds is taken: the refusal left it unseen.
    f.timestamp = MILLIS / 1000.0;
    assert!(k.on_venue_event(&f).accepted);
    assert_eq!(k.slots()[0].size, 0.3);
}

#[test]
fn an_account_event_in_milliseconds_is_refused() {
    let mut k = kernel();
    let mut e = AccountEvent::new("a1", AccountEventKind::FundingFee);
    (e.asset, e.amount, e.timestamp) = (id("BTC"), 1.0, MILLIS);
    let capital = k.account.k_capital();
    refuses_time(k.on_account_event(&e), MILLIS);
    assert_eq!(k.account.k_capital(), capital);
}

#[test]
fn a_mark_or_a_loaded_slot_in_milliseconds_is_refused_naming_it() {
    let mut k = kernel();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let err = k.mark_price("BTC", 101.0, MILLIS).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid timestamp: 1740821400000 (must be seconds since the epoch"),
        "{err}"
    );
    for field in ["entry_time", "last_event_time"] {
        let mut saved = k.slots().to_vec();
        match field {
            "entry_time" => saved[0].entry_time = MILLIS,
            _ => saved[0].last_event_time = MILLIS,
        }
        let err = k.replace_slots(saved).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("invalid slots[0].{field}: 1740821400000 (")),
            "{err}"
        );
        assert!(err.contains("milliseconds"), "{err}");
        assert!(k.slots()[0].entry_time < LAST_SECOND);
    }
}
