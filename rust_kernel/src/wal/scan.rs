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

/// What a name of the log directory is when it is no regular file, for messages.
fn kind_of(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

fn not_regular(path: &Path, meta: &fs::Metadata) -> WalError {
    WalError::NotRegularFile {
        file: path.to_path_buf(),
        kind: kind_of(meta.file_type()),
    }
}

/// Opens a file of the log directory (segment, checkpoint, LOCK, temporary file) with
/// `options`, refusing with [`WalError::NotRegularFile`] what is no regular file (a symlink
/// is followed: one to a regular file is that file). Every file the log reads or writes is
/// opened here. The open does not block: a FIFO is opened with O_NONBLOCK (a blocking open
/// waits forever for a writer, and every reader of the log with it), then refused by the
/// opened file's own metadata, so nothing is read from it and the name cannot be swapped
/// between a check and the open; a device (a link to /dev/zero, whose reads never end) is
/// refused the same way before any read. O_NONBLOCK has no effect on a regular file's reads
/// and writes, so the flag stays on the returned file. O_NOCTTY: a terminal opened by name
/// never becomes the process's controlling terminal.
pub(crate) fn open_regular(
    path: &Path,
    options: &mut fs::OpenOptions,
    op: &'static str,
) -> Result<fs::File, WalError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) => {
            // A FIFO opened for writing without a reader and a socket fail (ENXIO), a
            // directory opened for writing too (EISDIR): say what the name is.
            return Err(match fs::metadata(path) {
                Ok(meta) if !meta.is_file() => not_regular(path, &meta),
                _ => io_err(path, op)(e),
            });
        }
    };
    let meta = file.metadata().map_err(io_err(path, op))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(file)
}

/// The whole of a regular file of the log directory (see [`open_regular`]): bounded by the
/// file's size, never a FIFO's or a device's endless bytes.
pub(crate) fn read_regular(path: &Path, op: &'static str) -> Result<Vec<u8>, WalError> {
    use std::io::Read;
    let mut file = open_regular(path, fs::OpenOptions::new().read(true), op)?;
    // Sized once up front, as `fs::read` does; a size memory cannot hold is an error, not
    // an abort.
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(size).unwrap_or(usize::MAX))
        .map_err(|e| io_err(path, op)(std::io::Error::new(std::io::ErrorKind::OutOfMemory, e)))?;
    file.read_to_end(&mut bytes).map_err(io_err(path, op))?;
    Ok(bytes)
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
    let bytes = read_regular(path, "read segment")?;
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
    let mut f = open_regular(path, fs::OpenOptions::new().read(true), "open segment")?;
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
                // The bytes walked may end before the file does (at a checkpoint's position):
                // the caller says where they end.
                let detail = format!("record needs {needed} bytes but only {have} remain");
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
    let f = open_regular(path, fs::OpenOptions::new().read(true), "open segment")?;
    let mut buf = Vec::with_capacity(64 + super::format::MAX_KERNEL_ID_BYTES);
    f.take((64 + super::format::MAX_KERNEL_ID_BYTES) as u64)
        .read_to_end(&mut buf)
        .map_err(io_err(path, "read segment header"))?;
    decode_segment_header(&buf, path)
}

/// The kernel id written in the log in `dir`, or `None` when `dir` holds no segment (a new
/// log). Lets a kernel reopened without an explicit id adopt the id of its log.
pub fn log_kernel_id(dir: impl AsRef<Path>) -> Result<Option<String>, WalError> {
    let dir = dir.as_ref();
    if !dir.exists() {
        return Ok(None);
    }
    listed_kernel_id(&list_dir(dir)?)
}

/// The kernel id of the listed segments: the one most of them carry (the newest segment's on
/// a tie), `None` when there is none. A segment of another kernel among them is refused by
/// its own name wherever it sorts, so the kernel's own files are never the ones blamed.
pub(crate) fn listed_kernel_id(listing: &Listing) -> Result<Option<String>, WalError> {
    let mut ids = Vec::with_capacity(listing.segments.len());
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (_, path) in &listing.segments {
        let id = read_segment_header_any(path)?.kernel_id;
        *counts.entry(id.clone()).or_default() += 1;
        ids.push((path, id));
    }
    let Some(mut kernel_id) = ids.last().map(|(_, id)| id.clone()) else {
        return Ok(None);
    };
    // Newest segment first, so a tie goes to the id with the newer segment whatever the
    // counts' map order (seeded at random per map): a second look names the same files.
    for (_, id) in ids.iter().rev() {
        if counts[id] > counts[&kernel_id] {
            kernel_id = id.clone();
        }
    }
    if let Some((path, found)) = ids.iter().find(|(_, id)| *id != kernel_id) {
        return Err(WalError::KernelIdMismatch {
            file: path.to_path_buf(),
            found: found.clone(),
            expected: kernel_id,
        });
    }
    Ok(Some(kernel_id))
}
