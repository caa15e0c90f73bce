"""A kernel whose detach gave up while ClickHouse was away leaves once its outbox is drained.
Rows its outbox dropped meanwhile are missing until a refill from its log stores them: its
progress must not be recorded past them when it leaves, or a restart never derives them; also
when it leaves before the writer read its drop mark after a stored batch."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from journal.helpers import Workload, assert_same_rows, reference_rows, twins, wait_until
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


def _assert_gap_start_vouches_only_for_stored_rows(journal: Any, reference: Any) -> None:
    """gap_start() promises: every row of the kernel with a lower seq is stored."""
    gap = journal.gap_start("desk-1")
    for table, rows in reference_rows(reference).items():
        want = len([r for r in rows if r[0] < gap])
        sql = f"SELECT count() FROM {table} WHERE kernel_id = 'desk-1' AND seq < {gap}"
        got = journal.query(sql).rows[0][0]
        assert got == want, f"{table}: {got} rows below gap_start {gap}, the kernel made {want}"


def _leave_after_dropping_while_not_drained(work: Workload, journal: Any) -> None:
    """The outbox overflows while the strategy is inside the kernel (nothing drained), and a
    detach gives up with ClickHouse away; the kernel leaves once its outbox is empty."""
    real_drain = work.main.drain_journal_blocks
    busy = [False]

    def drain_journal_blocks(*args: Any, **kwargs: Any) -> Any:
        return None if busy[0] else real_drain(*args, **kwargs)

    work.main.drain_journal_blocks = drain_journal_blocks  # type: ignore[method-assign]
    try:
        journal.attach(work.main)
        work.run(20)
        journal.flush(60)
        busy[0] = True
        work.run(60, start=20)
        assert work.main.stats()["journal_first_dropped_seq"] is not None
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        with pytest.raises(TimeoutError):
            journal.detach(work.main, timeout=0.3)
        busy[0] = False
        wait_until(lambda: not journal.stats().extra["leaving"], "the kernel to leave")
        flaky.restore()
        journal.flush(60)
    finally:
        del work.main.drain_journal_blocks


def test_a_kernel_that_leaves_before_its_drop_mark_is_read_keeps_its_gap(tmp_path: Path) -> None:
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j")
    try:
        _leave_after_dropping_while_not_drained(work, journal)
        _assert_gap_start_vouches_only_for_stored_rows(journal, reference)
    finally:
        journal.close()


def test_a_kernel_that_left_before_its_drop_mark_was_read_gets_every_row_when_attached_again(
    tmp_path: Path,
) -> None:
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j")
    try:
        _leave_after_dropping_while_not_drained(work, journal)
        journal.attach(work.main)  # its fill starts at gap_start(): the dropped rows included
        journal.flush(120)
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_a_kernel_busy_whenever_its_drop_mark_is_asked_then_leaving_keeps_its_gap(tmp_path: Path) -> None:
    """The outbox overflows while ClickHouse is away and the detach gives up; once ClickHouse
    is back the kernel, still trading, is busy each time the writer asks for its mark after a
    batch, and it leaves once its outbox is empty."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    real = work.main.journal_drop_mark
    hidden = [False]

    def journal_drop_mark() -> tuple[bool, int | None]:
        return (False, None) if hidden[0] else real()

    work.main.journal_drop_mark = journal_drop_mark  # type: ignore[method-assign]
    try:
        journal.attach(work.main)
        for start in range(0, 50, 5):
            work.run(5, start=start)
            journal.flush(60)
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        work.run(200, start=50)
        assert work.main.stats()["journal_first_dropped_seq"] is not None
        with pytest.raises(TimeoutError):
            journal.detach(work.main, timeout=0.3)
        hidden[0] = True
        flaky.restore()
        wait_until(lambda: not journal.stats().extra["leaving"], "the kernel to leave")
        hidden[0] = False
        journal.flush(60)
        _assert_gap_start_vouches_only_for_stored_rows(journal, reference)
    finally:
        journal.close()
        del work.main.journal_drop_mark


def test_a_detach_whose_mark_read_finds_the_kernel_busy_keeps_its_gap(tmp_path: Path) -> None:
    """stats() raises as a kernel busy for 10 s does: the mark unread, the progress already
    recorded is the most the kernel's leaving may vouch for."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j")
    real_drain = work.main.drain_journal_blocks
    real_stats = work.main.stats
    busy = [False]
    stats_busy = [False]

    def drain_journal_blocks(*args: Any, **kwargs: Any) -> Any:
        return None if busy[0] else real_drain(*args, **kwargs)

    def stats() -> Any:
        if stats_busy[0]:
            raise RuntimeError("kernel busy in another call for 10 s (is a thread stuck inside it?)")
        return real_stats()

    work.main.drain_journal_blocks = drain_journal_blocks  # type: ignore[method-assign]
    work.main.stats = stats  # type: ignore[method-assign]
    try:
        journal.attach(work.main)
        work.run(20)
        journal.flush(60)
        busy[0] = True
        work.run(60, start=20)  # the outbox overflows while the drainer cannot take
        dropped_from = work.main.stats()["journal_first_dropped_seq"]
        assert dropped_from is not None
        stats_busy[0] = True
        with pytest.raises(RuntimeError):
            journal.detach(work.main, timeout=5)
        stats_busy[0] = False
        # The writer (a low-priority thread on a busy machine) gets to recording the progress
        # of the kernel's last batch only after the drainer found its outbox empty: it left.
        left = threading.Event()
        real_record = journal._progress.record

        def record(batch: Any) -> None:
            if any(c.kernel_id == "desk-1" for c in batch):
                left.wait(10)
            real_record(batch)

        journal._progress.record = record  # type: ignore[method-assign]
        busy[0] = False
        wait_until(lambda: not journal.stats().extra["leaving"], "the kernel to leave")
        left.set()
        journal.flush(60)
        gap = journal.gap_start("desk-1")
        for table, rows in reference_rows(reference).items():
            want = len([r for r in rows if r[0] < gap])
            got = journal.query(
                f"SELECT count() FROM {table} WHERE kernel_id = 'desk-1' AND seq < {gap}"
            ).rows[0][0]
            assert got == want, f"{table}: {got} rows below {gap}, made {want} (dropped: {dropped_from})"
    finally:
        journal.close()
        del work.main.drain_journal_blocks
        del work.main.stats


def test_a_detach_asks_the_kernel_for_its_last_drops_and_mark_once(tmp_path: Path) -> None:
    """Each read of a busy kernel's stats waits up to 10 s: the detach's last drops and drop
    mark come from one read, and the drops counted are those that read says."""
    work, _ = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    real_stats = work.main.stats
    reads = [0]
    detaching = threading.current_thread()

    def stats() -> Any:
        reads[0] += threading.current_thread() is detaching  # the drainer reads drops too
        return real_stats()

    try:
        journal.attach(work.main)
        work.run(50)
        journal.flush(60)
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        work.run(200, start=50)
        dropped = real_stats()["journal_dropped"]
        assert dropped
        work.main.stats = stats  # type: ignore[method-assign]
        with pytest.raises(TimeoutError):
            journal.detach(work.main, timeout=0.2)
        assert reads[0] == 1
        del work.main.stats
        flaky.restore()
        wait_until(lambda: not journal.stats().extra["leaving"], "the kernel to leave")
        assert journal.stats().dropped == dropped
    finally:
        journal.close()
