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

// Each method reads its arguments before it takes the mock and lets the mock go before it
// makes Python objects: reading a number (a Fraction's __float__) or allocating may run Python,
// where another thread or the kernel may call into the mock, which must not find it held. A
// kernel holds its mock through an input; a method called meanwhile raises RuntimeError.
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
        slf: &Bound<'_, Self>,
        order: PyRef<'_, PyVenueOrder>,
    ) -> PyResult<Vec<Py<PyVenueEvent>>> {
        let events = slf.try_borrow_mut()?.inner.submit(&order.inner);
        answer_about(slf.py(), &order.inner, events)
    }

    /// Cancels `order`; `reason` (the original kernel's argument) becomes the cancel ack's.
    #[pyo3(signature = (order, reason=String::new()), text_signature = "($self, order, reason=\"\")")]
    fn cancel(
        slf: &Bound<'_, Self>,
        order: PyRef<'_, PyVenueOrder>,
        #[pyo3(from_py_with = free_text::reason)] reason: String,
    ) -> PyResult<Vec<Py<PyVenueEvent>>> {
        let mut events = slf.try_borrow_mut()?.inner.cancel(&order.inner);
        if !reason.is_empty() {
            for ev in events
                .iter_mut()
                .filter(|e| e.kind == KernelEventKind::CancelAck)
            {
                ev.reason.clone_from(&reason);
            }
        }
        answer_about(slf.py(), &order.inner, events)
    }

    /// Fills what is left of a resting order at `price` (None: its own price); a limit order
    /// at its limit or better only (a worse price: ValueError, the order stays open).
    #[pyo3(signature = (client_order_id, price=None))]
    fn fill_open_order(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::client_order_id)] client_order_id: Id,
        #[pyo3(from_py_with = opt_real::price)] price: Option<f64>,
    ) -> PyResult<Vec<Py<PyVenueEvent>>> {
        let events = slf
            .try_borrow_mut()?
            .inner
            .fill_within_limit(&client_order_id, price)?;
        events_to_py(slf.py(), events)
    }

    /// The venue's view of an order, open or recently ended (filled, canceled); None if the
    /// venue never received it. Reconciliation after a restart asks this, with the order's
    /// `asset`: an order of another asset is not the one asked for (None).
    #[pyo3(signature = (client_order_id, asset=None))]
    fn order_status(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::client_order_id)] client_order_id: Id,
        #[pyo3(from_py_with = opt_ident::asset)] asset: Option<Id>,
    ) -> PyResult<Option<Py<PyVenueOrder>>> {
        let order = slf
            .try_borrow()?
            .inner
            .order_status(&client_order_id)
            .filter(|o| asset.as_ref().is_none_or(|a| o.asset == *a))
            .cloned();
        order
            .map(|inner| Py::new(slf.py(), PyVenueOrder { inner }))
            .transpose()
    }

    /// Marks this venue's ids with `seq`, the seq of a kernel recovered from its log beside
    /// it (the kernel calls it), so they never repeat the kernel's earlier run's.
    fn resume(slf: &Bound<'_, Self>, #[pyo3(from_py_with = count::seq)] seq: u64) -> PyResult<()> {
        slf.try_borrow_mut()?.inner.resume(seq);
        Ok(())
    }

    fn forget_order(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::client_order_id)] client_order_id: Id,
    ) -> PyResult<bool> {
        Ok(slf.try_borrow_mut()?.inner.forget_order(&client_order_id))
    }

    fn open_orders(slf: &Bound<'_, Self>) -> PyResult<Vec<Py<PyVenueOrder>>> {
        let orders: Vec<VenueOrder> = slf.try_borrow()?.inner.open_orders().cloned().collect();
        orders
            .into_iter()
            .map(|inner| Py::new(slf.py(), PyVenueOrder { inner }))
            .collect()
    }

    fn positions<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let mut items: Vec<(Id, f64)> = slf
            .try_borrow()?
            .inner
            .positions()
            .map(|(asset, qty)| (asset.clone(), *qty))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let d = PyDict::new(slf.py());
        for (asset, qty) in items {
            d.set_item(&*asset, qty)?;
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
