"""Rows are set aside (``rejected_rows()``) only for a value their column cannot take, found
while encoding them; never for a failure of the writer's own queries, and never under a
kernel_id no kernel can have.

A ``ValueError`` or ``TypeError`` raised by the key check that precedes an insert (a query
whose stream was closed under it: ``ValueError: I/O operation on closed file``) is no fault of
the rows: taken for one, the batch would be split down to single rows and each one set aside,
lost to the journal, though ClickHouse never saw them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import dita.journal.clickhouse.writer as writer
from dita import ExecutionKernel
from dita.journal.clickhouse import ClickHouseJournal

ROW = (5, 0, 1.0, "LIVE", "NORMAL", True, "x")


def _journal(path: Path) -> ClickHouseJournal:
    return ClickHouseJournal(
        f"chdb://{path}", max_delay=0.01, retry_initial=0.001, retry_max=0.01, close_timeout=10
    )


def _fail_queries(journal: ClickHouseJournal, text: str, times: int, exc: Exception) -> list[int]:
    """The writer's queries holding ``text`` raise ``exc``, the first ``times`` of them."""
    real = journal._connection.client.query
    failed = [0]

    def query(sql: str, *args: Any, **kwargs: Any) -> Any:
        if text in sql and failed[0] < times:
            failed[0] += 1
            raise exc
        return real(sql, *args, **kwargs)

    journal._connection.client.query = query
    return failed


@pytest.mark.parametrize(
    "exc", [ValueError("I/O operation on closed file"), TypeError("'NoneType' object is not subscriptable")]
)
def test_a_key_check_that_fails_sets_no_row_aside(tmp_path: Path, exc: Exception) -> None:
    journal = _journal(tmp_path / "j")
    try:
        failed = _fail_queries(journal, "SELECT seq, sub FROM", 3, exc)
        result = journal.backfill("desk-1", {"control_changes": [ROW]}, timeout=30)
        assert failed[0] == 3
        assert (result.written, result.rejected) == (1, 0)
        assert journal.rejected_rows() == [] and journal.stats().extra["rejected_rows"] == 0
        assert journal.query("SELECT seq FROM control_changes WHERE kernel_id = 'desk-1'").rows == [[5]]
    finally:
        journal.close()


def test_a_high_water_mark_read_that_fails_sets_no_drained_row_aside(tmp_path: Path) -> None:
    """A kernel's one control change, drained: the read of its table's stored seq fails."""
    journal = _journal(tmp_path / "j")
    try:
        failed = _fail_queries(journal, "SELECT max(seq) FROM `control_changes`", 1, ValueError("closed"))
        kernel = ExecutionKernel(max_slots=1, journal=journal, kernel_id="desk-2")
        kernel.update_control(verbosity="DEBUG", source="test")
        journal.flush(30)
        assert failed[0] == 1
        assert journal.rejected_rows() == []
        rows = journal.query("SELECT verbosity FROM control_changes WHERE kernel_id = 'desk-2'").rows
        assert rows == [["DEBUG"]]
        kernel.close()
    finally:
        journal.close()


def test_a_row_its_column_cannot_take_is_still_set_aside(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j")
    try:
        bad = (6, 0, "not a time", "LIVE", "NORMAL", True, "x")
        result = journal.backfill("desk-1", {"control_changes": [ROW, bad]}, timeout=30)
        assert (result.written, result.rejected) == (1, 1)
        assert [r["row"]["seq"] for r in journal.rejected_rows()] == [6]
    finally:
        journal.close()


def test_rows_set_aside_past_the_kept_ones_stay_counted_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``rejected_rows()`` keeps the newest ``_REJECTED_KEPT`` (1,000); ``extra["rejected_rows"]``
    counts every one, and every one is logged as an ERROR with its values."""
    monkeypatch.setattr(writer, "_REJECTED_KEPT", 2)
    journal = _journal(tmp_path / "j")
    try:
        bad = [(10 + i, 0, "not a time", "LIVE", "NORMAL", True, "x") for i in range(5)]
        with caplog.at_level(logging.ERROR, logger="dita.journal.clickhouse"):
            result = journal.backfill("desk-1", {"control_changes": bad}, timeout=30)
        assert result.rejected == 5
        assert [r["row"]["seq"] for r in journal.rejected_rows()] == [13, 14]
        assert journal.stats().extra["rejected_rows"] == 5
        logged = [r for r in caplog.records if "set aside" in r.getMessage()]
        assert sorted(str(seq) in r.getMessage() for seq in range(10, 15) for r in logged).count(True) == 5
    finally:
        journal.close()


class TestBackfillKernelIds:
    """Each case is refused and writes nothing: one journal serves them all."""

    @pytest.mark.parametrize(
        ("kernel_id", "shown"),
        [
            ("desk-1\n", r"'desk-1\n'"),
            ("desk 1", "'desk 1'"),
            ("desk-1\r", r"'desk-1\r'"),
            ("d\0", r"'d\x00'"),
            ("x" * 201, "'xxxx"),
            ("\u00e9" * 101, "202 bytes"),  # the kernel counts bytes
            ("*", "the control plane's entry for every kernel"),
        ],
    )
    def test_a_backfill_under_a_kernel_id_no_kernel_can_have_is_refused(
        self, class_journal: ClickHouseJournal, kernel_id: str, shown: str
    ) -> None:
        """Rows stored under it would lie beside the kernel's (a kernel_id read with its line end
        from a file), where no query for the kernel finds them."""
        with pytest.raises(ValueError, match="backfill kernel_id") as refused:
            class_journal.backfill(kernel_id, {"control_changes": [ROW]}, timeout=30)
        assert shown in str(refused.value)
        assert class_journal.query("SELECT count() FROM control_changes").rows == [[0]]


def test_a_backfill_under_any_kernel_id_a_kernel_can_have_is_taken(journal: ClickHouseJournal) -> None:
    for kernel_id in ("x" * 200, "\u00e9" * 100, "desk\u00b71", "d'1"):
        ExecutionKernel(max_slots=1, kernel_id=kernel_id).close()  # the kernel takes it too
        assert journal.backfill(kernel_id, {"control_changes": [ROW]}, timeout=30).written == 1
