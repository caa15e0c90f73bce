//! `VenueOrder`: an order the kernel sent or a venue reports, and its dict form.

use super::equality::{data_eq, equal_as_data, order_floats};
use crate::model::VenueOrder;
use crate::python::convert::enums::{enum_arg, opt_enum_arg, side_arg, trade_side_of, SideArg};
use crate::python::convert::flags::{flag, opt_flag};
use crate::python::convert::ints::slot_index_arg;
use crate::python::convert::metadata::read_only;
use crate::python::convert::numbers::real;
use crate::python::convert::text::ident;
use crate::python::convert::time::{datetime_of, opt_time, time_or_now};
use crate::types::{Id, KernelCommandType, OrderSide, OrderType, TradeSide, VenueOrderStatus};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyDict, PyFrozenSet};

type Read<T> = for<'a, 'py> fn(&'a Bound<'py, PyAny>) -> PyResult<T>;

/// An argument given under dita's name or the original kernel's: both is a TypeError, as two
/// values for one field leave the order unknown.
fn either<T>(
    (ours, name, read_ours): (Option<&Bound<'_, PyAny>>, &str, Read<T>),
    (theirs, alias, read_theirs): (Option<&Bound<'_, PyAny>>, &str, Read<T>),
) -> PyResult<Option<T>> {
    match (ours, theirs) {
        (Some(_), Some(_)) => Err(PyTypeError::new_err(format!(
            "VenueOrder() got both '{name}' and '{alias}', the original kernel's name of the same field: give one"
        ))),
        (Some(v), None) => read_ours(v).map(Some),
        (None, Some(v)) => read_theirs(v).map(Some),
        (None, None) => Ok(None),
    }
}

fn required<T>(
    ours: (Option<&Bound<'_, PyAny>>, &str, Read<T>),
    theirs: (Option<&Bound<'_, PyAny>>, &str, Read<T>),
) -> PyResult<T> {
    let (name, alias) = (ours.1, theirs.1);
    either(ours, theirs)?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "VenueOrder() missing required argument: '{name}' (or the original kernel's '{alias}')"
        ))
    })
}

/// The original kernel's `metadata`, taken when empty: an order keeps none (its trade's is its
/// slot's), and dropping a caller's entries would lose them without a word.
fn no_metadata(metadata: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let Some(metadata) = metadata else {
        return Ok(());
    };
    let dict = metadata.cast::<PyDict>().map_err(|_| {
        crate::python::convert::wrong_type("metadata: expected a dict or None", metadata)
    })?;
    if dict.is_empty() {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "invalid metadata: {} (an order keeps none: give a trade's metadata on its intent, kept on its slot)",
        metadata.repr()?
    )))
}

pub(super) fn opt_order_dict<'py>(py: Python<'py>, o: &Option<VenueOrder>) -> PyResult<Py<PyAny>> {
    Ok(match o {
        Some(o) => order_dict(py, o)?.into_any().unbind(),
        None => py.None(),
    })
}

pub fn order_dict<'py>(py: Python<'py>, o: &VenueOrder) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("client_order_id", &*o.client_order_id)?;
    d.set_item("venue_order_id", &*o.venue_order_id)?;
    d.set_item("slot_id", o.slot_id)?;
    d.set_item("trade_id", &*o.trade_id)?;
    d.set_item("asset", &*o.asset)?;
    d.set_item("side", o.side.name())?;
    d.set_item("order_type", o.order_type.name())?;
    d.set_item("price", o.price)?;
    d.set_item("reference_price", o.reference_price)?;
    d.set_item("size", o.size)?;
    d.set_item("filled_size", o.filled_size)?;
    d.set_item("avg_fill_price", o.avg_fill_price)?;
    d.set_item("status", o.status.name())?;
    d.set_item("reduce_only", o.reduce_only)?;
    d.set_item("cancel_requested", o.cancel_requested)?;
    d.set_item("created_at", o.created_at)?;
    d.set_item("leg", if o.is_entry { "ENTRY" } else { "EXIT" })?;
    Ok(d)
}

#[pyclass(name = "VenueOrder", module = "dita._kernel", frozen)]
pub struct PyVenueOrder {
    pub inner: VenueOrder,
}

#[pymethods]
impl PyVenueOrder {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...". The original kernel's names
    // (`venue_client_id`, `internal_trade_id`, `intended_size`, `average_fill_price`,
    // `metadata`) are taken as keywords, so its code builds orders unchanged.
    #[pyo3(signature = (client_order_id=None, slot_id=None, trade_id=None, asset=None, side=None,
        order_type=None, price=None, size=None, *, venue_order_id=Id::default(), reduce_only=false,
        reference_price=0.0, timestamp=None, filled_size=0.0, avg_fill_price=None, status=None,
        is_entry=None, venue_client_id=None, internal_trade_id=None, intended_size=None,
        average_fill_price=None, metadata=None),
        text_signature = "(client_order_id=None, slot_id=None, trade_id=None, asset=None, side=None, order_type=None, price=None, size=None, *, venue_order_id=\"\", reduce_only=False, reference_price=0.0, timestamp=None, filled_size=0.0, avg_fill_price=None, status=None, is_entry=None, venue_client_id=None, internal_trade_id=None, intended_size=None, average_fill_price=None, metadata=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        client_order_id: Option<&Bound<'_, PyAny>>,
        slot_id: Option<&Bound<'_, PyAny>>,
        trade_id: Option<&Bound<'_, PyAny>>,
        asset: Option<&Bound<'_, PyAny>>,
        side: Option<&Bound<'_, PyAny>>,
        order_type: Option<&Bound<'_, PyAny>>,
        price: Option<&Bound<'_, PyAny>>,
        size: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = ident::venue_order_id)] venue_order_id: Id,
        #[pyo3(from_py_with = flag::reduce_only)] reduce_only: bool,
        #[pyo3(from_py_with = real::reference_price)] reference_price: f64,
        #[pyo3(from_py_with = opt_time::timestamp)] timestamp: Option<f64>,
        #[pyo3(from_py_with = real::filled_size)] filled_size: f64,
        avg_fill_price: Option<&Bound<'_, PyAny>>,
        status: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = opt_flag::is_entry)] is_entry: Option<bool>,
        venue_client_id: Option<&Bound<'_, PyAny>>,
        internal_trade_id: Option<&Bound<'_, PyAny>>,
        intended_size: Option<&Bound<'_, PyAny>>,
        average_fill_price: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        // The original kernel's orders carry no slot, asset, type or price: built in its shape
        // (one of its names given), an order may leave them out; in dita's, they are required.
        let original_shape = [
            venue_client_id,
            internal_trade_id,
            intended_size,
            average_fill_price,
        ]
        .iter()
        .any(Option::is_some);
        let needed = |value: Option<&Bound<'_, PyAny>>, name: &str| match value {
            None if !original_shape => Err(PyTypeError::new_err(format!(
                "VenueOrder() missing required argument: '{name}'"
            ))),
            _ => Ok(()),
        };
        // A figure the checks refuse is named as the caller gave it.
        let size_field = if intended_size.is_some() {
            "intended_size"
        } else {
            "size"
        };
        let avg_fill_price_field = if average_fill_price.is_some() {
            "average_fill_price"
        } else {
            "avg_fill_price"
        };
        let client_order_id = required(
            (client_order_id, "client_order_id", ident::client_order_id),
            (venue_client_id, "venue_client_id", ident::venue_client_id),
        )?;
        needed(slot_id, "slot_id")?;
        let trade_id = required(
            (trade_id, "trade_id", ident::trade_id),
            (
                internal_trade_id,
                "internal_trade_id",
                ident::internal_trade_id,
            ),
        )?;
        needed(asset, "asset")?;
        let side = side.ok_or_else(|| {
            PyTypeError::new_err("VenueOrder() missing required argument: 'side'")
        })?;
        needed(order_type, "order_type")?;
        needed(price, "price")?;
        let size = required(
            (size, "size", real::size),
            (intended_size, "intended_size", real::intended_size),
        )?;
        let avg_fill_price = either(
            (avg_fill_price, "avg_fill_price", real::avg_fill_price),
            (
                average_fill_price,
                "average_fill_price",
                real::average_fill_price,
            ),
        )?
        .unwrap_or(0.0);
        no_metadata(metadata)?;
        // Not given: an entry unless reduce-only. An exit may go out without reduce-only, so
        // whoever copies an order (a venue's answer, a saved book) passes it on.
        let is_entry = is_entry.unwrap_or(!reduce_only);
        let side =
            match side_arg(side, "side")? {
                SideArg::Order(side) => side,
                // The original kernel's side, its trade's: the order buys or sells as its role says.
                SideArg::Trade(TradeSide::Flat) => return Err(PyValueError::new_err(
                    "invalid side: FLAT (an order buys or sells: give BUY, SELL, LONG or SHORT)",
                )),
                SideArg::Trade(trade) if is_entry => trade.entry_order_side(),
                SideArg::Trade(trade) => trade.exit_order_side(),
            };
        // Left out (the original's shape): slot 0, no asset, a MARKET order at price 0.
        let slot_id = slot_id.map(slot_index_arg).transpose()?.unwrap_or(0);
        let asset = asset.map(ident::asset).transpose()?.unwrap_or_default();
        let price = price.map(real::price).transpose()?.unwrap_or(0.0);
        let inner = VenueOrder {
            client_order_id,
            venue_order_id,
            slot_id,
            trade_id,
            asset,
            side,
            order_type: match order_type {
                Some(order_type) => enum_arg(order_type, "order_type")?,
                None => OrderType::Market,
            },
            price,
            // 0 (the default) is "none given": the price. NaN or a negative one is checked
            // below, named (taken as none given, it would hide a caller's bad figure).
            reference_price: if reference_price != 0.0 {
                reference_price
            } else {
                price
            },
            size,
            filled_size,
            avg_fill_price,
            status: opt_enum_arg(status, "status")?.unwrap_or(VenueOrderStatus::New),
            reduce_only,
            cancel_requested: false,
            created_at: time_or_now(timestamp),
            is_entry,
        };
        // Named as this constructor's arguments: the order's time is its `timestamp`.
        inner.check(|f| match f {
            "created_at" => "timestamp".to_string(),
            "size" => size_field.to_string(),
            "avg_fill_price" => avg_fill_price_field.to_string(),
            f => f.to_string(),
        })?;
        Ok(PyVenueOrder { inner })
    }

    #[getter]
    fn client_order_id(&self) -> &str {
        &self.inner.client_order_id
    }
    #[getter]
    fn venue_order_id(&self) -> &str {
        &self.inner.venue_order_id
    }
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
    /// The side of the trade the order belongs to (LONG or SHORT), as the original kernel's
    /// orders carried it: an exit of a LONG is a LONG order that sells (`order_side`).
    #[getter]
    fn side(&self) -> TradeSide {
        trade_side_of(self.inner.side, self.inner.is_entry)
    }
    /// Whether the order buys or sells.
    #[getter]
    fn order_side(&self) -> OrderSide {
        self.inner.side
    }
    #[getter]
    fn order_type(&self) -> OrderType {
        self.inner.order_type
    }
    #[getter]
    fn price(&self) -> f64 {
        self.inner.price
    }
    #[getter]
    fn reference_price(&self) -> f64 {
        self.inner.reference_price
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
    fn avg_fill_price(&self) -> f64 {
        self.inner.avg_fill_price
    }
    #[getter]
    fn status(&self) -> VenueOrderStatus {
        self.inner.status
    }
    #[getter]
    fn reduce_only(&self) -> bool {
        self.inner.reduce_only
    }
    /// Whether the order opens its slot's position: an exit may go out without reduce-only,
    /// so `reduce_only` does not tell the two apart. One made here without `is_entry` is an
    /// entry unless reduce-only.
    #[getter]
    fn is_entry(&self) -> bool {
        self.inner.is_entry
    }
    #[getter]
    fn cancel_requested(&self) -> bool {
        self.inner.cancel_requested
    }
    #[getter]
    fn created_at(&self) -> f64 {
        self.inner.created_at
    }

    // The original kernel's names of the same figures.
    /// `client_order_id`: the id the kernel gave the order, which the venue's events name.
    #[getter]
    fn venue_client_id(&self) -> &str {
        &self.inner.client_order_id
    }
    /// `trade_id`: the trade the order belongs to.
    #[getter]
    fn internal_trade_id(&self) -> &str {
        &self.inner.trade_id
    }
    /// `size`: what the order asks for.
    #[getter]
    fn intended_size(&self) -> f64 {
        self.inner.size
    }
    /// `avg_fill_price`: the volume-weighted price of what filled (0 before a fill).
    #[getter]
    fn average_fill_price(&self) -> f64 {
        self.inner.avg_fill_price
    }

    // The original kernel's venue got the intent in `submit`: these of its names are true of
    // the order the intent became, so an adapter written against it reads them.
    /// ENTER for an entry, EXIT for an exit.
    #[getter]
    fn action(&self) -> KernelCommandType {
        if self.inner.is_entry {
            KernelCommandType::Enter
        } else {
            KernelCommandType::Exit
        }
    }
    /// `size`: what the order asks for (its intent's size, to the lot step).
    #[getter]
    fn target_size(&self) -> f64 {
        self.inner.size
    }
    /// `price` of a LIMIT order (to the tick); 0 for a MARKET order, as an intent's.
    #[getter]
    fn limit_price(&self) -> f64 {
        match self.inner.order_type {
            OrderType::Limit => self.inner.price,
            OrderType::Market => 0.0,
        }
    }
    /// `created_at` (its intent's time) as a UTC datetime.
    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        datetime_of(py, self.inner.created_at, "created_at")
    }
    /// Empty and read-only: dita keeps no free-form data on an order (its trade's is the
    /// slot's `metadata`), so an entry written in place would be lost.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only(PyDict::new(py))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        order_dict(py, &self.inner)
    }

    /// Equal to an order of the same fields, as the original's data class was: a slot's
    /// working order read twice is one order.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        data_eq(other, |o: &Bound<'_, PyVenueOrder>| {
            Ok(equal_as_data(&o.get().inner, &self.inner, order_floats))
        })
    }

    /// Of its ids, which equal orders share.
    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        let o = &self.inner;
        (&*o.client_order_id, &*o.trade_id, o.slot_id)
            .into_pyobject(py)?
            .hash()
    }

    fn __repr__(&self) -> String {
        let o = &self.inner;
        format!(
            "VenueOrder(client_order_id={:?}, {} {} {} {} @ {}, filled={}, status={})",
            &*o.client_order_id,
            o.side,
            o.order_type,
            o.size,
            &*o.asset,
            o.price,
            o.filled_size,
            o.status
        )
    }
}

/// Copies of kernel orders as Python objects.
pub fn orders_to_py(py: Python<'_>, orders: Vec<&VenueOrder>) -> PyResult<Vec<Py<PyVenueOrder>>> {
    orders
        .into_iter()
        .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
        .collect()
}

/// The order statuses after which a venue sends nothing more for the order by rule (a late
/// fill can still come; the kernel applies it): the one definition Python uses.
pub fn terminal_order_statuses(py: Python<'_>) -> PyResult<Bound<'_, PyFrozenSet>> {
    let terminal: Vec<&str> = VenueOrderStatus::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.name())
        .collect();
    PyFrozenSet::new(py, &terminal)
}
