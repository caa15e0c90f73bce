"""Faults at the clickhouse-connect client boundary: failed inserts, inserts whose answer is lost,
ClickHouse away for a whole run, a journal restarted mid-stream and rows resent. In every case
the tables end up holding exactly the rows the kernel produced: none lost, none twice."""

from __future__ import annotations

import gc
import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from dita import JOURNAL_COLUMNS, ExecutionKernel, InMemoryJournal, KernelIntent
from dita._kernel import WalError
from dita.journal.clickhouse import BackfillResult, ClickHouseJournal
from journal.helpers import Side, Workload, assert_same_rows, reference_rows, twins, venue, wait_until


class FlakyClient:
    """Wraps the journal's clickhouse-connect client: calls fail by a rule.

    ``insert_rule(n)`` returns None (pass), "before" (fail without sending) or "after" (send,
    then fail as if the answer was lost on the way back). It counts and rules both ways of
    inserting: ``insert`` (column data) and ``raw_insert`` (the kernel's Native blocks).
    """

    def __init__(
        self,
        client: Any,
        insert_rule: Callable[[int], str | None],
        query_rule: Callable[[int], bool] = lambda n: False,
    ) -> None:
        self._client = client
        self._real_insert = client.insert
        self._real_raw_insert = client.raw_insert
        self._real_query = client.query
        self.insert_rule = insert_rule
        self.query_rule = query_rule
        self.inserts = 0
        self.queries = 0
        self.failures = 0
        client.insert = self.insert
        client.raw_insert = self.raw_insert
        client.query = self.query

    def _ruled(self, real: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.inserts += 1
        rule = self.insert_rule(self.inserts)
        if rule == "before":
            self.failures += 1
            raise OperationalError("injected: connection refused")
        result = real(*args, **kwargs)
        if rule == "after":
            self.failures += 1
            raise OperationalError("injected: connection reset after the insert was sent")
        return result

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        return self._ruled(self._real_insert, *args, **kwargs)

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        return self._ruled(self._real_raw_insert, *args, **kwargs)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        if self.query_rule(self.queries):
            self.failures += 1
            raise OperationalError("injected: query failed")
        return self._real_query(*args, **kwargs)

    def restore(self) -> None:
        self._client.insert = self._real_insert
        self._client.raw_insert = self._real_raw_insert
        self._client.query = self._real_query


def _journal(path: Path, **kw: Any) -> ClickHouseJournal:
    kw.setdefault("max_delay", 0.01)
    kw.setdefault("batch_rows", 500)  # many small inserts, so faults hit mid-stream
    kw.setdefault("retry_initial", 0.001)
    kw.setdefault("retry_max", 0.01)
    return ClickHouseJournal(f"chdb://{path}", **kw)


def test_failed_and_unanswered_inserts_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal)
        work.run(300)
        # From here on: every 3rd insert fails before sending, every 4th lands but its answer
        # is lost, and every 5th key check fails too.
        flaky = FlakyClient(
            journal._connection.client,
            insert_rule=lambda n: "before" if n % 3 == 0 else "after" if n % 4 == 0 else None,
            query_rule=lambda n: n % 5 == 0,
        )
        work.run(900, start=300)
        journal.flush(120)
        flaky.restore()
        assert flaky.failures > 10
        stats = journal.stats()
        assert stats.retries > 10 and stats.failed > 10
        assert stats.extra["already_present"] > 0  # lost answers were found stored, not rewritten
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_kernel_keeps_trading_while_clickhouse_is_away(tmp_path: Path) -> None:
    back = threading.Event()
    journal = _journal(tmp_path / "j", queue_rows=2_000, drain_rows=500)
    try:
        work, reference = twins(journal)
        flaky = FlakyClient(
            journal._connection.client, insert_rule=lambda n: None if back.is_set() else "before"
        )
        # The whole workload runs while nothing can be written: process_intent never waited.
        work.run(800)
        wait_until(lambda: flaky.failures > 0, "the writer to try ClickHouse")
        stats = journal.stats()
        assert stats.written == 0
        # The bounded queue held (a take never splits an input, so the last one may pass the
        # bound by part of one input's rows) ...
        assert stats.queued < 2_000 + 20
        assert work.main.stats()["journal_queued"] > 0  # ... and the kernel's outbox kept the rest
        assert stats.retries > 0 and "injected" in stats.last_error
        back.set()
        journal.flush(120)
        flaky.restore()
        assert_same_rows(journal, reference, "desk-1")
        assert journal.stats().lag_seconds == 0.0
    finally:
        journal.close()


def test_outbox_overflow_is_reported_as_dropped(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j", queue_rows=100, drain_rows=100)
    try:
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="small", journal_capacity=50)
        from journal.helpers import Side, Workload, venue

        work = Workload([Side(kernel, venue())], max_slots=4)
        work.run(100)
        # Rows the kernel could not hold are counted (a WAL resend would fill them in).
        assert journal.stats().dropped == kernel.stats()["journal_dropped"] > 0
        flaky.restore()
    finally:
        journal.close()


def test_dropped_rows_stay_counted_after_their_kernel_leaves(tmp_path: Path) -> None:
    """stats().dropped is a running total over the journal's life: it does not fall when the
    kernel that dropped the rows detaches or the journal closes, nor count them twice when
    that kernel is attached again."""
    journal = _journal(tmp_path / "j", queue_rows=100, drain_rows=100)
    try:
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="small", journal_capacity=50)
        Workload([Side(kernel, venue())], max_slots=4).run(100)
        dropped = kernel.stats()["journal_dropped"]
        assert journal.stats().dropped == dropped > 0
        flaky.restore()
        journal.detach(kernel, 60)
        assert journal.stats().dropped == dropped
        journal.attach(kernel)
        assert journal.stats().dropped == dropped
    finally:
        journal.close()
    assert journal.stats().dropped == dropped


def test_restart_and_replay_refill_the_gap_without_duplicates(tmp_path: Path) -> None:
    """A journal stops with rows unwritten; a restarted kernel replays the same inputs (as it
    would from its WAL) and the new journal writes only what is missing."""
    path = tmp_path / "j"
    first = _journal(path, close_timeout=0.5)
    work, first_reference = twins(first)
    work.run(400)
    first.flush(60)
    written_before = first.stats().written
    FlakyClient(first._connection.client, insert_rule=lambda n: "before")
    work.run(200, start=400)  # these rows never reach ClickHouse: the gap
    for side in work.sides:
        side.kernel.close()
    assert first.stats().queued > 0
    first.close()

    second = _journal(path)
    try:
        # The journal says where the gap starts: everything below is stored, the gap is not.
        gap = second.gap_start("desk-1")
        stored = {
            (t, s, u)
            for t in JOURNAL_COLUMNS
            for s, u in second.query(f"SELECT seq, sub FROM {t} WHERE kernel_id = 'desk-1'").rows
        }
        produced = {(t, r[0], r[1]) for t, rows in reference_rows(first_reference).items() for r in rows}
        missing = produced - stored
        assert missing and {k for k in produced if k[1] < gap} <= stored
        assert gap <= min(k[1] for k in missing)
        replay, reference = twins(None)
        second.attach(replay.main, replay=True)  # a deliberate re-run of the same inputs
        replay.run(600)  # same kernel id, same inputs, same (seq, sub) and values
        second.flush(120)
        stats = second.stats()
        assert stats.extra["already_present"] == written_before
        assert_same_rows(second, reference, "desk-1")
    finally:
        second.close()


def test_a_rerun_attached_to_the_journal_that_stored_the_first_run_writes_nothing_twice(
    tmp_path: Path,
) -> None:
    """replay=True in the same journal object: the first run's rows are recognised and skipped,
    although this journal read the kernel_id's high-water mark (nothing stored) for that run."""
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal, kernel_id="rerun")
        work.run(30)
        journal.flush(60)
        written = journal.stats().written
        journal.detach(work.main)
        again, _ = twins(None, kernel_id="rerun")
        journal.attach(again.main, replay=True)
        again.run(30)  # the same inputs: the same (seq, sub) and values
        journal.flush(60)
        stats = journal.stats()
        assert (stats.written, stats.extra["already_present"]) == (written, written)
        assert_same_rows(journal, reference, "rerun")
    finally:
        journal.close()


def test_a_kernel_id_reused_without_a_wal_is_refused_not_silently_skipped(tmp_path: Path) -> None:
    """Without a WAL a kernel's seq starts at 1 each run: a second run under the same
    kernel_id would have its rows taken for the first run's and skipped. attach() refuses it,
    naming the id and the stored seq, and attaches nothing; another id, or replay=True for a
    deliberate re-run, goes through."""
    path = tmp_path / "j"
    first = _journal(path)
    work, _ = twins(first)
    work.run(20)
    first.flush(30)
    first.close()
    journal = _journal(path)
    try:
        again, _ = twins(None)
        with pytest.raises(ValueError, match=r"kernel_id 'desk-1' already has journal rows up to seq \d+"):
            journal.attach(again.main)
        assert journal._kernels.attached == []
        again.run(3)
        assert again.main.stats()["journal_queued_total"] == 0, "its outbox was not turned on"
        other, reference = twins(None, kernel_id="desk-2")
        journal.attach(other.main)
        other.run(5)
        journal.flush(30)
        assert_same_rows(journal, reference, "desk-2")
        with pytest.raises(ValueError, match="replay must be True or False, got 'yes'"):
            journal.attach(again.main, replay="yes")  # type: ignore[arg-type]
    finally:
        journal.close()


def test_a_new_or_lost_wal_under_a_kernel_id_with_rows_is_refused(tmp_path: Path) -> None:
    """A kernel on a fresh log (another wal_dir, or its log lost) starts at seq 1 again: under
    a kernel_id with stored rows, its rows would be skipped as resends. attach() refuses it,
    naming the id, the stored seq, the log and its seq; the log the rows came from carries on."""
    path = tmp_path / "j"
    first = _journal(path)
    work, _ = twins(first, wal_dir=str(tmp_path / "wal-1"))
    work.run(20)
    work.main.close()  # and the journal with it
    journal = _journal(path)
    try:
        again, _ = twins(None, wal_dir=str(tmp_path / "wal-2"))
        with pytest.raises(
            ValueError,
            match=r"kernel_id 'desk-1' already has journal rows up to seq \d+, and this kernel's "
            rf"write-ahead log \({re.escape(str(tmp_path / 'wal-2'))}\) ends at seq 1: a new or lost log",
        ):
            journal.attach(again.main)
        assert journal._kernels.attached == []
        again.run(3)
        assert again.main.stats()["journal_queued_total"] == 0, "its outbox was not turned on"
        again.main.close()
        v = venue()
        resumed = ExecutionKernel(max_slots=8, venue=v, kernel_id="desk-1", wal_dir=str(tmp_path / "wal-1"))
        journal.attach(resumed)  # the same log, at or above every stored row
        Workload([Side(resumed, v)], 8).run(5, start=20)
        journal.flush(30)
        stored = journal.query(
            "SELECT intent_id FROM intents FINAL WHERE intent_id LIKE 'enter-2_' ORDER BY 1"
        )
        assert [r[0] for r in stored.rows] == [f"enter-{i}" for i in range(20, 25)]
        journal.detach(resumed)
        resumed.close()
    finally:
        journal.close()


def test_a_kernel_on_a_new_wal_refused_by_its_journal_leaves_no_log(tmp_path: Path) -> None:
    """Given the journal in its constructor, such a kernel is refused before its log exists: a
    log left behind was bound to the refused kernel_id (a retry under a new id then failed).
    The refusal names the directory the log would have been made in."""
    path = tmp_path / "j"
    first = _journal(path)
    work, _ = twins(first, wal_dir=str(tmp_path / "wal-1"))
    work.run(5)
    work.main.close()
    journal = _journal(path)
    try:
        fresh = tmp_path / "wal-2"
        with pytest.raises(
            ValueError,
            match=r"kernel_id 'desk-1' already has journal rows up to seq \d+, and this kernel's "
            rf"write-ahead log \(a new one in {re.escape(str(fresh))}\) ends at seq 0",
        ):
            ExecutionKernel(
                max_slots=8, venue=venue(), journal=journal, kernel_id="desk-1", wal_dir=str(fresh)
            )
        assert not fresh.exists() or not any(fresh.iterdir())
        other = ExecutionKernel(
            max_slots=8, venue=venue(), journal=journal, kernel_id="desk-2", wal_dir=str(fresh)
        )
        assert other.kernel_id == "desk-2"
        journal.detach(other)
        other.close()
    finally:
        journal.close()


class _Boom(BaseException):
    """What a Rust panic raises in Python: not an Exception."""


def test_a_journal_thread_that_dies_is_reported_not_silent(tmp_path: Path) -> None:
    """If the writer thread ends on an exception (a bug, a panic), flush() and backfill()
    raise naming it and the rows left, stats() says so, and close() still closes."""
    journal = _journal(tmp_path / "j")
    work, reference = twins(journal)

    def die(take: Any) -> None:
        raise _Boom("a panic in the writer")

    journal._writer.write_batch = die  # type: ignore[method-assign]
    work.run(10)
    wait_until(lambda: "writer" in journal.stats().extra["threads_died"], "the writer to die")
    died = r"journal thread died: writer \(_Boom: a panic in the writer\); \d+ rows not written"
    with pytest.raises(RuntimeError, match=died):
        journal.flush(10)
    assert "writer thread died" in journal.stats().last_error
    row = reference_rows(reference)["fills"][0]
    with pytest.raises(RuntimeError, match=died):
        journal.backfill("desk-1", {"fills": [(10_000_001, *row[1:])]}, timeout=5)
    journal.close()  # logs the rows left, releases ClickHouse
    assert not journal._writer.thread.is_alive()


def _flush_in_a_thread(journal: ClickHouseJournal) -> tuple[threading.Thread, list[BaseException | None]]:
    """``journal.flush()`` without a timeout on a thread of its own, returned once it waits
    (past its own check for a closed journal or a dead thread); the list gets its outcome:
    None when it returned, else what it raised."""
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            journal.flush()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    wait_until(lambda: journal._queue.flushes_waiting > 0 or not caller.is_alive(), "the flush to wait")
    return caller, outcome


def test_a_flush_waiting_when_the_writer_dies_with_the_queue_full_raises(tmp_path: Path) -> None:
    """A flush() with no timeout, waiting while ClickHouse is away and the queue is full, is
    answered when the writer dies (RuntimeError naming it) instead of waiting for good: with
    no room in the queue the drainer never finds the kernels empty."""
    journal = _journal(tmp_path / "j", queue_rows=100, drain_rows=100)
    die = threading.Event()

    def rule(n: int) -> str:
        if die.is_set():
            raise _Boom("a panic in the writer")
        return "before"

    FlakyClient(journal._connection.client, insert_rule=rule)
    try:
        work, _ = twins(journal)
        work.run(50)
        wait_until(lambda: journal.stats().queued >= 100, "the queue to fill")
        caller, outcome = _flush_in_a_thread(journal)
        die.set()
        caller.join(timeout=30)
        assert not caller.is_alive(), "flush() still waiting after the writer died"
        assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError), outcome
        assert re.search(r"journal thread died: writer \(_Boom: a panic in the writer\)", str(outcome[0]))
    finally:
        journal.close()


def test_a_flush_waiting_when_close_gives_up_raises_naming_the_rows_left(tmp_path: Path) -> None:
    """A flush() waiting for ClickHouse while another thread's close() gives up does not return
    as if the rows were stored: it raises RuntimeError naming the rows not written."""
    journal = _journal(tmp_path / "j", close_timeout=0.3)
    FlakyClient(journal._connection.client, insert_rule=lambda n: "before")  # ClickHouse takes nothing
    try:
        work, _ = twins(journal)
        work.run(10)
        wait_until(lambda: journal.stats().retries > 0, "the writer to try ClickHouse")
        caller, outcome = _flush_in_a_thread(journal)
    finally:
        journal.close()
    caller.join(timeout=30)
    assert not caller.is_alive(), "flush() still waiting after close()"
    left = journal.stats().queued
    assert left > 0
    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError), outcome
    assert re.search(rf"closed while flush\(\) waited.* {left} rows .*not written.*injected", str(outcome[0]))


def test_rows_stored_before_close_gave_up_are_not_counted_as_unwritten(tmp_path: Path) -> None:
    """close() gives up while one table's insert keeps failing: stats().queued counts the rows
    ClickHouse does not have, not the other tables' rows of the same batch it stored."""
    journal = _journal(tmp_path / "j", close_timeout=0.3, batch_rows=100_000, max_delay=0.5)
    client = journal._connection.client
    real_raw_insert = client.raw_insert

    def raw_insert(table: str, *args: Any, **kwargs: Any) -> Any:
        if table == "intents":
            raise OperationalError("injected: intents unreachable")
        return real_raw_insert(table, *args, **kwargs)

    client.raw_insert = raw_insert
    work, reference = twins(journal)
    work.run(20)
    wait_until(lambda: journal.stats().retries > 0, "the intents insert to fail")
    journal.close()
    stats = journal.stats()
    stored = sum(
        journal.query(f"SELECT count() FROM {table} WHERE kernel_id = 'desk-1'").rows[0][0]
        for table in JOURNAL_COLUMNS
    )
    produced = sum(len(rows) for rows in reference_rows(reference).values())
    intents = len(reference_rows(reference)["intents"])
    assert stats.written == stored > 0
    # Every intent row is unwritten; rows of a batch the writer had not reached when close gave
    # up (a loaded host) are unwritten too, and counted as such.
    assert stats.queued == produced - stored >= intents > 0
    assert journal.query("SELECT count() FROM intents WHERE kernel_id = 'desk-1'").rows[0][0] == 0


def test_flush_after_a_close_that_gave_up_says_how_many_rows_were_left(tmp_path: Path) -> None:
    """flush() on a closed journal cannot write anything: with rows left unwritten it says so
    instead of returning as if they were stored; with none left it returns."""
    journal = _journal(tmp_path / "j", close_timeout=0.3)
    FlakyClient(journal._connection.client, insert_rule=lambda n: "before")  # ClickHouse takes nothing
    work, _ = twins(journal)
    work.run(10)
    wait_until(lambda: journal.stats().retries > 0, "the writer to try ClickHouse")
    journal.close()
    left = journal.stats().queued
    assert left > 0
    with pytest.raises(RuntimeError, match=rf"journal is closed with {left} rows unwritten.*injected"):
        journal.flush()
    clean = _journal(tmp_path / "clean")
    clean.close()
    clean.flush()  # nothing was left: nothing to report


def test_rows_a_close_that_gave_up_left_in_a_kernels_outbox_are_counted_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ClickHouse away, the queue full: most rows wait in the kernel's outbox, which close()
    turns off and leaves. The close's warning, stats() and a flush() after it name the rows
    left in the outboxes, per kernel, and what becomes of them, not only the rows taken into
    the queue (102 of 1,333): with all of those stored, a flush() would otherwise return as
    if nothing was missing."""
    journal = _journal(tmp_path / "j", queue_rows=100, drain_rows=100, close_timeout=0.3)
    # ClickHouse takes nothing
    flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
    work, _ = twins(journal)
    work.run(100)
    wait_until(lambda: journal.stats().retries > 0, "the writer to try ClickHouse")
    caplog.set_level(logging.WARNING, logger="dita.journal.clickhouse")
    journal.close()
    outbox = work.main.stats()["journal_queued"]
    queued = journal.stats().queued
    assert outbox > queued > 0  # most rows never left the outbox
    assert journal.stats().extra["undrained"] == {"desk-1": outbox}
    said = [r.getMessage() for r in caplog.records if "never taken" in r.getMessage()]
    assert len(said) == 1 and f"{outbox} rows" in said[0] and "'desk-1'" in said[0], said
    assert "not journaled unless resent from a write-ahead log" in said[0]
    left = rf"closed with {queued + outbox} rows unwritten; {outbox} rows left in the outbox of 'desk-1'"
    with pytest.raises(RuntimeError, match=left):
        journal.flush()
    flaky.restore()
    work.main.close()


def test_a_backfill_waiting_when_close_gives_up_gets_an_error(tmp_path: Path) -> None:
    """A backfill() with no timeout, waiting for ClickHouse while close() gives up on it, is
    answered (RuntimeError naming the rows not written) instead of waiting for good."""
    journal = _journal(tmp_path / "j", close_timeout=0.3)
    work, reference = twins(journal)
    work.run(10)
    journal.flush(30)
    rows = reference_rows(reference)["fills"][:1]
    resent = [(10_000_001, *rows[0][1:])]
    FlakyClient(journal._connection.client, insert_rule=lambda n: "before")  # ClickHouse takes nothing now
    outcome: list[BaseException | BackfillResult] = []

    def call() -> None:
        try:
            outcome.append(journal.backfill("desk-1", {"fills": resent}, timeout=None))
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: journal.stats().queued > 0 or journal.stats().retries > 0, "the backfill to wait")
    journal.close()
    caller.join(timeout=15)
    assert not caller.is_alive(), "backfill() still waiting after close()"
    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError), outcome
    assert "closed before ClickHouse took them" in str(outcome[0])


def test_progress_that_cannot_be_recorded_is_counted_and_named(tmp_path: Path) -> None:
    """Progress is advisory (the rows are stored), but when it cannot be recorded gap_start()
    stops moving: stats() says so instead of a debug log line only."""
    journal = _journal(tmp_path / "j")
    real = journal._connection.client.insert

    def no_progress(table: str, *args: Any, **kwargs: Any) -> Any:
        if "progress" in table:
            raise OperationalError("injected: progress table unavailable")
        return real(table, *args, **kwargs)

    journal._connection.client.insert = no_progress
    try:
        work, reference = twins(journal)
        work.run(20)
        journal.flush(30)
        stats = journal.stats()
        assert stats.extra["progress_failed"] > 0
        assert "recording progress: OperationalError: injected" in stats.last_error
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


@pytest.mark.parametrize("table", ["fills", "transitions", "journal_progress"])
def test_a_table_dropped_by_hand_is_created_again_and_writing_goes_on(tmp_path: Path, table: str) -> None:
    """The schema's version says the table exists, so migrating again alone did nothing and
    the writer retried for good; the missing table is now made again at the current schema
    and later rows land in it."""
    journal = _journal(tmp_path / "j", retry_initial=0.01, retry_max=0.05)
    try:
        work, reference = twins(journal)
        work.run(10)
        journal.flush(30)
        journal._connection.client.command(f"DROP TABLE dita.`{table}`")
        work.run(10, start=10)
        journal.flush(60)
        assert journal.stats().extra["tables_restored"] >= 1
        columns = {
            r[0]
            for r in journal.query(
                f"SELECT name FROM system.columns WHERE database = 'dita' AND table = '{table}'"
            ).rows
        }
        assert columns, f"{table} exists again"
        if table != "journal_progress":
            assert "ingested_at" in columns, "at the current schema, later migrations included"
            later = reference_rows(reference)[table]
            later_seqs = {r[0] for r in later if r[0] > 0} - {r[0] for r in later[: len(later) // 2]}
            stored = {r[0] for r in journal.query(f"SELECT seq FROM {table} WHERE kernel_id = 'desk-1'").rows}
            assert later_seqs and max(later_seqs) in stored
        else:
            work.run(5, start=20)  # the next stored batch records its progress again
            journal.flush(30)
            assert journal.gap_start("desk-1") > 1, "progress is recorded again"
    finally:
        journal.close()


def test_backfill_writes_the_gap_once(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal)
        work.run(200)
        journal.flush(60)
        stored = journal.stats().written
        gap = reference_rows(reference)
        # Take out a slice in the middle of every table, as if those inserts had been lost.
        for table in gap:
            journal._connection.client.command(
                f"DELETE FROM {table} WHERE kernel_id = 'desk-1' AND seq % 7 = 3",
                settings={"mutations_sync": 1},
            )
        missing = journal.query(
            "SELECT (SELECT count() FROM transitions) + (SELECT count() FROM fills) + "
            "(SELECT count() FROM intents) + (SELECT count() FROM account_events) + "
            "(SELECT count() FROM venue_events) + (SELECT count() FROM control_changes)"
        ).rows[0][0]
        assert missing < stored
        result = journal.backfill("desk-1", gap, timeout=60)
        assert result.written == stored - missing
        assert result.already_present == missing
        again = journal.backfill("desk-1", gap, timeout=60)
        assert (again.written, again.already_present) == (0, stored)
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_rows_deleted_by_hand_and_sent_again_are_stored_again(tmp_path: Path) -> None:
    """ClickHouse keeps the deduplication token of each of a table's last 1000 inserts after
    their rows are deleted. The token was the keys' span alone, so resending deleted rows in
    the same span was dropped as a duplicate while backfill() counted them written."""
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal)
        work.run(5)
        journal.flush(30)
        resent = [(10_000_000 + i, *row[1:]) for i, row in enumerate(reference_rows(reference)["fills"], 1)]
        assert journal.backfill("desk-1", {"fills": resent}, timeout=30).written == len(resent)
        journal._connection.client.command(
            "DELETE FROM fills WHERE seq > 10000000", settings={"mutations_sync": 1}
        )
        assert journal.query("SELECT count() FROM fills WHERE seq > 10000000").rows == [[0]]
        again = journal.backfill("desk-1", {"fills": resent}, timeout=30)
        assert (again.written, again.already_present) == (len(resent), 0)
        assert journal.query("SELECT count() FROM fills WHERE seq > 10000000").rows == [[len(resent)]]
    finally:
        journal.close()


def test_a_row_that_cannot_be_encoded_is_set_aside_and_the_rest_written(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j")
    try:
        work, reference = twins(journal)
        work.run(50)
        journal.flush(30)
        fills = reference_rows(reference)["fills"]
        bad = list(fills[0])
        bad[0], bad[12] = 10_000_001, "not a price"  # price column gets text
        good = list(fills[1])
        good[0] = 10_000_002
        result = journal.backfill("desk-1", {"fills": [tuple(bad), tuple(good)]}, timeout=30)
        assert (result.written, result.rejected) == (1, 1)
        rejected = journal.rejected_rows()
        assert len(rejected) == 1 and rejected[0]["row"]["price"] == "not a price"
        assert journal.stats().extra["rejected_rows"] == 1
        seqs = journal.query("SELECT seq FROM fills WHERE seq > 10000000").rows
        assert seqs == [[10_000_002]]
    finally:
        journal.close()


@pytest.mark.parametrize(
    "failure",
    [OSError(28, "No space left on device"), MemoryError(), RuntimeError("engine hiccup")],
    ids=["disk-full", "memory", "runtime"],
)
def test_a_failure_the_rows_did_not_cause_is_retried_not_set_aside(
    tmp_path: Path, failure: BaseException
) -> None:
    """Only a value its column cannot take sets rows aside; a full temp disk, a memory
    shortage or an engine error is retried until ClickHouse takes the rows."""
    journal = _journal(tmp_path / "j", retry_initial=0.01, retry_max=0.05)
    real = journal._connection.client.raw_insert
    calls = [0]

    def failing_twice(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] <= 2:
            raise failure
        return real(*args, **kwargs)

    journal._connection.client.raw_insert = failing_twice
    try:
        work, reference = twins(journal)
        work.run(30)
        journal.flush(30)
        assert calls[0] > 2
        assert journal.rejected_rows() == [] and journal.stats().extra["rejected_rows"] == 0
        assert journal.stats().retries >= 2
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


class TestBadBackfillInput:
    """Each case is refused and writes nothing: one journal serves them all."""

    @pytest.mark.parametrize(
        ("rows", "message"),
        [
            ({"orders": [()]}, "backfill table 'orders' is not a journal table"),
            ({"fills": [(1, 0)]}, "backfill fills row 0 must be a tuple of 17 values"),
            (
                {"control_changes": [(0, 0, 1.0, "LIVE", "NORMAL", True, "x")]},
                "seq 0; it must be an integer from 1 to 18446744073709551615",
            ),
            (
                {"control_changes": [(1, -1, 1.0, "LIVE", "NORMAL", True, "x")]},
                "sub -1; it must be an integer from 0 to 4294967295",
            ),
            (  # beyond the UInt64 column: was set aside while the rest were written
                {"control_changes": [(2**64, 0, 1.0, "LIVE", "NORMAL", True, "x")]},
                "seq 18446744073709551616; it must be an integer from 1 to 18446744073709551615",
            ),
            (  # beyond the UInt32 column
                {"control_changes": [(1, 2**32, 1.0, "LIVE", "NORMAL", True, "x")]},
                "sub 4294967296; it must be an integer from 0 to 4294967295",
            ),
        ],
    )
    def test_bad_backfill_input_is_refused_and_writes_nothing(
        self, class_journal: ClickHouseJournal, rows: Any, message: str
    ) -> None:
        ok = {"control_changes": [(5, 0, 1.0, "LIVE", "NORMAL", True, "x")]}
        with pytest.raises(ValueError, match=message):
            class_journal.backfill("desk-1", {**ok, **rows})
        assert class_journal.query("SELECT count() FROM control_changes").rows == [[0]]
        with pytest.raises(ValueError, match="kernel_id must be a non-empty string"):
            class_journal.backfill("", ok)


@pytest.mark.soak
def test_soak_long_run_with_faults_throughout(tmp_path: Path) -> None:
    """The short fault test at scale: 20,000 trades, faults of every kind all along."""
    journal = _journal(tmp_path / "j", batch_rows=2_000)
    try:
        work, reference = twins(journal)
        flaky = FlakyClient(
            journal._connection.client,
            insert_rule=lambda n: "before" if n % 7 == 0 else "after" if n % 11 == 0 else None,
            query_rule=lambda n: n % 13 == 0,
        )
        work.run(20_000)
        journal.flush(600)
        flaky.restore()
        assert flaky.failures > 20
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def _assert_filled_once(journal: ClickHouseJournal, reference: InMemoryJournal) -> None:
    """Flushed: rows were derived from the WAL, and every row is stored exactly once."""
    journal.flush(120)
    assert journal.stats().extra["wal_filled"] > 0
    assert_same_rows(journal, reference, "desk-1")


def test_a_flush_is_woken_as_soon_as_a_finished_fill_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer records a finished WAL fill's progress with no batch to follow. The flush
    waiting for that is woken by it, not at its next look (every 0.5 s: per fill and flush)."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    work.run(50)  # all of it derived from the log at attach
    journal = _journal(tmp_path / "j")
    cond = journal._queue.cond
    real_wait = cond.wait
    flusher = threading.get_ident()
    looked_unwoken: list[float | None] = []

    def wait(timeout: float | None = None) -> bool:
        if threading.get_ident() != flusher:
            return real_wait(timeout)
        # The flush's looks of its own made rare: only being woken ends its waits in time.
        woken = real_wait(None if timeout is None else 10.0)
        if not woken:
            looked_unwoken.append(timeout)
        return woken

    try:
        journal.attach(work.main)
        with monkeypatch.context() as patch:
            patch.setattr(cond, "wait", wait)
            journal.flush(120)
        assert looked_unwoken == []
        assert journal.stats().extra["wal_filled"] > 0
        assert journal.gap_start("desk-1") >= work.main.seq
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()


def test_a_flush_waits_for_a_finished_fills_progress_to_be_in_clickhouse(tmp_path: Path) -> None:
    """A flush returns once the progress a finished WAL fill left is inserted, not when the
    writer took it up: gap_start() read right after points past the filled rows."""
    work, _ = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    work.run(50)  # all of it derived from the log at attach
    journal = _journal(tmp_path / "j")
    progress = journal._progress
    real_insert = progress._insert

    def slow_insert(rows: list[tuple[str, int]]) -> None:
        time.sleep(0.5)  # the insert in flight when the flush looks
        real_insert(rows)

    progress._insert = slow_insert  # type: ignore[method-assign]
    try:
        journal.attach(work.main)
        journal.flush(120)
        assert journal.gap_start("desk-1") >= work.main.seq
    finally:
        journal.close()


def _crash_past_a_checkpoint(path: Path, wal_dir: Path) -> tuple[Workload, InMemoryJournal, int]:
    """ClickHouse stops taking rows; the kernel goes on, writes a checkpoint, goes on and dies
    (its journal with it). Returns the twin left (on an InMemoryJournal, not on the log), its
    journal and the checkpoint's seq."""
    first = _journal(path, close_timeout=0.5)
    work, reference = twins(first, wal_dir=str(wal_dir), fsync="none")
    work.run(200)
    first.flush(60)
    FlakyClient(first._connection.client, insert_rule=lambda n: "before")
    work.run(300, start=200)  # these rows never reach ClickHouse
    checkpoint = work.main.wal_checkpoint()
    assert checkpoint is not None and checkpoint > first.gap_start("desk-1")
    work.run(50, start=500)
    work.main.wal_sync()
    first.close()
    assert first.stats().queued > 0
    del work.sides[0]  # the process dies: the kernel and its lock on the log go
    gc.collect()
    return work, reference, checkpoint


@pytest.mark.parametrize("wal_fill", [True, False])
def test_a_restart_fills_a_gap_from_before_the_newest_checkpoint(tmp_path: Path, wal_fill: bool) -> None:
    """The restart replays only the records after the checkpoint, so the rows of the records
    before it come from the log again: with ``wal_fill`` every row is stored exactly once,
    without it the gap stays (which is what the fill is for)."""
    path, wal_dir = tmp_path / "j", tmp_path / "wal"
    _, reference, checkpoint = _crash_past_a_checkpoint(path, wal_dir)
    second = _journal(path, wal_fill=wal_fill)
    try:
        restarted = ExecutionKernel(venue=venue(), journal=second, wal_dir=str(wal_dir), fsync="none")
        assert restarted.wal_info()["recovery"]["checkpoint_seq"] == checkpoint
        second.flush(120)
        stats = second.stats()
        if wal_fill:
            assert stats.extra["wal_filled"] > 0
            assert_same_rows(second, reference, "desk-1")
        else:
            assert stats.extra["wal_filled"] == 0
            with pytest.raises(AssertionError, match="rows in ClickHouse"):
                assert_same_rows(second, reference, "desk-1")
        restarted.close()
    finally:
        second.close()


def test_a_failed_fill_keeps_the_gap_for_the_next_start(tmp_path: Path) -> None:
    """When the rows cannot be derived again, the journal says so and records no progress for
    the kernel past the gap, although newer rows are stored: the next journal fills it."""
    path, wal_dir = tmp_path / "j", tmp_path / "wal"
    work, reference, _ = _crash_past_a_checkpoint(path, wal_dir)
    second = _journal(path)
    restarted = ExecutionKernel(venue=venue(), wal_dir=str(wal_dir), fsync="none")

    def unreadable(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("log unreadable")

    restarted.wal_journal_blocks = unreadable  # type: ignore[method-assign]
    try:
        gap = second.gap_start("desk-1")
        second.attach(restarted)
        for kernel in (restarted, work.main):  # a newer row, stored above the gap
            kernel.update_control(verbosity="NORMAL", source="test")
        second.flush(60)
        stats = second.stats()
        assert stats.extra["wal_fill_failed"] == 1 and "log unreadable" in stats.last_error
        assert stats.written > 0
        assert second.gap_start("desk-1") == gap
        second.detach(restarted)
    finally:
        second.close()
    del restarted.wal_journal_blocks
    third = _journal(path)
    try:
        third.attach(restarted)
        _assert_filled_once(third, reference)
        # The filled span is recorded as stored, though no live batch followed.
        assert third.gap_start("desk-1") == restarted.wal_info()["last_seq"] + 1
    finally:
        third.close()


def test_rows_left_behind_and_inputs_while_detached_come_from_the_wal(tmp_path: Path) -> None:
    """A journal closes with rows it could not write still in the kernel's outbox; the kernel
    trades on with no journal; a new journal attached later stores every row once."""
    path = tmp_path / "j"
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    first = _journal(path, close_timeout=0.5, queue_rows=100, drain_rows=100)
    first.attach(work.main)
    work.run(100)
    first.flush(60)
    FlakyClient(first._connection.client, insert_rule=lambda n: "before")
    work.run(100, start=100)
    first.close()  # gives up on the rows it holds; the kernel is detached
    assert work.main.stats()["journal_queued"] > 0  # rows left in the kernel's outbox
    work.run(100, start=200)  # no journal at all
    second = _journal(path)
    try:
        second.attach(work.main)
        work.run(50, start=300)  # and live rows meanwhile
        _assert_filled_once(second, reference)
    finally:
        second.close()


def test_close_stops_a_fill_that_waits_for_clickhouse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ClickHouse takes nothing, so a fill waits for room in a two-row queue; close() gives
    up on it and returns with the fill's thread finished, the gap left for the next start."""
    work, _ = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    work.run(40)
    journal = _journal(tmp_path / "j", queue_rows=2, drain_rows=2, close_timeout=0.2)
    FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
    journal.attach(work.main)
    wait_until(lambda: journal.stats().queued > 0, "the fill's first chunk in the queue")
    fills = list(journal._fill.threads)
    assert fills and all(t.is_alive() for t in fills)
    with caplog.at_level(logging.WARNING, logger="dita.journal.clickhouse"):
        journal.close()
    assert not any(t.is_alive() for t in fills)
    assert "journal closed before the WAL fill of desk-1 finished" in caplog.text
    assert journal.stats().extra["wal_fill_failed"] == 1


def test_close_waits_for_a_fill_thread_that_is_still_ending(tmp_path: Path) -> None:
    """close() joins the fill threads: one that takes a while to end after it stopped (here
    two seconds, far longer than close() takes otherwise) has ended when close() returns."""
    work, _ = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    work.run(40)
    journal = _journal(tmp_path / "j", queue_rows=2, drain_rows=2, close_timeout=0.2)
    fill = journal._fill.run
    ended = threading.Event()

    def slow_to_end(*args: Any, **kwargs: Any) -> None:
        try:
            fill(*args, **kwargs)
        finally:
            time.sleep(2.0)
            ended.set()

    journal._fill.run = slow_to_end  # type: ignore[method-assign]
    try:
        FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        journal.attach(work.main)
        wait_until(lambda: journal.stats().queued > 0, "the fill's first chunk in the queue")
        assert not ended.is_set()
        journal.close()
        assert ended.is_set()
    finally:
        journal.close()


def test_a_fill_through_a_tiny_queue(tmp_path: Path) -> None:
    """A kernel that never had a journal gets all its rows through a two-row queue."""
    path = tmp_path / "j"
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none")
    # 15 pairs (a refused intent among them, about 240 rows) are over a hundred two-row takes,
    # inputs with more rows than the queue holds included; each take is an insert and a key check.
    work.run(15)
    journal = _journal(path, queue_rows=2, drain_rows=2)
    try:
        journal.attach(work.main)
        _assert_filled_once(journal, reference)
    finally:
        journal.close()


def _overflow_while_clickhouse_is_away(
    journal: ClickHouseJournal, work: Workload, attach: bool = True
) -> int:
    """50 pairs stored, then 200 while every insert fails (the queue and the outbox fill up
    and the oldest inputs' rows are dropped), then ClickHouse back and 20 more; returns the
    first dropped input."""
    if attach:
        journal.attach(work.main)
    # Stored a few pairs at a time (about 100 rows, a third of the outbox): run in one go, the
    # 50 pairs' 800 rows overflowed it whenever the writer fell behind on a busy host, and a
    # refill (failing, where the log is made unreadable) then ran before ClickHouse went away.
    for start in range(0, 50, 5):
        work.run(5, start=start)
        journal.flush(60)
    assert work.main.stats()["journal_dropped"] == 0
    flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
    work.run(200, start=50)
    dropped_from = work.main.stats()["journal_first_dropped_seq"]
    assert dropped_from is not None and work.main.stats()["journal_dropped"] > 0
    flaky.restore()
    work.run(20, start=250)
    return dropped_from


def test_rows_the_outbox_dropped_come_back_from_the_wal_while_the_journal_runs(tmp_path: Path) -> None:
    """Once ClickHouse stores rows again, the rows the outbox dropped while it was away are
    derived again from the WAL, with the kernel attached and trading: no restart needed."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    try:
        _overflow_while_clickhouse_is_away(journal, work)
        journal.flush(120)
        # Inputs after the refill's span still come from the outbox, once.
        work.run(10, start=270)
        journal.flush(120)
        assert_same_rows(journal, reference, "desk-1")
        assert journal.stats().extra["wal_refills"] >= 1
        assert work.main.stats()["journal_first_dropped_seq"] is None
        # Progress is past the dropped span (live rows vouch for all but the newest input).
        assert journal.gap_start("desk-1") >= work.main.wal_info()["last_seq"]
        assert journal.stats().extra["wal_fill_failed"] == 0
    finally:
        journal.close()


@pytest.mark.parametrize("shared", [False, True])
def test_a_kernel_closed_right_after_its_outbox_dropped_rows_still_gets_them_refilled(
    tmp_path: Path, shared: bool
) -> None:
    """close() stops input first; the journal's refill of the dropped rows must still run
    (its bookkeeping is not input), and, with the journal shared, the releasing kernel must
    stay served until the refill is done, or progress is recorded past the gap for good."""
    # close() waits for the refill up to close_timeout, given as long as the flushes here: a
    # loaded host takes about a minute to derive the 3,000-odd rows again (10 s when idle).
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100, close_timeout=120)
    work, reference = twins(journal, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    other = ExecutionKernel(max_slots=2, journal=journal, kernel_id="other") if shared else None
    try:
        _overflow_while_clickhouse_is_away(journal, work, attach=False)
        work.main.close()  # the kernel's own journal: released by its close()
        if shared:
            journal.flush(120)
        assert_same_rows(journal, reference, "desk-1")
        assert journal.gap_start("desk-1") >= work.main.seq
    finally:
        if other is not None:
            other.close()
        journal.close()


def test_a_refill_that_overtakes_the_drainer_stores_no_row_twice(tmp_path: Path) -> None:
    """One input dropped: the refill soon reaches rows the outbox still holds. The drainer
    cannot take them while the refill runs (the strategy is inside the kernel), so the refill
    stores them first; drained later, they are found stored and not written again."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    real_drain = work.main.drain_journal_blocks

    def drain_journal_blocks(*args: Any, **kwargs: Any) -> Any:
        return None if journal._fill.filling else real_drain(*args, **kwargs)

    work.main.drain_journal_blocks = drain_journal_blocks
    try:
        journal.attach(work.main)
        work.run(50)
        journal.flush(60)
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        trades = 50
        while not work.main.stats()["journal_dropped"]:
            work.run(1, start=trades)
            trades += 1
        flaky.restore()
        journal.flush(120)
        assert journal.stats().extra["wal_refills"] >= 1
        assert_same_rows(journal, reference, "desk-1")
    finally:
        journal.close()
        del work.main.drain_journal_blocks


def test_inputs_dropped_during_the_attach_fill_are_refilled_before_flush_returns(tmp_path: Path) -> None:
    """While the attach fill waits for ClickHouse, live rows overflow the outbox. The refill
    for them starts once the fill is done, with no batch to follow, and flush() waits for it."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    work.run(300)  # a long span for the attach fill
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    try:
        flaky = FlakyClient(journal._connection.client, insert_rule=lambda n: "before")
        journal.attach(work.main)
        wait_until(lambda: journal.stats().queued > 0, "the fill's first chunk in the queue")
        work.run(100, start=300)
        assert work.main.stats()["journal_dropped"] > 0
        flaky.restore()
        journal.flush(120)
        assert_same_rows(journal, reference, "desk-1")
        assert journal.stats().extra["wal_refills"] >= 1
    finally:
        journal.close()


def test_a_drop_mark_a_busy_kernel_hid_is_read_again_before_flush_returns(tmp_path: Path) -> None:
    """Each time a batch is stored, the kernel is busy (inside a venue call) when the writer
    asks for its drop mark. The writer asks again between polls, and flush() waits until it
    has the answer and the refill it calls for."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    real = work.main.journal_drop_mark
    hidden = [False]

    def journal_drop_mark() -> tuple[bool, int | None]:
        # Busy whenever the answer would come with a batch (rows still waiting to settle).
        return (False, None) if hidden[0] and journal._queue.pending_rows > 0 else real()

    work.main.journal_drop_mark = journal_drop_mark
    try:
        hidden[0] = True
        _overflow_while_clickhouse_is_away(journal, work)
        journal.flush(120)
        assert_same_rows(journal, reference, "desk-1")
        assert journal.stats().extra["wal_refills"] >= 1
    finally:
        journal.close()
        del work.main.journal_drop_mark


def test_a_failed_refill_keeps_progress_below_the_drop_and_is_tried_again(tmp_path: Path) -> None:
    """While the log cannot be read, refills fail: progress stays below the first dropped
    input. Once it can, a later try brings every row once."""
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    real = work.main.wal_journal_blocks
    broken = [False]  # the attach fill reads the log; the refills do not, until repaired

    def wal_journal_blocks(*args: Any, **kwargs: Any) -> int:
        if broken[0]:
            raise OSError("injected: log unreadable")
        return real(*args, **kwargs)

    work.main.wal_journal_blocks = wal_journal_blocks
    journal = _journal(tmp_path / "j", queue_rows=200, drain_rows=100)
    try:
        journal.attach(work.main)
        journal.flush(60)
        broken[0] = True
        dropped_from = _overflow_while_clickhouse_is_away(journal, work, attach=False)
        journal.flush(120)
        stats = journal.stats()
        assert stats.extra["wal_fill_failed"] >= 1 and "log unreadable" in stats.last_error
        assert stats.extra["dropped_not_refilled"] == ["desk-1"]
        assert journal.gap_start("desk-1") <= dropped_from
        broken[0] = False
        wait_until(lambda: not journal.stats().extra["dropped_not_refilled"], "the refill once the log reads")
        work.run(10, start=270)
        journal.flush(120)
        assert_same_rows(journal, reference, "desk-1")
        assert journal.gap_start("desk-1") >= work.main.wal_info()["last_seq"]
    finally:
        journal.close()
        del work.main.wal_journal_blocks


def test_rows_the_outbox_dropped_are_not_vouched_for_and_come_back_from_the_wal(tmp_path: Path) -> None:
    """As above with ``refill_dropped=False``: progress stays below the first dropped input
    once ClickHouse is back, so the next attach derives those rows again."""
    path = tmp_path / "j"
    work, reference = twins(None, wal_dir=str(tmp_path / "wal"), fsync="none", journal_capacity=300)
    first = _journal(path, queue_rows=200, drain_rows=100, refill_dropped=False)
    dropped_from = _overflow_while_clickhouse_is_away(first, work)
    try:
        first.flush(120)
        assert first.stats().extra["wal_refills"] == 0
        assert first.gap_start("desk-1") <= dropped_from
        # Attached again, to the same journal: the fill covers the dropped inputs, and the
        # progress mark moves past them.
        first.detach(work.main)
        first.attach(work.main)
        first.flush(120)
        assert_same_rows(first, reference, "desk-1")
        assert first.gap_start("desk-1") == work.main.wal_info()["last_seq"] + 1
    finally:
        first.close()


def test_a_kernel_whose_log_failed_is_attached_without_a_fill(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log that cannot take a new segment fails the kernel's log; the rows it would come
    from may be missing, so there is no fill, and the journal says so."""
    wal = tmp_path / "wal"
    v = venue()
    kernel = ExecutionKernel(
        max_slots=8, venue=v, kernel_id="desk-1", wal_dir=str(wal), fsync="always", wal_segment_bytes=1024
    )
    if subprocess.run(["chattr", "+i", str(wal)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here, so no log can be made to fail: NOT tested")
    try:
        with pytest.raises((WalError, OSError), match="Operation not permitted"):
            Workload([Side(kernel, v)], 8).run(200)
        assert kernel.wal_info()["poisoned"]
        queued = kernel.stats()["journal_queued"]
        with pytest.raises(WalError, match="write-ahead log failed"):
            kernel.journal_restart()
        assert kernel.stats()["journal_queued"] == queued  # refused, nothing let go
        journal = _journal(tmp_path / "j")
        try:
            with caplog.at_level(logging.WARNING, logger="dita.journal.clickhouse"):
                journal.attach(kernel)
            assert "no WAL fill for desk-1" in caplog.text
            journal.flush(30)
            assert journal.stats().extra["wal_filled"] == 0
        finally:
            journal.close()
    finally:
        subprocess.run(["chattr", "-i", str(wal)], check=True)


def test_progress_reaches_the_last_input_a_closed_kernel_journaled(tmp_path: Path) -> None:
    """Once a kernel is closed every row it made is stored, so journal_progress says so: an
    operator comparing it with the WAL's last seq finds the journal complete: not one input
    short, nor, after a restart on the log, at the restart's seq (the rows written while the
    WAL fill ran counted too)."""
    path, wal_dir = tmp_path / "j", tmp_path / "wal"

    def run(tag: str) -> int:
        journal = _journal(path)
        kernel = ExecutionKernel(venue=venue(), wal_dir=str(wal_dir), journal=journal, kernel_id="desk-1")
        kernel.update_control(verbosity="NORMAL", source="test")
        for n, action in enumerate(("ENTER", "EXIT")):
            size = 1.0 if action == "ENTER" else 0.0
            intent = KernelIntent(f"{tag}-{n}", f"{tag}-t", 0, "BTC-USDT", "LONG", action, 100.0, size)
            assert kernel.process_intent(intent).accepted
        last = kernel.wal_info()["last_seq"]
        kernel.close()  # the journal closes with its last kernel
        assert journal.gap_start("desk-1") == last + 1, tag
        stored = journal.query("SELECT max(seq) FROM transitions FINAL WHERE kernel_id = 'desk-1'").rows
        assert stored[0][0] <= last
        return last

    first = run("a")
    assert run("b") > first  # restarted on the same log: its rows come after the first run's
