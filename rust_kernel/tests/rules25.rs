//! An exit's reduce-only is decided from sums the kernel keeps per asset as slots and kept
//! orders change, in whole units of 1e-15 of a size (exact, so a kernel decoded from a
//! checkpoint sums as the live one does). These are the cases where the sums and a count of
//! the slots afresh (or a live kernel and one decoded from its checkpoint) could part: dust
//! positions, a slot moving to another asset, and an exit completing within its tolerance.

use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
use dita_kernel::*;

mod common;
use common::{exit_whole as exit, fill_at_100, long_btc, open_btc as open};

/// Fills `size` of `order` at 100, stating no running total.
fn fill(k: &mut Kernel, order: &VenueOrder, size: f64, event_id: &str) {
    fill_at_100(k, order, size, 0.0, event_id);
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
    fill(&mut k, &x, 1.0, "f-x0");
    assert_eq!(k.side_counts_difference(), None);
    let mut e = long_btc("e0b", "t0b", 0, KernelCommandType::Enter, 2.0);
    e.asset = id("ETH");
    e.side = TradeSide::Short;
    let o = k.process_intent(&e).submit.expect("sent");
    assert_eq!(k.side_counts_difference(), None, "after the ETH entry");
    fill(&mut k, &o, 2.0, "f-e0b");
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
    fill(&mut k, &x, 1.0 - 5e-10, "f-x0");
    assert!(k.slots()[0].active_exit_order.is_none());
    assert_eq!(k.side_counts_difference(), None);
}
