"""A kernel attached while the journal could not read ClickHouse (so attach could not check
its seq against the rows stored under its kernel_id) is checked once the journal can, before
any of its rows is judged against stored keys. A kernel whose seq was below the stored rows
then has none of its rows written, skipped or merged: they are held, counted, and flush()
says why, as attach would have; the other kernels of the journal are written as usual."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from dita import JOURNAL_COLUMNS, ExecutionKernel
from dita.journal.clickhouse import ClickHouseJournal, JournalBlockedError
from journal.helpers import assert_same_rows, journal_rows, twins, wait_until
from journal.test_faults import FlakyClient, _journal

LOGGER = "dita.journal.clickhouse"


@contextmanager
def _store_unreadable(journal: ClickHouseJournal) -> Iterator[list[int]]:
    """The journal's queries fail (as with ClickHouse away) while the block runs; the list
    counts the calls."""
    calls = [0]

    def query(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        raise OperationalError("injected: ClickHouse cannot be queried")

    journal._queries.query = query  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del journal._queries.query  # the class's method again


def _stored(journal: ClickHouseJournal, kernel_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored copy of ``kernel_id``'s rows (not FINAL: a merge would show as fewer)."""
    return {t: journal_rows(journal, t, kernel_id, final=False) for t in JOURNAL_COLUMNS}


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]


@pytest.mark.parametrize("writer", ["reaches-clickhouse-at-once", "reaches-clickhouse-later"])
def test_a_kernel_id_reused_without_a_wal_and_attached_unchecked_is_held_not_skipped(
    tmp_path: Path, writer: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The second run of "x" is attached unchecked; once the writer reaches ClickHouse, its
    rows would be taken for the first run's and skipped as already present (or written among
    them), lost without a word. The writer checks first and holds them."""
    path = tmp_path / "j"
    first = _journal(path)
    work, _ = twins(first, kernel_id="x")
    work.run(20)
    first.flush(30)
    first.close()

    journal = _journal(path)
    try:
        before = _stored(journal, "x")
        stored = max(r[0] for rows in before.values() for r in rows)
        caplog.set_level(logging.WARNING, logger=LOGGER)
        back = threading.Event()
        if writer == "reaches-clickhouse-later":
            back_now = back.is_set
            flaky = FlakyClient(
                journal._connection.client,
                insert_rule=lambda n: None if back_now() else "before",
                query_rule=lambda n: not back_now(),
            )
        with _store_unreadable(journal):
            again, _ = twins(None, kernel_id="x")
            at = again.main.seq
            journal.attach(again.main)  # cannot be checked now: goes ahead
            other, reference = twins(None, kernel_id="y")
            journal.attach(other.main)
        again.run(20)
        other.run(20)
        if writer == "reaches-clickhouse-later":
            wait_until(lambda: flaky.failures > 3, "the writer to try ClickHouse")
            assert journal.stats().written == 0
            back.set()

        refusal = (
            rf"kernel_id 'x' already has journal rows up to seq {stored}, and this kernel \(without a "
            rf"write-ahead log\) was at seq {at} when it was attached: its new rows would take the keys of "
            r"stored ones and be lost\. Give each run its own kernel_id, give the kernel a wal_dir"
        )
        with pytest.raises(JournalBlockedError, match=refusal) as raised:
            journal.flush(60)
        stats = journal.stats()
        held = stats.extra["refused"]["x"]["held_rows"]
        assert held > 0 and stats.queued == held
        assert f"{held} rows held" in str(raised.value)
        assert stats.extra["refused"]["x"]["stored_seq"] == stored
        assert stats.extra["refused"]["x"]["seq"] == at
        assert re.search(refusal, stats.blocked) and re.search(refusal, stats.last_error)
        assert stats.extra["already_present"] == 0  # nothing of it judged against stored keys
        assert _stored(journal, "x") == before  # nothing written among them, nothing merged
        assert_same_rows(journal, reference, "y")  # the other kernel is written in full
        errors = _errors(caplog)
        assert len(errors) == 1 and "kernel_id 'x'" in errors[0], errors

        again.run(5, start=20)  # its later rows are held too, and said again, not logged again
        with pytest.raises(JournalBlockedError, match=refusal):
            journal.flush(60)
        assert len(_errors(caplog)) == 1
        journal.detach(other.main, 60)  # the refusal is x's alone
        assert _stored(journal, "x") == before
        with pytest.raises(JournalBlockedError, match=refusal):
            journal.detach(again.main, 60)  # its rows are held: it stays until the journal closes
        # Not "is still leaving this journal: the rows it made are being written", of rows
        # never written, nor a refusal suggesting replay=True.
        third, _ = twins(None, kernel_id="x")
        with pytest.raises(ValueError, match=r"kernel_id 'x' was refused by this journal.*another kernel_id"):
            journal.attach(third.main, replay=True)
        assert _stored(journal, "x") == before
    finally:
        journal.close()
    left = journal.stats().queued
    assert left > 0  # still counted after close
    with pytest.raises(RuntimeError, match=rf"closed with {left} rows unwritten.*kernel_id 'x'"):
        journal.flush()
    assert any(
        "closing journal with rows unwritten" in r.getMessage() and "kernel_id 'x'" in r.getMessage()
        for r in caplog.records
    )


def test_a_kernel_on_a_new_wal_attached_unchecked_is_refused_before_its_wal_fill(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel on a new log (its seq starts again) attached while ClickHouse could not be read:
    its WAL fill would find the stored progress past its log's end and derive nothing, and its
    new rows would be taken for stored ones. The fill checks first (asking until it can) and
    derives nothing, the writer holds its rows, and flush() names the log and its seq."""
    path = tmp_path / "j"
    first = _journal(path)
    work, _ = twins(first, wal_dir=str(tmp_path / "wal-1"))
    work.run(20)
    work.main.close()  # and the journal with it

    journal = _journal(path)
    fresh = tmp_path / "wal-2"
    again, _ = twins(None, wal_dir=str(fresh))
    try:
        before = _stored(journal, "desk-1")
        stored = max(r[0] for rows in before.values() for r in rows)
        again.run(5)  # inputs of no journal yet: the attach derives their rows from the log
        at = again.main.seq
        assert 0 < at < stored
        caplog.set_level(logging.WARNING, logger=LOGGER)
        with _store_unreadable(journal) as reads:
            journal.attach(again.main)
            again.run(5, start=5)
            # The fill keeps asking (the attach asked once) while nothing can be read.
            wait_until(lambda: reads[0] >= 3, "the WAL fill to ask the journal")
            assert journal.stats().written == 0
        with pytest.raises(
            JournalBlockedError,
            match=rf"kernel_id 'desk-1' already has journal rows up to seq {stored}, and this kernel's "
            rf"write-ahead log \({re.escape(str(fresh))}\) ended at seq {at} when it was attached: "
            r"a new or lost log.*Start the kernel on the log the stored rows came from",
        ):
            journal.flush(60)
        stats = journal.stats()
        assert stats.extra["wal_filled"] == 0 and stats.extra["already_present"] == 0
        assert stats.queued == stats.extra["refused"]["desk-1"]["held_rows"] > 0
        assert _stored(journal, "desk-1") == before
        assert len(_errors(caplog)) == 1
    finally:
        journal.close()
        again.main.close()


def test_a_kernel_id_detached_before_its_check_leaves_no_check_for_the_next_kernel_of_it(
    tmp_path: Path,
) -> None:
    """A kernel attached unchecked and detached before it made a row was never checked, and its
    pending check stayed behind: the next kernel of that kernel_id, checked and found sound at
    its own attach, was then checked again against the first one's seq (0), refused, and its
    rows held, as a kernel "without a write-ahead log at seq 0" it is not."""
    path = tmp_path / "j"
    wal = str(tmp_path / "wal")
    first = _journal(path)
    work, _ = twins(first, kernel_id="x", wal_dir=wal)
    work.run(20)
    work.main.close()  # and the journal with it

    journal = _journal(path)
    try:
        with _store_unreadable(journal):
            early = ExecutionKernel(max_slots=2, kernel_id="x")
            journal.attach(early)  # cannot be checked now: goes ahead, unchecked
        journal.detach(early, 30)  # it made no row: nothing was checked or written
        again, _ = twins(None, kernel_id="x", wal_dir=wal)  # the same log: carries on from it
        assert again.main.seq >= 20
        journal.attach(again.main)  # checked now, and sound
        again.run(5, start=20)
        journal.flush(60)  # no JournalBlockedError "... was at seq 0 when it was attached"
        stats = journal.stats()
        assert stats.extra["refused"] == {} and stats.blocked == "" and stats.queued == 0
    finally:
        journal.close()
