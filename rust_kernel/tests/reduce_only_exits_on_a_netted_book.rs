//! Reduce-only exits on a netted book. An exit goes out reduce-only only when the asset's
//! position, netted over the slots holding it (a venue in one-way mode holds one position per
//! asset), covers it after every other order of the asset that may take from it first
//! (working orders on its side, orders in doubt, fills the venue said it made and the kernel
//! has not booked yet). It is decided from sums the kernel keeps per asset as slots and kept
//! orders change, in whole units of 1e-15 of a size (exact, so a kernel decoded from a
//! checkpoint sums as the live one does); the `open`, `fill` and `exit` helpers check them
//! against a count of the slots afresh (`side_counts_difference`), in the cases where the two
//! could part too: dust positions, a slot moving to another asset, and an exit completing
//! within its tolerance.

use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
use dita_kernel::*;

mod common;
use common::long_btc;

/// Opens slot `slot` at `size` on BTC, `side`, filled whole at 100.
fn open(k: &mut Kernel, slot: i64, side: TradeSide, size: f64) {
    common::open_btc(k, slot, side, size);
    assert_eq!(k.side_counts_difference(), None);
}

fn fill(k: &mut Kernel, order: &VenueOrder, event_id: &str) {
    common::fill_at_100(k, order, order.size, order.size, event_id);
    assert_eq!(k.side_counts_difference(), None);
}

/// The order an EXIT of slot `slot` (its whole position) sends.
fn exit(k: &mut Kernel, slot: i64, n: u32) -> VenueOrder {
    let order = common::exit_whole(k, slot, n);
    assert_eq!(k.side_counts_difference(), None);
    order
}

#[test]
fn a_lone_position_exits_reduce_only() {
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    let x = exit(&mut k, 0, 1);
    assert!(x.reduce_only && x.side == OrderSide::Sell);
}

#[test]
fn a_long_beside_a_short_of_its_size_exits_without_reduce_only_then_the_short_with_it() {
    // The venue nets the two: it holds nothing, and a reduce-only sell would open a short.
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    open(&mut k, 1, TradeSide::Short, 1.0);
    let long_exit = exit(&mut k, 0, 1);
    assert!(!long_exit.reduce_only, "{long_exit:?}");
    fill(&mut k, &long_exit, "f-x0");
    // The venue now holds the short alone: its exit reduces it.
    let short_exit = exit(&mut k, 1, 1);
    assert!(short_exit.reduce_only && short_exit.side == OrderSide::Buy);
    fill(&mut k, &short_exit, "f-x1");
    assert_eq!(k.open_positions(), 0);
}

#[test]
fn working_reduce_only_exits_of_a_side_take_their_share_of_the_net_first() {
    // Longs of 1 and 1 beside a short of 1: the venue holds a long of 1. The first long's
    // exit takes it; the second's, sent while the first works, would sell past it.
    let mut k = Kernel::new("ro", 3).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    open(&mut k, 1, TradeSide::Long, 1.0);
    open(&mut k, 2, TradeSide::Short, 1.0);
    let first = exit(&mut k, 0, 1);
    assert!(first.reduce_only);
    let second = exit(&mut k, 1, 1);
    assert!(!second.reduce_only, "{second:?}");
    // A net smaller than the exit (a long of 2 beside a short of 0.5: 1.5 at the venue) does
    // not cover it, nor the short's buy, which would grow the long.
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 2.0);
    open(&mut k, 1, TradeSide::Short, 0.5);
    assert!(!exit(&mut k, 0, 1).reduce_only);
    assert!(!exit(&mut k, 1, 1).reduce_only);
    // Longs of 2 and 1: 3 at the venue covers both exits, working at once.
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 2.0);
    open(&mut k, 1, TradeSide::Long, 1.0);
    assert!(exit(&mut k, 0, 1).reduce_only);
    assert!(exit(&mut k, 1, 1).reduce_only);
}

#[test]
fn a_loaded_slots_exit_may_say_either() {
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    open(&mut k, 1, TradeSide::Short, 1.0);
    let x = exit(&mut k, 0, 1);
    assert!(!x.reduce_only);
    let saved = k.slots().to_vec();
    let mut loaded = Kernel::new("ro", 2).unwrap();
    loaded.replace_slots(saved).unwrap();
    assert!(
        !loaded.slots()[0]
            .active_exit_order
            .as_ref()
            .unwrap()
            .reduce_only
    );
}

/// An ENTER of slot `slot` as a LIMIT at `price`, left working.
fn rest_entry(k: &mut Kernel, slot: i64, side: TradeSide, price: f64) -> VenueOrder {
    let mut e = long_btc(
        &format!("r{slot}"),
        &format!("t{slot}"),
        slot,
        KernelCommandType::Enter,
        1.0,
    );
    e.side = side;
    e.order_type = OrderType::Limit;
    e.limit_price = price;
    k.process_intent(&e).submit.expect("entry sent")
}

#[test]
fn every_other_order_that_may_work_on_the_exits_side_takes_its_share_first() {
    // A: a plain exit of another slot, working, sells first at the venue.
    // Long 1 and short 1 (the venue holds nothing): slot 0's exit goes out plain; slot 1 then
    // goes long 1 (the venue holds 1), and its exit would go out reduce-only counting only
    // reduce-only exits: slot 0's sell filling first leaves it nothing.
    let mut k = Kernel::new("ro", 3).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    open(&mut k, 2, TradeSide::Short, 1.0);
    assert!(!exit(&mut k, 0, 1).reduce_only);
    open(&mut k, 1, TradeSide::Long, 1.0);
    assert!(
        !exit(&mut k, 1, 1).reduce_only,
        "slot 0's working sell takes the 1 first"
    );
    // B: another slot's entry on the exit's side (a short entry's sell beside a long).
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    rest_entry(&mut k, 1, TradeSide::Short, 105.0);
    assert!(
        !exit(&mut k, 0, 1).reduce_only,
        "the short entry may sell first"
    );
    // An entry on the other side takes nothing: a buy beside a long's sell.
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    rest_entry(&mut k, 1, TradeSide::Long, 95.0);
    assert!(exit(&mut k, 0, 1).reduce_only);
}

#[test]
fn a_plain_exit_of_the_whole_position_is_judged_by_the_minimum_notional() {
    // A reduce-only exit of the whole position is taken below the venue's minimum notional;
    // a plain one is refused there as any order is, so the kernel does not send
    // it: long 0.1 and short 0.1, price down to 40 (4 against a minimum of 5).
    let limits = [
        ("lot_step".to_string(), 0.1),
        ("min_notional".to_string(), 5.0),
    ];
    let mut k = Kernel::new("ro", 2).unwrap();
    k.set_market_limits("BTC", &limits).unwrap();
    open(&mut k, 0, TradeSide::Long, 0.1);
    open(&mut k, 1, TradeSide::Short, 0.1);
    let mut x = long_btc("x0", "", 0, KernelCommandType::Exit, 0.0);
    x.reference_price = 40.0;
    let out = k.process_intent(&x);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::BelowMinNotional,
        "{out:?}"
    );
    // Alone, the same exit reduces, and is taken.
    let mut k = Kernel::new("ro", 1).unwrap();
    k.set_market_limits("BTC", &limits).unwrap();
    open(&mut k, 0, TradeSide::Long, 0.1);
    let out = k.process_intent(&x);
    assert!(
        out.accepted && out.submit.as_ref().expect("sent").reduce_only,
        "{out:?}"
    );
}

#[test]
fn a_whole_exit_leaving_dust_under_a_lot_is_judged_by_the_minimum_quantity() {
    // A long of 1.05 on a lot that became 0.1 goes out as 1.0, the 0.05 under a lot left: it
    // closes the whole position as the venue takes it, so it is taken below the minimum
    // notional (100 against 200), as an exit of exactly 1.0 is.
    let mut k = Kernel::new("ro", 1).unwrap();
    k.set_market_limits("BTC", &[("lot_step".to_string(), 0.01)])
        .unwrap();
    open(&mut k, 0, TradeSide::Long, 1.05);
    let limits = [
        ("lot_step".to_string(), 0.1),
        ("min_notional".to_string(), 200.0),
    ];
    k.set_market_limits("BTC", &limits).unwrap();
    let x = exit(&mut k, 0, 1);
    assert!(x.reduce_only && common::close(x.size, 1.0), "{x:?}");
}

#[test]
fn many_longs_closing_at_once_all_exit_reduce_only() {
    // The usual way to close a book: every exit sent before any fills. Each exit beside the
    // others' working sells is covered by its own position (decided without walking the
    // slots), and the venue's long covers them all.
    let mut k = Kernel::new("ro", 50).unwrap();
    for slot in 0..50 {
        open(&mut k, slot, TradeSide::Long, 1.0 + slot as f64 / 10.0);
    }
    let exits: Vec<VenueOrder> = (0..50).map(|slot| exit(&mut k, slot, 1)).collect();
    assert!(exits
        .iter()
        .all(|x| x.reduce_only && x.side == OrderSide::Sell));
    for (slot, x) in exits.iter().enumerate() {
        fill(&mut k, x, &format!("f-x{slot}"));
    }
    assert_eq!(k.open_positions(), 0);
    // A short opened now is alone again: its exit reduces.
    let mut e = long_btc("e0-2", "t0-2", 0, KernelCommandType::Enter, 1.0);
    e.side = TradeSide::Short;
    let order = k.process_intent(&e).submit.expect("entry sent");
    fill(&mut k, &order, "f-e0-2");
    assert!(exit(&mut k, 0, 2).reduce_only);
}

#[test]
fn a_kernel_from_a_checkpoint_decides_as_the_live_one() {
    // Long 1 beside short 1 (netted flat), and a third slot long alone on ETH.
    let mut k = Kernel::new("ro", 3).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    open(&mut k, 1, TradeSide::Short, 1.0);
    let mut e = long_btc("e2", "t2", 2, KernelCommandType::Enter, 1.0);
    e.asset = id("ETH");
    let order = k.process_intent(&e).submit.expect("entry sent");
    fill(&mut k, &order, "f-e2");
    let mut restored = decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(restored.side_counts_difference(), None);
    for kernel in [&mut k, &mut restored] {
        assert!(!exit(kernel, 0, 1).reduce_only);
        let mut x = long_btc("x2-1", "", 2, KernelCommandType::Exit, 0.0);
        x.asset = id("ETH");
        let out = kernel.process_intent(&x);
        assert!(
            out.submit.as_ref().expect("exit sent").reduce_only,
            "{out:?}"
        );
    }
    // Slots replaced wholesale are counted again too.
    let saved = k.slots().to_vec();
    let mut loaded = Kernel::new("ro", 3).unwrap();
    loaded.replace_slots(saved).unwrap();
    assert_eq!(loaded.side_counts_difference(), None);
}

#[test]
fn a_fill_owed_on_the_exits_side_is_netted_before_it_comes() {
    // Slot 1's short entry ended with the venue saying it filled whole, its
    // fill report still to come. The slot holds nothing yet; the venue holds long 1 less
    // short 1. Slot 0's sell, reduce-only, would be refused there.
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    let short = rest_entry(&mut k, 1, TradeSide::Short, 105.0);
    let ack = VenueEvent::new("a1", KernelEventKind::OrderAck, &short.client_order_id);
    assert!(k.on_venue_event(&ack).accepted);
    let mut end = VenueEvent::new("c1", KernelEventKind::CancelAck, &short.client_order_id);
    end.filled_size = 1.0;
    assert!(k.on_venue_event(&end).accepted);
    assert_eq!(k.slots()[1].size, 0.0);
    assert_eq!(k.side_counts_difference(), None);
    let x = exit(&mut k, 0, 1);
    assert!(!x.reduce_only, "{x:?}");
    // The fill comes: the short is the slot's, and nothing is owed any more.
    fill(&mut k, &short, "f-e1");
    assert_eq!(k.slots()[1].size, 1.0);
    assert_eq!(k.awaited_fill_qty(1), 0.0);
    // Owed on the other side (a buy beside the long's sell) takes nothing.
    let mut k = Kernel::new("ro", 2).unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    let long = rest_entry(&mut k, 1, TradeSide::Long, 95.0);
    let mut end = VenueEvent::new("c1", KernelEventKind::CancelAck, &long.client_order_id);
    end.filled_size = 1.0;
    assert!(k.on_venue_event(&end).accepted);
    assert!(exit(&mut k, 0, 1).reduce_only);
}

/// Runs a hedged book through a kernel: `n` slots long and short of BTC in sizes of 0.1 to
/// 1.2, whose exits are all sent before any fills (each decided beside the others working),
/// then filled; returns each exit's reduce-only. Every step checks the sums the kernel keeps
/// against a count of the slots and orders afresh (`side_counts_difference`).
fn hedged_book_exits(n: i64) -> Vec<bool> {
    let mut k = Kernel::new("hedged", n as usize).unwrap();
    for slot in 0..n {
        let side = if slot % 3 == 1 {
            TradeSide::Short
        } else {
            TradeSide::Long
        };
        open(&mut k, slot, side, 0.1 * (1 + slot % 12) as f64);
    }
    // Every other slot first, then the rest: exits on both sides work at once.
    let order: Vec<i64> = (0..n).step_by(2).chain((1..n).step_by(2)).collect();
    let exits: Vec<VenueOrder> = order.iter().map(|&s| exit(&mut k, s, 1)).collect();
    for (x, s) in exits.iter().zip(&order) {
        fill(&mut k, x, &format!("f-x{s}"));
    }
    assert_eq!(k.open_positions(), 0);
    exits.iter().map(|x| x.reduce_only).collect()
}

#[test]
fn a_hedged_books_exits_are_decided_from_sums_that_match_a_count_afresh() {
    // The kernel keeps the net and what works on each side as exact sums (no walk of the
    // slots an exit); they match a count afresh at every step.
    let summed = hedged_book_exits(120);
    // Both answers occur: the check is not of a book where every exit reduces.
    assert!(
        summed.contains(&true) && summed.contains(&false),
        "{summed:?}"
    );
}

/// Fills `size` of `order` at 100, stating no running total.
fn fill_no_total(k: &mut Kernel, order: &VenueOrder, size: f64, event_id: &str) {
    common::fill_at_100(k, order, size, 0.0, event_id);
}

/// A kernel whose slot 0 was loaded holding dust (5e-10 BTC, below `QTY_EPS`) beside its
/// working entry, which then ends unfilled: the slot turns FLAT after it was counted.
fn dusty_kernel() -> Kernel {
    let mut k = Kernel::new("dust", 3).unwrap();
    let mut e = long_btc("r0", "t0", 0, KernelCommandType::Enter, 1.0);
    e.order_type = OrderType::Limit;
    e.limit_price = 95.0;
    let entry = k.process_intent(&e).submit.expect("entry sent");
    let ack = VenueEvent::new("a0", KernelEventKind::OrderAck, &entry.client_order_id);
    assert!(k.on_venue_event(&ack).accepted);
    let mut slots = k.slots().to_vec();
    slots[0].size = 5e-10;
    slots[0].initial_size = 5e-10;
    slots[0].entry_price = 95.0;
    let mut loaded = Kernel::new("dust", 3).unwrap();
    loaded.replace_slots(slots).expect("loaded");
    assert_eq!(loaded.side_counts_difference(), None, "after the load");
    let end = VenueEvent::new("c0", KernelEventKind::CancelAck, &entry.client_order_id);
    assert!(loaded.on_venue_event(&end).accepted);
    loaded
}

#[test]
fn dust_left_in_a_slot_counts_in_no_net_and_a_decoded_kernel_decides_as_the_live_one() {
    // Dust counted in the net would stay there once the slot turns FLAT, and a kernel decoded
    // from a checkpoint, counting afresh, would send the next exit otherwise.
    let mut live = dusty_kernel();
    assert_eq!(live.side_counts_difference(), None, "after the entry's end");
    open(&mut live, 1, TradeSide::Long, 1.0);
    open(&mut live, 2, TradeSide::Short, 1.2e-9);
    let mut decoded = decode_kernel(&encode_kernel(&live)).unwrap();
    let (a, b) = (exit(&mut live, 1, 1), exit(&mut decoded, 1, 1));
    assert_eq!(a.reduce_only, b.reduce_only);
    // The venue nets 1 - 1.2e-9: short of the exit by more than its tolerance.
    assert!(!a.reduce_only, "{a:?}");
}

#[test]
fn dust_in_free_slots_is_netted_not_at_all() {
    let mut k = Kernel::new("dust", 3).unwrap();
    open(&mut k, 2, TradeSide::Long, 1.0);
    let mut slots = k.slots().to_vec();
    for s in &mut slots[..2] {
        s.asset = id("BTC");
        s.side = TradeSide::Long;
        s.size = 9e-10;
        s.initial_size = 9e-10;
    }
    let mut loaded = Kernel::new("dust", 3).unwrap();
    loaded.replace_slots(slots).expect("loaded");
    assert_eq!(loaded.side_counts_difference(), None);
}

#[test]
fn a_slot_moving_to_another_asset_leaves_the_first_assets_sums() {
    let mut k = Kernel::new("move", 3).unwrap();
    open(&mut k, 0, TradeSide::Short, 1.0);
    open(&mut k, 1, TradeSide::Long, 1.0);
    let x = exit(&mut k, 0, 1);
    assert!(!x.reduce_only, "the venue nets the two: it holds nothing");
    fill_no_total(&mut k, &x, 1.0, "f-x0");
    assert_eq!(k.side_counts_difference(), None);
    let mut e = long_btc("e0b", "t0b", 0, KernelCommandType::Enter, 2.0);
    e.asset = id("ETH");
    e.side = TradeSide::Short;
    let o = k.process_intent(&e).submit.expect("sent");
    assert_eq!(k.side_counts_difference(), None, "after the ETH entry");
    fill_no_total(&mut k, &o, 2.0, "f-e0b");
    assert_eq!(k.side_counts_difference(), None, "after the ETH fill");
    assert!(
        exit(&mut k, 1, 1).reduce_only,
        "the BTC long is alone on BTC"
    );
}

#[test]
fn an_exit_completing_within_its_tolerance_leaves_no_remainder_counted() {
    // Filled 5e-10 short of its size, off the lot grid so not snapped: complete, and what it
    // had left counted off with it.
    let mut k = Kernel::new("rest", 3).unwrap();
    k.set_market_limits("BTC", &[("lot_step".to_string(), 1e-10)])
        .unwrap();
    open(&mut k, 0, TradeSide::Long, 1.0);
    open(&mut k, 1, TradeSide::Short, 0.5);
    let x = exit(&mut k, 0, 1);
    fill_no_total(&mut k, &x, 1.0 - 5e-10, "f-x0");
    assert!(k.slots()[0].active_exit_order.is_none());
    assert_eq!(k.side_counts_difference(), None);
}
