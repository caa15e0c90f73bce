"""ClickHouse refusing rows for a reason retrying does not cure (a table whose columns do not
match, a table that cannot be made again, credentials or rights refused): the rows are kept,
the writer stops hammering, and the operator is told which table and which error, at once,
by flush(), backfill(), close(), stats() and the log. Once the cause is fixed every row is
written, once. The schema breaks are made on the real embedded engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from dita.journal.clickhouse import ClickHouseJournal, JournalBlockedError
from journal.helpers import assert_same_rows, reference_rows, twins

# The writer tries a blocked batch again only when asked (flush, backfill, close): within a
# test it never does by itself, so the attempts it makes can be counted.
NEVER = 3600.0


def _journal(path: Path, **kw: Any) -> ClickHouseJournal:
    kw.setdefault("max_delay", 0.01)
    kw.setdefault("retry_initial", 0.001)  # a failure that may pass is retried at once
    kw.setdefault("retry_max", 0.01)
    kw.setdefault("retry_blocked", NEVER)
    return ClickHouseJournal(f"chdb://{path}", **kw)


def _fills_stored(journal: ClickHouseJournal) -> int:
    return int(journal.query("SELECT count() FROM fills WHERE kernel_id = 'desk-1'").rows[0][0])


# (what breaks the fills table, what mends it, ClickHouse's name for the error)
BREAKS = {
    "renamed-column": (
        ["ALTER TABLE dita.fills RENAME COLUMN price TO price_was"],
        ["ALTER TABLE dita.fills RENAME COLUMN price_was TO price"],
        "NO_SUCH_COLUMN_IN_TABLE",
    ),
    "column-of-another-type": (
        ["ALTER TABLE dita.fills RENAME COLUMN fill_id TO fill_id_was, ADD COLUMN fill_id UInt64"],
        [
            "ALTER TABLE dita.fills DROP COLUMN fill_id",
            "ALTER TABLE dita.fills RENAME COLUMN fill_id_was TO fill_id",
        ],
        "CANNOT_PARSE_TEXT",
    ),
    # Missing, and CREATE cannot make it again: a table detached for good keeps its name.
    "table-that-cannot-be-made-again": (
        ["DETACH TABLE dita.fills PERMANENTLY"],
        ["ATTACH TABLE dita.fills"],
        "UNKNOWN_TABLE",
    ),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_a_table_clickhouse_refuses_rows_for_good_blocks_the_writer_and_says_so(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """flush() raises at once naming the table and the error (rather than wait out its
    timeout while the writer retries for good, in silence), the writer tries again only when
    asked, and after the fix every row is there once."""
    breaks, mends, cause = BREAKS[case]
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal)
        work.run(10)
        journal.flush(30)
        stored = _fills_stored(journal)
        for stmt in breaks:
            journal._connection.client.command(stmt)
        caplog.set_level(logging.WARNING, logger="dita.journal.clickhouse")
        work.run(20, start=10)  # the kernel trades on: process_intent never waits

        with pytest.raises(JournalBlockedError, match=rf"refuses inserts into fills \({cause}\)") as raised:
            journal.flush(30)
        assert "rows are kept" in str(raised.value)
        stats = journal.stats()
        assert stats.blocked.startswith("fills: ") and f"({cause})" in stats.blocked
        assert (stats.extra["blocked_table"], stats.extra["blocked_cause"]) == ("fills", cause)
        assert stats.queued > 0 and stats.written < sum(len(r) for r in reference_rows(reference).values())
        # Not hammering: one attempt (two if flush() came while the first was under way),
        # where retry_initial alone would have made hundreds by now.
        assert stats.retries <= 2
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert "is blocked" in errors[0].getMessage() and f"fills ({cause})" in errors[0].getMessage()

        # Each flush() tries once more, and says so again; nothing is tried in between.
        with pytest.raises(JournalBlockedError):
            journal.flush(30)
        assert journal.stats().retries == stats.retries + 1
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1  # logged once
        if case != "table-that-cannot-be-made-again":
            assert _fills_stored(journal) == stored

        for stmt in mends:
            journal._connection.client.command(stmt)
        journal.flush(60)  # tries at once, not after retry_blocked
        after = journal.stats()
        assert after.blocked == "" and after.extra["blocked_cause"] is None and after.queued == 0
        assert any(
            "takes rows again" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
        )
        assert_same_rows(journal, reference, "desk-1")  # every row, once
    finally:
        journal.close()


def test_a_backfill_into_a_blocked_journal_raises_and_its_rows_follow_the_fix(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal)
        work.run(10)
        journal.flush(30)
        fills = reference_rows(reference)["fills"]
        resent = [(10_000_001, *fills[0][1:])]
        journal._connection.client.command("ALTER TABLE dita.fills RENAME COLUMN price TO price_was")
        with pytest.raises(JournalBlockedError, match=r"inserts into fills \(NO_SUCH_COLUMN_IN_TABLE\)"):
            journal.backfill("desk-1", {"fills": resent}, timeout=30)
        journal._connection.client.command("ALTER TABLE dita.fills RENAME COLUMN price_was TO price")
        journal.flush(60)
        assert journal.query("SELECT count() FROM fills WHERE seq = 10000001").rows == [[1]]
    finally:
        journal.close()


def test_close_on_a_blocked_journal_names_the_cause_and_the_wal_brings_the_rows_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """close() gives up at once on a blocked journal (waiting close_timeout would not help),
    saying why; the kernel's log still has the inputs, so a journal attached once the table is
    mended stores every row once."""
    path = tmp_path / "j"
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    first = _journal(path, close_timeout=5)
    first.attach(work.main)
    work.run(10)
    first.flush(30)
    first._connection.client.command("ALTER TABLE dita.fills RENAME COLUMN price TO price_was")
    work.run(20, start=10)
    caplog.set_level(logging.WARNING, logger="dita.journal.clickhouse")
    first.close()
    closing = [
        r.getMessage() for r in caplog.records if "closing journal with rows unwritten" in r.getMessage()
    ]
    assert len(closing) == 1 and "are blocked" in closing[0] and "NO_SUCH_COLUMN_IN_TABLE" in closing[0]
    left = first.stats().queued
    assert left > 0
    with pytest.raises(RuntimeError, match=rf"closed with {left} rows unwritten.*NO_SUCH_COLUMN_IN_TABLE"):
        first.flush()

    second = _journal(path)
    try:
        second._connection.client.command("ALTER TABLE dita.fills RENAME COLUMN price_was TO price")
        second.attach(work.main)
        second.flush(120)
        assert second.stats().extra["wal_filled"] > 0
        assert_same_rows(second, reference, "desk-1")
    finally:
        second.close()


def _http_error(code: int, name: str) -> Exception:
    """The error clickhouse-connect raises for a ClickHouse server's refusal over HTTP: the code
    from the X-ClickHouse-Exception-Code header, the name from the body."""
    return DatabaseError(
        f"Received ClickHouse exception, code: {code}, server response: Code: {code}. DB::Exception: "
        f"injected. ({name}) (for url http://ch:8123)",
        code=code,
        name=name,
    )


# Refusals as a server sends them; the embedded engine cannot refuse a login.
PERMANENT = {
    "auth": (516, "AUTHENTICATION_FAILED"),
    "no-rights": (497, "ACCESS_DENIED"),
    "read-only-user": (164, "READONLY"),
}
PASSING: dict[str, Callable[[], Exception]] = {
    "no-answer": lambda: OperationalError("injected: connection refused"),
    "timeout": lambda: _http_error(159, "TIMEOUT_EXCEEDED"),
    "memory": lambda: _http_error(241, "MEMORY_LIMIT_EXCEEDED"),
    "too-many-parts": lambda: _http_error(252, "TOO_MANY_PARTS"),
    "too-many-queries": lambda: _http_error(202, "TOO_MANY_SIMULTANEOUS_QUERIES"),
    "replica-read-only": lambda: _http_error(242, "TABLE_IS_READ_ONLY"),
    "disk-full": lambda: _http_error(243, "NOT_ENOUGH_SPACE"),
}


def _refuse_inserts(journal: ClickHouseJournal, make: Callable[[], Exception]) -> list[bool]:
    """Every insert fails with ``make()`` until the returned flag is set."""
    client = journal._connection.client
    real_insert, real_raw = client.insert, client.raw_insert
    mended = [False]

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if not mended[0]:
                raise make()
            return real(*args, **kwargs)

        return call

    client.insert, client.raw_insert = wrap(real_insert), wrap(real_raw)
    return mended


@pytest.mark.parametrize("case", list(PERMANENT))
def test_a_server_refusing_the_user_blocks_the_writer(tmp_path: Path, case: str) -> None:
    code, name = PERMANENT[case]
    journal = _journal(tmp_path / "j")
    try:
        mended = _refuse_inserts(journal, lambda: _http_error(code, name))
        work, reference = twins(journal)
        work.run(5)
        with pytest.raises(JournalBlockedError, match=rf"\({name}\)"):
            journal.flush(30)
        assert journal.stats().extra["blocked_cause"] == name
        mended[0] = True
        journal.flush(60)
        assert journal.stats().blocked == ""
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


@pytest.mark.parametrize("case", list(PASSING))
def test_a_failure_that_may_pass_is_retried_and_does_not_block(tmp_path: Path, case: str) -> None:
    journal = _journal(tmp_path / "j")
    calls = [0]

    def failure() -> Exception:
        calls[0] += 1
        return PASSING[case]()

    try:
        mended = _refuse_inserts(journal, failure)
        work, reference = twins(journal)
        work.run(5)
        # Retried by itself (retry_max apart): with the failure gone, flush() returns. Waited
        # for as counted, not as the injected failure is made: the writer counts it after.
        while calls[0] < 3 or journal.stats().retries < 3:
            with pytest.raises(TimeoutError):
                journal.flush(0.05)
        stats = journal.stats()
        assert stats.blocked == "" and stats.extra["blocked_cause"] is None and stats.retries >= 3
        mended[0] = True
        journal.flush(60)
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_the_permanent_errors_are_named_as_clickhouse_names_them(journal: ClickHouseJournal) -> None:
    from dita.journal.clickhouse.errors import PERMANENT_ERRORS

    codes = sorted(PERMANENT_ERRORS)
    res = journal.query(
        "SELECT c, errorCodeToName(c) FROM (SELECT arrayJoin({c:Array(Int32)}) AS c)", {"c": codes}
    )
    assert {int(c): n for c, n in res.rows} == PERMANENT_ERRORS


def test_a_progress_table_clickhouse_cannot_read_blocks_the_wal_fill_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The WAL fill at attach first reads where the stored rows end from journal_progress.
    With that table's columns broken, asking again every retry_max would never end, nor
    would a flush() without a timeout (detach()): flush() raises at once naming the table and
    the error; once it is mended every row is stored once."""
    path = tmp_path / "j"
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    first = _journal(path)
    first.attach(work.main)
    work.run(10)
    first.flush(30)
    first.close()
    work.run(10, start=10)  # rows of no journal: the next one fills them from the log

    second = _journal(path)
    try:
        # A table of that name with other columns (its version column cannot be renamed).
        for stmt in (
            "RENAME TABLE dita.journal_progress TO dita.journal_progress_was",
            "CREATE TABLE dita.journal_progress (kernel_id String, seq UInt64) "
            "ENGINE = MergeTree ORDER BY kernel_id",
        ):
            second._connection.client.command(stmt)
        caplog.set_level(logging.WARNING, logger="dita.journal.clickhouse")
        second.attach(work.main)
        with pytest.raises(JournalBlockedError, match=r"journal_progress \(UNKNOWN_IDENTIFIER\)") as raised:
            second.flush(30)
        assert "wal fill of desk-1" in str(raised.value)
        stats = second.stats()
        assert (stats.extra["blocked_table"], stats.extra["blocked_cause"]) == (
            "journal_progress",
            "UNKNOWN_IDENTIFIER",
        )
        assert stats.extra["wal_filled"] == 0
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "journal_progress (UNKNOWN_IDENTIFIER)" in errors[0], errors

        for stmt in (
            "DROP TABLE dita.journal_progress",
            "RENAME TABLE dita.journal_progress_was TO dita.journal_progress",
        ):
            second._connection.client.command(stmt)
        second.flush(60)  # the fill tries again at once, not after retry_blocked
        after = second.stats()
        assert after.blocked == "" and after.extra["wal_filled"] > 0
        assert_same_rows(second, reference, "desk-1")
    finally:
        second.close()


def test_a_newer_schema_found_when_the_writer_connects_again_blocks_it_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A newer dita migrated the database while this one ran (or while its server was down at
    start): the writer's next client refuses it at its migration, as a journal opened on it
    is refused. Retrying cannot cure that refusal, so it blocks the writer, naming the
    versions, and the rows are kept; flush() does not wait out its timeout (without one, for
    ever), nor close() its close_timeout."""
    journal = _journal(tmp_path / "j", close_timeout=20)
    try:
        work, _ = twins(journal)
        work.run(5)
        journal.flush(30)
        journal._connection.client.command(
            "INSERT INTO dita.journal_schema_version (version, description) VALUES (99, 'future')"
        )
        journal._connection.client.close()  # the server went away: the next attempt connects anew
        caplog.set_level(logging.WARNING, logger="dita.journal.clickhouse")
        work.run(5, start=5)
        with pytest.raises(JournalBlockedError, match=r"schema version 99, newer than this dita") as raised:
            journal.flush(30)
        assert "NEWER_SCHEMA" in str(raised.value) and "rows are kept" in str(raised.value)
        stats = journal.stats()
        assert stats.extra["blocked_cause"] == "NEWER_SCHEMA" and stats.queued > 0
        assert stats.retries <= 3  # not hammering
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "newer than this dita" in errors[0], errors
    finally:
        started = time.monotonic()
        journal.close()
        assert time.monotonic() - started < 10  # gives up at once, as on any block
