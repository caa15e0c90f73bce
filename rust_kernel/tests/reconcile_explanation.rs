//! The reconciliation's explanation once every predicted fee is settled: the floating-point
//! residue `k_unsettled_fees` keeps (a few 1e-18) is no unsettled fee, and is not given as
//! the reason K and E differ.

use dita_kernel::account::{Account, ReconcileStatus};
use dita_kernel::*;

mod common;
use common::{exit_whole, fill_at_100, long_btc};

fn settle(event_id: &str, fill_id: &str, fee: f64) -> AccountEvent {
    let mut e = AccountEvent::new(event_id, AccountEventKind::FillSettled);
    e.fill_id = id(fill_id);
    e.fee = fee;
    e
}

fn update(event_id: &str, wallet_balance: f64) -> AccountEvent {
    let mut e = AccountEvent::new(event_id, AccountEventKind::AccountUpdate);
    e.wallet_balance = Some(wallet_balance);
    e
}

#[test]
fn settled_fills_leave_no_unsettled_fees_in_the_explanation() {
    let mut k = Kernel::new("explain", 1).unwrap();
    k.set_seed_capital(10_000.0).unwrap();
    let entry = k
        .process_intent(&long_btc("i1", "t0", 0, KernelCommandType::Enter, 1.0))
        .submit
        .unwrap();
    // Two fills of the entry (0.4 and 0.6 at 100, keyed by their event ids), then the exit
    // at 110: 0.02, 0.03 and 0.055 predicted (taker, 5 bp).
    fill_at_100(&mut k, &entry, 0.4, 0.4, "F1");
    fill_at_100(&mut k, &entry, 0.6, 1.0, "F2");
    let exit = exit_whole(&mut k, 0, 1);
    let mut x = VenueEvent::new("X1", KernelEventKind::Fill, &exit.client_order_id);
    (x.price, x.size, x.filled_size) = (110.0, 1.0, 1.0);
    assert!(k.on_venue_event(&x).accepted);
    for (event_id, fill_id, fee) in [("s1", "F1", 0.03), ("s2", "F2", 0.02), ("s3", "X1", 0.07)] {
        let out = k.on_account_event(&settle(event_id, fill_id, fee));
        assert!(out.accepted, "{out:?}");
    }
    // Every fill is settled: what waits is rounding residue (6.9e-18), not a fee.
    let residue = k.account.k_unsettled_fees;
    assert!(residue != 0.0 && residue.abs() < 1e-12, "{residue}");
    let wallet = k.account.k_capital() + 50.0;
    assert!(k.on_account_event(&update("u1", wallet)).accepted);
    let r = k.account.reconcile();
    assert_eq!(r.status, ReconcileStatus::Warn);
    assert!(
        !r.explanation.contains("not settled yet"),
        "residue named as unsettled fees: {}",
        r.explanation
    );
    assert!(
        r.explanation.contains("look for deposits"),
        "{}",
        r.explanation
    );
}

#[test]
fn a_residue_of_either_sign_is_no_unsettled_fee_or_rebate() {
    let mut a = Account {
        seed_capital: 10_000.0,
        ..Default::default()
    };
    for (residue, wallet, hint) in [
        (6.938893903907228e-18, 10_050.0, "look for deposits"),
        (-6.938893903907228e-18, 9_950.0, "look for fees, funding"),
    ] {
        a.k_unsettled_fees = residue;
        a.e_wallet_balance = Some(wallet);
        let text = a.reconcile().explanation;
        assert!(!text.contains("not settled yet"), "{text}");
        assert!(text.contains(hint), "{text}");
    }
    // A cent waiting is still named.
    a.k_unsettled_fees = 0.01;
    a.e_wallet_balance = Some(10_050.0);
    let text = a.reconcile().explanation;
    assert!(text.contains("0.01 of predicted fees"), "{text}");
}
