//! What the kernel's integration tests share.

use dita_kernel::wal::kernel_log::{KernelLog, KernelLogOptions};
use dita_kernel::wal::FsyncPolicy;
use dita_kernel::*;

/// An outcome's details name each field once: a reader taking them as a mapping (Python's
/// dict, a JSON object) would otherwise see only one of two values; and their numbers are finite.
#[allow(dead_code)]
pub fn well_formed_details(out: KernelOutcome) -> KernelOutcome {
    let mut names: Vec<&str> = out.details.iter().map(|(f, _)| *f).collect();
    names.sort_unstable();
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "a detail named twice: {:?}",
        out.details
    );
    // A number in details is finite: the journal writes them as strict JSON, which has none.
    assert!(
        out.details
            .iter()
            .all(|(_, d)| !matches!(d, Detail::F64(x) if !x.is_finite())),
        "a detail not finite: {:?}",
        out.details
    );
    out
}

/// Equal within a relative 1e-9 (absolute near 0).
#[allow(dead_code)] // not every test uses every helper
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// The outcome's detail named `name`, if it has one.
#[allow(dead_code)]
pub fn detail(out: &KernelOutcome, name: &str) -> Option<Detail> {
    out.details
        .iter()
        .find(|(n, _)| *n == name)
        .map(|d| d.1.clone())
}

/// A LONG intent on BTC at a reference price of 100.
#[allow(dead_code)]
pub fn long_btc(
    intent_id: &str,
    trade: &str,
    slot: i64,
    action: KernelCommandType,
    size: f64,
) -> Intent {
    Intent::new(
        intent_id,
        trade,
        slot,
        "BTC",
        TradeSide::Long,
        action,
        100.0,
        size,
    )
}

/// Sets the rules version in the header of every segment of the write-ahead log in `dir` (as
/// a log written before that version has it, in format version 1 for rules 0), keeping the
/// header's checksum right.
#[allow(dead_code)]
pub fn set_segment_rules(dir: &std::path::Path, rules: u16) {
    let version = if rules == 0 { 1 } else { 2 }; // what such builds wrote
    set_segment_header(dir, version, rules);
}

/// Sets the format version and rules in the header of every segment in `dir`, keeping the
/// header's checksum right.
#[allow(dead_code)]
pub fn set_segment_header(dir: &std::path::Path, version: u16, rules: u16) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wal") {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[8..10].copy_from_slice(&version.to_le_bytes());
            bytes[10..12].copy_from_slice(&rules.to_le_bytes());
            let id_len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
            let end = 14 + id_len + 8 + 32; // kernel id, first seq, previous hash
            let crc = crc32fast::hash(&bytes[..end]);
            bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
            std::fs::write(&path, bytes).unwrap();
        }
    }
}

/// The write-ahead log in `dir` and the kernel of one slot named `kernel_id` it holds (a new
/// one, or recovered from the log): unsynced, in segments of 1 MiB, a checkpoint every
/// `checkpoint_every` records (0: none).
#[allow(dead_code)]
pub fn open_log(
    dir: &std::path::Path,
    kernel_id: &str,
    checkpoint_every: u64,
) -> (KernelLog, Kernel) {
    let options = KernelLogOptions {
        fsync: FsyncPolicy::None,
        checkpoint_every,
        segment_bytes: 1 << 20,
    };
    KernelLog::open(dir, Kernel::new(kernel_id, 1).unwrap(), &options).unwrap()
}
