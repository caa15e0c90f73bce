//! The appending side: buffering, group commit, rotation and checkpoints.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::format::{
    chain_hash, checkpoint_name, encode_checkpoint, encode_frame, encode_segment_header,
    genesis_hash, hex, parse_numbered, segment_name, Hash, FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES,
};
use super::scan::io_err;
use super::{recover, FsyncPolicy, RecoveryReport, Replay, ReplayError, WalError, WalOptions};

/// An open log with its single writer. See the module documentation.
pub struct Wal {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    dir: PathBuf,
    options: WalOptions,
    // Holds the exclusive lock on `<dir>/LOCK` until the log is dropped.
    _lock: File,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    file: Arc<File>,
    segment_first_seq: u64,
    segment_path: PathBuf,
    /// Bytes of the current segment, written and buffered.
    segment_len: u64,
    buf: Vec<u8>,
    last_seq: u64,
    head_hash: Hash,
    /// Highest seq handed to the OS (survives a process crash).
    written_seq: u64,
    /// Highest seq synced to stable storage (survives a power cut).
    durable_seq: u64,
    /// Records appended since the last sync (batch group commit counter).
    unsynced: u32,
    failed: Option<String>,
    shutdown: bool,
}

impl State {
    fn check_usable(&self) -> Result<(), WalError> {
        match &self.failed {
            Some(e) => Err(WalError::Poisoned(e.clone())),
            None => Ok(()),
        }
    }

    /// Hands buffered records to the OS. An error poisons the log.
    fn flush(&mut self) -> Result<(), WalError> {
        self.check_usable()?;
        if !self.buf.is_empty() {
            let result = (&*self.file).write_all(&self.buf);
            self.buf.clear();
            if let Err(e) = result {
                return Err(self.poison(&self.segment_path.clone(), "write", e));
            }
        }
        self.written_seq = self.last_seq;
        Ok(())
    }

    fn poison(&mut self, path: &Path, op: &'static str, e: std::io::Error) -> WalError {
        let err = WalError::Io {
            path: path.to_path_buf(),
            op,
            source: e,
        };
        self.failed = Some(err.to_string());
        err
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind; keep going with it.
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Flush and fdatasync, without holding the lock during the sync so appends continue.
fn commit<'a>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
) -> (MutexGuard<'a, State>, Result<u64, WalError>) {
    if let Err(e) = st.flush() {
        return (st, Err(e));
    }
    let file = Arc::clone(&st.file);
    let path = st.segment_path.clone();
    let upto = st.written_seq;
    st.unsynced = 0;
    drop(st);
    let synced = file.sync_data();
    let mut st = lock(shared);
    match synced {
        Ok(()) => {
            st.durable_seq = st.durable_seq.max(upto);
            let durable = st.durable_seq;
            (st, Ok(durable))
        }
        Err(e) => {
            let err = st.poison(&path, "fdatasync", e);
            (st, Err(err))
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync directory"))
}

/// Writes `bytes` to `<dir>/<name>` atomically: temporary file, sync, rename, sync dir.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, WalError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = File::create(&tmp).map_err(io_err(&tmp, "create"))?;
    f.write_all(bytes).map_err(io_err(&tmp, "write"))?;
    f.sync_all().map_err(io_err(&tmp, "sync"))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io_err(&path, "rename into place"))?;
    sync_dir(dir)?;
    Ok(path)
}

fn open_append(path: &Path) -> Result<File, WalError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err(path, "open segment for append"))
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Wal {
    /// Opens (or creates) the log in `dir`, replays it through `replay` and returns the
    /// log ready for appends with what recovery found. `replay` sees the newest valid
    /// checkpoint first (if any), then every record after it in order.
    pub fn open(
        dir: impl AsRef<Path>,
        options: WalOptions,
        mut replay: impl FnMut(Replay<'_>) -> Result<(), ReplayError>,
    ) -> Result<(Wal, RecoveryReport), WalError> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir, "create directory"))?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "open lock file"))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(WalError::Locked { dir }),
            Err(TryLockError::Error(e)) => {
                return Err(WalError::Io {
                    path: lock_path,
                    op: "lock",
                    source: e,
                })
            }
        }

        let (report, tail) = recover(&dir, &options.kernel_id, &mut replay, true)?;
        let (segment_path, segment_first_seq, segment_len) = match tail {
            Some(tail) => tail,
            None => {
                let header =
                    encode_segment_header(&options.kernel_id, 1, &genesis_hash(&options.kernel_id));
                let path = write_atomically(&dir, &segment_name(1), &header)?;
                (path, 1, header.len() as u64)
            }
        };
        let file = open_append(&segment_path)?;
        let state = State {
            file: Arc::new(file),
            segment_first_seq,
            segment_path,
            segment_len,
            buf: Vec::with_capacity(options.write_buffer_bytes + 4096),
            last_seq: report.last_seq,
            head_hash: report.head_hash,
            written_seq: report.last_seq,
            durable_seq: report.last_seq,
            unsynced: 0,
            failed: None,
            shutdown: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Condvar::new(),
        });
        let flusher = match options.fsync {
            FsyncPolicy::Always => None,
            FsyncPolicy::Batch {
                max_records,
                max_delay,
            } => Some(spawn_flusher(&shared, max_delay, true, max_records)?),
            FsyncPolicy::None => Some(spawn_flusher(
                &shared,
                options.flush_interval,
                false,
                u32::MAX,
            )?),
        };
        Ok((
            Wal {
                shared,
                flusher,
                dir,
                options,
                _lock: lock_file,
            },
            report,
        ))
    }

    /// Appends one record and returns its sequence number. Under `always` the record is on
    /// stable storage when this returns; under `batch` and `none` see [`Wal::durable_seq`].
    pub fn append(&mut self, timestamp: f64, payload: &[u8]) -> Result<u64, WalError> {
        if !timestamp.is_finite() {
            return Err(WalError::InvalidAppend(format!(
                "timestamp {timestamp} is not finite"
            )));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(WalError::InvalidAppend(format!(
                "payload of {} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte maximum",
                payload.len()
            )));
        }
        let shared = &*self.shared;
        let mut st = lock(shared);
        st.check_usable()?;
        let seq = st.last_seq + 1;
        let hash = chain_hash(&st.head_hash, seq, timestamp, payload);
        encode_frame(&mut st.buf, seq, timestamp, &hash, payload);
        st.segment_len += (FRAME_HEADER_BYTES + payload.len()) as u64;
        st.last_seq = seq;
        st.head_hash = hash;
        st.unsynced = st.unsynced.saturating_add(1);
        match self.options.fsync {
            FsyncPolicy::Always => {
                st.flush()?;
                let path = st.segment_path.clone();
                if let Err(e) = st.file.sync_data() {
                    return Err(st.poison(&path, "fdatasync", e));
                }
                st.durable_seq = seq;
                st.unsynced = 0;
            }
            // Group commit happens on the flusher thread so the appender never waits for
            // the disk; crossing the count wakes it early (once per batch, not per record).
            FsyncPolicy::Batch { max_records, .. } if st.unsynced == max_records => {
                st.flush()?;
                shared.wake.notify_one();
            }
            _ if st.buf.len() >= self.options.write_buffer_bytes => st.flush()?,
            _ => {}
        }
        if st.segment_len >= self.options.segment_bytes {
            self.rotate(&mut st)?;
        }
        Ok(seq)
    }

    /// Seals the current segment (flush + sync) and starts the next one.
    fn rotate(&self, st: &mut MutexGuard<'_, State>) -> Result<(), WalError> {
        st.flush()?;
        let path = st.segment_path.clone();
        if let Err(e) = st.file.sync_data() {
            return Err(st.poison(&path, "fdatasync", e));
        }
        st.durable_seq = st.last_seq;
        st.unsynced = 0;
        let first_seq = st.last_seq + 1;
        let header = encode_segment_header(&self.options.kernel_id, first_seq, &st.head_hash);
        let created =
            write_atomically(&self.dir, &segment_name(first_seq), &header).and_then(|p| {
                let f = open_append(&p)?;
                Ok((p, f))
            });
        match created {
            Ok((p, f)) => {
                st.file = Arc::new(f);
                st.segment_path = p;
                st.segment_first_seq = first_seq;
                st.segment_len = header.len() as u64;
                Ok(())
            }
            Err(e) => {
                st.failed = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Flushes and syncs everything appended so far, whatever the policy; returns the
    /// durable sequence number.
    pub fn sync(&self) -> Result<u64, WalError> {
        let st = lock(&self.shared);
        commit(&self.shared, st).1
    }

    /// Writes a checkpoint: `state` must be the caller's state after record `seq`, which
    /// must be the last record appended. The log is synced first, so a checkpoint never
    /// vouches for records that could still be lost. Older checkpoints beyond
    /// `keep_checkpoints` are removed. Returns the checkpoint file's path.
    pub fn checkpoint(&mut self, seq: u64, state: &[u8]) -> Result<PathBuf, WalError> {
        let st = lock(&self.shared);
        st.check_usable()?;
        if seq != st.last_seq {
            return Err(WalError::CheckpointSeq {
                seq,
                last_seq: st.last_seq,
            });
        }
        let (st, synced) = commit(&self.shared, st);
        synced?;
        // `&mut self` means no append ran since the commit: the buffer is empty and the next
        // record starts at the current end of the current segment.
        let bytes = encode_checkpoint(
            &self.options.kernel_id,
            seq,
            &st.head_hash,
            st.segment_first_seq,
            st.segment_len,
            now_seconds(),
            state,
        );
        drop(st);
        let path = write_atomically(&self.dir, &checkpoint_name(seq), &bytes)?;
        self.prune_checkpoints()?;
        Ok(path)
    }

    fn prune_checkpoints(&self) -> Result<(), WalError> {
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err(&self.dir, "list directory"))? {
            let entry = entry.map_err(io_err(&self.dir, "list directory"))?;
            if let Some(seq) = entry
                .file_name()
                .to_str()
                .and_then(|n| parse_numbered(n, "ckpt-", ".ckpt"))
            {
                found.push((seq, entry.path()));
            }
        }
        found.sort();
        let excess = found.len().saturating_sub(self.options.keep_checkpoints);
        for (_, path) in found.iter().take(excess) {
            fs::remove_file(path).map_err(io_err(path, "remove old checkpoint"))?;
        }
        if excess > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Sequence number of the last appended record (0 for an empty log).
    pub fn last_seq(&self) -> u64 {
        lock(&self.shared).last_seq
    }

    /// Highest sequence number known to be on stable storage.
    pub fn durable_seq(&self) -> u64 {
        lock(&self.shared).durable_seq
    }

    /// Highest sequence number handed to the OS (survives a crash of this process).
    pub fn written_seq(&self) -> u64 {
        lock(&self.shared).written_seq
    }

    /// Chain hash of the last record (the genesis hash for an empty log).
    pub fn head_hash(&self) -> [u8; 32] {
        lock(&self.shared).head_hash
    }

    pub fn head_hash_hex(&self) -> String {
        hex(&self.head_hash())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &WalOptions {
        &self.options
    }

    /// Stops the background thread and syncs what is left; reports the error `Drop` hides.
    pub fn close(mut self) -> Result<u64, WalError> {
        self.stop_flusher();
        self.sync()
    }

    fn stop_flusher(&mut self) {
        lock(&self.shared).shutdown = true;
        self.shared.wake.notify_all();
        if let Some(handle) = self.flusher.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.stop_flusher();
        let _ = self.sync();
    }
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

/// Background group commit: every `interval` (or when the appender reports a full batch),
/// whatever was appended since the last pass is handed to the OS and, when `sync` (the
/// batch policy), synced.
fn spawn_flusher(
    shared: &Arc<Shared>,
    interval: Duration,
    sync: bool,
    max_records: u32,
) -> Result<JoinHandle<()>, WalError> {
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name("dita-wal-flush".into())
        .spawn(move || {
            let mut st = lock(&shared);
            loop {
                if st.shutdown {
                    return;
                }
                // A full batch reported before this thread got to wait must not wait a whole interval.
                if !(sync && st.unsynced >= max_records) {
                    st = shared
                        .wake
                        .wait_timeout(st, interval)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                if st.shutdown || st.failed.is_some() {
                    continue;
                }
                if sync {
                    // Keep committing while a full batch piled up during the last sync.
                    while st.durable_seq < st.last_seq && st.failed.is_none() && !st.shutdown {
                        st = commit(&shared, st).0;
                        if st.unsynced < max_records {
                            break;
                        }
                    }
                } else if st.written_seq < st.last_seq {
                    let _ = st.flush();
                }
            }
        })
        .map_err(|e| WalError::Io {
            path: PathBuf::from("<thread>"),
            op: "spawn flusher thread",
            source: e,
        })
}
