//! Orders of a billion units and more on a lot of 1 (a meme coin: 1e9 units of PEPE are about
//! $10k). The completion tolerance, 1e-9 of the order's size, is a whole lot there: a fill a
//! lot short leaves a lot the venue still works, whose fill must be booked when it comes, and
//! what the venue's reports covered is told apart by the float error of their running totals,
//! not by that tolerance, so a fill is neither lost nor booked twice.

use dita_kernel::*;

const SIZE: f64 = 1e9;

fn kernel(lot: Option<f64>) -> Kernel {
    let mut k = Kernel::new("lots", 1).unwrap();
    if let Some(lot) = lot {
        k.set_market_limits("PEPE", &[("lot_step".into(), lot)])
            .unwrap();
    }
    k
}

fn pepe(intent_id: &str, action: KernelCommandType, size: f64) -> Intent {
    Intent::new(
        intent_id,
        "t0",
        0,
        "PEPE",
        TradeSide::Long,
        action,
        1e-5,
        size,
    )
}

/// The order an ENTER of `size` sends.
fn entered(k: &mut Kernel, size: f64) -> VenueOrder {
    let out = k.process_intent(&pepe("e0", KernelCommandType::Enter, size));
    out.submit.clone().unwrap_or_else(|| panic!("{out:?}"))
}

/// Fill `event_id` of `order` of `size`, the running total after it `total`, as the venue
/// states it: PARTIALLY_FILLED with what remains, or FILLED once the total reaches the size.
fn fill(order: &VenueOrder, event_id: &str, size: f64, total: f64) -> VenueEvent {
    let mut f = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    (f.price, f.size, f.filled_size, f.timestamp) = (1e-5, size, total, 1_001.0);
    f.fill_id = id(&format!("T-{event_id}"));
    if total < order.size {
        f.status = VenueOrderStatus::PartiallyFilled;
        f.remaining_size = order.size - total;
    }
    f
}

fn accepted(k: &mut Kernel, ev: &VenueEvent) {
    let out = k.on_venue_event(ev);
    assert!(out.accepted, "{:?} {:?}", out.diagnostic_code, out.details);
}

#[test]
fn an_entry_filled_a_lot_short_keeps_working_until_its_last_lot_fills() {
    let mut k = kernel(Some(1.0));
    let order = entered(&mut k, SIZE);
    accepted(&mut k, &fill(&order, "f1", SIZE - 1.0, SIZE - 1.0));
    assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::EntryWorking);
    accepted(&mut k, &fill(&order, "f2", 1.0, SIZE));
    let slot = k.slot(0).unwrap();
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert_eq!(slot.size, SIZE);
}

#[test]
fn an_exit_filled_a_lot_short_keeps_working_until_its_last_lot_fills() {
    let mut k = kernel(Some(1.0));
    let order = entered(&mut k, SIZE);
    accepted(&mut k, &fill(&order, "f1", SIZE, SIZE));
    let out = k.process_intent(&pepe("x0", KernelCommandType::Exit, 0.0));
    let exit = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    accepted(&mut k, &fill(&exit, "x1", SIZE - 1.0, SIZE - 1.0));
    let slot = k.slot(0).unwrap();
    assert!(slot.active_exit_order.is_some(), "{:?}", slot.fsm_state);
    assert_eq!(slot.size, 1.0);
    accepted(&mut k, &fill(&exit, "x2", 1.0, SIZE));
    assert_eq!(k.slot(0).unwrap().size, 0.0);
}

#[test]
fn a_fill_a_lot_short_the_venue_says_ended_the_order_ends_it_short() {
    let mut k = kernel(Some(1.0));
    let order = entered(&mut k, SIZE);
    let mut over = fill(&order, "f1", SIZE - 1.0, SIZE - 1.0);
    (over.status, over.remaining_size) = (VenueOrderStatus::Filled, 0.0);
    let out = k.on_venue_event(&over);
    assert!(out.accepted, "{:?}", out.details);
    assert!(out.details.contains(&("ended_short", Detail::Bool(true))));
    let slot = k.slot(0).unwrap();
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert_eq!(slot.size, SIZE - 1.0);
}

#[test]
fn a_fill_a_unit_short_with_one_remaining_is_booked_as_reported_without_a_lot() {
    // No lot set: what the venue states remaining tells a unit it still works from float noise.
    let mut k = kernel(None);
    let order = entered(&mut k, SIZE);
    accepted(&mut k, &fill(&order, "f1", SIZE - 1.0, SIZE - 1.0));
    let slot = k.slot(0).unwrap();
    assert_eq!(slot.size, SIZE - 1.0);
    assert_eq!(slot.fsm_state, TradeStage::EntryWorking);
}

#[test]
fn a_fill_without_a_status_a_lot_short_reads_partially_filled() {
    let mut k = kernel(Some(1.0));
    let order = entered(&mut k, SIZE);
    let mut f = fill(&order, "f1", SIZE - 1.0, SIZE - 1.0);
    f.remaining_size = 0.0;
    assert_eq!(
        k.fill_status_by_sizes(&f),
        VenueOrderStatus::PartiallyFilled
    );
    let mut noise = fill(&order, "f1", SIZE - 0.25, SIZE - 0.25);
    noise.remaining_size = 0.0;
    assert_eq!(k.fill_status_by_sizes(&noise), VenueOrderStatus::Filled);
}

#[test]
fn a_fill_a_total_only_report_counted_is_not_booked_again() {
    // The fill (5e9 - 5, 5e9] lies inside what the total-only report booked.
    let mut k = kernel(Some(1.0));
    let order = entered(&mut k, 10.0 * SIZE);
    let total = 5.0 * SIZE + 100.0;
    accepted(&mut k, &fill(&order, "t", 0.0, total));
    assert_eq!(k.slot(0).unwrap().size, total);
    let before = k.slot(0).unwrap().clone();
    let again = k.on_venue_event(&fill(&order, "f1", 5.0, 5.0 * SIZE));
    assert!(!again.accepted, "booked again: {}", k.slot(0).unwrap().size);
    assert_eq!(again.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(k.slot(0).unwrap(), &before);
}

#[test]
fn a_one_lot_gap_between_two_reports_is_booked_when_its_report_comes() {
    // Reports (0, 1e9 - 1] and (1e9, 2e9] leave the fill (1e9 - 1, 1e9] to come, out of order.
    let mut k = kernel(Some(1.0));
    let order = entered(&mut k, 3.0 * SIZE);
    accepted(&mut k, &fill(&order, "a", SIZE - 1.0, SIZE - 1.0));
    accepted(&mut k, &fill(&order, "c", SIZE, 2.0 * SIZE));
    assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::EntryWorking);
    accepted(&mut k, &fill(&order, "b", 1.0, SIZE));
    assert_eq!(k.slot(0).unwrap().size, 2.0 * SIZE);
}

#[test]
fn fills_of_a_lot_of_a_hundred_millionth_complete_their_order() {
    // The other end: 1e-8 BTC lots, fills adding up to the order's size within float error.
    let mut k = Kernel::new("sats", 1).unwrap();
    k.set_market_limits("PEPE", &[("lot_step".into(), 1e-8)])
        .unwrap();
    let order = entered(&mut k, 0.003);
    accepted(&mut k, &fill(&order, "f1", 0.001, 0.001));
    accepted(&mut k, &fill(&order, "f2", 0.001, 0.001 + 0.001));
    assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::EntryWorking);
    accepted(&mut k, &fill(&order, "f3", 0.001, 0.001 + 0.001 + 0.001));
    let slot = k.slot(0).unwrap();
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert_eq!(slot.size, 0.003);
}

#[test]
fn an_order_canceled_a_lot_past_what_is_booked_waits_for_that_lot() {
    // The cancel's answer says 1e9 - 1 filled, a lot more than booked: that fill is to come.
    let mut k = kernel(Some(1.0));
    let order = entered(&mut k, SIZE);
    accepted(&mut k, &fill(&order, "f1", SIZE - 2.0, SIZE - 2.0));
    let cancel = k.process_intent(&pepe("c0", KernelCommandType::Cancel, 0.0));
    assert!(cancel.accepted, "{cancel:?}");
    let mut ack = VenueEvent::new("ca", KernelEventKind::CancelAck, &order.client_order_id);
    ack.filled_size = SIZE - 1.0;
    accepted(&mut k, &ack);
    assert_eq!(k.awaited_fill_qty(0), 1.0);
    accepted(&mut k, &fill(&order, "f2", 1.0, SIZE - 1.0));
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    assert_eq!(k.slot(0).unwrap().size, SIZE - 1.0);
}
