//! The write-ahead log's cost on the hot path: full cycles through the native mock with each
//! input recorded (fsync=batch) and without a log.
mod common;

use dita_kernel::mock::{MockConfig, MockVenue};
use dita_kernel::wal::kernel_log::{KernelLog, KernelLogOptions};
use dita_kernel::*;
use std::time::Instant;

fn run(n: usize, log: bool) -> f64 {
    let dir = tempfile_dir();
    let fresh = Kernel::new("probe", 16).unwrap();
    let (mut wal, mut k) = if log {
        let (l, k) = KernelLog::open(&dir, fresh, &KernelLogOptions::default()).unwrap();
        (Some(l), k)
    } else {
        (None, fresh)
    };
    let mut v = MockVenue::new(MockConfig::default()).unwrap();
    let intents = common::trade_pairs(n, 16);
    let t = Instant::now();
    for (e, x) in &intents {
        for it in [e, x] {
            common::through_mock(&mut k, &mut v, it, |k, input| {
                if let Some(w) = wal.as_mut() {
                    w.record_ref(k, input).unwrap();
                }
            });
        }
    }
    if let Some(w) = wal.as_mut() {
        w.sync().unwrap();
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    drop(wal);
    let _ = std::fs::remove_dir_all(&dir);
    ns
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dita-wal-probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    for _ in 0..3 {
        let off = run(n, false);
        let on = run(n, true);
        println!(
            "ns/cycle: no log {off:.0}, log batch {on:.0}, ratio {:.2}x",
            on / off
        );
    }
}
