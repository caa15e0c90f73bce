//! The one bridge from core errors to Python exceptions: the kernel's and the write-ahead
//! log's.

use crate::error::KernelError;
use crate::wal;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

create_exception!(
    dita._kernel,
    WalError,
    PyException,
    "The write-ahead log is damaged, belongs to another kernel or version, or failed to write."
);

impl From<KernelError> for PyErr {
    fn from(e: KernelError) -> PyErr {
        match e {
            KernelError::InvalidValue { .. } | KernelError::UnknownField { .. } => {
                PyValueError::new_err(e.to_string())
            }
            KernelError::SlotOutOfRange { .. } => PyIndexError::new_err(e.to_string()),
            KernelError::State(_) => PyRuntimeError::new_err(e.to_string()),
        }
    }
}

/// A write-ahead log error as Python sees it: a bad option or append is a ValueError, an I/O
/// failure an OSError, and a damaged or foreign log a `WalError`.
pub(super) fn wal_err(e: wal::WalError) -> PyErr {
    match e {
        wal::WalError::InvalidOption { .. } | wal::WalError::InvalidAppend(_) => {
            PyValueError::new_err(e.to_string())
        }
        wal::WalError::Io { .. } => PyOSError::new_err(e.to_string()),
        other => WalError::new_err(other.to_string()),
    }
}
