//! The audit's replay of a kernel log: each checkpoint equals the replay of the records
//! before it, and a difference is named by its part of the state.

use super::*;

#[test]
fn the_checkpoints_of_a_kernel_log_equal_the_replay_of_the_records_before_them() {
    let dir = kernel_log_with_checkpoints();
    let seqs = checkpoint_seqs(dir.path());
    assert_eq!(seqs.len(), 3, "checkpoint 0 and the newest two: {seqs:?}");
    let audit = verify(dir.path()).unwrap();
    let replayed = replay_checkpoints(dir.path()).unwrap();
    assert_eq!(replayed.from_seq, Some(0));
    assert_eq!(replayed.matched, seqs[1..].to_vec());
    assert_eq!(replayed.replayed_records, audit.last_seq);
}

#[rstest]
#[case::account(|k: &mut Kernel| k.account.k_fees_paid += 0.01, "account (k_fees_paid")]
#[case::counter(|k: &mut Kernel| k.counters.fills += 1, "counters (fills")]
#[case::seq(|k: &mut Kernel| k.tamper_seq(1), "seq")]
#[case::slot(|k: &mut Kernel| k.tamper_slot(1, |s| s.realized_pnl += 5.0), "slot 1 (realized_pnl")]
fn a_well_formed_checkpoint_with_a_wrong_state_fails_the_replay_naming_it_and_the_part(
    #[case] change: fn(&mut Kernel),
    #[case] part: &str,
) {
    let dir = kernel_log_with_checkpoints();
    let seqs = checkpoint_seqs(dir.path());
    let wrong = seqs[1];
    rewrite_checkpoint_state(dir.path(), wrong, change);
    // The chain, the digests and the checkpoints' positions all hold: only the replay sees it.
    verify(dir.path()).unwrap();
    let err = replay_checkpoints(dir.path()).unwrap_err();
    let WalError::Corrupt {
        file, seq, detail, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*file, dir.path().join(checkpoint_file(wrong)));
    assert_eq!(*seq, Some(wrong));
    assert!(detail.contains(part), "{detail}");
    assert!(detail.contains("differs from the replay"), "{detail}");
}

#[test]
fn a_wrong_newest_checkpoint_is_found_after_the_older_ones_match() {
    let dir = kernel_log_with_checkpoints();
    let newest = *checkpoint_seqs(dir.path()).last().unwrap();
    rewrite_checkpoint_state(dir.path(), newest, |k| k.account.seed_capital = 1.0);
    let err = replay_checkpoints(dir.path()).unwrap_err();
    assert!(
        matches!(err, WalError::Corrupt { seq: Some(s), .. } if s == newest),
        "{err}"
    );
    assert!(err.to_string().contains("account (seed_capital"), "{err}");
}

#[test]
fn a_difference_inside_a_multibyte_character_names_its_field() {
    let (mut a, mut b) = (
        Kernel::new("audit", 2).unwrap(),
        Kernel::new("audit", 2).unwrap(),
    );
    a.tamper_slot(1, |s| s.close_reason = "sortie é".into());
    b.tamper_slot(1, |s| s.close_reason = "sortie è".into());
    assert_eq!(a.state_difference(&a.clone()), None);
    assert_eq!(
        a.state_difference(&b).as_deref(),
        Some("slot 1 (close_reason)")
    );
}

#[test]
fn a_difference_in_an_unsettled_fills_asset_is_named() {
    // The same fill, its asset's fingerprint forgotten in one: the kernel's core fields are
    // the same, the checkpoint's unsettled fills' part is not.
    let mut k = Kernel::new("audit", 1).unwrap();
    let enter = Intent::new(
        "i1",
        "t1",
        0,
        "BTC",
        TradeSide::Long,
        KernelCommandType::Enter,
        100.0,
        1.0,
    );
    let order = k.process_intent(&enter).submit.unwrap();
    let mut fill = crate::model::VenueEvent::new(
        "e1",
        crate::types::KernelEventKind::Fill,
        &order.client_order_id,
    );
    (fill.price, fill.size, fill.filled_size) = (100.0, 1.0, 1.0);
    assert!(k.on_venue_event(&fill).accepted);
    let mut other = k.clone();
    other.tamper_unsettled_assets();
    assert_eq!(k.state_difference(&k.clone()), None);
    assert_eq!(
        k.state_difference(&other).as_deref(),
        Some("unsettled fills")
    );
    let restored = kernel_log::decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(restored.state_difference(&k), None);
}

#[test]
fn a_difference_in_one_liquiditys_fee_calibration_is_named() {
    // A taker charge of 1.2 times the rate then a maker's of 0.9, against both at 0.9: the
    // kernel's core fields (the newest learned ratio, the samples) are the same, the
    // checkpoint's calibration part is not.
    let calibrated = |taker_fee: f64| {
        let mut k = Kernel::new("audit", 1).unwrap();
        k.calibrate_fee(100.0, 1.0, taker_fee, false).unwrap();
        k.calibrate_fee(100.0, 1.0, 0.018, true).unwrap();
        k
    };
    let (a, b) = (calibrated(0.06), calibrated(0.045));
    assert_eq!(
        bincode::serialize(&a.fees).unwrap(),
        bincode::serialize(&b.fees).unwrap()
    );
    assert_eq!(a.state_difference(&a.clone()), None);
    assert_eq!(
        a.state_difference(&b).as_deref(),
        Some("fee calibration by liquidity")
    );
    let restored = kernel_log::decode_kernel(&encode_kernel(&a)).unwrap();
    assert_eq!(restored.state_difference(&a), None);
}

#[test]
fn the_audit_names_a_difference_in_what_exits_took_of_a_leg() {
    let (mut a, b) = (
        Kernel::new("audit", 2).unwrap(),
        Kernel::new("audit", 2).unwrap(),
    );
    a.tamper_slot(1, |s| s.leg_taken = 0.25);
    assert_eq!(
        a.state_difference(&b).as_deref(),
        Some("what exits took of the slots' legs")
    );
    let restored = kernel_log::decode_kernel(&encode_kernel(&a)).unwrap();
    assert_eq!(restored.state_difference(&a), None);
}

/// A slot index past 64 opened and closed on an asset that keeps another slot open leaves
/// that asset's open set with a trailing empty word in memory, which a checkpoint (the
/// ascending members) does not hold: the state is the same all the same, on a healthy log.
#[test]
fn a_healthy_log_whose_open_sets_once_held_a_high_slot_passes_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every: 1_000_000,
        segment_bytes: 1 << 20,
    };
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("audit", 70).unwrap(), &options).unwrap();
    let mut venue = MockVenue::new(Default::default()).unwrap();
    drive(&mut k, &mut log, &mut venue, KernelInput::SeedCapital(1e9));
    let assets = ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8"];
    let mut n = 0u64;
    let mut send = |k: &mut Kernel,
                    log: &mut KernelLog,
                    venue: &mut MockVenue,
                    slot: i64,
                    asset: &str,
                    command| {
        n += 1;
        drive(
            k,
            log,
            venue,
            KernelInput::MarkPrice {
                asset: crate::types::id(asset),
                price: 100.0,
                ts: n as f64,
            },
        );
        let mut i = Intent::new(
            &format!("i{n}"),
            &format!("t{slot}"),
            slot,
            asset,
            TradeSide::Long,
            command,
            100.0,
            1.0,
        );
        i.timestamp = n as f64;
        drive(k, log, venue, KernelInput::Intent(i));
    };
    for (j, asset) in assets.iter().enumerate() {
        send(
            &mut k,
            &mut log,
            &mut venue,
            j as i64,
            asset,
            KernelCommandType::Enter,
        );
    }
    // A1 also in slot 65, which then closes: A1's set keeps slot 0 only.
    send(
        &mut k,
        &mut log,
        &mut venue,
        65,
        "A1",
        KernelCommandType::Enter,
    );
    send(
        &mut k,
        &mut log,
        &mut venue,
        65,
        "A1",
        KernelCommandType::Exit,
    );
    assert_eq!(k.counters.intents_refused, 0, "{:?}", k.counters);
    assert_eq!(k.counters.fills, 10, "{:?}", k.counters);
    // The state a checkpoint of it holds is the same state.
    log.checkpoint(&k).unwrap();
    log.sync().unwrap();
    drop(log);
    replay_checkpoints(dir.path()).unwrap();
    let restored = kernel_log::decode_kernel(&encode_kernel(&k)).unwrap();
    assert_eq!(restored.state_difference(&k), None);
}
