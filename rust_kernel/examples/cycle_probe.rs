//! Runs N full cycles through the native mock venue; for instruction-count profiling
//! (valgrind --tool=callgrind), which is stable on a loaded machine.
use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::*;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut k = Kernel::new("probe", 10).unwrap();
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    for i in 0..n {
        for (action, px) in [
            (KernelCommandType::Enter, 100.0),
            (KernelCommandType::Exit, 101.0),
        ] {
            let mut it = Intent::new(
                &format!("{action}{i}"),
                &format!("t{i}"),
                0,
                "BTCUSDT",
                TradeSide::Long,
                action,
                px,
                1.0,
            );
            it.timestamp = i as f64;
            let out = k.process_intent(&it);
            let order = out.submit.expect("accepted");
            for ev in v.submit(&order) {
                std::hint::black_box(k.on_venue_event(&ev));
            }
        }
    }
    println!("seq {}", k.seq());
}
