//! A FILL_SETTLED that comes before its fill (a venue's account stream is often faster than its
//! order stream) is held for the fill, and settles it when it is booked, as it would have
//! settled it coming after: the same fill id and asset, its share of a report booked in part,
//! a rebate with its sign, and K, the slot and the calibration end where an in-order
//! settlement leaves them. Dropped, the fill's predicted fee would stand for good, and the
//! reconcile explanation name it as unsettled. A self-trade's two settlements (one fill id and
//! asset, maker and taker fees) are both held, though a resend looks the same as the other
//! side's, and each settles the fill whose fee it is nearest; a resend (the same fee under a new
//! event id) is refused, and so is a third settlement.

use std::path::Path;

use dita_kernel::journal::{self, Value, FILL_COLUMNS};
use dita_kernel::kernel::{KernelInput, EARLY_SETTLEMENT_MEMORY};
use dita_kernel::wal::kernel_log::{
    decode_kernel, encode_kernel, replay_checkpoints, KernelLog, KernelLogOptions,
};
use dita_kernel::wal::FsyncPolicy;
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc, open_log, settle, well_formed_details};

/// Taker 5 bp, maker -2.5 bp (a rebate).
fn config() -> KernelInput {
    KernelInput::ExchangeConfig(vec![
        ("taker_rate".into(), 0.0005),
        ("maker_rate".into(), -0.00025),
    ])
}

/// The ENTER of slot 0 on BTC, `size`, as a MARKET or a LIMIT (at 100) order.
fn enter(size: f64, order_type: OrderType) -> Intent {
    let mut i = long_btc("i1", "trade", 0, KernelCommandType::Enter, size);
    i.order_type = order_type;
    if order_type == OrderType::Limit {
        i.limit_price = 100.0;
    }
    i
}

/// A fill of `order` at 100 without a fee (predicted): `size` of it, the running total after
/// it `total`, fill id `fill_id`, stamped `ts`.
fn fill(order: &VenueOrder, fill_id: &str, size: f64, total: f64, ts: f64) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("e-{fill_id}"),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    e.fill_id = id(fill_id);
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, size, total, ts);
    e
}

/// A kernel of one slot, seed 10,000, fees as [`config`], its entry of `size` (a LIMIT when
/// `maker`) sent: the kernel and the order.
fn entered(name: &str, size: f64, maker: bool) -> (Kernel, VenueOrder) {
    let mut k = Kernel::new(name, 1).unwrap();
    k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
    k.apply(&config()).unwrap();
    let order_type = if maker {
        OrderType::Limit
    } else {
        OrderType::Market
    };
    let out = k.process_intent(&enter(size, order_type));
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    (k, order)
}

#[test]
fn a_settlement_before_its_fill_is_held_and_settles_the_fill_when_it_is_booked() {
    let (mut k, order) = entered("early", 2.0, false);
    k.set_journal_enabled(true);
    let mut s = settle("s1", "F1", "BTC", 0.12, 1_000.0);
    s.wallet_balance = Some(9_999.88);
    let out = well_formed_details(k.on_account_event(&s));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::Ok);
    assert_eq!(detail(&out, "held_for_fill"), Some(Detail::Bool(true)));
    assert_eq!(detail(&out, "fill_id"), Some(Detail::Id(id("F1"))));
    assert!(detail(&out, "reason").is_some(), "{out:?}");
    // Nothing is charged yet: no fill of the id is booked.
    assert_eq!(k.account.k_fees_paid, 0.0);

    let out = well_formed_details(k.on_venue_event(&fill(&order, "F1", 2.0, 2.0, 1_001.0)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "settled_by"), Some(Detail::Id(id("s1"))));
    assert_eq!(detail(&out, "predicted_fee"), Some(Detail::F64(0.1)));
    assert_eq!(detail(&out, "actual_fee"), Some(Detail::F64(0.12)));
    // The exchange's fee replaced the predicted one: nothing waits, K and E agree.
    assert!(close(k.account.k_fees_paid, 0.12), "{:?}", k.account);
    assert!(close(k.slots()[0].fees_paid, 0.12));
    assert_eq!(k.account.k_unsettled_fees, 0.0);
    let r = k.account.reconcile();
    assert_eq!(r.status, account::ReconcileStatus::Ok, "{}", r.explanation);
    assert!(!r.explanation.contains("unsettled"), "{}", r.explanation);
    // The calibration learned the taker's 1.2.
    assert!(close(k.fees.taker.ratio, 1.2), "{:?}", k.fees);
    // The fill's journal row says what it was charged: the rows add up to K.
    assert_eq!(fill_row_fees(&mut k), [0.12]);
    // Its resend is a duplicate, and the fill's settlement is done.
    let again = k.on_account_event(&s);
    assert_eq!(again.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert!(close(k.account.k_fees_paid, 0.12));
}

/// The fees of the journal's fill rows the kernel has made since the last call.
fn fill_row_fees(k: &mut Kernel) -> Vec<f64> {
    let rows = &k.outbox.drain_tables(usize::MAX)[journal::FILLS];
    let fee_at = FILL_COLUMNS.iter().position(|c| *c == "fee").unwrap();
    let mut fees = Vec::new();
    for i in 0..rows.len() {
        let mut at = 0;
        rows.visit(journal::FILLS, i, &mut |v| {
            if let (true, Value::F64(x)) = (at == fee_at, v) {
                fees.push(x);
            }
            at += 1;
        });
    }
    fees
}

/// What an account, a slot and a calibration end as: the kernel's account, slot 0's fees and
/// the fee model.
fn ends(k: &Kernel) -> (account::Account, f64, fees::FeeModel) {
    (k.account.clone(), k.slots()[0].fees_paid, k.fees.clone())
}

/// The fills of a session and their settlements, each settlement before its fill when
/// `early` (and every settlement before every fill when `all_first`): a maker entry of 3 in
/// two reports, the second (`F2`, 2 of 3) overlapping the first (1 of 1) by 1 so it books 1
/// and is settled its share; a rebate of -0.07 paid for `F1` and one of -0.04 for the whole
/// of `F2`, named without its asset (charged -0.02). Each settlement carries the wallet.
fn session(early: bool, all_first: bool) -> Kernel {
    let (mut k, order) = entered("both", 3.0, true);
    let mut s1 = settle("s1", "F1", "BTC", -0.07, 1_000.0);
    s1.wallet_balance = Some(10_000.07);
    let mut s2 = settle("s2", "F2", "", -0.04, 1_001.0);
    s2.wallet_balance = Some(10_000.09);
    let pairs = [
        (fill(&order, "F1", 1.0, 1.0, 999.0), s1),
        (fill(&order, "F2", 2.0, 2.0, 999.5), s2),
    ];
    if all_first {
        for (_, s) in &pairs {
            assert!(k.on_account_event(s).accepted);
        }
    }
    let mut settled = Vec::new();
    for (f, s) in &pairs {
        if early && !all_first {
            assert!(k.on_account_event(s).accepted);
        }
        let out = well_formed_details(k.on_venue_event(f));
        assert!(out.accepted, "{out:?}");
        if early {
            settled.push(detail(&out, "fee_charged").or(detail(&out, "actual_fee")));
        } else {
            let out = well_formed_details(k.on_account_event(s));
            assert!(out.accepted, "{out:?}");
            settled.push(detail(&out, "fee_charged").or(detail(&out, "actual_fee")));
        }
    }
    assert_eq!(
        settled,
        [Some(Detail::F64(-0.07)), Some(Detail::F64(-0.02))],
        "early {early}"
    );
    k
}

#[test]
fn a_settlement_before_its_fill_leaves_the_account_as_one_after_it() {
    let in_order = session(false, false);
    assert_eq!(ends(&session(true, false)), ends(&in_order));
    let a = &in_order.account;
    assert!(close(a.k_fees_paid, -0.09), "{a:?}");
    assert_eq!(a.k_unsettled_fees, 0.0);
    assert!(close(a.k_capital(), 10_000.09));
    let r = a.reconcile();
    assert_eq!(r.status, account::ReconcileStatus::Ok, "{}", r.explanation);
    // Every settlement first: the same, but for the order the figures were added in.
    let (all_first, slot_fees, fees) = ends(&session(true, true));
    assert!(close(all_first.k_fees_paid, a.k_fees_paid));
    assert!(close(slot_fees, in_order.slots()[0].fees_paid));
    assert_eq!(all_first.k_unsettled_fees, 0.0);
    assert_eq!(all_first.e_wallet_balance, a.e_wallet_balance);
    assert_eq!(fees, in_order.fees);
}

#[test]
fn a_settlement_held_is_not_applied_twice() {
    let (mut k, order) = entered("twice", 2.0, false);
    let s = settle("s1", "F1", "BTC", 0.12, 1_000.0);
    assert!(k.on_account_event(&s).accepted);
    // Resent before the fill: by its id, and under another id (a venue's poll of its trades).
    let out = k.on_account_event(&s);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    let out = well_formed_details(k.on_account_event(&settle("s1b", "F1", "BTC", 0.12, 1_000.5)));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(detail(&out, "held_event_id"), Some(Detail::Id(id("s1"))));
    assert!(
        k.on_venue_event(&fill(&order, "F1", 2.0, 2.0, 1_001.0))
            .accepted
    );
    assert!(close(k.account.k_fees_paid, 0.12));
    // Resent after: by its id a duplicate, under another id settled already (as after a
    // settlement in order), not held for a fill that will not come.
    let out = k.on_account_event(&s);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    let out = k.on_account_event(&settle("s1c", "F1", "BTC", 0.12, 1_002.0));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
    assert!(k.early_settlements().0.is_empty());
    assert!(close(k.account.k_fees_paid, 0.12), "{:?}", k.account);
    assert!(close(k.slots()[0].fees_paid, 0.12));
    assert_eq!(k.account.k_unsettled_fees, 0.0);
}

#[test]
fn a_held_settlement_settles_only_a_fill_of_its_asset() {
    let (mut k, order) = entered("asset", 2.0, false);
    // ETH's trade F1 is not BTC's: held, it leaves BTC's F1 its prediction.
    assert!(
        k.on_account_event(&settle("s-eth", "F1", "ETH", 0.3, 1_000.0))
            .accepted
    );
    let out = k.on_venue_event(&fill(&order, "F1", 2.0, 2.0, 1_001.0));
    assert!(out.accepted, "{out:?}");
    assert_eq!(detail(&out, "settled_by"), None);
    assert!(close(k.account.k_fees_paid, 0.1));
    assert!(close(k.account.k_unsettled_fees, 0.1));
    // BTC's own settlement, after, settles it as ever.
    let out = k.on_account_event(&settle("s-btc", "F1", "BTC", 0.11, 1_002.0));
    assert!(out.accepted, "{out:?}");
    assert!(close(k.account.k_fees_paid, 0.11));
    assert_eq!(k.account.k_unsettled_fees, 0.0);
}

/// The inputs of a session with a settlement before its fill, and one after.
fn inputs() -> Vec<KernelInput> {
    // The order the session's entry sends (a kernel of the log's id numbers it alike).
    let (_, order) = entered("log", 2.0, false);
    vec![
        KernelInput::SeedCapital(10_000.0),
        config(),
        KernelInput::Intent(enter(2.0, OrderType::Market)),
        KernelInput::AccountEvent(settle("s1", "F1", "BTC", 0.06, 1_000.0)),
        KernelInput::VenueEvent(fill(&order, "F1", 1.0, 1.0, 1_001.0)),
        KernelInput::VenueEvent(fill(&order, "F2", 1.0, 2.0, 1_002.0)),
        KernelInput::AccountEvent(settle("s2", "F2", "BTC", 0.04, 1_003.0)),
    ]
}

fn open(dir: &Path, checkpoint_every: u64) -> (KernelLog, Kernel) {
    open_log(dir, "log", checkpoint_every)
}

/// Records [`inputs`] in a new log in `dir`; returns the kernel.
fn record(dir: &Path, checkpoint_every: u64) -> Kernel {
    let (mut log, mut k) = open(dir, checkpoint_every);
    for input in inputs() {
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    k
}

#[test]
fn a_log_holding_a_settlement_before_its_fill_recovers_as_it_ran() {
    for checkpoint_every in [0, 1, 2, 3, 4, 5] {
        let dir = tempfile::tempdir().unwrap();
        let k = record(dir.path(), checkpoint_every);
        assert!(close(k.account.k_fees_paid, 0.06 + 0.04), "{:?}", k.account);
        assert_eq!(k.account.k_unsettled_fees, 0.0);
        let (_, recovered) = open(dir.path(), 0);
        assert_eq!(ends(&recovered), ends(&k), "every {checkpoint_every}");
        assert_eq!(recovered.seq(), k.seq());
        // Each checkpoint, the settlement it held too, is what the records before it make.
        replay_checkpoints(dir.path()).unwrap();
    }
}

#[test]
fn a_fill_booked_with_its_venues_fee_drops_the_settlement_held_for_it() {
    let (mut k, order) = entered("own-fee", 2.0, false);
    assert!(
        k.on_account_event(&settle("s1", "F1", "BTC", 0.12, 1_000.0))
            .accepted
    );
    let mut f = fill(&order, "F1", 2.0, 2.0, 1_001.0);
    f.fee = Some(0.2);
    let out = well_formed_details(k.on_venue_event(&f));
    assert!(out.accepted, "{out:?}");
    assert_eq!(
        detail(&out, "unapplied_settlement"),
        Some(Detail::Id(id("s1")))
    );
    // The fill's own fee is charged, as a settlement after it would have been refused.
    assert!(close(k.account.k_fees_paid, 0.2));
    assert_eq!(k.account.k_unsettled_fees, 0.0);
    assert!(k.early_settlements().0.is_empty());
}

#[test]
fn the_settlements_held_are_bounded_and_the_oldest_is_forgotten_and_said() {
    let (mut k, order) = entered("bounded", 2.0, false);
    for i in 0..EARLY_SETTLEMENT_MEMORY {
        let s = settle(&format!("s{i}"), &format!("F{i}"), "BTC", 0.12, 1_000.0);
        let out = k.on_account_event(&s);
        assert!(
            out.accepted && out.severity == KernelSeverity::Info,
            "{out:?}"
        );
    }
    assert_eq!(k.early_settlements_forgotten(), 0);
    let out =
        well_formed_details(k.on_account_event(&settle("s-new", "F-new", "BTC", 0.1, 1_001.0)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(
        detail(&out, "forgotten_settlement"),
        Some(Detail::Id(id("s0")))
    );
    assert_eq!(
        detail(&out, "forgotten_fill_id"),
        Some(Detail::Id(id("F0")))
    );
    assert_eq!(k.early_settlements_forgotten(), 1);
    assert_eq!(k.early_settlements().0.len(), EARLY_SETTLEMENT_MEMORY);
    // F0's fill keeps its prediction; F1's is settled.
    let out = k.on_venue_event(&fill(&order, "F0", 1.0, 1.0, 1_002.0));
    assert_eq!(detail(&out, "settled_by"), None, "{out:?}");
    assert!(close(k.account.k_unsettled_fees, 0.05));
    let out = k.on_venue_event(&fill(&order, "F1", 1.0, 2.0, 1_003.0));
    assert_eq!(
        detail(&out, "settled_by"),
        Some(Detail::Id(id("s1"))),
        "{out:?}"
    );
    assert!(close(k.account.k_fees_paid, 0.05 + 0.12));
}

#[test]
fn a_checkpoint_keeps_the_settlements_held() {
    let (mut k, order) = entered("log", 2.0, false);
    assert!(
        k.on_account_event(&settle("s1", "F1", "BTC", 0.12, 1_000.0))
            .accepted
    );
    let bytes = encode_kernel(&k);
    let mut back = decode_kernel(&bytes).unwrap();
    assert_eq!(back.early_settlements(), k.early_settlements());
    let out = back.on_venue_event(&fill(&order, "F1", 2.0, 2.0, 1_001.0));
    assert_eq!(
        detail(&out, "settled_by"),
        Some(Detail::Id(id("s1"))),
        "{out:?}"
    );
    assert!(close(back.account.k_fees_paid, 0.12));
}

/// The exchange's settlement `event_id` of fill `fill_id` on BTC: `fee`.
fn settle_btc(event_id: &str, fill_id: &str, fee: f64) -> AccountEvent {
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
fn self_trade_entry(slot: i64) -> Intent {
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
fn self_trade_fill(client_order_id: &str) -> VenueEvent {
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
        let out = k.process_intent(&self_trade_entry(slot));
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
            let taker = settle_btc("s-taker", "T1", 0.06);
            let maker = settle_btc("s-maker", "T1", -0.02);
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
                let out = well_formed_details(k.on_venue_event(&self_trade_fill(&sent[slot])));
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
    assert!(
        k.on_account_event(&settle_btc("s-taker", "T1", 0.06))
            .accepted
    );
    // The same fee under a new event id: a resend, not the other side.
    let out = well_formed_details(k.on_account_event(&settle_btc("s-taker-again", "T1", 0.06)));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(
        detail(&out, "held_event_id"),
        Some(Detail::Id(id("s-taker")))
    );
    assert!(
        k.on_account_event(&settle_btc("s-maker", "T1", -0.02))
            .accepted
    );
    // Either side resent, or a third fee: two sides are held already.
    for (event_id, fee, held) in [
        ("s-maker-again", -0.02, "s-maker"),
        ("s-taker-third", 0.06, "s-taker"),
        ("s-other", 0.01, "s-maker"),
    ] {
        let out = well_formed_details(k.on_account_event(&settle_btc(event_id, "T1", fee)));
        assert!(!out.accepted, "{event_id}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        assert_eq!(detail(&out, "held_event_id"), Some(Detail::Id(id(held))));
    }
    assert_eq!(k.early_settlements().0.len(), 2);
    for c in &sent {
        assert!(k.on_venue_event(&self_trade_fill(c)).accepted);
    }
    assert!(close(k.account.k_fees_paid, 0.04), "{:?}", k.account);
}

/// The log in `dir` and its kernel of two slots (recovered, or new).
fn open_two_slots(dir: &std::path::Path) -> (KernelLog, Kernel) {
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
    let (mut log, mut k) = open_two_slots(dir.path());
    let mut inputs = setup();
    inputs.push(KernelInput::AccountEvent(settle_btc("s-taker", "T1", 0.06)));
    inputs.push(KernelInput::AccountEvent(settle_btc(
        "s-maker", "T1", -0.02,
    )));
    inputs.extend((0..2).map(|slot| KernelInput::Intent(self_trade_entry(slot))));
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
        let input = KernelInput::VenueEvent(self_trade_fill(&c));
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    assert!(close(k.account.k_fees_paid, 0.04), "{:?}", k.account);
    drop(log);
    let (_, recovered) = open_two_slots(dir.path());
    assert_eq!(recovered.account, k.account);
    assert_eq!(recovered.slots(), k.slots());
    assert_eq!(recovered.seq(), k.seq());
}

#[test]
fn a_self_trades_fees_are_each_sides_own_in_any_order_the_sides_can_be_told_apart() {
    // The two fills and two settlements of one self-trade, in each of their 24 orders. Once
    // one side is settled, the other side's settlement (another fee) is that side's, not a
    // resend. Only when the first fill and settlement to meet are one of each side, nothing
    // tells them apart (a settlement names no side): the sides' fees swap, the account's right.
    let events = ["fill-taker", "fill-maker", "s-taker", "s-maker"];
    // Every order of the four: the numbers below 4^4 whose base-4 digits differ.
    let orders = (0..256usize)
        .map(|n| [n % 4, n / 4 % 4, n / 16 % 4, n / 64])
        .filter(|d| (0..4).all(|i| d.contains(&i)));
    let mut told_apart = 0;
    for order in orders {
        let (mut k, sent) = two_entries("self-trade-orders");
        let case: Vec<_> = order.iter().map(|&i| events[i]).collect();
        for &i in &order {
            let out = match i {
                0 | 1 => k.on_venue_event(&self_trade_fill(&sent[i])),
                2 => k.on_account_event(&settle_btc("s-taker", "T1", 0.06)),
                _ => k.on_account_event(&settle_btc("s-maker", "T1", -0.02)),
            };
            assert!(out.accepted, "{case:?}: {}: {out:?}", events[i]);
        }
        assert!(close(k.account.k_fees_paid, 0.04), "{case:?}");
        assert!(k.account.k_unsettled_fees.abs() < 1e-12, "{case:?}");
        assert!(k.early_settlements().0.is_empty(), "{case:?}");
        // The first fill and settlement to meet: of one side each, different, they pair.
        let met = (1..=4)
            .map(|n| &order[..n])
            .find(|seen| seen.iter().any(|&i| i < 2) && seen.iter().any(|&i| i >= 2))
            .unwrap();
        let swapped = met.len() == 2 && met[0] % 2 != met[1] % 2;
        let fees = [k.slots()[0].fees_paid, k.slots()[1].fees_paid];
        let expected = if swapped {
            [-0.02, 0.06]
        } else {
            [0.06, -0.02]
        };
        assert!(
            close(fees[0], expected[0]) && close(fees[1], expected[1]),
            "{case:?} {fees:?}"
        );
        told_apart += usize::from(!swapped);
    }
    assert_eq!(told_apart, 16);
}
