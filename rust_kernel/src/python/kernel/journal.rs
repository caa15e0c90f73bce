//! Feeding the journal: the outbox's rows, drained as tuples or blocks or derived again from
//! the write-ahead log, and its drop mark.

use super::busy::wait_mut;
use super::PyKernel;
use crate::journal::SEGMENT_POOL;
use crate::kernel::Kernel;
use crate::python::convert::flags::{bool_arg, flag};
use crate::python::convert::ints::{count, int, opt_int};
use crate::python::convert::type_name;
use crate::python::errors::wal_err;
use crate::python::journal::{journal_blocks, journal_rows_to_py, PyJournalBlock};
use crate::wal::kernel_log::{journal_rows_read_only, ReplayRows};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pymethods]
impl PyKernel {
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
        this.check_log_usable()?;
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
        this.check_log_usable()?;
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
            Err(_) => return journal_rows_to_py(py, &Default::default()),
        };
        let rows = journal_rows_to_py(py, &tables);
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
        Some(
            slf.py()
                .detach(move || journal_blocks(&kernel_id, tables, pool)),
        )
    }

    /// The journal rows of the log's records `from_seq..=to_seq` (default: the newest
    /// record), derived again by a read-only replay of the log, with the GIL released and the
    /// kernel free meanwhile; `sink(blocks)` gets them in chunks of about `chunk_rows` rows.
    /// Returns the number of rows. What a journal resends when ClickHouse misses rows that
    /// the outbox no longer holds (docs/reference/journal.md, "Resending from the log").
    /// `every_intent`: the rows of every intent and transition, as at NORMAL verbosity with
    /// journaling on, whatever the log's control said (an audit of what a run sent).
    #[pyo3(signature = (from_seq, to_seq=None, *, sink, chunk_rows=100_000, every_intent=false))]
    fn wal_journal_blocks(
        slf: &Bound<'_, Self>,
        #[pyo3(from_py_with = int::from_seq)] from_seq: i64,
        #[pyo3(from_py_with = opt_int::to_seq)] to_seq: Option<i64>,
        sink: Bound<'_, PyAny>,
        #[pyo3(from_py_with = int::chunk_rows)] chunk_rows: i64,
        #[pyo3(from_py_with = flag::every_intent)] every_intent: bool,
    ) -> PyResult<u64> {
        if !sink.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "wal_journal_blocks sink must be callable, got {}",
                type_name(&sink)
            )));
        }
        let py = slf.py();
        let (dir, kernel_id, max_slots, to, sync) = {
            let this = wait_mut(slf)?;
            let Some(state) = this.wal.as_ref() else {
                return Err(PyValueError::new_err(
                    "wal_journal_blocks needs a kernel with a write-ahead log (ExecutionKernel(wal_dir=...))",
                ));
            };
            let (last, recoverable) = (
                state.log.wal().last_seq(),
                state.log.wal().recoverable_seq(),
            );
            let dir = state.dir.clone();
            let held_records = if last == 0 {
                "the log holds no records yet".to_string()
            } else {
                format!("the log holds records 1..={last}")
            };
            if from_seq < 1 || from_seq as u64 > last {
                return Err(PyValueError::new_err(format!(
                    "invalid from_seq: {from_seq} ({held_records})"
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
            // them, and under "batch" be synced. Rows of records written but not yet synced
            // would reach a journal, and a machine crash would leave rows of inputs the log lost.
            let sync = (recoverable < to as u64)
                .then(|| state.log.wal().sync_handle())
                .transpose()
                .map_err(wal_err)?;
            (
                dir,
                this.core.kernel_id.clone(),
                this.core.max_slots(),
                to,
                sync,
            )
        };
        // The disk syncs with the kernel free and the GIL released: inputs go on meanwhile.
        if let Some(sync) = sync {
            py.detach(|| sync.sync()).map_err(wal_err)?;
        }
        let sink = sink.unbind();
        let mut rows = 0u64;
        let mut failed: Option<PyErr> = None;
        let replayed = py.detach(|| {
            journal_rows_read_only(
                &dir,
                from_seq as u64,
                to as u64,
                |kid| Kernel::new(kid, max_slots).map_err(|e| e.to_string()),
                chunk_rows as usize,
                if every_intent {
                    ReplayRows::EveryIntent
                } else {
                    ReplayRows::AsJournaled
                },
                |tables| {
                    // The replay's kernel, built here or from a checkpoint, writes into the
                    // process's pool.
                    let blocks = journal_blocks(&kernel_id, tables, &SEGMENT_POOL);
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
        replayed.map_err(wal_err)?;
        Ok(rows)
    }
}
