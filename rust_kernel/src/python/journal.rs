//! Journal rows for Python: tuples (`drain_journal`, for in-memory journals and tests) and
//! `JournalBlock`s (`drain_journal_blocks`), rows kept native and encoded into ClickHouse
//! Native bytes with the GIL released, which is how the ClickHouse journal writes.

use crate::journal::native::encode_block;
use crate::journal::{columns, wire_types, Recycler, Row, Value, TABLES};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use std::collections::HashSet;
use std::sync::Arc;

/// A row as a tuple in `JOURNAL_COLUMNS` order (times as float seconds).
pub fn row_to_py<'py>(py: Python<'py>, row: &Row) -> PyResult<Bound<'py, PyTuple>> {
    let mut items: Vec<Py<PyAny>> = Vec::with_capacity(24);
    let mut err = None;
    row.visit(&mut |v| {
        let item = match v {
            Value::U64(x) => x.into_py_any(py),
            Value::U32(x) => x.into_py_any(py),
            Value::I64(x) => x.into_py_any(py),
            Value::F64(x) | Value::Ts(x) => x.into_py_any(py),
            Value::OptF64(x) => x.into_py_any(py),
            Value::Bool(x) => x.into_py_any(py),
            Value::Str(x) => x.into_py_any(py),
            Value::Text(x) => x.into_py_any(py),
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

/// Rows of one table from one kernel, in the order the kernel produced them. Slices share
/// the rows; `encode()` turns them into one ClickHouse Native block.
#[pyclass(name = "JournalBlock", module = "dita._kernel", frozen)]
pub struct PyJournalBlock {
    kernel_id: Arc<str>,
    table: &'static str,
    rows: Arc<Vec<Row>>,
    start: usize,
    end: usize,
    /// Where the row buffer goes back once the last block sharing it is gone.
    recycler: Option<Recycler>,
}

impl Drop for PyJournalBlock {
    fn drop(&mut self) {
        if let (Some(recycler), Some(rows)) = (&self.recycler, Arc::get_mut(&mut self.rows)) {
            recycler.give(std::mem::take(rows));
        }
    }
}

impl PyJournalBlock {
    fn new(
        kernel_id: Arc<str>,
        table: &'static str,
        rows: Vec<Row>,
        recycler: Option<Recycler>,
    ) -> Self {
        let end = rows.len();
        PyJournalBlock {
            kernel_id,
            table,
            rows: Arc::new(rows),
            start: 0,
            end,
            recycler,
        }
    }

    fn rows(&self) -> &[Row] {
        &self.rows[self.start..self.end]
    }

    fn key(row: Option<&Row>) -> Option<(u64, u32)> {
        row.map(|r| (r.seq, r.sub))
    }
}

/// One block per table that has rows; their buffers go back to the outbox's `recycler`
/// once written.
pub fn blocks_of(
    kernel_id: &str,
    tables: [Vec<Row>; 6],
    recycler: &Recycler,
) -> Vec<PyJournalBlock> {
    let kernel_id: Arc<str> = Arc::from(kernel_id);
    tables
        .into_iter()
        .filter_map(|rows| {
            let table = rows.first()?.data.table();
            Some(PyJournalBlock::new(
                Arc::clone(&kernel_id),
                table,
                rows,
                Some(recycler.share()),
            ))
        })
        .collect()
}

#[pymethods]
impl PyJournalBlock {
    #[getter]
    fn table(&self) -> &'static str {
        self.table
    }

    #[getter]
    fn kernel_id(&self) -> &str {
        &self.kernel_id
    }

    fn __len__(&self) -> usize {
        self.end - self.start
    }

    /// `(seq, sub)` of the first row; None for an empty block.
    #[getter]
    fn first_key(&self) -> Option<(u64, u32)> {
        Self::key(self.rows().first())
    }

    /// `(seq, sub)` of the last row; None for an empty block.
    #[getter]
    fn last_key(&self) -> Option<(u64, u32)> {
        Self::key(self.rows().last())
    }

    /// Lowest and highest seq in the block; None for an empty block.
    #[getter]
    fn seq_range(&self) -> Option<(u64, u64)> {
        let mut seqs = self.rows().iter().map(|r| r.seq);
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
            recycler: self.recycler.as_ref().map(Recycler::share),
        }
    }

    /// The rows whose `(seq, sub)` is not in `keys`, as a new block.
    fn without(&self, keys: HashSet<(u64, u32)>) -> PyJournalBlock {
        let rows = self
            .rows()
            .iter()
            .filter(|r| !keys.contains(&(r.seq, r.sub)))
            .cloned()
            .collect();
        PyJournalBlock::new(Arc::clone(&self.kernel_id), self.table, rows, None)
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
                    first.kernel_id, first.table, b.kernel_id, b.table
                )));
            }
        }
        let parts: Vec<(Arc<Vec<Row>>, usize, usize)> = blocks
            .iter()
            .map(|b| {
                let b = b.get();
                (Arc::clone(&b.rows), b.start, b.end)
            })
            .collect();
        let rows = py.detach(move || {
            let mut rows = Vec::with_capacity(parts.iter().map(|(_, a, b)| b - a).sum());
            for (r, a, b) in &parts {
                rows.extend_from_slice(&r[*a..*b]);
            }
            rows
        });
        Ok(PyJournalBlock::new(
            Arc::clone(&first.kernel_id),
            first.table,
            rows,
            None,
        ))
    }

    /// The rows as one ClickHouse Native block (kernel_id first), for
    /// `client.raw_insert(table, fmt="Native")`. Encoded with the GIL released.
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let (rows, kernel_id) = (Arc::clone(&self.rows), Arc::clone(&self.kernel_id));
        let (start, end) = (self.start, self.end);
        let bytes = py
            .detach(move || {
                let mut out = Vec::new();
                encode_block(&mut out, &kernel_id, &rows[start..end]).map(|_| out)
            })
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The rows as tuples in `JOURNAL_COLUMNS` order, as `drain_journal` gives them.
    fn tuples<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for row in self.rows() {
            list.append(row_to_py(py, row)?)?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!(
            "JournalBlock(kernel_id={:?}, table={:?}, rows={})",
            &*self.kernel_id,
            self.table,
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
