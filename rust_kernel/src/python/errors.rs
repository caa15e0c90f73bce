//! The one bridge from core errors to Python exceptions: the kernel's and the write-ahead
//! log's.

use crate::error::KernelError;
use crate::wal;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::PyErr;

create_exception!(
    dita._kernel,
    WalError,
    PyException,
    "The write-ahead log is damaged, belongs to another kernel or version, or failed to write."
);

/// The doc of `VenueAnswerNotLogged`.
const ANSWER_NOT_LOGGED_DOC: &str =
    "The write-ahead log failed to record a venue's answer: the order reached the venue and is \
     live there unless its answer ended it. Its attributes name it: client_order_id, \
     venue_order_id, slot_id, trade_id, answer (the venue's events as received, to_dict() each), \
     logged (how many of them the log recorded) and live (the answer's last status not final). The kernel takes no more input; a kernel opened on its \
     log reconciles the order (reconcile_with_venue).";

/// `VenueAnswerNotLogged`, made once: a `WalError` (the log failed, as a caller catching the
/// log's failure expects) and an `OSError` (the write's error, as one catching I/O expects).
pub(crate) fn venue_answer_not_logged(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    TYPE.get_or_try_init(py, || {
        let bases = PyTuple::new(py, [py.get_type::<WalError>(), py.get_type::<PyOSError>()])?;
        let namespace = PyDict::new(py);
        namespace.set_item("__doc__", ANSWER_NOT_LOGGED_DOC)?;
        namespace.set_item("__module__", "dita._kernel")?;
        let made = py
            .get_type::<PyType>()
            .call1(("VenueAnswerNotLogged", bases, namespace))?;
        Ok(made.cast_into::<PyType>()?.unbind())
    })
    .map(|t| t.bind(py))
}

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
pub(crate) fn wal_err(e: wal::WalError) -> PyErr {
    match e {
        wal::WalError::InvalidOption { .. } | wal::WalError::InvalidAppend(_) => {
            PyValueError::new_err(e.to_string())
        }
        wal::WalError::Io { .. } => PyOSError::new_err(e.to_string()),
        other => WalError::new_err(other.to_string()),
    }
}
