//! `MockVenueAdapter`: the native mock venue as a Python class.

use super::convert::enums::trade_side_of;
use super::convert::ints::{count, seed_arg};
use super::convert::numbers::{opt_real, real};
use super::convert::text::{free_text, ident, opt_ident};
use super::objects::{EventExtras, PyVenueEvent, PyVenueOrder};
use crate::mock::{MockConfig, MockVenue};
use crate::model::VenueOrder;
use crate::types::{Id, KernelEventKind};
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyclass(name = "MockVenueAdapter", module = "dita._kernel", subclass)]
pub struct PyMockVenue {
    pub inner: MockVenue,
}

pub fn events_to_py(
    py: Python<'_>,
    events: Vec<crate::model::VenueEvent>,
) -> PyResult<Vec<Py<PyVenueEvent>>> {
    events
        .into_iter()
        .map(|e| Py::new(py, PyVenueEvent::stated(e)))
        .collect()
}

/// The mock's answer about `order`, each event naming the side of the order's trade.
fn answer_about(
    py: Python<'_>,
    order: &VenueOrder,
    events: Vec<crate::model::VenueEvent>,
) -> PyResult<Vec<Py<PyVenueEvent>>> {
    let trade_side = Some(trade_side_of(order.side, order.is_entry));
    events
        .into_iter()
        .map(|e| {
            let mut ev = PyVenueEvent::stated(e);
            ev.extras = Some(Box::new(EventExtras {
                trade_side,
                raw_payload: None,
            }));
            Py::new(py, ev)
        })
        .collect()
}

#[pymethods]
impl PyMockVenue {
    #[new]
    #[pyo3(signature = (*, seed=0, fill_rate=1.0, reject_rate=0.0, partial_fill_rate=0.0, partial_fill_ratio=0.5,
        rate_limit_rate=0.0, retry_after=1.0, latency_ms=0.0, name="mock".to_string()),
        text_signature = "(*, seed=0, fill_rate=1.0, reject_rate=0.0, partial_fill_rate=0.0, partial_fill_ratio=0.5, rate_limit_rate=0.0, retry_after=1.0, latency_ms=0.0, name=\"mock\")")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = seed_arg)] seed: u64,
        #[pyo3(from_py_with = real::fill_rate)] fill_rate: f64,
        #[pyo3(from_py_with = real::reject_rate)] reject_rate: f64,
        #[pyo3(from_py_with = real::partial_fill_rate)] partial_fill_rate: f64,
        #[pyo3(from_py_with = real::partial_fill_ratio)] partial_fill_ratio: f64,
        #[pyo3(from_py_with = real::rate_limit_rate)] rate_limit_rate: f64,
        #[pyo3(from_py_with = real::retry_after)] retry_after: f64,
        #[pyo3(from_py_with = real::latency_ms)] latency_ms: f64,
        #[pyo3(from_py_with = free_text::name)] name: String,
    ) -> PyResult<Self> {
        let config = MockConfig {
            seed,
            fill_rate,
            reject_rate,
            partial_fill_rate,
            partial_fill_ratio,
            rate_limit_rate,
            retry_after,
            latency_ms,
            name,
        };
        Ok(PyMockVenue {
            inner: MockVenue::new(config)?,
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.config.name
    }

    #[getter]
    fn submitted(&self) -> u64 {
        self.inner.submitted
    }

    fn submit(
        &mut self,
        py: Python<'_>,
        order: PyRef<'_, PyVenueOrder>,
    ) -> PyResult<Vec<Py<PyVenueEvent>>> {
        answer_about(py, &order.inner, self.inner.submit(&order.inner))
    }

    /// Cancels `order`; `reason` (the original kernel's argument) becomes the cancel ack's.
    #[pyo3(signature = (order, reason=String::new()), text_signature = "($self, order, reason=\"\")")]
    fn cancel(
        &mut self,
        py: Python<'_>,
        order: PyRef<'_, PyVenueOrder>,
        #[pyo3(from_py_with = free_text::reason)] reason: String,
    ) -> PyResult<Vec<Py<PyVenueEvent>>> {
        let mut events = self.inner.cancel(&order.inner);
        if !reason.is_empty() {
            for ev in events
                .iter_mut()
                .filter(|e| e.kind == KernelEventKind::CancelAck)
            {
                ev.reason.clone_from(&reason);
            }
        }
        answer_about(py, &order.inner, events)
    }

    /// Fills what is left of a resting order at `price` (None: its own price); a limit order
    /// at its limit or better only (a worse price: ValueError, the order stays open).
    #[pyo3(signature = (client_order_id, price=None))]
    fn fill_open_order(
        &mut self,
        py: Python<'_>,
        #[pyo3(from_py_with = ident::client_order_id)] client_order_id: Id,
        #[pyo3(from_py_with = opt_real::price)] price: Option<f64>,
    ) -> PyResult<Vec<Py<PyVenueEvent>>> {
        events_to_py(py, self.inner.fill_within_limit(&client_order_id, price)?)
    }

    /// The venue's view of an order, open or recently ended (filled, canceled); None if the
    /// venue never received it. Reconciliation after a restart asks this, with the order's
    /// `asset`: an order of another asset is not the one asked for (None).
    #[pyo3(signature = (client_order_id, asset=None))]
    fn order_status(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = ident::client_order_id)] client_order_id: Id,
        #[pyo3(from_py_with = opt_ident::asset)] asset: Option<Id>,
    ) -> PyResult<Option<Py<PyVenueOrder>>> {
        self.inner
            .order_status(&client_order_id)
            .filter(|o| asset.as_ref().is_none_or(|a| o.asset == *a))
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .transpose()
    }

    /// Marks this venue's ids with `seq`, the seq of a kernel recovered from its log beside
    /// it (the kernel calls it), so they never repeat the kernel's earlier run's.
    fn resume(&mut self, #[pyo3(from_py_with = count::seq)] seq: u64) {
        self.inner.resume(seq);
    }

    fn forget_order(
        &mut self,
        #[pyo3(from_py_with = ident::client_order_id)] client_order_id: Id,
    ) -> bool {
        self.inner.forget_order(&client_order_id)
    }

    fn open_orders(&self, py: Python<'_>) -> PyResult<Vec<Py<PyVenueOrder>>> {
        self.inner
            .open_orders()
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .collect()
    }

    fn positions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let mut items: Vec<_> = self.inner.positions().collect();
        items.sort_by(|a, b| a.0.cmp(b.0));
        for (asset, qty) in items {
            d.set_item(&**asset, *qty)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let c = &self.inner.config;
        format!(
            "MockVenueAdapter(name={:?}, seed={}, fill_rate={}, reject_rate={}, partial_fill_rate={}, rate_limit_rate={})",
            c.name, c.seed, c.fill_rate, c.reject_rate, c.partial_fill_rate, c.rate_limit_rate
        )
    }
}
