//! Opening a log: recovery under its lock, then the repairs recovery found, and the writer
//! started.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::files::{create_dir_durably, open_append, sync_dir, write_atomically};
use super::fork_handler::fork_count;
use super::single_writer::{take_lock, WriterLock};
use super::{spawn_flusher, Io, Shared, State, Wal};
use crate::wal::format::{
    encode_segment_header, parse_clean_stop, segment_name, CLEAN_STOP_NAME, FORMAT_VERSION,
    SYNCED_ALWAYS_NAME,
};
use crate::wal::recovery::{note_full_last_segment, recover, LastSegment, Repairs, ReplaySpan};
use crate::wal::scan::{io_err, open_regular, read_regular};
use crate::wal::{FsyncPolicy, RecoveryReport, Replay, ReplayError, WalError, WalOptions};

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
        fork_count();
        // Absolute from here on: the log writes new segments and checkpoints into its directory
        // for as long as it is open, and a relative name follows the process's working
        // directory: after a chdir they would go to another directory, and a restart on the
        // log would lose every record written since, acknowledged ones under "always" included.
        let given = dir.as_ref();
        let dir = std::path::absolute(given).map_err(io_err(given, "resolve directory"))?;
        create_dir_durably(&dir)?;
        let lock_file = take_lock(&dir)?;

        let (mut report, last_segment, repairs) =
            recover(&dir, &options.kernel_id, &mut replay, ReplaySpan::default())?;
        report.clean_stop =
            report.torn_tail.is_none() && clean_stop_seq(&dir) == Some(report.last_seq);
        report.synced_always = fs::symlink_metadata(dir.join(SYNCED_ALWAYS_NAME))
            .is_ok_and(|m| m.file_type().is_file());
        note_full_last_segment(&mut report, last_segment.as_ref(), options.segment_bytes);
        Ok(RecoveredWal {
            dir,
            options,
            lock_file,
            report,
            last_segment,
            repairs,
        })
    }
}

/// A log recovered under its lock, nothing on it changed yet (see [`Wal::recover_locked`]).
pub struct RecoveredWal {
    dir: PathBuf,
    options: WalOptions,
    lock_file: WriterLock,
    report: RecoveryReport,
    last_segment: Option<LastSegment>,
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
            last_segment,
            repairs,
        } = self;
        repair(&dir, &repairs, &mut report, last_segment.as_ref())?;
        let segment = segment_to_append_to(&dir, &options, &report, last_segment)?;
        let shared = Arc::new(writer_state(&dir, &options, &report, segment)?);
        let flusher = start_flusher(&shared, &options)?;
        Ok((
            Wal {
                shared,
                flusher,
                dir,
                options,
                pending_checkpoint: None,
                fork_count_at_open: fork_count(),
                stopped: false,
                _lock: lock_file,
            },
            report,
        ))
    }
}

/// The seq the log's clean-stop file names; None without one, or one that cannot be read (the
/// log is then taken as not closed cleanly, the safe side).
fn clean_stop_seq(dir: &Path) -> Option<u64> {
    let text = read_regular(&dir.join(CLEAN_STOP_NAME), "read clean-stop file").ok()?;
    parse_clean_stop(&text)
}

/// Removes the clean-stop and synced-always files (and ones left half-written), durably,
/// before anything is written: from here on the log may grow, perhaps by a writer that syncs
/// in batches, and a crash must not find them vouching for records that were lost.
fn remove_stop_files(dir: &Path) -> Result<(), WalError> {
    let mut removed = false;
    for name in [
        CLEAN_STOP_NAME.to_string(),
        format!("{CLEAN_STOP_NAME}.tmp"),
        SYNCED_ALWAYS_NAME.to_string(),
        format!("{SYNCED_ALWAYS_NAME}.tmp"),
    ] {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, "remove clean-stop file")(e)),
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes the repairs recovery found: removes leftover temporary files (listing them in the
/// report), the clean-stop and synced-always files, and cuts a torn tail, then syncs the last segment.
fn repair(
    dir: &Path,
    repairs: &Repairs,
    report: &mut RecoveryReport,
    last_segment: Option<&LastSegment>,
) -> Result<(), WalError> {
    remove_stop_files(dir)?;
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
    // segment's records, synced on their own, go after it (or a power cut could cut records
    // out of the middle of the log). Earlier segments were synced when they were sealed.
    if let Some(t) = last_segment {
        open_regular(&t.path, OpenOptions::new().read(true), "open segment")?
            .sync_data()
            .map_err(io_err(&t.path, "fdatasync"))?;
    }
    Ok(())
}

/// The segment appends go to (its path, first seq and length): the last one, when it has this
/// writer's behaviour and format versions, or a new one.
fn segment_to_append_to(
    dir: &Path,
    options: &WalOptions,
    report: &RecoveryReport,
    last_segment: Option<LastSegment>,
) -> Result<(PathBuf, u64, u64), WalError> {
    // Records of this behaviour version go to a segment of their own, in this format; an
    // empty last segment is replaced: it has the same name.
    let continued =
        last_segment.filter(|t| t.behaviour == options.behaviour && t.version == FORMAT_VERSION);
    Ok(match continued {
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
            let path = write_atomically(dir, &segment_name(first_seq), &header)?;
            (path, first_seq, header.len() as u64)
        }
    })
}

/// The state the appender and the writer share, starting where recovery ended, appending to
/// `segment` (its path, first seq and length).
fn writer_state(
    dir: &Path,
    options: &WalOptions,
    report: &RecoveryReport,
    (segment_path, segment_first_seq, segment_len): (PathBuf, u64, u64),
) -> Result<Shared, WalError> {
    let file = open_append(&segment_path)?;
    let state = State {
        pending_frames: Vec::with_capacity(options.write_buffer_bytes + 4096),
        last_seq: report.last_seq,
        written_seq: report.last_seq,
        durable_seq: report.last_seq,
        unsynced: 0,
        flush_requested: false,
        failed: None,
        shutdown: false,
        checkpoint_mark: None,
        checkpoint_position: None,
    };
    let io = Io {
        file: Arc::new(file),
        segment_first_seq,
        segment_path,
        segment_len,
        head_hash: report.head_hash,
        written_seq: report.last_seq,
        spare: Vec::with_capacity(options.write_buffer_bytes + 4096),
    };
    Ok(Shared {
        state: Mutex::new(state),
        io: Mutex::new(io),
        sync: Mutex::new(()),
        wake: Condvar::new(),
        segment_bytes: options.segment_bytes,
        kernel_id: options.kernel_id.clone(),
        dir: dir.to_path_buf(),
        behaviour: options.behaviour,
        checkpoint_failures: AtomicU64::new(0),
        checkpoint_error: Mutex::new(None),
        failed: AtomicBool::new(false),
        last_seq: AtomicU64::new(report.last_seq),
        written_seq: AtomicU64::new(report.last_seq),
        durable_seq: AtomicU64::new(report.last_seq),
        #[cfg(test)]
        flusher_held: AtomicBool::new(false),
    })
}

/// The background thread of the `batch` and `none` policies; none under `always`.
fn start_flusher(
    shared: &Arc<Shared>,
    options: &WalOptions,
) -> Result<Option<JoinHandle<()>>, WalError> {
    Ok(match options.fsync {
        FsyncPolicy::Always => None,
        FsyncPolicy::Batch {
            max_records,
            max_delay,
        } => Some(spawn_flusher(shared, max_delay, true, max_records)?),
        FsyncPolicy::None => Some(spawn_flusher(
            shared,
            options.flush_interval,
            false,
            u32::MAX,
        )?),
    })
}
