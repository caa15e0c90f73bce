//! Checkpoints, written in the caller's thread or a background one, and the pruning of old
//! ones. A checkpoint that fails leaves the log whole: its failure is kept, never returned to
//! a later append.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::files::{sync_dir, write_atomically};
use super::{commit, lock_io, lock_state, now_seconds, spawn_named, Shared, Wal};
use crate::wal::format::{checkpoint_name, encode_checkpoint, parse_numbered};
use crate::wal::scan::io_err;
use crate::wal::WalError;

/// Records how a checkpoint ended. A failed checkpoint leaves the log whole (recovery
/// replays from the previous one), so it is reported, never returned to an append.
fn record_checkpoint_outcome<T>(shared: &Shared, seq: u64, result: &Result<T, WalError>) {
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

impl Wal {
    /// Writes a checkpoint: `state` must be the caller's state after record `seq`, which
    /// must be the last record appended. The log is synced first, so a checkpoint never
    /// vouches for records that could still be lost. Older checkpoints beyond
    /// `keep_checkpoints` are removed. Returns the checkpoint file's path. A background
    /// checkpoint still under way is waited for first; its failure is not returned here but
    /// kept in [`Wal::checkpoint_error`].
    pub fn checkpoint(&mut self, seq: u64, state: &[u8]) -> Result<PathBuf, WalError> {
        self.refuse_if_forked()?;
        let _ = self.finish_checkpoint();
        {
            let st = lock_state(&self.shared);
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
        let at = lock_io(&self.shared).position();
        let bytes = encode_checkpoint(
            &self.options.kernel_id,
            seq,
            &at.head_hash,
            at.segment_first_seq,
            at.offset,
            now_seconds(),
            self.options.behaviour,
            state,
        );
        let written = write_atomically(&self.dir, &checkpoint_name(seq), &bytes).and_then(|path| {
            prune_checkpoints(&self.dir, self.options.keep_checkpoints).map(|()| path)
        });
        record_checkpoint_outcome(&self.shared, seq, &written);
        written
    }

    /// Like [`Wal::checkpoint`], but the write and sync of the records before it and the
    /// checkpoint file are made on a background thread so appends go on: a periodic checkpoint
    /// of a large state does not stall the caller. How it ends is kept in
    /// [`Wal::checkpoint_failures`] and [`Wal::checkpoint_error`], not returned to a later
    /// call: the log is whole without it. [`Wal::finish_checkpoint`] waits for it. Errors
    /// returned here are the log's own (it failed earlier, or belongs to the parent of a fork)
    /// or the caller's (`seq` not the last record).
    pub fn checkpoint_in_background(&mut self, seq: u64, state: Vec<u8>) -> Result<(), WalError> {
        self.checkpoint_encoded_in_background(seq, move || state)
    }

    /// Like [`Wal::checkpoint_in_background`], the state made by `encode` on the background
    /// thread too: a caller hands over a copy of its state, quicker to make than to encode.
    pub fn checkpoint_encoded_in_background(
        &mut self,
        seq: u64,
        encode: impl FnOnce() -> Vec<u8> + Send + 'static,
    ) -> Result<(), WalError> {
        self.refuse_if_forked()?;
        let _ = self.finish_checkpoint();
        {
            let mut st = lock_state(&self.shared);
            st.check_usable()?;
            if seq != st.last_seq {
                return Err(WalError::CheckpointSeq {
                    seq,
                    last_seq: st.last_seq,
                });
            }
            // The write that passes record `seq` notes where the next record starts, the
            // checkpoint's position: the buffered records are hashed and written off the
            // caller's thread.
            st.checkpoint_mark = Some(seq);
            st.checkpoint_position = None;
        }
        let shared = Arc::clone(&self.shared);
        let (dir, kernel_id, keep, behaviour) = (
            self.dir.clone(),
            self.options.kernel_id.clone(),
            self.options.keep_checkpoints,
            self.options.behaviour,
        );
        let spawned = spawn_named("dita-wal-checkpoint", move || {
            let state = encode();
            let written = commit(&shared).and_then(|_| {
                let at = lock_state(&shared)
                    .checkpoint_position
                    .take()
                    .expect("the commit wrote record `seq`, so the write that did noted it");
                let bytes = encode_checkpoint(
                    &kernel_id,
                    seq,
                    &at.head_hash,
                    at.segment_first_seq,
                    at.offset,
                    now_seconds(),
                    behaviour,
                    &state,
                );
                let path = write_atomically(&dir, &checkpoint_name(seq), &bytes)?;
                prune_checkpoints(&dir, keep)?;
                Ok(path)
            });
            record_checkpoint_outcome(&shared, seq, &written);
            written
        });
        match spawned {
            Ok(handle) => self.pending_checkpoint = Some((seq, handle)),
            // A checkpoint that cannot start (the process at its thread limit) fails as one
            // that cannot be written does: the log is whole, and the record it holds is no
            // failed input.
            Err(e) => {
                let mut st = lock_state(&self.shared);
                (st.checkpoint_mark, st.checkpoint_position) = (None, None);
                drop(st);
                let failed = Err::<(), _>(WalError::Io {
                    path: self.dir.clone(),
                    op: "spawn checkpoint thread",
                    source: e,
                });
                record_checkpoint_outcome(&self.shared, seq, &failed);
            }
        }
        Ok(())
    }

    /// Waits for a background checkpoint to be on disk; returns its path or its error
    /// (also kept in [`Wal::checkpoint_error`]).
    pub fn finish_checkpoint(&mut self) -> Result<Option<PathBuf>, WalError> {
        // The thread writing it is the parent's: a fork copies only the thread that forked.
        self.refuse_if_forked()?;
        match self.pending_checkpoint.take() {
            Some((seq, handle)) => match handle.join() {
                Ok(result) => result.map(Some),
                Err(_) => {
                    let panicked = || WalError::Poisoned("the checkpoint thread panicked".into());
                    record_checkpoint_outcome::<()>(&self.shared, seq, &Err(panicked()));
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

    /// Why the newest checkpoint failed, naming its seq; None when it was written (or none
    /// failed). In a process forked from the writer while the parent's checkpoint thread was
    /// recording how one ended, that is not known, and is said so.
    pub fn checkpoint_error(&self) -> Option<String> {
        match self.lock_to_read(&self.shared.checkpoint_error) {
            Some(error) => error.clone(),
            None => Some(
                "not known: the parent's checkpoint thread was recording it at the fork".into(),
            ),
        }
    }
}
