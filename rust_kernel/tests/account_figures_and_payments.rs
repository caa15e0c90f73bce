//! The exchange's figures (E) and the account's payments. The figures go forward in the venue's
//! time: each (wallet balance, available, used and maintenance margin) is taken only from an
//! account event stamped at or after the one it was last taken from. An ACCOUNT_UPDATE whose
//! every figure is older is refused (DUPLICATE_EVENT, naming the figure, its value and the one
//! the account holds), and a FUNDING_FEE or FILL_SETTLED stamped before books its payment
//! without its balance. So an ACCOUNT_UPDATE resent once 10,000 later ones pushed its id out of
//! the account event memory, or a funding payment polled late, does not take E back to a
//! figure the venue reported long ago, and the reconcile status with it. A FUNDING_FEE resent
//! once 100,000 later payments and settlements pushed its id out of the money event memory is
//! not booked again either: one stamped before a forgotten payment (or at its time, under the
//! id it had) is refused DUPLICATE_EVENT, naming both times. And an ACCOUNT_UPDATE carrying a
//! payment's figure is refused naming it.

use std::path::Path;

use dita_kernel::kernel::{KernelInput, ACCOUNT_EVENT_MEMORY, MONEY_EVENT_MEMORY};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel, KernelLog};
use dita_kernel::*;

mod common;
use common::{detail, open_log, well_formed_details};

/// An ACCOUNT_UPDATE `event_id` stamped `ts` reporting the wallet balance `wallet`.
fn update(event_id: &str, ts: f64, wallet: f64) -> AccountEvent {
    let mut u = AccountEvent::new(event_id, AccountEventKind::AccountUpdate);
    u.wallet_balance = Some(wallet);
    u.timestamp = ts;
    u
}

/// A FUNDING_FEE `event_id` stamped `ts` paying `amount`, the wallet balance after it `wallet`.
fn funding(event_id: &str, ts: f64, amount: f64, wallet: f64) -> AccountEvent {
    let mut f = AccountEvent::new(event_id, AccountEventKind::FundingFee);
    f.amount = amount;
    f.wallet_balance = Some(wallet);
    f.timestamp = ts;
    f
}

/// A kernel of one slot with a seed capital of 10,000.
fn kernel(name: &str) -> Kernel {
    let mut k = Kernel::new(name, 1).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    k
}

/// The venue reports 9,000 at 1,000, then 10,000 once a second for `ACCOUNT_EVENT_MEMORY`
/// seconds, which pushes the first report's id out of the account event memory. Returns the
/// first report.
fn old_update_forgotten(k: &mut Kernel) -> AccountEvent {
    let old = update("upd-old", 1_000.0, 9_000.0);
    assert!(k.on_account_event(&old).accepted);
    for i in 0..ACCOUNT_EVENT_MEMORY {
        let u = update(&format!("upd-{i}"), 1_001.0 + i as f64, 10_000.0);
        assert!(k.on_account_event(&u).accepted);
    }
    assert_eq!(k.account.e_wallet_balance, Some(10_000.0));
    old
}

#[test]
fn an_account_update_resent_after_its_id_was_forgotten_is_refused_as_stale() {
    let mut k = kernel("stale");
    let old = old_update_forgotten(&mut k);
    let before = k.account.clone();
    let out = well_formed_details(k.on_account_event(&old));
    assert!(!out.accepted, "{out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(out.severity, KernelSeverity::Info);
    assert_eq!(
        detail(&out, "field"),
        Some(Detail::Static("wallet_balance"))
    );
    assert_eq!(detail(&out, "value"), Some(Detail::F64(9_000.0)));
    assert_eq!(detail(&out, "last_value"), Some(Detail::F64(10_000.0)));
    assert_eq!(detail(&out, "timestamp"), Some(Detail::F64(1_000.0)));
    let last = 1_000.0 + ACCOUNT_EVENT_MEMORY as f64;
    assert_eq!(detail(&out, "last_timestamp"), Some(Detail::F64(last)));
    assert!(detail(&out, "reason").is_some(), "{out:?}");
    // Nothing changed: E is the venue's latest figure, and K and E agree.
    assert_eq!(k.account, before);
    assert_eq!(k.account.reconcile().status, account::ReconcileStatus::Ok);
    // Still refused resent again (a stale update is not remembered as taken).
    assert!(!k.on_account_event(&old).accepted);
}

#[test]
fn a_funding_payment_stamped_before_the_last_update_books_its_payment_not_its_balance() {
    let mut k = kernel("late-funding");
    // The stream brings the second funding and the balance after both; the funding history,
    // polled later, brings the first, with the balance right after it.
    assert!(
        k.on_account_event(&funding("fund-2", 1_500.0, -25.0, 9_950.0))
            .accepted
    );
    assert!(
        k.on_account_event(&update("upd", 2_000.0, 9_950.0))
            .accepted
    );
    let out = well_formed_details(k.on_account_event(&funding("fund-1", 1_000.0, -25.0, 9_975.0)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.account.k_funding_net, -50.0);
    assert_eq!(k.account.e_wallet_balance, Some(9_950.0));
    assert_eq!(
        detail(&out, "figures_not_taken"),
        Some(Detail::Str("wallet_balance".into()))
    );
    assert_eq!(detail(&out, "last_figure_time"), Some(Detail::F64(2_000.0)));
    let r = k.account.reconcile();
    assert_eq!(r.status, account::ReconcileStatus::Ok, "{}", r.explanation);
}

#[test]
fn an_update_takes_its_newer_figures_and_leaves_the_older() {
    let mut k = kernel("partial");
    let mut full = update("full", 1_000.0, 10_000.0);
    full.used_margin = Some(100.0);
    assert!(k.on_account_event(&full).accepted);
    assert!(
        k.on_account_event(&update("bal", 2_000.0, 9_990.0))
            .accepted
    );
    // Wallet and margins of 1,500: the wallet is older than the one held, the margin newer.
    let mut mixed = update("mixed", 1_500.0, 9_000.0);
    mixed.used_margin = Some(200.0);
    let out = well_formed_details(k.on_account_event(&mixed));
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.account.e_wallet_balance, Some(9_990.0));
    assert_eq!(k.account.e_used_margin, Some(200.0));
    assert_eq!(
        detail(&out, "figures_not_taken"),
        Some(Detail::Str("wallet_balance".into()))
    );
    // Only the margin now: older than the margin just taken.
    let mut margin = AccountEvent::new("margin", AccountEventKind::AccountUpdate);
    (margin.used_margin, margin.timestamp) = (Some(150.0), 1_200.0);
    let out = k.on_account_event(&margin);
    assert!(!out.accepted, "{out:?}");
    assert_eq!(detail(&out, "field"), Some(Detail::Static("used_margin")));
    assert_eq!(detail(&out, "last_value"), Some(Detail::F64(200.0)));
    assert_eq!(k.account.e_used_margin, Some(200.0));
}

#[test]
fn updates_of_one_time_apply_in_the_order_they_come_and_unstamped_ones_are_not_judged() {
    let mut k = kernel("same-time");
    assert!(k.on_account_event(&update("a", 1_000.0, 9_990.0)).accepted);
    // Two reports in one millisecond: the later one is the venue's latest.
    assert!(k.on_account_event(&update("b", 1_000.0, 9_980.0)).accepted);
    assert_eq!(k.account.e_wallet_balance, Some(9_980.0));
    // A caller that stamps no time (0) is not judged by the venue's clock.
    assert!(k.on_account_event(&update("c", 0.0, 9_970.0)).accepted);
    assert_eq!(k.account.e_wallet_balance, Some(9_970.0));
    assert!(!k.on_account_event(&update("d", 999.0, 9_960.0)).accepted);
}

/// The inputs of a session: updates, one stale, and a late funding payment.
fn session() -> Vec<KernelInput> {
    let mut margin = update("m", 1_600.0, 9_990.0);
    margin.used_margin = Some(50.0);
    [
        update("u1", 1_000.0, 10_000.0),
        update("u2", 2_000.0, 9_990.0),
        update("u0", 500.0, 9_000.0),
        funding("f1", 1_500.0, -10.0, 9_990.0),
        margin,
        update("u3", 3_000.0, 9_990.0),
    ]
    .into_iter()
    .map(KernelInput::AccountEvent)
    .collect()
}

fn open(dir: &Path, checkpoint_every: u64) -> (KernelLog, Kernel) {
    open_log(dir, "acct", checkpoint_every)
}

/// Records `session` in a new log in `dir` (a checkpoint every `checkpoint_every`); returns
/// the kernel as it ran.
fn record(dir: &Path, checkpoint_every: u64) -> Kernel {
    let (mut log, mut k) = open(dir, checkpoint_every);
    let inputs = std::iter::once(KernelInput::SeedCapital(10_000.0)).chain(session());
    for input in inputs {
        k.apply(&input).unwrap();
        log.record(&k, &input).unwrap();
    }
    k
}

#[test]
fn a_log_of_account_updates_recovers_the_account_as_it_ran() {
    for checkpoint_every in [0, 2] {
        let dir = tempfile::tempdir().unwrap();
        let k = record(dir.path(), checkpoint_every);
        let (_, recovered) = open(dir.path(), 0);
        assert_eq!(recovered.account, k.account, "every {checkpoint_every}");
        assert_eq!(recovered.seq(), k.seq());
        // The recovered kernel judges as the live one: the stale update is refused by both.
        for mut k in [k, recovered] {
            let out = k.on_account_event(&update("u-late", 2_500.0, 8_000.0));
            assert!(!out.accepted, "{out:?}");
        }
    }
}

#[test]
fn a_checkpoint_carries_the_figures_times() {
    let mut k = kernel("acct");
    for input in session() {
        k.apply(&input).unwrap();
    }
    let bytes = encode_kernel(&k);
    let back = decode_kernel(&bytes).unwrap();
    assert_eq!(back.account, k.account);
    assert!(
        !back
            .clone()
            .on_account_event(&update("late", 2_500.0, 8_000.0))
            .accepted
    );
}

/// The venue's figures of a kernel whose other inputs (here a mark price each second) stamp
/// the time up to 1,002: the balance of 10,000 at 1,000, then a funding payment stamped in
/// milliseconds (1,001,000: an adapter that forgot to divide), which carries the balance after
/// it. Returns the inputs, the payment last.
fn milliseconds_funding() -> Vec<KernelInput> {
    let mark = |ts: f64| KernelInput::MarkPrice {
        asset: "BTC".into(),
        price: 100.0,
        ts,
    };
    vec![
        KernelInput::SeedCapital(10_000.0),
        mark(1_000.0),
        KernelInput::AccountEvent(update("u1", 1_000.0, 10_000.0)),
        mark(1_001.0),
        KernelInput::AccountEvent(funding("f-ms", 1_001_000.0, -10.0, 9_990.0)),
        mark(1_002.0),
    ]
}

/// A figure stamped far ahead of every other input the kernel took (milliseconds among
/// seconds, a clock hours ahead) would hold back every later update of that figure until the
/// venue's clock reached it: for milliseconds, for ever, E frozen while K moves (MISMATCH) and
/// every update refused as INFO. Its time is not believed: the next update of the figure is
/// taken, WARNING naming it, and resends older than the kernel's time are still refused.
#[test]
fn a_figure_stamped_far_ahead_of_the_kernels_inputs_does_not_hold_back_later_updates() {
    let mut k = Kernel::new("ahead", 1).unwrap();
    for input in milliseconds_funding() {
        let out = k.apply(&input).unwrap();
        assert!(out.accepted, "{out:?}");
    }
    assert_eq!(k.account.e_wallet_balance, Some(9_990.0));
    let out = well_formed_details(k.on_account_event(&update("u2", 1_002.0, 9_980.0)));
    assert!(out.accepted, "{out:?}");
    assert_eq!(out.severity, KernelSeverity::Warning);
    assert_eq!(k.account.e_wallet_balance, Some(9_980.0));
    assert_eq!(
        detail(&out, "figures_time_not_believed"),
        Some(Detail::Str("wallet_balance".into()))
    );
    assert_eq!(
        detail(&out, "figure_time_ahead"),
        Some(Detail::F64(1_001_000.0))
    );
    assert_eq!(
        detail(&out, "latest_input_time"),
        Some(Detail::F64(1_002.0))
    );
    // The figure's time is the update's now: the next goes as usual, and one older is stale.
    let out = k.on_account_event(&update("u3", 1_003.0, 9_980.0));
    assert!(
        out.accepted && out.severity == KernelSeverity::Info,
        "{out:?}"
    );
    let out = k.on_account_event(&update("u-old", 1_002.5, 9_000.0));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(k.account.e_wallet_balance, Some(9_980.0));
}

/// A figure's time within a minute of the kernel's latest input is believed (two clocks a few
/// seconds apart), and a resend older than the kernel's time is refused even where the figure
/// held is stamped far ahead.
#[test]
fn a_figure_a_little_ahead_is_believed_and_a_resend_behind_the_kernels_time_is_refused() {
    let mut k = kernel("a-little");
    k.mark_price("BTC", 100.0, 1_000.0).unwrap();
    assert!(
        k.on_account_event(&update("u1", 1_030.0, 10_000.0))
            .accepted
    );
    let out = k.on_account_event(&update("u0", 1_010.0, 9_000.0));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert!(
        k.on_account_event(&update("u-ms", 1_031_000.0, 9_990.0))
            .accepted
    );
    // Far ahead, but the event is more than a minute from the kernel's time (before it, or as
    // far ahead, in the same milliseconds): stale all the same.
    for (event_id, ts) in [("u-older", 900.0), ("u-ms-older", 1_030_000.0)] {
        let out = k.on_account_event(&update(event_id, ts, 9_000.0));
        assert_eq!(
            out.diagnostic_code,
            KernelDiagnosticCode::DuplicateEvent,
            "{out:?}"
        );
    }
    assert_eq!(k.account.e_wallet_balance, Some(9_990.0));
}

/// The kernel's latest input time goes through a checkpoint: a kernel recovered from one judges
/// the next update as the live one does.
#[test]
fn the_latest_input_time_survives_a_restart() {
    for checkpoint_every in [0, 2] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut k) = open(dir.path(), checkpoint_every);
        for input in milliseconds_funding() {
            k.apply(&input).unwrap();
            log.record(&k, &input).unwrap();
        }
        drop(log);
        let (_, mut recovered) = open(dir.path(), 0);
        assert_eq!(recovered.account, k.account, "every {checkpoint_every}");
        assert!(
            encode_kernel(&k) == encode_kernel(&recovered),
            "every {checkpoint_every}"
        );
        let next = update("u2", 1_002.0, 9_980.0);
        let (a, b) = (k.on_account_event(&next), recovered.on_account_event(&next));
        assert!(a.accepted && b.accepted, "{a:?} {b:?}");
        let warning = KernelSeverity::Warning;
        assert_eq!((a.severity, b.severity), (warning, warning));
    }
}

/// A FUNDING_FEE `event_id` stamped `ts` paying `amount`, carrying no balance.
fn payment(event_id: &str, ts: f64, amount: f64) -> AccountEvent {
    let mut f = AccountEvent::new(event_id, AccountEventKind::FundingFee);
    f.amount = amount;
    f.timestamp = ts;
    f
}

/// The payments of a session: `f-old` (-2.5 at 1,000), then `MONEY_EVENT_MEMORY` later
/// payments of nothing, once a second, which push its id out of the money event memory.
/// The kernel's input time is 1,000 (a mark), so the forgotten payment's time is believed.
fn old_payment_forgotten(k: &mut Kernel) -> AccountEvent {
    k.mark_price("BTC", 100.0, 1_000.0).unwrap();
    let old = payment("f-old", 1_000.0, -2.5);
    assert!(k.on_account_event(&old).accepted);
    for i in 0..MONEY_EVENT_MEMORY {
        let f = payment(&format!("f-{i}"), 1_001.0 + i as f64, 0.0);
        assert!(k.on_account_event(&f).accepted);
    }
    assert_eq!(k.account.k_funding_net, -2.5);
    old
}

#[test]
fn a_funding_payment_resent_after_its_id_was_forgotten_is_refused_by_its_time() {
    let mut k = kernel("funding");
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
    let out = k.on_account_event(&payment("f-older", 999.0, -1.0));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(k.account.k_funding_net, -2.5);
    // A new payment is booked: later, of the forgotten one's time under another id (another
    // asset's funding of that hour), or unstamped.
    for (event_id, ts) in [("f-same-time", 1_000.0), ("f-new", 200_000.0), ("f-0", 0.0)] {
        let out = k.on_account_event(&payment(event_id, ts, -1.0));
        assert!(out.accepted, "{event_id}: {out:?}");
    }
    assert_eq!(k.account.k_funding_net, -5.5);
}

#[test]
fn the_remembered_payments_are_judged_by_id_not_time() {
    // Payments stamped out of order, all remembered: each is booked once.
    let mut k = kernel("order");
    for (event_id, ts) in [("a", 2_000.0), ("b", 1_000.0), ("c", 1_500.0)] {
        assert!(k.on_account_event(&payment(event_id, ts, -1.0)).accepted);
    }
    let out = k.on_account_event(&payment("b", 1_000.0, -1.0));
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(k.account.k_funding_net, -3.0);
}

/// A payment stamped in milliseconds among seconds, forgotten: a payment after it, stamped in
/// seconds, is still booked (its time was not believed).
fn a_forgotten_ms_payment_refuses_no_later_one(mut k: Kernel) {
    assert!(
        k.on_account_event(&payment("f-ms", 1_000_000.0, -1.0))
            .accepted
    );
    for i in 0..MONEY_EVENT_MEMORY {
        let f = payment(&format!("f-{i}"), 1_001.0, 0.0);
        assert!(k.on_account_event(&f).accepted);
    }
    let out = k.on_account_event(&payment("f-next", 2_000.0, -1.0));
    assert!(out.accepted, "{out:?}");
    assert_eq!(k.account.k_funding_net, -2.0);
}

#[test]
fn a_forgotten_payments_time_far_ahead_of_the_kernels_does_not_refuse_later_payments() {
    let mut k = kernel("ms");
    k.mark_price("BTC", 100.0, 1_000.0).unwrap();
    a_forgotten_ms_payment_refuses_no_later_one(k);
}

#[test]
fn with_no_input_time_yet_no_forgotten_payments_time_is_believed() {
    // A kernel fed account events alone has no time to tell milliseconds among seconds by: a
    // payment stamped so, forgotten, must not refuse every later payment of the venue.
    a_forgotten_ms_payment_refuses_no_later_one(kernel("no-time"));
}

#[test]
fn a_checkpoint_keeps_the_forgotten_payments_time() {
    let mut k = kernel("ckpt");
    let old = old_payment_forgotten(&mut k);
    let bytes = encode_kernel(&k);
    let mut back = decode_kernel(&bytes).unwrap();
    assert_eq!(encode_kernel(&back), bytes);
    let out = back.on_account_event(&old);
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(back.account.k_funding_net, -2.5);
}

/// The inputs of a session: a mark (the kernel's input time), a payment, `MONEY_EVENT_MEMORY`
/// later ones, the first resent.
fn payments_session() -> Vec<KernelInput> {
    let mut v = vec![
        KernelInput::SeedCapital(10_000.0),
        KernelInput::MarkPrice {
            asset: id("BTC"),
            price: 100.0,
            ts: 1_000.0,
        },
        KernelInput::AccountEvent(payment("f-old", 1_000.0, -2.5)),
    ];
    for i in 0..MONEY_EVENT_MEMORY {
        v.push(KernelInput::AccountEvent(payment(
            &format!("f-{i}"),
            1_001.0 + i as f64,
            0.0,
        )));
    }
    v.push(KernelInput::AccountEvent(payment("f-old", 1_000.0, -2.5)));
    v
}

#[test]
fn a_log_of_a_forgotten_payments_resend_recovers_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path(), 40_000);
    for input in payments_session() {
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
fn update_figures(
    event_id: &str,
    ts: f64,
    wallet: Option<f64>,
    available: Option<f64>,
) -> AccountEvent {
    let mut u = AccountEvent::new(event_id, AccountEventKind::AccountUpdate);
    (u.wallet_balance, u.available_margin, u.timestamp) = (wallet, available, ts);
    u
}

#[test]
fn available_capital_is_not_an_available_margin_older_than_the_wallet_balance() {
    let mut k = kernel("available");
    // A poll reports both; the venue's stream then reports the wallet alone, after a loss.
    assert!(
        k.on_account_event(&update_figures(
            "u1",
            1_000.0,
            Some(10_000.0),
            Some(9_000.0)
        ))
        .accepted
    );
    assert_eq!(k.account.available_capital(), 9_000.0);
    assert!(
        k.on_account_event(&update_figures("u2", 1_100.0, Some(4_000.0), None))
            .accepted
    );
    assert_eq!(k.account.available_capital(), 4_000.0);
    // A deposit: the older available margin still caps what may be planned with.
    assert!(
        k.on_account_event(&update_figures("u3", 1_200.0, Some(12_000.0), None))
            .accepted
    );
    assert_eq!(k.account.available_capital(), 9_000.0);
    // The next available margin, as new as the wallet, is taken as it is.
    assert!(
        k.on_account_event(&update_figures("u4", 1_300.0, None, Some(11_000.0)))
            .accepted
    );
    assert_eq!(k.account.available_capital(), 11_000.0);
}

#[test]
fn an_account_update_carrying_an_amount_or_fee_is_refused_naming_it() {
    for field in ["amount", "fee"] {
        let mut k = Kernel::new("update", 1).unwrap();
        let mut e = AccountEvent::new("u1", AccountEventKind::AccountUpdate);
        e.wallet_balance = Some(10_500.0);
        if field == "amount" {
            e.amount = 500.0;
        } else {
            e.fee = 3.0;
        }
        // Taken, its balance would apply and its figure be dropped.
        let out = k.on_account_event(&e);
        assert!(!out.accepted, "{out:?}");
        assert_eq!(out.diagnostic_code, KernelDiagnosticCode::InvalidIntent);
        assert_eq!(common::detail(&out, "field"), Some(Detail::Static(field)));
        assert_eq!(k.account.event_seq, 0);
        assert_eq!(k.account.e_wallet_balance, None);
    }
}
