//! The cost of turning journal rows into ClickHouse Native blocks (the journal writer's
//! work, GIL released): rows of N full cycles through the native mock at NORMAL, encoded
//! per table; prints ns per row, per table and over all.
mod common;

use dita_kernel::journal::native::encode_block;
use dita_kernel::journal::TABLES;
use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut k = Kernel::new("probe", 16).unwrap();
    k.set_journal_enabled(true);
    k.outbox.capacity = 20 * n;
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    for (e, x) in &common::trade_pairs(n, 16) {
        for it in [e, x] {
            common::through_mock(&mut k, &mut v, it, |_, _| {});
        }
    }
    let tables = k.outbox.drain_tables(usize::MAX);
    let mut out = Vec::new();
    let (mut total_ns, mut total_rows) = (0.0, 0usize);
    for (t, rows) in tables.iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let start = Instant::now();
        for _ in 0..rounds {
            out.clear();
            encode_block(&mut out, "probe", t, rows, 0, rows.len());
            std::hint::black_box(&out);
        }
        let ns = start.elapsed().as_nanos() as f64;
        println!(
            "{:<16} {:>8} rows {:>7.1} ns/row",
            TABLES[t],
            rows.len(),
            ns / (rounds * rows.len()) as f64
        );
        total_ns += ns;
        total_rows += rounds * rows.len();
    }
    println!("all tables: {:.1} ns/row", total_ns / total_rows as f64);
}
