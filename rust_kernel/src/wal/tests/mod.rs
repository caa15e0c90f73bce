//! The write-ahead log's unit tests, one file per behaviour, and the fixtures they share.

mod audit;
mod checkpoint_replay;
mod checkpoints;
mod damage_and_recovery;
mod damage_before_checkpoint;
// Unsafe: asks the kernel, through libc, what of a file is still only in the page cache.
#[allow(unsafe_code)]
mod durability;
mod foreign_checkpoints;
mod inconsistent_kernel_checkpoints;
mod kernel_log_versions;
// Unsafe: forks, waits for and kills child processes through libc.
#[allow(unsafe_code)]
mod locking_and_forks;
#[cfg(unix)]
mod log_moved_away;
mod order_ids_after_an_unclean_stop;
mod records_and_chain;
mod rotation;
#[cfg(unix)]
mod special_files;
mod torn_tails;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;

use super::format::{
    decode_segment_header, encode_unsealed_frame, genesis_hash, nothing_valid_after, read_frame,
    seal_frames, segment_name, FrameRead, FRAME_HEADER_BYTES,
};
use super::recovery::newest_checkpoint;
use super::scan::list_dir;
use super::*;
use crate::kernel::{Kernel, KernelInput};
use crate::mock::MockVenue;
use crate::model::Intent;
use crate::types::{KernelCommandType, TradeSide, TradeStage};
use kernel_log::{encode_kernel, replay_checkpoints, KernelLog, KernelLogOptions};

type Replayed = (Option<(u64, Vec<u8>)>, Vec<(u64, f64, Vec<u8>)>);

fn options(fsync: FsyncPolicy) -> WalOptions {
    WalOptions::new("kernel-a").with_fsync(fsync)
}

fn open_collect(dir: &Path, opts: WalOptions) -> Result<(Wal, RecoveryReport, Replayed), WalError> {
    let mut checkpoint = None;
    let mut records = Vec::new();
    let (wal, report) = Wal::open(dir, opts, |item| {
        match item {
            Replay::Checkpoint { seq, state, .. } => checkpoint = Some((seq, state.to_vec())),
            Replay::Record(r) => records.push((r.seq, r.timestamp, r.payload.to_vec())),
        }
        Ok(())
    })?;
    Ok((wal, report, (checkpoint, records)))
}

fn payload(i: u64) -> Vec<u8> {
    format!("input-{i}-{}", "x".repeat((i % 7) as usize)).into_bytes()
}

/// A closed log of `n` records in a fresh directory.
fn log_with(n: u64, opts: WalOptions) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), opts).unwrap();
    for i in 1..=n {
        assert_eq!(wal.append(i as f64, &payload(i)).unwrap(), i);
    }
    wal.close().unwrap();
    dir
}

fn seg(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(segment_name(first_seq))
}

/// Byte ranges of the frames in a segment file.
fn frames(path: &Path) -> Vec<(usize, usize)> {
    let bytes = fs::read(path).unwrap();
    let header = decode_segment_header(&bytes, path).unwrap();
    let mut at = header.len;
    let mut out = Vec::new();
    while at < bytes.len() {
        match read_frame(&bytes[at..]) {
            FrameRead::Frame(f) => {
                out.push((at, at + f.total_len));
                at += f.total_len;
            }
            _ => panic!("unreadable frame at {at}"),
        }
    }
    out
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x5a;
    fs::write(path, bytes).unwrap();
}

/// Waits for a background effect, bounded so a broken flusher fails instead of hanging.
fn wait_until(done: impl Fn() -> bool, failure: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{failure}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The checkpoint files in `dir`, sorted.
fn checkpoint_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ckpt"))
        .collect();
    names.sort();
    names
}

/// A closed log of 20 records with checkpoints `state@10` and `state@20`.
fn log_with_checkpoints_at_10_and_20() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), options(FsyncPolicy::None)).unwrap();
    for i in 1..=20 {
        wal.append(0.0, &payload(i)).unwrap();
        if i % 10 == 0 {
            wal.checkpoint(i, format!("state@{i}").as_bytes()).unwrap();
        }
    }
    dir
}

fn checkpoint_file(seq: u64) -> String {
    super::format::checkpoint_name(seq)
}

/// Every file of `dir` with its bytes, to compare a directory before and after.
fn snapshot_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// How long a guarded test's child may take, and how much address space it may map.
#[cfg(unix)]
const GUARD_SECS: u64 = 10;
#[cfg(unix)]
const GUARD_MEMORY_KB: u64 = 1 << 20;

/// Runs a test whose regression would hang the run or exhaust memory (a FIFO read, a fork,
/// a chdir of the whole process) in a child of its own.
///
/// False in the child, where the caller runs the test's body. In the test run itself: runs
/// the calling test again in a child process (this test binary, `--exact` the test's name,
/// which libtest gives the test's thread) under `ulimit -v` of `GUARD_MEMORY_KB` and killed
/// after `GUARD_SECS`, fails unless that child passed it, and returns true.
#[cfg(unix)]
fn in_guarded_child() -> bool {
    const CHILD: &str = "DITA_WAL_GUARDED_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    let name = std::thread::current()
        .name()
        .expect("libtest names the test's thread after the test")
        .to_string();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {GUARD_MEMORY_KB} && exec \"$@\""))
        .arg("sh")
        .arg(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(GUARD_SECS);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{name} still running after {GUARD_SECS} s (blocked on a FIFO?), killed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        status.success() && stdout.contains("1 passed"),
        "{name} failed in its child ({status}):\n{stdout}{stderr}"
    );
    true
}

// Kernel logs, driven as the bindings drive them.

/// Drives a kernel with a log the way the bindings do: apply, record what advanced seq,
/// hand orders to the mock venue and its answers back as inputs.
fn drive(k: &mut Kernel, log: &mut KernelLog, venue: &mut MockVenue, input: KernelInput) {
    let before = k.seq();
    let out = k.apply(&input).ok();
    if k.seq() != before {
        log.record(k, &input).unwrap();
    }
    let Some(out) = out else { return };
    let mut events = Vec::new();
    if let Some(order) = &out.submit {
        events.extend(venue.submit(order));
    }
    for order in &out.cancels {
        events.extend(venue.cancel(order));
    }
    for e in events {
        drive(k, log, venue, KernelInput::VenueEvent(e));
    }
}

fn intent(n: u64, slot: i64, command: KernelCommandType, price: f64) -> Intent {
    let mut i = Intent::new(
        &format!("i{n}"),
        &format!("t{}", n / 2),
        slot,
        "BTCUSDT",
        TradeSide::Long,
        command,
        price,
        1.0,
    );
    i.timestamp = n as f64;
    i
}

/// A kernel of 4 slots with seed capital that sent an ENTER on slot 0, and that order.
fn kernel_entering_slot_0() -> (Kernel, crate::model::VenueOrder) {
    let mut k = Kernel::new("k", 4).unwrap();
    k.apply(&KernelInput::SeedCapital(1000.0)).unwrap();
    let out = k
        .apply(&KernelInput::Intent(intent(
            1,
            0,
            KernelCommandType::Enter,
            100.0,
        )))
        .unwrap();
    (k, out.submit.expect("an order"))
}

/// A closed log of a kernel that entered and left positions, checkpointed every 7 records
/// (so the newest two and checkpoint 0 are on disk).
fn kernel_log_with_checkpoints() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every: 7,
        segment_bytes: 4096,
    };
    let (mut log, mut k) =
        KernelLog::open(dir.path(), Kernel::new("audit", 3).unwrap(), &options).unwrap();
    let mut venue = MockVenue::new(Default::default()).unwrap();
    drive(
        &mut k,
        &mut log,
        &mut venue,
        KernelInput::SeedCapital(10_000.0),
    );
    for n in 0..12u64 {
        let slot = ((n / 2) % 3) as i64;
        let price = 100.0 + n as f64;
        let mark = KernelInput::MarkPrice {
            asset: crate::types::id("BTCUSDT"),
            price,
            ts: n as f64,
        };
        drive(&mut k, &mut log, &mut venue, mark);
        let command = if n % 2 == 0 {
            KernelCommandType::Enter
        } else {
            KernelCommandType::Exit
        };
        drive(
            &mut k,
            &mut log,
            &mut venue,
            KernelInput::Intent(intent(n, slot, command, price)),
        );
    }
    assert!(
        k.counters.fills >= 6 && k.counters.intents_refused == 0,
        "{:?}",
        k.counters
    );
    log.sync().unwrap();
    drop(log);
    dir
}

/// Rewrites checkpoint `seq` with `change` applied to its state: a well-formed file (valid
/// digest, chain hash and position) that holds a wrong state.
fn rewrite_checkpoint_state(dir: &Path, seq: u64, change: impl FnOnce(&mut Kernel)) {
    let path = dir.join(checkpoint_file(seq));
    let c = format::decode_checkpoint(&fs::read(&path).unwrap(), &path, "audit").unwrap();
    let mut k = kernel_log::decode_kernel(&c.state).unwrap();
    change(&mut k);
    let bytes = format::encode_checkpoint(
        "audit",
        c.seq,
        &c.head_hash,
        c.segment_first_seq,
        c.segment_offset,
        c.ts,
        c.behaviour,
        &encode_kernel(&k),
    );
    fs::write(&path, bytes).unwrap();
}

fn checkpoint_seqs(dir: &Path) -> Vec<u64> {
    let mut seqs: Vec<u64> = list_dir(dir)
        .unwrap()
        .checkpoints
        .iter()
        .map(|c| c.0)
        .collect();
    seqs.sort();
    seqs
}

/// A log of 100 records in segments of about 1 KiB, checkpointed at 0, 30, 60 and 90.
fn segmented_log() -> (tempfile::TempDir, WalOptions) {
    let opts = options(FsyncPolicy::None).with_segment_bytes(1024);
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = open_collect(dir.path(), opts.clone()).unwrap();
    wal.checkpoint(0, b"s0").unwrap();
    for i in 1..=100 {
        wal.append(i as f64, &payload(i)).unwrap();
        if i % 30 == 0 {
            wal.checkpoint(i, format!("s{i}").as_bytes()).unwrap();
        }
    }
    drop(wal);
    (dir, opts)
}
