//! One writer per log: the locks taken on open (the log directory's and its LOCK file's), and
//! the copy of an open log that a process forked from the writer holds, which writes nothing
//! (the fork handler, which lets go of the locks in the child, is `fork_handler`'s).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::fork_handler::{forks_so_far, LockFile};
use super::Wal;
use crate::wal::scan::{io_err, open_regular};
use crate::wal::WalError;

/// How long opening a log asks again for a lock held elsewhere ([`Wal::recover_locked`])
/// before it is refused as [`WalError::Locked`].
const LOCK_WAIT: Duration = Duration::from_millis(200);

/// How long opening a log waits between two asks for its lock.
const LOCK_RETRY: Duration = Duration::from_millis(5);

/// The one writer's locks, held for the life of the log: an flock on the log directory itself,
/// which no removal or replacement of a file in it lets go of (an operator clearing a "stale"
/// LOCK, a restore copying one over it), and one on `<dir>/LOCK`, which a build that locks only
/// that file asks for too.
pub(super) struct WriterLock {
    _dir: LockFile,
    _file: LockFile,
}

/// Locks the log directory `dir` and `<dir>/LOCK` for the life of the log, and notes this
/// process in LOCK.
pub(super) fn take_lock(dir: &Path) -> Result<WriterLock, WalError> {
    let lock_path = dir.join("LOCK");
    let mut directory = OpenOptions::new();
    directory.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut directory, libc::O_DIRECTORY);
    let dir_lock = LockFile::new(
        directory
            .open(dir)
            .map_err(io_err(dir, "open directory to lock"))?,
    );
    lock_or_refuse(&dir_lock, dir, dir)?;
    // A LOCK that is no regular file (a FIFO, whose open would wait for a reader forever)
    // refuses the open, as it would a build that locks only that file.
    let file_lock = LockFile::new(open_regular(
        &lock_path,
        OpenOptions::new().create(true).truncate(false).write(true),
        "open lock file",
    )?);
    lock_or_refuse(&file_lock, dir, &lock_path)?;
    // Names this process as the holder, for the refusal of another writer. Only a note: the
    // locks are the flocks, so a note that cannot be written (a full disk) refuses nothing.
    let _ = file_lock.file().set_len(0).and_then(|()| {
        file_lock
            .file()
            .write_all(format!("pid {}\n", std::process::id()).as_bytes())
    });
    Ok(WriterLock {
        _dir: dir_lock,
        _file: file_lock,
    })
}

/// Takes the exclusive flock on `lock`, the open file at `path` of the log in `dir`, or refuses
/// the open as [`WalError::Locked`] naming the holder the LOCK file notes.
fn lock_or_refuse(lock: &LockFile, dir: &Path, path: &Path) -> Result<(), WalError> {
    match lock_within(lock.file(), LOCK_WAIT) {
        Ok(true) => Ok(()),
        Ok(false) => Err(WalError::Locked {
            dir: dir.to_path_buf(),
            holder: lock_holder(&dir.join("LOCK")),
        }),
        Err(e) => Err(WalError::Io {
            path: path.to_path_buf(),
            op: "lock",
            source: e,
        }),
    }
}

/// Takes the exclusive flock on `file`, asking again for up to `wait`; false when another
/// holds it still. A child this process is starting holds a copy of every descriptor, and so
/// the lock, from its fork until its exec closes them: a log dropped and opened again in that
/// instant finds itself locked, so another writer is taken to hold it only after a moment.
fn lock_within(file: &File, wait: Duration) -> std::io::Result<bool> {
    let until = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) if Instant::now() < until => thread::sleep(LOCK_RETRY),
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(e)) => return Err(e),
        }
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
