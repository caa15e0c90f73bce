//! A venue's figures rounded to its own precision (1000.0000009 for 1000): within 1e-9 of the
//! order's size while under half the asset's lot, a figure is the kernel's own, in every place
//! a venue's figure meets what is booked: the end's filled size, the slot's wait for it, a fill
//! said FILLED with what the rounding left stated as remaining, and a running total that says
//! the venue ended the order short. A whole lot is what the venue did
//! (`orders_of_a_billion_lots.rs`).

use dita_kernel::*;

/// A kernel trading "AAA" with no lot set, or on `lot`.
fn kernel(lot: Option<f64>) -> Kernel {
    let mut k = Kernel::new("rounds", 1).unwrap();
    if let Some(lot) = lot {
        k.set_market_limits("AAA", &[("lot_step".into(), lot)])
            .unwrap();
    }
    k
}

fn intent(intent_id: &str, action: KernelCommandType, size: f64) -> Intent {
    Intent::new(
        intent_id,
        "t0",
        0,
        "AAA",
        TradeSide::Long,
        action,
        1.0,
        size,
    )
}

/// The order an ENTER of `size` sends.
fn entered(k: &mut Kernel, size: f64) -> VenueOrder {
    let out = k.process_intent(&intent("e0", KernelCommandType::Enter, size));
    out.submit.clone().unwrap_or_else(|| panic!("{out:?}"))
}

/// Fill `event_id` of `order` of `size`, the running total after it `total`, saying `status`
/// and `remaining`.
fn fill(
    order: &VenueOrder,
    event_id: &str,
    (size, total): (f64, f64),
    status: VenueOrderStatus,
    remaining: f64,
) -> VenueEvent {
    let mut f = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    (f.price, f.size, f.filled_size, f.timestamp) = (1.0, size, total, 1_001.0);
    f.fill_id = id(&format!("T-{event_id}"));
    (f.status, f.remaining_size) = (status, remaining);
    f
}

fn accepted(k: &mut Kernel, ev: &VenueEvent) -> KernelOutcome {
    let out = k.on_venue_event(ev);
    assert!(out.accepted, "{:?} {:?}", out.diagnostic_code, out.details);
    out
}

/// An order of 3000 part filled 2000, canceled, the cancel's answer stating `figure` filled.
fn canceled_at(k: &mut Kernel, figure: f64) -> VenueOrder {
    let order = entered(k, 3000.0);
    let part = (2000.0, 2000.0);
    accepted(
        k,
        &fill(
            &order,
            "f1",
            part,
            VenueOrderStatus::PartiallyFilled,
            1000.0,
        ),
    );
    let cancel = k.process_intent(&intent("c0", KernelCommandType::Cancel, 0.0));
    assert!(cancel.accepted, "{cancel:?}");
    let mut ack = VenueEvent::new("ca", KernelEventKind::CancelAck, &order.client_order_id);
    ack.filled_size = figure;
    accepted(k, &ack);
    order
}

#[test]
fn a_cancel_figure_off_by_the_venues_rounding_leaves_nothing_owed() {
    let mut k = kernel(None);
    canceled_at(&mut k, 2000.0000009);
    assert_eq!(k.awaited_fill_qty(0), 0.0);
    let exit = k.process_intent(&intent("x0", KernelCommandType::Exit, 0.0));
    assert!(exit.accepted, "{exit:?}");
}

#[test]
fn a_cancel_figure_a_lot_past_what_is_booked_is_owed_on_a_fine_lot() {
    // On a lot of 1e-8 the same 9e-7 is 90 lots: a fill to wait for.
    let mut k = kernel(Some(1e-8));
    canceled_at(&mut k, 2000.0000009);
    assert!(k.awaited_fill_qty(0) > 8e-7, "{}", k.awaited_fill_qty(0));
}

#[test]
fn a_fill_said_filled_with_the_venues_rounding_remaining_completes_its_order() {
    // What venues/_events.py states as remaining: the order's size less the rounded total.
    let mut k = kernel(None);
    let order = entered(&mut k, 1000.0);
    let filled = VenueOrderStatus::Filled;
    let rounded = (999.9999991, 999.9999991);
    accepted(
        &mut k,
        &fill(&order, "f1", rounded, filled, 1000.0 - 999.9999991),
    );
    let slot = k.slot(0).unwrap();
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert_eq!(slot.size, 1000.0);
}

#[test]
fn a_fill_said_partially_filled_with_the_venues_rounding_remaining_keeps_working() {
    // The venue says it still works the order: what it states remaining is a fill to come.
    let mut k = kernel(None);
    let order = entered(&mut k, 1000.0);
    let part = VenueOrderStatus::PartiallyFilled;
    let rounded = (999.9999991, 999.9999991);
    accepted(
        &mut k,
        &fill(&order, "f1", rounded, part, 1000.0 - 999.9999991),
    );
    assert_eq!(k.slot(0).unwrap().fsm_state, TradeStage::EntryWorking);
}

#[test]
fn a_fill_said_filled_short_with_a_rounded_running_total_ends_its_order_short() {
    let mut k = kernel(None);
    let order = entered(&mut k, 3000.0);
    let part = VenueOrderStatus::PartiallyFilled;
    accepted(&mut k, &fill(&order, "f1", (1000.0, 1000.0), part, 2000.0));
    let last = (1000.0, 2000.0000009);
    let out = accepted(
        &mut k,
        &fill(&order, "f2", last, VenueOrderStatus::Filled, 0.0),
    );
    assert!(out.details.contains(&("ended_short", Detail::Bool(true))));
    let slot = k.slot(0).unwrap();
    assert_eq!(slot.fsm_state, TradeStage::PositionOpen);
    assert_eq!(slot.size, 2000.0);
    assert_eq!(k.awaited_fill_qty(0), 0.0);
}
