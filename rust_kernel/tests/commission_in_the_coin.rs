//! A spot fill whose commission the venue kept in the coin, or whose maker rebate it paid in
//! it (`metadata.base_fee_qty`, negative for a rebate): the slot holds what the account was
//! credited or debited, and a value no fill can carry is refused.

use dita_kernel::*;

mod common;
use common::{close, detail, long_btc};

/// A kernel of one slot, seeded 10,000, with an entry of 1 BTC sent on it.
fn entered(side: TradeSide) -> (Kernel, VenueOrder) {
    let mut k = Kernel::new("coin", 1).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    let mut e = long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0);
    e.side = side;
    let out = k.process_intent(&e);
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    (k, order)
}

/// The whole fill of `order` at `price`, charged `fee`, `base_fee_qty` in its metadata.
fn fill(order: &VenueOrder, event_id: &str, price: f64, fee: f64, base_fee_qty: f64) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    (e.price, e.size, e.filled_size, e.fee) = (price, order.size, order.size, Some(fee));
    e.fill_id = id(&format!("T-{event_id}"));
    e.metadata
        .insert("base_fee_qty".into(), MetaValue::Float(base_fee_qty));
    e
}

#[test]
fn an_entry_paid_a_rebate_in_the_coin_holds_the_fill_and_the_rebate_at_the_fill_price() {
    let (mut k, order) = entered(TradeSide::Long);
    let out = k.on_venue_event(&fill(&order, "f1", 100.0, -0.1, -0.001));
    assert!(out.accepted, "{out:?}");
    let s = &k.slots()[0];
    assert!(close(s.size, 1.001), "{}", s.size);
    assert!(close(s.entry_price, 100.0));
    assert!(close(s.fees_paid, -0.1));
    // 1.001 BTC for 100: worth 100.1 at the fill's price, the rebate's 0.1 gained.
    assert!(close(k.account.k_capital(), 10_000.1));
    assert!(close(s.unrealized_pnl, 0.0));
}

#[test]
fn a_rebate_in_the_coin_of_the_whole_fill_or_more_is_refused_and_changes_nothing() {
    for rebate in [-1.0, -2.0] {
        let (mut k, order) = entered(TradeSide::Long);
        let before = k.slots()[0].clone();
        let out = k.on_venue_event(&fill(&order, "f1", 100.0, -0.1, rebate));
        assert!(!out.accepted, "{rebate}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        assert_eq!(
            detail(&out, "field"),
            Some(Detail::Static("metadata.base_fee_qty"))
        );
        assert_eq!(k.slots()[0], before);
    }
}
