//! `TradeSlot`: one position's slot, and its dict form.

use super::equality::{data_eq, equal_as_data, slot_floats};
use super::order::{opt_order_dict, order_dict};
use super::PyVenueOrder;
use crate::fsm::is_free;
use crate::kernel::check_slot_fields;
use crate::model::{RecentRing, TradeSlot, VenueOrder};
use crate::python::convert::dicts::{as_dict, dict_items};
use crate::python::convert::enums::enum_arg;
use crate::python::convert::flags::bool_arg;
use crate::python::convert::ints::{index_arg, int_arg, slot_index_arg};
use crate::python::convert::metadata::{metadata_arg, metadata_to_py, read_only_metadata};
use crate::python::convert::numbers::{float_arg, leg_ratios, not_a_list};
use crate::python::convert::text::{bounded_text, named_id, str_arg};
use crate::python::convert::time::{opt_datetime_of, seconds_arg};
use crate::python::convert::wrong_type;
use crate::types::{fingerprint, Id, TradeSide, TradeStage};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyDict, PyList, PyString, PyTuple};

/// A slot's unrealized PnL as Python reads it: a SHORT marked at its entry price holds -0.0
/// (-1 times a zero move), which prints as "-0.0" and sorts before 0.0 in the projection's
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
    // What exit fills took of the active leg; read back on load, so a loaded slot's leg goes
    // on where it stood.
    d.set_item("leg_taken", s.leg_taken)?;
    d.set_item(
        "active_entry_order",
        opt_order_dict(py, &s.active_entry_order)?,
    )?;
    d.set_item(
        "active_exit_order",
        opt_order_dict(py, &s.active_exit_order)?,
    )?;
    d.set_item("fsm_state", s.fsm_state.name())?;
    d.set_item("close_reason", &s.close_reason)?;
    d.set_item("last_event_time", s.last_event_time)?;
    d.set_item("mark_price", s.mark_price)?;
    // What the slot counts towards the notional caps; the kernel computes it (not read on load).
    d.set_item("committed_notional", s.committed_notional)?;
    d.set_item("metadata", metadata_to_py(py, &s.metadata)?)?;
    Ok(d)
}

#[pyclass(name = "TradeSlot", module = "dita._kernel", frozen)]
pub struct PySlot {
    pub inner: TradeSlot,
    /// Whether the kernel offered the slot for a new trade when it was read (`free_slot`): a
    /// free stage, and no fill the venue said happened still awaited.
    pub free: bool,
    /// The share of its initial size the kernel's next leg exit on the slot closed when it was
    /// read (`Kernel::next_exit_ratio`).
    pub next_exit: Option<f64>,
}

/// Field `name`'s `value` as a slot dict holds it, where the original kernel's slot held it
/// otherwise: an order as its dict, a time not given (None) as 0; exit legs not given (None)
/// are one leg, as an intent's.
fn as_dict_field<'py>(name: &str, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    match name {
        "entry_time" | "last_event_time" if value.is_none() => {
            Ok(0.0_f64.into_pyobject(py)?.into_any())
        }
        "exit_leg_ratios" if value.is_none() => Ok(PyList::new(py, [1.0])?.into_any()),
        "active_entry_order" | "active_exit_order" => match value.cast::<PyVenueOrder>() {
            Ok(order) => Ok(order_dict(py, &order.get().inner)?.into_any()),
            Err(_) => Ok(value),
        },
        _ => Ok(value),
    }
}

#[pymethods]
impl PySlot {
    /// A slot from the fields of its dict as `load_slots` reads them, each checked as it checks
    /// them (`check_slot_fields`); a field not given is a free slot's. How the fields fit
    /// together (its stage against its size and orders) is checked when a kernel loads it.
    #[new]
    #[pyo3(signature = (slot_id, **fields),
        text_signature = "(slot_id, *, trade_id=\"\", asset=\"\", side=\"FLAT\", entry_price=0.0, size=0.0, initial_size=0.0, leverage=1.0, entry_time=None, unrealized_pnl=0.0, realized_pnl=0.0, fees_paid=0.0, closed=False, exit_leg_ratios=None, active_leg_index=0, leg_taken=0.0, active_entry_order=None, active_exit_order=None, fsm_state=\"IDLE\", close_reason=\"\", last_event_time=None, mark_price=0.0, metadata=None)")]
    fn new(
        py: Python<'_>,
        #[pyo3(from_py_with = slot_index_arg)] slot_id: usize,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let d = slot_dict(py, &TradeSlot::new(slot_id))?;
        for (name, value) in fields.map(dict_items).transpose()?.unwrap_or_default() {
            let name: String = name.extract()?;
            if !WRITABLE_SLOT_FIELDS.contains(&name.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "TradeSlot() got an unexpected keyword argument '{name}': a slot is built \
                     from slot_id, {} (a kernel computes the rest of a slot's dict)",
                    WRITABLE_SLOT_FIELDS.join(", ")
                )));
            }
            d.set_item(&name, as_dict_field(&name, value)?)?;
        }
        let inner = read_slot(&d, slot_id, &|name| name.to_string())?;
        check_slot_fields(&inner, |name| name.to_string())?;
        Ok(PySlot {
            free: is_free(inner.fsm_state),
            // No kernel, no market rules to size an exit by: the active leg's share, as the
            // original's slot said.
            next_exit: inner.exit_leg_ratios.get(inner.active_leg_index).copied(),
            inner,
        })
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
    /// When the slot's trade was entered (its ENTER's time), in UTC; None while it holds none
    /// (the original kernel's form: `entry_time_s` holds the seconds).
    #[getter]
    fn entry_time<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDateTime>>> {
        opt_datetime_of(py, self.inner.entry_time, "entry_time")
    }
    /// `entry_time` in seconds since the Unix epoch, 0 while the slot holds no trade.
    #[getter]
    fn entry_time_s(&self) -> f64 {
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
    /// When the slot's last event came, in UTC; None before one (`last_event_time_s` holds
    /// the seconds).
    #[getter]
    fn last_event_time<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDateTime>>> {
        opt_datetime_of(py, self.inner.last_event_time, "last_event_time")
    }
    /// `last_event_time` in seconds since the Unix epoch, 0 before the first event.
    #[getter]
    fn last_event_time_s(&self) -> f64 {
        self.inner.last_event_time
    }
    /// The price the slot was last marked at (0 before a mark). `mark_price(price)` is the
    /// original kernel's method of its live view (`ExecutionKernel.slot`), which marks it.
    #[getter]
    fn last_mark_price(&self) -> f64 {
        self.inner.mark_price
    }
    /// The event ids the slot remembers having applied, asked with `in`.
    #[getter]
    fn seen_event_ids(&self) -> PySeenEventIds {
        PySeenEventIds {
            seen: self.inner.seen_events.clone(),
        }
    }
    #[getter]
    fn committed_notional(&self) -> f64 {
        self.inner.committed_notional
    }
    #[getter]
    fn leg_taken(&self) -> f64 {
        self.inner.leg_taken
    }
    /// Read-only, as an intent's: a change made to it would be lost (the slot is a copy);
    /// `ExecutionKernel.set_slot_metadata` or the live view's `metadata` changes the kernel's.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        read_only_metadata(py, &self.inner.metadata)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        slot_dict(py, &self.inner)
    }

    /// Whether the slot takes a new trade: what `free_slot()` offers.
    fn is_free(&self) -> bool {
        self.free
    }

    /// Whether the slot holds a position (what `open_positions` counts).
    fn is_open(&self) -> bool {
        self.inner.size > 0.0
    }

    /// The share of the initial size the kernel's next leg exit closed when the slot was read:
    /// its size as the EXIT sizes it (its leg's share, less what exits took of it; the whole
    /// position for the last leg or past the legs, or where the rest would be below the
    /// venue's floor), over the initial size. A slot holding nothing: its active leg's ratio,
    /// None past its legs.
    fn next_exit_ratio(&self) -> Option<f64> {
        self.next_exit
    }

    /// Equal to a slot of the same fields a caller sets, as the original's data class was:
    /// those of `to_dict()` but `committed_notional`, which the kernel computes from them. A
    /// kernel's view of a slot (`SlotView`) answers for itself.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        data_eq(other, |o: &Bound<'_, PySlot>| {
            let (a, b) = (settable(&self.inner), settable(&o.get().inner));
            Ok(equal_as_data(&a, &b, slot_floats))
        })
    }

    /// Its slot id, which equal slots share, and a kernel's view of the slot (`SlotView`),
    /// which equals a copy of the slot as it is.
    fn __hash__(&self) -> isize {
        self.inner.slot_id as isize
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "TradeSlot(slot_id={}, fsm_state={}, asset={:?}, side={}, size={}, entry_price={})",
            s.slot_id, s.fsm_state, &*s.asset, s.side, s.size, s.entry_price
        )
    }
}

/// `s` as a caller sets it: what the kernel keeps beside a slot's fields (its commitment, the
/// event and fill ids it saw, its working exit's reason, its exempt close) as a fresh slot's.
fn settable(s: &TradeSlot) -> TradeSlot {
    let fresh = TradeSlot::new(s.slot_id);
    TradeSlot {
        committed_notional: fresh.committed_notional,
        seen_events: fresh.seen_events,
        seen_fills: fresh.seen_fills,
        exit_reason: fresh.exit_reason,
        exempt_close_sent: fresh.exempt_close_sent,
        ..s.clone()
    }
}

/// The event ids a slot remembers having applied (the latest 64, and more of its current
/// trade): a duplicate of one is refused. The slot keeps their fingerprints, not the ids, so
/// the memory costs no text: `event_id in seen_event_ids` answers, listing them cannot.
#[pyclass(name = "SeenEventIds", module = "dita._kernel", frozen)]
pub struct PySeenEventIds {
    seen: RecentRing,
}

#[pymethods]
impl PySeenEventIds {
    fn __contains__(&self, event_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(text) = event_id.cast::<PyString>() else {
            return Ok(false);
        };
        Ok(self.seen.contains(fingerprint(text.to_str()?)))
    }

    /// How many of the latest (up to 64) the slot remembers; its trade's older ones are
    /// still answered by `in`.
    fn __len__(&self) -> usize {
        self.seen.len()
    }

    fn __iter__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "a slot remembers fingerprints of the event ids it applied, not the ids: ask \
             `event_id in slot.seen_event_ids`",
        ))
    }

    fn __repr__(&self) -> String {
        format!("SeenEventIds({} remembered)", self.seen.len())
    }
}

/// A slot from its dict form (as `slots()` writes it), every field checked and named; an
/// object that is no mapping by its `to_dict()` (a `TradeSlot`, a slot view).
pub fn slot_from_dict(obj: &Bound<'_, PyAny>, index: usize) -> PyResult<TradeSlot> {
    let not_a_dict = || wrong_type(format_args!("slots[{index}] must be a dict"), obj);
    let d = match as_dict(obj)? {
        Some(d) => d,
        None if obj.hasattr("to_dict")? => {
            as_dict(&obj.call_method0("to_dict")?)?.ok_or_else(not_a_dict)?
        }
        None => return Err(not_a_dict()),
    };
    read_slot(&d, index, &|name| format!("slots[{index}].{name}"))
}

/// The fields of a slot's order `value`: a dict, or a `VenueOrder` (a slot view's or a
/// `TradeSlot`'s, as they read) or another object by its `to_dict()`; `field` names it on error.
fn order_fields<'py>(value: &Bound<'py, PyAny>, field: &str) -> PyResult<Bound<'py, PyDict>> {
    if let Ok(order) = value.cast::<PyVenueOrder>() {
        return order_dict(value.py(), &order.get().inner);
    }
    let not_an_order = || {
        wrong_type(
            format_args!("{field} must be a VenueOrder, a dict or None"),
            value,
        )
    };
    match as_dict(value)? {
        Some(d) => Ok(d),
        None if value.hasattr("to_dict")? => {
            as_dict(&value.call_method0("to_dict")?)?.ok_or_else(not_an_order)
        }
        None => Err(not_an_order()),
    }
}

/// Slot `index` from the fields of dict `d`, each checked and named on error as `field` names
/// it: what `load_slots` and `TradeSlot(...)` read.
fn read_slot(
    d: &Bound<'_, PyDict>,
    index: usize,
    field: &dyn Fn(&str) -> String,
) -> PyResult<TradeSlot> {
    let get = |name: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(name)?
            .ok_or_else(|| PyValueError::new_err(format!("missing {}", field(name))))
    };
    let num = |name: &str| -> PyResult<f64> { float_arg(&get(name)?, &field(name)) };
    let order = |name: &str| -> PyResult<Option<VenueOrder>> {
        let v = get(name)?;
        if v.is_none() {
            return Ok(None);
        }
        let od = &order_fields(&v, &field(name))?;
        let oget = |k: &str| -> PyResult<Bound<'_, PyAny>> {
            od.get_item(k)?
                .ok_or_else(|| PyValueError::new_err(format!("missing {}.{k}", field(name))))
        };
        let onum =
            |k: &str| -> PyResult<f64> { float_arg(&oget(k)?, &format!("{}.{k}", field(name))) };
        let oid =
            |k: &str| -> PyResult<Id> { named_id(&oget(k)?, &format!("{}.{k}", field(name))) };
        let obool =
            |k: &str| -> PyResult<bool> { bool_arg(&oget(k)?, &format!("{}.{k}", field(name))) };
        Ok(Some(VenueOrder {
            client_order_id: oid("client_order_id")?,
            venue_order_id: oid("venue_order_id")?,
            slot_id: index,
            trade_id: oid("trade_id")?,
            asset: oid("asset")?,
            side: enum_arg(&oget("side")?, &format!("{}.side", field(name)))?,
            order_type: enum_arg(&oget("order_type")?, &format!("{}.order_type", field(name)))?,
            price: onum("price")?,
            reference_price: onum("reference_price")?,
            size: onum("size")?,
            filled_size: onum("filled_size")?,
            avg_fill_price: onum("avg_fill_price")?,
            status: enum_arg(&oget("status")?, &format!("{}.status", field(name)))?,
            reduce_only: obool("reduce_only")?,
            cancel_requested: obool("cancel_requested")?,
            created_at: seconds_arg(&oget("created_at")?, &format!("{}.created_at", field(name)))?,
            is_entry: name == "active_entry_order",
        }))
    };
    let slot_id = int_arg(&get("slot_id")?, &field("slot_id"))?;
    if slot_id != index as i64 {
        return Err(PyValueError::new_err(format!(
            "invalid {}: {slot_id} (must equal its position {index})",
            field("slot_id")
        )));
    }
    let mut s = TradeSlot::new(index);
    s.trade_id = named_id(&get("trade_id")?, &field("trade_id"))?;
    s.asset = named_id(&get("asset")?, &field("asset"))?;
    s.side = enum_arg(&get("side")?, &field("side"))?;
    s.entry_price = num("entry_price")?;
    s.size = num("size")?;
    s.initial_size = num("initial_size")?;
    s.leverage = num("leverage")?;
    s.entry_time = seconds_arg(&get("entry_time")?, &field("entry_time"))?;
    s.unrealized_pnl = num("unrealized_pnl")?;
    s.realized_pnl = num("realized_pnl")?;
    s.fees_paid = num("fees_paid")?;
    s.closed = bool_arg(&get("closed")?, &field("closed"))?;
    let legs = get("exit_leg_ratios")?;
    // As an intent's legs: no bool read as 1.0 (the kernel checks the values).
    let legs_field = field("exit_leg_ratios");
    let ratios = leg_ratios(&legs, &legs_field)?.ok_or_else(|| not_a_list(&legs, &legs_field))?;
    s.exit_leg_ratios = ratios.into();
    s.active_leg_index = index_arg(&get("active_leg_index")?, &field("active_leg_index"))?;
    s.active_entry_order = order("active_entry_order")?;
    s.active_exit_order = order("active_exit_order")?;
    s.fsm_state = enum_arg(&get("fsm_state")?, &field("fsm_state"))?;
    let reason = str_arg(&get("close_reason")?, &field("close_reason"))?;
    s.close_reason = bounded_text(&reason, &field("close_reason"))?.to_string();
    s.last_event_time = seconds_arg(&get("last_event_time")?, &field("last_event_time"))?;
    // A slot saved without these keys reads 0 for them: no mark yet, nothing taken of its leg.
    let num_or_0 = |name: &str| -> PyResult<f64> {
        if d.contains(name)? {
            num(name)
        } else {
            Ok(0.0)
        }
    };
    s.mark_price = num_or_0("mark_price")?;
    s.leg_taken = num_or_0("leg_taken")?;
    s.metadata = metadata_arg(d.get_item("metadata")?.as_ref(), &field("metadata"))?;
    Ok(s)
}

/// The fields of a slot's dict a caller writes into one slot (`set_slot_fields`): all that
/// `slot_from_dict` reads but the slot's id.
pub const WRITABLE_SLOT_FIELDS: &[&str] = &[
    "trade_id",
    "asset",
    "side",
    "entry_price",
    "size",
    "initial_size",
    "leverage",
    "entry_time",
    "unrealized_pnl",
    "realized_pnl",
    "fees_paid",
    "closed",
    "exit_leg_ratios",
    "active_leg_index",
    "leg_taken",
    "active_entry_order",
    "active_exit_order",
    "fsm_state",
    "close_reason",
    "last_event_time",
    "mark_price",
    "metadata",
];

/// Sets `into`'s field `name` (its dict's name, one of [`WRITABLE_SLOT_FIELDS`]) to `from`'s.
pub fn take_slot_field(into: &mut TradeSlot, from: &TradeSlot, name: &str) {
    match name {
        "trade_id" => into.trade_id.clone_from(&from.trade_id),
        "asset" => into.asset.clone_from(&from.asset),
        "side" => into.side = from.side,
        "entry_price" => into.entry_price = from.entry_price,
        "size" => into.size = from.size,
        "initial_size" => into.initial_size = from.initial_size,
        "leverage" => into.leverage = from.leverage,
        "entry_time" => into.entry_time = from.entry_time,
        "unrealized_pnl" => into.unrealized_pnl = from.unrealized_pnl,
        "realized_pnl" => into.realized_pnl = from.realized_pnl,
        "fees_paid" => into.fees_paid = from.fees_paid,
        "closed" => into.closed = from.closed,
        "exit_leg_ratios" => into.exit_leg_ratios.clone_from(&from.exit_leg_ratios),
        "active_leg_index" => into.active_leg_index = from.active_leg_index,
        "leg_taken" => into.leg_taken = from.leg_taken,
        "active_entry_order" => into.active_entry_order.clone_from(&from.active_entry_order),
        "active_exit_order" => into.active_exit_order.clone_from(&from.active_exit_order),
        "fsm_state" => into.fsm_state = from.fsm_state,
        "close_reason" => into.close_reason.clone_from(&from.close_reason),
        "last_event_time" => into.last_event_time = from.last_event_time,
        "mark_price" => into.mark_price = from.mark_price,
        "metadata" => into.metadata.clone_from(&from.metadata),
        _ => unreachable!("{name} is no writable slot field"),
    }
}
