//! `TradeSlot`: one position's slot, and its dict form.

use super::order::opt_order;
use super::PyVenueOrder;
use crate::model::TradeSlot;
use crate::python::convert::metadata::metadata_to_py;
use crate::types::{TradeSide, TradeStage};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// A slot's unrealized PnL as Python reads it: a SHORT marked at its entry price holds -0.0
/// (-1 times a zero move), which printed as "-0.0" and sorted before 0.0 in the projection's
/// SQL (Java orders -0.0 first). Shown as 0.0; the kernel's state keeps its bits, which its
/// log's replay compares.
fn shown_pnl(pnl: f64) -> f64 {
    pnl + 0.0
}

pub fn slot_dict<'py>(py: Python<'py>, s: &TradeSlot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("slot_id", s.slot_id)?;
    d.set_item("trade_id", &*s.trade_id)?;
    d.set_item("asset", &*s.asset)?;
    d.set_item("side", s.side.name())?;
    d.set_item("entry_price", s.entry_price)?;
    d.set_item("size", s.size)?;
    d.set_item("initial_size", s.initial_size)?;
    d.set_item("leverage", s.leverage)?;
    d.set_item("entry_time", s.entry_time)?;
    d.set_item("unrealized_pnl", shown_pnl(s.unrealized_pnl))?;
    d.set_item("realized_pnl", s.realized_pnl)?;
    d.set_item("fees_paid", s.fees_paid)?;
    d.set_item("closed", s.closed)?;
    d.set_item("exit_leg_ratios", PyList::new(py, &s.exit_leg_ratios)?)?;
    d.set_item("active_leg_index", s.active_leg_index)?;
    // What exit fills took of the active leg (rules 21); read on load from rules 22 (before,
    // a loaded slot's leg started afresh).
    d.set_item("leg_taken", s.leg_taken)?;
    d.set_item("active_entry_order", opt_order(py, &s.active_entry_order)?)?;
    d.set_item("active_exit_order", opt_order(py, &s.active_exit_order)?)?;
    d.set_item("fsm_state", s.fsm_state.name())?;
    d.set_item("close_reason", &s.close_reason)?;
    d.set_item("last_event_time", s.last_event_time)?;
    d.set_item("mark_price", s.mark_price)?;
    // What the slot counts towards the notional caps; the kernel computes it (not read on load).
    d.set_item("committed_notional", s.committed_notional)?;
    d.set_item("metadata", metadata_to_py(py, &s.metadata)?)?;
    Ok(d)
}

#[pyclass(name = "TradeSlot", module = "dita._kernel", frozen)]
pub struct PySlot {
    pub inner: TradeSlot,
}

#[pymethods]
impl PySlot {
    #[getter]
    fn slot_id(&self) -> usize {
        self.inner.slot_id
    }
    #[getter]
    fn trade_id(&self) -> &str {
        &self.inner.trade_id
    }
    #[getter]
    fn asset(&self) -> &str {
        &self.inner.asset
    }
    #[getter]
    fn side(&self) -> TradeSide {
        self.inner.side
    }
    #[getter]
    fn entry_price(&self) -> f64 {
        self.inner.entry_price
    }
    #[getter]
    fn size(&self) -> f64 {
        self.inner.size
    }
    #[getter]
    fn initial_size(&self) -> f64 {
        self.inner.initial_size
    }
    #[getter]
    fn leverage(&self) -> f64 {
        self.inner.leverage
    }
    #[getter]
    fn entry_time(&self) -> f64 {
        self.inner.entry_time
    }
    #[getter]
    fn unrealized_pnl(&self) -> f64 {
        shown_pnl(self.inner.unrealized_pnl)
    }
    #[getter]
    fn realized_pnl(&self) -> f64 {
        self.inner.realized_pnl
    }
    #[getter]
    fn fees_paid(&self) -> f64 {
        self.inner.fees_paid
    }
    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed
    }
    #[getter]
    fn exit_leg_ratios<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.exit_leg_ratios)
    }
    #[getter]
    fn active_leg_index(&self) -> usize {
        self.inner.active_leg_index
    }
    #[getter]
    fn active_entry_order(&self, py: Python<'_>) -> PyResult<Option<Py<PyVenueOrder>>> {
        self.inner
            .active_entry_order
            .as_ref()
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .transpose()
    }
    #[getter]
    fn active_exit_order(&self, py: Python<'_>) -> PyResult<Option<Py<PyVenueOrder>>> {
        self.inner
            .active_exit_order
            .as_ref()
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .transpose()
    }
    #[getter]
    fn fsm_state(&self) -> TradeStage {
        self.inner.fsm_state
    }
    #[getter]
    fn close_reason(&self) -> &str {
        &self.inner.close_reason
    }
    #[getter]
    fn last_event_time(&self) -> f64 {
        self.inner.last_event_time
    }
    #[getter]
    fn mark_price(&self) -> f64 {
        self.inner.mark_price
    }
    #[getter]
    fn committed_notional(&self) -> f64 {
        self.inner.committed_notional
    }
    #[getter]
    fn leg_taken(&self) -> f64 {
        self.inner.leg_taken
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metadata_to_py(py, &self.inner.metadata)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        slot_dict(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "TradeSlot(slot_id={}, fsm_state={}, asset={:?}, side={}, size={}, entry_price={})",
            s.slot_id, s.fsm_state, &*s.asset, s.side, s.size, s.entry_price
        )
    }
}
