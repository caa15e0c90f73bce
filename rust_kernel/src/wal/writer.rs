//! The appending side: the buffer of appended records, group commit and what the log says of
//! where it stands. Opening, checkpoints, the files and the one-writer rule have a module each.

mod checkpoint;
mod files;
// Unsafe: libc calls of the fork handler, FFI (the module says what holds).
#[allow(unsafe_code)]
mod fork_handler;
mod open;
mod single_writer;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::format::{
    clean_stop_text, encode_unsealed_frame, hex, seal_frames, sealed_frame_info, Hash,
    CLEAN_STOP_NAME, MAX_PAYLOAD_BYTES, SYNCED_ALWAYS_NAME,
};
use super::{FsyncPolicy, WalError, WalOptions};
use files::{check_segment_in_place, rotate};
use single_writer::WriterLock;

#[cfg(test)]
pub(super) use files::SYNCED_DIRS;
pub use open::RecoveredWal;

/// How many `write_buffer_bytes` of records may wait for the flusher before the appender
/// writes them itself: 16 MiB by default, a quarter second of 100,000 intents/s (each intent
/// an order acknowledged and filled, about 680 bytes of records). A flusher held up by a slow
/// sync or a busy CPU catches up meanwhile, and the appender, the strategy's thread, is spared
/// the hashing and a write that can block for tens of milliseconds. The buffer and its spare
/// keep the capacity a backlog gave them: up to twice 16 MiB.
pub(super) const BACKLOG_BUFFERS: usize = 64;

/// An open log with its single writer. See the module documentation.
pub struct Wal {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    dir: PathBuf,
    options: WalOptions,
    /// A checkpoint being written by `checkpoint_in_background`, and its seq.
    pending_checkpoint: Option<(u64, JoinHandle<Result<PathBuf, WalError>>)>,
    /// The count of forks (`fork_handler::fork_count`) when the log was opened: in a process
    /// forked since, this is the parent's log (see [`Wal::forked`]).
    fork_count_at_open: u64,
    /// Set once the clean-stop file is written (`stop_cleanly`), so the drop after a close
    /// writes it no second time, or once the log must end without one (`forgo_clean_stop`).
    stopped: bool,
    // Holds the one writer's locks (the directory's and `<dir>/LOCK`'s) until the log is dropped.
    _lock: WriterLock,
}

/// Syncs a log from any thread (see [`Wal::sync_handle`]); made in the process that writes
/// the log, it is used there.
pub struct SyncHandle {
    shared: Arc<Shared>,
}

impl SyncHandle {
    /// Flushes and syncs everything appended so far; returns the durable sequence number.
    pub fn sync(&self) -> Result<u64, WalError> {
        commit(&self.shared)
    }
}

/// Three locks so appends never wait for hashing or the disk: `state` (taken by every
/// append, held for a memcpy) holds the buffer of unsealed frames; `io` (taken by whoever
/// writes) seals a buffer taken from `state`, writes it and rotates segments; `sync` is held
/// through each fdatasync and what it decides. Lock order is always `io`, `sync`, `state`.
struct Shared {
    state: Mutex<State>,
    io: Mutex<Io>,
    /// One sync at a time: an I/O error is reported to one sync of the file only, so a sync
    /// beside the one that met it would count records durable whose pages were lost.
    sync: Mutex<()>,
    wake: Condvar,
    segment_bytes: u64,
    kernel_id: String,
    dir: PathBuf,
    behaviour: u16,
    /// Checkpoints that failed since the log was opened: read with one atomic load, so the
    /// caller can notice a failure of the background thread at its next append for free.
    checkpoint_failures: AtomicU64,
    /// Why the newest checkpoint failed; None once one is written.
    checkpoint_error: Mutex<Option<String>>,
    /// Set with `State::failed`: read with one atomic load, so the caller can refuse an input
    /// before applying it once the writer thread met an I/O error ([`Wal::failure`]).
    failed: AtomicBool,
    /// `State`'s `last_seq`, `written_seq` and `durable_seq`, stored with them: read without
    /// its lock, which in a process forked while the writer thread held it is never released.
    last_seq: AtomicU64,
    written_seq: AtomicU64,
    durable_seq: AtomicU64,
    /// Keeps the log's thread from writing, as a thread starved of the CPU would be.
    #[cfg(test)]
    flusher_held: AtomicBool,
}

struct State {
    /// Frames appended and not yet handed to the I/O side, checksum and hash still empty.
    pending_frames: Vec<u8>,
    last_seq: u64,
    /// Highest seq handed to the OS (survives a process crash).
    written_seq: u64,
    /// Highest seq synced to stable storage (survives a power cut).
    durable_seq: u64,
    /// Records appended since the last sync (batch group commit counter).
    unsynced: u32,
    /// The buffer reached `write_buffer_bytes` and the flusher was woken to write it.
    flush_requested: bool,
    failed: Option<String>,
    shutdown: bool,
    /// The seq a background checkpoint is taken at, until a write passes its record.
    checkpoint_mark: Option<u64>,
    /// Where the log stood just after that record, noted by the write that passed it.
    checkpoint_position: Option<LogPosition>,
}

/// Where the next record starts: the first seq of its segment, its byte offset there, and
/// the chain hash of the record before it.
#[derive(Clone, Copy, Debug)]
struct LogPosition {
    segment_first_seq: u64,
    offset: u64,
    head_hash: Hash,
}

struct Io {
    /// Shared with a sync under way, which runs without the `io` lock.
    file: Arc<File>,
    segment_first_seq: u64,
    segment_path: PathBuf,
    /// Bytes written to the current segment.
    segment_len: u64,
    /// Chain hash of the last written record.
    head_hash: Hash,
    written_seq: u64,
    /// The buffer handed back to `state` at the next swap (keeps its capacity).
    spare: Vec<u8>,
}

impl State {
    fn check_usable(&self) -> Result<(), WalError> {
        match &self.failed {
            Some(e) => Err(WalError::Poisoned(e.clone())),
            None => Ok(()),
        }
    }
}

fn lock_state(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while holding a lock leaves plain data behind; keep going with it.
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_io(shared: &Shared) -> MutexGuard<'_, Io> {
    shared.io.lock().unwrap_or_else(|p| p.into_inner())
}

fn poison(shared: &Shared, path: &Path, op: &'static str, e: std::io::Error) -> WalError {
    let err = WalError::Io {
        path: path.to_path_buf(),
        op,
        source: e,
    };
    set_failed(shared, &err);
    err
}

/// Makes the log refuse further appends because of `err` (see [`Wal::failure`]).
fn set_failed(shared: &Shared, err: &WalError) {
    lock_state(shared).failed = Some(err.to_string());
    shared.failed.store(true, Ordering::Release);
}

/// Takes what is buffered, seals it (hash chain and checksums, in order), writes it and
/// rotates the segment once it reached `segment_bytes`. Returns the written seq.
fn flush_io(shared: &Shared, io: &mut Io) -> Result<u64, WalError> {
    let (mut chunk, upto, mark) = {
        let mut st = lock_state(shared);
        st.check_usable()?;
        // A write before the checkpoint's mark was set may have ended at its record.
        note_checkpoint_position(&mut st, io);
        if st.pending_frames.is_empty() {
            return Ok(io.written_seq);
        }
        let spare = std::mem::take(&mut io.spare);
        st.flush_requested = false;
        (
            std::mem::replace(&mut st.pending_frames, spare),
            st.last_seq,
            st.checkpoint_mark,
        )
    };
    seal_frames(&mut chunk, io.head_hash);
    // Write segment by segment: a segment ends with the record that makes it reach
    // `segment_bytes`, whatever the size of the buffered chunk. A write also ends with the
    // checkpoint's record, so the position after it can be noted.
    let mut at = 0;
    let mut result = Ok(());
    while at < chunk.len() {
        let mut end = at;
        let (mut seq, mut hash) = (io.written_seq, io.head_hash);
        while end < chunk.len() {
            let (len, s, h) = sealed_frame_info(&chunk, end);
            (end, seq, hash) = (end + len, s, h);
            if io.segment_len + (end - at) as u64 >= shared.segment_bytes || Some(seq) == mark {
                break;
            }
        }
        if let Err(e) = (&*io.file).write_all(&chunk[at..end]) {
            result = Err(poison(shared, &io.segment_path, "write", e));
            break;
        }
        io.segment_len += (end - at) as u64;
        (io.written_seq, io.head_hash) = (seq, hash);
        at = end;
        if io.segment_len >= shared.segment_bytes {
            if let Err(e) = rotate(shared, io) {
                result = Err(e);
                break;
            }
        }
        if Some(io.written_seq) == mark {
            note_checkpoint_position(&mut lock_state(shared), io);
        }
    }
    chunk.clear();
    io.spare = chunk;
    result?;
    lock_state(shared).written_seq = upto;
    shared.written_seq.store(upto, Ordering::Release);
    Ok(upto)
}

/// Notes where the log stands when its last written record is the checkpoint's (after any
/// rotation that record made): the next record starts there.
fn note_checkpoint_position(st: &mut State, io: &Io) {
    if st.checkpoint_mark == Some(io.written_seq) {
        st.checkpoint_mark = None;
        st.checkpoint_position = Some(io.position());
    }
}

impl Io {
    /// Where the next record written starts.
    fn position(&self) -> LogPosition {
        LogPosition {
            segment_first_seq: self.segment_first_seq,
            offset: self.segment_len,
            head_hash: self.head_hash,
        }
    }
}

/// Returns the error of writing record `seq` only when the record is not on stable storage:
/// one synced before the log failed (by the rotation it ended a segment with, or by another
/// thread's commit) is logged and a restart replays it, so it must not be reported failed.
/// The failure poisoned the log, which refuses the next append instead.
fn unless_durable(
    shared: &Shared,
    seq: u64,
    result: Result<u64, WalError>,
) -> Result<(), WalError> {
    match result {
        Err(e) if lock_state(shared).durable_seq < seq => Err(e),
        _ => Ok(()),
    }
}

/// Syncs `file`, the segment at `path`, and counts the records up to `upto` durable; an
/// error, or a segment no longer in the log directory, fails the log. Refused once the log
/// failed: an earlier sync's error may have been the one report of pages this sync would pass
/// as written.
fn sync_segment(shared: &Shared, file: &File, path: &Path, upto: u64) -> Result<u64, WalError> {
    let _one_sync = shared.sync.lock().unwrap_or_else(|p| p.into_inner());
    lock_state(shared).check_usable()?;
    #[cfg(test)]
    SLOW_SYNC.with(|slow| {
        if let Some((took, started)) = &*slow.borrow() {
            let _ = started.send(());
            thread::sleep(*took);
        }
    });
    if let Err(e) = file.sync_data() {
        return Err(poison(shared, path, "fdatasync", e));
    }
    // A sync of a segment no directory holds any more makes nothing durable.
    if let Err(e) = check_segment_in_place(file, path) {
        set_failed(shared, &e);
        return Err(e);
    }
    let mut st = lock_state(shared);
    st.durable_seq = st.durable_seq.max(upto);
    shared.durable_seq.store(st.durable_seq, Ordering::Release);
    Ok(st.durable_seq)
}

/// Checks that the segment being written is still in the log directory (see
/// [`check_segment_in_place`]); fails the log when it is not.
fn check_segment(shared: &Shared) -> Result<(), WalError> {
    let (file, path) = {
        let io = lock_io(shared);
        (Arc::clone(&io.file), io.segment_path.clone())
    };
    check_segment_in_place(&file, &path).inspect_err(|e| set_failed(shared, e))
}

/// Flush and fdatasync (group commit). Appends continue meanwhile: they only need `state`.
/// The sync runs without the `io` lock: a sync takes milliseconds on a busy disk, and an
/// appender far enough behind to write its records itself would wait for it. A rotation
/// meanwhile syncs the segment it ends, so every record up to `upto` is synced either way.
fn commit(shared: &Shared) -> Result<u64, WalError> {
    let (upto, file, path) = {
        let mut io = lock_io(shared);
        lock_state(shared).unsynced = 0;
        let upto = flush_io(shared, &mut io)?;
        (upto, Arc::clone(&io.file), io.segment_path.clone())
    };
    sync_segment(shared, &file, &path, upto)
}

#[cfg(test)]
thread_local! {
    /// Makes this thread's next thread spawns of the log fail, as at the process's thread limit.
    pub(super) static FAIL_SPAWN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Makes this thread's syncs take this long, as on a busy disk: set, the sync first says
    /// it started on the channel.
    pub(super) static SLOW_SYNC: std::cell::RefCell<Option<(Duration, std::sync::mpsc::Sender<()>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Starts one of the log's threads (the flusher, a checkpoint writer).
fn spawn_named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    #[cfg(test)]
    if FAIL_SPAWN.with(|fail| fail.get()) {
        return Err(std::io::Error::from_raw_os_error(libc::EAGAIN));
    }
    thread::Builder::new().name(name.into()).spawn(f)
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Wal {
    /// Appends one record and returns its sequence number. Under `always` the record is on
    /// stable storage when this returns; under `batch` and `none` see [`Wal::durable_seq`].
    pub fn append(&mut self, timestamp: f64, payload: &[u8]) -> Result<u64, WalError> {
        self.refuse_if_forked()?;
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
        let mut st = lock_state(shared);
        st.check_usable()?;
        let seq = st.last_seq + 1;
        encode_unsealed_frame(&mut st.pending_frames, seq, timestamp, payload);
        st.last_seq = seq;
        shared.last_seq.store(seq, Ordering::Release);
        st.unsynced = st.unsynced.saturating_add(1);
        let full = st.pending_frames.len() >= self.options.write_buffer_bytes;
        match self.options.fsync {
            FsyncPolicy::Always => {
                drop(st);
                unless_durable(shared, seq, commit(shared))?;
            }
            // Group commit (sealing, write and sync) happens on the flusher thread so the
            // appender never waits for hashing or the disk; crossing the count wakes it
            // early (once per batch, not per record).
            FsyncPolicy::Batch { max_records, .. } if st.unsynced == max_records => {
                drop(st);
                shared.wake.notify_one();
            }
            // A full buffer is the flusher's to write (woken once, when it first fills);
            // the appender writes it itself only when the flusher has fallen this far
            // behind, which bounds the memory buffered records take.
            _ if st.pending_frames.len() >= self.options.write_buffer_bytes * BACKLOG_BUFFERS => {
                drop(st);
                unless_durable(shared, seq, flush_io(shared, &mut lock_io(shared)))?;
            }
            _ if full && !st.flush_requested => {
                st.flush_requested = true;
                drop(st);
                shared.wake.notify_one();
            }
            _ => {}
        }
        Ok(seq)
    }

    /// Hands the records up to `seq` to the OS (a write; a sync only as the policy makes one
    /// anyway), so a crash of this process keeps them; a no-op once they are written. One
    /// atomic load when nothing waits: cheap enough before each order leaves for a venue.
    pub fn write_through(&self, seq: u64) -> Result<(), WalError> {
        self.refuse_if_forked()?;
        if self.written_seq() >= seq {
            return Ok(());
        }
        let shared = &*self.shared;
        unless_durable(shared, seq, flush_io(shared, &mut lock_io(shared)))
    }

    /// Flushes and syncs everything appended so far, whatever the policy; returns the
    /// durable sequence number.
    pub fn sync(&self) -> Result<u64, WalError> {
        self.refuse_if_forked()?;
        commit(&self.shared)
    }

    /// A handle that does what [`Wal::sync`] does from another thread, without the log: a
    /// caller holding the log only to make the handle can let it go while the disk syncs.
    pub fn sync_handle(&self) -> Result<SyncHandle, WalError> {
        self.refuse_if_forked()?;
        Ok(SyncHandle {
            shared: Arc::clone(&self.shared),
        })
    }

    /// Why the log refuses appends (an I/O error met by the writer thread, a sync or an
    /// append), as [`WalError::Poisoned`] says it; None while it takes them. One atomic load
    /// while none failed: cheap enough to check before every input, so an input the log
    /// would refuse is refused before the caller applies it.
    #[inline]
    pub fn failure(&self) -> Option<String> {
        // A forked copy first, without a lock: the parent's thread may have held it at the fork.
        if let Err(e) = self.refuse_if_forked() {
            return Some(e.to_string());
        }
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        let st = lock_state(&self.shared);
        st.check_usable().err().map(|e| e.to_string())
    }

    /// Sequence number of the last appended record (0 for an empty log). The positions are
    /// read without a lock: a process forked from the writer reads its copy's as of the fork.
    pub fn last_seq(&self) -> u64 {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    /// Highest sequence number known to be on stable storage.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// Highest sequence number handed to the OS (survives a crash of this process).
    pub fn written_seq(&self) -> u64 {
        self.shared.written_seq.load(Ordering::Acquire)
    }

    /// The newest record a restart will find, as far as this process knows: the durable one,
    /// or under `none` (synced only at rotation, checkpoints and close, by choice) the one
    /// handed to the OS. What a journal may hold rows of (see `Outbox::take_rows_through`).
    pub fn recoverable_seq(&self) -> u64 {
        match self.options.fsync {
            FsyncPolicy::None => self.written_seq(),
            _ => self.durable_seq(),
        }
    }

    /// Chain hash of the last appended record (the genesis hash for an empty log). Hands
    /// buffered records to the OS first: hashes are computed when records are written.
    /// `None` only in a process forked from the writer (which writes nothing) when the hash is
    /// not known there: records were still buffered, unhashed, at the fork, or the parent's
    /// writer thread held the log then.
    pub fn head_hash(&self) -> Option<[u8; 32]> {
        let mut io = self.lock_to_read(&self.shared.io)?;
        if self.forked() {
            return (io.written_seq == self.last_seq()).then_some(io.head_hash);
        }
        let _ = flush_io(&self.shared, &mut io);
        Some(io.head_hash)
    }

    pub fn head_hash_hex(&self) -> Option<String> {
        self.head_hash().map(|h| hex(&h))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &WalOptions {
        &self.options
    }

    /// Stops the background thread, syncs what is left and writes the clean-stop file naming
    /// the last record, which tells the next open that nothing after it was lost; reports the
    /// error `Drop` hides. A failed checkpoint is not that error (see [`Wal::checkpoint_error`]).
    pub fn close(mut self) -> Result<u64, WalError> {
        self.refuse_if_forked()?;
        self.stop_cleanly()
    }

    /// Keeps `close` and `Drop` from writing the clean-stop file: an open that fails before
    /// it recorded what it owed the log (such as the order ids a crash may have lost) leaves
    /// the log as uncleanly stopped as it found it.
    pub(crate) fn forgo_clean_stop(&mut self) {
        self.stopped = true;
    }

    /// Under fsync "always", writes the synced-always file, durably: every record from here on
    /// is synced before its append returns, so the next open, finding it, knows a crash lost
    /// none (see [`RecoveryReport::synced_always`]). Nothing under another policy.
    pub fn promise_synced_always(&self) -> Result<(), WalError> {
        if self.options.fsync == FsyncPolicy::Always {
            files::write_atomically(&self.dir, SYNCED_ALWAYS_NAME, b"")?;
        }
        Ok(())
    }

    /// What `close` and `Drop` do, once: no clean-stop file unless every record is synced.
    fn stop_cleanly(&mut self) -> Result<u64, WalError> {
        self.stop_flusher();
        let _ = self.finish_checkpoint();
        let synced = self.sync()?;
        if synced == self.last_seq() && !self.stopped {
            let text = clean_stop_text(synced);
            files::write_atomically(&self.dir, CLEAN_STOP_NAME, text.as_bytes())?;
            self.stopped = true;
        }
        Ok(synced)
    }

    fn stop_flusher(&mut self) {
        lock_state(&self.shared).shutdown = true;
        self.shared.wake.notify_all();
        if let Some(handle) = self.flusher.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if self.forked() {
            // The parent's threads: not in this process, never to be joined (a join panics),
            // and nothing of the parent's buffer is written from here.
            std::mem::forget(self.flusher.take());
            std::mem::forget(self.pending_checkpoint.take());
            return;
        }
        // A log dropped whole stops as cleanly as a closed one: no crash came before.
        let _ = self.stop_cleanly();
    }
}

#[cfg(test)]
impl Wal {
    /// Keeps the log's thread from writing (`true`) until released (`false`).
    pub(super) fn hold_flusher(&self, held: bool) {
        self.shared.flusher_held.store(held, Ordering::Release);
    }

    /// Runs `f` holding the log's `"io"` lock (as its writer thread does while it writes) or
    /// its `"state"` lock (as it does while it takes the buffer): a fork inside `f`
    /// makes a child whose copy of that lock no thread of it will ever release.
    pub(super) fn holding_lock<T>(&self, which: &str, f: impl FnOnce() -> T) -> T {
        if which == "io" {
            let _held = lock_io(&self.shared);
            f()
        } else {
            let _held = lock_state(&self.shared);
            f()
        }
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
/// batch policy), synced. A buffer that filled up before then is written without a sync,
/// so the appender never does the sealing and writing itself under a steady load. Every
/// `interval` the thread also checks that the segment is still in the log directory, as each
/// sync does, so a log removed under a kernel refuses its next input.
fn spawn_flusher(
    shared: &Arc<Shared>,
    interval: Duration,
    sync: bool,
    max_records: u32,
) -> Result<JoinHandle<()>, WalError> {
    let shared = Arc::clone(shared);
    spawn_named("dita-wal-flush", move || {
        let mut last_pass = Instant::now();
        let mut last_check = Instant::now();
        loop {
            // Some(sync) when there are records to write (and sync them, when `sync`), and
            // whether an interval has passed.
            let (write, due) = {
                let st = lock_state(&shared);
                if st.shutdown {
                    return;
                }
                // Work reported before this thread got to wait must not wait an interval.
                // A sync by someone else may have made everything durable without
                // resetting the count: then there is nothing to hurry for.
                let full =
                    |st: &State| sync && st.unsynced >= max_records && st.durable_seq < st.last_seq;
                let batch_full = full(&st);
                let st = if (batch_full || st.flush_requested) && st.failed.is_none() {
                    st
                } else {
                    let left = interval.saturating_sub(last_pass.elapsed());
                    shared
                        .wake
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                };
                let due = last_pass.elapsed() >= interval || full(&st);
                let pending = if sync && due {
                    st.durable_seq < st.last_seq
                } else {
                    st.written_seq < st.last_seq
                };
                if due && (!pending || st.failed.is_some()) {
                    last_pass = Instant::now();
                }
                if st.shutdown || st.failed.is_some() {
                    continue;
                }
                (pending.then_some(sync && due), due)
            };
            #[cfg(test)]
            if shared.flusher_held.load(Ordering::Acquire) {
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            // A commit checks the segment itself; writes woken by a full buffer put off the
            // next interval, not the check.
            let check = write != Some(true) && (due || last_check.elapsed() >= interval);
            if write == Some(true) || check {
                last_check = Instant::now();
            }
            // Errors poison the log; the next append reports them.
            let _ = match write {
                Some(true) => {
                    last_pass = Instant::now();
                    commit(&shared)
                }
                Some(false) => {
                    if !sync {
                        last_pass = Instant::now();
                    }
                    flush_io(&shared, &mut lock_io(&shared))
                }
                None => Ok(0),
            };
            if check {
                let _ = check_segment(&shared);
            }
        }
    })
    .map_err(|e| WalError::Io {
        path: PathBuf::from("<thread>"),
        op: "spawn flusher thread",
        source: e,
    })
}
