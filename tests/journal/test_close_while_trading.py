"""Closing or detaching a journal under a kernel that keeps trading: every row the kernel's
outbox took before recording stopped is stored, none is left behind in the outbox uncounted,
and the kernel's later inputs (not journaled) are named in a warning."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from dita import JOURNAL_COLUMNS, ExecutionKernel, InMemoryJournal, KernelIntent
from dita.journal.clickhouse import ClickHouseJournal


def _trade(kernel: ExecutionKernel, n: int) -> None:
    """An entry in slot 0, then its exit: a few journal rows."""
    kernel.process_intent(
        KernelIntent(f"e{n}", f"t{n}", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0 + n)
    )
    kernel.process_intent(
        KernelIntent(f"x{n}", f"t{n}", 0, "BTC", "LONG", "EXIT", 100.0, 0.0, timestamp=1.5 + n)
    )


def _stored(journal: ClickHouseJournal, kernel_id: str) -> int:
    return sum(
        journal.query(f"SELECT count() FROM {table} WHERE kernel_id = {{k:String}}", {"k": kernel_id}).rows[
            0
        ][0]
        for table in JOURNAL_COLUMNS
    )


def test_close_under_a_kernel_still_trading_stores_every_row_it_queued(
    journal_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """close() stops recording before its last drain: turning the outbox off only after it,
    rows the kernel made in between would stay in the outbox for good, counted nowhere."""
    journal = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="trading", journal_capacity=1_000_000)
    _trade(kernel, 0)
    settle = journal._settle_stopped

    def trade_after_the_drain(kernel_ids: list[str]) -> bool:
        _trade(kernel, 1)  # the strategy's next input, right after close() drained the outbox
        return settle(kernel_ids)

    journal._settle_stopped = trade_after_the_drain  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="dita.journal.clickhouse"):
        journal.close()
    stats = kernel.stats()
    assert stats["journal_queued"] == 0 and stats["journal_dropped"] == 0
    assert _stored(journal, "trading") == stats["journal_queued_total"] > 0
    warned = [r.getMessage() for r in caplog.records if "still attached" in r.getMessage()]
    assert len(warned) == 1 and "'trading'" in warned[0], warned
    kernel.close()


def test_close_under_a_kernel_trading_on_another_thread_leaves_no_row_behind(journal_dsn: str) -> None:
    journal = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="busy", journal_capacity=1_000_000)
    closed = threading.Event()
    errors: list[BaseException] = []

    def strategy() -> None:
        try:
            n = 0
            while not closed.is_set():
                _trade(kernel, n)
                n += 1
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=strategy)
    thread.start()
    try:
        _stored(journal, "busy")  # a query: the strategy has traded for a while by now
        journal.close()
    finally:
        closed.set()
        thread.join()
    assert not errors
    stats = kernel.stats()
    assert stats["journal_queued"] == 0 and stats["journal_dropped"] == 0
    assert _stored(journal, "busy") == stats["journal_queued_total"] > 0
    kernel.close()


def _in_memory_rows(journal: InMemoryJournal) -> int:
    return sum(len(journal._tables.get(table, [])) for table in JOURNAL_COLUMNS)


@pytest.mark.parametrize("leave", ["close", "detach"])
def test_in_memory_close_and_detach_stop_recording_before_their_last_drain(leave: str) -> None:
    journal = InMemoryJournal()
    kernel = ExecutionKernel(max_slots=2, kernel_id="mem", journal_capacity=1_000_000)
    journal.attach(kernel)
    _trade(kernel, 0)
    flush = journal.flush

    def flush_then_trade(timeout: float | None = None) -> None:
        flush(timeout)
        _trade(kernel, 1)  # the strategy's next input, right after the last drain

    journal.flush = flush_then_trade  # type: ignore[method-assign]
    getattr(journal, leave)(*([kernel] if leave == "detach" else []))
    stats = kernel.stats()
    assert stats["journal_queued"] == 0
    assert _in_memory_rows(journal) == stats["journal_queued_total"] > 0


def test_in_memory_refuses_a_second_kernel_of_the_same_kernel_id() -> None:
    journal = InMemoryJournal()
    first = ExecutionKernel(max_slots=2, kernel_id="twin", journal=journal)
    second = ExecutionKernel(max_slots=2, kernel_id="twin")
    with pytest.raises(ValueError, match="kernel_id 'twin' is already attached"):
        journal.attach(second)
    assert not journal.records(second)
    _trade(second, 0)
    assert second.stats()["journal_queued"] == 0  # its outbox was never turned on
    first.close()
    journal.attach(second)  # the id is free once the first has gone
    journal.detach(second)


def test_in_memory_flush_does_not_take_a_busy_kernel_for_an_empty_one() -> None:
    """A kernel another thread is inside answers a drain with "nothing taken this time" (an
    empty dict from ``drain_journal``, None from ``drain_journal_blocks``): flush() used to
    take that for "empty" and return with the kernel's rows still in its outbox."""
    journal = InMemoryJournal()
    kernel = ExecutionKernel(max_slots=2, kernel_id="busy-mem", journal=journal)
    _trade(kernel, 0)
    busy_answers = []
    real_drain, real_blocks = kernel.drain_journal, kernel.drain_journal_blocks

    def drain_journal(max_rows: int = 10_000) -> Any:
        if not busy_answers:  # the strategy's thread is inside the kernel this once
            busy_answers.append("drain_journal")
            return {table: [] for table in JOURNAL_COLUMNS}
        return real_drain(max_rows)

    def drain_journal_blocks(max_rows: int = 100_000) -> Any:
        if not busy_answers:
            busy_answers.append("drain_journal_blocks")
            return None
        return real_blocks(max_rows)

    kernel.drain_journal = drain_journal  # type: ignore[method-assign]
    kernel.drain_journal_blocks = drain_journal_blocks  # type: ignore[method-assign]
    journal.flush()
    assert busy_answers  # the flush did meet the busy kernel
    assert kernel.stats()["journal_queued"] == 0
    assert [r["intent_id"] for r in journal._tables.get("intents", [])] == ["e0", "x0"]
    kernel.close()
