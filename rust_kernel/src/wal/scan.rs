//! Reading a log directory: listing files, walking segment frames and checking the chain.
//! Shared by recovery (`Wal::open`) and the audit walk (`verify`).

use std::fs;
use std::path::{Path, PathBuf};

use super::format::{
    chain_hash, decode_segment_header, parse_numbered, read_frame, FrameRead, Hash, RawFrame,
    SegmentHeader,
};
use super::WalError;

pub(crate) fn io_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> WalError + 'a {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// The files of one log directory, each list sorted by sequence number.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub segments: Vec<(u64, PathBuf)>,
    pub checkpoints: Vec<(u64, PathBuf)>,
    /// Leftovers of a checkpoint or rotation interrupted before its rename: never valid data.
    pub temps: Vec<PathBuf>,
}

pub(crate) fn list_dir(dir: &Path) -> Result<Listing, WalError> {
    let mut out = Listing::default();
    for entry in fs::read_dir(dir).map_err(io_err(dir, "list directory"))? {
        let entry = entry.map_err(io_err(dir, "list directory"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = parse_numbered(name, "seg-", ".wal") {
            out.segments.push((seq, entry.path()));
        } else if let Some(seq) = parse_numbered(name, "ckpt-", ".ckpt") {
            out.checkpoints.push((seq, entry.path()));
        } else if name.ends_with(".tmp") && (name.starts_with("seg-") || name.starts_with("ckpt-"))
        {
            out.temps.push(entry.path());
        }
    }
    out.segments.sort();
    out.checkpoints.sort();
    Ok(out)
}

/// Reads a segment file and checks its header against its name and the expected kernel id.
pub(crate) fn read_segment(
    path: &Path,
    named_seq: u64,
    kernel_id: &str,
) -> Result<(Vec<u8>, SegmentHeader), WalError> {
    let bytes = fs::read(path).map_err(io_err(path, "read segment"))?;
    let header = check_segment_header(&bytes, path, named_seq, kernel_id)?;
    Ok((bytes, header))
}

pub(crate) fn check_segment_header(
    bytes: &[u8],
    path: &Path,
    named_seq: u64,
    kernel_id: &str,
) -> Result<SegmentHeader, WalError> {
    let header = decode_segment_header(bytes, path)?;
    if header.kernel_id != kernel_id {
        return Err(WalError::KernelIdMismatch {
            file: path.to_path_buf(),
            found: header.kernel_id,
            expected: kernel_id.to_string(),
        });
    }
    if header.first_seq != named_seq {
        return Err(WalError::Corrupt {
            file: path.to_path_buf(),
            offset: 0,
            seq: Some(named_seq),
            detail: format!(
                "header says the segment starts at seq {}, its name says {named_seq}",
                header.first_seq
            ),
        });
    }
    Ok(header)
}

/// Reads only the header of a segment (cheap check of files recovery does not replay).
pub(crate) fn read_segment_header(
    path: &Path,
    named_seq: u64,
    kernel_id: &str,
) -> Result<SegmentHeader, WalError> {
    use std::io::Read;
    let mut f = fs::File::open(path).map_err(io_err(path, "open segment"))?;
    let mut buf = vec![0u8; 64 + super::format::MAX_KERNEL_ID_BYTES];
    let mut n = 0;
    while n < buf.len() {
        let got = f
            .read(&mut buf[n..])
            .map_err(io_err(path, "read segment header"))?;
        if got == 0 {
            break;
        }
        n += got;
    }
    check_segment_header(&buf[..n], path, named_seq, kernel_id)
}

/// Where the chain stands: the next sequence number expected and the hash it must chain to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor {
    pub next_seq: u64,
    pub prev_hash: Hash,
}

/// Why a frame walk stopped before the end of the bytes.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The frame is unreadable: it runs past the end or its length/checksum is bad.
    Damaged { offset: usize, detail: String },
    /// The frame reads fine but does not continue the chain (sequence or hash).
    Broken { offset: usize, detail: String },
}

/// Walks frames from `start` to the end of `bytes`, checking checksum, sequence and hash,
/// and hands each good frame (with its offset) to `on_record`. Returns the end offset, or
/// where and why it stopped; errors of `on_record` pass through as the outer `Err`.
pub(crate) fn walk_frames(
    bytes: &[u8],
    start: usize,
    cursor: &mut Cursor,
    mut on_record: impl FnMut(&RawFrame<'_>, usize) -> Result<(), WalError>,
) -> Result<Result<usize, Stop>, WalError> {
    let mut at = start;
    while at < bytes.len() {
        let frame = match read_frame(&bytes[at..]) {
            FrameRead::Frame(f) => f,
            FrameRead::Short { needed } => {
                let have = bytes.len() - at;
                let detail =
                    format!("record needs {needed} bytes but only {have} remain in the file");
                return Ok(Err(Stop::Damaged { offset: at, detail }));
            }
            FrameRead::Bad(detail) => return Ok(Err(Stop::Damaged { offset: at, detail })),
        };
        if frame.seq != cursor.next_seq {
            let detail = if frame.seq > cursor.next_seq {
                format!(
                    "found seq {} where seq {} was expected: {} record(s) removed",
                    frame.seq,
                    cursor.next_seq,
                    frame.seq - cursor.next_seq
                )
            } else {
                format!(
                    "found seq {} where seq {} was expected: records reordered or duplicated",
                    frame.seq, cursor.next_seq
                )
            };
            return Ok(Err(Stop::Broken { offset: at, detail }));
        }
        let expected = chain_hash(&cursor.prev_hash, frame.seq, frame.ts, frame.payload);
        if expected != frame.hash {
            let detail = "hash chain broken: the record was edited (checksum recomputed) or does not follow \
                          the record before it"
                .to_string();
            return Ok(Err(Stop::Broken { offset: at, detail }));
        }
        let Some(next_seq) = cursor.next_seq.checked_add(1) else {
            // A buggy or newer writer's: the kernel's next input would have no seq.
            let detail = format!(
                "record seq {} is the last sequence number: no record can follow it",
                frame.seq
            );
            return Ok(Err(Stop::Broken { offset: at, detail }));
        };
        on_record(&frame, at)?;
        cursor.next_seq = next_seq;
        cursor.prev_hash = frame.hash;
        at += frame.total_len;
    }
    Ok(Ok(at))
}

/// Reads a segment header without expectations (to learn the log's kernel id).
pub(crate) fn read_segment_header_any(path: &Path) -> Result<SegmentHeader, WalError> {
    use std::io::Read;
    let f = fs::File::open(path).map_err(io_err(path, "open segment"))?;
    let mut buf = Vec::with_capacity(64 + super::format::MAX_KERNEL_ID_BYTES);
    f.take((64 + super::format::MAX_KERNEL_ID_BYTES) as u64)
        .read_to_end(&mut buf)
        .map_err(io_err(path, "read segment header"))?;
    decode_segment_header(&buf, path)
}
