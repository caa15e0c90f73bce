"""The log gap fill: rows derived again from a kernel's write-ahead log, in a thread of their own.

At attach, the rows of every record from where the kernel's stored rows stop (``gap_start``)
up to the attach; later, a refill of the rows its outbox dropped while ClickHouse was away,
started by the writer once ClickHouse takes rows again. The derived rows go through the
queue with a key check, so rows stored already are not written twice.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from dita._kernel import JournalBlock, WalError
from dita._wal_files import checkpoints, first_kept_seq
from dita.journal.clickhouse.backoff import Backoff
from dita.journal.clickhouse.errors import Aborted, permanent_cause
from dita.journal.clickhouse.kernels import AttachedKernels
from dita.journal.clickhouse.progress import Progress
from dita.journal.clickhouse.queries import Queries
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.clickhouse.rows import Chunk, Completion
from dita.journal.priority import lower_thread_priority
from dita.journal.schema import PROGRESS_TABLE

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["WalFill"]

log = logging.getLogger(__package__)


def _derivable_from(kernel: ExecutionKernel, gap: int, to_seq: int) -> int:
    """Where the rows of the records from ``gap`` can be derived from the kernel's log: ``gap``,
    or, when the segments holding it are archived (the log format allows removing the oldest),
    the record after the oldest checkpoint whose next record is kept, a replay's start; the
    records before it are named in a warning, their rows lost to the journal."""
    info = kernel.wal_info()
    if info is None:
        return gap
    wal_dir = Path(info["dir"])
    first = first_kept_seq(wal_dir)
    if first is None or gap >= first:
        return gap
    starts = [seq + 1 for seq, _ in checkpoints(wal_dir) if seq + 1 >= first]
    start = min(starts, default=first)
    log.warning(
        "journal: the rows of %s records %d..%d cannot be derived from its write-ahead log: its "
        "segments before seq %d are archived, and a replay starts after a checkpoint kept (seq %d); "
        "deriving records %d..%d",
        kernel.kernel_id,
        gap,
        start - 1,
        first,
        start - 1,
        start,
        to_seq,
    )
    return start


class WalFill:
    """The fills running and the refills due."""

    def __init__(
        self,
        queue: RowQueue,
        kernels: AttachedKernels,
        progress: Progress,
        backoff: Backoff,
        queries: Queries,
    ) -> None:
        self.queue = queue
        self.settings = queue.settings
        self.kernels = kernels
        self.progress = progress
        self.backoff = backoff
        self.queries = queries
        # Kernels whose earlier rows are being derived again from their WAL (flush waits for them).
        self.filling: Counter[str] = Counter()
        self.threads: list[threading.Thread] = []
        # Per kernel, no refill of dropped rows before this time.monotonic() (the kernel was
        # busy, or the last refill failed: then the failures in a row, for the backoff).
        self.refill_after: dict[str, float] = {}
        self.refill_failures: Counter[str] = Counter()

    def start(self, kernel: ExecutionKernel, to_seq: int, refill: bool = False) -> None:
        """Derive the rows of the kernel's records up to ``to_seq`` from its WAL."""
        thread = threading.Thread(
            target=self.run,
            args=(kernel, to_seq, refill),
            name=f"dita-journal-wal-fill-{kernel.kernel_id}",
            daemon=True,
        )
        with self.queue.cond:
            self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def run(self, kernel: ExecutionKernel, to_seq: int, refill: bool = False) -> None:
        """The fill at attach (progress held until it is stored), or with ``refill`` the one
        for dropped rows (progress is capped at the oldest dropped input until it is stored)."""
        lower_thread_priority(self.settings.nice)
        kernel_id = kernel.kernel_id
        stored = False
        try:
            stored = self._fill(kernel, to_seq)
        except Aborted:
            log.warning("journal closed before the WAL fill of %s finished", kernel_id)
        except Exception as exc:
            with self.queue.cond:
                self.queue.stats.last_error = f"wal fill of {kernel_id}: {exc!r}"
            log.warning("could not fill the journal of %s from its WAL: %r", kernel_id, exc)
        finally:
            self._ended(kernel_id, stored, refill)

    def _fill(self, kernel: ExecutionKernel, to_seq: int) -> bool:
        """Derive and store the rows from the gap's start up to ``to_seq``; whether they are
        stored (False: the kernel was refused, none of its rows is written)."""
        kernel_id = kernel.kernel_id
        if to_seq < 1:
            return True
        gap = self._gap_start(kernel_id)
        if gap is None:  # refused (check_unchecked): none of its rows is written
            return False
        if gap > to_seq:  # ClickHouse says it has all of them already
            with self.queue.cond:
                self.progress.lift_drop_mark_locked(kernel_id, to_seq)
            return True
        gap = _derivable_from(kernel, gap, to_seq)
        if gap > to_seq:  # all archived: none to derive, and progress moves past them
            with self.queue.cond:
                self.progress.to_record[kernel_id] = max(to_seq, self.progress.to_record.get(kernel_id, 0))
                self.progress.lift_drop_mark_locked(kernel_id, to_seq)
            return True
        log.info("journal: deriving the rows of %s records %d..%d again from its WAL", kernel_id, gap, to_seq)
        completions: list[Completion] = []
        # Half the queue at most: the live rows keep room to drain meanwhile.
        share = max(1, self.settings.queue_rows // 2)
        byte_share = max(1, self.settings.queue_bytes // 2)

        def sink(blocks: list[JournalBlock]) -> None:
            completions.append(self._enqueue(kernel_id, blocks, share, byte_share))

        rows = kernel.wal_journal_blocks(
            gap, to_seq, sink=sink, chunk_rows=min(share, self.settings.drain_rows)
        )
        while not all(c.done.wait(0.1) for c in completions):
            if self.queue.abort.is_set():
                raise Aborted
        if kernel_id in self.kernels.refused:  # its rows were held, not stored
            return False
        with self.queue.cond:
            self.queue.counters["wal_filled"] += sum(c.result.written for c in completions)
            self.progress.to_record[kernel_id] = max(to_seq, self.progress.to_record.get(kernel_id, 0))
            self.progress.lift_drop_mark_locked(kernel_id, to_seq)
        log.info("journal: %s rows of %s derived again from its WAL", rows, kernel_id)
        return True

    def _enqueue(self, kernel_id: str, blocks: list[JournalBlock], share: int, byte_share: int) -> Completion:
        """Queue a chunk of derived rows once the queue holds less than its share of rows."""
        completion = Completion(remaining=sum(len(b) for b in blocks))
        sizes = [b.nbytes for b in blocks]
        queue = self.queue
        with queue.cond:
            while (queue.pending_rows >= share or queue.pending_bytes >= byte_share) and not queue.stopping:
                queue.cond.wait(self.settings.poll_interval)
            if queue.stopping:
                raise Aborted
            now = time.monotonic()
            for block, size in zip(blocks, sizes, strict=True):
                queue.enqueue_locked(
                    Chunk(
                        kernel_id,
                        block.table,
                        block,
                        now,
                        completion=completion,
                        nbytes=size,
                    )
                )
            queue.cond.notify_all()
        return completion

    def _ended(self, kernel_id: str, stored: bool, refill: bool) -> None:
        with self.queue.cond:
            self.ended_locked(kernel_id)
            if stored and refill:
                self.refill_failures.pop(kernel_id, None)
            elif stored:
                self.progress.held_for_fill.discard(kernel_id)
            elif kernel_id in self.kernels.refused:
                pass  # not a failure: flush() raises the refusal, and progress stays held
            else:
                # Progress stays where the gap starts (held, or capped at the dropped input),
                # so the next start fills it; a refill is tried again, later each time it
                # fails (a log that stays unreadable is not replayed every few seconds forever).
                self.queue.counters["wal_fill_failed"] += 1
                if refill:
                    self.refill_failures[kernel_id] += 1
                    backoff = self.settings.retry_max * 2 ** min(self.refill_failures[kernel_id] - 1, 6)
                    self.refill_after[kernel_id] = time.monotonic() + backoff
            self.queue.cond.notify_all()  # the writer looks for a refill due; flush() for the end

    def _gap_start(self, kernel_id: str) -> int | None:
        """``gap_start`` for a WAL fill, asked until ClickHouse answers. ClickHouse away: asked
        again like the writer retries. A progress table it cannot read for a permanent reason
        (other columns, rights) blocks the journal as an insert refused so does: flush() raises
        JournalBlockedError naming it, and it is asked again every ``retry_blocked`` seconds and
        at each flush(). A kernel attached unchecked is checked first (the stored progress may
        lie past its new log's end): None when it is refused."""
        attempt = 0
        while True:
            if self.queue.abort.is_set():  # closed before the fill began
                raise Aborted
            attempt_no = self.backoff.next_attempt()
            try:
                checked = self.kernels.check_unchecked(
                    kernel_id, lambda: self.queries.read_stored_seq(kernel_id)
                )
                gap = self.queries.gap_start(kernel_id) if checked else None
            except Exception as exc:
                cause = permanent_cause(exc)
                with self.queue.cond:
                    self.queue.stats.last_error = f"wal fill of {kernel_id}: gap_start: {exc!r}"
                error = f"{PROGRESS_TABLE}: {type(exc).__name__}: {exc} (wal fill of {kernel_id})"
                self.backoff.fail_and_wait(PROGRESS_TABLE, cause, error, attempt_no, attempt)
                attempt += 1
                continue
            self.backoff.lift(PROGRESS_TABLE)
            return gap

    def ended_locked(self, kernel_id: str) -> None:
        """One fill of the kernel counted in ``filling`` is over (or never began)."""
        self.filling[kernel_id] -= 1
        if self.filling[kernel_id] <= 0:
            del self.filling[kernel_id]

    def forget_locked(self, kernel_id: str) -> None:
        """Drop what is known of the kernel's refills."""
        for per_kernel in (self.refill_after, self.refill_failures):
            per_kernel.pop(kernel_id, None)

    # ------------------------------------------------------------------ refills of dropped rows

    def refills_pending_locked(self) -> list[tuple[str, ExecutionKernel]]:
        """Attached kernels whose outbox dropped rows that no refill is deriving yet (none for
        a refused kernel: its rows are not written)."""
        if not self.settings.refill_dropped or self.queue.stopping:
            return []
        return [
            (kernel_id, kernel)
            for kernel_id, kernel in self.kernels.attached
            if kernel_id in self.progress.dropped_marks
            and kernel_id in self.kernels.with_wal_fill
            and not self.filling[kernel_id]
            and kernel_id not in self.kernels.refused
        ]

    def refills_due_locked(self, now: float) -> list[tuple[str, ExecutionKernel]]:
        """Pending refills not put off past ``now`` (the kernel was busy, or one failed)."""
        return [
            (kid, k) for kid, k in self.refills_pending_locked() if self.refill_after.get(kid, 0.0) <= now
        ]

    def refills_put_off_locked(self, now: float) -> list[float]:
        """Seconds until each pending refill put off past ``now`` is due."""
        return [
            self.refill_after[kid] - now
            for kid, _ in self.refills_pending_locked()
            if self.refill_after.get(kid, 0.0) > now
        ]

    def refill_waiting_locked(self) -> bool:
        """A refill flush() waits for: due, or put off only because the kernel was busy (not
        one put off after failing: that may take long, like a failed attach fill)."""
        progress = self.progress
        return self.settings.refill_dropped and any(
            kid not in self.kernels.refused
            and (
                (
                    kid in progress.dropped_marks
                    and kid in self.kernels.with_wal_fill
                    and not self.refill_failures[kid]
                )
                or kid in progress.marks_unread
            )
            for kid, _ in self.kernels.attached
        )

    def start_refills(self) -> None:
        """Start deriving again from the WAL the rows a kernel's outbox dropped while ClickHouse
        was away. The writer calls it between batches: a drop is known once a stored batch
        read the kernel's mark, so this starts when ClickHouse takes rows again."""
        cond = self.queue.cond
        with cond:
            due = self.refills_due_locked(time.monotonic())
            for kernel_id, _ in due:
                self.filling[kernel_id] += 1
        for kernel_id, kernel in due:
            started = False
            try:
                # Every input up to to_seq comes from the log now; the mark is cleared in the
                # same call, so a later drop marks only a later input.
                to_seq = kernel.journal_clear_drop_mark()
                if to_seq is None:  # the kernel is busy right now: shortly
                    with cond:
                        self.refill_after[kernel_id] = time.monotonic() + self.settings.poll_interval
                    continue
                with cond:
                    self.queue.counters["wal_refills"] += 1
                    self.refill_after.pop(kernel_id, None)
                    # Rows up to to_seq still in the outbox are drained later, maybe after the
                    # refill stored them: they get the key check, so none is stored twice.
                    self.queue.check_drained_through_locked(kernel_id, to_seq)
                self.start(kernel, to_seq, refill=True)
                started = True
            except WalError as exc:  # its log failed: the rows are not there to derive
                log.warning("no WAL refill of dropped rows for %s: %s", kernel_id, exc)
                with cond:
                    self.refill_after[kernel_id] = math.inf
                    self.refill_failures[kernel_id] += 1
            except Exception as exc:  # best effort, like recording progress: keep writing
                log.warning("could not start a WAL refill for %s: %r", kernel_id, exc)
                with cond:
                    self.queue.stats.last_error = f"wal refill of {kernel_id}: {exc!r}"
                    self.refill_failures[kernel_id] += 1
                    self.refill_after[kernel_id] = time.monotonic() + self.settings.retry_max
            finally:
                if not started:
                    with cond:
                        self.ended_locked(kernel_id)
                        cond.notify_all()

    def join(self) -> None:
        """At close: wait for the fill threads. A fill stops at its next chunk; one still
        replaying is left to finish alone."""
        with self.queue.cond:
            fills = list(self.threads)
        for thread in fills:
            thread.join(timeout=10)
            if thread.is_alive():
                log.warning("journal closed while %s is still reading its WAL", thread.name)
