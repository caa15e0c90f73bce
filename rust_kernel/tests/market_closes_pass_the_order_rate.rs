//! The order-rate rule never keeps a position from being closed: the first MARKET exit of a
//! slot's whole position since a fill changed it is neither refused nor counted by
//! `max_order_rate`, so flatten all (one exit per slot at once) closes every position under a
//! rate of 2. The closes after one the venue ended unfilled, a LIMIT close (it can rest, be
//! cancelled and be sent again without end) and an exit of part of the position (it leaves
//! the position open) are judged and counted as entries are. The rule reads the intent and
//! the slot alone, so a log replays it as it ran.

use dita_kernel::kernel::KernelInput;
use dita_kernel::risk::RiskLimits;
use dita_kernel::wal::kernel_log::{KernelLog, KernelLogOptions};
use dita_kernel::wal::FsyncPolicy;
use dita_kernel::*;

mod common;
use common::{detail, long_btc};

/// Applies `input` to `k` and records it in `log`, as a runtime does.
fn step(log: &mut KernelLog, k: &mut Kernel, input: KernelInput) -> KernelOutcome {
    let out = k.apply(&input).unwrap();
    log.record(k, &input).unwrap();
    out
}

/// An intent `n` of slot `slot` on BTC (trade `t<slot>`), MARKET, all stamped within one second.
fn on_slot(n: &str, slot: i64, action: KernelCommandType, size: f64) -> Intent {
    let mut i = long_btc(n, &format!("t{slot}"), slot, action, size);
    i.timestamp = 60.0;
    i
}

/// Slots 0 to 2 each hold 1 BTC bought at 100 a minute before, then orders are limited to 2
/// a second.
fn three_open(log: &mut KernelLog, k: &mut Kernel) {
    for slot in 0..3 {
        let mut entry = on_slot(&format!("e{slot}"), slot, KernelCommandType::Enter, 1.0);
        entry.timestamp = 1.0;
        let out = step(log, k, KernelInput::Intent(entry));
        let order = out.submit.clone().unwrap_or_else(|| panic!("{out:?}"));
        let mut f = VenueEvent::new(
            &format!("f{slot}"),
            KernelEventKind::Fill,
            &order.client_order_id,
        );
        (f.price, f.size, f.filled_size) = (100.0, 1.0, 1.0);
        assert!(step(log, k, KernelInput::VenueEvent(f)).accepted);
    }
    let rate = RiskLimits {
        max_order_rate: Some(2.0),
        ..RiskLimits::default()
    };
    step(log, k, KernelInput::RiskLimits(rate));
}

fn open(dir: &std::path::Path) -> (KernelLog, Kernel) {
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every: 0,
        segment_bytes: 1 << 20,
    };
    KernelLog::open(dir, Kernel::new("rate", 6).unwrap(), &options).unwrap()
}

fn refused_by_the_rate(out: &KernelOutcome) -> bool {
    !out.accepted && detail(out, "rule") == Some(Detail::Static("max_order_rate"))
}

#[test]
fn market_closes_of_three_positions_pass_a_rate_of_two_and_leave_it_whole_to_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path());
    three_open(&mut log, &mut k);
    for slot in 0..3 {
        let close = on_slot(&format!("x{slot}"), slot, KernelCommandType::Exit, 1.0);
        let out = step(&mut log, &mut k, KernelInput::Intent(close));
        assert!(out.accepted, "{out:?}");
    }
    // The same second: two entries pass, the third is refused.
    let entries: Vec<bool> = (3..6)
        .map(|slot| {
            let entry = on_slot(&format!("e{slot}"), slot, KernelCommandType::Enter, 1.0);
            let out = step(&mut log, &mut k, KernelInput::Intent(entry));
            assert!(out.accepted || refused_by_the_rate(&out), "{out:?}");
            out.accepted
        })
        .collect();
    assert_eq!(entries, [true, true, false]);
    drop(log);
    let (_, mut recovered) = open(dir.path());
    assert_eq!(recovered.seq(), k.seq());
    assert_eq!(recovered.slots(), k.slots());
    // Its window holds what the live one holds: the next entry is refused by both.
    let probe = on_slot("probe", 5, KernelCommandType::Enter, 1.0);
    assert!(refused_by_the_rate(&recovered.process_intent(&probe)));
    assert!(refused_by_the_rate(&k.process_intent(&probe)));
}

#[test]
fn a_limit_close_and_an_exit_of_part_are_judged_and_counted_by_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path());
    three_open(&mut log, &mut k);
    let limit_close = |n: &str, slot: i64| {
        let mut x = on_slot(n, slot, KernelCommandType::Exit, 1.0);
        (x.order_type, x.limit_price) = (OrderType::Limit, 101.0);
        x
    };
    let part = on_slot("x1", 1, KernelCommandType::Exit, 0.5);
    let answers: Vec<KernelOutcome> = [limit_close("x0", 0), part, limit_close("x2", 2)]
        .into_iter()
        .map(|x| step(&mut log, &mut k, KernelInput::Intent(x)))
        .collect();
    assert!(answers[0].accepted && answers[1].accepted, "{answers:?}");
    assert!(refused_by_the_rate(&answers[2]), "{:?}", answers[2]);
    // The window is full, and a market close of slot 2 goes out all the same.
    let close = on_slot("x2-market", 2, KernelCommandType::Exit, 1.0);
    assert!(step(&mut log, &mut k, KernelInput::Intent(close)).accepted);
    drop(log);
    let (_, recovered) = open(dir.path());
    assert_eq!(recovered.seq(), k.seq());
    assert_eq!(recovered.slots(), k.slots());
}

/// Market closes of slot 0, each ended unfilled by the venue with `kind` (a rejection or a
/// throttle), all within one second: whether each went out.
fn rejected_closes(log: &mut KernelLog, k: &mut Kernel, kind: KernelEventKind) -> Vec<bool> {
    (0..6)
        .map(|n| {
            let close = on_slot(&format!("x{n}"), 0, KernelCommandType::Exit, 1.0);
            let out = step(log, k, KernelInput::Intent(close));
            if let Some(order) = out.submit.as_ref() {
                let end = VenueEvent::new(&format!("r{n}"), kind, &order.client_order_id);
                step(log, k, KernelInput::VenueEvent(end));
                assert!(k.slots()[0].active_exit_order.is_none(), "{kind:?}");
                assert_eq!(k.slots()[0].size, 1.0);
            }
            assert!(out.accepted || refused_by_the_rate(&out), "{out:?}");
            out.accepted
        })
        .collect()
}

#[test]
fn market_closes_after_one_the_venue_ended_unfilled_are_bounded_by_the_rate() {
    for kind in [KernelEventKind::Reject, KernelEventKind::RateLimited] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, mut k) = open(dir.path());
        three_open(&mut log, &mut k);
        // The first close is exempt; the next two fill the window of 2; the rest are refused.
        let sent = rejected_closes(&mut log, &mut k, kind);
        assert_eq!(sent, [true, true, true, false, false, false], "{kind:?}");
        // A fill that changes the position gives the slot's next market close its exemption.
        let mut part = on_slot("part", 0, KernelCommandType::Exit, 0.5);
        part.timestamp = 61.0;
        let order = step(&mut log, &mut k, KernelInput::Intent(part))
            .submit
            .unwrap();
        let mut f = VenueEvent::new("pf", KernelEventKind::Fill, &order.client_order_id);
        (f.price, f.size, f.filled_size) = (100.0, 0.5, 0.5);
        assert!(step(&mut log, &mut k, KernelInput::VenueEvent(f)).accepted);
        for n in 0..2 {
            let mut entry = on_slot(&format!("w{n}"), 3 + n, KernelCommandType::Enter, 1.0);
            entry.timestamp = 62.0;
            assert!(step(&mut log, &mut k, KernelInput::Intent(entry)).accepted);
        }
        let mut close = on_slot("after-fill", 0, KernelCommandType::Exit, 0.5);
        close.timestamp = 62.0;
        assert!(step(&mut log, &mut k, KernelInput::Intent(close)).accepted);
        // The log and a checkpoint of it load the slots as they ran.
        log.checkpoint(&k).unwrap();
        drop(log);
        let (_, recovered) = open(dir.path());
        assert_eq!(recovered.seq(), k.seq());
        assert_eq!(recovered.slots(), k.slots());
        assert!(recovered.slots()[0].exempt_close_sent);
    }
}

#[test]
fn the_rate_after_rejected_market_closes_replays_as_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut k) = open(dir.path());
    three_open(&mut log, &mut k);
    rejected_closes(&mut log, &mut k, KernelEventKind::Reject);
    drop(log);
    let (_, mut recovered) = open(dir.path());
    assert_eq!(recovered.seq(), k.seq());
    assert_eq!(recovered.slots(), k.slots());
    // Both spent slot 0's exemption and filled the window: its next close is refused by both.
    let close = on_slot("probe", 0, KernelCommandType::Exit, 1.0);
    assert!(refused_by_the_rate(&recovered.process_intent(&close)));
    assert!(refused_by_the_rate(&k.process_intent(&close)));
}
