//! Write-ahead log throughput: records/s appended under each fsync policy and records/s
//! replayed on open. After the criterion groups, a same-run summary prints each figure with
//! its ratio against the `none` policy (the cost of durability, measured on this machine now),
//! and the time recovery takes to search a damaged tail of each kind, with its ratio against a
//! zero-filled tail of the same length.
//!
//! `cargo bench --manifest-path rust_kernel/Cargo.toml --bench wal -- --noplot`

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use dita_kernel::wal::{read_only_replay, FsyncPolicy, Replay, Wal, WalOptions};

/// About the size of an encoded kernel intent.
const PAYLOAD: [u8; 96] = [0x2a; 96];
const REPLAY_RECORDS: u64 = 1_000_000;

fn policies() -> [(&'static str, FsyncPolicy); 3] {
    [
        ("none", FsyncPolicy::None),
        ("batch", FsyncPolicy::DEFAULT_BATCH),
        ("always", FsyncPolicy::Always),
    ]
}

fn open(dir: &Path, fsync: FsyncPolicy) -> Wal {
    Wal::open(dir, WalOptions::new("bench").with_fsync(fsync), |_| Ok(()))
        .expect("open wal")
        .0
}

fn bench_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Elements(1));
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, policy) in policies() {
        if name == "always" {
            group.sample_size(10);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut wal = open(dir.path(), policy);
        let mut ts = 0.0;
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                ts += 1.0;
                black_box(wal.append(ts, &PAYLOAD).expect("append"))
            })
        });
    }
    group.finish();
}

fn write_log(dir: &Path, records: u64) {
    let mut wal = open(dir, FsyncPolicy::None);
    for i in 0..records {
        wal.append(i as f64, &PAYLOAD).expect("append");
    }
    wal.close().expect("close");
}

fn replay(dir: &Path) -> u64 {
    let mut n = 0u64;
    let (wal, _) = Wal::open(
        dir,
        WalOptions::new("bench").with_fsync(FsyncPolicy::None),
        |item| {
            if let Replay::Record(r) = item {
                n += black_box(r.payload.len() as u64).min(1);
            }
            Ok(())
        },
    )
    .expect("replay");
    drop(wal);
    n
}

fn bench_replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), REPLAY_RECORDS);
    let mut group = c.benchmark_group("wal_replay");
    group.throughput(Throughput::Elements(REPLAY_RECORDS));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("1M_records", |b| {
        b.iter(|| assert_eq!(replay(dir.path()), REPLAY_RECORDS))
    });
    group.finish();
}

/// Appends for about `budget` and returns records per second.
fn append_rate(policy: FsyncPolicy, budget: Duration) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wal = open(dir.path(), policy);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            n += 1;
            wal.append(n as f64, &PAYLOAD).expect("append");
        }
    }
    // The records are only appended once the policy's promise holds for all of them.
    wal.sync().expect("sync");
    n as f64 / start.elapsed().as_secs_f64()
}

fn summary() {
    let budget = Duration::from_secs(2);
    let rates: Vec<(&str, f64)> = policies()
        .iter()
        .map(|(name, p)| (*name, append_rate(*p, budget)))
        .collect();
    let none = rates[0].1;
    println!("\nwal summary (same run; ratio = figure / append rate under fsync=none)");
    for (name, rate) in &rates {
        println!(
            "  append fsync={name:<6} {rate:>14.0} records/s   ratio vs none {:>8.3}x",
            rate / none
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), REPLAY_RECORDS);
    let start = Instant::now();
    let replayed = replay(dir.path());
    let rate = replayed as f64 / start.elapsed().as_secs_f64();
    let verdict = if rate >= 1_000_000.0 {
        "meets"
    } else {
        "MISSES"
    };
    println!(
        "  replay {replayed} records  {rate:>14.0} records/s   ratio vs none {:>8.3}x   ({verdict} the 1,000,000 records/s target)",
        rate / none
    );
}

const TAIL_BYTES: usize = 4 << 20;

/// Seconds a read-only replay of a 1,000-record log takes with `tail` after its last record
/// (the tail is reported torn and left on disk, so each run reads the same bytes).
fn tail_search_seconds(tail: &[u8]) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 1_000);
    // The log's one segment, found rather than named: its naming is the log's own business.
    let segments: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list log")
        .map(|e| e.expect("list log").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    let [path] = segments.as_slice() else {
        panic!("expected one segment, found {segments:?}");
    };
    let mut bytes = std::fs::read(path).expect("read segment");
    bytes.extend_from_slice(tail);
    std::fs::write(path, bytes).expect("write segment");
    let start = Instant::now();
    let report = read_only_replay(dir.path(), |_| Ok(())).expect("replay");
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(
        report.torn_tail.map(|t| t.bytes_dropped),
        Some(tail.len() as u64)
    );
    seconds
}

fn tail_summary() {
    // Zeros: every length field fits (0) but every seq is 0, at or below the last record's,
    // so nothing is checksummed. Random bytes: length fields rarely fit. `00 00 01 00`
    // repeated: every fourth offset is a candidate of 64 KB, checksummed from the prefixes.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<u8> = (0..TAIL_BYTES)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let long_lengths: Vec<u8> = [0u8, 0, 1, 0]
        .iter()
        .cycle()
        .take(TAIL_BYTES)
        .copied()
        .collect();
    let zeros = tail_search_seconds(&vec![0u8; TAIL_BYTES]);
    println!(
        "  damaged-tail search, {} MB tails (ratio = time / zero-filled tail's)",
        TAIL_BYTES >> 20
    );
    for (name, tail) in [
        ("random bytes", &random),
        ("00 00 01 00 repeated", &long_lengths),
    ] {
        let seconds = tail_search_seconds(tail);
        println!(
            "    {name:<22} {seconds:>8.3} s  {:>8.1} MB/s   ratio vs zeros {:>8.2}x",
            TAIL_BYTES as f64 / seconds / 1e6,
            seconds / zeros
        );
    }
    println!(
        "    {:<22} {zeros:>8.3} s  {:>8.1} MB/s",
        "zeros",
        TAIL_BYTES as f64 / zeros / 1e6
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_append(&mut c);
    bench_replay(&mut c);
    c.final_summary();
    summary();
    tail_summary();
}
