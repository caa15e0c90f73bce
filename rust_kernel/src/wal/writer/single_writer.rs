//! One writer per log: the LOCK file taken on open, and the copy of an open log that a
//! process forked from the writer holds, which writes nothing and lets go of the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::Wal;
use crate::wal::scan::open_regular;
use crate::wal::WalError;

/// How long opening a log asks again for a lock held elsewhere ([`Wal::recover_locked`])
/// before it is refused as [`WalError::Locked`].
const LOCK_WAIT: Duration = Duration::from_millis(200);

/// How long opening a log waits between two asks for its lock.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// Counts the forks this process came from (a `pthread_atfork` handler adds one in each child):
/// a log remembers the count it was opened at, and a process forked after that holds a copy of
/// the parent's log, not a log of its own.
static FORK_COUNT: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn count_fork_in_child() {
    // Async-signal-safe: one atomic add, then open, dup2, fcntl and close.
    FORK_COUNT.fetch_add(1, Ordering::AcqRel);
    release_locks_in_child();
}

/// How many logs' locks a fork lets go of in the child (see [`LockFile`]); the locks of logs
/// opened past that many at once stay held by a forked child.
const LOCK_SLOTS: usize = 256;

/// The LOCK descriptors of this process's logs (-1: a free slot), for the fork handler.
static LOCK_FDS: [std::sync::atomic::AtomicI32; LOCK_SLOTS] =
    [const { std::sync::atomic::AtomicI32::new(-1) }; LOCK_SLOTS];

/// In a child just forked: points its copies of the logs' LOCK descriptors at /dev/null. A
/// flock belongs to the open file, which the fork shares: a forked child (a `multiprocessing`
/// worker) would hold its parent's locks for as long as it lives, and the parent could not
/// open its log again once it closed it. The descriptor numbers stay valid (the child's copy
/// of the log closes its own later), only the lock is no longer the child's.
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
pub(super) struct LockFile {
    file: File,
    slot: Option<usize>,
}

impl LockFile {
    fn new(file: File) -> LockFile {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = file.as_raw_fd();
            let slot = LOCK_FDS.iter().position(|slot| {
                slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            });
            LockFile { file, slot }
        }
        #[cfg(not(unix))]
        LockFile { file, slot: None }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        // Unlisted before the descriptor closes: its number may be reused by another file.
        if let Some(slot) = self.slot {
            LOCK_FDS[slot].store(-1, Ordering::Release);
        }
    }
}

/// How many forks this process came from, counting from the first log opened (which installs
/// the counter).
pub(super) fn fork_count() -> u64 {
    #[cfg(unix)]
    {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        // SAFETY: registers a handler that only adds to an atomic.
        INSTALL.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(count_fork_in_child));
        });
    }
    FORK_COUNT.load(Ordering::Acquire)
}

/// Opens and locks `<dir>/LOCK` for the life of the log, and notes this process in it.
pub(super) fn take_lock(dir: &Path) -> Result<LockFile, WalError> {
    let lock_path = dir.join("LOCK");
    // A LOCK that is no regular file (a FIFO, whose open would wait for a reader forever)
    // refuses the open: without the lock there is no single writer.
    let lock_file = LockFile::new(open_regular(
        &lock_path,
        OpenOptions::new().create(true).truncate(false).write(true),
        "open lock file",
    )?);
    // A child this process is starting holds a copy of every descriptor, and so the lock,
    // from its fork until its exec closes them: a log dropped and opened again in that
    // instant finds itself locked. Asked again for a moment before another writer is taken
    // to hold it.
    let until = Instant::now() + LOCK_WAIT;
    loop {
        match lock_file.file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < until => {
                thread::sleep(LOCK_RETRY);
            }
            Err(TryLockError::WouldBlock) => {
                let holder = lock_holder(&lock_path);
                return Err(WalError::Locked {
                    dir: dir.to_path_buf(),
                    holder,
                });
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
    Ok(lock_file)
}

/// The process the LOCK file at `path` names as the log's holder (`pid N`), if it names one.
fn lock_holder(path: &Path) -> Option<u32> {
    use std::io::Read;
    let file = open_regular(path, OpenOptions::new().read(true), "read lock file").ok()?;
    let mut note = String::new();
    file.take(64).read_to_string(&mut note).ok()?;
    note.trim().strip_prefix("pid ")?.parse().ok()
}

impl Wal {
    /// True in a process forked after the log was opened: it holds a copy of the parent's log
    /// (its buffered records, its segment, its lock), whose writes would go into the parent's
    /// file beside the parent's own, and whose flusher thread the fork did not copy. Such a
    /// copy writes nothing (every write is refused with [`WalError::Forked`]) and is dropped
    /// without a sync. One atomic load.
    #[inline]
    pub fn forked(&self) -> bool {
        FORK_COUNT.load(Ordering::Acquire) != self.fork_count_at_open
    }

    pub(super) fn refuse_if_forked(&self) -> Result<(), WalError> {
        if self.forked() {
            return Err(WalError::Forked {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// `mutex` locked to read it; in a forked copy only if it is free (a thread of the parent
    /// held it at the fork, and no thread here will release it: waiting would hang the process).
    pub(super) fn lock_to_read<'a, T>(&self, mutex: &'a Mutex<T>) -> Option<MutexGuard<'a, T>> {
        if !self.forked() {
            return Some(mutex.lock().unwrap_or_else(|p| p.into_inner()));
        }
        match mutex.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}
