//! A subnormal price (not 0, below 2.2250738585072014e-308, the smallest normal float) is
//! refused where it comes in, naming the field and the value, and changes nothing: taken, a
//! fill at 5e-324 opened a position whose entry price (the fill's notional over its size)
//! underflowed to 0, which no exit can be priced from and whose PnL means nothing.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{detail, long_btc, open_btc, well_formed_details};

const SUBNORMALS: [f64; 3] = [5e-324, 1e-310, 2.225_073_858_507_201e-308];

/// A kernel of one slot, seed 10,000, taker 5 bp.
fn kernel() -> Kernel {
    let mut k = Kernel::new("subnormal", 1).unwrap();
    k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
    k.apply(&KernelInput::ExchangeConfig(vec![(
        "taker_rate".into(),
        0.0005,
    )]))
    .unwrap();
    k
}

/// `out` refuses `field` = `value` as INVALID_INTENT, saying why.
fn refuses(out: KernelOutcome, field: &'static str, value: f64) {
    let out = well_formed_details(out);
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(
        detail(&out, "field"),
        Some(Detail::Static(field)),
        "{out:?}"
    );
    assert_eq!(detail(&out, "value"), Some(Detail::F64(value)), "{out:?}");
    let Some(Detail::Static(reason)) = detail(&out, "reason") else {
        panic!("no reason: {out:?}");
    };
    assert!(reason.contains("subnormal"), "{reason}");
}

#[test]
fn an_intent_at_a_subnormal_reference_or_limit_price_is_refused_naming_it() {
    for tiny in SUBNORMALS {
        let mut k = kernel();
        let mut i = long_btc("i1", "t1", 0, KernelCommandType::Enter, 1.0);
        i.reference_price = tiny;
        refuses(k.process_intent(&i), "reference_price", tiny);
        let mut i = long_btc("i2", "t1", 0, KernelCommandType::Enter, 1.0);
        i.order_type = OrderType::Limit;
        i.limit_price = tiny;
        refuses(k.process_intent(&i), "limit_price", tiny);
        assert!(k.slots()[0].trade_id.is_empty(), "{:?}", k.slots()[0]);
    }
}

#[test]
fn a_fill_at_a_subnormal_price_is_refused_and_books_nothing() {
    for tiny in SUBNORMALS {
        let mut k = kernel();
        let out = k.process_intent(&long_btc("i1", "t1", 0, KernelCommandType::Enter, 0.3));
        let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
        let mut f = VenueEvent::new("e1", KernelEventKind::Fill, &order.client_order_id);
        f.fill_id = id("T1");
        (f.price, f.size, f.filled_size, f.timestamp) = (tiny, 0.3, 0.3, 1_000.0);
        let account = k.account.clone();
        refuses(k.on_venue_event(&f), "price", tiny);
        assert_eq!(k.slots()[0].size, 0.0);
        assert_eq!(k.account, account);
        // The same fill at a price it can book is taken: the refusal left it unseen.
        f.price = 100.0;
        let out = k.on_venue_event(&f);
        assert!(out.accepted, "{out:?}");
        assert_eq!(k.slots()[0].entry_price, 100.0);
    }
}

#[test]
fn a_subnormal_mark_or_loaded_slot_price_is_refused_naming_it() {
    let mut k = kernel();
    open_btc(&mut k, 0, TradeSide::Long, 1.0);
    let err = k.mark_price("BTC", 5e-324, 1_000.0).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid price: 5e-324 (must be at least 2.2250738585072014e-308"),
        "{err}"
    );
    assert_eq!(k.slots()[0].mark_price, 0.0);
    for field in ["entry_price", "mark_price"] {
        let mut saved = k.slots().to_vec();
        match field {
            "entry_price" => saved[0].entry_price = 1e-310,
            _ => saved[0].mark_price = 1e-310,
        }
        let err = k.replace_slots(saved).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "invalid slots[0].{field}: 1e-310 (must be 0 or at least"
            )),
            "{err}"
        );
        assert_eq!(k.slots()[0].entry_price, 100.0);
    }
}

/// The smallest normal price is taken, and the numbers it leads to are finite.
#[test]
fn the_smallest_normal_price_books_a_position_at_it() {
    let mut k = kernel();
    let out = k.process_intent(&long_btc("i1", "t1", 0, KernelCommandType::Enter, 0.3));
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    let mut f = VenueEvent::new("e1", KernelEventKind::Fill, &order.client_order_id);
    (f.price, f.size, f.filled_size, f.timestamp) = (f64::MIN_POSITIVE, 0.3, 0.3, 1_000.0);
    let out = well_formed_details(k.on_venue_event(&f));
    assert!(out.accepted, "{out:?}");
    let s = &k.slots()[0];
    assert!(s.entry_price > 0.0 && s.entry_price.is_finite(), "{s:?}");
    let a = &k.account;
    for v in [
        a.k_fees_paid,
        a.k_unsettled_fees,
        a.k_capital(),
        s.unrealized_pnl,
    ] {
        assert!(v.is_finite(), "{a:?}");
    }
}

/// A loaded slot's working order at a subnormal price, reference price or average fill price
/// is refused naming it, and the slots stay as they were.
#[test]
fn a_loaded_working_order_at_a_subnormal_price_is_refused_naming_it() {
    let mut k = kernel();
    let out = k.process_intent(&long_btc("i1", "t1", 0, KernelCommandType::Enter, 0.3));
    assert!(out.accepted, "{out:?}");
    let before = k.slots().to_vec();
    for field in ["price", "reference_price", "avg_fill_price"] {
        let mut saved = before.clone();
        let order = saved[0].active_entry_order.as_mut().expect("sent");
        match field {
            "price" => order.price = 1e-310,
            "reference_price" => order.reference_price = 1e-310,
            _ => order.avg_fill_price = 1e-310,
        }
        let err = k.replace_slots(saved).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "invalid slots[0].active_entry_order.{field}: 1e-310 (must be 0 or at least"
            )),
            "{err}"
        );
        assert_eq!(k.slots(), &before[..]);
    }
}
