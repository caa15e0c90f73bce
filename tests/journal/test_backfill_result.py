"""What ``backfill()`` answers: every row given is counted once, as written, already present or
rejected, whatever retries it took, and a key given twice is stored and counted once."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pytest

from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import reference_rows, twins
from journal.test_faults import FlakyClient


def _journal(path: Path) -> ClickHouseJournal:
    return ClickHouseJournal(f"chdb://{path}", max_delay=0.01, retry_initial=0.001, retry_max=0.01)


def _fills(trades: int = 6) -> list[tuple[Any, ...]]:
    """Rows of the fills table a real kernel made, in JOURNAL_COLUMNS order."""
    work, reference = twins(None)
    work.run(trades)
    rows = reference_rows(reference)["fills"]
    assert len(rows) >= 4
    return rows


def _stored(journal: ClickHouseJournal, kernel_id: str) -> list[Any]:
    return journal.query(
        "SELECT count(), uniqExact(seq, sub) FROM fills WHERE kernel_id = {k:String}", {"k": kernel_id}
    ).rows[0]


def test_rows_found_stored_are_counted_once_however_many_attempts_failed(tmp_path: Path) -> None:
    """A retried insert counts the rows its key check finds stored once, not at every attempt:
    a resend of 2 stored and N missing rows whose insert failed twice says 2 are present."""
    rows = _fills()
    journal = _journal(tmp_path / "j")
    try:
        assert journal.backfill("desk-1", {"fills": rows[:2]}, timeout=60).written == 2
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before" if n <= 2 else None)
        result = journal.backfill("desk-1", {"fills": rows}, timeout=60)
        flaky.restore()
        assert flaky.failures == 2
        assert (result.written, result.already_present, result.rejected) == (len(rows) - 2, 2, 0)
        assert _stored(journal, "desk-1") == [len(rows), len(rows)]
    finally:
        journal.close()


def test_a_row_given_twice_in_one_call_is_written_once_and_counted_once(tmp_path: Path) -> None:
    """A caller resending overlapping spans in one call: the repeat is the row being written,
    so it counts as present, not as a second row written (written said 7 for 5 rows stored)."""
    rows = _fills()
    journal = _journal(tmp_path / "j")
    try:
        result = journal.backfill("desk-1", {"fills": rows + rows[:2]}, timeout=60)
        assert (result.written, result.already_present) == (len(rows), 2)
        assert journal.stats().written == len(rows)
        assert _stored(journal, "desk-1") == [len(rows), len(rows)]
    finally:
        journal.close()


def test_a_row_given_twice_with_a_nan_is_still_the_same_row(tmp_path: Path) -> None:
    rows = _fills()
    first = (*rows[0][:-1], math.nan)  # a realized pnl that is not a number, in two NaN objects
    again = (*rows[0][:-1], float("nan"))
    journal = _journal(tmp_path / "j")
    try:
        result = journal.backfill("desk-1", {"fills": [first, again]}, timeout=60)
        assert (result.written, result.already_present) == (1, 1)
    finally:
        journal.close()


def test_two_different_rows_under_one_key_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    rows = _fills()
    other = (*rows[1][:2], *rows[2][2:])  # row 1's key, row 2's values
    journal = _journal(tmp_path / "j")
    try:
        with pytest.raises(ValueError, match=r"backfill fills rows 1 and 4 both have seq \d+ sub \d+"):
            journal.backfill("desk-1", {"fills": [*rows[:4], other]}, timeout=60)
        assert journal.stats().written == 0
        assert _stored(journal, "desk-1") == [0, 0]
    finally:
        journal.close()


def test_rows_a_backfill_returned_as_written_are_no_longer_counted_queued(tmp_path: Path) -> None:
    """The writer settles its batch's count after the batch's bookkeeping (progress, refills);
    a backfill returns once its rows are stored, so stats() must not count them queued then."""
    journal = _journal(tmp_path / "j")
    settled = threading.Event()
    record = journal._progress.record

    def slow_record(batch: Any) -> None:
        settled.wait(5)  # the batch's count is settled only after this returns
        record(batch)

    journal._progress.record = slow_record  # type: ignore[method-assign]
    rows = _fills()
    try:
        result = journal.backfill("desk-1", {"fills": rows}, timeout=20)
        assert result.written == len(rows)
        assert journal.stats().queued == 0
    finally:
        settled.set()
        journal.close()
