//! `VenueEvent`: what a venue reports about an order.

use crate::model::VenueEvent;
use crate::python::convert::enums::{enum_arg, opt_enum_arg};
use crate::python::convert::ints::slot_id_arg;
use crate::python::convert::metadata::{metadata_arg, metadata_to_py};
use crate::python::convert::numbers::{opt_real, real};
use crate::python::convert::text::{free_text, ident};
use crate::python::convert::time::{opt_time, time_or_now};
use crate::types::{Id, KernelEventKind, OrderSide, VenueOrderStatus};
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyclass(name = "VenueEvent", module = "dita._kernel", frozen)]
pub struct PyVenueEvent {
    pub inner: VenueEvent,
    /// Whether the event was made with a status: a FILL made without one takes it from the
    /// sizes when a kernel takes it (`Kernel::fill_status_by_sizes`), not the kind's FILLED.
    pub status_stated: bool,
}

impl PyVenueEvent {
    /// An event as the kernel made or took it: its status stated.
    pub fn stated(inner: VenueEvent) -> Self {
        PyVenueEvent {
            inner,
            status_stated: true,
        }
    }
}

#[pymethods]
impl PyVenueEvent {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...".
    #[pyo3(signature = (event_id, trade_id, slot_id, kind, status=None, venue_order_id=Id::default(), venue_client_id=Id::default(),
        side=None, asset=Id::default(), price=0.0, size=0.0, filled_size=0.0, remaining_size=0.0, reason=String::new(),
        metadata=None, timestamp=None, *, fill_id=Id::default(), fee=None, retry_after=0.0),
        text_signature = "(event_id, trade_id, slot_id, kind, status=None, venue_order_id=\"\", venue_client_id=\"\", side=None, asset=\"\", price=0.0, size=0.0, filled_size=0.0, remaining_size=0.0, reason=\"\", metadata=None, timestamp=None, *, fill_id=\"\", fee=None, retry_after=0.0)")]
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
    ) -> PyResult<Self> {
        let kind: KernelEventKind = enum_arg(kind, "kind")?;
        let status: Option<VenueOrderStatus> = opt_enum_arg(status, "status")?;
        Ok(PyVenueEvent {
            status_stated: status.is_some(),
            inner: VenueEvent {
                event_id,
                trade_id,
                slot_id,
                kind,
                status: status.unwrap_or_else(|| kind.implied_status()),
                venue_order_id,
                venue_client_id,
                side: opt_enum_arg(side, "side")?,
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
    #[getter]
    fn side(&self) -> Option<OrderSide> {
        self.inner.side
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
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metadata_to_py(py, &self.inner.metadata)
    }
    #[getter]
    fn timestamp(&self) -> f64 {
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
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let e = &self.inner;
        format!(
            "VenueEvent(event_id={:?}, kind={}, venue_client_id={:?}, price={}, size={}, filled_size={})",
            &*e.event_id, e.kind, &*e.venue_client_id, e.price, e.size, e.filled_size
        )
    }
}
