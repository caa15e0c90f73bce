"""A kernel whose detach gave up while ClickHouse was away leaves once its outbox is drained.
Rows its outbox dropped meanwhile are missing until a refill from its log stores them: its
progress must not be recorded past them when it leaves, or a restart never derives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from journal.helpers import assert_same_rows, twins, wait_until
from journal.test_faults import FlakyClient, _journal


def test_a_kernel_leaving_with_rows_dropped_and_not_refilled_keeps_its_gap(tmp_path: Path) -> None:
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    real = work.main.wal_journal_blocks
    broken = [False]

    def wal_journal_blocks(*args: Any, **kwargs: Any) -> int:
        if broken[0]:  # the log cannot be read (or the kernel closed and let it go)
            raise OSError("injected: log unreadable")
        return real(*args, **kwargs)

    work.main.wal_journal_blocks = wal_journal_blocks  # type: ignore[method-assign]
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    try:
        journal.attach(work.main)
        work.run(50)
        journal.flush(60)
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        work.run(200, start=50)
        stats = work.main.stats()
        dropped_from = stats["journal_first_dropped_seq"]
        assert dropped_from is not None and stats["journal_dropped"]
        broken[0] = True
        with pytest.raises(TimeoutError):
            journal.detach(work.main, timeout=0.2)  # it stays, leaving, until its outbox is empty
        flaky.restore()
        wait_until(lambda: not journal.stats().extra["leaving"], "the kernel to leave")
        journal.flush(60)
        assert journal.stats().extra["wal_fill_failed"] >= 1
        assert journal.gap_start("desk-1") <= dropped_from
        # Attached again once its log reads, the kernel gets every row from there, once.
        broken[0] = False
        journal.attach(work.main)
        journal.flush(120)
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()
        del work.main.wal_journal_blocks
