//! The log's files, made durable: a segment sealed and the next one started (rotation), a new
//! file written whole under a temporary name and renamed, directories synced into their
//! parents.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{set_failed, sync_segment, Io, Shared};
use crate::wal::format::{encode_segment_header, segment_name};
use crate::wal::scan::{io_err, open_regular};
use crate::wal::WalError;

/// Seals the current segment (sync) and starts the next one at `written_seq + 1`.
pub(super) fn rotate(shared: &Shared, io: &mut Io) -> Result<(), WalError> {
    sync_segment(shared, &io.file, &io.segment_path, io.written_seq)?;
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
            io.file = Arc::new(f);
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

/// Every directory `sync_dir` synced, in order: a power cut cannot be staged in a test, so
/// tests check the syncs that make a new log's entries durable here.
#[cfg(test)]
pub(in crate::wal) static SYNCED_DIRS: std::sync::Mutex<Vec<PathBuf>> =
    std::sync::Mutex::new(Vec::new());

pub(super) fn sync_dir(dir: &Path) -> Result<(), WalError> {
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
pub(super) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, WalError> {
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
pub(super) fn create_dir_durably(dir: &Path) -> Result<(), WalError> {
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

/// Refuses a segment that is no longer the log's: `file`, opened at `path`, has no name left
/// (its directory was removed) or `path` now names another file (an archive step moved it
/// away). Records written to it are in no file a restart reads, so none may count as logged.
#[cfg(unix)]
pub(super) fn check_segment_in_place(file: &File, path: &Path) -> Result<(), WalError> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata().map_err(io_err(path, "stat open segment"))?;
    let named = match fs::metadata(path) {
        Ok(named) => Some(named),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
        Err(e) => return Err(io_err(path, "stat segment")(e)),
    };
    match named {
        Some(named)
            if open.nlink() > 0 && (named.dev(), named.ino()) == (open.dev(), open.ino()) =>
        {
            Ok(())
        }
        _ => Err(WalError::Io {
            path: path.to_path_buf(),
            op: "log to segment",
            source: std::io::Error::new(
                ErrorKind::NotFound,
                "it was removed or moved out of the log directory, so the records written to it \
                 since are in no file a restart reads; put the log back before restarting (a \
                 kernel opened on an empty directory starts over at seq 1)",
            ),
        }),
    }
}

#[cfg(not(unix))]
pub(super) fn check_segment_in_place(_file: &File, _path: &Path) -> Result<(), WalError> {
    Ok(())
}

pub(super) fn open_append(path: &Path) -> Result<File, WalError> {
    open_regular(
        path,
        OpenOptions::new().append(true),
        "open segment for append",
    )
}
