//! The WAL reader on a hostile segment file: a log directory holding one segment (a valid
//! header written by the real writer, then the fuzz bytes) and, when the first byte is odd,
//! the writer's checkpoint 0. When the second byte is odd the bytes are first cut into
//! records (2-byte length, payload) and sealed as the writer seals them (checksum and hash
//! chain), so the fuzzer gets past the checksum; what follows the last record is appended
//! as is (a torn or damaged tail). `wal::verify` and `kernel_log::replay_read_only` must
//! return, Ok or Err, without panicking, and a kernel replayed keeps the invariants.
//!
//!     cd rust_kernel/fuzz && cargo +nightly fuzz run wal_segment -- -max_total_time=600 -jobs=1
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use dita_kernel::kernel::Kernel;
use dita_kernel::wal::kernel_log::{self, KernelLog, KernelLogOptions};
use dita_kernel::wal::{self, FsyncPolicy};
use dita_kernel_fuzz::{check_invariants, join_records, session_records, write_seeds};
use libfuzzer_sys::fuzz_target;

const SEGMENT: &str = "seg-00000000000000000001.wal";
const CHECKPOINT: &str = "ckpt-00000000000000000000.ckpt";

/// A scratch directory for this process, and the bytes the real writer puts in a new log:
/// the segment's header and checkpoint 0.
struct Template {
    dir: PathBuf,
    header: Vec<u8>,
    checkpoint: Vec<u8>,
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dita-fuzz-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let options = KernelLogOptions {
            fsync: FsyncPolicy::None,
            ..KernelLogOptions::default()
        };
        let (log, _) = KernelLog::open(&dir, Kernel::new("fuzz", 4).unwrap(), &options).unwrap();
        drop(log);
        let header = std::fs::read(dir.join(SEGMENT)).unwrap();
        let checkpoint = std::fs::read(dir.join(CHECKPOINT)).unwrap();
        Template {
            dir,
            header,
            checkpoint,
        }
    })
}

/// Frames `payloads` as the writer does (crc | len | seq | ts | hash | payload), chaining
/// from the genesis hash of kernel "fuzz".
fn seal(payloads: &[&[u8]]) -> Vec<u8> {
    let mut prev = *blake3::Hasher::new()
        .update(b"dita-wal-genesis\0")
        .update(b"fuzz")
        .finalize()
        .as_bytes();
    let mut out = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        let seq = i as u64 + 1;
        let ts = seq as f64;
        let hash = *blake3::Hasher::new()
            .update(&prev)
            .update(&seq.to_le_bytes())
            .update(&ts.to_bits().to_le_bytes())
            .update(payload)
            .finalize()
            .as_bytes();
        let mut body = Vec::new();
        body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        body.extend_from_slice(&seq.to_le_bytes());
        body.extend_from_slice(&ts.to_bits().to_le_bytes());
        body.extend_from_slice(&hash);
        body.extend_from_slice(payload);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        prev = hash;
    }
    out
}

fuzz_target!(
    init: {
        write_seeds("wal_segment", || {
            let records = session_records();
            vec![
                [&[1u8, 1][..], &join_records(&records)].concat(),
                [&[0u8, 1][..], &join_records(&records)].concat(),
                [&[1u8, 0][..], &seal(&records.iter().map(|r| &r[..]).collect::<Vec<_>>())].concat(),
            ]
        })
    },
    |data: &[u8]| {
        if data.len() < 2 {
            return;
        }
        let t = template();
        let mut segment = t.header.clone();
        let body = &data[2..];
        if data[1] & 1 == 1 {
            let mut payloads = Vec::new();
            let mut rest = body;
            while rest.len() >= 2 {
                let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
                if rest.len() < 2 + len {
                    break;
                }
                payloads.push(&rest[2..2 + len]);
                rest = &rest[2 + len..];
            }
            segment.extend_from_slice(&seal(&payloads));
            segment.extend_from_slice(rest);
        } else {
            segment.extend_from_slice(body);
        }
        std::fs::write(t.dir.join(SEGMENT), &segment).unwrap();
        let checkpoint = t.dir.join(CHECKPOINT);
        if data[0] & 1 == 1 {
            std::fs::write(&checkpoint, &t.checkpoint).unwrap();
        } else {
            let _ = std::fs::remove_file(&checkpoint);
        }
        let _ = wal::verify(&t.dir);
        let fresh = |id: &str| Kernel::new(id, 4).map_err(|e| e.to_string());
        if let Ok((k, _)) = kernel_log::replay_read_only(&t.dir, fresh) {
            check_invariants(&k);
        }
    }
);
