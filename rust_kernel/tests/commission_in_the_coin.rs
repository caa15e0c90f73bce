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

/// Slot 0 short 1 BTC from 100 (its entry filled whole, fee 0.1), and its exit of the whole
/// position sent.
fn short_covering() -> (Kernel, VenueOrder) {
    let (mut k, entry) = entered(TradeSide::Short);
    let mut f = fill(&entry, "f1", 100.0, 0.1, 0.0);
    f.metadata.clear();
    assert!(k.on_venue_event(&f).accepted);
    let mut x = long_btc("x0", "t0", 0, KernelCommandType::Exit, 0.0);
    x.side = TradeSide::Short;
    let out = k.process_intent(&x);
    let exit = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    assert!(close(exit.size, 1.0));
    (k, exit)
}

#[test]
fn a_cover_whose_commission_is_kept_in_the_coin_repays_what_was_credited_and_owes_the_rest() {
    let (mut k, exit) = short_covering();
    // The buy of 1 credited 0.999: 0.001 of the borrowed coin is still owed.
    let out = k.on_venue_event(&fill(&exit, "x1", 90.0, 0.09, 0.001));
    assert!(out.accepted, "{out:?}");
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::PositionOpen);
    assert!(close(s.size, 0.001), "{}", s.size);
    // PnL realized on what it repaid; the commission charged at its value in the quote.
    assert!(close(s.realized_pnl, 0.999 * 10.0), "{}", s.realized_pnl);
    assert!(close(s.fees_paid, 0.1 + 0.09));
    assert!(close(k.account.k_realized_pnl, 9.99));
}

#[test]
fn a_cover_paid_a_rebate_in_the_coin_beyond_the_short_says_what_no_slot_holds() {
    let (mut k, exit) = short_covering();
    // The buy of 1 credited 1.001: 0.001 more than the short owed.
    let out = k.on_venue_event(&fill(&exit, "x1", 90.0, -0.09, -0.001));
    assert!(out.accepted, "{out:?}");
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::Closed);
    assert_eq!(s.size, 0.0);
    assert!(close(s.realized_pnl, 10.0), "{}", s.realized_pnl);
    let Some(Detail::F64(unheld)) = detail(&out, "unheld_qty") else {
        panic!("{out:?}")
    };
    assert!(close(unheld, 0.001), "{unheld}");
}

#[test]
fn a_whole_exit_of_what_a_commission_in_the_coin_left_is_judged_by_the_minimum_quantity() {
    // 2.0 bought, 0.002 kept by the venue: 1.998 held on a lot of 0.01 goes out as 1.99, the
    // whole position as the venue takes it, so it is taken under the minimum notional (139.3
    // at 70 against 150).
    let mut k = Kernel::new("coin", 1).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    let limits = [
        ("lot_step".to_string(), 0.01),
        ("min_notional".to_string(), 150.0),
    ];
    k.set_market_limits("BTC", &limits).unwrap();
    let out = k.process_intent(&long_btc("e0", "t0", 0, KernelCommandType::Enter, 2.0));
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    assert!(
        k.on_venue_event(&fill(&order, "f1", 100.0, 0.2, 0.002))
            .accepted
    );
    assert!(close(k.slots()[0].size, 1.998));
    let mut x = long_btc("x0", "", 0, KernelCommandType::Exit, 0.0);
    x.reference_price = 70.0;
    let out = k.process_intent(&x);
    let sent = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    assert!(sent.reduce_only && close(sent.size, 1.99), "{sent:?}");
}

/// `ev` refused as a sell carrying a commission in the coin (`value`), the slot unchanged,
/// then taken under the same event id without it.
fn refused_then_taken_without_it(k: &mut Kernel, mut ev: VenueEvent, value: f64) {
    let before = k.slots()[0].clone();
    let out = k.on_venue_event(&ev);
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
    assert_eq!(
        detail(&out, "field"),
        Some(Detail::Static("metadata.base_fee_qty"))
    );
    assert_eq!(detail(&out, "value"), Some(Detail::F64(value)));
    assert_eq!(k.slots()[0], before);
    ev.metadata.clear();
    let out = k.on_venue_event(&ev);
    assert!(out.accepted, "{out:?}");
}

#[test]
fn a_short_entrys_sell_carrying_a_commission_in_the_coin_is_refused_and_books_nothing() {
    let (mut k, entry) = entered(TradeSide::Short);
    refused_then_taken_without_it(&mut k, fill(&entry, "f1", 100.0, 0.1, 0.01), 0.01);
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::PositionOpen);
    assert_eq!(s.size, 1.0);
}

#[test]
fn a_long_exits_sell_carrying_a_commission_in_the_coin_is_refused_and_books_nothing() {
    let (mut k, entry) = entered(TradeSide::Long);
    let mut f = fill(&entry, "f1", 100.0, 0.1, 0.0);
    f.metadata.clear();
    assert!(k.on_venue_event(&f).accepted);
    let out = k.process_intent(&long_btc("x0", "t0", 0, KernelCommandType::Exit, 0.5));
    let exit = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    refused_then_taken_without_it(&mut k, fill(&exit, "x1", 110.0, 0.055, 0.001), 0.001);
    let s = &k.slots()[0];
    assert!(close(s.size, 0.5), "{}", s.size);
    assert!(close(s.realized_pnl, 5.0), "{}", s.realized_pnl);
}
