"""Progress: per kernel, the seq below which every row is stored, recorded in ClickHouse's
progress table after each batch. ``gap_start`` reads it, and a WAL fill derives the rows
from there on again; so progress never goes past rows not stored: not past an input whose
rows an outbox dropped (a drop mark), nor while a WAL fill of the kernel is not stored."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from dita.journal.clickhouse.backoff import Backoff
from dita.journal.clickhouse.connection import WriterConnection
from dita.journal.clickhouse.errors import Unreachable
from dita.journal.clickhouse.kernels import AttachedKernels
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.clickhouse.rows import Chunk
from dita.journal.schema import PROGRESS_TABLE

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["Progress"]

log = logging.getLogger(__package__)

# Progress that keeps failing to be recorded is logged again at most this often (seconds).
_LOG_EVERY = 60.0


class Progress:
    """What progress the writer records next, and the drop marks that cap it."""

    def __init__(
        self, queue: RowQueue, kernels: AttachedKernels, connection: WriterConnection, backoff: Backoff
    ) -> None:
        self.queue = queue
        self.kernels = kernels
        self.connection = connection
        self.backoff = backoff
        # Per kernel, the progress recorded last.
        self.settled_seq: dict[str, int] = {}
        # Kernels whose progress is not recorded until a WAL fill of theirs is stored: from
        # attach on, and for good when the fill failed, so a later start looks again.
        self.held_for_fill: set[str] = set()
        # Per kernel, a seq up to which every row is stored (a finished fill's end, a released
        # kernel's last seq), recorded by the writer at once, and with the next batch if that
        # failed.
        self.to_record: dict[str, int] = {}
        self.to_record_again: dict[str, int] = {}
        # Whether the writer is inserting seqs taken from ``to_record``: flush() waits for them
        # to be in ClickHouse, not only out of ``to_record``.
        self.recording = False
        # Per kernel, every drop mark seen while attached here that no fill has covered yet
        # (a mark read during a refill lies above its span and outlives it); the smallest is
        # the oldest input whose rows are missing. Never an empty set.
        self.dropped_marks: dict[str, set[int]] = {}
        # Kernels with a WAL fill whose mark could not be read after their last batch (busy):
        # read again from poll to poll, and flush() waits until it was.
        self.marks_unread: set[str] = set()
        self.marks_read_at = 0.0
        # When a failure to record progress was last logged at WARNING (-inf: never); a
        # recording between two failures does not start a new minute.
        self.failure_logged_at = -math.inf
        self.failure_warned = False  # a WARNING not yet followed by "records progress again"

    def recording_due_locked(self) -> bool:
        """Whether a seq waits in ``to_record`` that may be recorded now."""
        return self.recording or any(k not in self.held_for_fill for k in self.to_record)

    def marks_due_locked(self, now: float) -> bool:
        return bool(self.marks_unread and now >= self.marks_read_at)

    def forget_locked(self, kernel_id: str, keep_marks: bool = False) -> None:
        """Drop what is known of a kernel's dropped rows; with ``keep_marks``, its drop marks
        stay and keep its progress below the rows missing."""
        if not keep_marks:
            self.dropped_marks.pop(kernel_id, None)
        self.marks_unread.discard(kernel_id)

    def note_drop_locked(self, kernel_id: str, mark: int) -> None:
        """The kernel's outbox dropped the rows of input ``mark`` (and maybe later ones)."""
        self.dropped_marks.setdefault(kernel_id, set()).add(mark)

    def note_last_drop_mark(self, kernel_id: str, mark: int | None) -> None:
        """Note the drop mark read from a kernel whose outbox is off: no drop can follow, so
        it is its last. A leaving kernel goes once its outbox is empty, maybe before the writer
        reads its mark after its last batch: noted here, the mark keeps its progress below the
        dropped input however late its last rows are stored."""
        if mark is None:
            return
        with self.queue.cond:
            if kernel_id in self.kernels.with_wal_fill:  # without a fill, gap_start() skips drops
                self.note_drop_locked(kernel_id, mark)

    def note_drop_mark_unread(self, kernel_id: str) -> None:
        """A kernel's last drop mark could not be read (busy past the wait): it may leave with
        drops unnoted, so nothing past the progress recorded is vouched for; its next fill
        derives from there."""
        with self.queue.cond:
            if kernel_id in self.kernels.with_wal_fill:
                self.note_drop_locked(kernel_id, self.settled_seq.get(kernel_id, 0) + 1)

    def lift_drop_mark_locked(self, kernel_id: str, stored_through: int) -> None:
        """Rows of every input up to ``stored_through`` are stored: drops among them no longer
        hold progress back; a drop of a later input still does."""
        marks = {m for m in self.dropped_marks.get(kernel_id, ()) if m > stored_through}
        if marks:
            self.dropped_marks[kernel_id] = marks
        else:
            self.dropped_marks.pop(kernel_id, None)

    def record(self, batch: list[Chunk]) -> None:
        """Store, per kernel, the seq below which every drained row is now in ClickHouse.

        The outbox hands rows out in seq order and batches are written in order, so once a
        batch is stored every row before its last seq is; that seq itself may have rows still
        in the outbox. Not for a kernel whose WAL fill is not stored yet, nor, for a kernel
        that is filled from its WAL, past the oldest input its outbox dropped for lack of room
        (a refill, or the next attach, derives those rows again). Best effort: a failure here
        only leaves an older (safe) value.
        """
        cond = self.queue.cond
        with cond:
            held = self.held_for_fill | set(self.kernels.refused)  # a refused kernel's rows are not stored
            stored_to_seqs = {k: v for k, v in self.to_record.items() if k not in held}
            for k in stored_to_seqs:
                del self.to_record[k]
            self.recording = bool(stored_to_seqs)
            if batch:  # seqs whose recording failed before go with a real batch
                for k, v in self.to_record_again.items():
                    stored_to_seqs.setdefault(k, v)
                self.to_record_again.clear()
            with_wal_fill = [
                (kid, k) for kid, k in self.kernels.attached if kid in self.kernels.with_wal_fill
            ]
        unknown, marks = self._read_marks(with_wal_fill)
        with cond:
            for kernel_id, dropped_from in marks.items():
                self.note_drop_locked(kernel_id, dropped_from)
            dropped_from_all = {kid: min(marks) for kid, marks in self.dropped_marks.items()}
            # A busy kernel's mark is read again at the next poll, batch or not.
            self.marks_unread = unknown | (self.marks_unread - {kid for kid, _ in with_wal_fill})
            self.marks_read_at = time.monotonic() + self.queue.settings.poll_interval
        last: dict[str, int] = {}
        for chunk in batch:
            seqs = chunk.rows.seq_range
            if chunk.completion is None and seqs is not None and chunk.kernel_id not in held | unknown:
                last[chunk.kernel_id] = max(last.get(chunk.kernel_id, 0), seqs[1])
        for kernel_id, stored_to in stored_to_seqs.items():  # everything up to it is stored
            last[kernel_id] = max(last.get(kernel_id, 0), stored_to + 1)
        for kernel_id, seq in dropped_from_all.items():
            if kernel_id in last:
                last[kernel_id] = min(last[kernel_id], seq)
        rows = [(kid, seq - 1) for kid, seq in last.items() if seq > 1]
        try:
            if rows:
                self._insert(rows)
        except Exception as exc:  # advisory: the rows themselves are stored
            self._failed(exc, stored_to_seqs)
        finally:
            with cond:
                self.recording = False

    @staticmethod
    def _read_marks(kernels: list[tuple[str, ExecutionKernel]]) -> tuple[set[str], dict[str, int]]:
        """The kernels busy right now (their mark unknown: vouch for nothing of them this time),
        and the oldest dropped input of those whose outbox dropped rows."""
        unknown: set[str] = set()
        marks: dict[str, int] = {}
        for kernel_id, kernel in kernels:
            known, dropped_from = kernel.journal_drop_mark()
            if not known:
                unknown.add(kernel_id)
            elif dropped_from is not None:
                marks[kernel_id] = dropped_from
        return unknown, marks

    def _insert(self, rows: list[tuple[str, int]]) -> None:
        if self.connection.client is None:
            raise Unreachable("not connected")
        self.connection.client.insert(
            PROGRESS_TABLE,
            rows,
            column_names=["kernel_id", "settled_seq"],
            column_type_names=["LowCardinality(String)", "UInt64"],
        )
        with self.queue.cond:
            self.settled_seq.update(dict(rows))
            failure_logged, self.failure_warned = self.failure_warned, False
        if failure_logged:
            log.info("journal %s records progress again", self.queue.settings.target.display)
        self.backoff.lift(PROGRESS_TABLE)

    def _failed(self, exc: Exception, stored_to_seqs: dict[str, int]) -> None:
        """Recording failed: gap_start() stays where it was, says why, and the seqs recorded
        outside a batch go with the next one. Logged at WARNING, at most once a ``_LOG_EVERY``
        while it lasts: rows go on being stored, so nothing else says that a restart derives
        ever more of them again."""
        error = f"recording progress: {type(exc).__name__}: {exc}"
        now = time.monotonic()
        with self.queue.cond:
            due = now - self.failure_logged_at >= _LOG_EVERY
            if due:
                self.failure_logged_at = now
                self.failure_warned = True
        if due:
            log.warning(
                "journal %s could not record progress (%s): gap_start() stays where it is, so a "
                "restart derives the rows from there again (a resend starts there); tried again "
                "after the next batch, said again at most once a minute while it lasts",
                self.queue.settings.target.display,
                error,
            )
        else:
            log.debug("could not record journal progress: %r", exc)
        self.connection.let_go_if_dead(exc, error)
        # A dropped progress table is made again for next time.
        _, remake_error = self.connection.remake_if_missing(exc)
        if remake_error:
            log.warning("re-creating journal tables failed: %s", remake_error)
        with self.queue.cond:
            self.queue.counters["progress_failed"] += 1
            self.queue.stats.last_error = error
            for kernel_id, stored_to in stored_to_seqs.items():
                self.to_record_again[kernel_id] = max(self.to_record_again.get(kernel_id, 0), stored_to)
