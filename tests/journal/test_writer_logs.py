"""What the journal logs while ClickHouse does not take its rows for a reason that may pass,
while a kernel's outbox drops rows, and while its progress cannot be recorded: said when it
starts, again at most once a minute while it lasts (with the rows waiting, or the rows
dropped), and the recovery too, so an operator reading the log sees it, not only one reading
stats()."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from dita import ExecutionKernel
from dita.journal.clickhouse import backoff, kernels, progress
from journal.helpers import Side, Workload, assert_same_rows, twins, venue, wait_until
from journal.test_faults import FlakyClient, _journal

LOGGER = "dita.journal.clickhouse"


def _said(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == level and text in r.getMessage()
    ]


def test_a_writer_failing_for_a_while_says_so_once_a_minute_and_when_it_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    journal = _journal(tmp_path / "j")
    back = threading.Event()
    try:
        flaky = FlakyClient(
            journal._connection.client, insert_rule=lambda n: None if back.is_set() else "before"
        )
        work, reference = twins(journal)
        work.run(20)
        wait_until(lambda: flaky.failures >= 30, "the writer to retry many times")
        failing = _said(caplog, logging.WARNING, "does not take rows")
        assert len(failing) == 1, failing  # not one line per retry
        assert "injected: connection refused" in failing[0]
        match = re.search(r"(\d+) rows wait", failing[0])
        assert match and int(match.group(1)) > 0

        monkeypatch.setattr(backoff, "_LOG_EVERY", 0.2)  # "a minute", made short
        wait_until(lambda: len(_said(caplog, logging.WARNING, "has not taken rows")) >= 2, "a reminder")
        still = _said(caplog, logging.WARNING, "has not taken rows")
        for line in still:
            assert re.search(r"for \d+ s \(\d+ failed attempts\).*injected.*; [1-9]\d* rows wait", line), line
        assert len(still) + 1 < flaky.failures / 5
        assert not _said(caplog, logging.INFO, "takes rows again")

        back.set()
        journal.flush(60)
        recovered = _said(caplog, logging.INFO, "takes rows again")
        assert len(recovered) == 1 and "failed attempts" in recovered[0], recovered
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_rows_an_outbox_drops_are_logged_naming_the_kernel_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    journal = _journal(tmp_path / "j", queue_rows=100, drain_rows=100)
    try:
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="small", journal_capacity=50)
        work = Workload([Side(kernel, venue())], max_slots=4)
        work.run(100)
        assert kernel.stats()["journal_dropped"] > 0

        def dropped() -> list[str]:
            return _said(caplog, logging.WARNING, "the outbox of kernel")

        # Seen by the journal's own thread: nobody asks stats().
        wait_until(lambda: bool(dropped()), "the drops to be logged")
        (line,) = dropped()
        count = re.search(r"the outbox of kernel 'small' dropped (\d+) rows", line)
        assert count and 0 < int(count.group(1)) <= kernel.stats()["journal_dropped"], line
        assert "no write-ahead log" in line

        work.run(100, start=100)  # more drops, within the minute: not said again
        assert journal.stats().dropped > int(count.group(1))
        assert len(dropped()) == 1

        monkeypatch.setattr(kernels, "_LOG_EVERY", 0.0)
        work.run(50, start=200)
        total = journal.stats().dropped
        wait_until(lambda: any(f"dropped {total} rows" in s for s in dropped()), "the later drops said")
        flaky.restore()
    finally:
        journal.close()


def test_progress_that_cannot_be_recorded_is_said_once_a_minute_and_when_recorded_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    journal = _journal(tmp_path / "j")
    client = journal._connection.client
    real = client.insert
    refused = [True]

    def insert(table: str, *args: Any, **kwargs: Any) -> Any:
        if refused[0] and table == "journal_progress":
            raise OperationalError("injected: progress refused")
        return real(table, *args, **kwargs)

    client.insert = insert
    try:
        work, _ = twins(journal)
        for i in range(5):  # the rows go in, their progress does not
            work.run(20, start=20 * i)
            journal.flush(30)
        assert journal.stats().extra["progress_failed"] >= 5
        assert journal.gap_start("desk-1") == 1

        def failing() -> list[str]:
            return _said(caplog, logging.WARNING, "could not record progress")

        (line,) = failing()  # not one line per batch
        assert "injected: progress refused" in line and "gap_start() stays" in line, line

        monkeypatch.setattr(progress, "_LOG_EVERY", 0.0)  # "a minute", made short
        work.run(20, start=100)
        journal.flush(30)
        assert len(failing()) == 2
        assert not _said(caplog, logging.INFO, "records progress again")

        refused[0] = False
        work.run(20, start=120)
        journal.flush(30)
        assert len(_said(caplog, logging.INFO, "records progress again")) == 1
        assert journal.gap_start("desk-1") > 100
    finally:
        client.insert = real
        journal.close()


def test_progress_failing_every_other_batch_warns_at_most_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A progress table refusing every other insert (at its parts limit between merges): a
    recording in between does not start a new minute."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    journal = _journal(tmp_path / "j")
    client = journal._connection.client
    real = client.insert
    calls = [0]

    def insert(table: str, *args: Any, **kwargs: Any) -> Any:
        if table == "journal_progress":
            calls[0] += 1
            if calls[0] % 2:
                raise OperationalError("injected: too many parts")
        return real(table, *args, **kwargs)

    client.insert = insert
    try:
        work, _ = twins(journal)
        for i in range(10):
            work.run(10, start=10 * i)
            journal.flush(30)
        warnings = _said(caplog, logging.WARNING, "could not record progress")
        infos = _said(caplog, logging.INFO, "records progress again")
        assert calls[0] >= 10
        assert len(warnings) <= 1, f"{len(warnings)} WARNINGs and {len(infos)} INFOs within seconds"
    finally:
        client.insert = real
        journal.close()
