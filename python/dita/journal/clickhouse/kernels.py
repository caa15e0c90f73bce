"""The kernels a journal records: which are attached, leaving or being released, whether a
kernel's rows may be written under its kernel_id (refused when they would take stored rows'
keys), and what their outboxes dropped or still hold when the journal closes."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dita.journal.clickhouse.errors import JournalBlockedError
from dita.journal.clickhouse.queries import Queries
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.dsn import JournalTarget

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["AttachedKernels", "UncheckedAttach", "outbox_dropped", "seq_refusal"]

log = logging.getLogger(__package__)

# An outbox that keeps dropping rows is logged again at most this often (seconds).
_LOG_EVERY = 60.0

# The kernels of the journals open in this process: a kernel_id one of them records on a
# database is refused by the others on that database (attach), as their rows would take the
# same keys.
_open_in_process: weakref.WeakSet[AttachedKernels] = weakref.WeakSet()
_open_in_process_lock = threading.Lock()


@dataclass
class UncheckedAttach:
    """A kernel attached while the rows stored under its kernel_id could not be read."""

    seq: int  # the kernel's seq when it was attached
    wal_dir: str | None  # its write-ahead log's directory; None without one


@dataclass
class RefusedKernel:
    """A kernel attached unchecked whose seq was below the rows stored under its kernel_id:
    its rows are held, none written."""

    stored_seq: int
    seq: int  # the kernel's seq when it was attached
    error: str  # why, and what to do: what flush() raises and stats().blocked says


def outbox_dropped(kernel: ExecutionKernel) -> int | None:
    """The rows ``kernel``'s outbox has dropped for lack of room in its life, or None when its
    stats cannot be read."""
    try:
        return int(kernel.stats().get("journal_dropped") or 0)
    except Exception:
        log.debug("kernel stats unavailable", exc_info=True)
        return None


def seq_refusal(kernel_id: str, stored: int, seq: int, wal_dir: str | None, attached: bool = False) -> str:
    """Why a kernel at ``seq`` may not write under ``kernel_id``, whose stored rows reach seq
    ``stored``, and what to do; ``wal_dir`` names its write-ahead log (None: it has none).
    ``attached``: said once the kernel is attached, of its seq then."""
    head = f"kernel_id {kernel_id!r} already has journal rows up to seq {stored}, and this kernel"
    if wal_dir is None:
        at = f"was at seq {seq} when it was attached" if attached else f"is at seq {seq}"
        return (
            f"{head} (without a write-ahead log) {at}: its new rows would take the keys of stored "
            "ones and be lost. Give each run its own kernel_id, give the kernel a wal_dir so its "
            "seq carries on from run to run, or attach with replay=True if it is fed the stored "
            "run's inputs again."
        )
    at = f"ended at seq {seq} when it was attached" if attached else f"ends at seq {seq}"
    return (
        f"{head}'s write-ahead log ({wal_dir}) {at}: a new or lost log, whose new rows would take "
        "the keys of stored ones and be lost. Start the kernel on the log the stored rows came "
        "from, give it its own kernel_id, or attach with replay=True if it is fed the stored "
        "run's inputs again."
    )


class AttachedKernels:
    """The kernels a journal records, and what it knows of each. Read and changed under the
    queue's lock."""

    def __init__(self, queue: RowQueue, queries: Queries, connected: Callable[[], bool]) -> None:
        self.queue = queue
        # Whether the writer holds a client: without one ClickHouse is known not to answer, so an
        # attach does not read the stored rows (the read would wait out the client's timeout).
        self.connected = connected
        self.settings = queue.settings
        self.queries = queries
        self.attached: list[tuple[str, ExecutionKernel]] = []
        # Kernels detached while rows were still in their outboxes: drained until empty, then
        # dropped by the drainer.
        self.leaving: set[str] = set()
        # Kernels being released (kernel.close()): still served in full, refills included,
        # but no longer counted when another release asks whether it is the last.
        self.releasing: set[str] = set()
        # Kernels being released (their input stopped), with their last seq: once their rows
        # are stored, that seq is their progress.
        self.stopped_seq: dict[str, int] = {}
        # Kernels attached with a WAL fill: their progress also stops at a dropped input.
        self.with_wal_fill: set[str] = set()
        # Kernels attached while ClickHouse could not be read: checked before any of their rows
        # is written. Those the check refused, and the number of their rows held (taken from
        # the queue, never written).
        self.unchecked: dict[str, UncheckedAttach] = {}
        self.refused: dict[str, RefusedKernel] = {}
        self.held_rows: Counter[str] = Counter()
        # stats().dropped, a running total: per attached kernel its outbox's drop count when it
        # was attached and the latest one read; the drops of kernels that have left.
        self.dropped_at_attach: dict[str, int] = {}
        self.dropped_read: dict[str, int] = {}
        self.dropped_by_gone = 0
        # Per attached kernel, the drops last logged (its count since attach) and when.
        self.drops_told: dict[str, tuple[int, float]] = {}
        # Per kernel, the rows close() left in its outbox, never taken (the queue was full while
        # ClickHouse did not take rows): not in stats().queued, so counted here.
        self.left_in_outbox: dict[str, int] = {}

    def open_in_process(self) -> None:
        with _open_in_process_lock:
            _open_in_process.add(self)

    def close_in_process(self) -> None:
        with _open_in_process_lock:
            _open_in_process.discard(self)

    def refuse_recorded_elsewhere(self, kernel_id: str) -> None:
        """Refuse ``kernel_id`` while another journal of this process on the same database
        records a kernel of it (attached, or leaving with rows to write).

        Both runs' rows would take the same keys: each writer takes the other's for rows
        stored already and skips its own, or ClickHouse merges them, and one run's rows are
        lost without a word. The check of the stored rows cannot see the other's rows still
        on their way. Attaches are one at a time in a process (``sole_journal``), so none
        slips in between this check and the attach."""
        target = self.settings.target
        with _open_in_process_lock:
            others = [
                k for k in _open_in_process if k is not self and _same_database(k.settings.target, target)
            ]
        for other in others:
            with other.queue.cond:
                taken = not other.queue.closed and other.records_kernel_id_locked(kernel_id)
            if taken:
                raise ValueError(
                    f"a kernel with kernel_id {kernel_id!r} is already attached to another journal on "
                    f"{other.settings.target.display} (the same database, in this process): the two runs' "
                    "rows would take the same keys and one run's be skipped as stored; give each kernel its "
                    "own kernel_id, or detach it from that journal first"
                )

    def records(self, kernel: ExecutionKernel) -> bool:
        """Whether ``kernel`` is attached here, or still leaving (its rows being written)."""
        with self.queue.cond:
            return any(k is kernel for _, k in self.attached)

    def records_kernel_id_locked(self, kernel_id: str) -> bool:
        return any(kid == kernel_id for kid, _ in self.attached)

    def add_locked(self, kernel_id: str, kernel: ExecutionKernel, dropped_before: int) -> None:
        """Attach ``kernel``; its outbox had dropped ``dropped_before`` rows before (not ours)."""
        self.attached.append((kernel_id, kernel))
        self.dropped_at_attach[kernel_id] = self.dropped_read[kernel_id] = dropped_before

    def remove_locked(self, kernel: ExecutionKernel, rows_queued: bool) -> None:
        """``kernel`` leaves; ``rows_queued``: rows of its kernel_id are still queued."""
        if any(k is kernel for _, k in self.attached):
            self.count_dropped_of_gone_locked(kernel.kernel_id)
        self.attached = [(kid, k) for kid, k in self.attached if k is not kernel]
        self.leaving.discard(kernel.kernel_id)
        self.releasing.discard(kernel.kernel_id)
        self.stopped_seq.pop(kernel.kernel_id, None)
        # A check it never needed (it left before any of its rows was written) must not be
        # made of the next kernel of its kernel_id, checked at its own attach; rows of it still
        # queued (it left while ClickHouse was away) are checked by the writer as usual.
        if not rows_queued:
            self.unchecked.pop(kernel.kernel_id, None)

    # ------------------------------------------------------------------ may its rows be written

    def check_new_seqs(self, kernel: ExecutionKernel, wal: dict[str, Any] | None) -> UncheckedAttach | None:
        """Refuse a kernel whose next rows would take keys already stored.

        Without a WAL a kernel's seq starts again at 1 each run; with a new or lost WAL
        (another wal_dir, a wiped one) it starts again too. Under a kernel_id that already
        has rows, its new rows would carry the keys of stored ones: a key check would take
        them for resends and skip them, and ClickHouse would merge them (``FINAL``, dedup
        tokens). Silently losing rows is worse than refusing. A kernel carrying on from the
        log the stored rows came from is at or above them.

        Returns what the writer must check before it writes the kernel's rows when the stored
        rows cannot be read now (None when they were).
        """
        kernel_id = kernel.kernel_id
        seq = kernel.seq
        wal_dir = None if wal is None else str(wal["dir"])
        if not self.connected():
            log.warning(
                "journal %s is not connected: kernel_id %r is attached unchecked, and checked before "
                "any of its rows is written",
                self.settings.target.display,
                kernel_id,
            )
            return UncheckedAttach(seq, wal_dir)
        stored = self.queries.stored_seq(kernel_id)
        if stored is None:
            return UncheckedAttach(seq, wal_dir)
        if stored > seq:
            raise ValueError(seq_refusal(kernel_id, stored, seq, wal_dir))
        return None

    def refuse_new_log(self, kernel_id: str, first_seq: int, wal_dir: str | os.PathLike[str] | None) -> None:
        """Raise the refusal ``check_new_seqs`` would give a kernel on a new write-ahead log.
        Not connected, the attach that follows is unchecked."""
        if not self.connected():
            return
        stored = self.queries.stored_seq(kernel_id)
        if stored is not None and stored > first_seq:
            where = "a new one" if wal_dir is None else f"a new one in {wal_dir}"
            raise ValueError(seq_refusal(kernel_id, stored, first_seq, where))

    def check_unchecked(self, kernel_id: str, read: Callable[[], int]) -> bool:
        """For a kernel attached unchecked, compare the seq stored under its kernel_id
        (``read()``: raises while ClickHouse cannot be read) with the kernel's at attach; a
        kernel below it is refused (its rows held, logged once). Whether its rows may be
        written (False: refused)."""
        cond = self.queue.cond
        with cond:
            if kernel_id in self.refused or kernel_id not in self.unchecked:
                return kernel_id not in self.refused
        stored = read()
        with cond:
            pending = self.unchecked.pop(kernel_id, None)
            if pending is None or stored <= pending.seq:
                return kernel_id not in self.refused
            error = (
                seq_refusal(kernel_id, stored, pending.seq, pending.wal_dir, attached=True)
                + " ClickHouse could not be read when it was attached, so the journal found this only "
                "now: it writes none of this kernel's rows and holds them (in stats().queued) until "
                "it closes."
            )
            # Logged before it is published (under the lock, which the check's other thread
            # waits for): whoever finds the refusal finds it logged.
            log.error(
                "journal %s refuses the rows of kernel %r: %s", self.settings.target.display, kernel_id, error
            )
            self.refused[kernel_id] = RefusedKernel(stored, pending.seq, error)
            self.queue.stats.last_error = error
            cond.notify_all()
        return False

    def refusal_error_locked(self, kernel_ids: Collection[str] | None) -> JournalBlockedError | None:
        """The error naming the refused kernels among ``kernel_ids`` (None: all), if any."""
        refused = [k for k in self.refused if kernel_ids is None or k in kernel_ids]
        if not refused:
            return None
        return JournalBlockedError("; ".join(self.refusal_text_locked(k) for k in refused))

    def refusal_text_locked(self, kernel_id: str) -> str:
        """What a refused kernel's flush() says: the refusal and the rows it holds."""
        return (
            f"journal {self.settings.target.display} holds the rows of kernel {kernel_id!r} "
            f"({self.held_rows[kernel_id]} rows held here, later ones in its outbox) and writes "
            f"none of them: {self.refused[kernel_id].error}"
        )

    # ------------------------------------------------------------------ stopping

    def stop_recording(self, kernel: ExecutionKernel) -> dict[str, Any]:
        """Turn ``kernel``'s outbox off before the last drain of a detach or close: rows a
        kernel still trading made after that drain would stay in its outbox, drained by nobody
        and counted nowhere. The rows it holds stay to be drained. Returns its stats read then,
        its last drops and drop mark (the outbox takes no more rows); raises when a kernel busy
        past the wait cannot say them."""
        kernel.set_journal_enabled(False)
        stats = kernel.stats()
        self.note_dropped(kernel.kernel_id, int(stats.get("journal_dropped") or 0))
        return stats

    def stop_recording_all(self, warn: bool) -> None:
        """Stop recording every kernel attached, for close(); with ``warn``, name each kernel
        whose input goes on (not being closed or detached): its later inputs are not journaled."""
        with self.queue.cond:
            kernels = list(self.attached)
            going = self.releasing | self.leaving
            with_wal_fill = set(self.with_wal_fill)
        for kernel_id, kernel in kernels:
            try:
                self.stop_recording(kernel)
            except Exception:  # a kernel being torn down must not stop the journal from closing
                log.debug("could not disable kernel %s's journal outbox", kernel_id, exc_info=True)
            if warn and kernel_id not in going:
                log.warning(
                    "journal %s closing while kernel %r is still attached: recording stops now and "
                    "its later inputs are not journaled (%s)",
                    self.settings.target.display,
                    kernel_id,
                    "the next attach derives them again from its write-ahead log"
                    if kernel_id in with_wal_fill
                    else "they are missing unless resent from a write-ahead log with backfill()",
                )

    def count_left_in_outboxes(self) -> None:
        """With the threads stopped: count and log the rows left in the kernels' outboxes, which
        nothing drains any more. stats().queued counts only the rows taken from them, so a
        close that gave up with the queue full would otherwise undercount the rows it left (by
        up to the outboxes' capacity). A refused kernel's are not counted: its refusal names
        them."""
        with self.queue.cond:
            kernels = [(kid, k) for kid, k in self.attached if kid not in self.refused]
            with_wal_fill = set(self.with_wal_fill)
        left: dict[str, int] = {}
        for kernel_id, kernel in kernels:
            try:
                rows = int(kernel.stats().get("journal_queued") or 0)
            except Exception:  # a kernel being torn down must not stop the journal from closing
                log.debug("could not read kernel %s's outbox", kernel_id, exc_info=True)
                continue
            if rows:
                left[kernel_id] = rows
        if not left:
            return
        with self.queue.cond:
            self.left_in_outbox = left
        log.warning(
            "journal %s closed with %s, never taken (ClickHouse did not take rows before close() gave "
            "up, and the queue was full): %s",
            self.settings.target.display,
            self.left_text(left),
            "; ".join(
                f"{kid!r}: the next attach derives them again from its write-ahead log"
                if kid in with_wal_fill
                else f"{kid!r}: not journaled unless resent from a write-ahead log with backfill()"
                for kid in left
            ),
        )

    @staticmethod
    def left_text(left: Mapping[str, int]) -> str:
        """``left`` (rows per kernel) as the close's warning and a flush() after it say it."""
        return ", ".join(f"{rows} rows left in the outbox of {kid!r}" for kid, rows in left.items())

    # ------------------------------------------------------------------ rows the outboxes dropped

    def read_dropped(self, kernel: ExecutionKernel) -> None:
        """Read the rows ``kernel``'s outbox has dropped in all (not holding the lock: a busy
        kernel makes the read wait) and note them."""
        now = outbox_dropped(kernel)
        if now is not None:
            self.note_dropped(kernel.kernel_id, now)

    def note_dropped(self, kernel_id: str, now: int) -> None:
        """Keep the rows a kernel's outbox has dropped in all, ``now``, for when it leaves. New
        drops are logged, at most once a ``_LOG_EVERY`` per kernel."""
        with self.queue.cond:
            if kernel_id not in self.dropped_at_attach:
                return
            self.dropped_read[kernel_id] = max(self.dropped_read[kernel_id], now)
            dropped = self.dropped_read[kernel_id] - self.dropped_at_attach[kernel_id]
            told, told_at = self.drops_told.get(kernel_id, (0, -math.inf))
            t = time.monotonic()
            if dropped <= told or t - told_at < _LOG_EVERY:
                return
            self.drops_told[kernel_id] = (dropped, t)
            if kernel_id in self.refused:
                fate = "its rows are refused (see stats().blocked), and the journal does not drain it"
            elif kernel_id not in self.with_wal_fill:
                fate = "they are missing from the journal (no write-ahead log fill to derive them again)"
            elif self.settings.refill_dropped:
                fate = "they are derived again from its write-ahead log once ClickHouse takes rows again"
            else:
                fate = "the next attach derives them again from its write-ahead log"
        log.warning(
            "journal %s: the outbox of kernel %r dropped %d rows for lack of room while attached here (%d "
            "since last said): the journal is not taking its rows as fast as they come; %s",
            self.settings.target.display,
            kernel_id,
            dropped,
            dropped - told,
            fate,
        )

    def count_dropped_of_gone_locked(self, kernel_id: str) -> None:
        """An attached kernel leaves: what its outbox dropped while here stays counted."""
        base = self.dropped_at_attach.pop(kernel_id, 0)
        self.dropped_by_gone += max(0, self.dropped_read.pop(kernel_id, base) - base)
        self.drops_told.pop(kernel_id, None)

    def dropped_locked(self) -> int:
        """stats().dropped: the kernels attached now, and those gone meanwhile, each counted once."""
        return self.dropped_by_gone + sum(
            max(0, self.dropped_read[kid] - base) for kid, base in self.dropped_at_attach.items()
        )


def _same_database(a: JournalTarget, b: JournalTarget) -> bool:
    """Whether ``a`` and ``b`` name one database (the same directory, or the same server as
    written, and the same database name)."""

    def where(t: JournalTarget) -> tuple[Any, ...]:
        port = t.port if t.port is not None else (8443 if t.scheme == "https" else 8123)
        return (t.kind, t.path, t.host.lower(), port if t.kind == "http" else None, t.database)

    return where(a) == where(b)
