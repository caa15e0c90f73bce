//! Python bindings (`dita._kernel`). Conversion happens once at the boundary; the kernel
//! itself is the pure-Rust core. A native mock venue is called without entering Python.

mod convert;
mod errors;
mod journal;
mod mock;
mod objects;
mod wal;

use crate::journal::SEGMENT_POOL;
use crate::kernel::{Kernel, KernelInput};
use crate::model::{KernelOutcome, VenueEvent, VenueOrder};
use crate::risk::ConfigValue;
use crate::types::*;
use crate::wal::kernel_log::{too_large_to_log, InputRef};
use crate::wal::MAX_PAYLOAD_BYTES;
use convert::{
    dicts::*, enums::*, flags::*, ints::*, metadata::*, numbers::*, text::*, time::*, *,
};
use journal::{blocks_of, journal_columns, journal_wire_types, tables_to_py, PyJournalBlock};
use mock::PyMockVenue;
use objects::*;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where orders go: the native mock (no Python on the path) or any Python adapter.
enum VenueHandle {
    Mock(Py<PyMockVenue>),
    Python(Py<PyAny>),
}

#[pyclass(name = "KernelCore", module = "dita._kernel", subclass)]
pub struct PyKernel {
    core: Kernel,
    venue: VenueHandle,
    /// The write-ahead log, when the kernel was opened with `wal_dir`.
    wal: Option<wal::WalState>,
    /// Set by `stop_input`: every later input is refused.
    closed: bool,
    /// Set by `stop_input` before it waits for the venue calls under way: input is refused
    /// from then on but from inside those calls (a venue reporting back from its submit), so
    /// a thread trading on cannot keep a call under way for ever and `close` never get in.
    stopping: bool,
    /// Set by `close_core`: the log is gone, and with it what the journal's refills need.
    log_released: bool,
    /// What `journaled_through` was when `close_core` released the log, after its last sync:
    /// a journal still draining the outbox then (a detach that timed out) takes no row of an
    /// input a failed log lost.
    released_through: Option<u64>,
    /// Venue calls under way: taken with the input, ended once the venue's answer is fed
    /// (and logged). `close_core` waits for none, so no answer outlives the log.
    venue_calls: Arc<AtomicUsize>,
    /// The outcome a venue's answer is applied in, event by event, before it is folded into
    /// the intent's (`feed`): kept, so the answers of every order reuse its lists.
    follow_up: KernelOutcome,
}

thread_local! {
    /// The kernels (by their `venue_calls` counter's address) whose venue this thread is
    /// inside: closing such a kernel from its own venue call cannot wait for that call.
    static IN_VENUE_CALL: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One venue call under way (see `PyKernel::venue_calls`); ends when dropped.
struct VenueCall(Arc<AtomicUsize>);

impl VenueCall {
    fn start(calls: &Arc<AtomicUsize>) -> VenueCall {
        calls.fetch_add(1, Ordering::SeqCst);
        IN_VENUE_CALL.with_borrow_mut(|v| v.push(Arc::as_ptr(calls) as usize));
        VenueCall(calls.clone())
    }

    /// Whether this thread is inside a venue call of the kernel whose calls `calls` counts:
    /// such a call cannot be waited for from within it.
    fn inside(calls: &Arc<AtomicUsize>) -> bool {
        let mine = Arc::as_ptr(calls) as usize;
        IN_VENUE_CALL.with_borrow(|v| v.contains(&mine))
    }
}

impl Drop for VenueCall {
    fn drop(&mut self) {
        // Its own entry, not the last: calls of two kernels may end out of order on one
        // thread (greenlets switching around blocking I/O).
        let mine = Arc::as_ptr(&self.0) as usize;
        IN_VENUE_CALL.with_borrow_mut(|v| {
            if let Some(i) = v.iter().rposition(|&a| a == mine) {
                v.remove(i);
            }
        });
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

static KERNEL_COUNTER: AtomicU64 = AtomicU64::new(0);

fn default_kernel_id() -> String {
    let n = KERNEL_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = (now() * 1e9) as u64;
    format!("k-{:x}-{:x}-{n}", std::process::id(), nanos & 0xffff_ffff)
}

fn config_value(v: &Bound<'_, PyAny>, field: &str) -> PyResult<ConfigValue> {
    if v.is_none() {
        Ok(ConfigValue::Off)
    } else if is_bool(v) {
        Ok(ConfigValue::Flag(v.is_truthy()?))
    } else if let Ok(s) = v.cast::<PyString>() {
        Ok(ConfigValue::Text(utf8(s, field)?.to_string()))
    } else if is_real(v)? {
        Ok(ConfigValue::Num(float_arg(v, field)?))
    } else {
        Err(wrong_type(
            format_args!("invalid {field}: expected a number, str, bool or None"),
            v,
        ))
    }
}

/// A risk limit that is a flag (`require_source_run_in_live`), read as every entry point reads
/// one (`bool_arg`: a bool, or the int 0 or 1 of a database row). Anything else is a ValueError,
/// as the core's refusal is, showing the value as Python does: the core would show a float 1.0
/// as 1, which reads as the int taken.
fn config_flag(v: &Bound<'_, PyAny>, field: &str) -> PyResult<ConfigValue> {
    match bool_arg(v, field) {
        Ok(flag) => Ok(ConfigValue::Flag(flag)),
        Err(e) if e.is_instance_of::<PyTypeError>(v.py()) => Err(PyValueError::new_err(format!(
            "invalid {field}: {} (must be True or False, or the int 0 or 1)",
            short_repr(v)
        ))),
        Err(e) => Err(e),
    }
}

/// `{name: number}` from a mapping, each value checked to be a real number (not bool/str).
fn number_fields(config: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<(String, f64)>> {
    let dict = as_dict(config)?.ok_or_else(|| {
        wrong_type(
            format_args!("{what} must be a dict of field name to number"),
            config,
        )
    })?;
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict_items(&dict)? {
        let key = str_arg(&k, &format!("{what} key"))?;
        out.push((key.clone(), float_arg(&v, &key)?));
    }
    Ok(out)
}

/// How long a call waits for the kernel when another thread is inside it.
const BUSY_LIMIT: Duration = Duration::from_secs(10);

/// The kernel for writing. Another thread may be inside the kernel running Python code (a
/// garbage-collector pass while it builds a dict, say); that thread needs the GIL to finish,
/// so this releases the GIL and retries instead of failing with "Already borrowed".
fn wait_mut<'py>(slf: &Bound<'py, PyKernel>) -> PyResult<PyRefMut<'py, PyKernel>> {
    wait_for(slf.py(), || slf.try_borrow_mut().ok())
}

/// The kernel for applying a venue's answer to a call already made: waits as long as another
/// thread holds it. The kernel took the input and the venue acted on it, so the answer is
/// never given up: raised as "busy", the order worked at the venue unknown to the kernel, and
/// a fill the answer held was never booked.
fn wait_mut_for_answer<'py>(slf: &Bound<'py, PyKernel>) -> PyRefMut<'py, PyKernel> {
    loop {
        if let Ok(k) = wait_mut(slf) {
            return k;
        }
    }
}

/// The kernel for reading; waits like `wait_mut`.
fn wait_ref<'py>(slf: &Bound<'py, PyKernel>) -> PyResult<PyRef<'py, PyKernel>> {
    wait_for(slf.py(), || slf.try_borrow().ok())
}

/// Retries `take` with the GIL released between attempts, up to `BUSY_LIMIT`.
fn wait_for<T>(py: Python<'_>, mut take: impl FnMut() -> Option<T>) -> PyResult<T> {
    if let Some(k) = take() {
        return Ok(k);
    }
    let start = Instant::now();
    loop {
        py.detach(|| std::thread::sleep(Duration::from_micros(50)));
        if let Some(k) = take() {
            return Ok(k);
        }
        if start.elapsed() > BUSY_LIMIT {
            return Err(PyRuntimeError::new_err(
                "kernel busy in another call for 10 s (is a thread stuck inside it?)",
            ));
        }
    }
}

impl VenueHandle {
    fn clone_ref(&self, py: Python<'_>) -> VenueHandle {
        match self {
            VenueHandle::Mock(m) => VenueHandle::Mock(m.clone_ref(py)),
            VenueHandle::Python(o) => VenueHandle::Python(o.clone_ref(py)),
        }
    }

    /// Hands an order to the venue. `Ok(Err(..))` means the venue raised: the outcome is
    /// unknown and the order stays in flight until the venue reports on it.
    fn call(
        &self,
        py: Python<'_>,
        method: &str,
        order: &VenueOrder,
    ) -> PyResult<Result<Answer, String>> {
        match self {
            VenueHandle::Mock(m) => {
                let mut mv = m.borrow_mut(py);
                Ok(Ok(Answer {
                    events: if method == "submit" {
                        mv.inner.submit(order)
                    } else {
                        mv.inner.cancel(order)
                    }
                    .into_iter()
                    .map(|e| (e, true))
                    .collect(),
                    broken: None,
                    stop: None,
                }))
            }
            VenueHandle::Python(obj) => {
                let arg = Py::new(
                    py,
                    PyVenueOrder {
                        inner: order.clone(),
                    },
                )?;
                // Whatever it raised (a TypeError from its HTTP library included), the order
                // may have left: the outcome says so, and the calls after it still go out.
                // Ctrl-C, SIGTERM made one, or sys.exit (not an `Exception`) is the program
                // being stopped: it goes on up, the order in flight.
                match obj.bind(py).call_method1(method, (arg,)) {
                    Ok(result) => Ok(Ok(Answer::read(py, method, &result))),
                    Err(e) if !e.is_instance_of::<PyException>(py) => Err(e),
                    Err(e) => Ok(Err(format!("{}: {}", e.get_type(py).name()?, e.value(py)))),
                }
            }
        }
    }
}

/// A venue call that raised: its order may have left, so `what` (`submit_outcome`,
/// `cancel_outcome`) is unknown, with the exception in `venue_error`, severity ERROR.
fn venue_error(out: &mut KernelOutcome, what: &'static str, msg: String) {
    out.severity = out.severity.max(KernelSeverity::Error);
    out.details.push((what, Detail::Static("unknown")));
    out.details.push(("venue_error", Detail::Str(msg)));
}

/// The most items one venue answer (to a submit or a cancel) is read for. A real venue answers
/// a few events; one returning `itertools.repeat(ack)`, or a generator without end, was read
/// whole before any of it was applied, until memory ran out and the process aborted. One item
/// past it is read, to know there is more; the rest is not: the events read are applied and
/// the answer's fault (`venue_answer_error`) names the limit.
pub const MAX_VENUE_ANSWER_ITEMS: usize = 10_000;

/// How many items that are not events one answer's fault names one by one; the rest are counted.
const NAMED_BAD_ITEMS: usize = 3;

/// What a venue answered to a submit or cancel: the events it gave, and what was wrong with
/// the rest of its answer, if anything (items that are not a `VenueEvent`, skipped; an
/// iterator that raised part-way; an answer longer than `MAX_VENUE_ANSWER_ITEMS`). Every event
/// read is applied all the same: it may be a fill.
struct Answer {
    /// Each event with whether it was made with a status (`PyVenueEvent::status_stated`).
    events: Vec<(VenueEvent, bool)>,
    broken: Option<String>,
    /// Ctrl-C, or sys.exit (not an `Exception`), raised while the answer was read (a
    /// generator doing its I/O as it is read): the program being stopped, raised once the
    /// events before it are applied and logged.
    stop: Option<PyErr>,
}

impl Answer {
    fn read(py: Python<'_>, method: &str, result: &Bound<'_, PyAny>) -> Answer {
        let mut answer = Answer {
            events: Vec::new(),
            broken: None,
            stop: None,
        };
        let mut faults = Vec::new();
        answer.collect(py, method, result, &mut faults);
        if !faults.is_empty() {
            answer.broken = Some(faults.join("; "));
        }
        answer
    }

    /// Takes the answer's events into `events`, and what was wrong with it into `faults`: an
    /// item that is not a `VenueEvent` is skipped and named (its place and value), and the
    /// items after it are read on, a list's as an iterator's (the venue's code yielded it and
    /// goes on); an iterator that raises is read no further (a stop, see `Answer::stop`, goes
    /// in `stop`), nor is an answer past `MAX_VENUE_ANSWER_ITEMS` items.
    fn collect(
        &mut self,
        py: Python<'_>,
        method: &str,
        result: &Bound<'_, PyAny>,
        faults: &mut Vec<String>,
    ) {
        if result.is_none() {
            return;
        }
        // One event outside a list is still what the venue said (it may be a fill); a dict or
        // a str iterates as its keys or letters, which would name a type the venue never sent.
        let not_a_list = |what: String| {
            format!("venue {method}() must return a list of VenueEvent objects, got {what}")
        };
        if let Ok(ev) = result.cast::<PyVenueEvent>() {
            self.events
                .push((ev.get().inner.clone(), ev.get().status_stated));
            faults.push(not_a_list("one VenueEvent (applied)".into()));
            return;
        }
        let iter = match result.try_iter() {
            Ok(iter)
                if !(result.is_instance_of::<PyString>()
                    || result.is_instance_of::<PyBytes>()
                    || result.is_instance_of::<PyDict>()) =>
            {
                iter
            }
            _ => {
                faults.push(not_a_list(type_name(result)));
                return;
            }
        };
        let mut bad = 0usize;
        for (at, item) in iter.enumerate() {
            let item = match item {
                Ok(item) => item,
                Err(e) if !e.is_instance_of::<PyException>(py) => {
                    self.stop = Some(e);
                    break;
                }
                Err(e) => {
                    faults.push(format!(
                        "venue {method}() answer raised part-way: {}: {}",
                        e.get_type(py)
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                        e.value(py)
                    ));
                    break;
                }
            };
            if at == MAX_VENUE_ANSWER_ITEMS {
                faults.push(format!(
                    "venue {method}() answer holds more than {MAX_VENUE_ANSWER_ITEMS} items: the \
                     first {MAX_VENUE_ANSWER_ITEMS} were read, the rest was not"
                ));
                break;
            }
            match item.cast::<PyVenueEvent>() {
                Ok(ev) => self
                    .events
                    .push((ev.get().inner.clone(), ev.get().status_stated)),
                Err(_) => {
                    bad += 1;
                    if bad <= NAMED_BAD_ITEMS {
                        let first = if bad == 1 {
                            format!("venue {method}() must return VenueEvent objects, ")
                        } else {
                            String::new()
                        };
                        faults.push(format!(
                            "{first}got {} at item {at}: {} (skipped)",
                            type_name(&item),
                            short_repr(&item)
                        ));
                    }
                }
            }
        }
        if bad > NAMED_BAD_ITEMS {
            // After the items named, before what ended the reading (a raise, the limit).
            faults.insert(
                NAMED_BAD_ITEMS,
                format!(
                    "and {} more items that are not VenueEvent objects (skipped)",
                    bad - NAMED_BAD_ITEMS
                ),
            );
        }
    }
}

impl PyKernel {
    /// The kernel, held, with input stopped (see `stop_input`); `method` is the one called
    /// (`stop_input`, `close_core`), named in the refusal from inside a venue call.
    fn stopped<'py>(slf: &Bound<'py, Self>, method: &str) -> PyResult<PyRefMut<'py, Self>> {
        if VenueCall::inside(&wait_ref(slf)?.venue_calls) {
            return Err(PyRuntimeError::new_err(format!(
                "{method}() was called from inside this kernel's own venue call (submit/cancel): \
                 its answer is not applied yet; stop or close the kernel after the call returns"
            )));
        }
        wait_mut(slf)?.stopping = true;
        // A venue call under way has an answer still to apply and log: wait for it.
        let mut this = wait_for(slf.py(), || {
            slf.try_borrow_mut()
                .ok()
                .filter(|k| k.venue_calls.load(Ordering::SeqCst) == 0)
        })?;
        this.closed = true;
        Ok(this)
    }

    fn venue_object(&self, py: Python<'_>) -> Py<PyAny> {
        match &self.venue {
            VenueHandle::Mock(m) => m.clone_ref(py).into_any(),
            VenueHandle::Python(o) => o.clone_ref(py),
        }
    }

    /// Sends what an outcome asks for (a submit, cancels) and folds the venue's synchronous
    /// answers back in, each as its own input. No borrow of the kernel is held while the
    /// venue runs, so other threads can read the kernel and a venue may call back into it.
    fn finish(
        slf: &Bound<'_, Self>,
        this: PyRefMut<'_, Self>,
        mut out: KernelOutcome,
    ) -> PyResult<PyOutcome> {
        let py = slf.py();
        let submitted = out.submit.take();
        let cancels = std::mem::take(&mut out.cancels);
        if submitted.is_none() && cancels.is_empty() {
            return Ok(PyOutcome {
                inner: out,
                order: None,
            });
        }
        // Counted while the input still holds the kernel, so `close_core` cannot slip in
        // between the input and its venue call.
        let _call = VenueCall::start(&this.venue_calls);
        let venue = this.venue.clone_ref(py);
        drop(this);
        if let Some(order) = &submitted {
            match venue.call(py, "submit", order)? {
                Ok(answer) => wait_mut_for_answer(slf).feed(answer, &mut out)?,
                Err(msg) => venue_error(&mut out, "submit_outcome", msg),
            }
        }
        let mut cancels = cancels;
        cancels.append(&mut out.cancels);
        // A stop (Ctrl-C, sys.exit) in one cancel is raised once the others are sent: each
        // order is marked as asked to cancel, and a later freeze would not ask again.
        let mut stop: Option<PyErr> = None;
        while !cancels.is_empty() {
            for order in std::mem::take(&mut cancels) {
                let sent = venue
                    .call(py, "cancel", &order)
                    .and_then(|answer| match answer {
                        Ok(answer) => wait_mut_for_answer(slf).feed(answer, &mut out),
                        Err(msg) => {
                            venue_error(&mut out, "cancel_outcome", msg);
                            Ok(())
                        }
                    });
                if let Err(e) = sent {
                    stop.get_or_insert(e);
                }
            }
            cancels.append(&mut out.cancels);
        }
        if let Some(e) = stop {
            return Err(e);
        }
        Ok(PyOutcome {
            inner: out,
            order: submitted,
        })
    }

    /// Applies and logs the venue's answer; raises its stop (see `Answer::stop`) after. The
    /// outcome's `emitted_events` are the events the kernel took: one it refused (a fill
    /// resent in the same answer) changed nothing, and routed on (a runtime, the gateway's
    /// stream) a strategy heard that fill twice. Each refusal is named in the details
    /// (`KernelOutcome::absorb`).
    fn feed(&mut self, answer: Answer, out: &mut KernelOutcome) -> PyResult<()> {
        for (mut ev, status_stated) in answer.events {
            if !status_stated && ev.kind == KernelEventKind::Fill {
                ev.status = self.core.fill_status_by_sizes(&ev);
            }
            let seq = self.core.seq();
            self.core.on_venue_event_into(&ev, &mut self.follow_up);
            self.wal_record_ref(seq, InputRef::VenueEvent(&ev))?;
            let applied = self.follow_up.applied();
            out.absorb(&mut self.follow_up, &ev);
            if applied {
                out.emitted_events.push(ev);
            }
        }
        if let Some(broken) = answer.broken {
            // The intent stands and what the venue did say is applied: raising here would
            // lose the outcome (and its order) after the kernel took both.
            out.severity = out.severity.max(KernelSeverity::Error);
            out.details
                .push(("venue_answer_error", Detail::Str(broken)));
        }
        answer.stop.map_or(Ok(()), Err)
    }

    /// `event` with the status its sizes say when it is a FILL made without one
    /// (`Kernel::fill_status_by_sizes`), taken and logged so; None when it is to be taken as made.
    fn with_status(&self, event: &PyVenueEvent) -> Option<VenueEvent> {
        (!event.status_stated && event.inner.kind == KernelEventKind::Fill).then(|| {
            let mut ev = event.inner.clone();
            ev.status = self.core.fill_status_by_sizes(&ev);
            ev
        })
    }

    /// A slot's dict as `slots()` and the projections show it: its own fields plus what it
    /// waits for of fills the venue said happened (`awaited_fill_qty`) and the client id of
    /// its order in doubt (`order_in_doubt`, "" when none); neither is read on load.
    fn slot_view<'py>(
        &self,
        py: Python<'py>,
        s: &crate::model::TradeSlot,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = slot_dict(py, s)?;
        d.set_item("awaited_fill_qty", self.core.awaited_fill_qty(s.slot_id))?;
        let doubt = self.core.order_in_doubt(s.slot_id);
        d.set_item(
            "order_in_doubt",
            doubt.map_or("", |o| o.client_order_id.as_str()),
        )?;
        Ok(d)
    }

    fn account_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
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
        // The newest learned sample's ratio (before rules 20 the one both sides shared) and
        // every sample; then each liquidity's, which its fills are predicted by.
        d.set_item("fee_calibration_ratio", k.fees.calibration_ratio)?;
        d.set_item("fee_calibration_samples", k.fees.calibration_samples)?;
        d.set_item("maker_fee_calibration_ratio", k.fees.maker.ratio)?;
        d.set_item("maker_fee_calibration_samples", k.fees.maker.samples)?;
        d.set_item("taker_fee_calibration_ratio", k.fees.taker.ratio)?;
        d.set_item("taker_fee_calibration_samples", k.fees.taker.samples)?;
        Ok(d)
    }

    fn control_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.core.control;
        let d = PyDict::new(py);
        d.set_item("kernel_id", &self.core.kernel_id)?;
        d.set_item("mode", c.mode.name())?;
        d.set_item("verbosity", c.verbosity.name())?;
        d.set_item("debug_clickhouse_enabled", c.debug_clickhouse_enabled)?;
        d.set_item("frozen", c.frozen)?;
        d.set_item("freeze_reason", &c.freeze_reason)?;
        d.set_item("freeze_asset", &c.freeze_asset)?;
        d.set_item("freeze_events", c.freeze_events)?;
        d.set_item("source", &c.source)?;
        d.set_item("updated_seq", c.updated_seq)?;
        Ok(d)
    }

    fn slot_ref(&self, slot_id: i64) -> PyResult<&crate::model::TradeSlot> {
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
    #[new]
    #[pyo3(signature = (max_slots=None, venue=None, journal=None, projection=None, control_plane=None,
        kernel_id=None, **kwargs))]
    #[allow(unused_variables, clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        max_slots: Option<&Bound<'_, PyAny>>,
        venue: Option<Bound<'_, PyAny>>,
        journal: Option<&Bound<'_, PyAny>>,
        projection: Option<&Bound<'_, PyAny>>,
        control_plane: Option<&Bound<'_, PyAny>>,
        kernel_id: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let max_slots_arg = max_slots;
        let max_slots = match max_slots {
            None => 10,
            Some(v) if v.is_none() => 10,
            Some(v) => {
                let n = int_arg(v, "max_slots")?;
                if n < 1 {
                    return Err(PyValueError::new_err(format!(
                        "invalid max_slots: {n} (must be at least 1)"
                    )));
                }
                n as usize
            }
        };
        let explicit_max_slots = max_slots_arg.is_some_and(|v| !v.is_none());
        let kernel_id = match kernel_id {
            // Checked as an intent's ids are: it begins every client order id.
            Some(v) if !v.is_none() => Some(named_id(v, "kernel_id")?.to_string()),
            _ => None,
        };
        let mut journal_capacity = None;
        let mut seed_capital = None;
        let mut wal_args = wal::WalArgs::default();
        if let Some(kw) = kwargs {
            for (k, v) in kw.iter() {
                let key = str_arg(&k, "keyword")?;
                match key.as_str() {
                    "journal_capacity" => {
                        journal_capacity =
                            Some(wal::positive_int(&v, "journal_capacity", 1)? as usize);
                    }
                    "seed_capital" => {
                        let c = float_arg(&v, "seed_capital")?;
                        crate::error::check_number("seed_capital", c, 0.0)?;
                        seed_capital = Some(c);
                    }
                    other if wal_args.take(other, &v)? => {}
                    other => {
                        return Err(PyTypeError::new_err(format!(
                            "ExecutionKernel got an unexpected keyword argument {other:?}"
                        )))
                    }
                }
            }
        }
        wal_args.check()?;
        // A kernel reopened on its log without an id takes the log's id.
        let existing_log_id = wal_args.existing_kernel_id()?;
        let kernel_id = match kernel_id {
            Some(k) => k,
            None => existing_log_id.clone().unwrap_or_else(default_kernel_id),
        };
        // Everything is checked before the write-ahead log is opened: a refused call must
        // leave no log behind (a retry would recover it and ignore its own arguments).
        for (name, component) in [
            ("journal", journal),
            ("projection", projection),
            ("control_plane", control_plane),
        ] {
            if let Some(c) = component.filter(|c| !c.is_none()) {
                if !c.getattr("attach").is_ok_and(|a| a.is_callable()) {
                    return Err(PyTypeError::new_err(format!(
                        "invalid {name}: {} has no attach() method",
                        c.get_type().name()?
                    )));
                }
            }
        }
        let venue = match venue {
            None => VenueHandle::Mock(Py::new(
                py,
                PyMockVenue {
                    inner: crate::mock::MockVenue::new(Default::default())?,
                },
            )?),
            Some(v) if v.is_none() => VenueHandle::Mock(Py::new(
                py,
                PyMockVenue {
                    inner: crate::mock::MockVenue::new(Default::default())?,
                },
            )?),
            // The native mock itself only: a subclass overriding submit or cancel is called as any
            // Python venue (taken for the native one, its overrides were never called).
            Some(v) => match v.cast_exact::<PyMockVenue>() {
                Ok(m) => VenueHandle::Mock(m.clone().unbind()),
                Err(_) => {
                    for method in ["submit", "cancel"] {
                        if !v.hasattr(method)? {
                            return Err(PyTypeError::new_err(format!(
                                "invalid venue: {} has no {method}() method (see dita.venues.VenueAdapter)",
                                v.get_type().name()?
                            )));
                        }
                    }
                    VenueHandle::Python(v.unbind())
                }
            },
        };
        // Recovery runs before anything else touches the kernel. With a journal passed in,
        // the replayed records' rows go to its outbox, so a restart fills the journal's gap
        // (the journal recognises the rows it already has).
        let mut fresh = Kernel::new(&kernel_id, max_slots)?;
        if let Some(c) = journal_capacity {
            fresh.outbox.capacity = c;
        }
        fresh.set_journal_enabled(journal.is_some_and(|j| !j.is_none()));
        // A journal that already holds rows of this kernel id would refuse a kernel on a new
        // log at attach() (its rows would take stored keys): it is asked before the log is
        // made, so that refusal leaves no log behind either.
        if let Some(j) = journal.filter(|j| !j.is_none()) {
            if let Some(dir) = wal_args.dir().filter(|_| existing_log_id.is_none()) {
                if j.hasattr("refuse_new_log")? {
                    let first_seq = u64::from(seed_capital.is_some());
                    j.call_method1("refuse_new_log", (&kernel_id, first_seq, dir))?;
                }
            }
        }
        // The recovered kernel must be of the shape asked for, judged before the log is
        // repaired or written: a refusal leaves it as it was.
        let (mut core, mut wal) = wal_args.open(py, fresh, |log, kernel, dir| {
            // A log with segments but no usable checkpoint has no record of the slot count:
            // one that holds records, or only a segment header (the process died before
            // checkpoint 0 was written), which would otherwise take the default's.
            let found = log.recovery();
            if !explicit_max_slots && found.segments > 0 && found.checkpoint_seq.is_none() {
                return Err(wal::no_shape_error(dir, log.recovery(), "max_slots"));
            }
            if explicit_max_slots && kernel.max_slots() != max_slots {
                return Err(PyValueError::new_err(format!(
                    "invalid max_slots: {max_slots} (the write-ahead log in {} holds a kernel with {} slots)",
                    dir.display(),
                    kernel.max_slots()
                )));
            }
            Ok(())
        })?;
        // A kernel recovered from its log remembers its venue's earlier event ids: a venue
        // that can mark its ids with the seq (the simulated ones, which count from 1 in every
        // process) is told it, so none of its answers is refused as a duplicate.
        if let Some(seq) = wal
            .as_ref()
            .filter(|w| !w.log.is_new())
            .map(|_| core.seq())
            .filter(|&s| s > 0)
        {
            match &venue {
                VenueHandle::Mock(m) => m.borrow_mut(py).inner.resume(seq),
                VenueHandle::Python(v) => {
                    let v = v.bind(py);
                    if v.getattr("resume").is_ok_and(|r| r.is_callable()) {
                        v.call_method1("resume", (seq,))?;
                    }
                }
            }
        }
        // Seed capital from the constructor applies to a new kernel, and to one whose log
        // holds no input yet (its process died before the seed capital's record reached the
        // disk: it would come back with none); a kernel recovered from inputs keeps the
        // capital its log recorded (change it with set_seed_capital).
        if let Some(c) = seed_capital.filter(|_| wal.as_ref().is_none_or(|w| w.log.held_no_input()))
        {
            core.set_seed_capital(c)?;
            if let Some(w) = wal.as_mut() {
                w.log
                    .record(&core, &KernelInput::SeedCapital(c))
                    .map_err(wal::wal_err)?;
            }
        }
        if let Some(c) = journal_capacity {
            core.outbox.capacity = c;
        }
        Ok(PyKernel {
            core,
            venue,
            wal,
            closed: false,
            stopping: false,
            log_released: false,
            released_through: None,
            venue_calls: Arc::default(),
            follow_up: KernelOutcome::blank(),
        })
    }

    #[getter]
    fn kernel_id(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = wait_ref(slf)?;
        Ok(this.core.kernel_id.clone())
    }

    #[getter]
    fn max_slots(slf: &Bound<'_, Self>) -> PyResult<usize> {
        let this = wait_ref(slf)?;
        Ok(this.core.max_slots())
    }

    #[getter]
    fn venue(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let this = wait_ref(slf)?;
        Ok(this.venue_object(py))
    }

    #[getter]
    fn seq(slf: &Bound<'_, Self>) -> PyResult<u64> {
        let this = wait_ref(slf)?;
        Ok(this.core.seq())
    }

    /// Decides on an intent and, if accepted, hands the order to the venue; the venue's
    /// synchronous answers are applied before this returns.
    fn process_intent(slf: &Bound<'_, Self>, intent: &Bound<'_, PyAny>) -> PyResult<PyOutcome> {
        let mut this = wait_mut(slf)?;
        let intent = expect_native::<PyIntent>(intent, "process_intent expects a KernelIntent")?;
        this.wal_guard()?;
        let seq = this.core.seq();
        let out = this.core.process_intent(&intent.get().inner);
        this.wal_record_ref(seq, InputRef::Intent(&intent.get().inner))?;
        Self::finish(slf, this, out)
    }

    /// Applies an event a venue reported (asynchronously, e.g. a fill from a stream).
    fn on_venue_event(slf: &Bound<'_, Self>, event: &Bound<'_, PyAny>) -> PyResult<PyOutcome> {
        let mut this = wait_mut(slf)?;
        let event = expect_native::<PyVenueEvent>(event, "on_venue_event expects a VenueEvent")?;
        this.wal_guard()?;
        let seq = this.core.seq();
        let stated = this.with_status(event.get());
        let ev = stated.as_ref().unwrap_or(&event.get().inner);
        let out = this.core.on_venue_event(ev);
        this.wal_record_ref(seq, InputRef::VenueEvent(ev))?;
        Self::finish(slf, this, out)
    }

    fn on_account_event(slf: &Bound<'_, Self>, event: &Bound<'_, PyAny>) -> PyResult<PyOutcome> {
        let mut this = wait_mut(slf)?;
        let event =
            expect_native::<PyAccountEvent>(event, "on_account_event expects an AccountEvent")?;
        this.wal_guard()?;
        let seq = this.core.seq();
        let out = this.core.on_account_event(&event.get().inner);
        this.wal_record_ref(seq, InputRef::AccountEvent(&event.get().inner))?;
        Ok(PyOutcome {
            inner: out,
            order: None,
        })
    }

    /// Marks `asset` at `price`: unrealized PnL of its open slots follows. Returns how
    /// many slots were updated.
    #[pyo3(signature = (asset, price, timestamp=None))]
    fn mark_price(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        price: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = opt_real::timestamp)] timestamp: Option<f64>,
    ) -> PyResult<usize> {
        let mut this = wait_mut(slf)?;
        let price = float_arg(price, "price")?;
        this.wal_guard()?;
        let (seq, ts) = (this.core.seq(), time_or_now(timestamp));
        let n = this.core.mark_price(&asset, price, ts)?;
        this.wal_record(seq, || KernelInput::MarkPrice {
            asset: asset.clone(),
            price,
            ts,
        })?;
        Ok(n)
    }

    /// The measured edge of `asset` in basis points; below the risk limit's threshold the
    /// kernel freezes entries and cancels every working order.
    #[pyo3(signature = (asset, edge_bps, timestamp=None))]
    fn on_edge_update(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        edge_bps: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = opt_real::timestamp)] timestamp: Option<f64>,
    ) -> PyResult<PyOutcome> {
        let mut this = wait_mut(slf)?;
        let edge = float_arg(edge_bps, "edge_bps")?;
        this.wal_guard()?;
        let (seq, ts) = (this.core.seq(), time_or_now(timestamp));
        let out = this.core.on_edge_update(&asset, edge, ts)?;
        this.wal_record(seq, || KernelInput::EdgeUpdate {
            asset: asset.clone(),
            edge_bps: edge,
            ts,
        })?;
        Self::finish(slf, this, out)
    }

    fn free_slot(slf: &Bound<'_, Self>) -> PyResult<Option<usize>> {
        let this = wait_ref(slf)?;
        Ok(this.core.free_slot())
    }

    fn slot_state(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
    ) -> PyResult<PySlot> {
        let this = wait_ref(slf)?;
        Ok(PySlot {
            inner: this.slot_ref(slot_id)?.clone(),
        })
    }

    fn slot_dict<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let d = this.slot_view(py, this.slot_ref(slot_id)?)?;
        d.set_item("kernel_id", &this.core.kernel_id)?;
        Ok(d)
    }

    fn set_slot_metadata(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        metadata: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let mut this = wait_mut(slf)?;
        let meta = metadata_arg(Some(metadata), "metadata")?;
        this.wal_guard()?;
        let (seq, logged) = (this.core.seq(), this.wal.is_some().then(|| meta.clone()));
        this.core.set_slot_metadata(slot_id, meta)?;
        this.wal_record(seq, || KernelInput::SlotMetadata {
            slot_id,
            metadata: logged.unwrap_or_default(),
        })
    }

    fn set_slot_exit_leg_ratios(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = slot_id_arg)] slot_id: i64,
        #[pyo3(from_py_with = real_list::ratios)] ratios: Vec<f64>,
    ) -> PyResult<()> {
        let ratios = legs(ratios, "ratios")?;
        let mut this = wait_mut(slf)?;
        this.wal_guard()?;
        let seq = this.core.seq();
        this.core.set_slot_exit_legs(slot_id, &ratios)?;
        this.wal_record(seq, || KernelInput::SlotExitLegs { slot_id, ratios })
    }

    /// Replaces every slot from saved slot dicts (as `slots()` returns them). All are
    /// validated first; on any error nothing changes. Returns the number of open positions.
    fn reconcile_from_slots(slf: &Bound<'_, Self>, slots: &Bound<'_, PyAny>) -> PyResult<usize> {
        // The caller's iterable and dicts are read before the kernel is taken: their Python
        // code may call into this kernel (or another thread may), which must not find it held.
        // One item past max_slots is read, to know there is more: an endless generator was
        // read until memory ran out.
        let max_slots = wait_ref(slf)?.core.max_slots();
        let items: Vec<Bound<'_, PyAny>> = slots
            .try_iter()
            .map_err(|_| wrong_type("reconcile_from_slots expects a list of slot dicts", slots))?
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
            parsed.push(slot_from_py(item, i)?);
        }
        let mut this = wait_mut(slf)?;
        this.wal_guard()?;
        let seq = this.core.seq();
        let logged = this
            .wal
            .is_some()
            .then(|| KernelInput::replace_slots(parsed.clone()));
        if let Some(n) = logged.as_ref().and_then(too_large_to_log) {
            return Err(PyValueError::new_err(format!(
                "invalid slots: {n} bytes as one write-ahead log record (at most {} bytes; \
                 load less metadata)",
                MAX_PAYLOAD_BYTES
            )));
        }
        this.core.replace_slots(parsed)?;
        this.wal_record(seq, || logged.expect("made for the log"))?;
        Ok(this.core.open_positions())
    }

    fn set_seed_capital(slf: &Bound<'_, Self>, capital: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut this = wait_mut(slf)?;
        let c = float_arg(capital, "capital")?;
        this.wal_guard()?;
        let seq = this.core.seq();
        this.core.set_seed_capital(c)?;
        this.wal_record(seq, || KernelInput::SeedCapital(c))
    }

    /// Updates exchange fields (taker_rate, maker_rate, lot_step, tick_size, min_notional,
    /// funding_interval_secs). Every value is checked before anything changes; maker_rate may
    /// be negative (a rebate) down to -taker_rate.
    fn set_exchange_config(slf: &Bound<'_, Self>, config: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut this = wait_mut(slf)?;
        let fields = number_fields(config, "exchange config")?;
        this.wal_guard()?;
        let seq = this.core.seq();
        this.core.set_exchange_config(&fields)?;
        this.wal_record(seq, || KernelInput::ExchangeConfig(fields))
    }

    fn exchange_config<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let c = &this.core.fees.config;
        let d = PyDict::new(py);
        d.set_item("taker_rate", c.taker_rate)?;
        d.set_item("maker_rate", c.maker_rate)?;
        d.set_item("lot_step", c.lot_step)?;
        d.set_item("tick_size", c.tick_size)?;
        d.set_item("min_notional", c.min_notional)?;
        d.set_item("funding_interval_secs", c.funding_interval_secs)?;
        Ok(d)
    }

    /// Per-asset precision and floors from the venue: lot_step, tick_size, min_qty, min_notional.
    fn set_market_limits(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
        limits: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let mut this = wait_mut(slf)?;
        let fields = number_fields(limits, "market limits")?;
        this.wal_guard()?;
        let seq = this.core.seq();
        this.core.set_market_limits(&asset, &fields)?;
        this.wal_record(seq, || KernelInput::MarketLimits {
            asset: asset.clone(),
            fields,
        })
    }

    fn market_limits<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
        #[pyo3(from_py_with = ident::asset)] asset: Id,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let this = wait_ref(slf)?;
        let Some(m) = this.core.market_limits(&asset) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("lot_step", m.lot_step)?;
        d.set_item("tick_size", m.tick_size)?;
        d.set_item("min_qty", m.min_qty)?;
        d.set_item("min_notional", m.min_notional)?;
        Ok(Some(d))
    }

    /// Sets risk rules from a dict (``RiskLimits.model_dump()``); None turns a rule off.
    fn set_risk_limits(slf: &Bound<'_, Self>, limits: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut this = wait_mut(slf)?;
        let dict =
            &as_dict(limits)?.ok_or_else(|| wrong_type("risk limits must be a dict", limits))?;
        let mut updates = Vec::with_capacity(dict.len());
        // A copy of the items, as in `number_fields`: a value's __float__ may change the dict.
        for (k, v) in dict_items(dict)? {
            let key = str_arg(&k, "risk limits key")?;
            let value = if key == "require_source_run_in_live" {
                config_flag(&v, &key)?
            } else {
                config_value(&v, &key)?
            };
            updates.push((key, value));
        }
        let next = this.core.risk_updates(&updates)?;
        this.wal_guard()?;
        let (seq, logged) = (this.core.seq(), this.wal.is_some().then(|| next.clone()));
        this.core.set_risk_limits(next);
        this.wal_record(seq, || KernelInput::RiskLimits(logged.unwrap_or_default()))
    }

    fn risk_limits<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        let r = &this.core.risk;
        let d = PyDict::new(py);
        d.set_item("max_leverage", r.max_leverage)?;
        d.set_item("max_notional_per_asset", r.max_notional_per_asset)?;
        d.set_item("max_notional_total", r.max_notional_total)?;
        d.set_item("max_order_rate", r.max_order_rate)?;
        d.set_item("regime", r.regime.name())?;
        d.set_item("edge_freeze_threshold_bps", r.edge_freeze_threshold_bps)?;
        d.set_item("require_source_run_in_live", r.require_source_run_in_live)?;
        Ok(d)
    }

    #[pyo3(signature = (price, qty, actual_fee, maker=false))]
    fn calibrate_fee<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
        price: &Bound<'_, PyAny>,
        qty: &Bound<'_, PyAny>,
        actual_fee: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = flag::maker)] maker: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut this = wait_mut(slf)?;
        let (price, qty, actual_fee) = (
            float_arg(price, "price")?,
            float_arg(qty, "qty")?,
            float_arg(actual_fee, "actual_fee")?,
        );
        this.wal_guard()?;
        let seq = this.core.seq();
        let c = this.core.calibrate_fee(price, qty, actual_fee, maker)?;
        this.wal_record(seq, || KernelInput::CalibrateFee {
            price,
            qty,
            actual_fee,
            maker,
        })?;
        let d = PyDict::new(py);
        d.set_item("expected_fee", c.expected_fee)?;
        d.set_item("actual_fee", c.actual_fee)?;
        d.set_item("ratio", c.ratio)?;
        d.set_item("deviation_pct", c.deviation_pct)?;
        d.set_item("calibration_status", c.calibration_status.name())?;
        d.set_item("calibration_ratio", c.calibration_ratio)?;
        d.set_item("calibration_samples", c.calibration_samples)?;
        d.set_item("calibration_learned", c.learned)?;
        d.set_item("liquidity", c.liquidity.name())?;
        Ok(d)
    }

    // `text_signature`: the defaults as Python shows them; `source`'s default in `signature` is
    // a Rust value, which it would show as "...".
    #[pyo3(signature = (mode=None, verbosity=None, debug_clickhouse_enabled=None, source="local".to_string()),
        text_signature = "($self, mode=None, verbosity=None, debug_clickhouse_enabled=None, source=\"local\")")]
    fn update_control<'py>(
        slf: &Bound<'py, Self>,
        mode: Option<&Bound<'_, PyAny>>,
        verbosity: Option<&Bound<'_, PyAny>>,
        debug_clickhouse_enabled: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = labels::source)] source: String,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mode: Option<ControlMode> = opt_enum_arg(mode, "mode")?;
        let verbosity: Option<Verbosity> = opt_enum_arg(verbosity, "verbosity")?;
        let debug = match debug_clickhouse_enabled {
            None => None,
            Some(v) if v.is_none() => None,
            // A flag as every entry point takes one: a bool, Python's or numpy's, or 0 or 1.
            Some(v) => Some(bool_arg(v, "debug_clickhouse_enabled")?),
        };
        // Taken once the arguments are read (which may run Python code), and waited for as
        // every input waits: a control plane's HALTED from another thread lands while another
        // call is inside the kernel, instead of raising "Already borrowed".
        let mut this = wait_mut(slf)?;
        this.wal_guard()?;
        let (seq, ts) = (this.core.seq(), now());
        this.core
            .update_control(mode, verbosity, debug, &source, ts);
        this.wal_record(seq, || KernelInput::Control {
            mode,
            verbosity,
            debug,
            source: source.clone(),
            ts,
        })?;
        this.control_dict(slf.py())
    }

    fn control<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        this.control_dict(py)
    }

    /// The write-ahead log's state and what recovery found, or None without `wal_dir`.
    fn wal_info<'py>(
        slf: &Bound<'_, Self>,
        py: Python<'py>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let this = wait_ref(slf)?;
        this.wal_info_dict(py)
    }

    /// The newest input whose journal rows the outbox hands out: with a write-ahead log, the
    /// last one a restart recovers (durable; handed to the OS under fsync "none"), so a
    /// journal never holds rows of an input the log lost; None without a log (all).
    #[pyo3(name = "journaled_through")]
    fn journaled_through_py(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        Ok(wait_ref(slf)?.journaled_through())
    }

    /// Syncs every recorded input to stable storage; returns the durable seq (None without a log).
    fn wal_sync(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        let mut this = wait_mut(slf)?;
        this.wal_sync_now()
    }

    /// Refuses every later input (reads still work) at once, but from inside the venue calls
    /// under way, and returns once those have had their answers applied and logged. Refused
    /// (RuntimeError, nothing changes) from inside this kernel's own venue call, which could
    /// never end first. Idempotent.
    fn stop_input(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::stopped(slf, "stop_input").map(drop)
    }

    /// Why the kernel takes no more input (closed or closing, or its write-ahead log failed
    /// or was released), as the refusal of an input would say it; None while it takes input.
    /// A read: it changes and logs nothing.
    fn input_refused_reason(slf: &Bound<'_, Self>) -> PyResult<Option<String>> {
        let this = wait_ref(slf)?;
        Ok(this
            .wal_guard()
            .err()
            .map(|e| e.value(slf.py()).to_string()))
    }

    /// Ends the kernel: `stop_input`, then ends the write-ahead log with a checkpoint, syncs
    /// it, stops its thread and releases its lock, so the same `wal_dir` can be opened again
    /// at once. Returns the durable seq (None without a log). Idempotent.
    fn close_core(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        let mut this = Self::stopped(slf, "close_core")?;
        // A clean stop ends the log with a checkpoint: the next open starts from it, and a
        // build of another behaviour version can open the log from it.
        let unended = this.wal_guard().is_ok()
            && this
                .wal
                .as_ref()
                .is_some_and(|s| s.log.records_since_checkpoint() > 0);
        let checkpointed = if unended {
            this.wal_checkpoint_now().map(drop)
        } else {
            Ok(())
        };
        let synced = this.wal_sync_now();
        this.released_through = this.journaled_through();
        drop(this.wal.take());
        this.log_released = true;
        checkpointed.and(synced)
    }

    /// Writes a checkpoint of the whole kernel now; returns its seq (None without a log).
    fn wal_checkpoint(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        let mut this = wait_mut(slf)?;
        this.wal_checkpoint_now()
    }

    fn account<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let this = wait_ref(slf)?;
        this.account_dict(py)
    }

    fn slots<'py>(slf: &Bound<'_, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let this = wait_ref(slf)?;
        let list = PyList::empty(py);
        for s in this.core.slots() {
            list.append(this.slot_view(py, s)?)?;
        }
        Ok(list)
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
        Ok(d)
    }

    fn set_journal_enabled(slf: &Bound<'_, Self>, enabled: &Bound<'_, PyAny>) -> PyResult<()> {
        // A flag as every entry point takes one: a bool, Python's or numpy's, or 0 or 1.
        let enabled = bool_arg(enabled, "enabled")?;
        let mut this = wait_mut(slf)?;
        this.core.set_journal_enabled(enabled);
        Ok(())
    }

    /// Turns the journal outbox on with no rows held and its mark of dropped inputs cleared,
    /// and returns the kernel's seq: every later input's rows go to the outbox, and a journal
    /// derives the rows up to it from the write-ahead log (`wal_journal_blocks`). One call,
    /// so no input falls between the two. Refused (WalError) while the log has failed: the
    /// records the rows would come from may not be in it.
    fn journal_restart(slf: &Bound<'_, Self>) -> PyResult<u64> {
        let mut this = wait_mut(slf)?;
        this.log_guard()?;
        this.core.outbox.restart();
        this.core.set_journal_enabled(true);
        Ok(this.core.seq())
    }

    /// `(True, seq)`: the oldest input whose journal rows the outbox dropped for lack of
    /// room since `journal_restart` (None: none). `(False, None)` when the kernel is busy
    /// in another thread right now (it never waits).
    fn journal_drop_mark(slf: &Bound<'_, Self>) -> (bool, Option<u64>) {
        match slf.try_borrow() {
            Ok(k) => (true, k.core.outbox.first_dropped_seq),
            Err(_) => (false, None),
        }
    }

    /// Clears the mark of dropped inputs and returns the kernel's seq S, for a journal that
    /// derives the rows of every input up to S from the write-ahead log (`wal_journal_blocks`)
    /// while the outbox keeps the rows it holds; drops of inputs up to S are not marked
    /// again. None when the kernel is busy in another thread right now (it never waits).
    /// Refused (WalError) while the log has failed, and then nothing is cleared.
    fn journal_clear_drop_mark(slf: &Bound<'_, Self>) -> PyResult<Option<u64>> {
        let Ok(mut this) = slf.try_borrow_mut() else {
            return Ok(None);
        };
        this.log_guard()?;
        let seq = this.core.seq();
        this.core.outbox.clear_drop_mark(seq);
        Ok(Some(seq))
    }

    /// Takes the oldest journal rows, `{table: [row tuple, ...]}` in JOURNAL_COLUMNS order: at
    /// most `max_rows`, unless the oldest input alone has more (an input's rows stay together).
    /// When the kernel is busy in another thread (inside a Python venue call) nothing is
    /// taken this time; the rows stay queued for the next call.
    #[pyo3(signature = (max_rows=10000))]
    fn drain_journal<'py>(
        slf: &Bound<'py, Self>,
        #[pyo3(from_py_with = count::max_rows)] max_rows: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let max_rows = usize::try_from(max_rows).unwrap_or(usize::MAX);
        let py = slf.py();
        let (tables, pool) = match slf.try_borrow_mut() {
            Ok(mut k) => {
                let through = k.journaled_through();
                (
                    k.core.outbox.take_rows_through(max_rows, through),
                    k.core.outbox.pool,
                )
            }
            Err(_) => return tables_to_py(py, &Default::default()),
        };
        let rows = tables_to_py(py, &tables);
        for segments in tables {
            pool.give(segments);
        }
        rows
    }

    /// Takes the oldest journal rows (as `drain_journal` counts them) as one `JournalBlock` per
    /// table; rows stay native and are encoded later with the GIL released. None when another
    /// thread is inside the kernel right now: nothing was taken, the rows wait for next time.
    #[pyo3(signature = (max_rows=100000))]
    fn drain_journal_blocks(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = count::max_rows)] max_rows: u64,
    ) -> Option<Vec<PyJournalBlock>> {
        let max_rows = usize::try_from(max_rows).unwrap_or(usize::MAX);
        let (kernel_id, tables, pool) = {
            let mut k = slf.try_borrow_mut().ok()?;
            if k.core.outbox.is_empty() {
                return Some(Vec::new());
            }
            let through = k.journaled_through();
            let k = &mut k.core;
            let tables = k.outbox.take_rows_through(max_rows, through);
            (k.kernel_id.clone(), tables, k.outbox.pool)
        };
        // The segments taken are copied into the blocks here, with the kernel free again and
        // the GIL released, and go back to the pool for the kernel's next rows.
        Some(slf.py().detach(move || blocks_of(&kernel_id, tables, pool)))
    }

    /// The journal rows of the log's records `from_seq..=to_seq` (default: the newest
    /// record), derived again by a read-only replay of the log, with the GIL released and the
    /// kernel free meanwhile; `sink(blocks)` gets them in chunks of about `chunk_rows` rows.
    /// Returns the number of rows. What a journal resends when ClickHouse misses rows that
    /// the outbox no longer holds (docs/journal.md, "Resending from the WAL").
    #[pyo3(signature = (from_seq, to_seq=None, *, sink, chunk_rows=100_000))]
    fn wal_journal_blocks(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = int::from_seq)] from_seq: i64,
        #[pyo3(from_py_with = opt_int::to_seq)] to_seq: Option<i64>,
        sink: Bound<'_, PyAny>,
        #[pyo3(from_py_with = int::chunk_rows)] chunk_rows: i64,
    ) -> PyResult<u64> {
        if !sink.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "wal_journal_blocks sink must be callable, got {}",
                type_name(&sink)
            )));
        }
        let py = slf.py();
        let (dir, kernel_id, max_slots, to) = {
            let mut this = wait_mut(slf)?;
            let Some(state) = this.wal.as_ref() else {
                return Err(PyValueError::new_err(
                    "wal_journal_blocks needs a kernel with a write-ahead log (ExecutionKernel(wal_dir=...))",
                ));
            };
            let (last, held) = (
                state.log.wal().last_seq(),
                state.log.wal().recoverable_seq(),
            );
            let dir = state.dir.clone();
            let holds = if last == 0 {
                "the log holds no records yet".to_string()
            } else {
                format!("the log holds records 1..={last}")
            };
            if from_seq < 1 || from_seq as u64 > last {
                return Err(PyValueError::new_err(format!(
                    "invalid from_seq: {from_seq} ({holds})"
                )));
            }
            let to = to_seq.unwrap_or(last as i64);
            if to < from_seq || to as u64 > last {
                return Err(PyValueError::new_err(format!(
                    "invalid to_seq: {to} (must be from from_seq {from_seq} to the log's last record {last})"
                )));
            }
            if chunk_rows < 1 {
                return Err(PyValueError::new_err(format!(
                    "invalid chunk_rows: {chunk_rows} (must be at least 1)"
                )));
            }
            // The replay reads the files, and gives rows only of inputs the log holds, as the
            // outbox does (`journaled_through`): records still in the writer's buffer must reach
            // them, and under "batch" be synced. Compared with what was handed to the OS, rows of
            // records written but not yet synced reached a journal, and a machine crash then
            // left rows of inputs the log lost.
            if held < to as u64 {
                this.wal_sync_now()?;
            }
            (dir, this.core.kernel_id.clone(), this.core.max_slots(), to)
        };
        let sink = sink.unbind();
        let mut rows = 0u64;
        let mut failed: Option<PyErr> = None;
        let replayed = py.detach(|| {
            crate::wal::kernel_log::journal_rows_read_only(
                &dir,
                from_seq as u64,
                to as u64,
                |kid| Kernel::new(kid, max_slots).map_err(|e| e.to_string()),
                chunk_rows as usize,
                |tables| {
                    // The replay's kernel, built here or from a checkpoint, writes into the
                    // process's pool.
                    let blocks = blocks_of(&kernel_id, tables, &SEGMENT_POOL);
                    rows += blocks.iter().map(|b| b.__len__() as u64).sum::<u64>();
                    Python::attach(|py| sink.call1(py, (blocks,)).map(|_| ())).map_err(|e| {
                        failed = Some(e);
                        "the sink raised".to_string()
                    })
                },
            )
        });
        if let Some(e) = failed {
            return Err(e);
        }
        replayed.map_err(wal::wal_err)?;
        Ok(rows)
    }

    fn set_projection_enabled(slf: &Bound<'_, Self>, enabled: &Bound<'_, PyAny>) -> PyResult<()> {
        // A flag as every entry point takes one: a bool, Python's or numpy's, or 0 or 1.
        let enabled = bool_arg(enabled, "enabled")?;
        let mut this = wait_mut(slf)?;
        this.core.set_projection_enabled(enabled);
        Ok(())
    }

    /// Slots, account and control changed since the last call (for a projection publisher).
    /// Empty when the kernel is busy in another thread; the keys stay dirty until next time.
    fn drain_dirty(slf: &Bound<'_, Self>) -> (Vec<usize>, bool, bool) {
        match slf.try_borrow_mut() {
            Ok(mut k) => k.core.dirty.drain(),
            Err(_) => (Vec::new(), false, false),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let this = wait_ref(slf)?;
        Ok(format!(
            "ExecutionKernel(kernel_id={:?}, max_slots={}, open_positions={}, mode={})",
            this.core.kernel_id,
            this.core.max_slots(),
            this.core.open_positions(),
            this.core.control.mode
        ))
    }
}

/// A slot from its dict form (as `slots()` writes it), every field checked and named.
fn slot_from_py(obj: &Bound<'_, PyAny>, index: usize) -> PyResult<crate::model::TradeSlot> {
    use crate::model::TradeSlot;
    let d = &as_dict(obj)?
        .ok_or_else(|| wrong_type(format_args!("slots[{index}] must be a dict"), obj))?;
    let field = |name: &str| format!("slots[{index}].{name}");
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
        let od = &as_dict(&v)?.ok_or_else(|| {
            PyTypeError::new_err(format!("{} must be a dict or None", field(name)))
        })?;
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
            created_at: onum("created_at")?,
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
    s.entry_time = num("entry_time")?;
    s.unrealized_pnl = num("unrealized_pnl")?;
    s.realized_pnl = num("realized_pnl")?;
    s.fees_paid = num("fees_paid")?;
    s.closed = bool_arg(&get("closed")?, &field("closed"))?;
    let legs = get("exit_leg_ratios")?;
    // As an intent's legs: no bool read as 1.0 (the kernel checks the count and the values).
    refuse_non_numbers(&legs, &field("exit_leg_ratios"))?;
    let ratios: Vec<f64> = legs.extract().map_err(|e| {
        list_overflow(&legs, &field("exit_leg_ratios"), &e).unwrap_or_else(|| {
            wrong_type(
                format_args!("{} must be a list of numbers", field("exit_leg_ratios")),
                &legs,
            )
        })
    })?;
    s.exit_leg_ratios = ratios.into();
    s.active_leg_index = index_arg(&get("active_leg_index")?, &field("active_leg_index"))?;
    s.active_entry_order = order("active_entry_order")?;
    s.active_exit_order = order("active_exit_order")?;
    s.fsm_state = enum_arg(&get("fsm_state")?, &field("fsm_state"))?;
    let reason = str_arg(&get("close_reason")?, &field("close_reason"))?;
    s.close_reason = text(&reason, &field("close_reason"))?.to_string();
    s.last_event_time = num("last_event_time")?;
    // Keys a slot saved by an older build lacks: 0 without them. `leg_taken` is shown since
    // rules 21 and read since 22 (a slot saved before has nothing taken of its leg).
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

/// Copies of kernel orders as Python objects.
fn orders_to_py(py: Python<'_>, orders: Vec<&VenueOrder>) -> PyResult<Vec<Py<PyVenueOrder>>> {
    orders
        .into_iter()
        .map(|o| Py::new(py, PyVenueOrder { inner: o.clone() }))
        .collect()
}

#[pymodule]
#[pyo3(name = "_kernel")]
fn dita_kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("JOURNAL_COLUMNS", journal_columns(m.py())?)?;
    m.add("JOURNAL_WIRE_TYPES", journal_wire_types(m.py())?)?;
    m.add("MAX_VENUE_ANSWER_ITEMS", MAX_VENUE_ANSWER_ITEMS)?;
    // The order statuses after which a venue sends nothing more for the order by rule (a
    // late fill can still come; the kernel applies it): the one definition Python uses.
    let terminal: Vec<&str> = VenueOrderStatus::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.name())
        .collect();
    m.add(
        "TERMINAL_ORDER_STATUSES",
        pyo3::types::PyFrozenSet::new(m.py(), &terminal)?,
    )?;
    m.add_class::<TradeStage>()?;
    m.add_class::<KernelCommandType>()?;
    m.add_class::<TradeSide>()?;
    m.add_class::<OrderSide>()?;
    m.add_class::<OrderType>()?;
    m.add_class::<KernelEventKind>()?;
    m.add_class::<VenueOrderStatus>()?;
    m.add_class::<KernelDiagnosticCode>()?;
    m.add_class::<KernelSeverity>()?;
    m.add_class::<ControlMode>()?;
    m.add_class::<Verbosity>()?;
    m.add_class::<AccountEventKind>()?;
    m.add_class::<PyIntent>()?;
    m.add_class::<PyVenueEvent>()?;
    m.add_class::<PyAccountEvent>()?;
    m.add_class::<PyVenueOrder>()?;
    m.add_class::<PyTransition>()?;
    m.add_class::<PyOutcome>()?;
    m.add_class::<PySlot>()?;
    m.add_class::<PyMockVenue>()?;
    m.add_class::<PyKernel>()?;
    m.add_class::<PyJournalBlock>()?;
    m.add("WalError", m.py().get_type::<wal::WalError>())?;
    m.add_function(wrap_pyfunction!(wal::wal_kernel_id, m)?)?;
    m.add_function(wrap_pyfunction!(wal::wal_verify, m)?)?;
    m.add_function(wrap_pyfunction!(wal::wal_replay, m)?)?;
    Ok(())
}
