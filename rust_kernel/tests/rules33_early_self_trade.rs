//! A self-trade's settlements that come before its fills: both sides' FILL_SETTLEDs (one fill
//! id and asset, maker and taker fees) are held, and each settles the fill whose fee it is
//! nearest, though a resend looks the same as the other side's: held as a resend, the other
//! side would keep its predicted fee for good. A resend (the same fee under a new event id) is
//! refused, and so is a third settlement.

use dita_kernel::kernel::KernelInput;
use dita_kernel::wal::kernel_log::{KernelLog, KernelLogOptions};
use dita_kernel::wal::FsyncPolicy;
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc, well_formed_details};

/// The exchange's settlement `event_id` of fill `fill_id` on BTC: `fee`.
fn settle(event_id: &str, fill_id: &str, fee: f64) -> AccountEvent {
    let mut e = AccountEvent::new(event_id, AccountEventKind::FillSettled);
    e.fill_id = id(fill_id);
    e.asset = id("BTC");
    e.fee = fee;
    e.timestamp = 1_001.0;
    e
}

/// Taker 5 bp, maker -2.5 bp (a rebate), seed 10,000.
fn setup() -> Vec<KernelInput> {
    vec![
        KernelInput::SeedCapital(10_000.0),
        KernelInput::ExchangeConfig(vec![
            ("taker_rate".into(), 0.0005),
            ("maker_rate".into(), -0.00025),
        ]),
    ]
}

/// Slot `slot`'s ENTER on BTC, 1: slot 0 buys at market (taker), slot 1 sells at a limit of
/// 100 (maker).
fn enter(slot: i64) -> Intent {
    let mut i = long_btc(
        &format!("i{slot}"),
        &format!("t{slot}"),
        slot,
        KernelCommandType::Enter,
        1.0,
    );
    if slot == 1 {
        i.side = TradeSide::Short;
        i.order_type = OrderType::Limit;
        i.limit_price = 100.0;
    }
    i
}

/// A fill of all of `client_order_id` (1 at 100) under the self-trade's fill id `T1`.
fn fill(client_order_id: &str) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("e-{client_order_id}"),
        KernelEventKind::Fill,
        &id(client_order_id),
    );
    e.fill_id = id("T1");
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, 1.0, 1.0, 1_000.0);
    e
}

/// A kernel `name` of two slots, set up, both entries sent; their client order ids.
fn two_entries(name: &str) -> (Kernel, [String; 2]) {
    let mut k = Kernel::new(name, 2).unwrap();
    for input in setup() {
        k.apply(&input).unwrap();
    }
    let mut sent = [String::new(), String::new()];
    for slot in 0..2 {
        let out = k.process_intent(&enter(slot));
        sent[slot as usize] = out
            .submit
            .unwrap_or_else(|| panic!("{slot}"))
            .client_order_id
            .to_string();
    }
    (k, sent)
}

#[test]
fn both_sides_settlements_before_their_fills_each_settle_their_own_side() {
    for taker_first in [true, false] {
        for taker_filled_first in [true, false] {
            let (mut k, sent) = two_entries("early-both");
            let taker = settle("s-taker", "T1", 0.06);
            let maker = settle("s-maker", "T1", -0.02);
            let settlements = if taker_first {
                [taker, maker]
            } else {
                [maker, taker]
            };
            for s in &settlements {
                let out = well_formed_details(k.on_account_event(s));
                assert!(out.accepted, "{out:?}");
                assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
            }
            assert_eq!(k.early_settlements().0.len(), 2);
            let fills = if taker_filled_first { [0, 1] } else { [1, 0] };
            for slot in fills {
                let out = well_formed_details(k.on_venue_event(&fill(&sent[slot])));
                assert!(out.accepted, "{out:?}");
            }
            let case = (taker_first, taker_filled_first);
            assert!(
                close(k.slots()[0].fees_paid, 0.06),
                "{case:?} {:?}",
                k.slots()[0]
            );
            assert!(
                close(k.slots()[1].fees_paid, -0.02),
                "{case:?} {:?}",
                k.slots()[1]
            );
            assert!(close(k.account.k_fees_paid, 0.04), "{case:?}");
            assert!(
                k.account.k_unsettled_fees.abs() < 1e-12,
                "{case:?} {:?}",
                k.account
            );
            assert!(k.early_settlements().0.is_empty());
        }
    }
}

#[test]
fn a_resend_of_a_held_settlement_and_a_third_are_refused() {
    let (mut k, sent) = two_entries("early-resend");
    assert!(k.on_account_event(&settle("s-taker", "T1", 0.06)).accepted);
    // The same fee under a new event id: a resend, not the other side.
    let out = well_formed_details(k.on_account_event(&settle("s-taker-again", "T1", 0.06)));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(
        detail(&out, "held_event_id"),
        Some(Detail::Id(id("s-taker")))
    );
    assert!(k.on_account_event(&settle("s-maker", "T1", -0.02)).accepted);
    // Either side resent, or a third fee: two sides are held already.
    for (event_id, fee, held) in [
        ("s-maker-again", -0.02, "s-maker"),
        ("s-taker-third", 0.06, "s-taker"),
        ("s-other", 0.01, "s-maker"),
    ] {
        let out = well_formed_details(k.on_account_event(&settle(event_id, "T1", fee)));
        assert!(!out.accepted, "{event_id}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        assert_eq!(detail(&out, "held_event_id"), Some(Detail::Id(id(held))));
    }
    assert_eq!(k.early_settlements().0.len(), 2);
    for c in &sent {
        assert!(k.on_venue_event(&fill(c)).accepted);
    }
    assert!(close(k.account.k_fees_paid, 0.04), "{:?}", k.account);
}

/// The log in `dir` and its kernel of two slots (recovered, or new).
fn open(dir: &std::path::Path) -> (KernelLog, Kernel) {
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every: 0,
        segment_bytes: 1 << 20,
    };
    KernelLog::open(dir, Kernel::new("log", 2).unwrap(), &options).unwrap()
}

#[test]
fn a_log_of_a_self_trades_early_settlements_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path());
    let mut inputs = setup();
    inputs.push(KernelInput::AccountEvent(settle("s-taker", "T1", 0.06)));
    inputs.push(KernelInput::AccountEvent(settle("s-maker", "T1", -0.02)));
    inputs.extend((0..2).map(|slot| KernelInput::Intent(enter(slot))));
    for input in &inputs {
        k.apply(input).unwrap();
        log.record(&k, input).unwrap();
    }
    for slot in 0..2 {
        let c = k.slots()[slot]
            .active_entry_order
            .clone()
            .unwrap()
            .client_order_id;
        let input = KernelInput::VenueEvent(fill(&c));
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    assert!(close(k.account.k_fees_paid, 0.04), "{:?}", k.account);
    drop(log);
    let (_, recovered) = open(dir.path());
    assert_eq!(recovered.account, k.account);
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.seq(), k.seq());
}
