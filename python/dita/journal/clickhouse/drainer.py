"""The drainer: a thread moving rows from each attached kernel's native outbox
(``kernel.drain_journal_blocks``, one ``JournalBlock`` per table) into the queue.

When the queue is full it stops draining and rows wait in the kernel's own bounded outbox,
so ``process_intent`` never waits. It also answers ``flush()``: once every kernel said
"empty" after a flush asked, the rows queued by then are what that flush waits for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dita.journal.clickhouse.kernels import AttachedKernels
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.clickhouse.rows import Chunk
from dita.journal.priority import lower_thread_priority
from dita.journal.schema import TABLE_COLUMNS

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["Drainer"]

log = logging.getLogger(__package__)

# The drainer reads its kernels' drop counts this often (seconds), so drops are seen (and
# logged) while nobody asks stats(): when ClickHouse is away longest.
_DROPS_READ_EVERY = 1.0


class Drainer:
    """The drainer thread. ``on_left(kernel)`` (under the lock) drops a detached kernel whose
    outbox is empty now."""

    def __init__(
        self,
        queue: RowQueue,
        kernels: AttachedKernels,
        on_left: Callable[[ExecutionKernel], None],
        guard: Callable[[str, Callable[[], None]], None],
    ) -> None:
        self.queue = queue
        self.settings = queue.settings
        self.kernels = kernels
        self.on_left = on_left
        # Per (kernel_id, table), the bytes a row of its latest drained block took, about: a
        # take is cut to the queue's byte room before its rows are seen.
        self.row_bytes: dict[tuple[str, str], float] = {}
        self.thread = threading.Thread(
            target=guard, args=("drainer", self.run), name="dita-journal-drainer", daemon=True
        )

    def forget_locked(self, kernel_id: str) -> None:
        for table in TABLE_COLUMNS:
            self.row_bytes.pop((kernel_id, table), None)

    def run(self) -> None:
        lower_thread_priority(self.settings.nice)
        queue = self.queue
        drops_due = 0.0
        while True:
            with queue.cond:
                if queue.stopping:
                    return
                kernels = list(self.kernels.attached)
                room = self.settings.queue_rows - queue.pending_rows
                byte_room = self.settings.queue_bytes - queue.pending_bytes
                if byte_room <= 0:
                    room = 0
                flush_gen = queue.flush_requested
                refused = set(self.kernels.refused)
            if time.monotonic() >= drops_due:
                drops_due = time.monotonic() + _DROPS_READ_EVERY
                for _, kernel in kernels:
                    self.kernels.read_dropped(kernel)
            drained, asked_all = self._drain_each(kernels, refused, room, byte_room)
            with queue.cond:
                if not drained and asked_all and flush_gen > queue.flush_done:
                    # Every kernel said "empty" after the flush was asked for: everything up to
                    # here is what that flush has to wait for.
                    queue.flush_done = flush_gen
                    queue.flush_target = queue.enqueued_total
                    queue.cond.notify_all()
                if queue.stopping:
                    return
                full = queue.full_locked()
                if drained and not full:
                    continue
                if full:
                    queue.cond.wait(self.settings.poll_interval)  # the writer frees room and notifies
                elif queue.flush_requested == flush_gen:
                    queue.cond.wait(self.settings.poll_interval)

    def _drain_each(
        self, kernels: list[tuple[str, ExecutionKernel]], refused: set[str], room: int, byte_room: int
    ) -> tuple[int, bool]:
        """One pass over the kernels while the queue has ``room`` rows and ``byte_room`` bytes:
        the rows taken, and whether every kernel was asked (and answered)."""
        drained = 0
        asked_all = True
        for kernel_id, kernel in kernels:
            if room <= 0:
                asked_all = False
                break
            if kernel_id in refused:
                # None of its rows is written: they wait in its own bounded outbox rather
                # than take the queue's room from the other kernels.
                continue
            cpu = time.thread_time()
            taken = self._take(kernel_id, kernel, room, byte_room)
            if taken is None:
                asked_all = False  # a flush must not take this kernel for empty
                continue
            took, nbytes = taken
            byte_room -= nbytes
            drained += took
            room = room - took if byte_room > 0 else 0
            self.queue.share_gil(time.thread_time() - cpu)
        return drained, asked_all

    def _take(
        self, kernel_id: str, kernel: ExecutionKernel, room: int, byte_room: int
    ) -> tuple[int, int] | None:
        """Queue what the kernel's outbox hands out (up to the room): its rows and bytes, or
        None when the kernel could not be asked now (busy, or the drain failed)."""
        queue = self.queue
        with queue.cond:
            limit = self._take_limit_locked(kernel_id, min(self.settings.drain_rows, room), byte_room)
        try:
            # Native rows, grouped per table with the GIL released.
            blocks = kernel.drain_journal_blocks(limit)
        except Exception as exc:  # keep draining the other kernels; say what broke
            with queue.cond:
                queue.counters["drain_failed"] += 1
                queue.stats.last_error = f"drain_journal_blocks({kernel_id}): {exc!r}"
            log.warning("drain_journal_blocks failed for kernel %s: %r", kernel_id, exc)
            return None
        if blocks is None:
            # The strategy thread is inside the kernel right now: try again next poll.
            with queue.cond:
                queue.counters["drain_busy"] += 1
            return None
        sizes = [b.nbytes for b in blocks]
        now = time.monotonic()
        took = 0
        nbytes = 0
        with queue.cond:
            if not blocks and kernel_id in self.kernels.leaving:
                self.on_left(kernel)  # detached, and now empty
            for block, size in zip(blocks, sizes, strict=True):
                queue.enqueue_locked(Chunk(kernel_id, block.table, block, now, nbytes=size))
                self.row_bytes[(kernel_id, block.table)] = size / len(block)
                took += len(block)
                nbytes += size
            queue.counters["drained"] += took
            if took:
                queue.note_drain_locked(now, took)
                # While a burst is held, a writer that looks again each poll_interval by itself
                # is not woken per take (each wake costs the strategy a GIL hand-back); one
                # asleep for up to max_delay is, or it could sleep past the hold's end. A flush
                # or close lifts the hold.
                if not (queue.writer_polling and queue.hold_left_locked(now)):
                    queue.cond.notify_all()
        return took, nbytes

    def _take_limit_locked(self, kernel_id: str, rows: int, byte_room: int) -> int:
        """The rows a take from ``kernel_id`` may hand out: ``rows``, fewer when the queue's
        ``byte_room`` holds fewer of rows as large as its largest lately (at least one)."""
        sizes = [b for (kid, _), b in self.row_bytes.items() if kid == kernel_id]
        if not sizes:
            return rows
        return max(1, min(rows, int(byte_room // max(max(sizes), 1.0))))
