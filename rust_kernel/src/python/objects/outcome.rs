//! `KernelOutcome` and its `KernelTransition`s: what an input did.

use super::{PyVenueEvent, PyVenueOrder};
use crate::model::{KernelOutcome, KernelTransition, VenueOrder};
use crate::python::convert::details::{details_to_py, transition_details_to_py};
use crate::types::{details_json, KernelDiagnosticCode, KernelSeverity, TradeStage};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

#[pyclass(name = "KernelTransition", module = "dita._kernel", frozen)]
pub struct PyTransition {
    pub inner: KernelTransition,
}

#[pymethods]
impl PyTransition {
    #[getter]
    fn timestamp(&self) -> f64 {
        self.inner.timestamp
    }
    #[getter]
    fn trade_id(&self) -> &str {
        &self.inner.trade_id
    }
    #[getter]
    fn slot_id(&self) -> usize {
        self.inner.slot_id
    }
    #[getter]
    fn prev_state(&self) -> TradeStage {
        self.inner.prev_state
    }
    #[getter]
    fn next_state(&self) -> TradeStage {
        self.inner.next_state
    }
    #[getter]
    fn trigger(&self) -> &'static str {
        self.inner.trigger
    }
    #[getter]
    fn intent_id(&self) -> &str {
        &self.inner.intent_id
    }
    #[getter]
    fn event_id(&self) -> &str {
        &self.inner.event_id
    }
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        transition_details_to_py(py, &self.inner.details)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = &self.inner;
        let d = PyDict::new(py);
        d.set_item("timestamp", t.timestamp)?;
        d.set_item("trade_id", &*t.trade_id)?;
        d.set_item("slot_id", t.slot_id)?;
        d.set_item("prev_state", t.prev_state.name())?;
        d.set_item("next_state", t.next_state.name())?;
        d.set_item("trigger", t.trigger)?;
        d.set_item("intent_id", &*t.intent_id)?;
        d.set_item("event_id", &*t.event_id)?;
        d.set_item("details", transition_details_to_py(py, &t.details)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let t = &self.inner;
        format!(
            "KernelTransition(slot {}: {} -> {} on {})",
            t.slot_id, t.prev_state, t.next_state, t.trigger
        )
    }
}

#[pyclass(name = "KernelOutcome", module = "dita._kernel", frozen)]
pub struct PyOutcome {
    pub inner: KernelOutcome,
    pub order: Option<VenueOrder>,
}

#[pymethods]
impl PyOutcome {
    #[getter]
    fn accepted(&self) -> bool {
        self.inner.accepted
    }
    /// Accepted, or a venue's rate limit (refused, yet it ended an order or throttled a cancel).
    #[getter]
    fn applied(&self) -> bool {
        self.inner.applied()
    }
    #[getter]
    fn slot_id(&self) -> i64 {
        self.inner.slot_id
    }
    #[getter]
    fn trade_id(&self) -> &str {
        &self.inner.trade_id
    }
    #[getter]
    fn state(&self) -> TradeStage {
        self.inner.state
    }
    #[getter]
    fn diagnostic_code(&self) -> KernelDiagnosticCode {
        self.inner.diagnostic_code
    }
    #[getter]
    fn severity(&self) -> KernelSeverity {
        self.inner.severity
    }
    #[getter]
    fn transitions(&self, py: Python<'_>) -> PyResult<Vec<Py<PyTransition>>> {
        self.inner
            .transitions
            .iter()
            .map(|t| Py::new(py, PyTransition { inner: t.clone() }))
            .collect()
    }
    #[getter]
    fn emitted_events(&self, py: Python<'_>) -> PyResult<Vec<Py<PyVenueEvent>>> {
        self.inner
            .emitted_events
            .iter()
            .map(|e| Py::new(py, PyVenueEvent::stated(e.clone())))
            .collect()
    }
    #[getter]
    fn order(&self, py: Python<'_>) -> PyResult<Option<Py<PyVenueOrder>>> {
        self.order
            .as_ref()
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .transpose()
    }
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        details_to_py(py, &self.inner.details)
    }
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let o = &self.inner;
        let d = PyDict::new(py);
        d.set_item("accepted", o.accepted)?;
        d.set_item("slot_id", o.slot_id)?;
        d.set_item("trade_id", &*o.trade_id)?;
        d.set_item("state", o.state.name())?;
        d.set_item("diagnostic_code", o.diagnostic_code.name())?;
        d.set_item("severity", o.severity.name())?;
        let ts = PyList::empty(py);
        for t in &o.transitions {
            ts.append(PyTransition { inner: t.clone() }.to_dict(py)?)?;
        }
        d.set_item("transitions", ts)?;
        let es = PyList::empty(py);
        for e in &o.emitted_events {
            es.append(PyVenueEvent::stated(e.clone()).to_dict(py)?)?;
        }
        d.set_item("emitted_events", es)?;
        d.set_item("details", details_to_py(py, &o.details)?)?;
        d.set_item("seq", o.seq)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let o = &self.inner;
        format!(
            "KernelOutcome(accepted={}, slot_id={}, state={}, diagnostic_code={}, details={})",
            if o.accepted { "True" } else { "False" },
            o.slot_id,
            o.state,
            o.diagnostic_code,
            details_json(&o.details)
        )
    }
}
