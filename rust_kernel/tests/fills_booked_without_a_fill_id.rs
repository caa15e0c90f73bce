//! A fill booked without a fill id (a venue's report with no trade id) waits for its fee under
//! its event id, which no settlement names. A resend of the report naming its fill id (the same
//! event id) teaches the kernel that id: it is still a refused duplicate (nothing is booked
//! again, and whoever hears fills hears none), the fee waits under the fill id, and a
//! settlement held for that id, by the fill's asset, settles it, once.

use std::path::Path;

use dita_kernel::kernel::KernelInput;
use dita_kernel::wal::kernel_log::encode_kernel;
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc, open_log, settle, well_formed_details};

/// A kernel of one slot, seed 10,000, taker 5 bp, and its entry of 2 BTC sent.
fn entered() -> (Kernel, VenueOrder) {
    let mut k = Kernel::new("no-fill-id", 1).unwrap();
    for input in setup() {
        k.apply(&input).unwrap();
    }
    let order = k.slots()[0].active_entry_order.clone().expect("sent");
    (k, order)
}

fn setup() -> Vec<KernelInput> {
    vec![
        KernelInput::SeedCapital(10_000.0),
        KernelInput::ExchangeConfig(vec![("taker_rate".into(), 0.0005)]),
        KernelInput::Intent(long_btc("i1", "t1", 0, KernelCommandType::Enter, 2.0)),
    ]
}

/// Report `event_id` of 1 BTC at 100 of `order`, at running total `total`, naming fill id
/// `fill_id` (empty: none), without a fee (predicted: 0.05).
fn report(order: &VenueOrder, event_id: &str, fill_id: &str, total: f64) -> VenueEvent {
    let mut e = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    e.fill_id = id(fill_id);
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, 1.0, total, 1_000.0);
    e
}

#[test]
fn a_settlement_held_for_a_fill_booked_without_its_id_settles_it_once_a_resend_names_the_id() {
    for total in [1.0, 0.0] {
        let (mut k, order) = entered();
        assert!(k.on_venue_event(&report(&order, "e1", "", total)).accepted);
        let held = k.on_account_event(&settle("s1", "T1", "BTC", 0.06, 1_001.0));
        assert_eq!(detail(&held, "held_for_fill"), Some(Detail::Bool(true)));
        let out = well_formed_details(k.on_venue_event(&report(&order, "e1", "T1", total)));
        assert!(!out.accepted, "{out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        assert_eq!(detail(&out, "fill_id_learned"), Some(Detail::Id(id("T1"))));
        assert_eq!(
            detail(&out, "booked_under_event_id"),
            Some(Detail::Id(id("e1")))
        );
        assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s1"))));
        assert_eq!(detail(&out, "actual_fee"), Some(Detail::F64(0.06)));
        // Nothing booked again; the exchange's fee replaced the prediction.
        assert_eq!(k.slots()[0].size, 1.0);
        assert!(close(k.account.k_fees_paid, 0.06), "{:?}", k.account);
        assert!(close(k.slots()[0].fees_paid, 0.06));
        assert_eq!(k.account.k_unsettled_fees, 0.0);
        // Settled once: a resend of the settlement, or of the report, changes nothing.
        let again = k.on_account_event(&settle("s2", "T1", "BTC", 0.06, 1_002.0));
        assert!(!again.accepted, "{again:?}");
        let resent = k.on_venue_event(&report(&order, "e1", "T1", total));
        assert!(!resent.accepted, "{resent:?}");
        assert_eq!(resent.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        let resent = k.on_venue_event(&report(&order, "e9", "T1", total));
        assert!(!resent.accepted, "{resent:?}");
        assert_eq!(k.slots()[0].size, 1.0);
        assert!(close(k.account.k_fees_paid, 0.06), "{:?}", k.account);
        assert_eq!(k.account.k_unsettled_fees, 0.0);
    }
}

#[test]
fn a_fill_booked_without_its_id_is_settled_under_the_id_a_resend_names() {
    let (mut k, order) = entered();
    assert!(k.on_venue_event(&report(&order, "e1", "", 1.0)).accepted);
    let events = k.account.event_seq;
    let out = well_formed_details(k.on_venue_event(&report(&order, "e1", "T1", 1.0)));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(detail(&out, "fill_id_learned"), Some(Detail::Id(id("T1"))));
    assert_eq!(detail(&out, "settled_by"), None);
    assert_eq!(
        k.account.event_seq, events,
        "nothing settled: the account is as it was"
    );
    assert!(close(k.account.k_unsettled_fees, 0.05));
    let out = k.on_account_event(&settle("s1", "T1", "BTC", 0.06, 1_001.0));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "held_for_fill"), None, "{out:?}");
    assert!(close(k.account.k_fees_paid, 0.06), "{:?}", k.account);
    assert_eq!(k.account.k_unsettled_fees, 0.0);
}

/// A resend naming a fill id while no fill waits under its event id (a fill booked with its
/// id, or another slot's), or one whose id a fill waits under already, stays a refused
/// duplicate that changes nothing.
#[test]
fn a_resend_naming_a_fill_id_teaches_nothing_when_no_fill_waits_under_its_event_id() {
    let (mut k, order) = entered();
    assert!(k.on_venue_event(&report(&order, "e1", "T1", 1.0)).accepted);
    assert!(k.on_venue_event(&report(&order, "e2", "", 2.0)).accepted);
    let (account, slots) = (k.account.clone(), k.slots().to_vec());
    for resend in [
        report(&order, "e1", "T7", 1.0),
        report(&order, "e2", "T1", 2.0),
    ] {
        let out = k.on_venue_event(&resend);
        assert!(!out.accepted, "{out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        assert_eq!(detail(&out, "fill_id_learned"), None);
    }
    assert_eq!(k.account, account);
    assert_eq!(k.slots(), &slots[..]);
    assert!(close(k.account.k_unsettled_fees, 0.1));
}

/// A resend that teaches a fill id is refused as the duplicate it is, as every other resend:
/// whoever books what the kernel accepts (a runtime's fill count, a strategy's `on_fill`, a
/// reconciliation's venue fills) books nothing for it.
#[test]
fn a_resend_teaching_a_fill_id_is_refused_as_a_duplicate_with_what_it_taught() {
    let (mut k, order) = entered();
    assert!(k.on_venue_event(&report(&order, "e1", "", 1.0)).accepted);
    k.on_account_event(&settle("s1", "T1", "BTC", 0.06, 1_001.0));
    let refused = k.counters.venue_events_refused;
    let out = well_formed_details(k.on_venue_event(&report(&order, "e1", "T1", 1.0)));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(out.severity, KernelSeverity::Info);
    assert!(out.transitions.is_empty(), "{out:?}");
    assert_eq!(k.counters.venue_events_refused, refused + 1);
    assert_eq!(detail(&out, "fill_id_learned"), Some(Detail::Id(id("T1"))));
    assert_eq!(
        detail(&out, "booked_under_event_id"),
        Some(Detail::Id(id("e1")))
    );
    assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s1"))));
    assert!(detail(&out, "reason").is_some());
    assert!(close(k.account.k_fees_paid, 0.06), "{:?}", k.account);
}

/// Report `event_id` of all 2 BTC of `order` at 100, naming fill id `fill_id` (empty: none).
fn whole(order: &VenueOrder, event_id: &str, fill_id: &str) -> VenueEvent {
    let mut e = report(order, event_id, fill_id, 2.0);
    e.size = 2.0;
    e
}

/// Slot 0's entry (2 BTC) filled by `e1` (no fill id, 0.1 predicted), exited (fill `X2`) and
/// closed, the slot then idle, or entering 1 ETH.
fn closed_then(reused: bool) -> (Kernel, VenueOrder) {
    let (mut k, order) = entered();
    assert!(k.on_venue_event(&whole(&order, "e1", "")).accepted);
    let exit = long_btc("i2", "t1", 0, KernelCommandType::Exit, 0.0);
    let out = k.process_intent(&exit);
    let sent = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    let out = k.on_venue_event(&whole(&sent, "e2", "X2"));
    assert!(out.accepted, "{out:?}");
    if reused {
        let mut eth = long_btc("i3", "t2", 0, KernelCommandType::Enter, 1.0);
        eth.trade_id = id("t2");
        eth.asset = id("ETH");
        let out = k.process_intent(&eth);
        assert!(out.accepted, "{out:?}");
        assert_eq!(k.slots()[0].asset.as_str(), "ETH");
    }
    (k, order)
}

/// The settlement held for a learned fill id is the one naming the fill's asset, whatever
/// its slot trades since: idle, or reused on another asset.
#[test]
fn a_settlement_held_for_a_learned_fill_id_settles_it_after_its_slot_moved_on() {
    for reused in [false, true] {
        for asset in ["BTC", ""] {
            let (mut k, order) = closed_then(reused);
            let paid = k.account.k_fees_paid;
            let held = k.on_account_event(&settle("s1", "T1", asset, 0.5, 1_001.0));
            assert_eq!(detail(&held, "held_for_fill"), Some(Detail::Bool(true)));
            let out = well_formed_details(k.on_venue_event(&whole(&order, "e1", "T1")));
            assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
            assert_eq!(
                detail(&out, "settled_by"),
                Some(Detail::Id(id("s1"))),
                "reused {reused}, asset {asset:?}: {out:?}"
            );
            // 2 BTC at 100, 5 bp: 0.1 predicted, 0.5 charged.
            assert!(close(k.account.k_fees_paid, paid + 0.4), "{:?}", k.account);
        }
    }
}

/// A settlement held under the fill id for another asset's trade of that id is not the
/// learned fill's: it stays held, and the account is as it was.
#[test]
fn a_settlement_of_another_asset_held_under_a_learned_fill_id_stays_held() {
    let (mut k, order) = closed_then(true);
    k.on_account_event(&settle("s1", "T1", "ETH", 0.5, 1_001.0));
    let account = k.account.clone();
    let out = well_formed_details(k.on_venue_event(&whole(&order, "e1", "T1")));
    assert_eq!(detail(&out, "fill_id_learned"), Some(Detail::Id(id("T1"))));
    assert_eq!(detail(&out, "settled_by"), None, "{out:?}");
    assert_eq!(k.account, account);
    assert_eq!(k.slots()[0].fees_paid, 0.0);
}

fn inputs(order: &VenueOrder) -> Vec<KernelInput> {
    let mut inputs = setup();
    inputs.extend([
        KernelInput::VenueEvent(report(order, "e1", "", 1.0)),
        KernelInput::AccountEvent(settle("s1", "T1", "BTC", 0.06, 1_001.0)),
        KernelInput::VenueEvent(report(order, "e1", "T1", 1.0)),
    ]);
    inputs
}

fn record(dir: &Path, checkpoint_every: u64) -> Kernel {
    let (mut log, mut k) = open_log(dir, "no-fill-id", checkpoint_every);
    let (_, order) = entered();
    for input in inputs(&order) {
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    k
}

#[test]
fn a_log_holding_a_fill_id_learned_from_a_resend_recovers_as_it_ran() {
    for checkpoint_every in [0, 1, 2, 4, 5] {
        let dir = tempfile::tempdir().unwrap();
        let k = record(dir.path(), checkpoint_every);
        assert!(close(k.account.k_fees_paid, 0.06), "{:?}", k.account);
        let (_, recovered) = open_log(dir.path(), "no-fill-id", 0);
        assert_eq!(
            encode_kernel(&recovered),
            encode_kernel(&k),
            "every {checkpoint_every}"
        );
    }
}
