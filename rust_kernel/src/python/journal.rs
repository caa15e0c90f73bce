//! Journal rows for Python: tuples (`drain_journal`, for in-memory journals and tests) and
//! `JournalBlock`s (`drain_journal_blocks`), rows kept in the kernel's packed buffers and
//! encoded into ClickHouse Native bytes with the GIL released, which is how the ClickHouse
//! journal writes.

use super::bytes_without_gil::bytes_without_gil;
use crate::journal::native::{encode_block, trim_scratch};
use crate::journal::{columns, wire_types, RowBuf, SegmentPool, Value, TABLES};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use std::collections::HashSet;
use std::sync::Arc;

/// Row `i` of `rows` (table index `table`) as a tuple in `JOURNAL_COLUMNS` order (times as
/// float seconds, details as JSON text).
pub fn row_to_py<'py>(
    py: Python<'py>,
    table: usize,
    rows: &RowBuf,
    i: usize,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut items: Vec<Py<PyAny>> = Vec::with_capacity(24);
    let mut err = None;
    rows.visit(table, i, &mut |v| {
        let item = match v {
            Value::U64(x) => x.into_py_any(py),
            Value::U32(x) => x.into_py_any(py),
            Value::I64(x) => x.into_py_any(py),
            Value::F64(x) | Value::Ts(x) => x.into_py_any(py),
            Value::OptF64(x) => x.into_py_any(py),
            Value::Bool(x) => x.into_py_any(py),
            Value::Str(x) => x.into_py_any(py),
            Value::Details(x) => x.to_json().into_py_any(py),
        };
        match item {
            Ok(o) => items.push(o),
            Err(e) => err = Some(e),
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    PyTuple::new(py, items)
}

/// `{table: [row tuple, ...]}` for every table, from each table's segments in order.
pub fn journal_rows_to_py<'py>(
    py: Python<'py>,
    tables: &[Vec<RowBuf>; 6],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (t, segments) in tables.iter().enumerate() {
        let list = PyList::empty(py);
        for rows in segments {
            for i in 0..rows.len() {
                list.append(row_to_py(py, t, rows, i)?)?;
            }
        }
        d.set_item(TABLES[t], list)?;
    }
    Ok(d)
}

/// Rows of one table from one kernel, in the order the kernel produced them. Slices share
/// the rows; `encode()` turns them into one ClickHouse Native block.
#[pyclass(name = "JournalBlock", module = "dita._kernel", frozen)]
pub struct PyJournalBlock {
    kernel_id: Arc<str>,
    table: usize,
    rows: Arc<RowBuf>,
    start: usize,
    end: usize,
}

impl PyJournalBlock {
    fn new(kernel_id: Arc<str>, table: usize, rows: RowBuf) -> Self {
        let end = rows.len();
        PyJournalBlock {
            kernel_id,
            table,
            rows: Arc::new(rows),
            start: 0,
            end,
        }
    }

    fn key(&self, i: usize) -> Option<(u64, u32)> {
        (self.start..self.end)
            .contains(&i)
            .then(|| self.rows.key(i))
    }
}

/// One block per table that has rows, each the concatenation of the table's segments (see
/// `Outbox::take_rows`), which go back to `pool` at once: a block lives until the writer
/// has stored it, a tenth of a second or more, while the kernel drains every few
/// milliseconds; were the blocks to keep the segments, the strategy thread would write its
/// rows into fresh memory after nearly every drain and wait on a page fault for every new
/// page of it. Made on the drainer's thread, with the GIL released, at memory speed.
pub fn journal_blocks(
    kernel_id: &str,
    tables: [Vec<RowBuf>; 6],
    pool: &SegmentPool,
) -> Vec<PyJournalBlock> {
    let kernel_id: Arc<str> = Arc::from(kernel_id);
    let mut out = Vec::new();
    for (t, segments) in tables.into_iter().enumerate() {
        let rows = pool.join(segments);
        if !rows.is_empty() {
            out.push(PyJournalBlock::new(Arc::clone(&kernel_id), t, rows));
        }
    }
    out
}

#[pymethods]
impl PyJournalBlock {
    #[getter]
    fn table(&self) -> &'static str {
        TABLES[self.table]
    }

    #[getter]
    fn kernel_id(&self) -> &str {
        &self.kernel_id
    }

    pub(super) fn __len__(&self) -> usize {
        self.end - self.start
    }

    /// The bytes the block's rows take as the kernel packed them: every fixed-width value and
    /// every string (details and metadata included) at its length, plus a few bytes of
    /// lengths. Exact, and O(1): read off where the rows start in the shared buffer, nothing
    /// encoded. What the journal's `queue_bytes` counts.
    #[getter]
    fn nbytes(&self) -> usize {
        self.rows.bytes_of(self.start, self.end)
    }

    /// `(seq, sub)` of the first row; None for an empty block.
    #[getter]
    fn first_key(&self) -> Option<(u64, u32)> {
        self.key(self.start)
    }

    /// `(seq, sub)` of the last row; None for an empty block.
    #[getter]
    fn last_key(&self) -> Option<(u64, u32)> {
        self.end.checked_sub(1).and_then(|i| self.key(i))
    }

    /// Lowest and highest seq in the block; None for an empty block.
    #[getter]
    fn seq_range(&self) -> Option<(u64, u64)> {
        let mut seqs = (self.start..self.end).map(|i| self.rows.seq(i));
        let first = seqs.next()?;
        Some(seqs.fold((first, first), |(lo, hi), s| (lo.min(s), hi.max(s))))
    }

    /// Rows `start..stop` (clamped like a list slice with non-negative bounds), sharing
    /// this block's rows.
    fn slice(&self, start: usize, stop: usize) -> PyJournalBlock {
        let len = self.end - self.start;
        let (a, b) = (start.min(len), stop.min(len));
        PyJournalBlock {
            kernel_id: Arc::clone(&self.kernel_id),
            table: self.table,
            rows: Arc::clone(&self.rows),
            start: self.start + a,
            end: self.start + a.max(b),
        }
    }

    /// The rows whose `(seq, sub)` is not in `keys`, as a new block.
    fn without(&self, keys: HashSet<(u64, u32)>) -> PyJournalBlock {
        let mut rows = RowBuf::default();
        for i in self.start..self.end {
            if !keys.contains(&self.rows.key(i)) {
                rows.push_from(&self.rows, i);
            }
        }
        PyJournalBlock::new(Arc::clone(&self.kernel_id), self.table, rows)
    }

    /// One block of all `blocks` in order; they must share kernel and table.
    #[staticmethod]
    fn concat(py: Python<'_>, blocks: Vec<Py<PyJournalBlock>>) -> PyResult<PyJournalBlock> {
        let Some(first) = blocks.first() else {
            return Err(PyValueError::new_err(
                "JournalBlock.concat needs at least one block",
            ));
        };
        let first = first.get();
        if blocks.len() == 1 {
            return Ok(first.slice(0, usize::MAX));
        }
        for b in &blocks[1..] {
            let b = b.get();
            if b.table != first.table || b.kernel_id != first.kernel_id {
                return Err(PyValueError::new_err(format!(
                    "JournalBlock.concat: blocks differ: {}/{} and {}/{}",
                    first.kernel_id, TABLES[first.table], b.kernel_id, TABLES[b.table]
                )));
            }
        }
        let parts: Vec<(Arc<RowBuf>, usize, usize)> = blocks
            .iter()
            .map(|b| {
                let b = b.get();
                (Arc::clone(&b.rows), b.start, b.end)
            })
            .collect();
        let rows = py.detach(move || {
            let mut rows = RowBuf::default();
            for (r, a, b) in &parts {
                for i in *a..*b {
                    rows.push_from(r, i);
                }
            }
            rows
        });
        Ok(PyJournalBlock::new(
            Arc::clone(&first.kernel_id),
            first.table,
            rows,
        ))
    }

    /// The rows as one ClickHouse Native block (kernel_id first), for
    /// `client.raw_insert(table, fmt="Native")`. Encoded with the GIL released.
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let (rows, kernel_id) = (&self.rows, &self.kernel_id);
        let (table, start, end) = (self.table, self.start, self.end);
        // Into the writer thread's own buffer, reused from block to block (no fresh pages to
        // fault in and give back each time, unless one was huge); copied once into the bytes
        // object.
        thread_local! {
            static BLOCK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        py.detach(|| {
            BLOCK.with_borrow_mut(|out| {
                out.clear();
                encode_block(out, kernel_id, table, rows, start, end);
            })
        });
        let bytes = BLOCK.with_borrow(|out| bytes_without_gil(py, out));
        BLOCK.with_borrow_mut(trim_scratch);
        bytes
    }

    /// The rows as tuples in `JOURNAL_COLUMNS` order, as `drain_journal` gives them.
    fn tuples<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for i in self.start..self.end {
            list.append(row_to_py(py, self.table, &self.rows, i)?)?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!(
            "JournalBlock(kernel_id={:?}, table={:?}, rows={})",
            &*self.kernel_id,
            TABLES[self.table],
            self.end - self.start
        )
    }
}

/// `{table: (column, ...)}`: the order of a drained row's values.
pub fn journal_columns<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for t in TABLES {
        d.set_item(t, PyTuple::new(py, columns(t))?)?;
    }
    Ok(d)
}

/// `{table: (ClickHouse type, ...)}`: how `JournalBlock.encode()` sends each column.
pub fn journal_wire_types<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for t in TABLES {
        d.set_item(
            t,
            PyTuple::new(py, wire_types(t).expect("a journal table"))?,
        )?;
    }
    Ok(d)
}
