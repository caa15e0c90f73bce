//! `reconcile_from_slots` keeps what exits took of each loaded slot's leg (`leg_taken`), and its
//! record carries it.

use dita_kernel::kernel::{KernelInput, LegTail};
use dita_kernel::*;

mod common;
use common::{close, long_btc, open_log};

fn intent(n: u32, action: KernelCommandType, size: f64) -> Intent {
    long_btc(&format!("i{n}"), "t", 0, action, size)
}

fn event(order: &VenueOrder, kind: KernelEventKind, event_id: &str, filled: f64) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, kind, &order.client_order_id);
    e.filled_size = filled;
    if kind == KernelEventKind::Fill {
        (e.price, e.size) = (100.0, filled);
        // A fill stating FILLED short of its order's size would end the order.
        if filled < order.size {
            e.status = VenueOrderStatus::PartiallyFilled;
        }
    }
    e
}

/// Applies `input` to `k`, which must take it.
fn apply(k: &mut Kernel, input: &KernelInput) -> KernelOutcome {
    let out = k.apply(input).unwrap();
    assert!(out.accepted, "{out:?}");
    out
}

/// A kernel whose slot holds 0.8 BTC of 1, its first leg exit (legs of 0.5 and 0.5) having
/// filled 0.2 and expired: 0.2 taken of the leg.
fn part_leg() -> Kernel {
    let mut k = Kernel::new("legs", 1).unwrap();
    let mut enter = intent(1, KernelCommandType::Enter, 1.0);
    enter.exit_leg_ratios = vec![0.5, 0.5];
    let order = apply(&mut k, &KernelInput::Intent(enter)).submit.unwrap();
    let filled = event(&order, KernelEventKind::Fill, "e1", 1.0);
    apply(&mut k, &KernelInput::VenueEvent(filled));
    let exit = intent(2, KernelCommandType::Exit, 0.0);
    let exit = apply(&mut k, &KernelInput::Intent(exit)).submit.unwrap();
    assert_eq!(exit.size, 0.5);
    for (kind, id) in [
        (KernelEventKind::Fill, "f2"),
        (KernelEventKind::Expired, "x2"),
    ] {
        apply(
            &mut k,
            &KernelInput::VenueEvent(event(&exit, kind, id, 0.2)),
        );
    }
    assert_eq!(k.slots()[0].leg_taken, 0.2);
    k
}

/// The size the next leg exit on `k` sends.
fn next_leg_exit(k: &mut Kernel) -> f64 {
    let out = k.process_intent(&intent(9, KernelCommandType::Exit, 0.0));
    assert!(out.accepted, "{out:?}");
    out.submit.unwrap().size
}

#[test]
fn a_loaded_slot_keeps_what_exits_took_of_its_leg() {
    let saved = part_leg().slots().to_vec();
    // Another kernel (a restart without the log) loads the saved slots.
    let mut k = Kernel::new("legs-2", 1).unwrap();
    apply(&mut k, &KernelInput::replace_slots(saved.clone()));
    assert_eq!(k.slots(), &saved[..]);
    // The rest of the leg, 0.3: the whole share again (0.5) would take 0.7 for the leg.
    assert!(close(next_leg_exit(&mut k), 0.3));
}

#[test]
fn a_replace_records_legs_survive_the_log_and_its_checkpoints() {
    let saved = part_leg().slots().to_vec();
    for checkpoint_every in [0, 1] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut k) = open_log(dir.path(), "legs-2", checkpoint_every);
        let input = KernelInput::replace_slots(saved.clone());
        apply(&mut k, &input);
        log.record(&k, &input).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, mut back) = open_log(dir.path(), "legs-2", 0);
        assert_eq!(
            back.slots(),
            k.slots(),
            "checkpoint every {checkpoint_every}"
        );
        assert!(close(next_leg_exit(&mut back), 0.3));
    }
}

#[test]
fn a_loaded_leg_taken_must_be_a_number_not_below_zero() {
    let saved = part_leg().slots().to_vec();
    let mut k = part_leg();
    let before = (k.slots().to_vec(), k.seq());
    for bad in [f64::NAN, f64::INFINITY, -0.1, 1e300] {
        let mut slots = saved.clone();
        slots[0].leg_taken = bad;
        let err = k.replace_slots(slots).unwrap_err().to_string();
        assert!(err.contains("slots[0].leg_taken"), "{bad}: {err}");
        assert_eq!(
            (k.slots().to_vec(), k.seq()),
            before,
            "{bad} changed the kernel"
        );
    }
    // Past every leg's share it counts them done: the next leg exit closes the position.
    let mut slots = saved;
    slots[0].leg_taken = 0.9;
    k.replace_slots(slots).unwrap();
    assert!(close(next_leg_exit(&mut k), 0.8));
}

/// The record applied live refuses a bad `leg_taken` naming the slot's field, as
/// `replace_slots` (and the Python binding) do.
#[test]
fn applied_live_a_bad_leg_taken_is_refused_naming_the_slots_field() {
    let mut k = Kernel::new("legs", 2).unwrap();
    let before = (k.slots().to_vec(), k.seq());
    let mut slots = k.slots().to_vec();
    slots[1].leg_taken = -0.1;
    let err = k.apply(&KernelInput::replace_slots(slots)).unwrap_err();
    assert!(err.to_string().contains("slots[1].leg_taken"), "{err}");
    assert_eq!((k.slots().to_vec(), k.seq()), before);
}

#[test]
fn a_replace_records_legs_must_name_its_slots_each_once() {
    let saved = part_leg().slots().to_vec();
    let mut k = Kernel::new("legs-2", 1).unwrap();
    let before = (k.slots().to_vec(), k.seq());
    let legs = |taken: Vec<(u32, f64)>| -> LegTail {
        bincode::deserialize(&bincode::serialize(&taken).unwrap()).unwrap()
    };
    for (taken, says) in [
        (vec![(1, 0.2)], "beyond the 1 slots"),
        (vec![(0, 0.2), (0, 0.1)], "not in slot order"),
        (vec![(0, -0.2)], "slots[0].leg_taken"),
        (vec![(0, 0.0)], "not a positive number"),
    ] {
        let input = KernelInput::ReplaceSlots {
            slots: saved.clone(),
            legs: legs(taken.clone()),
        };
        let err = k.apply(&input).unwrap_err().to_string();
        assert!(err.contains(says), "{taken:?}: {err}");
        assert_eq!((k.slots().to_vec(), k.seq()), before, "{taken:?}");
    }
    // What the record says is what loads, whatever its slots held in memory.
    let mut slots = saved;
    slots[0].leg_taken = 0.4;
    let input = KernelInput::ReplaceSlots {
        slots,
        legs: legs(vec![(0, 0.1)]),
    };
    apply(&mut k, &input);
    assert_eq!(k.slots()[0].leg_taken, 0.1);
}

/// A lot step or tick finer than `fees::MIN_STEP` is refused (one of 1e-309 would send an
/// order of infinite size), and so is an edge update of a blank asset (it would freeze the
/// kernel naming none).
#[test]
fn steps_too_fine_and_blank_edge_assets_are_refused() {
    let tiny = vec![("lot_step".to_string(), 1e-309)];
    let mut k = Kernel::new("steps", 1).unwrap();
    let err = k.set_exchange_config(&tiny).unwrap_err().to_string();
    assert!(err.contains("lot_step") && err.contains("1e-309"), "{err}");
    let ticks = vec![("tick_size".to_string(), 1e-300)];
    let err = k.set_market_limits("BTC", &ticks).unwrap_err().to_string();
    assert!(err.contains("tick_size") && err.contains("1e-300"), "{err}");
    let err = k.on_edge_update(" ", -5.0, 1.0).unwrap_err().to_string();
    assert!(err.contains("asset"), "{err}");
    assert_eq!(k.seq(), 0, "a refusal moved the kernel on");
    // The finest step allowed is taken.
    let finest = vec![("lot_step".to_string(), fees::MIN_STEP)];
    k.set_exchange_config(&finest).unwrap();
}
