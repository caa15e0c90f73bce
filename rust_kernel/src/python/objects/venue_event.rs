//! `VenueEvent`: what a venue reports about an order.

use super::equality::{data_eq, equal_as_data, event_floats};
use crate::model::VenueEvent;
use crate::python::convert::dicts::as_dict;
use crate::python::convert::enums::{enum_arg, opt_enum_arg, side_arg, SideArg};
use crate::python::convert::ints::slot_id_arg;
use crate::python::convert::metadata::{
    metadata_arg, metadata_to_py, read_only, read_only_metadata,
};
use crate::python::convert::numbers::{opt_real, real};
use crate::python::convert::text::{free_text, ident};
use crate::python::convert::time::{datetime_of, opt_time, time_or_now};
use crate::python::convert::wrong_type;
use crate::types::{Id, KernelEventKind, OrderSide, TradeSide, VenueOrderStatus};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyDict};

/// What an event made in Python carries beyond what the kernel reads: the side of the trade
/// it is about (the original kernel's `side`) and the venue's own payload. None on most.
pub struct EventExtras {
    pub trade_side: Option<TradeSide>,
    pub raw_payload: Option<Py<PyDict>>,
}

impl EventExtras {
    pub fn clone_ref(&self, py: Python<'_>) -> EventExtras {
        EventExtras {
            trade_side: self.trade_side,
            raw_payload: self.raw_payload.as_ref().map(|p| p.clone_ref(py)),
        }
    }
}

#[pyclass(name = "VenueEvent", module = "dita._kernel", frozen)]
pub struct PyVenueEvent {
    pub inner: VenueEvent,
    /// Whether the event was made with a status: a FILL made without one takes it from the
    /// sizes when a kernel takes it (`Kernel::fill_status_by_sizes`), not the kind's FILLED.
    pub status_stated: bool,
    pub extras: Option<Box<EventExtras>>,
}

impl PyVenueEvent {
    /// An event as the kernel made or took it: its status stated.
    pub fn stated(inner: VenueEvent) -> Self {
        PyVenueEvent {
            inner,
            status_stated: true,
            extras: None,
        }
    }

    /// The venue's payload: its own dict, or a new empty one when it gave none.
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        match self.extras.as_ref().and_then(|x| x.raw_payload.as_ref()) {
            Some(p) => p.bind(py).clone(),
            None => PyDict::new(py),
        }
    }
}

/// The order side and trade side of an event from its `side` (either kind), `order_side` and
/// `trade_side` (as its `to_dict()` gives them).
fn event_sides(
    side: Option<&Bound<'_, PyAny>>,
    order_side: Option<&Bound<'_, PyAny>>,
    trade_side: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Option<OrderSide>, Option<TradeSide>)> {
    let given: Option<OrderSide> = opt_enum_arg(order_side, "order_side")?;
    let given_trade: Option<TradeSide> = opt_enum_arg(trade_side, "trade_side")?;
    let side = match side.filter(|s| !s.is_none()) {
        Some(s) => Some(side_arg(s, "side")?),
        None => None,
    };
    match side {
        Some(SideArg::Order(s)) if given.is_some_and(|g| g != s) => {
            Err(PyValueError::new_err(format!(
                "invalid order_side: {} (side says {s})",
                given.map_or("", |g| g.name())
            )))
        }
        Some(SideArg::Trade(t)) if given_trade.is_some_and(|g| g != t) => {
            Err(PyValueError::new_err(format!(
                "invalid trade_side: {} (side says {t})",
                given_trade.map_or("", |g| g.name())
            )))
        }
        Some(SideArg::Order(s)) => Ok((Some(s), given_trade)),
        Some(SideArg::Trade(t)) => Ok((given, Some(t))),
        None => Ok((given, given_trade)),
    }
}

/// The venue's payload as given (any Mapping), copied: later changes to the caller's are not
/// the event's.
fn raw_payload_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Py<PyDict>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let Some(d) = as_dict(obj)? else {
        return Err(wrong_type("invalid raw_payload: expected a dict", obj));
    };
    Ok(Some(d.copy()?.unbind()))
}

#[pymethods]
impl PyVenueEvent {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...".
    #[pyo3(signature = (event_id, trade_id, slot_id, kind, status=None, venue_order_id=Id::default(), venue_client_id=Id::default(),
        side=None, asset=Id::default(), price=0.0, size=0.0, filled_size=0.0, remaining_size=0.0, reason=String::new(),
        metadata=None, timestamp=None, *, fill_id=Id::default(), fee=None, retry_after=0.0, order_side=None, raw_payload=None, trade_side=None),
        text_signature = "(event_id, trade_id, slot_id, kind, status=None, venue_order_id=\"\", venue_client_id=\"\", side=None, asset=\"\", price=0.0, size=0.0, filled_size=0.0, remaining_size=0.0, reason=\"\", metadata=None, timestamp=None, *, fill_id=\"\", fee=None, retry_after=0.0, order_side=None, raw_payload=None, trade_side=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = ident::event_id)] event_id: Id,
        #[pyo3(from_py_with = ident::trade_id)] trade_id: Id,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        kind: &Bound<'_, PyAny>,
        status: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = ident::venue_order_id)] venue_order_id: Id,
        #[pyo3(from_py_with = ident::venue_client_id)] venue_client_id: Id,
        side: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        #[pyo3(from_py_with = real::price)] price: f64,
        #[pyo3(from_py_with = real::size)] size: f64,
        #[pyo3(from_py_with = real::filled_size)] filled_size: f64,
        #[pyo3(from_py_with = real::remaining_size)] remaining_size: f64,
        #[pyo3(from_py_with = free_text::reason)] reason: String,
        metadata: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = opt_time::timestamp)] timestamp: Option<f64>,
        #[pyo3(from_py_with = ident::fill_id)] fill_id: Id,
        #[pyo3(from_py_with = opt_real::fee)] fee: Option<f64>,
        #[pyo3(from_py_with = real::retry_after)] retry_after: f64,
        order_side: Option<&Bound<'_, PyAny>>,
        raw_payload: Option<&Bound<'_, PyAny>>,
        trade_side: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let kind: KernelEventKind = enum_arg(kind, "kind")?;
        let status: Option<VenueOrderStatus> = opt_enum_arg(status, "status")?;
        let (order_side, trade_side) = event_sides(side, order_side, trade_side)?;
        let raw_payload = raw_payload_arg(raw_payload)?;
        let extras = (trade_side.is_some() || raw_payload.is_some()).then(|| {
            Box::new(EventExtras {
                trade_side,
                raw_payload,
            })
        });
        Ok(PyVenueEvent {
            extras,
            status_stated: status.is_some(),
            inner: VenueEvent {
                event_id,
                trade_id,
                slot_id,
                kind,
                status: status.unwrap_or_else(|| kind.implied_status()),
                venue_order_id,
                venue_client_id,
                side: order_side,
                asset,
                price,
                size,
                filled_size,
                remaining_size,
                reason,
                metadata: metadata_arg(metadata, "metadata")?,
                timestamp: time_or_now(timestamp),
                fill_id,
                fee,
                retry_after,
            },
        })
    }

    #[getter]
    fn event_id(&self) -> &str {
        &self.inner.event_id
    }
    #[getter]
    fn trade_id(&self) -> &str {
        &self.inner.trade_id
    }
    #[getter]
    fn slot_id(&self) -> i64 {
        self.inner.slot_id
    }
    #[getter]
    fn kind(&self) -> KernelEventKind {
        self.inner.kind
    }
    #[getter]
    fn status(&self) -> VenueOrderStatus {
        self.inner.status
    }
    #[getter]
    fn venue_order_id(&self) -> &str {
        &self.inner.venue_order_id
    }
    #[getter]
    fn venue_client_id(&self) -> &str {
        &self.inner.venue_client_id
    }
    /// The side of the trade the event is about (LONG or SHORT), the original kernel's
    /// `side`: as the event was made, or, for one the kernel hands back, its order's trade's.
    #[getter]
    fn side(&self) -> Option<TradeSide> {
        self.extras.as_ref().and_then(|x| x.trade_side)
    }
    /// Whether the order the event is about buys or sells, when the venue said.
    #[getter]
    fn order_side(&self) -> Option<OrderSide> {
        self.inner.side
    }
    /// The venue's own payload, as it gave it (empty when it gave none). Read-only, as an
    /// intent's metadata: a change in place would be lost, so it raises TypeError.
    #[getter]
    fn raw_payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only(self.payload(py))
    }
    #[getter]
    fn asset(&self) -> &str {
        &self.inner.asset
    }
    #[getter]
    fn price(&self) -> f64 {
        self.inner.price
    }
    #[getter]
    fn size(&self) -> f64 {
        self.inner.size
    }
    #[getter]
    fn filled_size(&self) -> f64 {
        self.inner.filled_size
    }
    #[getter]
    fn remaining_size(&self) -> f64 {
        self.inner.remaining_size
    }
    #[getter]
    fn reason(&self) -> &str {
        &self.inner.reason
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only_metadata(py, &self.inner.metadata)
    }
    /// When the venue said it, in UTC (`timestamp_s` holds the seconds).
    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        datetime_of(py, self.inner.timestamp, "timestamp")
    }
    /// `timestamp` in seconds since the Unix epoch.
    #[getter]
    fn timestamp_s(&self) -> f64 {
        self.inner.timestamp
    }
    #[getter]
    fn fill_id(&self) -> &str {
        &self.inner.fill_id
    }
    #[getter]
    fn fee(&self) -> Option<f64> {
        self.inner.fee
    }
    #[getter]
    fn retry_after(&self) -> f64 {
        self.inner.retry_after
    }

    pub(super) fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.inner;
        let d = PyDict::new(py);
        d.set_item("event_id", &*e.event_id)?;
        d.set_item("trade_id", &*e.trade_id)?;
        d.set_item("slot_id", e.slot_id)?;
        d.set_item("kind", e.kind.name())?;
        // None when made without one, so an event made again from the dict is too.
        d.set_item("status", self.status_stated.then(|| e.status.name()))?;
        d.set_item("venue_order_id", &*e.venue_order_id)?;
        d.set_item("venue_client_id", &*e.venue_client_id)?;
        d.set_item("side", e.side.map(|s| s.name()))?;
        d.set_item("asset", &*e.asset)?;
        d.set_item("price", e.price)?;
        d.set_item("size", e.size)?;
        d.set_item("filled_size", e.filled_size)?;
        d.set_item("remaining_size", e.remaining_size)?;
        d.set_item("reason", &e.reason)?;
        d.set_item("metadata", metadata_to_py(py, &e.metadata)?)?;
        d.set_item("timestamp", e.timestamp)?;
        d.set_item("fill_id", &*e.fill_id)?;
        d.set_item("fee", e.fee)?;
        d.set_item("retry_after", e.retry_after)?;
        // `side` is the order's (BUY or SELL), as the journal and the gateway read it.
        d.set_item("trade_side", self.side().map(|s| s.name()))?;
        let payload = self.extras.as_ref().and_then(|x| x.raw_payload.as_ref());
        d.set_item(
            "raw_payload",
            payload.map(|p| p.bind(py).copy()).transpose()?,
        )?;
        Ok(d)
    }

    /// Equal to an event of the same fields, as the original's data class was: the kernel's
    /// fields, whether a status was stated, its trade's side and its raw payload (as Python
    /// compares the two dicts).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        data_eq(other, |o: &Bound<'_, PyVenueEvent>| self.same_fields(o))
    }

    /// Of its ids, which equal events share.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        let e = &self.inner;
        (&*e.event_id, &*e.trade_id, e.slot_id)
            .into_pyobject(py)?
            .hash()
    }

    fn __repr__(&self) -> String {
        let e = &self.inner;
        format!(
            "VenueEvent(event_id={:?}, kind={}, venue_client_id={:?}, price={}, size={}, filled_size={})",
            &*e.event_id, e.kind, &*e.venue_client_id, e.price, e.size, e.filled_size
        )
    }
}

impl PyVenueEvent {
    /// Whether `other` has the same fields, for `__eq__`.
    fn same_fields(&self, other: &Bound<'_, PyVenueEvent>) -> PyResult<bool> {
        let (py, o) = (other.py(), other.get());
        if !equal_as_data(&o.inner, &self.inner, event_floats)
            || o.status_stated != self.status_stated
            || o.side() != self.side()
        {
            return Ok(false);
        }
        self.payload(py).eq(o.payload(py))
    }
}
