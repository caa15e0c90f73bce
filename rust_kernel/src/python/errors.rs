//! The one bridge from core errors to Python exceptions.

use crate::error::KernelError;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

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
