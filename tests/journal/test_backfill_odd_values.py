"""Rows handed to ``backfill()`` holding a value their text column cannot take (a number where
an id goes, say a trade_id read from a CSV as an int, or text and bytes mixed in one column):
such a row is set aside (``rejected_rows()``) and the rest written, as the docs promise.

Handed on, clickhouse-connect fails on them with an AttributeError ("'int' object has no
attribute 'encode'"), which the writer would take for a failure that may pass: it would retry
the batch for good, and as it writes in order every later row of every kernel would wait
behind it (the queue full, the kernels' outboxes dropping rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita import JOURNAL_COLUMNS
from journal.helpers import assert_same_rows, twins
from journal.test_backfill_result import _fills, _journal


@pytest.mark.parametrize(
    "odd",
    [12345, 1.5, {"id": 1}, None],
    ids=["int", "float", "dict", "none"],
)
def test_a_value_a_text_column_cannot_take_sets_its_row_aside_and_the_journal_goes_on(
    tmp_path: Path, odd: Any
) -> None:
    trade_id = JOURNAL_COLUMNS["fills"].index("trade_id")
    good, bad = _fills()[:2]
    bad = (*bad[:trade_id], odd, *bad[trade_id + 1 :])
    journal = _journal(tmp_path / "j")
    try:
        # The good row first: its text comes before the odd value in the column.
        result = journal.backfill("desk-1", {"fills": [good, bad]}, timeout=20)
        assert (result.written, result.rejected, result.already_present) == (1, 1, 0)
        (rejected,) = journal.rejected_rows()
        assert rejected["row"]["trade_id"] == odd and rejected["table"] == "fills"
        assert "trade_id" in rejected["error"]
        assert journal.stats().queued == 0
        # The writer is not stuck on it: a kernel's rows after it are written.
        work, reference = twins(journal, kernel_id="desk-2")
        work.run(20)
        journal.flush(30)
        assert_same_rows(journal, reference, "desk-2")
    finally:
        journal.close()


def test_text_and_bytes_mixed_in_a_column_are_written(tmp_path: Path) -> None:
    """Bytes in a text column were written as they are when the column's first value was bytes,
    and held the journal for good (as a number did) when text came first: both are written."""
    rows = _fills()[:3]
    col = JOURNAL_COLUMNS["fills"].index("trade_id")
    mixed = [(*r[:col], r[col].encode() if i == 1 else r[col], *r[col + 1 :]) for i, r in enumerate(rows)]
    journal = _journal(tmp_path / "j")
    try:
        assert journal.backfill("desk-1", {"fills": mixed}, timeout=20).written == 3
        stored = journal.query("SELECT trade_id FROM fills ORDER BY seq, sub").rows
        assert stored == [[r[col]] for r in rows]
        assert journal.rejected_rows() == []
    finally:
        journal.close()
