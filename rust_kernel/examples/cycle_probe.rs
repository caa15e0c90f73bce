//! Runs N full cycles, through the native mock venue (`mock`, the default) or with prebuilt
//! venue events (`prebuilt`, the criterion bench's first figure), and prints ns per cycle;
//! also for instruction-count profiling (valgrind --tool=callgrind), which is stable on a
//! loaded machine.
mod common;

use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let prebuilt = match args.next().as_deref() {
        None | Some("mock") => false,
        Some("prebuilt") => true,
        Some(other) => panic!("mode is mock or prebuilt, got {other:?}"),
    };
    let pairs = common::trade_pairs(n, 1);
    let ids = if prebuilt {
        common::event_ids(n)
    } else {
        Vec::new()
    };
    let mut k = Kernel::new("probe", 10).unwrap();
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    let mut answers = common::Answers::new();
    let t = std::time::Instant::now();
    for (i, (e, x)) in pairs.iter().enumerate() {
        if prebuilt {
            common::through_prebuilt(&mut k, e, &ids[i][..2], &mut answers);
            common::through_prebuilt(&mut k, x, &ids[i][2..], &mut answers);
        } else {
            common::through_mock(&mut k, &mut v, e, |_, _| {});
            common::through_mock(&mut k, &mut v, x, |_, _| {});
        }
    }
    eprintln!("{:.1} ns/cycle", t.elapsed().as_nanos() as f64 / n as f64);
    assert_eq!(
        k.counters.intents_refused + k.counters.venue_events_refused,
        0
    );
    assert_eq!(k.counters.fills, 2 * n as u64);
    println!("seq {}", k.seq());
}
