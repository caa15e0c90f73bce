//! The inputs that change the kernel: intents, venue and account events, marks, edges and
//! slot loading. Each is applied, then logged, then handed to the venue.

use super::busy::{wait_mut, wait_ref};
use super::venue::VenueHandle;
use super::PyKernel;
use crate::kernel::{
    check_account_event_fields, check_mark_price, KernelInput, EDGE_FREEZE_CANCEL,
    LATE_EXIT_FILL_CANCEL,
};
use crate::model::TradeSlot;
use crate::model::{AccountEvent, Intent, KernelOutcome};
use crate::python::convert::dicts::as_dict;
use crate::python::convert::ints::slot_id_arg;
use crate::python::convert::metadata::metadata_arg;
use crate::python::convert::numbers::{float_arg, real_list};
use crate::python::convert::text::ident;
use crate::python::convert::time::{opt_time, time_or_now};
use crate::python::convert::{expect_native, wrong_type};
use crate::python::objects::{
    account_event_from_dict, slot_dict, slot_from_dict, take_slot_field, PyAccountEvent, PyIntent,
    PyOutcome, PyVenueEvent, WRITABLE_SLOT_FIELDS,
};
use crate::types::{details_json, Detail, Id, TradeStage};
use crate::wal::kernel_log::{too_large_to_log, InputRef};
use crate::wal::MAX_PAYLOAD_BYTES;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Instant;

#[pymethods]
impl PyKernel {
    /// Decides on an intent and, if accepted, hands the order to the venue; the venue's
    /// synchronous answers are applied before this returns.
    fn process_intent(slf: &Bound<'_, Self>, intent: &Bound<'_, PyAny>) -> PyResult<Py<PyOutcome>> {
        let intent = expect_native::<PyIntent>(intent, "process_intent expects a KernelIntent")?;
        Self::apply_intent(slf, &intent.get().inner)
    }

    /// Applies an event a venue reported (asynchronously, e.g. a fill from a stream).
    fn on_venue_event(slf: &Bound<'_, Self>, event: &Bound<'_, PyAny>) -> PyResult<PyOutcome> {
        let mut this = wait_mut(slf)?;
        let event = expect_native::<PyVenueEvent>(event, "on_venue_event expects a VenueEvent")?;
        this.check_takes_input()?;
        let mock = this.venue.take_mock(slf.py())?;
        let seq = this.core.seq();
        let stated = this.as_taken(event.get());
        let ev = stated.as_ref().unwrap_or(&event.get().inner);
        let out = this.core.on_venue_event(ev);
        this.log_input_ref(seq, InputRef::VenueEvent(ev))?;
        Self::send_to_venue(slf, this, mock, out, LATE_EXIT_FILL_CANCEL)
    }

    /// Applies an account event. An `AccountEvent` is answered with the outcome; the original
    /// kernel's dict form (`{"kind": "ACCOUNT_UPDATE", ...}`) with the account as a dict, and
    /// a refusal of it raises ValueError naming the diagnostic and its details.
    fn on_account_event(slf: &Bound<'_, Self>, event: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if let Ok(event) = event.cast::<PyAccountEvent>() {
            return Ok(Py::new(py, Self::apply_account_event(slf, event)?)?.into_any());
        }
        let Some(d) = as_dict(event)? else {
            return Err(wrong_type(
                "on_account_event expects an AccountEvent or a dict",
                event,
            ));
        };
        // Its id, when it has none: the seq the event takes, which no earlier input took.
        let next_seq = wait_ref(slf)?.core.seq() + 1;
        let event = account_event_from_dict(&d, || format!("account-event-{next_seq}"))?;
        // Its figures are checked before the kernel takes it, so a refusal of them (raised)
        // changes nothing: no seq, no log record, no count, no journal row.
        if let Err(refused) = check_account_event_fields(&event.get().inner, next_seq) {
            return Err(account_dict_refused(&refused, &event.get().inner));
        }
        let out = Self::apply_account_event(slf, &event)?;
        if !out.inner.accepted {
            return Err(account_dict_refused(&out.inner, &event.get().inner));
        }
        Ok(wait_ref(slf)?.account_dict(py)?.into_any().unbind())
    }

    /// Marks `asset` at `price`: unrealized PnL of its open slots follows. Returns how
    /// many slots were updated.
    #[pyo3(signature = (asset, price, timestamp=None))]
    fn mark_price(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        price: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = opt_time::timestamp)] timestamp: Option<f64>,
    ) -> PyResult<usize> {
        // Read before the kernel is taken: a price's __float__ may call into this kernel.
        let price = float_arg(price, "price")?;
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let (seq, ts) = (this.core.seq(), time_or_now(timestamp));
        let n = this.core.mark_price(&asset, price, ts)?;
        this.log_input(seq, || KernelInput::MarkPrice {
            asset: asset.clone(),
            price,
            ts,
        })?;
        Ok(n)
    }

    /// Refuses `price` as `mark_price` refuses it, marking nothing: a slot view of a slot
    /// without an asset checks the price it is given, as a view of an open slot does.
    #[staticmethod]
    fn _check_mark_price(price: &Bound<'_, PyAny>) -> PyResult<()> {
        check_mark_price(float_arg(price, "price")?)?;
        Ok(())
    }

    /// The measured edge of `asset` in basis points; below the risk limit's threshold the
    /// kernel freezes entries and cancels every working order.
    #[pyo3(signature = (asset, edge_bps, timestamp=None))]
    fn on_edge_update(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        edge_bps: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = opt_time::timestamp)] timestamp: Option<f64>,
    ) -> PyResult<PyOutcome> {
        let edge = float_arg(edge_bps, "edge_bps")?;
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let mock = this.venue.take_mock(slf.py())?;
        let (seq, ts) = (this.core.seq(), time_or_now(timestamp));
        let out = this.core.on_edge_update(&asset, edge, ts)?;
        this.log_input(seq, || KernelInput::EdgeUpdate {
            asset: asset.clone(),
            edge_bps: edge,
            ts,
        })?;
        Self::send_to_venue(slf, this, mock, out, EDGE_FREEZE_CANCEL)
    }

    /// Replaces slot `slot_id`'s metadata. With `if_trade` (a trade id and its entry time in
    /// seconds, as the slot read gave them) only while the slot holds that trade: RuntimeError
    /// otherwise, nothing changed, so a change made for one trade never lands in the next.
    #[pyo3(signature = (slot_id, metadata, *, if_trade=None))]
    fn set_slot_metadata(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        metadata: &Bound<'_, PyAny>,
        if_trade: Option<(String, f64)>,
    ) -> PyResult<()> {
        if metadata.is_none() {
            // A slot's metadata is cleared by `{}`, never by a None taken for "not given".
            return Err(PyTypeError::new_err(
                "invalid metadata: expected a dict of str to str/int/float/bool/None, got None \
                 (give {} to clear it)",
            ));
        }
        let meta = metadata_arg(Some(metadata), "metadata")?;
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        if let Some((trade_id, entry_time)) = &if_trade {
            let s = this.slot_by_id(slot_id)?;
            if !holds_trade(s, trade_id, *entry_time) {
                return Err(PyRuntimeError::new_err(format!(
                    "slot {slot_id} holds trade {:?} entered at {}, not trade {trade_id:?} \
                     entered at {entry_time}: metadata not set",
                    &*s.trade_id, s.entry_time
                )));
            }
        }
        let (seq, logged) = (this.core.seq(), this.wal.is_some().then(|| meta.clone()));
        this.core.set_slot_metadata(slot_id, meta)?;
        this.log_input(seq, || KernelInput::SlotMetadata {
            slot_id,
            metadata: logged.unwrap_or_default(),
        })
    }

    fn set_slot_exit_leg_ratios(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        #[pyo3(from_py_with = real_list::ratios)] ratios: Vec<f64>,
    ) -> PyResult<()> {
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let seq = this.core.seq();
        this.core.set_slot_exit_legs(slot_id, &ratios)?;
        this.log_input(seq, || KernelInput::SlotExitLegs { slot_id, ratios })
    }

    /// Replaces every slot from saved slot dicts (as `slots()` returns them), as `load_slots`
    /// does, answering as the original kernel did: an accepted outcome whose details say the
    /// open positions (`open_positions`). A slot refused raises ValueError, nothing changed.
    fn reconcile_from_slots(
        slf: &Bound<'_, Self>,
        slots: &Bound<'_, PyAny>,
    ) -> PyResult<PyOutcome> {
        let open = Self::load_slot_dicts(slf, slots, "reconcile_from_slots")?;
        let this = wait_ref(slf)?;
        let mut out = KernelOutcome::ok(-1, Id::default(), TradeStage::Idle, this.core.seq());
        out.details
            .push(("open_positions", Detail::I64(open as i64)));
        Ok(PyOutcome::new(out, this.control_at_input()))
    }

    /// Replaces every slot from saved slot dicts (as `slots()` returns them). All are
    /// validated first; on any error nothing changes. Returns the number of open positions.
    fn load_slots(slf: &Bound<'_, Self>, slots: &Bound<'_, PyAny>) -> PyResult<usize> {
        Self::load_slot_dicts(slf, slots, "load_slots")
    }

    /// Writes `fields` (a slot dict's fields by name, as `slots()` gives them) into slot
    /// `slot_id`, every other slot as the kernel holds it, checked and logged as `load_slots`
    /// is: one step, so an input another thread applies meanwhile (a fill) is never undone.
    /// A refusal raises naming the field; nothing changes. Returns the open positions. With
    /// `if_trade` (a trade id and its entry time in seconds, as a slot read gave them) and
    /// `if_leg` (its active leg index), only while the slot still holds them: RuntimeError
    /// otherwise, nothing changed, so a write computed from a read is never made over a later
    /// state (an exit fill that moved the leg, another trade).
    #[pyo3(signature = (slot_id, fields, *, if_trade=None, if_leg=None))]
    fn set_slot_fields(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        fields: &Bound<'_, PyAny>,
        if_trade: Option<(String, f64)>,
        if_leg: Option<usize>,
    ) -> PyResult<usize> {
        let py = slf.py();
        let Some(fields) = as_dict(fields)? else {
            return Err(wrong_type(
                "set_slot_fields expects a dict of slot fields",
                fields,
            ));
        };
        // The caller's values are read before the kernel is taken, into the slot as it stands:
        // only the fields named are taken from it.
        let (sid, d) = {
            let this = wait_ref(slf)?;
            let s = this.slot_by_id(slot_id)?;
            (s.slot_id, slot_dict(py, s)?)
        };
        let mut names = Vec::with_capacity(fields.len());
        for (name, value) in fields.iter() {
            let name: String = name.extract().map_err(|_| {
                wrong_type("set_slot_fields expects slot field names as str", &name)
            })?;
            if !WRITABLE_SLOT_FIELDS.contains(&name.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "invalid slot field {name:?}: not one a caller sets (one of {})",
                    WRITABLE_SLOT_FIELDS.join(", ")
                )));
            }
            d.set_item(&name, value)?;
            names.push(name);
        }
        let given = slot_from_dict(&d, sid)?;
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let s = this.slot_by_id(slot_id)?;
        let other_trade = if_trade
            .as_ref()
            .is_some_and(|(trade_id, entry_time)| !holds_trade(s, trade_id, *entry_time));
        if other_trade || if_leg.is_some_and(|leg| s.active_leg_index != leg) {
            return Err(PyRuntimeError::new_err(format!(
                "slot {slot_id} holds trade {:?} entered at {} on leg {}, not the {:?} and {:?} \
                 asked for: nothing set",
                &*s.trade_id, s.entry_time, s.active_leg_index, if_trade, if_leg
            )));
        }
        let mut slots = this.core.slots().to_vec();
        for name in &names {
            take_slot_field(&mut slots[sid], &given, name);
        }
        // Without what the slots remember of events and fills, as a slot dict is: each slot
        // still holding its trade takes the kernel's memory back (`carry_slot_memories`), in
        // the live kernel and in the replay alike, and the record stays small.
        for s in &mut slots {
            let fresh = TradeSlot::new(s.slot_id);
            (s.seen_events, s.seen_fills) = (fresh.seen_events, fresh.seen_fills);
        }
        this.replace_slots_logged(slots)
    }
}

/// The ValueError of an account event given as a dict that the kernel refused (`out`).
fn account_dict_refused(out: &KernelOutcome, event: &AccountEvent) -> PyErr {
    PyValueError::new_err(format!(
        "account event refused: {} ({}): {}",
        out.diagnostic_code,
        event.kind,
        details_json(&out.details)
    ))
}

/// Whether slot `s` holds trade `trade_id` entered at `entry_time` (seconds, as a slot read gave
/// them): an `if_trade=` write is made only then, never into the trade after it.
fn holds_trade(s: &TradeSlot, trade_id: &str, entry_time: f64) -> bool {
    *s.trade_id == *trade_id && s.entry_time.to_bits() == entry_time.to_bits()
}

impl PyKernel {
    /// An intent decided, logged and handed to the venue, its time to the outcome recorded in
    /// `intent_latency`: `process_intent`.
    pub(super) fn apply_intent(slf: &Bound<'_, Self>, intent: &Intent) -> PyResult<Py<PyOutcome>> {
        let arrived = Instant::now();
        let mut this = wait_mut(slf)?;
        let outcome = this.outcome_to_answer_in(slf.py())?;
        Self::answer_intent(
            slf,
            this,
            arrived,
            intent,
            &mut outcome.bind(slf.py()).borrow_mut(),
        )?;
        Ok(outcome)
    }

    /// The outcome object an intent is answered in: the one the last intent was, when nobody
    /// else holds it any more (its lists reused), else a new one, kept for the next intent.
    /// Making and freeing an outcome object costs about a tenth of an order. Kept only with the
    /// native mock venue, whose answers carry no Python objects: the kernel, which the garbage
    /// collector does not look into, would keep them alive.
    fn outcome_to_answer_in(&mut self, py: Python<'_>) -> PyResult<Py<PyOutcome>> {
        let outcome = match self.spare_outcome.take() {
            Some(last) if last.get_refcnt(py) == 1 => last,
            _ => Py::new(py, PyOutcome::blank())?,
        };
        if matches!(self.venue, VenueHandle::Mock(_)) {
            self.spare_outcome = Some(outcome.clone_ref(py));
        }
        Ok(outcome)
    }

    /// [`PyKernel::apply_intent`] into `outcome`, whose lists the answer reuses (see
    /// `Kernel::process_intent_into`): `process_intents` answers each of its intents in one.
    pub(super) fn apply_intent_into(
        slf: &Bound<'_, Self>,
        intent: &Intent,
        outcome: &mut PyOutcome,
    ) -> PyResult<()> {
        let arrived = Instant::now();
        let this = wait_mut(slf)?;
        Self::answer_intent(slf, this, arrived, intent, outcome)
    }

    /// [`PyKernel::apply_intent_into`] by the kernel taken (`this`), the intent's time counted
    /// from `arrived`.
    fn answer_intent(
        slf: &Bound<'_, Self>,
        mut this: PyRefMut<'_, Self>,
        arrived: Instant,
        intent: &Intent,
        outcome: &mut PyOutcome,
    ) -> PyResult<()> {
        let latency = Arc::clone(&this.intent_latency);
        this.check_takes_input()?;
        let mock = this.venue.take_mock(slf.py())?;
        let seq = this.core.seq();
        this.core.process_intent_into(intent, &mut outcome.inner);
        this.log_input_ref(seq, InputRef::Intent(intent))?;
        let sent = Self::send_outcome_to_venue(slf, this, mock, outcome, &intent.reason);
        latency.record(arrived.elapsed());
        sent
    }

    /// `load_slots`, its refusals naming `method`, the one called.
    fn load_slot_dicts(
        slf: &Bound<'_, Self>,
        slots: &Bound<'_, PyAny>,
        method: &str,
    ) -> PyResult<usize> {
        // The caller's iterable and dicts are read before the kernel is taken: their Python
        // code may call into this kernel (or another thread may), which must not find it held.
        // One item past max_slots is read, to know there is more: an endless generator is not
        // read until memory runs out.
        let max_slots = wait_ref(slf)?.core.max_slots();
        let items: Vec<Bound<'_, PyAny>> = slots
            .try_iter()
            .map_err(|_| wrong_type(format_args!("{method} expects a list of slot dicts"), slots))?
            .take(max_slots + 1)
            .collect::<PyResult<_>>()?;
        if items.len() > max_slots {
            return Err(PyValueError::new_err(format!(
                "invalid slots: more than {max_slots} items (must hold exactly max_slots slots; \
                 the rest was not read)"
            )));
        }
        let mut parsed = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            parsed.push(slot_from_dict(item, i)?);
        }
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        this.replace_slots_logged(parsed)
    }

    /// `slots` in place of the kernel's (`Kernel::replace_slots`), logged as `load_slots` is;
    /// the open positions after.
    fn replace_slots_logged(&mut self, slots: Vec<TradeSlot>) -> PyResult<usize> {
        let seq = self.core.seq();
        let logged = self
            .wal
            .is_some()
            .then(|| KernelInput::replace_slots(slots.clone()));
        if let Some(n) = logged.as_ref().and_then(too_large_to_log) {
            return Err(PyValueError::new_err(format!(
                "invalid slots: {n} bytes as one write-ahead log record (at most {} bytes; \
                 load less metadata)",
                MAX_PAYLOAD_BYTES
            )));
        }
        self.core.replace_slots(slots)?;
        self.log_input(seq, || logged.expect("made for the log"))?;
        Ok(self.core.open_positions())
    }

    /// Applies and logs an account event.
    fn apply_account_event(
        slf: &Bound<'_, Self>,
        event: &Bound<'_, PyAccountEvent>,
    ) -> PyResult<PyOutcome> {
        let mut this = wait_mut(slf)?;
        this.check_takes_input()?;
        let seq = this.core.seq();
        let out = this.core.on_account_event(&event.get().inner);
        this.log_input_ref(seq, InputRef::AccountEvent(&event.get().inner))?;
        Ok(PyOutcome::new(out, this.control_at_input()))
    }
}
