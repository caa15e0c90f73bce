//! Rules 31: an exit fill beyond what its slot holds realizes PnL on what the slot held, and
//! says the rest (CRITICAL, `unheld_qty`): the venue sold a position no slot holds. Only an
//! exit the venue does not cap (one not reduce-only, in a book hedged on the asset) can get
//! there, after a late fill of an earlier exit took part of the position (rules 28). Before,
//! the whole fill realized PnL, a gain or loss on a position the trade never held, and the
//! fill was OK (INFO): nothing told the operator the venue now held a position no slot shows.

use dita_kernel::error::replaying;
use dita_kernel::*;

mod common;
use common::{close, detail, exit_whole, long_btc, open_btc};

fn event(event_id: &str, kind: KernelEventKind, order: &VenueOrder) -> VenueEvent {
    VenueEvent::new(event_id, kind, &order.client_order_id)
}

/// A fill of `size` of `order` at 110 stating the running total `size`, fill id `fill_id`.
fn fill_at_110(event_id: &str, order: &VenueOrder, size: f64, fill_id: &str) -> VenueEvent {
    let mut f = event(event_id, KernelEventKind::Fill, order);
    (f.price, f.size, f.filled_size) = (110.0, size, size);
    f.fill_id = id(fill_id);
    f
}

/// A book hedged on BTC (slot 0 long 1, slot 1 short 1, both bought at 100), so slot 0's
/// exits go out plain. Its exit `X1` is canceled, the cancel acknowledged without a filled
/// size; a second exit `X2` of the whole position goes out; then the venue's report that it
/// sold 0.4 on X1 before the cancel comes, and is booked (rules 28): slot 0 holds 0.6, and
/// X2, which the venue does not cap, still works for 1. Returns X2.
fn plain_exit_working_beyond_the_position(k: &mut Kernel) -> VenueOrder {
    open_btc(k, 0, TradeSide::Long, 1.0);
    open_btc(k, 1, TradeSide::Short, 1.0);
    let x1 = exit_whole(k, 0, 1);
    assert!(!x1.reduce_only, "the hedged book nets to nothing: {x1:?}");
    let cancel = long_btc("c1", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    assert!(
        k.on_venue_event(&event("cx1", KernelEventKind::CancelAck, &x1))
            .accepted
    );
    let x2 = exit_whole(k, 0, 2);
    assert!(!x2.reduce_only && x2.size == 1.0, "{x2:?}");
    let late = k.on_venue_event(&fill_at_110("fx1", &x1, 0.4, "T1"));
    assert_eq!(
        detail(&late, "late_fill"),
        Some(Detail::Bool(true)),
        "{late:?}"
    );
    assert!(close(k.slots()[0].size, 0.6));
    x2
}

#[test]
fn an_exit_filled_beyond_the_position_realizes_what_the_slot_held_and_says_the_rest() {
    let mut k = Kernel::new("beyond", 2).unwrap();
    let x2 = plain_exit_working_beyond_the_position(&mut k);
    // The venue fills all of X2: 1 sold where the slot held 0.6.
    let out = k.on_venue_event(&fill_at_110("fx2", &x2, 1.0, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
    match detail(&out, "unheld_qty") {
        Some(Detail::F64(q)) => assert!(close(q, 0.4), "{q}"),
        other => panic!("no unheld_qty: {other:?} in {out:?}"),
    }
    assert!(detail(&out, "reason").is_some(), "{out:?}");
    let s = &k.slots()[0];
    assert_eq!(s.fsm_state, TradeStage::Closed);
    assert_eq!(s.size, 0.0);
    // 1 bought at 100, sold at 110: 10, not 14 (0.4 more sold than held).
    assert!(close(s.realized_pnl, 10.0), "{}", s.realized_pnl);
    assert!(close(k.account.k_realized_pnl, 10.0));
    // The venue charged the whole fill: its fee is predicted on all of it.
    let fees = 100.0 * 0.0005 * 2.0 + 110.0 * 1.4 * 0.0005;
    assert!(
        close(k.account.k_fees_paid, fees),
        "{}",
        k.account.k_fees_paid
    );
    // The order is filled as the venue said, and the trade is over.
    assert_eq!(k.free_slot(), Some(0));
    assert_eq!(k.side_counts_difference(), None);
}

#[test]
fn an_exit_filling_what_the_slot_holds_is_as_before() {
    let mut k = Kernel::new("within", 2).unwrap();
    let x2 = plain_exit_working_beyond_the_position(&mut k);
    let out = k.on_venue_event(&fill_at_110("fx2", &x2, 0.6, "T2"));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Info, "{out:?}");
    assert_eq!(detail(&out, "unheld_qty"), None);
    assert!(close(k.account.k_realized_pnl, 10.0));
}

#[test]
fn under_rules_30_the_whole_fill_realized_pnl_unsaid() {
    replaying(30, || {
        let mut k = Kernel::new("beyond-30", 2).unwrap();
        let x2 = plain_exit_working_beyond_the_position(&mut k);
        let out = k.on_venue_event(&fill_at_110("fx2", &x2, 1.0, "T2"));
        assert!(out.accepted, "{out:?}");
        assert_eq!(out.severity, KernelSeverity::Info);
        assert_eq!(detail(&out, "unheld_qty"), None);
        assert!(close(k.account.k_realized_pnl, 14.0));
    });
}
