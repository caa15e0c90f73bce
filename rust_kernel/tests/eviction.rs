//! What the kernel's bounded idempotency memories do once they have forgotten an id: the
//! intent ids (`INTENT_MEMORY`), the finished orders' ids (`FINISHED_ORDER_MEMORY`), a slot's
//! event and fill rings (`SLOT_SEEN_EVENTS`), the fees waiting for settlement
//! (`UNSETTLED_FILL_MEMORY`) and the account event ids (`ACCOUNT_EVENT_MEMORY`, and the
//! payments' and settlements' own, `MONEY_EVENT_MEMORY`). An old input
//! resent after its id was forgotten must book nothing a second time: refused (UNKNOWN_ORDER,
//! DUPLICATE_EVENT), never booked again, never a panic. And a checkpoint keeps what the
//! memories hold: a resend after a restart is refused as before it.
//!
//! Each test drives the real counts (the memories' sizes are constants) through the public
//! API, in a few seconds in a debug build.

use dita_kernel::kernel::{
    ACCOUNT_EVENT_MEMORY, FINISHED_ORDER_MEMORY, INTENT_MEMORY, UNSETTLED_FILL_MEMORY,
};
use dita_kernel::wal::kernel_log::{decode_kernel, encode_kernel};
use dita_kernel::*;

mod common;
use common::long_btc;

/// What a resend must leave as it was: the slots' positions and money, the account.
#[derive(Debug, PartialEq)]
struct Books {
    slots: Vec<(TradeStage, f64, f64, f64)>,
    k_realized_pnl: f64,
    k_fees_paid: f64,
    k_unsettled_fees: f64,
    k_funding_net: f64,
    open_orders: usize,
}

fn books(k: &Kernel) -> Books {
    Books {
        slots: k
            .slots()
            .iter()
            .map(|s| (s.fsm_state, s.size, s.realized_pnl, s.fees_paid))
            .collect(),
        k_realized_pnl: k.account.k_realized_pnl,
        k_fees_paid: k.account.k_fees_paid,
        k_unsettled_fees: k.account.k_unsettled_fees,
        k_funding_net: k.account.k_funding_net,
        open_orders: k.open_orders().len(),
    }
}

/// A restart: the kernel through a checkpoint's bytes and back.
fn restarted(k: &Kernel) -> Kernel {
    decode_kernel(&encode_kernel(k)).expect("a checkpoint decodes")
}

fn ack(order: &VenueOrder, event_id: &str, venue_id: &str) -> VenueEvent {
    let mut a = VenueEvent::new(event_id, KernelEventKind::OrderAck, &order.client_order_id);
    a.venue_order_id = id(venue_id);
    a
}

/// A fill of `size` at `price` with fill id `fill_id`, stating the running total `total` (0:
/// none), naming the order by both ids.
fn fill(
    order: &VenueOrder,
    venue_id: &str,
    event_id: &str,
    fill_id: &str,
    size: f64,
    total: f64,
    price: f64,
) -> VenueEvent {
    let mut f = VenueEvent::new(event_id, KernelEventKind::Fill, &order.client_order_id);
    f.venue_order_id = id(venue_id);
    f.fill_id = id(fill_id);
    (f.price, f.size, f.filled_size) = (price, size, total);
    f
}

/// What one trade of slot `slot` sent and was told: both orders, their venue ids and every
/// event the venue sent for them.
struct Trade {
    entry: VenueOrder,
    exit: VenueOrder,
    events: Vec<VenueEvent>,
}

/// One whole trade on slot `slot` (number `n`): ENTER 1 BTC at 100, acknowledged and filled,
/// then EXIT, acknowledged and filled at 101. Two orders finish, each with a client and a
/// venue id; two intents are accepted; two fills wait for settlement.
fn trade(k: &mut Kernel, slot: i64, n: u64) -> Trade {
    let tag = format!("{slot}-{n}");
    let enter = long_btc(
        &format!("e{tag}"),
        &format!("t{tag}"),
        slot,
        KernelCommandType::Enter,
        1.0,
    );
    let out = k.process_intent(&enter);
    let entry = out
        .submit
        .clone()
        .unwrap_or_else(|| panic!("{tag}: {out:?}"));
    let mut events = vec![
        ack(&entry, &format!("ae{tag}"), &format!("ve{tag}")),
        fill(
            &entry,
            &format!("ve{tag}"),
            &format!("fe{tag}"),
            &format!("Te{tag}"),
            1.0,
            1.0,
            100.0,
        ),
    ];
    for ev in &events {
        let out = k.on_venue_event(ev);
        assert!(out.accepted, "{tag}: {out:?}");
    }
    let exit = long_btc(&format!("x{tag}"), "", slot, KernelCommandType::Exit, 0.0);
    let out = k.process_intent(&exit);
    let exit = out
        .submit
        .clone()
        .unwrap_or_else(|| panic!("{tag}: {out:?}"));
    let exit_events = [
        ack(&exit, &format!("ax{tag}"), &format!("vx{tag}")),
        fill(
            &exit,
            &format!("vx{tag}"),
            &format!("fx{tag}"),
            &format!("Tx{tag}"),
            1.0,
            1.0,
            101.0,
        ),
    ];
    for ev in &exit_events {
        let out = k.on_venue_event(ev);
        assert!(out.accepted, "{tag}: {out:?}");
    }
    events.extend(exit_events);
    assert_eq!(k.slots()[slot as usize].fsm_state, TradeStage::Closed);
    Trade {
        entry,
        exit,
        events,
    }
}

/// Each of `trade`'s events resent, and what the kernel said: none may be taken.
fn resend_all(k: &mut Kernel, t: &Trade, when: &str) -> Vec<KernelOutcome> {
    let before = books(k);
    let outs: Vec<KernelOutcome> = t.events.iter().map(|ev| k.on_venue_event(ev)).collect();
    for (ev, out) in t.events.iter().zip(&outs) {
        assert!(
            !out.accepted,
            "{when}: {:?} taken again: {out:?}",
            ev.event_id
        );
    }
    assert_eq!(books(k), before, "{when}: a resend changed the books");
    outs
}

/// A venue resending every report of a trade whose orders ended more than
/// `FINISHED_ORDER_MEMORY` order ids ago (each order leaves its client and its venue id):
/// nothing is booked again, and the fills are refused as UNKNOWN_ORDER.
#[test]
fn reports_of_orders_the_order_memory_forgot_book_nothing() {
    let mut k = Kernel::new("ev", 2).unwrap();
    let old = trade(&mut k, 0, 0);
    // Within the memory, and on the slot's rings: refused.
    resend_all(&mut k, &old, "at once");
    // Two finished orders, four ids, a trade; one more trade than the memory holds.
    let trades = FINISHED_ORDER_MEMORY as u64 / 4 + 1;
    for n in 1..=trades {
        trade(&mut k, (n % 2) as i64, n);
    }
    let outs = resend_all(&mut k, &old, "once forgotten");
    let fills: Vec<_> = old
        .events
        .iter()
        .zip(&outs)
        .filter(|(ev, _)| ev.kind == KernelEventKind::Fill)
        .collect();
    for (ev, out) in fills {
        assert_eq!(
            out.diagnostic_code,
            KernelDiagnosticCode::UnknownOrder,
            "{:?}: {out:?}",
            ev.event_id
        );
    }
    // The slot it traded on is open again: the old entry's fill must not land on its order.
    let enter = long_btc("e-now", "t-now", 0, KernelCommandType::Enter, 2.0);
    let now = k.process_intent(&enter).submit.expect("sent");
    assert!(k.on_venue_event(&ack(&now, "a-now", "v-now")).accepted);
    resend_all(&mut k, &old, "with the slot working");
    let mut renamed = old.events[1].clone();
    renamed.slot_id = 0;
    let out = k.on_venue_event(&renamed);
    assert!(!out.accepted, "{out:?}");
    assert_eq!(k.slots()[0].size, 0.0);
    // And through a restart.
    let mut back = restarted(&k);
    resend_all(&mut back, &old, "after a restart");
    // The trade's orders: asked of nothing any more.
    assert!(k
        .open_orders()
        .iter()
        .all(|o| o.client_order_id != old.entry.client_order_id
            && o.client_order_id != old.exit.client_order_id));
}

/// An entry of `size` on slot 0, acknowledged as `v-big`.
fn big_entry(k: &mut Kernel, size: f64) -> VenueOrder {
    let enter = long_btc("e-big", "t-big", 0, KernelCommandType::Enter, size);
    let out = k.process_intent(&enter);
    let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
    assert!(k.on_venue_event(&ack(&order, "a-big", "v-big")).accepted);
    order
}

/// An order filled in more pieces than a slot's rings hold (64 event ids, 64 fill keys), each
/// report with its fill id and the running total: every piece resent, under its own event id
/// or a new one, books nothing.
#[test]
fn fills_resent_past_the_slots_rings_book_nothing_with_running_totals() {
    let mut k = Kernel::new("ring", 1).unwrap();
    let order = big_entry(&mut k, 1000.0);
    let pieces: Vec<VenueEvent> = (0..200)
        .map(|i| {
            let total = (i + 1) as f64;
            fill(
                &order,
                "v-big",
                &format!("f{i}"),
                &format!("T{i}"),
                1.0,
                total,
                100.0,
            )
        })
        .collect();
    for f in &pieces {
        assert!(k.on_venue_event(f).accepted);
    }
    let before = books(&k);
    for f in &pieces {
        let mut again = f.clone();
        assert!(!k.on_venue_event(&again).accepted, "{again:?}");
        again.event_id = id(&format!("re-{}", f.event_id));
        assert!(!k.on_venue_event(&again).accepted, "{again:?}");
    }
    assert_eq!(books(&k), before);
    assert_eq!(k.slots()[0].size, 200.0);
}

/// `n` fills of 1 of `order` at 100 (fill ids `T0`...), without the running total: a venue's
/// trade stream gives each fill's size and id only.
fn pieces_without_totals(order: &VenueOrder, n: usize) -> Vec<VenueEvent> {
    (0..n)
        .map(|i| {
            fill(
                order,
                "v-big",
                &format!("f{i}"),
                &format!("T{i}"),
                1.0,
                0.0,
                100.0,
            )
        })
        .collect()
}

/// Fills without the running total, resent once 64 later ones pushed their ids out of the
/// slot's rings (event ids and fill keys): booked again, they would make a position the venue
/// does not hold. Each is DUPLICATE_EVENT while the order works, under its own event id or a
/// new one, and after a restart.
#[test]
fn fills_without_running_totals_resent_past_the_slots_rings_book_nothing() {
    let mut k = Kernel::new("ring", 1).unwrap();
    let order = big_entry(&mut k, 1000.0);
    let pieces = pieces_without_totals(&order, 150);
    for f in &pieces {
        assert!(k.on_venue_event(f).accepted);
    }
    let before = books(&k);
    assert_eq!(k.slots()[0].size, 150.0);
    let resend = |k: &mut Kernel, when: &str| {
        for f in &pieces {
            let mut again = f.clone();
            for event_id in [f.event_id.to_string(), format!("re-{}-{when}", f.event_id)] {
                again.event_id = id(&event_id);
                let out = k.on_venue_event(&again);
                assert_eq!(
                    out.diagnostic_code,
                    KernelDiagnosticCode::DuplicateEvent,
                    "{when}: {again:?} {out:?}"
                );
            }
        }
        assert_eq!(books(k), before, "{when}");
    };
    resend(&mut k, "live");
    let mut back = restarted(&k);
    resend(&mut back, "restarted");
    // A new piece is still booked.
    let new = fill(&order, "v-big", "f-new", "T-new", 1.0, 0.0, 100.0);
    assert!(back.on_venue_event(&new).accepted);
    assert_eq!(back.slots()[0].size, 151.0);
}

/// The same for an order kept after it ended (canceled after 150 pieces, the cancel stating
/// no filled size): its late fills are booked once, its early ones, resent, not again.
#[test]
fn fills_of_a_kept_order_resent_past_its_ring_book_nothing() {
    let mut k = Kernel::new("kept", 1).unwrap();
    let order = big_entry(&mut k, 1000.0);
    let pieces = pieces_without_totals(&order, 150);
    for f in &pieces[..80] {
        assert!(k.on_venue_event(f).accepted);
    }
    let cancel = long_btc("c-big", "", 0, KernelCommandType::Cancel, 0.0);
    assert!(k.process_intent(&cancel).accepted);
    let mut ack = VenueEvent::new("ca-big", KernelEventKind::CancelAck, &order.client_order_id);
    ack.venue_order_id = id("v-big");
    assert!(k.on_venue_event(&ack).accepted);
    // Fills racing the cancel: booked late.
    for f in &pieces[80..] {
        let out = k.on_venue_event(f);
        assert!(out.accepted, "{out:?}");
    }
    assert_eq!(k.slots()[0].size, 150.0);
    let before = books(&k);
    let mut back = restarted(&k);
    for k in [&mut k, &mut back] {
        for f in &pieces {
            let out = k.on_venue_event(f);
            assert!(!out.accepted, "{:?} booked again: {out:?}", f.event_id);
        }
        assert_eq!(books(k), before);
    }
}

/// Fills with neither a fill id nor the running total are known by their event id alone:
/// resent once 64 later events pushed it out of the slot's event ring, not booked again.
#[test]
fn fills_known_by_their_event_id_alone_resent_past_the_ring_book_nothing() {
    let mut k = Kernel::new("bare", 1).unwrap();
    let order = big_entry(&mut k, 1000.0);
    let mut pieces = pieces_without_totals(&order, 150);
    for f in &mut pieces {
        f.fill_id = id("");
        assert!(k.on_venue_event(f).accepted);
    }
    let before = books(&k);
    let mut back = restarted(&k);
    for k in [&mut k, &mut back] {
        for f in &pieces {
            let out = k.on_venue_event(f);
            assert_eq!(
                out.diagnostic_code,
                KernelDiagnosticCode::DuplicateEvent,
                "{:?} {out:?}",
                f.event_id
            );
        }
        assert_eq!(books(k), before);
    }
    // Another event is another fill.
    let new = fill(&order, "v-big", "f-new", "", 1.0, 0.0, 100.0);
    assert!(back.on_venue_event(&new).accepted);
    assert_eq!(back.slots()[0].size, 151.0);
}

/// A slot's event memory keeps, past its 64 places, only what its current trade wrote: the
/// next trade starts with none of the last one's kept, and a checkpoint says how many of the
/// places the trade wrote (`Kernel::trade_event_counts`), so a kernel restarted mid-trade keeps
/// what the live one keeps.
#[test]
fn a_slots_event_memory_keeps_its_trades_own_past_the_ring_and_through_a_restart() {
    let mut k = Kernel::new("ring-trades", 1).unwrap();
    // Trade 0: 73 events (an ack, 70 fills, the exit's ack and fill).
    let first = big_entry(&mut k, 70.0);
    for f in &pieces_without_totals(&first, 70) {
        assert!(k.on_venue_event(f).accepted);
    }
    let exit = long_btc("x-big", "", 0, KernelCommandType::Exit, 0.0);
    let exit = k.process_intent(&exit).submit.expect("the exit is sent");
    assert!(k.on_venue_event(&ack(&exit, "ax", "vx")).accepted);
    assert!(
        k.on_venue_event(&fill(&exit, "vx", "fx", "Tx", 70.0, 70.0, 101.0))
            .accepted
    );
    assert_eq!(k.slots()[0].fsm_state, TradeStage::Closed);
    assert_eq!(k.trade_event_counts(), vec![]);

    // Trade 1: its ack and first fill; the ring holds 62 events of trade 0 beside them.
    let enter = long_btc("e-two", "t-two", 0, KernelCommandType::Enter, 100.0);
    let second = k.process_intent(&enter).submit.expect("the entry is sent");
    assert!(k.on_venue_event(&ack(&second, "a-two", "v-two")).accepted);
    // Known by their event ids alone: neither a fill id nor the running total.
    let piece = |event_id: &str| fill(&second, "v-two", event_id, "", 1.0, 0.0, 100.0);
    assert!(k.on_venue_event(&piece("g0")).accepted);
    assert_eq!(k.trade_event_counts(), vec![(0, 2)]);

    let bytes = encode_kernel(&k);
    let mut back = decode_kernel(&bytes).expect("a checkpoint decodes");
    assert_eq!(back.slots(), k.slots());
    assert_eq!(back.trade_event_counts(), k.trade_event_counts());

    for k in [&mut k, &mut back] {
        // 70 more fills push out the rest of trade 0's events, then trade 1's own.
        for i in 1..=70 {
            assert!(k.on_venue_event(&piece(&format!("g{i}"))).accepted);
        }
        let out = k.on_venue_event(&piece("g0"));
        assert_eq!(
            out.diagnostic_code,
            KernelDiagnosticCode::DuplicateEvent,
            "{out:?}"
        );
        assert_eq!(k.slots()[0].size, 71.0);
    }
    // Trade 0's event ids were pushed out unkept: a venue numbering its events again finds
    // them free.
    let reused = piece("f20");
    for k in [&mut k, &mut back] {
        let out = k.on_venue_event(&reused);
        assert!(out.accepted, "{out:?}");
        assert_eq!(k.slots()[0].size, 72.0);
    }
    assert_eq!(back.slots(), k.slots());
}

/// An intent id reused once `INTENT_MEMORY` newer intents were accepted is no longer known:
/// taken as a new intent (the memory is bounded). Within it, and across a restart, the reuse
/// is DUPLICATE_INTENT.
#[test]
fn an_intent_id_is_refused_while_remembered_and_through_a_restart() {
    let mut k = Kernel::new("intents", 1).unwrap();
    let first = long_btc("i-0", "t-0", 0, KernelCommandType::Enter, 1.0);
    let order = k.process_intent(&first).submit.expect("sent");
    let cancel = |n: u64| long_btc(&format!("c-{n}"), "", 0, KernelCommandType::Cancel, 0.0);
    let canceled = |k: &mut Kernel, order: &VenueOrder, n: u64| {
        let ev = VenueEvent::new(
            &format!("ca-{n}"),
            KernelEventKind::CancelAck,
            &order.client_order_id,
        );
        assert!(k.on_venue_event(&ev).accepted);
    };
    assert!(k.process_intent(&cancel(0)).accepted);
    canceled(&mut k, &order, 0);
    let again = long_btc("i-0", "t-again", 0, KernelCommandType::Enter, 1.0);
    let out = k.process_intent(&again);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::DuplicateIntent,
        "{out:?}"
    );
    let mut back = restarted(&k);
    let out = back.process_intent(&again);
    assert_eq!(
        out.diagnostic_code,
        KernelDiagnosticCode::DuplicateIntent,
        "{out:?}"
    );
    // An ENTER and its CANCEL: two accepted intents a round.
    for n in 1..=(INTENT_MEMORY as u64 / 2) {
        let enter = long_btc(
            &format!("i-{n}"),
            &format!("t-{n}"),
            0,
            KernelCommandType::Enter,
            1.0,
        );
        let order = k.process_intent(&enter).submit.expect("sent");
        assert!(k.process_intent(&cancel(n)).accepted);
        canceled(&mut k, &order, n);
    }
    let out = k.process_intent(&again);
    assert!(out.accepted, "the id is forgotten: {out:?}");
    assert!(out.submit.is_some());
}

/// A FILL_SETTLED for a fill whose predicted fee was pushed out of the queue waiting for
/// settlement (`UNSETTLED_FILL_MEMORY` later fills) changes nothing: its prediction stood
/// when it left. The settlement is held for a fill of its id to come (no fill of it waits, as
/// for a settlement before its fill). One settled already is refused again, after a restart
/// too.
#[test]
fn a_settlement_of_a_fill_pushed_out_of_the_unsettled_queue_books_nothing() {
    let mut k = Kernel::new("settle", 1).unwrap();
    let order = big_entry(&mut k, 1e6);
    let n = UNSETTLED_FILL_MEMORY + 2;
    for i in 0..n {
        let total = (i + 1) as f64;
        let f = fill(
            &order,
            "v-big",
            &format!("f{i}"),
            &format!("T{i}"),
            1.0,
            total,
            100.0,
        );
        let out = k.on_venue_event(&f);
        assert!(out.accepted, "{out:?}");
    }
    let settle = |event: &str, fill_id: &str| {
        let mut s = AccountEvent::new(event, AccountEventKind::FillSettled);
        s.fill_id = id(fill_id);
        s.fee = 0.07;
        s
    };
    // The newest is waiting: settled once, refused after.
    let newest = format!("T{}", n - 1);
    assert!(k.on_account_event(&settle("s-new", &newest)).accepted);
    let mut back = restarted(&k);
    for k in [&mut k, &mut back] {
        let before = books(k);
        for (event, fill_id, held) in [
            ("s-new", newest.as_str(), false),
            ("s-new-2", newest.as_str(), false),
            ("s-old", "T0", true),
            ("s-old-1", "T1", true),
        ] {
            let out = k.on_account_event(&settle(event, fill_id));
            let said = out.details.iter().any(|(n, _)| *n == "held_for_fill");
            assert_eq!(
                (out.accepted, said),
                (held, held),
                "{event} {fill_id}: {out:?}"
            );
        }
        assert_eq!(books(k), before);
        assert!(k.account.k_unsettled_fees >= 0.0);
    }
}

/// A FUNDING_FEE resent once `ACCOUNT_EVENT_MEMORY` newer account events came (a venue's
/// funding history polled again, after a day of balance updates) is not booked twice: the ids
/// of payments and settlements are kept apart (`MONEY_EVENT_MEMORY`).
#[test]
fn a_funding_payment_resent_past_the_account_event_memory_is_booked_once() {
    let (mut k, pay) = funding_then_updates("funding");
    let out = k.on_account_event(&pay);
    assert!(!out.accepted, "funding booked twice: {out:?}");
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(k.account.k_funding_net, -2.5);
}

/// The same through a restart: a checkpoint keeps the payments' ids.
#[test]
fn a_funding_payment_resent_past_the_account_event_memory_after_a_restart_is_booked_once() {
    let (k, pay) = funding_then_updates("funding-restart");
    let mut back = restarted(&k);
    let out = back.on_account_event(&pay);
    assert!(
        !out.accepted,
        "funding booked twice after a restart: {out:?}"
    );
    assert_eq!(out.diagnostic_code, KernelDiagnosticCode::DuplicateEvent);
    assert_eq!(back.account.k_funding_net, -2.5);
}

/// A kernel that booked a FUNDING_FEE of -2.5 and then `ACCOUNT_EVENT_MEMORY` balance updates,
/// and the payment.
fn funding_then_updates(kernel_id: &str) -> (Kernel, AccountEvent) {
    let mut k = Kernel::new(kernel_id, 1).unwrap();
    let mut pay = AccountEvent::new("fund-1", AccountEventKind::FundingFee);
    pay.amount = -2.5;
    pay.timestamp = 1000.0;
    assert!(k.on_account_event(&pay).accepted);
    for i in 0..ACCOUNT_EVENT_MEMORY {
        let mut u = AccountEvent::new(&format!("upd-{i}"), AccountEventKind::AccountUpdate);
        u.wallet_balance = Some(10_000.0);
        u.timestamp = 1001.0 + i as f64;
        assert!(k.on_account_event(&u).accepted);
    }
    (k, pay)
}
