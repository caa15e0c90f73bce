//! Copying and pickling the kernel's objects. Each is immutable from Python, so a copy (or a
//! deep copy) is the object itself, but for the deep copy of an event with a raw payload: its
//! payload is a dict of its own. A slot, an order, an event, a transition and an outcome pickle
//! as their fields, in this build's encoding (read back by the same dita version).

use super::{
    AnswerFacts, ControlAtInput, PyOutcome, PySlot, PyTransition, PyVenueEvent, PyVenueOrder,
};
use crate::model::{KernelOutcome, KernelTransition, TradeSlot, VenueEvent, VenueOrder};
use crate::python::objects::EventExtras;
use crate::types::{ControlMode, Id, TradeSide, Verbosity};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `__copy__` and `__deepcopy__` of a type immutable from Python: the object itself.
macro_rules! copied_as_itself {
    ($($t:ty),+) => {$(
        #[pymethods]
        impl $t {
            fn __copy__(slf: Py<Self>) -> Py<Self> {
                slf
            }
            fn __deepcopy__(slf: Py<Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
                slf
            }
        }
    )+};
}

copied_as_itself!(PySlot, PyVenueOrder, PyTransition, PyOutcome);

/// What `__reduce__` gives: the function that makes the object again, and its arguments.
type Reduced<'py, Args> = PyResult<(Bound<'py, PyAny>, Args)>;

/// `value` in this build's encoding, as bytes for a pickle.
fn state_of<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = bincode::serialize(value).expect("the kernel's objects always encode");
    Ok(PyBytes::new(py, &bytes))
}

/// The value `state_of` encoded; a ValueError naming `what` for bytes it did not make.
fn from_state<T: DeserializeOwned>(state: &[u8], what: &str) -> PyResult<T> {
    bincode::deserialize(state).map_err(|e| {
        PyValueError::new_err(format!(
            "invalid {what} state: {e} (pickled by another dita version?)"
        ))
    })
}

/// What a pickled `TradeSlot` carries: its fields, and what its active leg's exit fills took
/// (which the slot's own encoding leaves to checkpoints, and `to_dict` carries).
type SlotState = (TradeSlot, f64);

#[pymethods]
impl PySlot {
    /// Pickled as its fields: read back as the slot it was, the free flag and next exit ratio
    /// included.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> Reduced<'py, (Bound<'py, PyBytes>, bool, Option<f64>)> {
        let this = slf.get();
        let restore = slf.get_type().getattr("_from_state")?;
        let state = (&this.inner, this.inner.leg_taken);
        Ok((
            restore,
            (state_of(slf.py(), &state)?, this.free, this.next_exit),
        ))
    }

    #[classmethod]
    fn _from_state(
        _cls: &Bound<'_, pyo3::types::PyType>,
        state: &[u8],
        free: bool,
        next_exit: Option<f64>,
    ) -> PyResult<Self> {
        let (mut inner, leg_taken): SlotState = from_state(state, "TradeSlot")?;
        inner.leg_taken = leg_taken;
        Ok(PySlot {
            inner,
            free,
            next_exit,
        })
    }
}

#[pymethods]
impl PyVenueOrder {
    /// Pickled as its fields.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> Reduced<'py, (Bound<'py, PyBytes>,)> {
        let restore = slf.get_type().getattr("_from_state")?;
        Ok((restore, (state_of(slf.py(), &slf.get().inner)?,)))
    }

    #[classmethod]
    fn _from_state(_cls: &Bound<'_, pyo3::types::PyType>, state: &[u8]) -> PyResult<Self> {
        let inner: VenueOrder = from_state(state, "VenueOrder")?;
        Ok(PyVenueOrder { inner })
    }
}

/// What a pickled `VenueEvent` carries: its fields, whether its status was stated, and the
/// side of its trade; its raw payload goes beside it, as the dict it is.
type EventState = (VenueEvent, bool, Option<TradeSide>);

#[pymethods]
impl PyVenueEvent {
    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// The event itself, or, when it has a raw payload, a new event with a deep copy of it:
    /// what a venue sent may nest dicts, and the original's must not change through the copy.
    fn __deepcopy__(slf: &Bound<'_, Self>, memo: &Bound<'_, PyAny>) -> PyResult<Py<Self>> {
        let py = slf.py();
        let this = slf.get();
        let Some(EventExtras {
            trade_side,
            raw_payload: Some(payload),
        }) = this.extras.as_deref()
        else {
            return Ok(slf.clone().unbind());
        };
        let payload = py
            .import("copy")?
            .call_method1("deepcopy", (payload.bind(py), memo))?
            .cast_into::<PyDict>()?;
        let copy = PyVenueEvent {
            inner: this.inner.clone(),
            status_stated: this.status_stated,
            extras: Some(Box::new(EventExtras {
                trade_side: *trade_side,
                raw_payload: Some(payload.unbind()),
            })),
        };
        Py::new(py, copy)
    }

    /// Pickled as its fields and its raw payload (which must pickle too).
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> Reduced<'py, (Bound<'py, PyBytes>, Option<Py<PyDict>>)> {
        let py = slf.py();
        let this = slf.get();
        let extras = this.extras.as_deref();
        let state: EventState = (
            this.inner.clone(),
            this.status_stated,
            extras.and_then(|x| x.trade_side),
        );
        let payload = extras.and_then(|x| x.raw_payload.as_ref().map(|p| p.clone_ref(py)));
        let restore = slf.get_type().getattr("_from_state")?;
        Ok((restore, (state_of(py, &state)?, payload)))
    }

    #[classmethod]
    fn _from_state(
        _cls: &Bound<'_, pyo3::types::PyType>,
        state: &[u8],
        raw_payload: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (inner, status_stated, trade_side): EventState = from_state(state, "VenueEvent")?;
        let extras = (trade_side.is_some() || raw_payload.is_some()).then(|| {
            Box::new(EventExtras {
                trade_side,
                raw_payload: raw_payload.map(Bound::unbind),
            })
        });
        Ok(PyVenueEvent {
            inner,
            status_stated,
            extras,
        })
    }
}

/// What a pickled `KernelTransition` carries: its fields and the control its input was taken
/// in; the details it was made with (a transition built in Python) go beside it, as the dict
/// they are.
type TransitionState = (KernelTransition, ControlMode, Verbosity);

#[pymethods]
impl PyTransition {
    /// Pickled as its fields.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> Reduced<'py, (Bound<'py, PyBytes>, Option<Py<PyDict>>)> {
        let py = slf.py();
        let this = slf.get();
        let state: TransitionState = (
            this.inner.clone(),
            this.control.mode,
            this.control.verbosity,
        );
        let details = this.given_details.as_ref().map(|d| d.clone_ref(py));
        let restore = slf.get_type().getattr("_from_state")?;
        Ok((restore, (state_of(py, &state)?, details)))
    }

    #[classmethod]
    fn _from_state(
        _cls: &Bound<'_, pyo3::types::PyType>,
        state: &[u8],
        given_details: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (inner, mode, verbosity): TransitionState = from_state(state, "KernelTransition")?;
        Ok(PyTransition {
            inner,
            control: ControlAtInput { mode, verbosity },
            given_details: given_details.map(Bound::unbind),
        })
    }
}

/// What a pickled `KernelOutcome` carries: its fields, the control its input was taken in, and
/// what the venue's answers told beyond them (the side of each event's trade, by the event's
/// place; the cancelled orders' sides). The events' raw payloads go beside it, as the dicts
/// they are, by the event's place.
type OutcomeState = (
    KernelOutcome,
    ControlMode,
    Verbosity,
    Vec<(usize, Option<TradeSide>)>,
    Vec<(Id, TradeSide)>,
);

/// The raw payloads of an outcome's events, by the event's place in `emitted_events`.
type RawPayloads = Vec<(usize, Py<PyDict>)>;

#[pymethods]
impl PyOutcome {
    /// Pickled as its fields.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> Reduced<'py, (Bound<'py, PyBytes>, RawPayloads)> {
        let py = slf.py();
        let this = slf.borrow();
        let (mut sides, mut payloads, mut cancelled) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(answers) = &this.answers {
            for (at, extras) in &answers.event_extras {
                sides.push((*at, extras.trade_side));
                if let Some(payload) = &extras.raw_payload {
                    payloads.push((*at, payload.clone_ref(py)));
                }
            }
            cancelled.clone_from(&answers.cancelled);
        }
        let control = this.control;
        let state: OutcomeState = (
            this.inner.clone(),
            control.mode,
            control.verbosity,
            sides,
            cancelled,
        );
        let restore = slf.get_type().getattr("_from_state")?;
        Ok((restore, (state_of(py, &state)?, payloads)))
    }

    #[classmethod]
    fn _from_state(
        _cls: &Bound<'_, pyo3::types::PyType>,
        state: &[u8],
        raw_payloads: Vec<(usize, Bound<'_, PyDict>)>,
    ) -> PyResult<Self> {
        let (inner, mode, verbosity, sides, cancelled): OutcomeState =
            from_state(state, "KernelOutcome")?;
        let mut event_extras: Vec<(usize, Box<EventExtras>)> = sides
            .into_iter()
            .map(|(at, trade_side)| {
                let extras = EventExtras {
                    trade_side,
                    raw_payload: None,
                };
                (at, Box::new(extras))
            })
            .collect();
        for (at, payload) in raw_payloads {
            match event_extras.iter_mut().find(|(place, _)| *place == at) {
                Some((_, extras)) => extras.raw_payload = Some(payload.unbind()),
                None => {
                    return Err(PyValueError::new_err(format!(
                        "invalid KernelOutcome state: a raw payload for event {at}, which has none"
                    )))
                }
            }
        }
        let mut outcome = PyOutcome::new(inner, ControlAtInput { mode, verbosity });
        if !event_extras.is_empty() || !cancelled.is_empty() {
            outcome.answers = Some(Box::new(AnswerFacts {
                event_extras,
                cancelled,
            }));
        }
        Ok(outcome)
    }
}
