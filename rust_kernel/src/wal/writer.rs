//! The appending side: buffering, group commit, rotation and checkpoints.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::format::{
    checkpoint_name, encode_checkpoint, encode_segment_header, encode_unsealed_frame, hex,
    parse_numbered, seal_frames, sealed_frame_info, segment_name, Hash, FORMAT_VERSION,
    MAX_PAYLOAD_BYTES,
};
use super::recovery::{recover, Repairs, ReplaySpan, WriteTail};
use super::scan::{io_err, open_regular};
use super::{FsyncPolicy, RecoveryReport, Replay, ReplayError, WalError, WalOptions};

/// How many `write_buffer_bytes` of records may wait for the flusher before the appender
/// writes them itself.
const BACKLOG_BUFFERS: usize = 16;

/// How long opening a log asks again for a lock held elsewhere ([`Wal::recover_locked`])
/// before it is refused as [`WalError::Locked`].
const LOCK_PATIENCE: Duration = Duration::from_millis(200);
/// How long opening a log waits between two asks for its lock.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// Counts the forks this process came from (a `pthread_atfork` handler adds one in each child):
/// a log remembers the count it was opened at, and a process forked after that holds a copy of
/// the parent's log, not a log of its own.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn count_fork_in_child() {
    // Async-signal-safe: one atomic add, then open, dup2, fcntl and close.
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
    release_locks_in_child();
}

/// How many logs' locks a fork lets go of in the child (see [`HeldLock`]); the locks of logs
/// opened past that many at once are held by a forked child as before.
const LOCK_SLOTS: usize = 256;

/// The LOCK descriptors of this process's logs (-1: a free slot), for the fork handler.
static LOCK_FDS: [std::sync::atomic::AtomicI32; LOCK_SLOTS] =
    [const { std::sync::atomic::AtomicI32::new(-1) }; LOCK_SLOTS];

/// In a child just forked: points its copies of the logs' LOCK descriptors at /dev/null. A
/// flock belongs to the open file, which the fork shares, so a forked child (a `multiprocessing`
/// worker) held its parent's locks for as long as it lived, and the parent could not open its
/// log again once it closed it. The descriptor numbers stay valid (the child's copy of the log
/// closes its own later), only the lock is no longer the child's.
#[cfg(unix)]
fn release_locks_in_child() {
    // SAFETY: async-signal-safe calls on descriptors of this process only.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            return;
        }
        for slot in &LOCK_FDS {
            let fd = slot.load(Ordering::Acquire);
            if fd >= 0 && libc::dup2(null, fd) == fd {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        libc::close(null);
    }
}

/// A log's LOCK file, its descriptor listed for the fork handler ([`release_locks_in_child`])
/// while it is open.
struct HeldLock {
    file: File,
    slot: Option<usize>,
}

impl HeldLock {
    fn new(file: File) -> HeldLock {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = file.as_raw_fd();
            let slot = LOCK_FDS.iter().position(|slot| {
                slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            });
            HeldLock { file, slot }
        }
        #[cfg(not(unix))]
        HeldLock { file, slot: None }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // Unlisted before the descriptor closes: its number may be reused by another file.
        if let Some(slot) = self.slot {
            LOCK_FDS[slot].store(-1, Ordering::Release);
        }
    }
}

/// How many forks this process came from, counting from the first log opened (which installs
/// the counter).
fn fork_generation() -> u64 {
    #[cfg(unix)]
    {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        // SAFETY: registers a handler that only adds to an atomic.
        INSTALL.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(count_fork_in_child));
        });
    }
    FORK_GENERATION.load(Ordering::Acquire)
}

/// An open log with its single writer. See the module documentation.
pub struct Wal {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    dir: PathBuf,
    options: WalOptions,
    /// A checkpoint being written by `checkpoint_in_background`, and its seq.
    pending_checkpoint: Option<(u64, JoinHandle<Result<PathBuf, WalError>>)>,
    /// [`fork_generation`] when the log was opened: in a process forked since, this is the
    /// parent's log (see [`Wal::forked`]).
    generation: u64,
    // Holds the exclusive lock on `<dir>/LOCK` until the log is dropped.
    _lock: HeldLock,
}

/// Two locks so appends never wait for hashing or the disk: `state` (taken by every
/// append, held for a memcpy) holds the buffer of unsealed frames; `io` (taken by whoever
/// writes) seals a buffer taken from `state`, writes it, syncs and rotates segments. Lock
/// order is always `io` then `state`.
struct Shared {
    state: Mutex<State>,
    io: Mutex<Io>,
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
}

/// Records how a checkpoint ended. A failed checkpoint leaves the log whole (recovery
/// replays from the previous one), so it is reported, never returned to an append.
fn note_checkpoint<T>(shared: &Shared, seq: u64, result: &Result<T, WalError>) {
    let mut error = shared
        .checkpoint_error
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match result {
        Ok(_) => *error = None,
        Err(e) => {
            *error = Some(format!("checkpoint at seq {seq}: {e}"));
            shared.checkpoint_failures.fetch_add(1, Ordering::Release);
        }
    }
}

struct State {
    /// Frames appended and not yet handed to the I/O side, checksum and hash still empty.
    buf: Vec<u8>,
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
}

struct Io {
    file: File,
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

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
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
    lock(shared).failed = Some(err.to_string());
    shared.failed.store(true, Ordering::Release);
}

/// Takes what is buffered, seals it (hash chain and checksums, in order), writes it and
/// rotates the segment once it reached `segment_bytes`. Returns the written seq.
fn flush_io(shared: &Shared, io: &mut Io) -> Result<u64, WalError> {
    let (mut chunk, upto) = {
        let mut st = lock(shared);
        st.check_usable()?;
        if st.buf.is_empty() {
            return Ok(io.written_seq);
        }
        let spare = std::mem::take(&mut io.spare);
        st.flush_requested = false;
        (std::mem::replace(&mut st.buf, spare), st.last_seq)
    };
    seal_frames(&mut chunk, io.head_hash);
    // Write segment by segment: a segment ends with the record that makes it reach
    // `segment_bytes`, whatever the size of the buffered chunk.
    let mut at = 0;
    let mut result = Ok(());
    while at < chunk.len() {
        let mut end = at;
        let (mut seq, mut hash) = (io.written_seq, io.head_hash);
        while end < chunk.len() {
            let (len, s, h) = sealed_frame_info(&chunk, end);
            (end, seq, hash) = (end + len, s, h);
            if io.segment_len + (end - at) as u64 >= shared.segment_bytes {
                break;
            }
        }
        if let Err(e) = (&io.file).write_all(&chunk[at..end]) {
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
    }
    chunk.clear();
    io.spare = chunk;
    result?;
    lock(shared).written_seq = upto;
    shared.written_seq.store(upto, Ordering::Release);
    Ok(upto)
}

/// Seals the current segment (sync) and starts the next one at `written_seq + 1`.
fn rotate(shared: &Shared, io: &mut Io) -> Result<(), WalError> {
    if let Err(e) = io.file.sync_data() {
        return Err(poison(shared, &io.segment_path, "fdatasync", e));
    }
    mark_durable(shared, io.written_seq);
    let first_seq = io.written_seq + 1;
    let header = encode_segment_header(
        &shared.kernel_id,
        first_seq,
        &io.head_hash,
        shared.behaviour,
    );
    let created = write_atomically(&shared.dir, &segment_name(first_seq), &header).and_then(|p| {
        let f = open_append(&p)?;
        Ok((p, f))
    });
    match created {
        Ok((p, f)) => {
            io.file = f;
            io.segment_path = p;
            io.segment_first_seq = first_seq;
            io.segment_len = header.len() as u64;
            Ok(())
        }
        Err(e) => {
            set_failed(shared, &e);
            Err(e)
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
        Err(e) if lock(shared).durable_seq < seq => Err(e),
        _ => Ok(()),
    }
}

fn mark_durable(shared: &Shared, upto: u64) -> u64 {
    let mut st = lock(shared);
    st.durable_seq = st.durable_seq.max(upto);
    shared.durable_seq.store(st.durable_seq, Ordering::Release);
    st.durable_seq
}

/// Flush and fdatasync (group commit). Appends continue meanwhile: they only need `state`.
fn commit(shared: &Shared) -> Result<u64, WalError> {
    let mut io = lock_io(shared);
    lock(shared).unsynced = 0;
    let upto = flush_io(shared, &mut io)?;
    if let Err(e) = io.file.sync_data() {
        return Err(poison(shared, &io.segment_path, "fdatasync", e));
    }
    Ok(mark_durable(shared, upto))
}

/// Removes all but the newest `keep` checkpoint files, and the one at seq 0 (the state the
/// log starts from): the records alone do not hold it, so a replay of the whole log, when
/// every newer checkpoint is damaged, starts there rather than from a guess.
fn prune_checkpoints(dir: &Path, keep: usize) -> Result<(), WalError> {
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir, "list directory"))? {
        let entry = entry.map_err(io_err(dir, "list directory"))?;
        if let Some(seq) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_numbered(n, "ckpt-", ".ckpt"))
            .filter(|seq| *seq > 0)
        {
            found.push((seq, entry.path()));
        }
    }
    found.sort();
    let excess = found.len().saturating_sub(keep);
    for (_, path) in found.iter().take(excess) {
        fs::remove_file(path).map_err(io_err(path, "remove old checkpoint"))?;
    }
    if excess > 0 {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Every directory `sync_dir` synced, in order: a power cut cannot be staged in a test, so
/// tests check the syncs that make a new log's entries durable here.
#[cfg(test)]
pub(super) static SYNCED_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    #[cfg(test)]
    SYNCED_DIRS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(dir.to_path_buf());
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync directory"))
}

/// Writes `bytes` to `<dir>/<name>` atomically: temporary file, sync, rename, sync dir.
/// A temporary file written in part is removed when a step fails: the log goes on after a
/// failed checkpoint, and each such file would hold disk space (a state's worth) until a
/// restart's recovery removed it.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, WalError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut f = open_regular(
        &tmp,
        OpenOptions::new().write(true).create(true).truncate(true),
        "create",
    )?;
    let written = f
        .write_all(bytes)
        .map_err(io_err(&tmp, "write"))
        .and_then(|()| f.sync_all().map_err(io_err(&tmp, "sync")));
    drop(f);
    if let Err(e) =
        written.and_then(|()| fs::rename(&tmp, &path).map_err(io_err(&path, "rename into place")))
    {
        let _ = fs::remove_file(&tmp); // the error to report is the step's, not this one's
        return Err(e);
    }
    sync_dir(dir)?;
    Ok(path)
}

/// Creates `dir` and its missing ancestors, then syncs the parent of each one created: a
/// directory's entry lives in its parent, and until that is on disk a power cut can take the
/// whole log with it, records synced inside it included.
fn create_dir_durably(dir: &Path) -> Result<(), WalError> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
    for created in missing.iter().rev() {
        // A relative name's parent is "", the working directory.
        let parent = created
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        sync_dir(parent)?;
    }
    Ok(())
}

fn open_append(path: &Path) -> Result<File, WalError> {
    open_regular(
        path,
        OpenOptions::new().append(true),
        "open segment for append",
    )
}

#[cfg(test)]
thread_local! {
    /// Makes this thread's next thread spawns of the log fail, as at the process's thread limit.
    pub(super) static FAIL_SPAWN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
    /// Opens (or creates) the log in `dir`, replays it through `replay` and returns the
    /// log ready for appends with what recovery found. `replay` sees the newest valid
    /// checkpoint first (if any), then every record after it in order.
    pub fn open(
        dir: impl AsRef<Path>,
        options: WalOptions,
        replay: impl FnMut(Replay<'_>) -> Result<(), ReplayError>,
    ) -> Result<(Wal, RecoveryReport), WalError> {
        Wal::recover_locked(dir, options, replay)?.finish()
    }

    /// The first half of [`Wal::open`]: takes the log's lock and replays it through `replay`,
    /// writing nothing to it (a torn tail is found, not cut; leftover temporary files are
    /// found, not removed). The caller judges what was recovered, then calls
    /// [`RecoveredWal::finish`]; dropped instead, the log is left as it was, and unlocked.
    pub fn recover_locked(
        dir: impl AsRef<Path>,
        options: WalOptions,
        mut replay: impl FnMut(Replay<'_>) -> Result<(), ReplayError>,
    ) -> Result<RecoveredWal, WalError> {
        options.validate()?;
        // Installs the fork counter before the log exists.
        fork_generation();
        // Absolute from here on: the log writes new segments and checkpoints into its directory
        // for as long as it is open, and a relative name followed the process's working
        // directory, so after a chdir they went to another directory (a restart on the log
        // then lost every record written since, acknowledged ones under "always" included).
        let given = dir.as_ref();
        let dir = std::path::absolute(given).map_err(io_err(given, "resolve directory"))?;
        create_dir_durably(&dir)?;
        let lock_path = dir.join("LOCK");
        // A LOCK that is no regular file (a FIFO: its open waited for a reader forever)
        // refuses the open: without the lock there is no single writer.
        let lock_file = HeldLock::new(open_regular(
            &lock_path,
            OpenOptions::new().create(true).truncate(false).write(true),
            "open lock file",
        )?);
        // A child this process is starting holds a copy of every descriptor, and so the lock,
        // from its fork until its exec closes them: a log dropped and opened again in that
        // instant found itself locked (a test spawning a shell beside another reopening a log
        // did). Asked again for a moment before another writer is taken to hold it.
        let until = Instant::now() + LOCK_PATIENCE;
        loop {
            match lock_file.file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < until => {
                    thread::sleep(LOCK_RETRY);
                }
                Err(TryLockError::WouldBlock) => {
                    let holder = lock_holder(&lock_path);
                    return Err(WalError::Locked { dir, holder });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(WalError::Io {
                        path: lock_path,
                        op: "lock",
                        source: e,
                    })
                }
            }
        }
        // Names this process as the holder, for the refusal of another writer. Only a note: the
        // lock is the flock, so a note that cannot be written (a full disk) refuses nothing.
        let _ = lock_file.file.set_len(0).and_then(|()| {
            (&lock_file.file).write_all(format!("pid {}\n", std::process::id()).as_bytes())
        });

        let (report, tail, repairs) =
            recover(&dir, &options.kernel_id, &mut replay, ReplaySpan::default())?;
        Ok(RecoveredWal {
            dir,
            options,
            lock_file,
            report,
            tail,
            repairs,
        })
    }
}

/// The process the LOCK file at `path` names as the log's holder (`pid N`), if it names one.
fn lock_holder(path: &Path) -> Option<u32> {
    use std::io::Read;
    let file = open_regular(path, OpenOptions::new().read(true), "read lock file").ok()?;
    let mut note = String::new();
    file.take(64).read_to_string(&mut note).ok()?;
    note.trim().strip_prefix("pid ")?.parse().ok()
}

/// A log recovered under its lock, nothing on it changed yet (see [`Wal::recover_locked`]).
pub struct RecoveredWal {
    dir: PathBuf,
    options: WalOptions,
    lock_file: HeldLock,
    report: RecoveryReport,
    tail: Option<WriteTail>,
    repairs: Repairs,
}

impl RecoveredWal {
    /// What recovery found: its `torn_tail` is what `finish` cuts (`removed_temp_files` is
    /// filled by `finish`, as it removes them).
    pub fn report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Repairs the log (removes leftover temporary files, cuts a torn tail), starts a segment
    /// when the last one cannot take these records, and returns the log ready for appends.
    pub fn finish(self) -> Result<(Wal, RecoveryReport), WalError> {
        let RecoveredWal {
            dir,
            options,
            lock_file,
            mut report,
            tail,
            repairs,
        } = self;
        for tmp in &repairs.temps {
            fs::remove_file(tmp).map_err(io_err(tmp, "remove leftover temporary file"))?;
            report.removed_temp_files.push(tmp.clone());
        }
        if let Some(torn) = &report.torn_tail {
            let path = &torn.segment;
            let file = open_regular(path, OpenOptions::new().write(true), "open segment")?;
            file.set_len(torn.offset)
                .map_err(io_err(path, "truncate torn tail of"))?;
            file.sync_all().map_err(io_err(path, "sync"))?;
        }
        // What recovery read of the last segment may be in the page cache only (a writer
        // killed under `batch` or `none`): synced before `durable_seq` says so and before a new
        // segment's records, synced on their own, go after it (a power cut then cut records
        // out of the middle of the log). Earlier segments were synced when they were sealed.
        if let Some(t) = &tail {
            open_regular(&t.path, OpenOptions::new().read(true), "open segment")?
                .sync_data()
                .map_err(io_err(&t.path, "fdatasync"))?;
        }
        // Records of this behaviour version go to a segment of their own, in this format; an
        // empty tail segment is replaced: it has the same name.
        let tail = tail.filter(|t| t.behaviour == options.behaviour && t.version == FORMAT_VERSION);
        let (segment_path, segment_first_seq, segment_len) = match tail {
            Some(t) => (t.path, t.first_seq, t.len),
            None => {
                // A new log's head hash is the kernel id's genesis hash.
                let first_seq = report.last_seq + 1;
                let header = encode_segment_header(
                    &options.kernel_id,
                    first_seq,
                    &report.head_hash,
                    options.behaviour,
                );
                let path = write_atomically(&dir, &segment_name(first_seq), &header)?;
                (path, first_seq, header.len() as u64)
            }
        };
        let file = open_append(&segment_path)?;
        let state = State {
            buf: Vec::with_capacity(options.write_buffer_bytes + 4096),
            last_seq: report.last_seq,
            written_seq: report.last_seq,
            durable_seq: report.last_seq,
            unsynced: 0,
            flush_requested: false,
            failed: None,
            shutdown: false,
        };
        let io = Io {
            file,
            segment_first_seq,
            segment_path,
            segment_len,
            head_hash: report.head_hash,
            written_seq: report.last_seq,
            spare: Vec::with_capacity(options.write_buffer_bytes + 4096),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            io: Mutex::new(io),
            wake: Condvar::new(),
            segment_bytes: options.segment_bytes,
            kernel_id: options.kernel_id.clone(),
            dir: dir.clone(),
            behaviour: options.behaviour,
            checkpoint_failures: AtomicU64::new(0),
            checkpoint_error: Mutex::new(None),
            failed: AtomicBool::new(false),
            last_seq: AtomicU64::new(report.last_seq),
            written_seq: AtomicU64::new(report.last_seq),
            durable_seq: AtomicU64::new(report.last_seq),
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
                pending_checkpoint: None,
                generation: fork_generation(),
                _lock: lock_file,
            },
            report,
        ))
    }
}

impl Wal {
    /// Appends one record and returns its sequence number. Under `always` the record is on
    /// stable storage when this returns; under `batch` and `none` see [`Wal::durable_seq`].
    pub fn append(&mut self, timestamp: f64, payload: &[u8]) -> Result<u64, WalError> {
        self.own()?;
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
        encode_unsealed_frame(&mut st.buf, seq, timestamp, payload);
        st.last_seq = seq;
        shared.last_seq.store(seq, Ordering::Release);
        st.unsynced = st.unsynced.saturating_add(1);
        let full = st.buf.len() >= self.options.write_buffer_bytes;
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
            _ if st.buf.len() >= self.options.write_buffer_bytes * BACKLOG_BUFFERS => {
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

    /// Flushes and syncs everything appended so far, whatever the policy; returns the
    /// durable sequence number.
    pub fn sync(&self) -> Result<u64, WalError> {
        self.own()?;
        commit(&self.shared)
    }

    /// True in a process forked after the log was opened: it holds a copy of the parent's log
    /// (its buffered records, its segment, its lock), whose writes would go into the parent's
    /// file beside the parent's own, and whose flusher thread the fork did not copy. Such a
    /// copy writes nothing (every write is refused with [`WalError::Forked`]) and is dropped
    /// without a sync. One atomic load.
    #[inline]
    pub fn forked(&self) -> bool {
        FORK_GENERATION.load(Ordering::Acquire) != self.generation
    }

    fn own(&self) -> Result<(), WalError> {
        if self.forked() {
            return Err(WalError::Forked {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// Writes a checkpoint: `state` must be the caller's state after record `seq`, which
    /// must be the last record appended. The log is synced first, so a checkpoint never
    /// vouches for records that could still be lost. Older checkpoints beyond
    /// `keep_checkpoints` are removed. Returns the checkpoint file's path. A background
    /// checkpoint still under way is waited for first; its failure is not returned here but
    /// kept in [`Wal::checkpoint_error`].
    pub fn checkpoint(&mut self, seq: u64, state: &[u8]) -> Result<PathBuf, WalError> {
        self.own()?;
        let _ = self.finish_checkpoint();
        {
            let st = lock(&self.shared);
            st.check_usable()?;
            if seq != st.last_seq {
                return Err(WalError::CheckpointSeq {
                    seq,
                    last_seq: st.last_seq,
                });
            }
        }
        commit(&self.shared)?;
        // `&mut self` means no append ran since the commit: everything is written and the
        // next record starts at the current end of the current segment.
        let bytes = {
            let io = lock_io(&self.shared);
            encode_checkpoint(
                &self.options.kernel_id,
                seq,
                &io.head_hash,
                io.segment_first_seq,
                io.segment_len,
                now_seconds(),
                self.options.behaviour,
                state,
            )
        };
        let written = write_atomically(&self.dir, &checkpoint_name(seq), &bytes).and_then(|path| {
            prune_checkpoints(&self.dir, self.options.keep_checkpoints).map(|()| path)
        });
        note_checkpoint(&self.shared, seq, &written);
        written
    }

    /// Like [`Wal::checkpoint`], but the sync of the log and the checkpoint file are written
    /// on a background thread so appends go on: a periodic checkpoint of a large state does
    /// not stall the caller. How it ends is kept in [`Wal::checkpoint_failures`] and
    /// [`Wal::checkpoint_error`], not returned to a later call: the log is whole without
    /// it. [`Wal::finish_checkpoint`] waits for it. Errors returned here are the log's own
    /// (a record that cannot be written) or the caller's (`seq` not the last record).
    pub fn checkpoint_in_background(&mut self, seq: u64, state: Vec<u8>) -> Result<(), WalError> {
        self.own()?;
        let _ = self.finish_checkpoint();
        {
            let st = lock(&self.shared);
            st.check_usable()?;
            if seq != st.last_seq {
                return Err(WalError::CheckpointSeq {
                    seq,
                    last_seq: st.last_seq,
                });
            }
        }
        // Written (not yet synced) so the position of the next record and the head hash
        // are final; the background thread syncs before the checkpoint vouches for them.
        let (first, offset, hash) = {
            let mut io = lock_io(&self.shared);
            flush_io(&self.shared, &mut io)?;
            (io.segment_first_seq, io.segment_len, io.head_hash)
        };
        let shared = Arc::clone(&self.shared);
        let (dir, kernel_id, keep, behaviour) = (
            self.dir.clone(),
            self.options.kernel_id.clone(),
            self.options.keep_checkpoints,
            self.options.behaviour,
        );
        let spawned = spawn_named("dita-wal-checkpoint", move || {
            let written = commit(&shared).and_then(|_| {
                let bytes = encode_checkpoint(
                    &kernel_id,
                    seq,
                    &hash,
                    first,
                    offset,
                    now_seconds(),
                    behaviour,
                    &state,
                );
                let path = write_atomically(&dir, &checkpoint_name(seq), &bytes)?;
                prune_checkpoints(&dir, keep)?;
                Ok(path)
            });
            note_checkpoint(&shared, seq, &written);
            written
        });
        match spawned {
            Ok(handle) => self.pending_checkpoint = Some((seq, handle)),
            // A checkpoint that cannot start (the process at its thread limit) failed as one
            // that cannot be written does: the log is whole. Before, it was returned as the
            // record's error, and the kernel refused the input the log held.
            Err(e) => {
                let failed = Err::<(), _>(WalError::Io {
                    path: self.dir.clone(),
                    op: "spawn checkpoint thread",
                    source: e,
                });
                note_checkpoint(&self.shared, seq, &failed);
            }
        }
        Ok(())
    }

    /// Waits for a background checkpoint to be on disk; returns its path or its error
    /// (also kept in [`Wal::checkpoint_error`]).
    pub fn finish_checkpoint(&mut self) -> Result<Option<PathBuf>, WalError> {
        // The thread writing it is the parent's: a fork copies only the thread that forked.
        self.own()?;
        match self.pending_checkpoint.take() {
            Some((seq, handle)) => match handle.join() {
                Ok(result) => result.map(Some),
                Err(_) => {
                    let panicked = || WalError::Poisoned("the checkpoint thread panicked".into());
                    note_checkpoint::<()>(&self.shared, seq, &Err(panicked()));
                    Err(panicked())
                }
            },
            None => Ok(None),
        }
    }

    /// How many checkpoints failed since the log was opened (one atomic load: cheap enough
    /// for every append). A failed checkpoint leaves the log whole; only recovery is longer.
    #[inline]
    pub fn checkpoint_failures(&self) -> u64 {
        self.shared.checkpoint_failures.load(Ordering::Acquire)
    }

    /// Why the log refuses appends (an I/O error met by the writer thread, a sync or an
    /// append), as [`WalError::Poisoned`] says it; None while it takes them. One atomic load
    /// while none failed: cheap enough to check before every input, so an input the log
    /// would refuse is refused before the caller applies it.
    #[inline]
    pub fn failure(&self) -> Option<String> {
        // A forked copy first, without a lock: the parent's thread may have held it at the fork.
        if let Err(e) = self.own() {
            return Some(e.to_string());
        }
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        let st = lock(&self.shared);
        st.check_usable().err().map(|e| e.to_string())
    }

    /// Why the newest checkpoint failed, naming its seq; None when it was written (or none
    /// failed).
    /// In a process forked from the writer while the parent's checkpoint thread was recording
    /// how one ended, that is not known: said so.
    pub fn checkpoint_error(&self) -> Option<String> {
        match self.lock_to_read(&self.shared.checkpoint_error) {
            Some(error) => error.clone(),
            None => Some(
                "not known: the parent's checkpoint thread was recording it at the fork".into(),
            ),
        }
    }

    /// `mutex` locked to read it; in a forked copy only if it is free (a thread of the parent
    /// held it at the fork, and no thread here will release it: waiting hung the process).
    fn lock_to_read<'a, T>(&self, mutex: &'a Mutex<T>) -> Option<MutexGuard<'a, T>> {
        if !self.forked() {
            return Some(mutex.lock().unwrap_or_else(|p| p.into_inner()));
        }
        match mutex.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
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

    /// Stops the background thread and syncs what is left; reports the error `Drop` hides.
    /// A failed checkpoint is not that error (see [`Wal::checkpoint_error`]).
    pub fn close(mut self) -> Result<u64, WalError> {
        self.own()?;
        self.stop_flusher();
        let _ = self.finish_checkpoint();
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
        if self.forked() {
            // The parent's threads: not in this process, never to be joined (a join panicked),
            // and nothing of the parent's buffer is written from here.
            std::mem::forget(self.flusher.take());
            std::mem::forget(self.pending_checkpoint.take());
            return;
        }
        self.stop_flusher();
        let _ = self.finish_checkpoint();
        let _ = self.sync();
    }
}

#[cfg(test)]
impl Wal {
    /// Runs `f` holding the log's `"io"` lock (as its writer thread does while it writes and
    /// syncs) or its `"state"` lock (as it does while it takes the buffer): a fork inside `f`
    /// makes a child whose copy of that lock no thread of it will ever release.
    pub(super) fn holding_lock<T>(&self, which: &str, f: impl FnOnce() -> T) -> T {
        if which == "io" {
            let _held = lock_io(&self.shared);
            f()
        } else {
            let _held = lock(&self.shared);
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
/// so the appender never does the sealing and writing itself under a steady load.
fn spawn_flusher(
    shared: &Arc<Shared>,
    interval: Duration,
    sync: bool,
    max_records: u32,
) -> Result<JoinHandle<()>, WalError> {
    let shared = Arc::clone(shared);
    spawn_named("dita-wal-flush", move || {
        let mut last_pass = Instant::now();
        loop {
            let sync_now = {
                let st = lock(&shared);
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
                if st.shutdown || st.failed.is_some() || !pending {
                    if due {
                        last_pass = Instant::now();
                    }
                    continue;
                }
                sync && due
            };
            // Errors poison the log; the next append reports them.
            let _ = if sync_now {
                last_pass = Instant::now();
                commit(&shared)
            } else {
                if !sync {
                    last_pass = Instant::now();
                }
                flush_io(&shared, &mut lock_io(&shared))
            };
        }
    })
    .map_err(|e| WalError::Io {
        path: PathBuf::from("<thread>"),
        op: "spawn flusher thread",
        source: e,
    })
}
