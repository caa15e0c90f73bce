//! Reading a venue's answer to a submit or a cancel: the events it gave and what was wrong
//! with the rest.

use crate::model::VenueEvent;
use crate::python::convert::{short_repr, type_name};
use crate::python::objects::{EventExtras, PyVenueEvent};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

/// The most items one venue answer (to a submit or a cancel) is read for. A real venue answers
/// a few events; one returning `itertools.repeat(ack)`, or a generator without end, would be
/// read until memory runs out. One item past it is read, to know there is more; the rest is
/// not: the events read are applied and the answer's fault (`venue_answer_error`) names the
/// limit.
pub const MAX_VENUE_ANSWER_ITEMS: usize = 10_000;

/// How many items that are not events one answer's fault names one by one; the rest are counted.
const NAMED_BAD_ITEMS: usize = 3;

/// What a venue answered to a submit or cancel: the events it gave, and what was wrong with
/// the rest of its answer, if anything (items that are not a `VenueEvent`, skipped; an
/// iterator that raised part-way; an answer longer than `MAX_VENUE_ANSWER_ITEMS`). Every event
/// read is applied all the same: it may be a fill.
pub(super) struct VenueAnswer {
    /// The events, as the venue gave them: the kernel takes them in place, and the outcome
    /// keeps this list when it took them all, each copied once on its way in.
    pub(super) events: Vec<VenueEvent>,
    /// The places in `events` of those made without a status (`PyVenueEvent::status_stated`),
    /// in order: a fill's is judged by its sizes.
    pub(super) unstated: Vec<usize>,
    /// What events carry beyond what the kernel reads (`PyVenueEvent::extras`), by their place
    /// in `events`, in order.
    pub(super) extras: Vec<(usize, Box<EventExtras>)>,
    /// What was wrong with the answer, every fault joined: the outcome's `venue_answer_error`.
    pub(super) error: Option<String>,
    /// Ctrl-C, or sys.exit (not an `Exception`), raised while the answer was read (a
    /// generator doing its I/O as it is read): the program being stopped, raised once the
    /// events before it are applied and logged.
    pub(super) interrupt: Option<PyErr>,
}

impl VenueAnswer {
    /// An answer of `events` made with their statuses and nothing beyond (the mock's).
    pub(super) fn of(events: Vec<VenueEvent>) -> VenueAnswer {
        VenueAnswer {
            events,
            unstated: Vec::new(),
            extras: Vec::new(),
            error: None,
            interrupt: None,
        }
    }

    pub(super) fn read(py: Python<'_>, method: &str, result: &Bound<'_, PyAny>) -> VenueAnswer {
        let mut answer = VenueAnswer::of(Vec::new());
        let mut faults = Vec::new();
        answer.collect(py, method, result, &mut faults);
        if !faults.is_empty() {
            answer.error = Some(faults.join("; "));
        }
        answer
    }

    /// Takes a copy of venue event `ev`, noting whether its status was stated and its extras.
    fn take(&mut self, py: Python<'_>, ev: &PyVenueEvent) {
        let at = self.events.len();
        if !ev.status_stated {
            self.unstated.push(at);
        }
        if let Some(x) = &ev.extras {
            self.extras.push((at, Box::new(x.clone_ref(py))));
        }
        self.events.push(ev.inner.clone());
    }

    /// Takes the answer's events into `events`, and what was wrong with it into `faults`: an
    /// item that is not a `VenueEvent` is skipped and named (its place and value), and the
    /// items after it are read on, a list's as an iterator's (the venue's code yielded it and
    /// goes on); an iterator that raises is read no further (Ctrl-C or sys.exit goes in
    /// `interrupt`), nor is an answer past `MAX_VENUE_ANSWER_ITEMS` items.
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
            self.take(py, ev.get());
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
                    self.interrupt = Some(e);
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
                Ok(ev) => self.take(py, ev.get()),
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
