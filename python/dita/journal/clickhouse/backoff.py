"""The writer's failed attempts: how long it waits before the next one, and whether ClickHouse
refuses for a reason retrying does not cure (a block, which ``flush()`` raises instead of
waiting). An outage is logged when it starts, at most once a minute while it lasts, and when
it ends."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dita.journal.clickhouse.errors import Aborted, JournalBlockedError
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.schema import PROGRESS_TABLE

__all__ = ["Backoff"]

log = logging.getLogger(__package__)

# A failure that lasts is logged again at most this often (seconds).
_LOG_EVERY = 60.0


@dataclass
class _Blocked:
    """The writer's latest attempt failed for a permanent reason (``permanent_cause``)."""

    table: str
    cause: str  # the ClickHouse error's name
    error: str  # "<table>: <type>: <text>", what last_error says
    since: float  # time.monotonic() of the first such failure in a row
    attempt: int  # the writer's attempt that failed so most recently


@dataclass
class _Outage:
    """The writer's attempts fail for a reason that may pass, since ``since``."""

    since: float
    failures: int = 0
    logged: bool = False  # a warning said so (its recovery is then logged too)


class Backoff:
    """Numbers the writer's attempts, notes their failures and waits between them."""

    def __init__(self, queue: RowQueue) -> None:
        self.queue = queue
        self.settings = queue.settings
        # A blocked writer waits on this one (the queue's lock) between its slow retries: woken
        # by flush(), backfill() and close(), not by every take of the drainer.
        self.retry_cond = threading.Condition(queue.lock)
        # The writer's insert attempts so far; the latest attempt a flush() or backfill() wants
        # followed by a prompt one (a blocked writer then does not wait retry_blocked).
        self.attempt_no = 0
        self.retry_wanted = 0
        self.blocked: _Blocked | None = None
        # The writer's current run of failures that may pass; when one was last logged.
        self.outage: _Outage | None = None
        self.outage_logged_at = -math.inf

    def next_attempt(self) -> int:
        """Number a new attempt of the writer's."""
        with self.queue.cond:
            self.attempt_no += 1
            return self.attempt_no

    def lift(self, table: str) -> None:
        """ClickHouse took ``table``'s rows (or answered for it): an outage is over (logged when
        it was), and so is a block this lifts. One of the progress table is lifted only by that
        table: rows going into the others say nothing about it, and a WAL fill waits on it."""
        with self.queue.cond:
            outage, self.outage = self.outage, None
            rows = self.queue.pending_rows
            blocked = self.blocked
            if blocked is not None and (blocked.table != PROGRESS_TABLE or table == PROGRESS_TABLE):
                self.blocked = None
            else:
                blocked = None
        display = self.settings.target.display
        if outage is not None and outage.logged:
            log.info(
                "journal %s: ClickHouse takes rows again (%s), after %.1f s and %d failed attempts; "
                "%d rows wait",
                display,
                table,
                time.monotonic() - outage.since,
                outage.failures,
                rows,
            )
        if blocked is None:
            return
        log.warning(
            "journal %s: ClickHouse takes rows again (%s), after %.1f s blocked by: %s",
            display,
            table,
            time.monotonic() - blocked.since,
            blocked.error,
        )

    def note_failure(self, table: str, cause: str | None, error: str, attempt_no: int) -> None:
        """Count a failed attempt to write; one ClickHouse refuses for a permanent ``cause``
        blocks the writer (logged as an error when the table or the cause is new)."""
        with self.queue.cond:
            self.queue.stats.retries += 1
            before = self.blocked
        if cause is None:
            self._note_outage(error)
            return  # a failure that may pass: a block stands until an insert goes through
        again = before is not None and (before.table, before.cause) == (table, cause)
        if not again:
            # Logged before it is published: whoever finds the writer blocked finds it logged.
            with self.queue.cond:
                rows = self.queue.pending_rows
            why = self.blocked_text(table, cause, error, rows)
            log.error("journal %s is blocked: %s", self.settings.target.display, why)
        with self.queue.cond:
            since = before.since if before is not None and again else time.monotonic()
            self.blocked = _Blocked(table, cause, error, since, attempt_no)
            self.queue.cond.notify_all()

    def _note_outage(self, error: str) -> None:
        """A failure that may pass (ClickHouse away, say): logged when the writer starts
        failing, then at most once a ``_LOG_EVERY`` while it keeps failing, with the rows
        waiting (``lift`` logs the recovery). Retries alone are not logged: they come every
        ``retry_max`` seconds."""
        now = time.monotonic()
        with self.queue.cond:
            outage = self.outage
            if outage is None:
                outage = self.outage = _Outage(since=now)
            outage.failures += 1
            if now - self.outage_logged_at < _LOG_EVERY:
                return
            self.outage_logged_at = now
            first = not outage.logged
            outage.logged = True
            failures = outage.failures
            rows = self.queue.pending_rows
        display = self.settings.target.display
        if first and failures == 1:
            log.warning(
                "journal %s: ClickHouse does not take rows: %s; %d rows wait, kept and tried again "
                "(said again at most once a minute while it lasts)",
                display,
                error,
                rows,
            )
        else:
            log.warning(
                "journal %s: ClickHouse has not taken rows for %.0f s (%d failed attempts), lately: %s; "
                "%d rows wait, kept and tried again",
                display,
                now - outage.since,
                failures,
                error,
                rows,
            )

    def fail_and_wait(self, table: str, cause: str | None, error: str, attempt_no: int, attempt: int) -> None:
        """Note the writer's failed attempt ``attempt_no`` on ``table`` and wait before the next:
        the backoff of the ``attempt``-th retry for a failure that may pass, ``retry_blocked``
        (cut short by a flush() or backfill()) for a permanent ``cause``."""
        self.note_failure(table, cause, error, attempt_no)
        self.wait_after(cause, attempt_no, attempt)

    def wait_after(self, cause: str | None, attempt_no: int, attempt: int) -> None:
        """The wait after failed attempt ``attempt_no``, the ``attempt``-th retry: the backoff
        for a failure that may pass, ``retry_blocked`` for a permanent ``cause``."""
        if cause is None:
            delay = min(self.settings.retry_max, self.settings.retry_initial * (2 ** min(attempt, 30)))
        else:
            delay = self.settings.retry_blocked
        self._wait(delay, attempt_no, prompt=cause is not None)

    def _wait(self, delay: float, attempt_no: int, prompt: bool) -> None:
        """Wait ``delay`` seconds after the writer's failed attempt ``attempt_no``; a blocked
        writer (``prompt``) goes on at once when a flush() or backfill() asked for an attempt
        after that one. Raises Aborted when the journal closes."""
        abort = self.queue.abort
        with self.retry_cond:
            self.retry_cond.wait_for(
                lambda: abort.is_set() or (prompt and self.retry_wanted >= attempt_no), delay
            )
        if abort.is_set():
            raise Aborted

    def ask_retry_locked(self) -> int:
        """A blocked writer tries again at once (not after ``retry_blocked``). Returns the
        attempt after which a blocked writer is blocked for the caller's rows too."""
        self.retry_wanted = max(self.retry_wanted, self.attempt_no)
        self.retry_cond.notify_all()
        return self.attempt_no

    def wait_unblocked_locked(self, done: Callable[[], bool], deadline: float | None, after: int) -> bool:
        """``RowQueue.wait_locked`` for ``done``, raising JournalBlockedError once an attempt
        after ``after`` left the writer blocked: waiting on would not end while the cause stays."""

        def stuck() -> bool:
            return self.blocked is not None and self.blocked.attempt > after

        ready = self.queue.wait_locked(lambda: done() or stuck(), deadline)
        if ready and not done():
            raise self.blocked_error_locked()
        return ready

    def blocked_error_locked(self) -> JournalBlockedError:
        blocked = self.blocked
        assert blocked is not None
        return JournalBlockedError(
            f"journal writes to {self.settings.target.display} are blocked: "
            + self.blocked_text(blocked.table, blocked.cause, blocked.error, self.queue.pending_rows)
        )

    def blocked_text(self, table: str, cause: str, error: str, rows: int) -> str:
        """What blocks the writer and what becomes of the rows: the log and the error say it alike."""
        return (
            f"ClickHouse refuses inserts into {table} ({cause}), and retrying alone will not get them "
            f"in: {error}. {rows} rows are kept and tried again every {self.settings.retry_blocked:g} s "
            "and at each flush(); fix the cause and they are written"
        )
