//! Python bindings (`dita._kernel`). Conversion happens once at the boundary; the kernel
//! itself is the pure-Rust core. A native mock venue is called without entering Python.
//! This file only declares the modules and registers what Python sees.

// Unsafe: a bytes object filled through the C API, FFI (the module says why and what holds).
#[allow(unsafe_code)]
mod bytes_without_gil;
mod convert;
mod errors;
mod journal;
mod kernel;
mod mock;
mod objects;
mod wal;

use crate::types::{
    AccountEventKind, ControlMode, KernelCommandType, KernelDiagnosticCode, KernelEventKind,
    KernelSeverity, OrderSide, OrderType, TradeSide, TradeStage, VenueOrderStatus, Verbosity,
};
use journal::{journal_columns, journal_wire_types, PyJournalBlock};
use kernel::{PyKernel, MAX_VENUE_ANSWER_ITEMS};
use mock::PyMockVenue;
use objects::{
    terminal_order_statuses, PyAccountEvent, PyIntent, PyOutcome, PySeenEventIds, PySlot,
    PyTransition, PyVenueEvent, PyVenueOrder,
};
use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_kernel")]
fn dita_kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("JOURNAL_COLUMNS", journal_columns(m.py())?)?;
    m.add("JOURNAL_WIRE_TYPES", journal_wire_types(m.py())?)?;
    m.add("MAX_VENUE_ANSWER_ITEMS", MAX_VENUE_ANSWER_ITEMS)?;
    m.add("TERMINAL_ORDER_STATUSES", terminal_order_statuses(m.py())?)?;
    m.add_class::<TradeStage>()?;
    m.add_class::<KernelCommandType>()?;
    m.add_class::<TradeSide>()?;
    m.add_class::<OrderSide>()?;
    m.add_class::<OrderType>()?;
    m.add_class::<KernelEventKind>()?;
    m.add_class::<VenueOrderStatus>()?;
    // The original kernel's name of the status an event carries: dita's order status, whose
    // ACKNOWLEDGED it called ACKED.
    m.add("VenueEventStatus", m.py().get_type::<VenueOrderStatus>())?;
    m.add_class::<KernelDiagnosticCode>()?;
    m.add_class::<KernelSeverity>()?;
    m.add_class::<ControlMode>()?;
    m.add_class::<Verbosity>()?;
    m.add_class::<AccountEventKind>()?;
    m.add_class::<PyIntent>()?;
    m.add_class::<PyVenueEvent>()?;
    m.add_class::<PyAccountEvent>()?;
    m.add_class::<PyVenueOrder>()?;
    m.add_class::<PyTransition>()?;
    m.add_class::<PyOutcome>()?;
    m.add_class::<PySlot>()?;
    m.add_class::<PySeenEventIds>()?;
    m.add_class::<PyMockVenue>()?;
    m.add_class::<PyKernel>()?;
    m.add_class::<PyJournalBlock>()?;
    m.add("WalError", m.py().get_type::<errors::WalError>())?;
    m.add(
        "VenueAnswerNotLogged",
        errors::venue_answer_not_logged(m.py())?,
    )?;
    m.add_function(wrap_pyfunction!(wal::wal_kernel_id, m)?)?;
    m.add_function(wrap_pyfunction!(wal::wal_verify, m)?)?;
    m.add_function(wrap_pyfunction!(wal::wal_replay, m)?)?;
    Ok(())
}
