//! `KernelCore`, the native class under `dita.ExecutionKernel`, split by what it does: this
//! file holds the struct and its constructor; `inputs` applies inputs (`batch`: many intents in
//! one call, `intent_columns` reads them from columns), `venue` hands orders to the venue and
//! applies its answers (`answer` reads them), `reads` shows state, `config` sets and shows
//! limits and control, `log` and `log_options` keep the write-ahead log, `journal` feeds the
//! journal and the projection, `busy` waits for another thread's call.

mod answer;
mod batch;
mod busy;
mod config;
mod inputs;
mod intent_columns;
mod journal;
mod log;
mod log_options;
mod projection;
mod reads;
mod venue;

pub use answer::MAX_VENUE_ANSWER_ITEMS;

use crate::kernel::{Kernel, KernelInput};
use crate::latency::LatencyHistogram;
use crate::model::KernelOutcome;
use crate::python::convert::ints::{int_arg, int_at_least};
use crate::python::convert::numbers::float_arg;
use crate::python::convert::text::{named_id, str_arg};
use crate::python::convert::time::now;
use crate::python::convert::wrong_type;
use crate::python::errors::wal_err;
use crate::python::objects::{ControlAtInput, PyOutcome};
use crate::python::wal::no_slot_count_error;
use busy::wait_ref;
use log::WalState;
use log_options::WalOptions;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use venue::VenueHandle;

#[pyclass(name = "KernelCore", module = "dita._kernel", subclass)]
pub struct PyKernel {
    core: Kernel,
    venue: VenueHandle,
    /// The write-ahead log, when the kernel was opened with `wal_dir`.
    wal: Option<WalState>,
    /// Set by `stop_input`: every later input is refused.
    closed: bool,
    /// How many `stop_input`/`close` calls wait for the venue calls under way: while any does,
    /// input is refused but from inside those calls (a venue reporting back from its submit),
    /// so a thread trading on cannot keep a call under way for ever and `close` never get in.
    /// A call that gives up counts itself out, without the kernel (it may still be held): the
    /// last one out lets input in again.
    stops_waiting: Arc<AtomicUsize>,
    /// Set by `close_core`: the log is gone, and with it what the journal's refills need.
    log_released: bool,
    /// What `journaled_through` was when `close_core` released the log, after its last sync:
    /// a journal still draining the outbox then (a detach that timed out) takes no row of an
    /// input a failed log lost.
    journaled_through_at_release: Option<u64>,
    /// Venue calls under way: taken with the input, ended once the venue's answer is fed
    /// (and logged). `close_core` waits for none, so no answer outlives the log.
    venue_calls: Arc<AtomicUsize>,
    /// The outcome a venue's answer is applied in, event by event, before it is folded into
    /// the intent's (`apply_answer`): kept, so the answers of every order reuse its lists.
    answer_outcome: KernelOutcome,
    /// The outcome object `process_intent` last answered in, which the next intent is answered
    /// in when nobody else holds it by then (`PyKernel::outcome_to_answer_in`).
    spare_outcome: Option<Py<PyOutcome>>,
    /// How long each intent took, from the call to its outcome (the venue's answer included);
    /// shared, so it is recorded after the kernel is let go and read without taking it.
    intent_latency: Arc<LatencyHistogram>,
}

/// The slot count of a kernel made without `max_slots`.
pub(super) const DEFAULT_MAX_SLOTS: usize = 10;

static KERNEL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An id for a kernel made without one: the process id, the clock and a counter.
fn default_kernel_id() -> String {
    let n = KERNEL_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = (now() * 1e9) as u64;
    format!("k-{:x}-{:x}-{n}", std::process::id(), nanos & 0xffff_ffff)
}

/// `max_slots` as given (None when not given): an int of at least 1.
fn max_slots_arg(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let n = int_arg(v, "max_slots")?;
    if n < 1 {
        return Err(PyValueError::new_err(format!(
            "invalid max_slots: {n} (must be at least 1)"
        )));
    }
    Ok(Some(n as usize))
}

/// The keyword arguments of `ExecutionKernel(...)` beyond its named ones, each checked.
#[derive(Default)]
struct KernelKeywords {
    journal_capacity: Option<usize>,
    seed_capital: Option<f64>,
    wal: WalOptions,
}

impl KernelKeywords {
    fn read(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<KernelKeywords> {
        let mut out = KernelKeywords::default();
        let Some(kw) = kwargs else {
            return Ok(out);
        };
        for (k, v) in kw.iter() {
            let key = str_arg(&k, "keyword")?;
            match key.as_str() {
                "journal_capacity" => {
                    out.journal_capacity = Some(int_at_least(&v, "journal_capacity", 1)? as usize);
                }
                // The original kernel's `account` is dita's seed capital: the account itself
                // lives in the kernel (set_seed_capital, on_account_event).
                "seed_capital" | "account" if v.is_none() => {}
                "seed_capital" | "account" => {
                    if out.seed_capital.is_some() {
                        return Err(PyTypeError::new_err(
                            "ExecutionKernel takes the seed capital once: as seed_capital or as account",
                        ));
                    }
                    let c = float_arg(&v, &key).map_err(|_| {
                        wrong_type(
                            format_args!(
                                "invalid {key}: expected the seed capital (a number) or None; the \
                                 kernel keeps the account itself (set_seed_capital, on_account_event)"
                            ),
                            &v,
                        )
                    })?;
                    crate::error::check_number(&key, c, 0.0)?;
                    out.seed_capital = Some(c);
                }
                // The original kernel's clients of its projection and control services: dita's
                // projection and control plane make their own, so only their default is taken.
                "projection_client" | "zinc_plane" if v.is_none() => {}
                "projection_client" => {
                    return Err(wrong_type(
                        "invalid projection_client: dita's projection makes its own client: pass \
                         projection=HazelcastProjection(cluster_members=...) (dita.projection.hazelcast)",
                        &v,
                    ))
                }
                "zinc_plane" => {
                    return Err(wrong_type(
                        "invalid zinc_plane: dita's control plane is control_plane= \
                         (InMemoryControlPlane, or dita.control.hazelcast.HazelcastControlPlane)",
                        &v,
                    ))
                }
                other if out.wal.take_keyword(other, &v)? => {}
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "ExecutionKernel got an unexpected keyword argument {other:?}"
                    )))
                }
            }
        }
        Ok(out)
    }
}

/// Refuses a journal, projection or control plane without an `attach()` method, naming it.
fn check_components(components: [(&str, Option<&Bound<'_, PyAny>>); 3]) -> PyResult<()> {
    for (name, component) in components {
        if let Some(c) = component.filter(|c| !c.is_none()) {
            if !c.getattr("attach").is_ok_and(|a| a.is_callable()) {
                return Err(PyTypeError::new_err(format!(
                    "invalid {name}: {} has no attach() method",
                    c.get_type().name()?
                )));
            }
        }
    }
    Ok(())
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
        let given_max_slots = max_slots_arg(max_slots)?;
        let max_slots = given_max_slots.unwrap_or(DEFAULT_MAX_SLOTS);
        let kernel_id = match kernel_id {
            // Checked as an intent's ids are: it begins every client order id.
            Some(v) if !v.is_none() => Some(named_id(v, "kernel_id")?.to_string()),
            _ => None,
        };
        let KernelKeywords {
            journal_capacity,
            seed_capital,
            wal: wal_options,
        } = KernelKeywords::read(kwargs)?;
        wal_options.refuse_without_dir()?;
        // A kernel reopened on its log without an id takes the log's id.
        let existing_log_id = wal_options.existing_kernel_id()?;
        let kernel_id = match kernel_id {
            Some(k) => k,
            None => existing_log_id.clone().unwrap_or_else(default_kernel_id),
        };
        // Everything is checked before the write-ahead log is opened: a refused call must
        // leave no log behind (a retry would recover it and ignore its own arguments).
        check_components([
            ("journal", journal),
            ("projection", projection),
            ("control_plane", control_plane),
        ])?;
        let venue = VenueHandle::from_arg(py, venue)?;
        // Recovery runs before anything else touches the kernel. With a journal passed in,
        // the replayed records' rows go to its outbox, so a restart fills the journal's gap
        // (the journal recognises the rows it already has).
        let mut new_kernel = Kernel::new(&kernel_id, max_slots)?;
        if let Some(c) = journal_capacity {
            new_kernel.outbox.capacity = c;
        }
        new_kernel.set_journal_enabled(journal.is_some_and(|j| !j.is_none()));
        // A journal that already holds rows of this kernel id would refuse a kernel on a new
        // log at attach() (its rows would take stored keys): it is asked before the log is
        // made, so that refusal leaves no log behind either.
        if let Some(j) = journal.filter(|j| !j.is_none()) {
            if let Some(dir) = wal_options.dir().filter(|_| existing_log_id.is_none()) {
                if j.hasattr("refuse_new_log")? {
                    let first_seq = u64::from(seed_capital.is_some());
                    j.call_method1("refuse_new_log", (&kernel_id, first_seq, dir))?;
                }
            }
        }
        // The recovered kernel must have the slot count asked for, checked before the log is
        // repaired or written: a refusal leaves it as it was.
        let (mut core, mut wal) = wal_options.open(py, new_kernel, |log, kernel, dir| {
            // A log with segments but no usable checkpoint has no record of the slot count:
            // one that holds records, or only a segment header (the process died before
            // checkpoint 0 was written), which would otherwise take the default's.
            let found = log.recovery();
            if given_max_slots.is_none() && found.segments > 0 && found.checkpoint_seq.is_none() {
                return Err(no_slot_count_error(dir, log.recovery(), "max_slots"));
            }
            if given_max_slots.is_some() && kernel.max_slots() != max_slots {
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
        // process) is told it, so none of its answers is refused as a duplicate. The seq is the
        // log's last recovered record's: a log holding only the open's skip of order ids holds
        // no answer of a venue.
        if let Some(seq) = wal
            .as_ref()
            .filter(|w| !w.log.is_new())
            .map(|w| w.log.recovered_seq())
            .filter(|&s| s > 0)
        {
            venue.resume(py, seq)?;
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
                    .map_err(wal_err)?;
            }
        }
        if let Some(c) = journal_capacity {
            core.outbox.capacity = c;
        }
        Ok(PyKernel::with_parts(core, venue, wal))
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

impl PyKernel {
    /// A kernel recovered read-only from a log (`wal_replay`): the default mock venue, no log.
    pub(super) fn replayed(py: Python<'_>, core: Kernel) -> PyResult<PyKernel> {
        let venue = VenueHandle::default_mock(py)?;
        Ok(PyKernel::with_parts(core, venue, None))
    }

    /// The control an input is taken under, which its transitions name.
    pub(super) fn control_at_input(&self) -> ControlAtInput {
        ControlAtInput {
            mode: self.core.control.mode,
            verbosity: self.core.control.verbosity,
        }
    }

    fn with_parts(core: Kernel, venue: VenueHandle, wal: Option<WalState>) -> PyKernel {
        PyKernel {
            core,
            venue,
            wal,
            closed: false,
            stops_waiting: Arc::default(),
            log_released: false,
            journaled_through_at_release: None,
            venue_calls: Arc::default(),
            answer_outcome: KernelOutcome::blank(),
            spare_outcome: None,
            intent_latency: Arc::default(),
        }
    }
}
