"""A kernel attached while another thread closes the journal (kernels closing at the same time
share it): the attach is refused with an error saying the journal is closed, and leaves the
kernel free for another journal. An attach that passed the "closed?" check just before
close() stopped the threads and then went through would turn the kernel's outbox on with
nobody left to drain it: its rows never written, nothing said, and the kernel counted as
recorded by the closed journal, so no other journal could take it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dita import ExecutionKernel, InMemoryJournal, KernelIntent
from dita.journal.clickhouse import ClickHouseJournal


def _trade(kernel: ExecutionKernel) -> None:
    kernel.process_intent(KernelIntent("e0", "t0", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0))


def _attach_during(journal: ClickHouseJournal, kernel: ExecutionKernel, during: Any) -> None:
    """``journal.attach(kernel)`` with ``during()`` run on another thread, and waited for, while
    the attach reads the stored rows (past its first "closed?" look)."""
    check = journal._kernels.check_new_seqs

    def check_while_closing(*args: Any) -> Any:
        thread = threading.Thread(target=during)
        thread.start()
        thread.join()
        return check(*args)

    journal._kernels.check_new_seqs = check_while_closing  # type: ignore[method-assign]
    journal.attach(kernel)


def test_an_attach_a_close_overtakes_is_refused_and_leaves_the_kernel_free(journal_dsn: str) -> None:
    journal = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(max_slots=2, kernel_id="late", journal_capacity=1_000)
    try:
        with pytest.raises(RuntimeError, match="closed"):
            _attach_during(journal, kernel, journal.close)
        assert not journal.records(kernel)
        _trade(kernel)
        assert kernel.stats()["journal_queued"] == 0  # its outbox stayed off: no rows to lose
        other = InMemoryJournal()
        other.attach(kernel)  # not held by the closed journal
        _trade(kernel)
        other.flush()
        assert other.stats().written > 0
        other.detach(kernel)
    finally:
        journal.close()
        kernel.close()


def test_an_attach_while_close_flushes_is_refused(journal_dsn: str) -> None:
    """close() stops recording its kernels and flushes before it stops its threads; a kernel
    attached in between would be drained until the threads stopped and then turned off
    without a word, its later rows left in its outbox."""
    journal = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(max_slots=2, kernel_id="during-flush", journal_capacity=1_000)
    flushing = threading.Event()
    attached = threading.Event()
    flush = journal._flush

    def slow_flush(*args: Any, **kwargs: Any) -> None:
        flushing.set()
        attached.wait(20)
        flush(*args, **kwargs)

    journal._flush = slow_flush  # type: ignore[method-assign]
    closer = threading.Thread(target=journal.close)
    closer.start()
    try:
        assert flushing.wait(20)
        with pytest.raises(RuntimeError, match="clos"):
            journal.attach(kernel)
        assert not journal.records(kernel)
    finally:
        attached.set()
        closer.join(30)
        journal.close()
        kernel.close()


def test_an_attach_between_the_last_kernels_release_and_the_close_is_refused(journal_dsn: str) -> None:
    """The last kernel sharing the journal closing: release() marks the journal closing in the
    step that finds it last, not once close() runs. A kernel attached in between would go
    through, and close() stop recording it at once: its later rows never written."""
    journal = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=20)
    first = ExecutionKernel(max_slots=2, kernel_id="first", journal=journal)
    late = ExecutionKernel(max_slots=2, kernel_id="between", journal_capacity=1_000)
    close = journal.close
    refused: list[BaseException] = []

    def attach_then_close() -> None:
        try:
            journal.attach(late)
        except RuntimeError as exc:
            refused.append(exc)
        close()

    journal.close = attach_then_close  # type: ignore[method-assign]
    try:
        first.close()  # the last kernel: releases, then closes the journal
        assert refused and "clos" in str(refused[0]), refused
        assert not journal.records(late)
    finally:
        close()
        late.close()


def test_closing_a_kernel_detached_before_leaves_the_journal_open(journal_dsn: str) -> None:
    """A journal closes with the last kernel it records. A kernel detached first is no longer
    recorded: its close must not shut the journal its caller kept for a new kernel, whose attach
    would then be refused as closed."""
    journal = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=20)
    old = ExecutionKernel(max_slots=2, kernel_id="moved-from", journal=journal)
    new: ExecutionKernel | None = None
    try:
        journal.detach(old)
        old.close()
        new = ExecutionKernel(max_slots=2, kernel_id="moved-to", journal=journal)
        _trade(new)
        journal.flush(timeout=20)
        assert journal.stats().written > 0
    finally:
        if new is not None:
            new.close()  # the last kernel recorded: the journal closes with it
        journal.close()
