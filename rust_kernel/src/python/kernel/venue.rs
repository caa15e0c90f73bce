//! Handing orders to the venue and applying what it answers, without holding the kernel
//! while the venue runs.

use super::answer::VenueAnswer;
use super::busy::wait_mut_for_answer;
use super::PyKernel;
use crate::kernel::LATE_EXIT_FILL_CANCEL;
use crate::model::{KernelOutcome, VenueEvent, VenueOrder};
use crate::python::convert::enums::trade_side_of;
use crate::python::errors::venue_answer_not_logged;
use crate::python::mock::PyMockVenue;
use crate::python::objects::{AnswerFacts, PyOutcome, PyVenueEvent, PyVenueOrder};
use crate::types::{Detail, KernelEventKind, KernelSeverity};
use crate::wal::kernel_log::InputRef;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The native mock taken for one input (`VenueHandle::take_mock`); None for a Python venue.
pub(super) type HeldMock<'py> = Option<PyRefMut<'py, PyMockVenue>>;

/// Where orders go: the native mock (no Python on the path) or any Python adapter.
pub(super) enum VenueHandle {
    Mock(Py<PyMockVenue>),
    Python(Py<PyAny>, CancelArgs),
}

/// What a Python venue's `cancel` takes: the order alone (dita's adapters), or the order and a
/// `reason` as well (the original kernel's `cancel(order, reason=...)`).
#[derive(Clone, Copy)]
pub(super) enum CancelArgs {
    Order,
    OrderAndReason,
}

impl CancelArgs {
    /// Read once from the signature of `venue`'s `cancel`: a parameter named `reason` taken by
    /// keyword is given it, as the original kernel gave it (as `order_status` is given `asset`,
    /// `dita.venues.protocol`). One the signature does not show (a builtin without one) is not.
    fn of(venue: &Bound<'_, PyAny>) -> PyResult<CancelArgs> {
        let inspect = venue.py().import("inspect")?;
        let Ok(signature) = inspect.call_method1("signature", (venue.getattr("cancel")?,)) else {
            return Ok(CancelArgs::Order);
        };
        let reason = signature
            .getattr("parameters")?
            .call_method1("get", ("reason",))?;
        if reason.is_none() {
            return Ok(CancelArgs::Order);
        }
        let kind = reason.getattr("kind")?;
        let parameter = inspect.getattr("Parameter")?;
        for by_keyword in ["POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY"] {
            if kind.eq(parameter.getattr(by_keyword)?)? {
                return Ok(CancelArgs::OrderAndReason);
            }
        }
        Ok(CancelArgs::Order)
    }
}

impl VenueHandle {
    /// The venue of a kernel made without one: the native mock with its default config.
    pub(super) fn default_mock(py: Python<'_>) -> PyResult<VenueHandle> {
        Ok(VenueHandle::Mock(Py::new(
            py,
            PyMockVenue {
                inner: crate::mock::MockVenue::new(Default::default())?,
            },
        )?))
    }

    /// The constructor's `venue`: None for the default mock, the native mock itself, or any
    /// object with `submit()` and `cancel()` methods.
    pub(super) fn from_arg(
        py: Python<'_>,
        venue: Option<Bound<'_, PyAny>>,
    ) -> PyResult<VenueHandle> {
        let Some(v) = venue.filter(|v| !v.is_none()) else {
            return VenueHandle::default_mock(py);
        };
        // The native mock itself only: a subclass overriding submit or cancel is called as any
        // Python venue (taken for the native one, its overrides would never be called).
        if let Ok(m) = v.cast_exact::<PyMockVenue>() {
            return Ok(VenueHandle::Mock(m.clone().unbind()));
        }
        for method in ["submit", "cancel"] {
            if !v.hasattr(method)? {
                return Err(PyTypeError::new_err(format!(
                    "invalid venue: {} has no {method}() method (see dita.venues.VenueAdapter)",
                    v.get_type().name()?
                )));
            }
        }
        let cancel = CancelArgs::of(&v)?;
        Ok(VenueHandle::Python(v.unbind(), cancel))
    }

    /// Tells a venue that can mark its ids with a seq (the simulated ones, which count from 1
    /// in every process) the seq of the kernel recovered beside it; others are left alone.
    pub(super) fn resume(&self, py: Python<'_>, seq: u64) -> PyResult<()> {
        match self {
            VenueHandle::Mock(m) => m
                .try_borrow_mut(py)
                .map_err(|_| mock_busy("the kernel's recovery"))?
                .inner
                .resume(seq),
            VenueHandle::Python(v, _) => {
                let v = v.bind(py);
                if v.getattr("resume").is_ok_and(|r| r.is_callable()) {
                    v.call_method1("resume", (seq,))?;
                }
            }
        }
        Ok(())
    }

    /// The native mock, taken for an input that may send to it before the kernel applies the
    /// input, and held until its answers are applied; None for a Python venue. Refused while
    /// the mock is inside one of its own methods (on another thread, or up this one's stack):
    /// the input changes nothing.
    #[inline]
    pub(super) fn take_mock<'py>(&self, py: Python<'py>) -> PyResult<HeldMock<'py>> {
        match self {
            VenueHandle::Mock(m) => match m.bind(py).try_borrow_mut() {
                Ok(held) => Ok(Some(held)),
                Err(_) => Err(mock_busy("the input")),
            },
            VenueHandle::Python(..) => Ok(None),
        }
    }

    pub(super) fn clone_ref(&self, py: Python<'_>) -> VenueHandle {
        match self {
            VenueHandle::Mock(m) => VenueHandle::Mock(m.clone_ref(py)),
            VenueHandle::Python(o, cancel) => VenueHandle::Python(o.clone_ref(py), *cancel),
        }
    }

    /// Hands an order to the venue: the native mock `mock`, taken for the input (`take_mock`),
    /// or the Python venue. `Ok(Err(..))` means the venue raised: the outcome is unknown and
    /// the order stays in flight until the venue reports on it. `room`: an empty list the
    /// native mock's answer to a submit is written in, keeping its allocation. `reason`: why a
    /// cancel is asked, given to a Python venue's `cancel` that takes one.
    fn call(
        &self,
        py: Python<'_>,
        mock: &mut HeldMock<'_>,
        method: &str,
        order: &VenueOrder,
        room: Vec<VenueEvent>,
        reason: &str,
    ) -> PyResult<Result<VenueAnswer, String>> {
        match self {
            VenueHandle::Mock(_) => {
                let Some(mv) = mock.as_mut() else {
                    return Ok(Err(mock_busy(method).to_string()));
                };
                Ok(Ok(VenueAnswer::of(if method == "submit" {
                    let mut events = room;
                    mv.inner.submit_into(order, &mut events);
                    events
                } else {
                    mv.inner.cancel(order)
                })))
            }
            VenueHandle::Python(obj, cancel) => {
                let arg = Py::new(
                    py,
                    PyVenueOrder {
                        inner: order.clone(),
                    },
                )?;
                // Whatever it raised (a TypeError from its HTTP library included), the order
                // may have left: the outcome says so, and the calls after it still go out.
                // Ctrl-C, SIGTERM made one, or sys.exit (not an `Exception`) is the program
                // being stopped: it goes on up, the order in flight.
                let called = match (method, cancel) {
                    ("cancel", CancelArgs::OrderAndReason) => {
                        let kwargs = PyDict::new(py);
                        kwargs.set_item("reason", reason)?;
                        obj.bind(py).call_method(method, (arg,), Some(&kwargs))
                    }
                    _ => obj.bind(py).call_method1(method, (arg,)),
                };
                match called {
                    Ok(result) => Ok(Ok(VenueAnswer::read(py, method, &result))),
                    Err(e) if !e.is_instance_of::<PyException>(py) => Err(e),
                    Err(e) => Ok(Err(format!("{}: {}", e.get_type(py).name()?, e.value(py)))),
                }
            }
        }
    }
}

thread_local! {
    /// The kernels (by their `venue_calls` counter's address) whose venue this thread is
    /// inside: closing such a kernel from its own venue call cannot wait for that call.
    static IN_VENUE_CALL: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One venue call under way (see `PyKernel::venue_calls`); ends when dropped.
pub(super) struct VenueCall(Arc<AtomicUsize>);

impl VenueCall {
    fn start(calls: &Arc<AtomicUsize>) -> VenueCall {
        calls.fetch_add(1, Ordering::SeqCst);
        IN_VENUE_CALL.with_borrow_mut(|v| v.push(Arc::as_ptr(calls) as usize));
        VenueCall(calls.clone())
    }

    /// Whether this thread is inside a venue call of the kernel whose calls `calls` counts:
    /// such a call cannot be waited for from within it.
    pub(super) fn inside(calls: &Arc<AtomicUsize>) -> bool {
        let mine = Arc::as_ptr(calls) as usize;
        IN_VENUE_CALL.with_borrow(|v| v.contains(&mine))
    }
}

impl Drop for VenueCall {
    fn drop(&mut self) {
        // Its own entry, not the last: calls of two kernels may end out of order on one
        // thread (greenlets switching around blocking I/O).
        let mine = Arc::as_ptr(&self.0) as usize;
        IN_VENUE_CALL.with_borrow_mut(|v| {
            if let Some(i) = v.iter().rposition(|&a| a == mine) {
                v.remove(i);
            }
        });
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Moves the cancels the venue's answers asked for (in `out`) to `cancels`, each with its
/// reason: an answer's event asks a cancel only on a late exit fill.
fn take_answers_cancels(out: &mut KernelOutcome, cancels: &mut Vec<(VenueOrder, &str)>) {
    cancels.extend((out.cancels.drain(..)).map(|order| (order, LATE_EXIT_FILL_CANCEL)));
}

/// The error of `what` meeting the native mock held by one of its own methods.
#[cold]
fn mock_busy(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "{what} refused: the kernel's MockVenueAdapter is inside one of its own methods (on \
         another thread, or called from within it); nothing changed, try again"
    ))
}

/// A venue call that raised: its order may have left, so `what` (`submit_outcome`,
/// `cancel_outcome`) is unknown, with the exception in `venue_error`, severity ERROR.
fn venue_raised(out: &mut KernelOutcome, what: &'static str, msg: String) {
    out.severity = out.severity.max(KernelSeverity::Error);
    out.details.push((what, Detail::Static("unknown")));
    out.details.push(("venue_error", Detail::Str(msg)));
}

impl PyKernel {
    /// The venue as Python sees it: the native mock or the adapter passed in.
    pub(super) fn venue_object(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.venue {
            VenueHandle::Mock(m) => m.clone_ref(py).into_any(),
            VenueHandle::Python(o, _) => o.clone_ref(py),
        }
    }

    /// Sends what an outcome asks for (a submit, cancels, each cancel for `cancel_reason`) and
    /// folds the venue's synchronous answers back in, each as its own input. No borrow of the
    /// kernel is held while a Python venue runs, so other threads can read the kernel and the
    /// venue may call back into it.
    pub(super) fn send_to_venue(
        slf: &Bound<'_, Self>,
        this: PyRefMut<'_, Self>,
        mock: HeldMock<'_>,
        out: KernelOutcome,
        cancel_reason: &str,
    ) -> PyResult<PyOutcome> {
        let mut outcome = PyOutcome::blank();
        outcome.inner = out;
        Self::send_outcome_to_venue(slf, this, mock, &mut outcome, cancel_reason)?;
        Ok(outcome)
    }

    /// [`PyKernel::send_to_venue`] of `outcome`: its order, control and the venue's answers
    /// are written in place, so the large outcome is not moved on its way to Python.
    pub(super) fn send_outcome_to_venue(
        slf: &Bound<'_, Self>,
        mut this: PyRefMut<'_, Self>,
        mut mock: HeldMock<'_>,
        outcome: &mut PyOutcome,
        cancel_reason: &str,
    ) -> PyResult<()> {
        let py = slf.py();
        let out = &mut outcome.inner;
        // The order sent stays the outcome's `submit`, for Python to read as its `order`.
        let cancels = std::mem::take(&mut out.cancels);
        outcome.control = this.control_at_input();
        outcome.answers = None;
        if out.submit.is_none() && cancels.is_empty() {
            return Ok(());
        }
        this.write_log_through()?;
        let venue = this.venue.clone_ref(py);
        // The native mock answers at once and runs no Python, so no other thread runs while it
        // does: the input keeps the kernel through its answers. Any other venue runs with the
        // kernel let go, its call counted while the input still holds it, so `close_core`
        // cannot slip in between the input and its venue call.
        let (mut held, _call) = match &venue {
            VenueHandle::Mock(_) => (Some(this), None),
            VenueHandle::Python(..) => {
                let call = VenueCall::start(&this.venue_calls);
                drop(this);
                (None, Some(call))
            }
        };
        let mut apply = |answer, out: &mut _, facts: &mut _| match &mut held {
            Some(this) => this.apply_answer(answer, out, facts),
            None => wait_mut_for_answer(slf).apply_answer(answer, out, facts),
        };
        // Made only when an answer tells more than the kernel keeps: most tell nothing.
        let facts = &mut outcome.answers;
        if let Some(order) = &out.submit {
            // The outcome's events list, empty before any answer: the mock answers in it.
            let room = std::mem::take(&mut out.emitted_events);
            match venue.call(py, &mut mock, "submit", order, room, "")? {
                Ok(answer) => apply(answer, out, facts)?,
                Err(msg) => venue_raised(out, "submit_outcome", msg),
            }
        }
        // The input's cancels go out for its reason; those the venue's answers ask for, for
        // theirs.
        let mut cancels: Vec<(VenueOrder, &str)> = cancels
            .into_iter()
            .map(|order| (order, cancel_reason))
            .collect();
        take_answers_cancels(out, &mut cancels);
        // An interrupt (Ctrl-C, sys.exit) in one cancel is raised once the others are sent:
        // each order is marked as asked to cancel, and a later freeze would not ask again.
        let mut interrupt: Option<PyErr> = None;
        while !cancels.is_empty() {
            for (order, reason) in std::mem::take(&mut cancels) {
                facts.get_or_insert_default().cancelled.push((
                    order.client_order_id.clone(),
                    trade_side_of(order.side, order.is_entry),
                ));
                let sent = venue
                    .call(py, &mut mock, "cancel", &order, Vec::new(), reason)
                    .and_then(|answer| match answer {
                        Ok(answer) => apply(answer, out, facts),
                        Err(msg) => {
                            venue_raised(out, "cancel_outcome", msg);
                            Ok(())
                        }
                    });
                if let Err(e) = sent {
                    interrupt.get_or_insert(e);
                }
            }
            take_answers_cancels(out, &mut cancels);
        }
        interrupt.map_or(Ok(()), Err)
    }

    /// Applies and logs the venue's answer, then raises its interrupt (Ctrl-C, sys.exit) if it
    /// holds one. The outcome's `emitted_events` are the events the kernel took: one it refused
    /// (a fill resent in the same answer) changes nothing, and routed on (to a runtime, the
    /// gateway's stream) it would have a strategy hear that fill twice. Each refusal is named
    /// in the details (`KernelOutcome::absorb`).
    fn apply_answer(
        &mut self,
        answer: VenueAnswer,
        out: &mut KernelOutcome,
        facts: &mut Option<Box<AnswerFacts>>,
    ) -> PyResult<()> {
        let VenueAnswer {
            mut events,
            unstated,
            extras,
            error,
            interrupt,
        } = answer;
        let mut unstated = unstated.into_iter().peekable();
        let mut extras = extras.into_iter().peekable();
        // The places of the events the kernel refused (rare), left out of the outcome's.
        let mut refused: Vec<usize> = Vec::new();
        let start = out.emitted_events.len();
        for at in 0..events.len() {
            let ev = &mut events[at];
            if unstated.next_if_eq(&at).is_some() && ev.kind == KernelEventKind::Fill {
                ev.status = self.core.fill_status_by_sizes(ev);
            }
            // Its trade side, when it contradicts its order, as the order side it says.
            let trade_side = extras
                .peek()
                .filter(|(place, _)| *place == at)
                .and_then(|(_, x)| x.trade_side);
            if let Some(side) = trade_side.and_then(|t| self.core.side_of_trade_side(ev, t)) {
                ev.side = Some(side);
            }
            let ev = &events[at];
            let seq = self.core.seq();
            self.core.on_venue_event_into(ev, &mut self.answer_outcome);
            if let Err(failure) = self.log_input_ref(seq, InputRef::VenueEvent(ev)) {
                return Err(self.answer_not_logged(failure, events, at));
            }
            let applied = self.answer_outcome.applied();
            out.absorb(&mut self.answer_outcome, ev);
            let carried = extras.next_if(|(place, _)| *place == at).map(|(_, x)| x);
            if !applied {
                refused.push(at);
            } else if let Some(carried) = carried {
                let taken_at = start + at - refused.len();
                let facts = facts.get_or_insert_default();
                facts.event_extras.push((taken_at, carried));
            }
        }
        // The events the kernel took, in order; those it refused would have a strategy hear
        // a fill twice when the outcome is routed on.
        if !refused.is_empty() {
            let mut places = 0..;
            events.retain(|_| !refused.contains(&places.next().expect("endless")));
        }
        if out.emitted_events.is_empty() {
            out.emitted_events = events;
        } else {
            out.emitted_events.append(&mut events);
        }
        if let Some(error) = error {
            // The intent stands and what the venue did say is applied: raising here would
            // lose the outcome (and its order) after the kernel took both.
            out.severity = out.severity.max(KernelSeverity::Error);
            out.details.push(("venue_answer_error", Detail::Str(error)));
        }
        // The cancels the answer's events asked for go to the venue next.
        if !out.cancels.is_empty() {
            if let Err(failed) = self.write_log_through() {
                out.cancels.clear();
                return Err(failed);
            }
        }
        interrupt.map_or(Ok(()), Err)
    }

    /// The error of a venue's `answer` whose event at `logged` (those before it recorded) the
    /// log could not record: it names the order and the answer as received, and whether the
    /// order is live at the venue (the answer's last status not final), as the kernel's refusal
    /// of further input does.
    fn answer_not_logged(
        &mut self,
        failure: PyErr,
        answer: Vec<VenueEvent>,
        logged: usize,
    ) -> PyErr {
        let ev = &answer[logged];
        let last_status = answer.last().map_or(ev.status, |e| e.status);
        let live = !last_status.is_terminal();
        let described: Vec<String> = answer.iter().map(describe_event).collect();
        let order = format!(
            "order {:?} (venue order id {:?}, slot {}, trade {:?})",
            &*ev.venue_client_id, &*ev.venue_order_id, ev.slot_id, &*ev.trade_id
        );
        Python::attach(|py| {
            let cause = failure.value(py).to_string();
            let standing = if live {
                "is live at the venue".to_string()
            } else {
                format!("was ended by the venue ({last_status}), unrecorded")
            };
            if let Some(state) = self.wal.as_mut() {
                state.note_failure(&format!("{order} {standing}"));
            }
            let message = format!(
                "the write-ahead log could not record the venue's answer ({cause}): {order} \
                 reached the venue, which answered [{}]; the order {standing}, and the kernel \
                 takes no more input: a kernel opened on its log reconciles it",
                described.join("; ")
            );
            let value = venue_answer_not_logged(py)?.call1((message,))?;
            let events: Vec<Py<PyVenueEvent>> = answer
                .iter()
                .map(|e| Py::new(py, PyVenueEvent::stated(e.clone())))
                .collect::<PyResult<_>>()?;
            value.setattr("client_order_id", &*ev.venue_client_id)?;
            value.setattr("venue_order_id", &*ev.venue_order_id)?;
            value.setattr("slot_id", ev.slot_id)?;
            value.setattr("trade_id", &*ev.trade_id)?;
            value.setattr("answer", PyTuple::new(py, events)?)?;
            value.setattr("logged", logged)?;
            value.setattr("live", live)?;
            value.setattr("__cause__", failure.value(py))?;
            Ok::<PyErr, PyErr>(PyErr::from_value(value))
        })
        .unwrap_or_else(|e| e)
    }

    /// `event` as the kernel takes and logs it: with the status its sizes say when it is a
    /// FILL made without one (`Kernel::fill_status_by_sizes`), and with the order side its
    /// trade side says when that contradicts its order (`Kernel::side_of_trade_side`); None
    /// when it is to be taken as made.
    pub(super) fn as_taken(&self, event: &PyVenueEvent) -> Option<VenueEvent> {
        let unstated = !event.status_stated && event.inner.kind == KernelEventKind::Fill;
        let trade_side = event.extras.as_ref().and_then(|x| x.trade_side);
        let side = trade_side.and_then(|t| self.core.side_of_trade_side(&event.inner, t));
        if !unstated && side.is_none() {
            return None;
        }
        let mut ev = event.inner.clone();
        if unstated {
            ev.status = self.core.fill_status_by_sizes(&ev);
        }
        if side.is_some() {
            ev.side = side;
        }
        Some(ev)
    }
}

/// An event of a venue's answer as an error names it: its kind, ids and figures.
fn describe_event(ev: &VenueEvent) -> String {
    let mut text = format!("{} {:?}", ev.kind, &*ev.event_id);
    if ev.kind == KernelEventKind::Fill {
        text.push_str(&format!(
            " fill {:?} {} at {} (filled {}, {})",
            &*ev.fill_id, ev.size, ev.price, ev.filled_size, ev.status
        ));
    } else if !ev.reason.is_empty() {
        text.push_str(&format!(" ({})", ev.reason));
    }
    text
}
