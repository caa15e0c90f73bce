//! Copying and pickling the kernel's objects. Each is immutable from Python, so a copy (or a
//! deep copy) is the object itself, but for the deep copy of an event with a raw payload: its
//! payload is a dict of its own. A slot, an order and an event pickle as their fields, in
//! this build's encoding (read back by the same dita version).

use super::{PyOutcome, PySlot, PyTransition, PyVenueEvent, PyVenueOrder};
use crate::model::{TradeSlot, VenueEvent, VenueOrder};
use crate::python::objects::EventExtras;
use crate::types::TradeSide;
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
