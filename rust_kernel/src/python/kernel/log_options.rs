//! The write-ahead log's options to `ExecutionKernel(...)` (`wal_dir`, `fsync`,
//! `wal_checkpoint_every`, `wal_segment_bytes`), and opening the log with them.

use super::log::WalState;
use crate::kernel::Kernel;
use crate::python::convert::ints::int_at_least;
use crate::python::convert::paths::path_arg;
use crate::python::convert::type_name;
use crate::python::errors::wal_err;
use crate::wal::kernel_log::{KernelLog, KernelLogOptions, RecoveredKernelLog};
use crate::wal::{self, FsyncPolicy};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::path::{Path, PathBuf};

/// The WAL keyword arguments of `ExecutionKernel(...)`, parsed before anything is opened.
#[derive(Default)]
pub(super) struct WalOptions {
    dir: Option<PathBuf>,
    fsync: Option<FsyncPolicy>,
    checkpoint_every: Option<u64>,
    segment_bytes: Option<u64>,
}

impl WalOptions {
    /// Takes the keyword if it is one of the WAL's; returns false for any other keyword.
    pub(super) fn take_keyword(&mut self, key: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        match key {
            "wal_dir" => {
                if !v.is_none() {
                    let path = path_arg(v, "wal_dir")?;
                    if path.as_os_str().is_empty() {
                        return Err(PyValueError::new_err(
                            "invalid wal_dir: '' (must name a directory; None for no log)",
                        ));
                    }
                    if path.exists() && !path.is_dir() {
                        return Err(PyValueError::new_err(format!(
                            "invalid wal_dir: {} (exists and is not a directory)",
                            path.display()
                        )));
                    }
                    self.dir = Some(path);
                }
            }
            "fsync" => {
                let name: String = v.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "invalid fsync: expected str, got {}",
                        type_name(v)
                    ))
                })?;
                self.fsync = Some(FsyncPolicy::parse(&name).map_err(wal_err)?);
            }
            "wal_checkpoint_every" => {
                self.checkpoint_every = Some(int_at_least(v, "wal_checkpoint_every", 0)?)
            }
            "wal_segment_bytes" => {
                self.segment_bytes = Some(int_at_least(v, "wal_segment_bytes", 1024)?)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub(super) fn dir(&self) -> Option<&PathBuf> {
        self.dir.as_ref()
    }

    /// Refuses WAL settings given without a `wal_dir` (they would silently do nothing).
    pub(super) fn refuse_without_dir(&self) -> PyResult<()> {
        if self.dir.is_none() {
            let given = [
                ("fsync", self.fsync.is_some()),
                ("wal_checkpoint_every", self.checkpoint_every.is_some()),
                ("wal_segment_bytes", self.segment_bytes.is_some()),
            ];
            if let Some((name, _)) = given.iter().find(|(_, set)| *set) {
                return Err(PyValueError::new_err(format!(
                    "invalid {name}: it needs wal_dir (no write-ahead log)"
                )));
            }
        }
        Ok(())
    }

    /// The kernel id of an existing log in `wal_dir` (a kernel reopened without an id takes it).
    pub(super) fn existing_kernel_id(&self) -> PyResult<Option<String>> {
        match &self.dir {
            Some(dir) => wal::log_kernel_id(dir).map_err(wal_err),
            None => Ok(None),
        }
    }

    /// Opens the log and recovers the kernel; `new_kernel` is used for a new log.
    /// `check_recovered` sees the recovered kernel before anything on disk changes: when it
    /// refuses, the log is left as it was (a torn tail not cut, no segment started), and unlocked.
    pub(super) fn open(
        &self,
        py: Python<'_>,
        new_kernel: Kernel,
        check_recovered: impl FnOnce(&RecoveredKernelLog, &Kernel, &Path) -> PyResult<()>,
    ) -> PyResult<(Kernel, Option<WalState>)> {
        let Some(dir) = &self.dir else {
            return Ok((new_kernel, None));
        };
        let defaults = KernelLogOptions::default();
        let options = KernelLogOptions {
            fsync: self.fsync.unwrap_or(defaults.fsync),
            checkpoint_every: self.checkpoint_every.unwrap_or(defaults.checkpoint_every),
            segment_bytes: self.segment_bytes.unwrap_or(defaults.segment_bytes),
        };
        // Without the GIL: replaying a long log takes a while, and a lock held elsewhere is
        // asked for again for a moment before it is refused; other Python threads run meanwhile.
        let (recovered, mut kernel) = py
            .detach(|| KernelLog::recover(dir, new_kernel, &options))
            .map_err(wal_err)?;
        check_recovered(&recovered, &kernel, dir)?;
        let log = recovered.finish(&mut kernel).map_err(wal_err)?;
        // The directory the log writes to, absolute (a relative `wal_dir` is taken against the
        // working directory of the constructor's call, not a later one).
        let dir = log.wal().dir().to_path_buf();
        Ok((kernel, Some(WalState::new(log, dir, options.fsync))))
    }
}
