//! Per-order cost with the work spread over every slot: ENTER on slots 0..n, then EXIT on
//! them, through the native mock, for a small and a large `max_slots` in the same run (the
//! Rust side of bench_kernel.py's slot-scaling figure).
mod common;

use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;
use std::time::Instant;

fn run(max_slots: usize, orders: usize) -> f64 {
    let mut k = Kernel::new("probe", max_slots).unwrap();
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    let rounds = (orders / (2 * max_slots)).max(1);
    let mut intents = Vec::with_capacity(rounds * 2 * max_slots);
    for r in 0..rounds {
        for (action, tag) in [
            (KernelCommandType::Enter, "e"),
            (KernelCommandType::Exit, "x"),
        ] {
            for s in 0..max_slots {
                intents.push(common::intent(tag, r * max_slots + s, s, action, 100.0));
            }
        }
    }
    let t = Instant::now();
    for it in &intents {
        common::through_mock(&mut k, &mut v, it, |_, _| {});
    }
    t.elapsed().as_nanos() as f64 / intents.len() as f64
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if let Ok(n) = mode.parse::<usize>() {
        println!("max_slots {n}: {:.0} ns/order", run(n, 400_000));
        return;
    }
    for _ in 0..3 {
        let small = run(10, 400_000);
        let large = run(10_000, 400_000);
        println!(
            "ns/order: max_slots 10 {small:.0}, 10,000 {large:.0}, ratio {:.2}x",
            large / small
        );
    }
}
