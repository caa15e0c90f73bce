//! The account's payments and settlements:
//! - a FUNDING_FEE resent once 100,000 later payments and settlements pushed its id out of the
//!   money event memory is not booked again: one stamped before a forgotten payment (or at its
//!   time, under the id it had) is refused DUPLICATE_EVENT, naming both times;
//! - a FILL_SETTLED of a fill booked with its venue's own fee is refused DUPLICATE_EVENT naming
//!   the fill (not held for a fill that will not come), and so is (UNKNOWN_ORDER, settled
//!   already) a settlement resent naming the fill's asset another way (none, or the asset);
//! - a venue's self-trade (one trade id, both sides of one asset, two slots) leaves both fills'
//!   fees waiting, and each settlement settles the fill its fee is nearest.

use std::path::Path;

use dita_kernel::kernel::{KernelInput, MONEY_EVENT_MEMORY};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel, KernelLog};
use dita_kernel::*;

mod common;
use common::{close, detail, long_btc, open_log, settle, well_formed_details};

/// A FUNDING_FEE `event_id` stamped `ts` paying `amount`.
fn funding(event_id: &str, ts: f64, amount: f64) -> AccountEvent {
    let mut f = AccountEvent::new(event_id, AccountEventKind::FundingFee);
    f.amount = amount;
    f.timestamp = ts;
    f
}

/// Taker 5 bp, maker -2.5 bp (a rebate).
fn config() -> KernelInput {
    KernelInput::ExchangeConfig(vec![
        ("taker_rate".into(), 0.0005),
        ("maker_rate".into(), -0.00025),
    ])
}

/// A kernel of `slots` slots, seed 10,000, fees as [`config`].
fn kernel(name: &str, slots: usize) -> Kernel {
    let mut k = Kernel::new(name, slots).unwrap();
    k.apply(&KernelInput::SeedCapital(10_000.0)).unwrap();
    k.apply(&config()).unwrap();
    k
}

/// The payments of a session: `f-old` (-2.5 at 1,000), then `MONEY_EVENT_MEMORY` later
/// payments of nothing, once a second, which push its id out of the money event memory.
/// The kernel's input time is 1,000 (a mark), so the forgotten payment's time is believed.
fn old_payment_forgotten(k: &mut Kernel) -> AccountEvent {
    k.mark_price("BTC", 100.0, 1_000.0).unwrap();
    let old = funding("f-old", 1_000.0, -2.5);
    assert!(k.on_account_event(&old).accepted);
    for i in 0..MONEY_EVENT_MEMORY {
        let f = funding(&format!("f-{i}"), 1_001.0 + i as f64, 0.0);
        assert!(k.on_account_event(&f).accepted);
    }
    assert_eq!(k.account.k_funding_net, -2.5);
    old
}

#[test]
fn a_funding_payment_resent_after_its_id_was_forgotten_is_refused_by_its_time() {
    let mut k = kernel("funding", 1);
    let old = old_payment_forgotten(&mut k);
    let out = well_formed_details(k.on_account_event(&old));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(out.severity, KernelSeverity::Info);
    assert_eq!(detail(&out, "field"), Some(Detail::Static("event_id")));
    assert_eq!(detail(&out, "value"), Some(Detail::Id(id("f-old"))));
    assert_eq!(detail(&out, "timestamp"), Some(Detail::F64(1_000.0)));
    assert_eq!(
        detail(&out, "forgotten_payment_time"),
        Some(Detail::F64(1_000.0))
    );
    assert!(detail(&out, "reason").is_some(), "{out:?}");
    assert_eq!(k.account.k_funding_net, -2.5);
    // One stamped before it, under any id, is as old.
    let out = k.on_account_event(&funding("f-older", 999.0, -1.0));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(k.account.k_funding_net, -2.5);
    // A new payment is booked: later, of the forgotten one's time under another id (another
    // asset's funding of that hour), or unstamped.
    for (event_id, ts) in [("f-same-time", 1_000.0), ("f-new", 200_000.0), ("f-0", 0.0)] {
        let out = k.on_account_event(&funding(event_id, ts, -1.0));
        assert!(out.accepted, "{event_id}: {out:?}");
    }
    assert_eq!(k.account.k_funding_net, -5.5);
}

#[test]
fn the_remembered_payments_are_judged_by_id_not_time() {
    // Payments stamped out of order, all remembered: each is booked once.
    let mut k = kernel("order", 1);
    for (event_id, ts) in [("a", 2_000.0), ("b", 1_000.0), ("c", 1_500.0)] {
        assert!(k.on_account_event(&funding(event_id, ts, -1.0)).accepted);
    }
    let out = k.on_account_event(&funding("b", 1_000.0, -1.0));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(k.account.k_funding_net, -3.0);
}

/// A payment stamped in milliseconds among seconds, forgotten: a payment after it, stamped in
/// seconds, is still booked (its time was not believed).
fn a_forgotten_ms_payment_refuses_no_later_one(mut k: Kernel) {
    assert!(
        k.on_account_event(&funding("f-ms", 1_000_000.0, -1.0))
            .accepted
    );
    for i in 0..MONEY_EVENT_MEMORY {
        let f = funding(&format!("f-{i}"), 1_001.0, 0.0);
        assert!(k.on_account_event(&f).accepted);
    }
    let out = k.on_account_event(&funding("f-next", 2_000.0, -1.0));
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.account.k_funding_net, -2.0);
}

#[test]
fn a_forgotten_payments_time_far_ahead_of_the_kernels_does_not_refuse_later_payments() {
    let mut k = kernel("ms", 1);
    k.mark_price("BTC", 100.0, 1_000.0).unwrap();
    a_forgotten_ms_payment_refuses_no_later_one(k);
}

#[test]
fn with_no_input_time_yet_no_forgotten_payments_time_is_believed() {
    // A kernel fed account events alone has no time to tell milliseconds among seconds by: a
    // payment stamped so, forgotten, must not refuse every later payment of the venue.
    a_forgotten_ms_payment_refuses_no_later_one(kernel("no-time", 1));
}

#[test]
fn a_checkpoint_keeps_the_forgotten_payments_time() {
    let mut k = kernel("ckpt", 1);
    let old = old_payment_forgotten(&mut k);
    let bytes = encode_kernel(&k);
    let mut back = decode_kernel(&bytes).unwrap();
    assert_eq!(encode_kernel(&back), bytes);
    let out = back.on_account_event(&old);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(back.account.k_funding_net, -2.5);
}

/// An ENTER of slot `slot` on BTC, 1, `side`, as a MARKET or a LIMIT (at 100) order.
fn enter(slot: i64, side: TradeSide, limit: bool) -> Intent {
    let mut i = long_btc(
        &format!("i{slot}"),
        &format!("t{slot}"),
        slot,
        KernelCommandType::Enter,
        1.0,
    );
    i.side = side;
    if limit {
        i.order_type = OrderType::Limit;
        i.limit_price = 100.0;
    }
    i
}

/// A fill of all of `order` (1) at 100, fill id `fill_id`, its fee `fee` (None: predicted).
fn fill(order: &VenueOrder, fill_id: &str, fee: Option<f64>) -> VenueEvent {
    let mut e = VenueEvent::new(
        &format!("e-{}-{fill_id}", order.client_order_id),
        KernelEventKind::Fill,
        &order.client_order_id,
    );
    e.fill_id = id(fill_id);
    (e.price, e.size, e.filled_size, e.timestamp) = (100.0, 1.0, 1.0, 1_000.0);
    e.fee = fee;
    e
}

/// Sends slot `slot`'s entry and fills it under `fill_id`.
fn entered(
    k: &mut Kernel,
    slot: i64,
    side: TradeSide,
    limit: bool,
    fill_id: &str,
    fee: Option<f64>,
) {
    let out = k.process_intent(&enter(slot, side, limit));
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    let out = k.on_venue_event(&fill(&order, fill_id, fee));
    assert!(out.accepted, "{out:?}");
}

#[test]
fn a_settlement_of_a_fill_booked_with_its_venues_fee_is_refused_not_held() {
    for asset in ["BTC", ""] {
        let mut k = kernel("own-fee", 1);
        entered(&mut k, 0, TradeSide::Long, false, "F1", Some(0.2));
        let out = well_formed_details(k.on_account_event(&settle("s1", "F1", asset, 0.2, 1_001.0)));
        assert!(!out.accepted, "{asset:?}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
        assert_eq!(out.severity, KernelSeverity::Info);
        assert_eq!(detail(&out, "field"), Some(Detail::Static("fill_id")));
        assert_eq!(detail(&out, "value"), Some(Detail::Id(id("F1"))));
        assert!(detail(&out, "reason").is_some(), "{out:?}");
        assert!(k.early_settlements().0.is_empty());
        assert!(close(k.account.k_fees_paid, 0.2));
    }
}

#[test]
fn a_settlement_resent_naming_the_asset_another_way_is_settled_already() {
    for (first, again) in [("", "BTC"), ("BTC", "")] {
        let mut k = kernel("forms", 1);
        entered(&mut k, 0, TradeSide::Long, false, "F1", None);
        assert!(
            k.on_account_event(&settle("s1", "F1", first, 0.06, 1_001.0))
                .accepted
        );
        let out = k.on_account_event(&settle("s2", "F1", again, 0.06, 1_002.0));
        assert!(!out.accepted, "{first:?} then {again:?}: {out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::UnknownOrder);
        assert!(k.early_settlements().0.is_empty());
        assert!(close(k.account.k_fees_paid, 0.06));
    }
}

#[test]
fn a_self_trades_settlements_each_settle_their_own_side() {
    for taker_first in [true, false] {
        let mut k = kernel("self-trade", 2);
        // Slot 0 buys at market (taker, 0.05 predicted), slot 1 sells resting (maker, -0.025):
        // the venue matched them against each other, one trade id.
        entered(&mut k, 0, TradeSide::Long, false, "T1", None);
        entered(&mut k, 1, TradeSide::Short, true, "T1", None);
        assert!(
            close(k.account.k_unsettled_fees, 0.05 - 0.025),
            "{:?}",
            k.account
        );
        let taker = settle("s-taker", "T1", "BTC", 0.06, 1_001.0);
        let maker = settle("s-maker", "T1", "BTC", -0.02, 1_001.0);
        let order = if taker_first {
            [taker, maker]
        } else {
            [maker, taker]
        };
        for s in &order {
            let out = well_formed_details(k.on_account_event(s));
            assert!(out.accepted, "{out:?}");
        }
        assert!(close(k.slots()[0].fees_paid, 0.06), "{:?}", k.slots()[0]);
        assert!(close(k.slots()[1].fees_paid, -0.02), "{:?}", k.slots()[1]);
        assert!(close(k.account.k_fees_paid, 0.04));
        assert!(k.account.k_unsettled_fees.abs() < 1e-12, "{:?}", k.account);
        // Each liquidity learned its own side's ratio.
        assert!(close(k.fees.taker.ratio, 1.2), "{:?}", k.fees);
        assert!(close(k.fees.maker.ratio, 0.8), "{:?}", k.fees);
    }
}

/// The inputs of a session: a mark (the kernel's input time), a payment, `MONEY_EVENT_MEMORY`
/// later ones, the first resent.
fn session() -> Vec<KernelInput> {
    let mut v = vec![
        KernelInput::SeedCapital(10_000.0),
        KernelInput::MarkPrice {
            asset: id("BTC"),
            price: 100.0,
            ts: 1_000.0,
        },
        KernelInput::AccountEvent(funding("f-old", 1_000.0, -2.5)),
    ];
    for i in 0..MONEY_EVENT_MEMORY {
        v.push(KernelInput::AccountEvent(funding(
            &format!("f-{i}"),
            1_001.0 + i as f64,
            0.0,
        )));
    }
    v.push(KernelInput::AccountEvent(funding("f-old", 1_000.0, -2.5)));
    v
}

fn open(dir: &Path, checkpoint_every: u64) -> (KernelLog, Kernel) {
    open_log(dir, "log", checkpoint_every)
}

#[test]
fn a_log_of_a_forgotten_payments_resend_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 40_000);
    for input in session() {
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    assert_eq!(k.account.k_funding_net, -2.5);
    drop(log);
    let (_, recovered) = open(dir.path(), 0);
    assert_eq!(recovered.account, k.account);
    assert_eq!(recovered.seq(), k.seq());
}

/// An ACCOUNT_UPDATE `event_id` stamped `ts` with the `wallet` balance and `available` margin.
fn update(event_id: &str, ts: f64, wallet: Option<f64>, available: Option<f64>) -> AccountEvent {
    let mut u = AccountEvent::new(event_id, AccountEventKind::AccountUpdate);
    (u.wallet_balance, u.available_margin, u.timestamp) = (wallet, available, ts);
    u
}

#[test]
fn available_capital_is_not_an_available_margin_older_than_the_wallet_balance() {
    let mut k = kernel("available", 1);
    // A poll reports both; the venue's stream then reports the wallet alone, after a loss.
    assert!(
        k.on_account_event(&update("u1", 1_000.0, Some(10_000.0), Some(9_000.0)))
            .accepted
    );
    assert_eq!(k.account.available_capital(), 9_000.0);
    assert!(
        k.on_account_event(&update("u2", 1_100.0, Some(4_000.0), None))
            .accepted
    );
    assert_eq!(k.account.available_capital(), 4_000.0);
    // A deposit: the older available margin still caps what may be planned with.
    assert!(
        k.on_account_event(&update("u3", 1_200.0, Some(12_000.0), None))
            .accepted
    );
    assert_eq!(k.account.available_capital(), 9_000.0);
    // The next available margin, as new as the wallet, is taken as it is.
    assert!(
        k.on_account_event(&update("u4", 1_300.0, None, Some(11_000.0)))
            .accepted
    );
    assert_eq!(k.account.available_capital(), 11_000.0);
}
