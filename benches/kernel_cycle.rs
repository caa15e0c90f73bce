//! One full trade cycle in pure Rust: ENTER -> ACK -> FILL -> EXIT -> ACK -> FILL.
//! Target: <= 1 us per cycle. Printed with a same-run ratio between feeding prebuilt venue
//! events (answered in one kept outcome, as a Rust host would) and letting the native mock
//! venue produce them (what the Python path does), each input answered in a new outcome.

// The ids and the event steps are the probes' (rust_kernel/examples/cycle_probe.rs).
#[path = "../rust_kernel/examples/common/mod.rs"]
mod common;

use criterion::{criterion_group, Criterion};
use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;
use std::time::Instant;

fn intents(n: usize) -> Vec<(Intent, Intent)> {
    (0..n)
        .map(|i| {
            let mut e = Intent::new(
                &format!("e{i}"),
                &format!("t{i}"),
                0,
                "BTCUSDT",
                TradeSide::Long,
                KernelCommandType::Enter,
                100.0,
                1.0,
            );
            e.timestamp = i as f64;
            let mut x = Intent::new(
                &format!("x{i}"),
                "",
                0,
                "BTCUSDT",
                TradeSide::Long,
                KernelCommandType::Exit,
                101.0,
                0.0,
            );
            x.timestamp = i as f64;
            (e, x)
        })
        .collect()
}

/// Kernel + prebuilt events (ids made before the clock starts), every input answered in one
/// kept outcome (`process_intent_into`, `on_venue_event_into`): the kernel alone.
fn cycle_prebuilt(
    k: &mut Kernel,
    e: &Intent,
    x: &Intent,
    ids: &[Id; 4],
    answers: &mut common::Answers,
) {
    common::through_prebuilt(k, e, &ids[..2], answers);
    common::through_prebuilt(k, x, &ids[2..], answers);
}

/// Every intent and event of `n` cycles was taken: the figures are of the work asked for.
fn check_taken(k: &Kernel, n: usize) {
    assert_eq!(
        k.counters.intents_refused + k.counters.venue_events_refused,
        0
    );
    assert_eq!(k.counters.fills, 2 * n as u64);
}

fn cycle_mock(k: &mut Kernel, venue: &mut MockVenue, e: &Intent, x: &Intent) {
    for intent in [e, x] {
        common::through_mock(k, venue, intent, |_, _| {});
    }
}

fn bench(c: &mut Criterion) {
    let cycles = intents(200_000);
    let ids = common::event_ids(cycles.len());
    let mut g = c.benchmark_group("kernel_cycle");
    g.bench_function("enter_ack_fill_exit_ack_fill/prebuilt_events", |b| {
        let mut k = Kernel::new("bench", 10).unwrap();
        let mut answers = common::Answers::new();
        let mut i = 0usize;
        b.iter(|| {
            let (e, x) = &cycles[i % cycles.len()];
            let ids = &ids[i % cycles.len()];
            i += 1;
            if i.is_multiple_of(cycles.len()) {
                k = Kernel::new("bench", 10).unwrap();
            }
            cycle_prebuilt(&mut k, e, x, ids, &mut answers);
        })
    });
    g.bench_function("enter_ack_fill_exit_ack_fill/native_mock_venue", |b| {
        let mut k = Kernel::new("bench", 10).unwrap();
        let mut v = MockVenue::new(MockConfig::default()).unwrap();
        let mut i = 0usize;
        b.iter(|| {
            let (e, x) = &cycles[i % cycles.len()];
            i += 1;
            if i.is_multiple_of(cycles.len()) {
                k = Kernel::new("bench", 10).unwrap();
            }
            cycle_mock(&mut k, &mut v, e, x);
        })
    });
    g.finish();
}

/// A plain timed run of the same two workloads, printed with the ratio and the target.
fn summary() {
    let n = 200_000;
    let cycles = intents(n);
    let ids = common::event_ids(n);
    let mut k = Kernel::new("bench", 10).unwrap();
    let mut answers = common::Answers::new();
    let t = Instant::now();
    for ((e, x), ids) in cycles.iter().zip(&ids) {
        cycle_prebuilt(&mut k, e, x, ids, &mut answers);
    }
    let prebuilt = t.elapsed().as_nanos() as f64 / n as f64;
    check_taken(&k, n);
    let mut k = Kernel::new("bench", 10).unwrap();
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    let t = Instant::now();
    for (e, x) in &cycles {
        cycle_mock(&mut k, &mut v, e, x);
    }
    let mock = t.elapsed().as_nanos() as f64 / n as f64;
    check_taken(&k, n);
    println!("\nkernel_cycle summary ({n} cycles, same run)");
    println!("  full cycle, prebuilt events : {prebuilt:8.1} ns/cycle  (target <= 1000 ns: {:.2}x of budget)", prebuilt / 1000.0);
    println!("  full cycle, native mock     : {mock:8.1} ns/cycle  (target <= 1000 ns: {:.2}x of budget)", mock / 1000.0);
    println!("  mock venue / prebuilt ratio : {:.2}x", mock / prebuilt);
}

/// Per cycle on slot 0 of a kernel whose other `slots - 1` slots hold BTC long and short
/// (a hedged book: each exit is beside slots engaged the other way).
fn hedged_cycle_ns(slots: usize, n: usize) -> f64 {
    let mut k = Kernel::new("hedged", slots).unwrap();
    let mut answers = common::Answers::new();
    for s in 1..slots {
        let mut open = common::intent("o", 10_000_000 + s, s, KernelCommandType::Enter, 100.0);
        if s % 2 == 1 {
            open.side = TradeSide::Short;
        }
        let ids = [id(&format!("oa{s}")), id(&format!("of{s}"))];
        common::through_prebuilt(&mut k, &open, &ids, &mut answers);
    }
    let pairs = common::trade_pairs(n, 1);
    let ids = common::event_ids(n);
    let t = Instant::now();
    for ((e, x), ids) in pairs.iter().zip(&ids) {
        cycle_prebuilt(&mut k, e, x, ids, &mut answers);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(
        k.counters.intents_refused + k.counters.venue_events_refused,
        0
    );
    ns
}

/// An exit's reduce-only is decided from sums kept per asset, not a walk of the asset's open
/// slots and working orders: the cycle on one slot of a hedged book of 10,000 slots costs
/// what it costs beside 10, the ratio of the two the figure to watch.
fn hedged_summary() {
    let n = 20_000;
    println!("\nhedged book ({n} cycles on slot 0, the other slots long and short BTC, same run)");
    let small = hedged_cycle_ns(10, n);
    let large = hedged_cycle_ns(10_000, n);
    println!(
        "  {small:8.1} ns/cycle at 10 slots, {large:9.1} at 10,000: {:.2}x",
        large / small
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
    hedged_summary();
}
