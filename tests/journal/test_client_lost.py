"""The writer's clickhouse-connect client closed underneath it (by another part of the process,
or its chDB connection gone) while ClickHouse itself is fine. Retried on that same client,
every insert would fail with "The client has been closed" for good; a client that no longer
answers is let go and a new one opened, and the rows waiting are written once: none lost,
none twice."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from journal.helpers import Workload, assert_same_rows, twins, wait_until
from journal.test_faults import FlakyClient, _journal
from journal.test_unchecked_attach import _store_unreadable

LOGGER = "dita.journal.clickhouse"


def _let_go(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and "no longer answers" in r.getMessage()
    ]


def test_a_writer_client_closed_underneath_is_replaced_and_its_rows_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal)
        work.run(200)
        journal.flush(60)
        closed = journal._connection.client
        closed.close()
        work.run(400, start=200)  # the kernel records while the writer's client is closed
        journal.flush(60)  # not a TimeoutError with every retry "The client has been closed"
        assert journal._connection.client is not closed
        stats = journal.stats()
        assert stats.extra["clients_reopened"] == 1 and stats.extra["connected"]
        assert stats.retries >= 1 and stats.failed >= 1
        assert_same_rows(journal, reference, "desk-1")
        (said,) = _let_go(caplog)  # once, not once per retry
        assert "The client has been closed" in said and journal.target.display in said
    finally:
        journal.close()


def test_writer_clients_closed_mid_stream_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    """Closed again and again while the writer may be inserting on it: an insert cut off, or
    one whose answer was lost, is found stored by the key check and not written twice."""
    journal = _journal(tmp_path / "j")
    closed: list[Any] = []

    def close_the_writers_client(work: Workload) -> None:
        client = journal._connection.client
        if work.step % 100 == 50:
            client.close()
            closed.append(client)
            # The writer finds it closed at its next insert (this step's rows, at the latest).
            wait_until(lambda: journal.stats().extra["clients_reopened"] == len(closed), "a new client")

    try:
        work, reference = twins(journal)
        work.on_step = close_the_writers_client
        work.run(800)
        journal.flush(60)
        assert len(closed) == 8
        assert journal.stats().extra["clients_reopened"] == 8
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_a_client_closed_before_an_unchecked_kernel_is_checked_is_replaced(tmp_path: Path) -> None:
    """The writer's other retry loop: the check of a kernel attached while ClickHouse could
    not be read (see attach) reads the stored seq on the writer's client; closed, that read
    was retried for good and none of the kernel's rows was written."""
    journal = _journal(tmp_path / "j")
    try:
        journal._connection.client.close()
        with _store_unreadable(journal):
            work, reference = twins(None, kernel_id="late")
            journal.attach(work.main)  # cannot be checked now: the writer checks it first
        work.run(100)
        journal.flush(60)
        stats = journal.stats()
        assert stats.extra["clients_reopened"] == 1 and stats.extra["refused"] == {}
        assert_same_rows(journal, reference, "late")
    finally:
        journal.close()


def test_a_failure_of_a_client_that_still_answers_keeps_the_client(tmp_path: Path) -> None:
    """A failure the client did not cause (ClickHouse away for a moment, an insert refused) is
    retried on the same client: only one that no longer answers is replaced."""
    journal = _journal(tmp_path / "j")
    try:
        client = journal._connection.client
        flaky = FlakyClient(client, insert_rule=lambda n: "before" if n <= 5 else None)
        work, reference = twins(journal)
        work.run(50)
        journal.flush(60)
        flaky.restore()
        assert flaky.failures == 5
        assert journal._connection.client is client and journal.stats().extra["clients_reopened"] == 0
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_a_client_the_writer_opens_after_close_gave_up_on_it_is_closed(tmp_path: Path) -> None:
    """close() waits 10 s for the writer, then releases the client it finds. A writer still
    opening a new one by then (a server slow to answer, a chDB directory a query holds)
    closes that one itself: kept, an embedded engine left open keeps the process from opening
    another directory."""
    journal = _journal(tmp_path / "j", close_timeout=0.5)
    go_on = threading.Event()
    opened: list[Any] = []
    real_open = journal._connection.open

    def slow_open() -> Any:
        go_on.wait(60)
        client = real_open()
        opened.append(client)
        return client

    journal._connection.open = slow_open  # type: ignore[method-assign]
    try:
        work, _ = twins(journal)
        journal._connection.client.close()
        work.run(20)
        wait_until(lambda: journal._connection.client is None, "the writer to let its client go")
        journal.close()  # gives up on the writer, still opening a client
        assert journal._writer.thread.is_alive()
    finally:
        go_on.set()
    journal._writer.thread.join(30)
    assert not journal._writer.thread.is_alive()
    assert len(opened) == 1 and not opened[0].ping()
    assert journal._connection.client is None
    # The close is no failure of its own: the error says what kept the rows out.
    last_error = journal.stats().last_error
    assert last_error.startswith("closed with") and "The client has been closed" in last_error, last_error
