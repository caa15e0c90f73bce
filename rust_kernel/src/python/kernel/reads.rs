//! Reads of the kernel's state: slots, orders, account, snapshot and counters.

use super::busy::wait_ref;
use super::PyKernel;
use crate::model::TradeSlot;
use crate::python::convert::ints::slot_id_arg;
use crate::python::objects::{orders_to_py, slot_dict, PySlot, PyVenueOrder};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// A slot's dict as `slots()` and the projections show it: its own fields plus what it waits
/// for of fills the venue said happened (`awaited_fill_qty`) and the client id of its order in
/// doubt (`order_in_doubt`, "" when none); neither is read on load.
fn shown_dict<'py>(
    py: Python<'py>,
    s: &TradeSlot,
    awaited_fill_qty: f64,
    order_in_doubt: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let d = slot_dict(py, s)?;
    d.set_item("awaited_fill_qty", awaited_fill_qty)?;
    d.set_item("order_in_doubt", order_in_doubt)?;
    Ok(d)
}

/// A slot copied out of the kernel with what its dict shows beside its own fields, made a dict
/// once the kernel is free again (`projection_changes`).
pub(super) struct ShownSlot {
    slot: TradeSlot,
    awaited_fill_qty: f64,
    order_in_doubt: String,
}

impl ShownSlot {
    pub(super) fn slot_id(&self) -> usize {
        self.slot.slot_id
    }

    /// Its dict as `slot_dict()` returns it.
    pub(super) fn dict<'py>(
        &self,
        py: Python<'py>,
        kernel_id: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = shown_dict(py, &self.slot, self.awaited_fill_qty, &self.order_in_doubt)?;
        d.set_item("kernel_id", kernel_id)?;
        Ok(d)
    }
}

impl PyKernel {
    fn shown_slot_dict<'py>(&self, py: Python<'py>, s: &TradeSlot) -> PyResult<Bound<'py, PyDict>> {
        let sid = s.slot_id;
        shown_dict(
            py,
            s,
            self.core.awaited_fill_qty(sid),
            self.order_in_doubt_id(sid),
        )
    }

    /// The slot `slot_id` copied with what its dict shows; None past the last slot.
    pub(super) fn shown_slot(&self, slot_id: usize) -> Option<ShownSlot> {
        Some(ShownSlot {
            slot: self.core.slot(slot_id)?.clone(),
            awaited_fill_qty: self.core.awaited_fill_qty(slot_id),
            order_in_doubt: self.order_in_doubt_id(slot_id).to_string(),
        })
    }

    fn order_in_doubt_id(&self, slot_id: usize) -> &str {
        let doubt = self.core.order_in_doubt(slot_id);
        doubt.map_or("", |o| o.client_order_id.as_str())
    }

    pub(super) fn account_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let k = &self.core;
        let a = &k.account;
        let (upnl, notional) = k.open_totals();
        let capital = a.k_capital();
        let equity = capital + upnl;
        let r = a.reconcile();
        let d = PyDict::new(py);
        d.set_item("kernel_id", &k.kernel_id)?;
        d.set_item("capital", capital)?;
        d.set_item("equity", equity)?;
        d.set_item("realized_pnl", a.k_realized_pnl)?;
        d.set_item("unrealized_pnl", upnl)?;
        d.set_item("open_positions", k.open_positions())?;
        d.set_item("open_notional", notional)?;
        // Positions against no equity are levered without bound: None, not 0, which reads as
        // a flat account (and not inf, which is no JSON number for the projections).
        let leverage = if equity > 0.0 {
            Some(notional / equity)
        } else if notional > 0.0 {
            None
        } else {
            Some(0.0)
        };
        d.set_item("leverage", leverage)?;
        d.set_item("available_capital", a.available_capital())?;
        d.set_item("seed_capital", a.seed_capital)?;
        d.set_item("k_capital", capital)?;
        d.set_item("k_realized_pnl", a.k_realized_pnl)?;
        d.set_item("k_fees_paid", a.k_fees_paid)?;
        d.set_item("k_funding_net", a.k_funding_net)?;
        d.set_item("k_unsettled_fees", a.k_unsettled_fees)?;
        d.set_item("e_wallet_balance", a.e_wallet_balance)?;
        d.set_item("e_available_margin", a.e_available_margin)?;
        d.set_item("e_used_margin", a.e_used_margin)?;
        d.set_item("e_maint_margin", a.e_maint_margin)?;
        d.set_item("reconcile_status", r.status.name())?;
        d.set_item("reconcile_delta", r.delta)?;
        d.set_item("reconcile_explanation", r.explanation)?;
        d.set_item("event_seq", a.event_seq)?;
        d.set_item("last_update_time", a.last_update_time)?;
        // The newest learned sample's ratio, of either liquidity, and every sample; then each
        // liquidity's, which its fills are predicted by.
        d.set_item("fee_calibration_ratio", k.fees.calibration_ratio)?;
        d.set_item("fee_calibration_samples", k.fees.calibration_samples)?;
        d.set_item("maker_fee_calibration_ratio", k.fees.maker.ratio)?;
        d.set_item("maker_fee_calibration_samples", k.fees.maker.samples)?;
        d.set_item("taker_fee_calibration_ratio", k.fees.taker.ratio)?;
        d.set_item("taker_fee_calibration_samples", k.fees.taker.samples)?;
        Ok(d)
    }

    /// The slot `slot_id`, or an IndexError naming it and the slot count.
    pub(super) fn slot_by_id(&self, slot_id: i64) -> PyResult<&crate::model::TradeSlot> {
        if slot_id < 0 {
            return Err(crate::error::KernelError::SlotOutOfRange {
                slot_id,
                max_slots: self.core.max_slots(),
            }
            .into());
        }
        self.core.slot(slot_id as usize).ok_or_else(|| {
            crate::error::KernelError::SlotOutOfRange {
                slot_id,
                max_slots: self.core.max_slots(),
            }
            .into()
        })
    }
}

#[pymethods]
impl PyKernel {
    /// The id of the first slot free for a new trade, or None (`ExecutionKernel.free_slot()`
    /// gives its view).
    fn free_slot_id(slf: &Bound<'_, Self>) -> PyResult<Option<usize>> {
        let this = wait_ref(slf)?;
        Ok(this.core.free_slot())
    }

    fn slot_state(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
    ) -> PyResult<PySlot> {
        let this = wait_ref(slf)?;
        let inner = this.slot_by_id(slot_id)?.clone();
        let free = this.core.slot_is_free(inner.slot_id);
        let next_exit = this.core.next_exit_ratio(inner.slot_id);
        Ok(PySlot {
            inner,
            free,
            next_exit,
        })
    }

    fn slot_dict<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let d = this.shown_slot_dict(py, this.slot_by_id(slot_id)?)?;
        d.set_item("kernel_id", &this.core.kernel_id)?;
        Ok(d)
    }

    /// Whether the kernel refuses an intent of id `intent_id` as one it took (a read: it
    /// changes nothing).
    fn intent_taken(slf: &Bound<'_, Self>, intent_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(intent_id) = intent_id.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "intent_id must be a str, got {} {}",
                intent_id.get_type().name()?,
                intent_id.repr()?
            )));
        };
        let intent_id = intent_id.to_cow()?;
        Ok(wait_ref(slf)?.core.intent_taken(&intent_id))
    }

    fn account<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        this.account_dict(py)
    }

    /// `account()["equity"]` without the rest of the account, for code that reads it often.
    fn equity(slf: &Bound<'_, Self>) -> PyResult<f64> {
        Ok(wait_ref(slf)?.core.equity())
    }

    fn slots<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let this = wait_ref(slf)?;
        let list = PyList::empty(py);
        for s in this.core.slots() {
            list.append(this.shown_slot_dict(py, s)?)?;
        }
        Ok(list)
    }

    /// The slots holding a position in `asset` (in every asset when None), in slot order.
    #[pyo3(signature = (asset=None))]
    fn open_slot_ids(slf: &Bound<'_, Self>, asset: Option<&str>) -> PyResult<Vec<usize>> {
        Ok(wait_ref(slf)?.core.open_slot_ids(asset))
    }

    fn open_orders(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<Vec<Py<PyVenueOrder>>> {
        orders_to_py(py, wait_ref(slf)?.core.open_orders())
    }

    /// Orders that ended with the venue reporting more filled than it sent; their slots
    /// wait for those fills (`reconcile_with_venue` books or settles them). The orders in
    /// doubt too (`orders_in_doubt`), whose slots wait for their status.
    fn awaited_orders(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<Vec<Py<PyVenueOrder>>> {
        orders_to_py(py, wait_ref(slf)?.core.awaited_orders())
    }

    /// Orders rate limited before the venue acknowledged them, with a cancel asked: they
    /// may still work at the venue, and their slots take no new order until a late fill
    /// completes them or `reconcile_with_venue` learns their status.
    fn orders_in_doubt(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<Vec<Py<PyVenueOrder>>> {
        orders_to_py(py, wait_ref(slf)?.core.orders_in_doubt())
    }

    /// Orders that ended short of their size without the venue stating what they filled (a
    /// cancel ack without the figure): a fill may have raced the end, so `reconcile_with_venue`
    /// asks the venue about them.
    fn orders_ended_without_figure(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
    ) -> PyResult<Vec<Py<PyVenueOrder>>> {
        orders_to_py(py, wait_ref(slf)?.core.orders_ended_without_figure())
    }

    /// The ids of the fills whose fees wait for the venue's settlement (`k_unsettled_fees`):
    /// `reconcile_with_venue` tells a venue that settles fees it lists after a restart.
    fn unsettled_fill_ids(slf: &Bound<'_, Self>) -> PyResult<Vec<String>> {
        let this = wait_ref(slf)?;
        Ok(this
            .core
            .unsettled_fill_ids()
            .into_iter()
            .map(str::to_owned)
            .collect())
    }

    /// The whole state: control, slots and account, with the original field names.
    fn snapshot<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let d = PyDict::new(py);
        d.set_item("kernel_id", &this.core.kernel_id)?;
        d.set_item("max_slots", this.core.max_slots())?;
        d.set_item("control", this.control_dict(py)?)?;
        d.set_item("slots", Self::slots(slf, py)?)?;
        d.set_item("account", this.account_dict(py)?)?;
        d.set_item("exchange_config", Self::exchange_config(slf, py)?)?;
        Ok(d)
    }

    /// The counters, the journal's outbox and the intents' latency: from each `process_intent`
    /// call to its outcome, the venue's answer included, in ns (percentiles read to 1/16).
    fn stats<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let c = &this.core.counters;
        let d = PyDict::new(py);
        d.set_item("seq", this.core.seq())?;
        d.set_item("intents", c.intents)?;
        d.set_item("intents_accepted", c.intents_accepted)?;
        d.set_item("intents_refused", c.intents_refused)?;
        d.set_item("venue_events", c.venue_events)?;
        d.set_item("venue_events_refused", c.venue_events_refused)?;
        d.set_item("fills", c.fills)?;
        d.set_item("orders_submitted", c.orders_submitted)?;
        d.set_item("cancels_requested", c.cancels_requested)?;
        d.set_item("account_events", c.account_events)?;
        d.set_item("open_orders", this.core.open_orders().len())?;
        d.set_item("journal_queued", this.core.outbox.len())?;
        d.set_item("journal_queued_total", this.core.outbox.queued_total)?;
        d.set_item("journal_dropped", this.core.outbox.dropped)?;
        d.set_item("journal_first_seq", this.core.outbox.first_seq())?;
        d.set_item(
            "journal_first_dropped_seq",
            this.core.outbox.first_dropped_seq,
        )?;
        let latency = this.intent_latency.summary();
        d.set_item("intent_latency_count", latency.count)?;
        d.set_item("intent_latency_p50_ns", latency.p50_ns)?;
        d.set_item("intent_latency_p99_ns", latency.p99_ns)?;
        d.set_item("intent_latency_p999_ns", latency.p999_ns)?;
        d.set_item("intent_latency_max_ns", latency.max_ns)?;
        Ok(d)
    }
}
