//! What a fork does to this process's logs: a `pthread_atfork` handler, run in each child,
//! counts the forks the process came from (a log opened before a fork is a copy in the child,
//! [`Wal::forked`](super::Wal::forked)) and lets go of the locks (the directories' and the
//! LOCK files') of the logs open at the fork. Safe functions and [`LockFile`] over the libc calls.
//!
//! Why unsafe: FFI. Registering a fork handler and pointing descriptors at /dev/null in a child
//! are calls into libc that std does not offer.
//!
//! The invariants the calls rely on: the handler runs in a child just forked, where only
//! async-signal-safe calls may be made: one atomic add, then open, dup2, fcntl and close on
//! this process's descriptors. A descriptor listed for it is a [`LockFile`]'s open file,
//! unlisted before the file closes, so the child's copy of its number never names another
//! file.

use std::fs::File;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// Counts the forks this process came from (the fork handler adds one in each child): a log
/// remembers the count it was opened at, and a process forked after that holds a copy of the
/// parent's log, not a log of its own.
static FORK_COUNT: AtomicU64 = AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn count_fork_in_child() {
    // Async-signal-safe: one atomic add, then open, dup2, fcntl and close.
    FORK_COUNT.fetch_add(1, Ordering::AcqRel);
    release_locks_in_child();
}

/// How many locked descriptors a fork lets go of in the child (see [`LockFile`]), two a log (its
/// directory and its LOCK file); the locks of logs opened past 256 at once stay held by a
/// forked child.
const LOCK_SLOTS: usize = 512;

/// The locked descriptors of this process's logs (-1: a free slot), for the fork handler.
static LOCK_FDS: [AtomicI32; LOCK_SLOTS] = [const { AtomicI32::new(-1) }; LOCK_SLOTS];

/// In a child just forked: points its copies of the logs' locked descriptors at /dev/null. A
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

/// A file a log locks (its directory, its LOCK file), its descriptor listed for the fork
/// handler ([`release_locks_in_child`]) while it is open.
pub(super) struct LockFile {
    file: File,
    slot: Option<usize>,
}

impl LockFile {
    pub(super) fn new(file: File) -> LockFile {
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

    pub(super) fn file(&self) -> &File {
        &self.file
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
        // SAFETY: registers a handler that makes only async-signal-safe calls.
        INSTALL.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(count_fork_in_child));
        });
    }
    forks_so_far()
}

/// [`fork_count`] once it is installed: one atomic load.
#[inline]
pub(super) fn forks_so_far() -> u64 {
    FORK_COUNT.load(Ordering::Acquire)
}
