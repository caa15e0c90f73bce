"""A backfill may resend rows the kernel's outbox still holds (a caller may resend a generous
range): the backfill stores them first, and the outbox's own rows of those keys, drained
later, are key-checked and skipped, not stored a second time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dita import ExecutionKernel
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import assert_same_rows, reference_rows, twins, venue, wait_until
from journal.test_faults import FlakyClient, _crash_past_a_checkpoint, _journal


def _backfill_while_clickhouse_comes_back(
    journal: ClickHouseJournal, rows: dict[str, list[tuple[Any, ...]]], flaky: FlakyClient
) -> None:
    """Queue a backfill of ``rows`` while ClickHouse is away, then let ClickHouse take rows."""
    done: list[object] = []
    t = threading.Thread(target=lambda: done.append(journal.backfill("desk-1", rows, timeout=120)))
    t.start()
    wait_until(lambda: journal._queue.flushes_waiting > 0, "the backfill queued")
    flaky.restore()
    t.join(120)
    assert done, "the backfill did not return"
    journal.flush(120)


def test_a_backfill_of_rows_still_in_the_outbox_stores_each_row_once(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j", queue_rows=100, drain_rows=50)
    try:
        work, reference = twins(journal)
        work.run(10)
        journal.flush(60)  # the writer has written for the kernel and read what it stored
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        work.run(60, start=10)  # ClickHouse away: the queue fills, later rows wait in the outbox
        assert work.main.stats()["journal_queued"] > 0
        _backfill_while_clickhouse_comes_back(journal, reference_rows(reference), flaky)
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_a_resend_from_gap_start_after_a_restart_without_wal_fill_stores_each_row_once(
    tmp_path: Path,
) -> None:
    """The documented resend with wal_fill=False: read gap_start() before attaching and resend
    from there; the restarted kernel replays the records after its checkpoint into its outbox
    too, so the two overlap."""
    path, wal_dir = tmp_path / "j", tmp_path / "wal"
    _, reference, _ = _crash_past_a_checkpoint(path, wal_dir)
    journal = _journal(path, wal_fill=False, queue_rows=100, drain_rows=50)
    try:
        gap = journal.gap_start("desk-1")
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        restarted = ExecutionKernel(venue=venue(), journal=journal, wal_dir=str(wal_dir), fsync="none")
        wait_until(lambda: journal.stats().queued >= 100, "the queue full of replayed rows")
        assert restarted.stats()["journal_queued"] > 0  # more replayed rows wait in the outbox
        resend: dict[str, list[tuple[Any, ...]]] = {}

        def sink(blocks: list[Any]) -> None:
            for block in blocks:
                resend.setdefault(block.table, []).extend(block.tuples())

        restarted.wal_journal_blocks(gap, sink=sink)
        _backfill_while_clickhouse_comes_back(journal, resend, flaky)
        assert_same_rows(journal, reference, "desk-1")
        restarted.close()
    finally:
        journal.close()
