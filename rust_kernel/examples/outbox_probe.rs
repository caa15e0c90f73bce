//! The cost of journal row capture in the kernel's hot path: full cycles through the native
//! mock with the outbox off, on (drained every 10,000 rows on the same thread, as a journal
//! thread would) and on but never drained (new segments in fresh pages).
mod common;

use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;
use std::time::Instant;

/// `drain_every`: rows the outbox holds before the probe drains it (None: never, as in
/// bench_journal's floor figure, where the rows pile up in a large outbox).
fn run(n: usize, journal: bool, drain_every: Option<usize>) -> f64 {
    let mut k = Kernel::new("probe", 16).unwrap();
    k.set_journal_enabled(journal);
    k.outbox.capacity = 20 * n; // about 12 rows a cycle: never full, nothing dropped
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    let intents = common::trade_pairs(n, 16);
    let t = Instant::now();
    let mut drained = 0;
    for (e, x) in &intents {
        for it in [e, x] {
            common::through_mock(&mut k, &mut v, it, |_, _| {});
        }
        if drain_every.is_some_and(|d| k.outbox.len() >= d) {
            for segments in k.outbox.take_rows(usize::MAX) {
                drained += segments.iter().map(|s| s.len()).sum::<usize>();
                k.outbox.pool.give(segments); // as the journal's drain does once copied
            }
        }
    }
    std::hint::black_box(drained);
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    // "off", "on" (drained every 10,000 rows, as a journal thread would) or "undrained".
    if let Some(mode) = std::env::args().nth(2) {
        let ns = match mode.as_str() {
            "off" => run(n, false, None),
            "on" => run(n, true, Some(10_000)),
            _ => run(n, true, None),
        };
        println!("{mode}: {ns:.0} ns/cycle");
        return;
    }
    for _ in 0..3 {
        let off = run(n, false, None);
        let on = run(n, true, Some(10_000));
        let undrained = run(n, true, None);
        println!(
            "ns/cycle: outbox off {off:.0}, on {on:.0} ({:.2}x), undrained {undrained:.0} ({:.2}x)",
            on / off,
            undrained / off
        );
    }
}
