//! Native Python classes for the kernel's data: built once at the boundary, read lazily.

use super::convert::{
    details::*, enums::*, flags::*, ints::*, metadata::*, numbers::*, text::*, time::*,
};
use crate::model::*;
use crate::types::*;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

fn opt_order<'py>(py: Python<'py>, o: &Option<VenueOrder>) -> PyResult<Py<PyAny>> {
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

/// A slot's unrealized PnL as Python reads it: a SHORT marked at its entry price holds -0.0
/// (-1 times a zero move), which printed as "-0.0" and sorted before 0.0 in the projection's
/// SQL (Java orders -0.0 first). Shown as 0.0; the kernel's state keeps its bits, which its
/// log's replay compares.
fn shown_pnl(pnl: f64) -> f64 {
    pnl + 0.0
}

pub fn slot_dict<'py>(py: Python<'py>, s: &TradeSlot) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("slot_id", s.slot_id)?;
    d.set_item("trade_id", &*s.trade_id)?;
    d.set_item("asset", &*s.asset)?;
    d.set_item("side", s.side.name())?;
    d.set_item("entry_price", s.entry_price)?;
    d.set_item("size", s.size)?;
    d.set_item("initial_size", s.initial_size)?;
    d.set_item("leverage", s.leverage)?;
    d.set_item("entry_time", s.entry_time)?;
    d.set_item("unrealized_pnl", shown_pnl(s.unrealized_pnl))?;
    d.set_item("realized_pnl", s.realized_pnl)?;
    d.set_item("fees_paid", s.fees_paid)?;
    d.set_item("closed", s.closed)?;
    d.set_item("exit_leg_ratios", PyList::new(py, &s.exit_leg_ratios)?)?;
    d.set_item("active_leg_index", s.active_leg_index)?;
    // What exit fills took of the active leg (rules 21); read on load from rules 22 (before,
    // a loaded slot's leg started afresh).
    d.set_item("leg_taken", s.leg_taken)?;
    d.set_item("active_entry_order", opt_order(py, &s.active_entry_order)?)?;
    d.set_item("active_exit_order", opt_order(py, &s.active_exit_order)?)?;
    d.set_item("fsm_state", s.fsm_state.name())?;
    d.set_item("close_reason", &s.close_reason)?;
    d.set_item("last_event_time", s.last_event_time)?;
    d.set_item("mark_price", s.mark_price)?;
    // What the slot counts towards the notional caps; the kernel computes it (not read on load).
    d.set_item("committed_notional", s.committed_notional)?;
    d.set_item("metadata", metadata_to_py(py, &s.metadata)?)?;
    Ok(d)
}

// ----- KernelIntent ---------------------------------------------------------------------

#[pyclass(name = "KernelIntent", module = "dita._kernel", frozen)]
pub struct PyIntent {
    pub inner: Intent,
}

#[pymethods]
impl PyIntent {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...".
    #[pyo3(signature = (intent_id, trade_id, slot_id, asset, side, action, reference_price, target_size,
        leverage=1.0, exit_leg_ratios=None, order_type=None, limit_price=0.0, reason=String::new(),
        metadata=None, timestamp=None),
        text_signature = "(intent_id, trade_id, slot_id, asset, side, action, reference_price, target_size, leverage=1.0, exit_leg_ratios=None, order_type=None, limit_price=0.0, reason=\"\", metadata=None, timestamp=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = ident::intent_id)] intent_id: Id,
        #[pyo3(from_py_with = ident::trade_id)] trade_id: Id,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        side: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = real::reference_price)] reference_price: f64,
        #[pyo3(from_py_with = real::target_size)] target_size: f64,
        #[pyo3(from_py_with = real::leverage)] leverage: f64,
        #[pyo3(from_py_with = opt_real_list::exit_leg_ratios)] exit_leg_ratios: Option<Vec<f64>>,
        order_type: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = real::limit_price)] limit_price: f64,
        #[pyo3(from_py_with = words::reason)] reason: String,
        metadata: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = opt_real::timestamp)] timestamp: Option<f64>,
    ) -> PyResult<Self> {
        Ok(PyIntent {
            inner: Intent {
                intent_id,
                trade_id,
                slot_id,
                asset,
                side: enum_arg(side, "side")?,
                action: enum_arg(action, "action")?,
                reference_price,
                target_size,
                leverage,
                exit_leg_ratios: legs(
                    exit_leg_ratios.unwrap_or_else(|| vec![1.0]),
                    "exit_leg_ratios",
                )?,
                order_type: opt_enum_arg(order_type, "order_type")?.unwrap_or(OrderType::Market),
                limit_price,
                reason,
                metadata: metadata_arg(metadata, "metadata")?,
                timestamp: time_or_now(timestamp),
            },
        })
    }

    #[getter]
    fn intent_id(&self) -> &str {
        &self.inner.intent_id
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
    fn asset(&self) -> &str {
        &self.inner.asset
    }
    #[getter]
    fn side(&self) -> TradeSide {
        self.inner.side
    }
    #[getter]
    fn action(&self) -> KernelCommandType {
        self.inner.action
    }
    #[getter]
    fn reference_price(&self) -> f64 {
        self.inner.reference_price
    }
    #[getter]
    fn target_size(&self) -> f64 {
        self.inner.target_size
    }
    #[getter]
    fn leverage(&self) -> f64 {
        self.inner.leverage
    }
    #[getter]
    fn exit_leg_ratios<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.exit_leg_ratios)
    }
    #[getter]
    fn order_type(&self) -> OrderType {
        self.inner.order_type
    }
    #[getter]
    fn limit_price(&self) -> f64 {
        self.inner.limit_price
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

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let i = &self.inner;
        let d = PyDict::new(py);
        d.set_item("intent_id", &*i.intent_id)?;
        d.set_item("trade_id", &*i.trade_id)?;
        d.set_item("slot_id", i.slot_id)?;
        d.set_item("asset", &*i.asset)?;
        d.set_item("side", i.side.name())?;
        d.set_item("action", i.action.name())?;
        d.set_item("reference_price", i.reference_price)?;
        d.set_item("target_size", i.target_size)?;
        d.set_item("leverage", i.leverage)?;
        d.set_item("exit_leg_ratios", PyTuple::new(py, &i.exit_leg_ratios)?)?;
        d.set_item("order_type", i.order_type.name())?;
        d.set_item("limit_price", i.limit_price)?;
        d.set_item("reason", &i.reason)?;
        d.set_item("metadata", metadata_to_py(py, &i.metadata)?)?;
        d.set_item("timestamp", i.timestamp)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let i = &self.inner;
        format!(
            "KernelIntent(intent_id={:?}, action={}, slot_id={}, asset={:?}, side={}, target_size={}, reference_price={})",
            &*i.intent_id, i.action, i.slot_id, &*i.asset, i.side, i.target_size, i.reference_price
        )
    }
}

// ----- VenueEvent -----------------------------------------------------------------------

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
        #[pyo3(from_py_with = words::reason)] reason: String,
        metadata: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = opt_real::timestamp)] timestamp: Option<f64>,
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

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
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

// ----- AccountEvent ---------------------------------------------------------------------

#[pyclass(name = "AccountEvent", module = "dita._kernel", frozen)]
pub struct PyAccountEvent {
    pub inner: AccountEvent,
}

#[pymethods]
impl PyAccountEvent {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...".
    #[pyo3(signature = (event_id, kind, *, asset=Id::default(), amount=0.0, fee=0.0, fill_id=Id::default(), wallet_balance=None,
        available_margin=None, used_margin=None, maint_margin=None, timestamp=None),
        text_signature = "(event_id, kind, *, asset=\"\", amount=0.0, fee=0.0, fill_id=\"\", wallet_balance=None, available_margin=None, used_margin=None, maint_margin=None, timestamp=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = ident::event_id)] event_id: Id,
        kind: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        #[pyo3(from_py_with = real::amount)] amount: f64,
        #[pyo3(from_py_with = real::fee)] fee: f64,
        #[pyo3(from_py_with = ident::fill_id)] fill_id: Id,
        #[pyo3(from_py_with = opt_real::wallet_balance)] wallet_balance: Option<f64>,
        #[pyo3(from_py_with = opt_real::available_margin)] available_margin: Option<f64>,
        #[pyo3(from_py_with = opt_real::used_margin)] used_margin: Option<f64>,
        #[pyo3(from_py_with = opt_real::maint_margin)] maint_margin: Option<f64>,
        #[pyo3(from_py_with = opt_real::timestamp)] timestamp: Option<f64>,
    ) -> PyResult<Self> {
        Ok(PyAccountEvent {
            inner: AccountEvent {
                event_id,
                kind: enum_arg(kind, "kind")?,
                asset,
                amount,
                fee,
                fill_id,
                wallet_balance,
                available_margin,
                used_margin,
                maint_margin,
                timestamp: time_or_now(timestamp),
            },
        })
    }

    #[getter]
    fn event_id(&self) -> &str {
        &self.inner.event_id
    }
    #[getter]
    fn kind(&self) -> AccountEventKind {
        self.inner.kind
    }
    #[getter]
    fn asset(&self) -> &str {
        &self.inner.asset
    }
    #[getter]
    fn amount(&self) -> f64 {
        self.inner.amount
    }
    #[getter]
    fn fee(&self) -> f64 {
        self.inner.fee
    }
    #[getter]
    fn fill_id(&self) -> &str {
        &self.inner.fill_id
    }
    #[getter]
    fn wallet_balance(&self) -> Option<f64> {
        self.inner.wallet_balance
    }
    #[getter]
    fn available_margin(&self) -> Option<f64> {
        self.inner.available_margin
    }
    #[getter]
    fn used_margin(&self) -> Option<f64> {
        self.inner.used_margin
    }
    #[getter]
    fn maint_margin(&self) -> Option<f64> {
        self.inner.maint_margin
    }
    #[getter]
    fn timestamp(&self) -> f64 {
        self.inner.timestamp
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.inner;
        let d = PyDict::new(py);
        d.set_item("event_id", &*e.event_id)?;
        d.set_item("kind", e.kind.name())?;
        d.set_item("asset", &*e.asset)?;
        d.set_item("amount", e.amount)?;
        d.set_item("fee", e.fee)?;
        d.set_item("fill_id", &*e.fill_id)?;
        d.set_item("wallet_balance", e.wallet_balance)?;
        d.set_item("available_margin", e.available_margin)?;
        d.set_item("used_margin", e.used_margin)?;
        d.set_item("maint_margin", e.maint_margin)?;
        d.set_item("timestamp", e.timestamp)?;
        Ok(d)
    }
}

// ----- VenueOrder -----------------------------------------------------------------------

#[pyclass(name = "VenueOrder", module = "dita._kernel", frozen)]
pub struct PyVenueOrder {
    pub inner: VenueOrder,
}

#[pymethods]
impl PyVenueOrder {
    #[new]
    // `text_signature`: the defaults as Python shows them; the text arguments' defaults in
    // `signature` are Rust values, which it would show as "...".
    #[pyo3(signature = (client_order_id, slot_id, trade_id, asset, side, order_type, price, size, *,
        venue_order_id=Id::default(), reduce_only=false, reference_price=0.0, timestamp=None, filled_size=0.0,
        avg_fill_price=0.0, status=None, is_entry=None),
        text_signature = "(client_order_id, slot_id, trade_id, asset, side, order_type, price, size, *, venue_order_id=\"\", reduce_only=False, reference_price=0.0, timestamp=None, filled_size=0.0, avg_fill_price=0.0, status=None, is_entry=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        #[pyo3(from_py_with = ident::client_order_id)] client_order_id: Id,
        #[pyo3(from_py_with = slot_index_arg)] slot_id: usize,
        #[pyo3(from_py_with = ident::trade_id)] trade_id: Id,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        side: &Bound<'_, PyAny>,
        order_type: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = real::price)] price: f64,
        #[pyo3(from_py_with = real::size)] size: f64,
        #[pyo3(from_py_with = ident::venue_order_id)] venue_order_id: Id,
        #[pyo3(from_py_with = flag::reduce_only)] reduce_only: bool,
        #[pyo3(from_py_with = real::reference_price)] reference_price: f64,
        #[pyo3(from_py_with = opt_real::timestamp)] timestamp: Option<f64>,
        #[pyo3(from_py_with = real::filled_size)] filled_size: f64,
        #[pyo3(from_py_with = real::avg_fill_price)] avg_fill_price: f64,
        status: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = opt_flag::is_entry)] is_entry: Option<bool>,
    ) -> PyResult<Self> {
        let inner = VenueOrder {
            client_order_id,
            venue_order_id,
            slot_id,
            trade_id,
            asset,
            side: enum_arg(side, "side")?,
            order_type: enum_arg(order_type, "order_type")?,
            price,
            // 0 (the default) is "none given": the price. NaN or a negative one is checked
            // below, named (taken as none given, it hid a caller's bad figure).
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
            // Not given: an entry unless reduce-only. Since rules 24 an exit may go out plain,
            // so whoever copies an order (a venue's answer, a saved book) passes it on.
            is_entry: is_entry.unwrap_or(!reduce_only),
        };
        // Named as this constructor's arguments: the order's time is its `timestamp`.
        inner.check(|f| match f {
            "created_at" => "timestamp".to_string(),
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
    #[getter]
    fn side(&self) -> OrderSide {
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
    /// Whether the order opens its slot's position: an exit may go out without reduce-only
    /// (rules 24), so `reduce_only` does not tell the two apart. One made here without
    /// `is_entry` is an entry unless reduce-only.
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

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        order_dict(py, &self.inner)
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

// ----- KernelTransition -----------------------------------------------------------------

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

// ----- KernelOutcome --------------------------------------------------------------------

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

// ----- TradeSlot ------------------------------------------------------------------------

#[pyclass(name = "TradeSlot", module = "dita._kernel", frozen)]
pub struct PySlot {
    pub inner: TradeSlot,
}

#[pymethods]
impl PySlot {
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
    #[getter]
    fn side(&self) -> TradeSide {
        self.inner.side
    }
    #[getter]
    fn entry_price(&self) -> f64 {
        self.inner.entry_price
    }
    #[getter]
    fn size(&self) -> f64 {
        self.inner.size
    }
    #[getter]
    fn initial_size(&self) -> f64 {
        self.inner.initial_size
    }
    #[getter]
    fn leverage(&self) -> f64 {
        self.inner.leverage
    }
    #[getter]
    fn entry_time(&self) -> f64 {
        self.inner.entry_time
    }
    #[getter]
    fn unrealized_pnl(&self) -> f64 {
        shown_pnl(self.inner.unrealized_pnl)
    }
    #[getter]
    fn realized_pnl(&self) -> f64 {
        self.inner.realized_pnl
    }
    #[getter]
    fn fees_paid(&self) -> f64 {
        self.inner.fees_paid
    }
    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed
    }
    #[getter]
    fn exit_leg_ratios<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.exit_leg_ratios)
    }
    #[getter]
    fn active_leg_index(&self) -> usize {
        self.inner.active_leg_index
    }
    #[getter]
    fn active_entry_order(&self, py: Python<'_>) -> PyResult<Option<Py<PyVenueOrder>>> {
        self.inner
            .active_entry_order
            .as_ref()
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .transpose()
    }
    #[getter]
    fn active_exit_order(&self, py: Python<'_>) -> PyResult<Option<Py<PyVenueOrder>>> {
        self.inner
            .active_exit_order
            .as_ref()
            .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
            .transpose()
    }
    #[getter]
    fn fsm_state(&self) -> TradeStage {
        self.inner.fsm_state
    }
    #[getter]
    fn close_reason(&self) -> &str {
        &self.inner.close_reason
    }
    #[getter]
    fn last_event_time(&self) -> f64 {
        self.inner.last_event_time
    }
    #[getter]
    fn mark_price(&self) -> f64 {
        self.inner.mark_price
    }
    #[getter]
    fn committed_notional(&self) -> f64 {
        self.inner.committed_notional
    }
    #[getter]
    fn leg_taken(&self) -> f64 {
        self.inner.leg_taken
    }
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metadata_to_py(py, &self.inner.metadata)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        slot_dict(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "TradeSlot(slot_id={}, fsm_state={}, asset={:?}, side={}, size={}, entry_price={})",
            s.slot_id, s.fsm_state, &*s.asset, s.side, s.size, s.entry_price
        )
    }
}
