//! One writer per log: the LOCK file taken on open, and the copy of an open log that a
//! process forked from the writer holds, which writes nothing (the fork handler, which lets
//! go of the lock in the child, is `fork_handler`'s).

use std::fs::{OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::fork_handler::{forks_so_far, LockFile};
use super::Wal;
use crate::wal::scan::open_regular;
use crate::wal::WalError;

/// How long opening a log asks again for a lock held elsewhere ([`Wal::recover_locked`])
/// before it is refused as [`WalError::Locked`].
const LOCK_WAIT: Duration = Duration::from_millis(200);

/// How long opening a log waits between two asks for its lock.
const LOCK_RETRY: Duration = Duration::from_millis(5);

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
        match lock_file.file().try_lock() {
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
    let _ = lock_file.file().set_len(0).and_then(|()| {
        lock_file
            .file()
            .write_all(format!("pid {}\n", std::process::id()).as_bytes())
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
        forks_so_far() != self.fork_count_at_open
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
