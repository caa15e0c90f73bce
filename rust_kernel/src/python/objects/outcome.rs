//! `KernelOutcome` and its `KernelTransition`s: what an input did.

use super::equality::data_eq;
use super::venue_event::EventExtras;
use super::{PyVenueEvent, PyVenueOrder};
use crate::fsm::Trigger;
use crate::model::{KernelOutcome, KernelTransition, VenueEvent};
use crate::python::convert::details::{details_to_py, transition_details_to_py};
use crate::python::convert::dicts::as_dict;
use crate::python::convert::enums::{enum_arg, opt_enum_arg, trade_side_of};
use crate::python::convert::ints::slot_index_arg;
use crate::python::convert::metadata::read_only;
use crate::python::convert::text::{ident, str_arg};
use crate::python::convert::time::{datetime_of, seconds_arg};
use crate::python::convert::wrong_type;
use crate::types::{
    details_json, ControlMode, Detail, Id, KernelDiagnosticCode, KernelEventKind, KernelSeverity,
    TradeSide, TradeStage, TransitionDetails, Verbosity,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// The kernel's control when an input was taken: its mode and journal verbosity, which each
/// transition the input made names (the original kernel's `control_mode`, `control_verbosity`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControlAtInput {
    pub mode: ControlMode,
    pub verbosity: Verbosity,
}

#[pyclass(name = "KernelTransition", module = "dita._kernel", frozen)]
pub struct PyTransition {
    pub inner: KernelTransition,
    pub control: ControlAtInput,
    /// The details of a transition made in Python, as given (a kernel's are in `inner`).
    pub given_details: Option<Py<PyDict>>,
}

impl PyTransition {
    /// Its details as a new dict: a kernel's, or those it was made with.
    fn details_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match &self.given_details {
            Some(d) => d.bind(py).copy(),
            None => transition_details_to_py(py, &self.inner.details),
        }
    }

    /// A transition a kernel made, under the control its input was taken in.
    pub fn made(inner: KernelTransition, control: ControlAtInput) -> Self {
        PyTransition {
            inner,
            control,
            given_details: None,
        }
    }
}

/// `obj` as the name of one of [`Trigger::ALL`], refused naming it and the value otherwise.
fn trigger_arg(obj: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    let text = str_arg(obj, "trigger")?;
    let names = Trigger::ALL.map(Trigger::name);
    names.into_iter().find(|n| *n == text).ok_or_else(|| {
        PyValueError::new_err(format!(
            "invalid trigger: {text:?} (one of {})",
            names.join(", ")
        ))
    })
}

#[pymethods]
impl PyTransition {
    /// A transition from its fields, as a strategy's test or a restore builds one.
    #[new]
    #[pyo3(signature = (timestamp, trade_id, slot_id, prev_state, next_state, trigger, *,
        intent_id=Id::default(), event_id=Id::default(), details=None, control_mode=None,
        control_verbosity=None),
        text_signature = "(timestamp, trade_id, slot_id, prev_state, next_state, trigger, *, intent_id=\"\", event_id=\"\", details=None, control_mode=\"LIVE\", control_verbosity=\"NORMAL\")")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        timestamp: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = ident::trade_id)] trade_id: Id,
        #[pyo3(from_py_with = slot_index_arg)] slot_id: usize,
        prev_state: &Bound<'_, PyAny>,
        next_state: &Bound<'_, PyAny>,
        trigger: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = ident::intent_id)] intent_id: Id,
        #[pyo3(from_py_with = ident::event_id)] event_id: Id,
        details: Option<&Bound<'_, PyAny>>,
        control_mode: Option<&Bound<'_, PyAny>>,
        control_verbosity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        // A copy: later changes to the caller's dict are not the transition's.
        let given_details = match details.filter(|d| !d.is_none()) {
            None => PyDict::new(timestamp.py()),
            Some(d) => as_dict(d)?
                .ok_or_else(|| wrong_type("invalid details: expected a dict", d))?
                .copy()?,
        };
        Ok(PyTransition {
            inner: KernelTransition {
                timestamp: seconds_arg(timestamp, "timestamp")?,
                trade_id,
                slot_id,
                prev_state: enum_arg(prev_state, "prev_state")?,
                next_state: enum_arg(next_state, "next_state")?,
                trigger: trigger_arg(trigger)?,
                intent_id,
                event_id,
                details: TransitionDetails::default(),
            },
            control: ControlAtInput {
                mode: opt_enum_arg(control_mode, "control_mode")?.unwrap_or(ControlMode::Live),
                verbosity: opt_enum_arg(control_verbosity, "control_verbosity")?
                    .unwrap_or(Verbosity::Normal),
            },
            given_details: Some(given_details.unbind()),
        })
    }

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
    /// Read-only: a change in place would be lost (each read builds them anew).
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only(self.details_dict(py)?)
    }
    /// The trading mode in force when the input that made it was taken.
    #[getter]
    fn control_mode(&self) -> ControlMode {
        self.control.mode
    }
    /// The journal verbosity in force when the input that made it was taken.
    #[getter]
    fn control_verbosity(&self) -> Verbosity {
        self.control.verbosity
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
        d.set_item("details", self.details_dict(py)?)?;
        Ok(d)
    }

    /// Equal to a transition of the same fields, as the original's data class was (the
    /// details compared as Python compares the two dicts).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        data_eq(other, |o: &Bound<'_, PyTransition>| self.same_fields(o))
    }

    /// Of its ids, which equal transitions share.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        let t = &self.inner;
        (&*t.trade_id, t.slot_id, &*t.intent_id, &*t.event_id)
            .into_pyobject(py)?
            .hash()
    }

    fn __repr__(&self) -> String {
        let t = &self.inner;
        format!(
            "KernelTransition(slot {}: {} -> {} on {})",
            t.slot_id, t.prev_state, t.next_state, t.trigger
        )
    }
}

#[pyclass(name = "KernelOutcome", module = "dita._kernel")]
pub struct PyOutcome {
    /// Its `submit` is the order the input sent the venue, Python's `order`.
    pub inner: KernelOutcome,
    pub control: ControlAtInput,
    /// What the venue's answers told beyond what the kernel keeps; None for most (boxed: an
    /// outcome past 512 bytes leaves Python's small-object allocator, a cost on every call).
    pub answers: Option<Box<AnswerFacts>>,
}

/// What a venue's answers told beyond what the kernel keeps.
#[derive(Default)]
pub struct AnswerFacts {
    /// What a Python venue's events carried, by their place in `emitted_events`.
    pub event_extras: Vec<(usize, Box<EventExtras>)>,
    /// The orders the input asked the venue to cancel, by client order id, with their trade's
    /// side: what the cancel answers' events are about.
    pub cancelled: Vec<(Id, TradeSide)>,
}

impl PyOutcome {
    /// An outcome of no input yet, for an input to answer in (`PyKernel::apply_intent_into`),
    /// which writes its control too.
    pub fn blank() -> Self {
        let control = ControlAtInput {
            mode: ControlMode::Live,
            verbosity: Verbosity::Normal,
        };
        Self::new(KernelOutcome::blank(), control)
    }

    pub fn new(inner: KernelOutcome, control: ControlAtInput) -> Self {
        PyOutcome {
            inner,
            control,
            answers: None,
        }
    }

    /// Emitted event `i` as Python sees it: its trade's side (as the venue gave it, else its
    /// order's) and payload with it.
    fn emitted_event(&self, py: Python<'_>, i: usize, ev: &VenueEvent) -> PyVenueEvent {
        let mut out = PyVenueEvent::stated(ev.clone());
        let given = self.answers.as_ref().and_then(|a| {
            a.event_extras
                .iter()
                .find(|(at, _)| *at == i)
                .map(|(_, x)| x.clone_ref(py))
        });
        let mut extras = given.unwrap_or(EventExtras {
            trade_side: None,
            raw_payload: None,
        });
        if extras.trade_side.is_none() {
            extras.trade_side = self.trade_side_of_order(&ev.venue_client_id);
        }
        if extras.trade_side.is_some() || extras.raw_payload.is_some() {
            out.extras = Some(Box::new(extras));
        }
        out
    }

    /// The side of the trade of the order this input sent or cancelled under `client_order_id`.
    fn trade_side_of_order(&self, client_order_id: &Id) -> Option<TradeSide> {
        if let Some(o) = self
            .inner
            .submit
            .as_ref()
            .filter(|o| o.client_order_id == *client_order_id)
        {
            return Some(trade_side_of(o.side, o.is_entry));
        }
        self.answers
            .as_ref()?
            .cancelled
            .iter()
            .find(|(id, _)| id == client_order_id)
            .map(|(_, side)| *side)
    }

    /// The details, with what the original kernel said of a venue's rate limit besides
    /// (`reason`, `retry_after_ms`, `venue_event_kind`, `severity`, `release_eta`,
    /// `retryable`) when the venue rate limited the input.
    fn details_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = details_to_py(py, &self.inner.details)?;
        if self.inner.diagnostic_code != KernelDiagnosticCode::RateLimited {
            return Ok(d);
        }
        let Some(retry_after) = self.inner.details.iter().find_map(|(k, v)| match (k, v) {
            (&"retry_after", Detail::F64(s)) => Some(*s),
            _ => None,
        }) else {
            return Ok(d); // the risk guard's order rate, no venue's answer
        };
        let limit = self
            .inner
            .emitted_events
            .iter()
            .rev()
            .find(|e| e.kind == KernelEventKind::RateLimited);
        if !d.contains("reason")? {
            d.set_item(
                "reason",
                limit.map_or("rate limited by the venue", |e| &e.reason),
            )?;
        }
        d.set_item("retry_after_ms", retry_after * 1000.0)?;
        d.set_item("venue_event_kind", KernelEventKind::RateLimited.name())?;
        d.set_item("severity", self.inner.severity.name())?;
        let since = limit.map_or(self.inner_time(), |e| e.timestamp);
        d.set_item(
            "release_eta",
            datetime_of(py, since + retry_after, "release_eta")?.call_method0("isoformat")?,
        )?;
        d.set_item("retryable", true)?;
        Ok(d)
    }

    /// When the input was taken: its first transition's time, else now.
    fn inner_time(&self) -> f64 {
        self.inner
            .transitions
            .first()
            .map_or_else(crate::python::convert::time::now, |t| t.timestamp)
    }
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
    fn transitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let made: Vec<Py<PyTransition>> = self
            .inner
            .transitions
            .iter()
            .map(|t| Py::new(py, PyTransition::made(t.clone(), self.control)))
            .collect::<PyResult<_>>()?;
        PyTuple::new(py, made)
    }
    #[getter]
    fn emitted_events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let made: Vec<Py<PyVenueEvent>> = self
            .inner
            .emitted_events
            .iter()
            .enumerate()
            .map(|(i, e)| Py::new(py, self.emitted_event(py, i, e)))
            .collect::<PyResult<_>>()?;
        PyTuple::new(py, made)
    }
    #[getter]
    fn order(&self, py: Python<'_>) -> PyResult<Option<Py<PyVenueOrder>>> {
        self.inner
            .submit
            .as_ref()
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .transpose()
    }
    /// Read-only: a change in place would be lost (each read builds them anew).
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only(self.details_dict(py)?)
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
            let t = PyTransition::made(t.clone(), self.control);
            ts.append(t.to_dict(py)?)?;
        }
        d.set_item("transitions", ts)?;
        let es = PyList::empty(py);
        for e in &o.emitted_events {
            es.append(PyVenueEvent::stated(e.clone()).to_dict(py)?)?;
        }
        d.set_item("emitted_events", es)?;
        d.set_item("details", self.details_dict(py)?)?;
        d.set_item("seq", o.seq)?;
        Ok(d)
    }

    /// Equal to an outcome of the same fields, as the original's data class was: each field
    /// Python reads, compared as Python compares them (transitions, events and the order by
    /// their own `==`, the details as dicts).
    fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        data_eq(other, |o: &Bound<'_, PyOutcome>| {
            read_fields(slf)?.eq(read_fields(o)?)
        })
    }

    /// Of its slot, trade and sequence number, which equal outcomes share.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        let o = &self.inner;
        (o.slot_id, &*o.trade_id, o.seq).into_pyobject(py)?.hash()
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

/// The fields of `outcome` as Python reads them, for `__eq__`.
fn read_fields<'py>(outcome: &Bound<'py, PyOutcome>) -> PyResult<Bound<'py, PyTuple>> {
    let py = outcome.py();
    let o = outcome.borrow();
    (
        o.accepted(),
        o.slot_id(),
        o.trade_id(),
        o.state(),
        o.diagnostic_code(),
        o.severity(),
        o.transitions(py)?,
        o.emitted_events(py)?,
        o.order(py)?,
        o.details_dict(py)?,
        o.seq(),
    )
        .into_pyobject(py)
}

impl PyTransition {
    /// Whether `other` has the same fields, for `__eq__`.
    fn same_fields(&self, other: &Bound<'_, PyTransition>) -> PyResult<bool> {
        let (a, b) = (&self.inner, &other.get().inner);
        let facts = |t: &KernelTransition| {
            let ids = (
                t.trade_id.clone(),
                t.slot_id,
                t.intent_id.clone(),
                t.event_id.clone(),
            );
            (t.timestamp, ids, t.prev_state, t.next_state, t.trigger)
        };
        if facts(a) != facts(b) || self.control != other.get().control {
            return Ok(false);
        }
        let py = other.py();
        self.details_dict(py)?.eq(other.get().details_dict(py)?)
    }
}
