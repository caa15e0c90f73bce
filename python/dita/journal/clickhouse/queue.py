"""The queue between the kernels' outboxes and ClickHouse.

The drainer puts rows in, the writer takes them out in batches, ``flush()`` waits for them to
be stored. The queue also holds the journal's one lock (every part takes it, so a reading of
the counts is always whole), the flush handshake between the drainer and ``flush()``, the
burst measure behind ``burst_hold``, which drained rows a resend may have stored first, and the
figures ``stats()`` reports.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from dita.journal import JournalStats
from dita.journal.clickhouse.rows import Chunk
from dita.journal.clickhouse.settings import JournalSettings

__all__ = ["RowQueue"]


class RowQueue:
    """Rows taken from the kernels (or handed to backfill) and not yet stored: queued, or in
    flight (the batch the writer holds). ``pending_rows`` counts both."""

    def __init__(self, settings: JournalSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.stats = JournalStats()
        self.counters = {
            "drained": 0,
            "batches": 0,
            "already_present": 0,
            "rejected_rows": 0,
            "backfilled": 0,
            "drain_busy": 0,
            "drain_failed": 0,
            "progress_failed": 0,
            "tables_restored": 0,
            "wal_filled": 0,
            "wal_fill_failed": 0,
            "wal_refills": 0,
            "clients_reopened": 0,
        }
        self.chunks: deque[Chunk] = deque()
        self.in_flight: list[Chunk] = []  # the writer's batch in hand
        self.in_flight_stored = 0  # rows of that batch stored (or set aside) so far
        self.in_flight_since: float | None = None
        self.pending_rows = 0  # queued + in flight
        self.pending_bytes = 0  # their bytes, about (Chunk.nbytes)
        self.enqueued_total = 0
        self.settled_total = 0
        # The flush handshake: flush() asks (flush_requested), the drainer answers once every
        # kernel said "empty" after the ask (flush_done), naming the rows queued by then
        # (flush_target), and flush() waits for settled_total to reach them.
        self.flush_requested = 0
        self.flush_done = 0
        self.flush_target = 0
        # flush(), backfill() and close() calls waiting: the writer writes at once, no burst is
        # held and the GIL budget is lifted.
        self.flushes_waiting = 0
        # (monotonic time, rows) of the drainer's takes within the last max_delay: a burst's
        # measure (see burst_hold).
        self.recent_drains: deque[tuple[float, int]] = deque()
        self.recent_rows = 0  # their rows' sum
        # The writer is writing, or waits at most poll_interval because a burst is held: it
        # looks at the queue again soon by itself, and the drainer need not wake it per take.
        self.writer_polling = False
        # close() stopped the journal: it takes no new rows, and its threads are stopping (the
        # drainer ends, the writer writes what is queued and ends).
        self.closed = False
        self.stopping = False
        # The journal gave up waiting for ClickHouse: every wait of its threads ends.
        self.abort = threading.Event()
        # Per kernel, drained rows up to this seq are checked key by key before they are
        # written: a refill or a backfill resends them too, and may have stored them first.
        self.check_through: dict[str, int] = {}

    def check_drained_through_locked(self, kernel_id: str, seq: int) -> None:
        """Rows of the kernel up to ``seq`` are resent: those drained from its outbox get the
        key check from now on."""
        self.check_through[kernel_id] = max(self.check_through.get(kernel_id, 0), seq)

    def enqueue_locked(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)
        self.pending_rows += len(chunk.rows)
        self.pending_bytes += chunk.nbytes
        self.enqueued_total += len(chunk.rows)

    def full_locked(self) -> bool:
        """Whether the queue holds ``queue_rows`` rows or ``queue_bytes`` bytes: the drainer
        stops, and rows wait in the kernels' outboxes."""
        return (
            self.pending_rows >= self.settings.queue_rows or self.pending_bytes >= self.settings.queue_bytes
        )

    def note_drain_locked(self, now: float, rows: int) -> None:
        """Remember a take of ``rows`` (none: only forget takes older than ``max_delay``)."""
        recent = self.recent_drains
        while recent and recent[0][0] < now - self.settings.max_delay:
            self.recent_rows -= recent.popleft()[1]
        if rows:
            recent.append((now, rows))
            self.recent_rows += rows

    def hold_left_locked(self, now: float) -> float:
        """Seconds the queued rows still wait for a burst (``burst_hold``); 0 when not held.
        Forgets the takes that have left the burst's window on the way."""
        burst_hold = self.settings.burst_hold
        if burst_hold is None or self.stopping or self.flushes_waiting or not self.chunks:
            return 0.0
        if self.full_locked():
            return 0.0
        left = burst_hold - (now - self.chunks[0].drained_at)
        if left <= 0:
            return 0.0
        self.note_drain_locked(now, 0)
        if self.recent_rows < self.settings.batch_rows:
            return 0.0
        return left

    def wait_locked(self, ready: Callable[[], bool], deadline: float | None) -> bool:
        """Wait (holding the lock) until ``ready()``; False when ``deadline`` (monotonic) came first."""
        while not ready():
            if deadline is None:
                self.cond.wait(0.5)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
        return True

    def share_gil(self, cpu_seconds: float) -> None:
        """Sleep so the calling journal thread's CPU time stays within half the GIL budget (the
        drainer and the writer share it); not while a flush waits."""
        gil_budget = self.settings.gil_budget
        if gil_budget is None or cpu_seconds <= 0 or self.flushes_waiting:
            return
        self.abort.wait(min(1.0, cpu_seconds * (2.0 / gil_budget - 1.0)))

    def count_in_flight_stored_locked(self) -> None:
        """The writer stops mid-batch: the rows of it stored so far leave the count of rows left."""
        self.pending_rows -= self.in_flight_stored
        self.settled_total += self.in_flight_stored
        self.in_flight_stored = 0

    def fail_completions_locked(self, why: str, in_flight: Iterable[Chunk] = ()) -> None:
        """The writer stopped: backfill calls (and WAL fills) waiting for queued (or
        ``in_flight``) rows get an answer."""
        for chunk in [*in_flight, *self.chunks]:
            if chunk.completion is not None and not chunk.completion.done.is_set():
                chunk.completion.failed = why
                chunk.completion.done.set()
