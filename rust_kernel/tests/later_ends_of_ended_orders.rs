//! The venue's end of an order that already ended, come again (an order-status poll, a
//! redelivered event). An order ended without the venue's figure (filled size 0, "cannot say")
//! takes the figure from it when it states more filled than is booked: the slot waits for the
//! rest (WARNING, `unreported_qty`), and the order is no longer one ended without a figure. One
//! contradicting the figure an earlier end gave changes nothing (CRITICAL). One stating what
//! is booked or less is a late event (INFO), as before.

use dita_kernel::kernel::KernelInput;
use dita_kernel::*;

mod common;
use common::{ack, close, detail, exit_whole, fill, long_btc, open_log, well_formed_details};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};

/// The venue's end of `kind` of `order` under `event_id`, stating `filled` (0: none).
fn end(order: &VenueOrder, event_id: &str, kind: KernelEventKind, filled: f64) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, kind, &order.client_order_id);
    e.venue_order_id = id(&format!("v-{}", order.client_order_id));
    (e.filled_size, e.size, e.timestamp) = (filled, order.size, 1_002.0);
    e
}

/// The inputs that leave slot 0's entry of 1 BTC filled 0.5 and canceled, the cancel ack
/// stating `first_figure` (0: none); the entry is the first input's submit.
fn half_filled_then_canceled(k: &mut Kernel, first_figure: f64) -> (VenueOrder, Vec<KernelInput>) {
    let enter = long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0);
    let order = k.process_intent(&enter).submit.expect("entry sent");
    let half = fill(
        &order,
        "f1",
        0.5,
        0.5,
        VenueOrderStatus::PartiallyFilled,
        0.5,
    );
    let cancel = long_btc("c0", "", 0, KernelCommandType::Cancel, 0.0);
    let canceled = end(&order, "x1", KernelEventKind::CancelAck, first_figure);
    let rest = vec![
        KernelInput::VenueEvent(ack(&order, 0.0)),
        KernelInput::VenueEvent(half),
        KernelInput::Intent(cancel),
        KernelInput::VenueEvent(canceled),
    ];
    for input in &rest {
        let out = k.apply(input).unwrap();
        assert!(out.accepted, "{out:?}");
    }
    let mut inputs = vec![KernelInput::Intent(enter)];
    inputs.extend(rest);
    assert!(close(k.slots()[0].size, 0.5));
    (order, inputs)
}

fn ended_without_figure(k: &Kernel) -> Vec<Id> {
    let orders = k.orders_ended_without_figure();
    orders.iter().map(|o| o.client_order_id.clone()).collect()
}

#[test]
fn an_end_stating_more_filled_after_one_without_a_figure_gives_the_figure() {
    for kind in [
        KernelEventKind::Expired,
        KernelEventKind::CancelAck,
        KernelEventKind::Reject,
    ] {
        let mut k = Kernel::new("late-end", 1).unwrap();
        let (order, _) = half_filled_then_canceled(&mut k, 0.0);
        assert_eq!(
            ended_without_figure(&k),
            std::slice::from_ref(&order.client_order_id)
        );
        let out = well_formed_details(k.on_venue_event(&end(&order, "x2", kind, 0.8)));
        assert!(out.accepted, "{kind:?}: {out:?}");
        assert_eq!(out.severity, KernelSeverity::Warning);
        let unreported = detail(&out, "unreported_qty");
        assert!(
            matches!(unreported, Some(Detail::F64(q)) if close(q, 0.3)),
            "{out:?}"
        );
        assert_eq!(detail(&out, "venue_filled_size"), Some(Detail::F64(0.8)));
        assert!(close(k.awaited_fill_qty(0), 0.3));
        assert!(ended_without_figure(&k).is_empty());
        // The fill that raced the cancel is booked when it comes, and settles the wait.
        let raced = fill(
            &order,
            "f2",
            0.3,
            0.8,
            VenueOrderStatus::PartiallyFilled,
            0.2,
        );
        let out = k.on_venue_event(&raced);
        assert!(out.accepted, "{out:?}");
        assert!(close(k.slots()[0].size, 0.8));
        assert_eq!(k.awaited_fill_qty(0), 0.0);
        // The figure bounds what may still fill.
        let past = fill(
            &order,
            "f3",
            0.1,
            0.9,
            VenueOrderStatus::PartiallyFilled,
            0.1,
        );
        let out = k.on_venue_event(&past);
        assert_eq!(
            out.diagnostic_code,
            KernelDiagnosticCode::Overfill,
            "{out:?}"
        );
    }
}

#[test]
fn an_entry_canceled_unfilled_whose_end_again_states_a_fill_keeps_its_slot_from_new_trades() {
    let mut k = Kernel::new("late-end", 1).unwrap();
    let enter = long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0);
    let order = k.process_intent(&enter).submit.expect("entry sent");
    assert!(k.on_venue_event(&ack(&order, 0.0)).accepted);
    let cancel = long_btc("c0", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let canceled = end(&order, "x1", KernelEventKind::CancelAck, 0.0);
    assert!(k.on_venue_event(&canceled).accepted);
    assert_eq!(k.free_slot(), Some(0));
    let out = k.on_venue_event(&end(&order, "x2", KernelEventKind::Expired, 0.4));
    assert!(
        out.accepted && out.severity == KernelSeverity::Warning,
        "{out:?}"
    );
    assert!(close(k.awaited_fill_qty(0), 0.4));
    assert_eq!(k.free_slot(), None);
    let again = long_btc("e1", "t1", 0, KernelCommandType::Enter, 1.0);
    let busy = k.process_intent(&again);
    assert_eq!(
        busy.diagnostic_code,
        KernelDiagnosticCode::SlotBusy,
        "{busy:?}"
    );
}

#[test]
fn an_end_contradicting_the_figure_an_earlier_end_gave_changes_nothing() {
    for first in [0.5, 0.6] {
        let mut k = Kernel::new("late-end", 1).unwrap();
        let (order, _) = half_filled_then_canceled(&mut k, first);
        let (slots, awaited) = (k.slots().to_vec(), k.awaited_fill_qty(0));
        let out = well_formed_details(k.on_venue_event(&end(
            &order,
            "x2",
            KernelEventKind::Expired,
            0.8,
        )));
        assert!(!out.accepted);
        assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
        assert_eq!(detail(&out, "venue_filled_size"), Some(Detail::F64(0.8)));
        let earlier = detail(&out, "previous_final_filled_size");
        assert_eq!(earlier, Some(Detail::F64(first)), "{out:?}");
        assert_eq!(k.slots(), slots.as_slice());
        assert_eq!(k.awaited_fill_qty(0), awaited);
        assert!(ended_without_figure(&k).is_empty());
    }
}

#[test]
fn an_end_again_stating_what_is_booked_or_less_is_a_late_event_at_info() {
    let mut k = Kernel::new("late-end", 1).unwrap();
    let (order, _) = half_filled_then_canceled(&mut k, 0.0);
    for (n, figure) in [0.0, 0.3, 0.5].into_iter().enumerate() {
        let again = end(&order, &format!("y{n}"), KernelEventKind::Expired, figure);
        let out = k.on_venue_event(&again);
        assert!(!out.accepted);
        assert_eq!(out.severity, KernelSeverity::Info, "{out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidTransition);
        assert_eq!(
            ended_without_figure(&k),
            std::slice::from_ref(&order.client_order_id)
        );
    }
    // Once the figure is taken, the same figure again (a redelivery) is a late event too.
    let taken = k.on_venue_event(&end(&order, "x2", KernelEventKind::Expired, 0.8));
    assert!(taken.accepted, "{taken:?}");
    let again = k.on_venue_event(&end(&order, "x3", KernelEventKind::CancelAck, 0.8));
    assert_eq!(again.severity, KernelSeverity::Info, "{again:?}");
    assert!(close(k.awaited_fill_qty(0), 0.3));
}

#[test]
fn a_log_of_an_end_giving_the_figure_late_recovers_as_it_ran() {
    for checkpoint_every in [0, 3] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut k) = open_log(dir.path(), "log", checkpoint_every);
        let (order, inputs) = half_filled_then_canceled(&mut Kernel::new("log", 1).unwrap(), 0.0);
        for input in inputs {
            let out = k.apply(&input).unwrap();
            assert!(out.accepted, "{out:?}");
            log.record(&k, &input).unwrap();
        }
        let late = KernelInput::VenueEvent(end(&order, "x2", KernelEventKind::Expired, 0.8));
        assert!(k.apply(&late).unwrap().accepted);
        log.record(&k, &late).unwrap();
        drop(log);
        let (_, recovered) = open_log(dir.path(), "log", checkpoint_every);
        assert_eq!(recovered.seq(), k.seq());
        assert_eq!(recovered.slots(), k.slots());
        assert!(close(recovered.awaited_fill_qty(0), 0.3));
        assert!(ended_without_figure(&recovered).is_empty());
        let awaited: Vec<_> = recovered.awaited_orders().into_iter().cloned().collect();
        let ran: Vec<_> = k.awaited_orders().into_iter().cloned().collect();
        assert_eq!(awaited, ran);
    }
}

/// Slot 0 long 1 BTC; its first exit filled 0.5 and canceled, the cancel ack stating no
/// figure; a second exit for `second_size` of the 0.5 left acknowledged. Returns the two exits.
fn exit_half_canceled_then_second_exit(
    k: &mut Kernel,
    second_size: f64,
) -> (VenueOrder, VenueOrder) {
    let enter = long_btc("e0", "t0", 0, KernelCommandType::Enter, 1.0);
    let entry = k.process_intent(&enter).submit.expect("entry sent");
    let all = fill(&entry, "f0", 1.0, 1.0, VenueOrderStatus::Filled, 0.0);
    assert!(k.on_venue_event(&all).accepted);
    let first = exit_whole(k, 0, 1);
    assert!(k.on_venue_event(&ack(&first, 0.0)).accepted);
    let half = fill(
        &first,
        "f1",
        0.5,
        0.5,
        VenueOrderStatus::PartiallyFilled,
        0.5,
    );
    assert!(k.on_venue_event(&half).accepted);
    let cancel = long_btc("c0", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let canceled = end(&first, "x1", KernelEventKind::CancelAck, 0.0);
    assert!(k.on_venue_event(&canceled).accepted);
    assert!(close(k.slots()[0].size, 0.5));
    let exit = long_btc("x0-2", "", 0, KernelCommandType::Exit, second_size);
    let second = k.process_intent(&exit).submit.expect("exit sent");
    assert!(close(second.size, second_size));
    assert!(k.on_venue_event(&ack(&second, 0.0)).accepted);
    (first, second)
}

#[test]
fn an_exits_late_figure_asks_a_second_exit_working_beyond_the_position_to_cancel() {
    let mut k = Kernel::new("late-end", 1).unwrap();
    let (first, second) = exit_half_canceled_then_second_exit(&mut k, 0.5);
    // The venue sold 0.8 of the 1.0 on the first exit: 0.2 is held, the second works for 0.5.
    let out = k.on_venue_event(&end(&first, "x2", KernelEventKind::Expired, 0.8));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.awaited_fill_qty(0), 0.3));
    let asked: Vec<_> = out.cancels.iter().map(|o| &o.client_order_id).collect();
    assert_eq!(asked, [&second.client_order_id], "{out:?}");
}

#[test]
fn an_exits_late_figure_leaves_a_second_exit_the_position_covers() {
    let mut k = Kernel::new("late-end", 1).unwrap();
    let (first, _) = exit_half_canceled_then_second_exit(&mut k, 0.2);
    // 0.2 is held once the first exit's 0.3 comes: the second exit sells no more than that.
    let out = k.on_venue_event(&end(&first, "x2", KernelEventKind::Expired, 0.8));
    assert!(out.accepted, "{out:?}");
    assert!(out.cancels.is_empty(), "{out:?}");
}

/// `half_filled_then_canceled` without a figure, then slot 0 loaded holding `loaded` BTC (what
/// the operator sees the venue hold).
fn entry_loaded_at(k: &mut Kernel, loaded: f64) -> VenueOrder {
    let (order, _) = half_filled_then_canceled(k, 0.0);
    let mut slots = k.slots().to_vec();
    (slots[0].size, slots[0].initial_size) = (loaded, loaded);
    let out = k.apply(&KernelInput::replace_slots(slots)).unwrap();
    assert!(out.accepted, "{out:?}");
    assert!(close(k.slots()[0].size, loaded));
    order
}

#[test]
fn an_end_again_up_to_the_size_a_load_set_is_a_late_event_at_info() {
    let mut k = Kernel::new("late-end", 1).unwrap();
    let order = entry_loaded_at(&mut k, 0.8);
    for (n, figure) in [0.5, 0.8].into_iter().enumerate() {
        let again = end(&order, &format!("y{n}"), KernelEventKind::Expired, figure);
        let out = k.on_venue_event(&again);
        assert!(!out.accepted);
        assert_eq!(out.severity, KernelSeverity::Info, "{out:?}");
        assert_eq!(detail(&out, "previous_final_filled_size"), None, "{out:?}");
        assert_eq!(k.awaited_fill_qty(0), 0.0);
    }
    // The same through a checkpoint: the figure is still one a load made up.
    let mut back = decode_kernel(&encode_kernel(&k)).expect("a checkpoint decodes");
    let out = back.on_venue_event(&end(&order, "y9", KernelEventKind::Expired, 0.8));
    assert_eq!(out.severity, KernelSeverity::Info, "{out:?}");
}

#[test]
fn an_end_again_above_the_size_a_load_set_gives_the_first_figure() {
    let mut k = Kernel::new("late-end", 1).unwrap();
    let order = entry_loaded_at(&mut k, 0.8);
    let out =
        well_formed_details(k.on_venue_event(&end(&order, "y0", KernelEventKind::Expired, 0.9)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(detail(&out, "previous_final_filled_size"), None, "{out:?}");
    // The load counted 0.8: the slot waits for the 0.1 beyond it.
    assert!(
        close(k.awaited_fill_qty(0), 0.1),
        "{}",
        k.awaited_fill_qty(0)
    );
    // Once the venue gave its figure, another one contradicts it.
    let out = k.on_venue_event(&end(&order, "y1", KernelEventKind::Expired, 1.0));
    assert_eq!(out.severity, KernelSeverity::Critical, "{out:?}");
}
