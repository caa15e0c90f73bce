//! `process_intents`: many intents in one call (KernelIntent objects or columns), answered in
//! columns. Each intent takes the path `process_intent` takes (decided, logged, handed to the
//! venue, its latency recorded), so the kernel, its log and its journal end as one-by-one calls
//! leave them; only the answer differs: a NumPy array per figure of the outcomes instead of an
//! outcome object per intent.

use super::intent_columns::{intents_from_columns, is_columns, MAX_BATCH_INTENTS};
use super::PyKernel;
use crate::model::Intent;
use crate::python::convert::wrong_type;
use crate::python::objects::{PyIntent, PyOutcome};
use crate::types::KernelEventKind;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict};

/// The figures of the outcomes, one list per figure, in the order of the intents.
#[derive(Default)]
struct OutcomeColumns {
    accepted: Vec<bool>,
    applied: Vec<bool>,
    seq: Vec<u64>,
    slot_id: Vec<i64>,
    state: Vec<u8>,
    diagnostic_code: Vec<u8>,
    severity: Vec<u8>,
    submitted: Vec<bool>,
    fills: Vec<u32>,
    filled_size: Vec<f64>,
    fill_price: Vec<f64>,
}

impl OutcomeColumns {
    fn with_capacity(n: usize) -> Self {
        OutcomeColumns {
            accepted: Vec::with_capacity(n),
            applied: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            slot_id: Vec::with_capacity(n),
            state: Vec::with_capacity(n),
            diagnostic_code: Vec::with_capacity(n),
            severity: Vec::with_capacity(n),
            submitted: Vec::with_capacity(n),
            fills: Vec::with_capacity(n),
            filled_size: Vec::with_capacity(n),
            fill_price: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, outcome: &PyOutcome) {
        let out = &outcome.inner;
        self.accepted.push(out.accepted);
        self.applied.push(out.applied());
        self.seq.push(out.seq);
        self.slot_id.push(out.slot_id);
        self.state.push(out.state.code());
        self.diagnostic_code.push(out.diagnostic_code.code());
        self.severity.push(out.severity.code());
        self.submitted.push(outcome.inner.submit.is_some());
        // The fills the venue answered with: how many, their size and their size-weighted
        // price (NaN when none), summed in the order the outcome lists them.
        let (mut fills, mut size, mut notional) = (0u32, 0.0, 0.0);
        for ev in out
            .emitted_events
            .iter()
            .filter(|e| e.kind == KernelEventKind::Fill)
        {
            fills += 1;
            size += ev.size;
            notional += ev.size * ev.price;
        }
        self.fills.push(fills);
        self.filled_size.push(size);
        self.fill_price.push(if fills == 0 {
            f64::NAN
        } else {
            notional / size
        });
    }

    /// The columns as a dict of NumPy arrays (writable, each its own buffer).
    fn into_arrays<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let numpy = py.import("numpy")?;
        let d = PyDict::new(py);
        let put = |name: &str, dtype: &str, bytes: Vec<u8>| -> PyResult<()> {
            let buffer = PyByteArray::new(py, &bytes);
            d.set_item(name, numpy.call_method1("frombuffer", (buffer, dtype))?)
        };
        let flags = |v: Vec<bool>| v.into_iter().map(u8::from).collect::<Vec<u8>>();
        put("accepted", "?", flags(self.accepted))?;
        put("applied", "?", flags(self.applied))?;
        put("seq", "u8", bytes_of(&self.seq, u64::to_ne_bytes))?;
        put("slot_id", "i8", bytes_of(&self.slot_id, i64::to_ne_bytes))?;
        put("state", "u1", self.state)?;
        put("diagnostic_code", "u1", self.diagnostic_code)?;
        put("severity", "u1", self.severity)?;
        put("submitted", "?", flags(self.submitted))?;
        put("fills", "u4", bytes_of(&self.fills, u32::to_ne_bytes))?;
        put(
            "filled_size",
            "f8",
            bytes_of(&self.filled_size, f64::to_ne_bytes),
        )?;
        put(
            "fill_price",
            "f8",
            bytes_of(&self.fill_price, f64::to_ne_bytes),
        )?;
        Ok(d)
    }
}

/// `values` as NumPy reads a native-endian array of them.
fn bytes_of<T: Copy, const N: usize>(values: &[T], to_bytes: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to_bytes(v)).collect()
}

#[pymethods]
impl PyKernel {
    /// Decides on each intent of `intents` in turn, as `process_intent` would, and answers with
    /// a dict of NumPy arrays, one item per intent. `intents` is a sequence of KernelIntent, or
    /// columns (`intent_columns`). Every intent is read and checked before any is taken. An
    /// error that `process_intent` would raise (a closed kernel, a failed write-ahead log) is
    /// raised at that intent: those before it stand, and the error carries them as
    /// `processed` (how many) and `outcomes` (their columns).
    fn process_intents<'py>(
        slf: &Bound<'py, Self>,
        intents: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if is_columns(intents) {
            let batch = intents_from_columns(intents)?;
            Self::apply_batch(slf, batch.iter())
        } else {
            let batch = intents_of_sequence(intents)?;
            Self::apply_batch(slf, batch.iter().map(|intent| &intent.get().inner))
        }
    }
}

impl PyKernel {
    /// Applies `batch` in turn and answers with the outcomes' columns (see `process_intents`).
    fn apply_batch<'a, 'py>(
        slf: &Bound<'py, Self>,
        batch: impl ExactSizeIterator<Item = &'a Intent>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let mut columns = OutcomeColumns::with_capacity(batch.len());
        // One outcome answers every intent in turn, its lists reused.
        let mut outcome = PyOutcome::blank();
        for (i, intent) in batch.enumerate() {
            match Self::apply_intent_into(slf, intent, &mut outcome) {
                Ok(()) => columns.push(&outcome),
                Err(e) => {
                    let value = e.value(py);
                    value.setattr("processed", i)?;
                    value.setattr("outcomes", columns.into_arrays(py)?)?;
                    return Err(e);
                }
            }
        }
        columns.into_arrays(py)
    }
}

/// The items of a sequence of KernelIntent, each checked to be one; at most
/// `MAX_BATCH_INTENTS`, one more read to know there is more.
fn intents_of_sequence<'py>(intents: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyIntent>>> {
    let items = intents
        .try_iter()
        .map_err(|_| {
            wrong_type(
                "process_intents expects a sequence of KernelIntent or a dict of columns",
                intents,
            )
        })?
        .take(MAX_BATCH_INTENTS + 1)
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            let intent = item.cast::<PyIntent>().map_err(|_| {
                wrong_type(
                    format_args!("process_intents expects KernelIntent items (item {i})"),
                    &item,
                )
            })?;
            Ok(intent.clone())
        })
        .collect::<PyResult<Vec<_>>>()?;
    if items.len() > MAX_BATCH_INTENTS {
        return Err(PyValueError::new_err(format!(
            "process_intents: more than {MAX_BATCH_INTENTS} intents; one call takes at most \
             {MAX_BATCH_INTENTS} (split the batch; the rest was not read)"
        )));
    }
    Ok(items)
}
