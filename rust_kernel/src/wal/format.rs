//! On-disk layout of segments, record frames and checkpoints (all integers little-endian).
//!
//! Segment `seg-<first_seq:020>.wal`:
//! ```text
//! magic "DITAWAL\0" | version u16 | behaviour u16 | kernel_id_len u16 | kernel_id
//! | first_seq u64 | prev_hash [32] | header_crc u32      (crc32 of everything before it)
//! then frames, back to back:
//! crc u32 | len u32 | seq u64 | ts f64 | hash [32] | payload [len]
//! ```
//! `behaviour` is the writer's behaviour version (opaque to the log): the kernel's behaviour
//! its payloads were judged by, which a replay must share (see `kernel_log`).
//! `crc` covers `len..payload`; `hash = blake3(prev_hash | seq | ts | payload)` chains every
//! record to the one before it, and `prev_hash` in the segment header carries the chain
//! across segment files.
//!
//! Checkpoint `ckpt-<seq:020>.ckpt`:
//! ```text
//! magic "DITACKP\0" | version u16 | behaviour u16 | kernel_id_len u16 | kernel_id
//! | seq u64 | head_hash [32] | segment_first_seq u64 | segment_offset u64 | ts f64
//! | state_len u64 | state [state_len] | blake3 [32]   (of everything before it)
//! ```
//! A checkpoint's `behaviour` is its writer's behaviour version, as a segment's is.

use std::path::{Path, PathBuf};

use super::crc_span::SpanCrc;
use super::WalError;

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"DITAWAL\0";
pub(crate) const CHECKPOINT_MAGIC: [u8; 8] = *b"DITACKP\0";
/// Format version written into every segment and checkpoint: the layout of the files, apart
/// from the behaviour version of what they hold. Versions outside
/// [`OLDEST_FORMAT_VERSION`]..=this are refused.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version read; its files hold behaviour version 0.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Bytes of a frame before its payload: crc, len, seq, ts, hash.
pub const FRAME_HEADER_BYTES: usize = 4 + 4 + 8 + 8 + 32;
/// Largest payload accepted; a larger length field in a file is damage, not data.
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;
/// Kernel ids longer than this are refused (they are written in every file header).
pub const MAX_KERNEL_ID_BYTES: usize = 1024;

pub(crate) type Hash = [u8; 32];

/// Hash the chain starts from: bound to the kernel id so two kernels' logs never share a chain.
pub(crate) fn genesis_hash(kernel_id: &str) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"dita-wal-genesis\0");
    h.update(kernel_id.as_bytes());
    *h.finalize().as_bytes()
}

#[inline]
pub(crate) fn chain_hash(prev: &Hash, seq: u64, ts: f64, payload: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&seq.to_le_bytes());
    h.update(&ts.to_bits().to_le_bytes());
    h.update(payload);
    *h.finalize().as_bytes()
}

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:020}.wal")
}

/// The file a log's close (or drop) writes once every record is synced, naming the last one
/// (`seq <n>`), and the next open removes before it writes: a log without it, or whose
/// records go past the seq it names, was not stopped cleanly after its last record.
pub(crate) const CLEAN_STOP_NAME: &str = "clean-stop";

/// The file a kernel's open under fsync "always" writes, durably, once it has recorded what it
/// owed the log (the order ids a crash may have lost), and every open removes with the
/// clean-stop file before it writes: a log holding it was last written by a writer that synced
/// each record before its append returned, so no crash lost a record whose order went out.
pub(crate) const SYNCED_ALWAYS_NAME: &str = "synced-always";

pub(crate) fn clean_stop_text(seq: u64) -> String {
    format!("seq {seq}\n")
}

/// The seq a clean-stop file's text names; None for any other text.
pub(crate) fn parse_clean_stop(text: &[u8]) -> Option<u64> {
    let digits = std::str::from_utf8(text)
        .ok()?
        .strip_prefix("seq ")?
        .strip_suffix('\n')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn checkpoint_name(seq: u64) -> String {
    format!("ckpt-{seq:020}.ckpt")
}

/// The sequence number in a `<prefix><20 digits><suffix>` file name.
pub(crate) fn parse_numbered(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Appends a frame for `(seq, ts, payload)` with its checksum and hash left empty; the
/// appender stays cheap and [`seal_frames`] fills them in, in order, before the bytes are
/// written (on the flusher thread under `batch` and `none`).
#[inline]
pub(crate) fn encode_unsealed_frame(buf: &mut Vec<u8>, seq: u64, ts: f64, payload: &[u8]) {
    buf.reserve(FRAME_HEADER_BYTES + payload.len());
    buf.extend_from_slice(&[0u8; 4]);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(&ts.to_bits().to_le_bytes());
    buf.extend_from_slice(&[0u8; 32]);
    buf.extend_from_slice(payload);
}

/// Fills in hash and checksum of the unsealed frames in `frames` (whole frames, back to
/// back), chaining from `prev`; returns the last hash.
pub(crate) fn seal_frames(frames: &mut [u8], mut prev: Hash) -> Hash {
    let mut at = 0;
    while at < frames.len() {
        let len = u32_at(frames, at + 4) as usize;
        let end = at + FRAME_HEADER_BYTES + len;
        let seq = u64_at(frames, at + 8);
        let ts = f64::from_bits(u64_at(frames, at + 16));
        let hash = chain_hash(&prev, seq, ts, &frames[at + FRAME_HEADER_BYTES..end]);
        frames[at + 24..at + 56].copy_from_slice(&hash);
        let crc = crc32fast::hash(&frames[at + 4..end]);
        frames[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        prev = hash;
        at = end;
    }
    prev
}

/// Length, sequence and hash of the sealed frame starting at `frames[at]`.
#[inline]
pub(crate) fn sealed_frame_info(frames: &[u8], at: usize) -> (usize, u64, Hash) {
    let len = FRAME_HEADER_BYTES + u32_at(frames, at + 4) as usize;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&frames[at + 24..at + 56]);
    (len, u64_at(frames, at + 8), hash)
}

/// One frame read from a segment, checksum already verified.
pub(crate) struct RawFrame<'a> {
    pub seq: u64,
    pub ts: f64,
    pub hash: Hash,
    pub payload: &'a [u8],
    pub total_len: usize,
}

pub(crate) enum FrameRead<'a> {
    Frame(RawFrame<'a>),
    /// The bytes end before the frame does (a torn write, if nothing valid follows).
    Short {
        needed: usize,
    },
    /// Length field out of range or checksum mismatch.
    Bad(String),
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes the frame starting at `bytes[0]`.
#[inline]
pub(crate) fn read_frame(bytes: &[u8]) -> FrameRead<'_> {
    if bytes.len() < FRAME_HEADER_BYTES {
        return FrameRead::Short {
            needed: FRAME_HEADER_BYTES,
        };
    }
    let crc = u32_at(bytes, 0);
    let len = u32_at(bytes, 4) as usize;
    if len > MAX_PAYLOAD_BYTES {
        return FrameRead::Bad(format!(
            "length field {len} exceeds the {MAX_PAYLOAD_BYTES}-byte maximum"
        ));
    }
    let total = FRAME_HEADER_BYTES + len;
    if bytes.len() < total {
        return FrameRead::Short { needed: total };
    }
    let actual = crc32fast::hash(&bytes[4..total]);
    if actual != crc {
        return FrameRead::Bad(format!(
            "checksum mismatch (stored {crc:08x}, computed {actual:08x})"
        ));
    }
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[24..56]);
    FrameRead::Frame(RawFrame {
        seq: u64_at(bytes, 8),
        ts: f64::from_bits(u64_at(bytes, 16)),
        hash,
        payload: &bytes[FRAME_HEADER_BYTES..total],
        total_len: total,
    })
}

/// True when no checksum-valid frame with a sequence above `after_seq` starts anywhere in
/// `tail`: the damage at the start of `tail` is then the last thing written (a torn tail),
/// not a damaged record with good records behind it.
///
/// Every offset is tried, as [`read_frame`] would read it there; only the checksums are
/// computed differently. A frame's sequence is looked at before its checksum (one at or
/// below `after_seq` changes nothing), and a candidate whose payload is longer than
/// [`DIRECT_SPAN_BYTES`] is checksummed through [`SpanCrc`], so garbage whose length fields
/// all fit costs time in proportion to the tail's length, not to its square.
pub(crate) fn nothing_valid_after(tail: &[u8], after_seq: u64) -> bool {
    let mut spans = None;
    for at in 1..(tail.len() + 1).saturating_sub(FRAME_HEADER_BYTES) {
        let frame = &tail[at..];
        let len = u32_at(frame, 4) as usize;
        if len > MAX_PAYLOAD_BYTES || frame.len() < FRAME_HEADER_BYTES + len {
            continue;
        }
        if u64_at(frame, 8) <= after_seq {
            continue;
        }
        let end = at + FRAME_HEADER_BYTES + len;
        let crc = if len <= DIRECT_SPAN_BYTES {
            crc32fast::hash(&tail[at + 4..end])
        } else {
            spans
                .get_or_insert_with(|| SpanCrc::new(tail))
                .span(at + 4, end)
        };
        if crc == u32_at(frame, 0) {
            return false;
        }
    }
    true
}

/// Payloads up to this long are checksummed by reading them in the damaged-tail search:
/// below it, reading costs less than [`SpanCrc::span`].
const DIRECT_SPAN_BYTES: usize = 1024;

fn encode_file_header(out: &mut Vec<u8>, magic: &[u8; 8], kernel_id: &str, behaviour: u16) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&behaviour.to_le_bytes());
    out.extend_from_slice(&(kernel_id.len() as u16).to_le_bytes());
    out.extend_from_slice(kernel_id.as_bytes());
}

/// Reads magic, version, behaviour and kernel id; returns the kernel id, the version, the behaviour
/// and the offset after them.
fn decode_file_header(
    bytes: &[u8],
    magic: &[u8; 8],
    path: &Path,
) -> Result<(String, u16, u16, usize), WalError> {
    let truncated = |what: &str| WalError::Corrupt {
        file: path.to_path_buf(),
        offset: 0,
        seq: None,
        detail: format!(
            "file header truncated ({what}); file is {} bytes",
            bytes.len()
        ),
    };
    if bytes.len() < 14 {
        return Err(truncated("magic and version"));
    }
    if bytes[..8] != magic[..] {
        return Err(WalError::NotAWalFile {
            file: path.to_path_buf(),
            found: bytes[..8].to_vec(),
        });
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(WalError::FormatVersion {
            file: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let id_len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
    if bytes.len() < 14 + id_len {
        return Err(truncated("kernel id"));
    }
    let kernel_id =
        String::from_utf8(bytes[14..14 + id_len].to_vec()).map_err(|_| WalError::Corrupt {
            file: path.to_path_buf(),
            offset: 14,
            seq: None,
            detail: "kernel id is not UTF-8".into(),
        })?;
    let behaviour = u16::from_le_bytes([bytes[10], bytes[11]]);
    Ok((kernel_id, version, behaviour, 14 + id_len))
}

#[derive(Debug, Clone)]
pub(crate) struct SegmentHeader {
    pub kernel_id: String,
    /// The format version it was written in.
    pub version: u16,
    /// The behaviour version its records were written under (see the module doc).
    pub behaviour: u16,
    pub first_seq: u64,
    pub prev_hash: Hash,
    pub len: usize,
}

pub(crate) fn encode_segment_header(
    kernel_id: &str,
    first_seq: u64,
    prev_hash: &Hash,
    behaviour: u16,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + kernel_id.len());
    encode_file_header(&mut out, &SEGMENT_MAGIC, kernel_id, behaviour);
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(prev_hash);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub(crate) fn decode_segment_header(bytes: &[u8], path: &Path) -> Result<SegmentHeader, WalError> {
    let (kernel_id, version, behaviour, at) = decode_file_header(bytes, &SEGMENT_MAGIC, path)?;
    let end = at + 8 + 32 + 4;
    if bytes.len() < end {
        return Err(WalError::Corrupt {
            file: path.to_path_buf(),
            offset: at as u64,
            seq: None,
            detail: format!(
                "segment header truncated; file is {} bytes, header needs {end}",
                bytes.len()
            ),
        });
    }
    let stored = u32_at(bytes, end - 4);
    let actual = crc32fast::hash(&bytes[..end - 4]);
    if stored != actual {
        return Err(WalError::Corrupt {
            file: path.to_path_buf(),
            offset: 0,
            seq: None,
            detail: format!(
                "segment header checksum mismatch (stored {stored:08x}, computed {actual:08x})"
            ),
        });
    }
    let mut prev_hash = [0u8; 32];
    prev_hash.copy_from_slice(&bytes[at + 8..at + 40]);
    Ok(SegmentHeader {
        kernel_id,
        version,
        behaviour,
        first_seq: u64_at(bytes, at),
        prev_hash,
        len: end,
    })
}

/// A decoded checkpoint file.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointFile {
    pub path: PathBuf,
    pub seq: u64,
    pub head_hash: Hash,
    /// Where record `seq + 1` starts (or will start): segment and byte offset.
    pub segment_first_seq: u64,
    pub segment_offset: u64,
    pub ts: f64,
    /// The behaviour version of the build that wrote it.
    pub behaviour: u16,
    pub state: Vec<u8>,
}

#[allow(clippy::too_many_arguments)] // the file's fields, in their order
pub(crate) fn encode_checkpoint(
    kernel_id: &str,
    seq: u64,
    head_hash: &Hash,
    segment_first_seq: u64,
    segment_offset: u64,
    ts: f64,
    behaviour: u16,
    state: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + kernel_id.len() + state.len());
    encode_file_header(&mut out, &CHECKPOINT_MAGIC, kernel_id, behaviour);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(head_hash);
    out.extend_from_slice(&segment_first_seq.to_le_bytes());
    out.extend_from_slice(&segment_offset.to_le_bytes());
    out.extend_from_slice(&ts.to_bits().to_le_bytes());
    out.extend_from_slice(&(state.len() as u64).to_le_bytes());
    out.extend_from_slice(state);
    let digest = *blake3::hash(&out).as_bytes();
    out.extend_from_slice(&digest);
    out
}

pub(crate) fn decode_checkpoint(
    bytes: &[u8],
    path: &Path,
    kernel_id: &str,
) -> Result<CheckpointFile, WalError> {
    let corrupt = |offset: usize, detail: String| WalError::Corrupt {
        file: path.to_path_buf(),
        offset: offset as u64,
        seq: None,
        detail,
    };
    // The digest (the last 32 bytes, of everything before them) is checked before the header
    // is read: a flipped bit in the version or kernel id is damage to skip, not another
    // version's or kernel's file to refuse the log for.
    if let Some(body_len) = bytes.len().checked_sub(32).filter(|n| *n >= 14) {
        if blake3::hash(&bytes[..body_len]).as_bytes()[..] != bytes[body_len..] {
            return Err(corrupt(body_len, "checkpoint digest mismatch".into()));
        }
    }
    let (found_id, _, behaviour, at) = decode_file_header(bytes, &CHECKPOINT_MAGIC, path)?;
    if found_id != kernel_id {
        return Err(WalError::KernelIdMismatch {
            file: path.to_path_buf(),
            found: found_id,
            expected: kernel_id.to_string(),
        });
    }
    let fixed = at + 8 + 32 + 8 + 8 + 8 + 8;
    if bytes.len() < fixed + 32 {
        return Err(corrupt(
            at,
            format!("checkpoint truncated: {} bytes", bytes.len()),
        ));
    }
    let state_len = u64_at(bytes, fixed - 8);
    let end = (fixed as u64)
        .checked_add(state_len)
        .filter(|e| *e + 32 == bytes.len() as u64);
    let Some(end) = end else {
        return Err(corrupt(
            fixed - 8,
            format!(
                "state length {state_len} does not match file size {}",
                bytes.len()
            ),
        ));
    };
    // `end` is the file's length less the digest, checked above.
    let end = end as usize;
    let seq = u64_at(bytes, at);
    if seq == u64::MAX {
        // A buggy or newer writer's: no record can follow it (recovery starts at seq + 1).
        return Err(corrupt(
            at,
            format!("checkpoint seq {seq} leaves no sequence number for the next record"),
        ));
    }
    let mut head_hash = [0u8; 32];
    head_hash.copy_from_slice(&bytes[at + 8..at + 40]);
    Ok(CheckpointFile {
        path: path.to_path_buf(),
        seq,
        head_hash,
        segment_first_seq: u64_at(bytes, at + 40),
        segment_offset: u64_at(bytes, at + 48),
        ts: f64::from_bits(u64_at(bytes, at + 56)),
        behaviour,
        state: bytes[fixed..end].to_vec(),
    })
}

pub(crate) fn hex(hash: &Hash) -> String {
    let mut s = String::with_capacity(64);
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
