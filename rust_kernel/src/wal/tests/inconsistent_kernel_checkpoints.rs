//! A kernel checkpoint whose state does not hold together (its digest fine) is refused at
//! decode, naming what is wrong, rather than loaded to fail on a later input.

use super::*;

#[test]
fn a_checkpoint_with_a_huge_length_field_is_refused_not_allocated() {
    // A checkpoint state from a buggy or newer writer (its digest is fine) whose string
    // length says 2^62 bytes: allocated before reading, it would abort the process. It must
    // be an error.
    let k = Kernel::new("k", 4).unwrap();
    let mut state = encode_kernel(&k);
    // The kernel id comes first, after its length.
    state[..8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    let err = kernel_log::decode_kernel(&state).unwrap_err();
    assert!(err.starts_with("undecodable kernel checkpoint"), "{err}");
}

#[test]
fn a_checkpoint_naming_a_slot_past_the_kernel_is_refused() {
    // A state whose venue-id index names slot 2^56 of a kernel of 4: loaded, the first venue
    // event for that id would panic on the slot lookup.
    let mut k = Kernel::new("k", 4).unwrap();
    k.tamper_venue_index("v1", 1 << 56);
    let err = kernel_log::decode_kernel(&encode_kernel(&k)).unwrap_err();
    assert!(err.contains("72057594037927936"), "{err}");
    let mut k = Kernel::new("k", 4).unwrap();
    k.tamper_slot(2, |s| s.slot_id = 3);
    let err = kernel_log::decode_kernel(&encode_kernel(&k)).unwrap_err();
    assert!(err.contains("slot 2"), "{err}");
}

#[test]
fn a_checkpoint_whose_client_id_index_names_a_slot_without_that_order_is_refused() {
    // A state whose client-id index names a slot with no working order of that id: loaded,
    // the first fill for that id would panic ("indexed orders are active"). The index must
    // match the slot's entry or exit order.
    let (mut k, order) = kernel_entering_slot_0();
    let client_id = order.client_order_id;
    let state = encode_kernel(&k);
    assert!(
        kernel_log::decode_kernel(&state).is_ok(),
        "a real state loads"
    );
    // The order gone from its slot, the index still naming it.
    k.tamper_slot(0, |s| {
        s.active_entry_order = None;
        s.fsm_state = TradeStage::Idle;
    });
    let err = kernel_log::decode_kernel(&encode_kernel(&k)).unwrap_err();
    assert!(err.starts_with("undecodable kernel checkpoint"), "{err}");
    assert!(
        err.contains("client order id") && err.contains(client_id.as_str()),
        "{err}"
    );
    // The order on another slot than the index names.
    let mut k = kernel_log::decode_kernel(&state).unwrap();
    let order = k.slots()[0].active_entry_order.clone();
    k.tamper_slot(0, |s| s.active_entry_order = None);
    k.tamper_slot(1, |s| s.active_entry_order = order);
    let err = kernel_log::decode_kernel(&encode_kernel(&k)).unwrap_err();
    assert!(
        err.contains("client order id") && err.contains("slot 0"),
        "{err}"
    );
}

#[test]
fn a_checkpoint_whose_open_slot_count_disagrees_with_the_open_sets_is_refused() {
    // A state (digest fine) whose open slot count is below the slots in the open sets:
    // loaded, closing a position would count it below zero.
    let (mut k, order) = kernel_entering_slot_0();
    let mut venue = MockVenue::new(Default::default()).unwrap();
    for e in venue.submit(&order) {
        k.apply(&KernelInput::VenueEvent(e)).unwrap();
    }
    assert_eq!(k.open_positions(), 1);
    assert!(kernel_log::decode_kernel(&encode_kernel(&k)).is_ok());
    k.tamper_open_count(0);
    let err = kernel_log::decode_kernel(&encode_kernel(&k)).unwrap_err();
    assert!(err.starts_with("undecodable kernel checkpoint"), "{err}");
    assert!(err.contains("open slot count 0"), "{err}");
}

#[test]
fn a_checkpoint_with_a_count_near_overflow_is_refused() {
    // A state (digest fine) whose orders_submitted says 2^64-1: loaded, the next order would
    // overflow it. Every count the kernel adds one to is bounded at decode.
    let k = Kernel::new("k", 2).unwrap();
    let refused = |change: &dyn Fn(&mut Kernel)| {
        let mut k = k.clone();
        change(&mut k);
        kernel_log::decode_kernel(&encode_kernel(&k)).unwrap_err()
    };
    let err = refused(&|k| k.tamper_counters(|c| c.orders_submitted = u64::MAX));
    assert!(err.starts_with("undecodable kernel checkpoint"), "{err}");
    assert!(
        err.contains("counters.orders_submitted 18446744073709551615"),
        "{err}"
    );
    let err = refused(&|k| k.tamper_seq(u64::MAX));
    assert!(err.contains("seq 18446744073709551615"), "{err}");
    let err = refused(&|k| k.tamper_slot(1, |s| s.active_leg_index = usize::MAX));
    assert!(err.contains("slot 1 active_leg_index"), "{err}");
    // The bound itself is a count a state may hold.
    let mut at_bound = k.clone();
    at_bound.tamper_counters(|c| c.fills = crate::kernel::MAX_COUNT);
    assert!(kernel_log::decode_kernel(&encode_kernel(&at_bound)).is_ok());
}

#[test]
fn a_checkpoints_marks_are_checked_as_mark_price_checks_them() {
    // A mark restored from a checkpoint is judged as `mark_price` judges one given live: a
    // price beyond the bounds, a blank asset or one named twice (silently merged) is refused,
    // and the kernel keeps what it had.
    let mut k = Kernel::new("marks", 2).unwrap();
    let good = (
        vec![(crate::types::id("BTCUSDT"), 100.0)],
        vec![(0usize, 100.0)],
    );
    k.restore_marks(good.clone()).unwrap();
    // A checkpoint's marks: by asset, then by slot.
    type Marks = (Vec<(crate::types::Id, f64)>, Vec<(usize, f64)>);
    let bad: [Marks; 5] = [
        (vec![(crate::types::id("BTCUSDT"), 1e300)], vec![]),
        (vec![(crate::types::id(""), 100.0)], vec![]),
        (
            vec![
                (crate::types::id("BTCUSDT"), 100.0),
                (crate::types::id("BTCUSDT"), 5.0),
            ],
            vec![],
        ),
        (vec![], vec![(0, 100.0), (0, 5.0)]),
        (vec![], vec![(2, 100.0)]),
    ];
    for marks in bad {
        let err = k.restore_marks(marks.clone()).unwrap_err();
        assert!(err.contains("mark"), "{marks:?}: {err}");
        assert_eq!(k.entry_cap_mark(0), 100.0, "{marks:?} changed the kernel");
    }
}

#[test]
fn a_checkpoint_whose_state_does_not_hold_together_refuses_the_open_naming_its_file() {
    // Its digest is fine (a buggy or newer writer's), its state refused: the refusal names
    // the checkpoint and its file, so the operator does not look for a damaged record in
    // segments that are whole.
    let dir = kernel_log_with_checkpoints();
    let newest = *checkpoint_seqs(dir.path()).last().unwrap();
    rewrite_checkpoint_state(dir.path(), newest, |k| k.tamper_slot(2, |s| s.slot_id = 3));
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every: 7,
        segment_bytes: 4096,
    };
    let before = snapshot_dir(dir.path());
    let err = KernelLog::open(dir.path(), Kernel::new("audit", 3).unwrap(), &options)
        .err()
        .expect("refused");
    let text = err.to_string();
    let file = dir.path().join(checkpoint_file(newest));
    assert!(
        matches!(&err, WalError::Replay { seq, file: Some(f), .. } if *seq == newest && *f == file),
        "{err:?}"
    );
    assert!(
        text.starts_with(&format!(
            "replaying checkpoint seq {newest} ({})",
            file.display()
        )),
        "{text}"
    );
    assert!(text.contains("slot 2 says it is slot 3"), "{text}");
    assert_eq!(snapshot_dir(dir.path()), before, "nothing on disk changed");
}
