"""``ClickHouseJournal``: the public class. It checks its settings, puts its parts together
(see the package docstring for what each does) and runs the calls that involve several of
them: attach, detach, release, flush, close, stats and backfill."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dita._kernel import WalError
from dita.journal import JournalStats, sole_journal, sync_log
from dita.journal.clickhouse.backfill import Backfill, check_kernel_id
from dita.journal.clickhouse.backoff import Backoff
from dita.journal.clickhouse.connection import WriterConnection
from dita.journal.clickhouse.drainer import Drainer
from dita.journal.clickhouse.kernels import AttachedKernels, outbox_dropped
from dita.journal.clickhouse.progress import Progress
from dita.journal.clickhouse.queries import Queries
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.clickhouse.rows import BackfillResult
from dita.journal.clickhouse.settings import JournalSettings
from dita.journal.clickhouse.wal_fill import WalFill
from dita.journal.clickhouse.writer import Writer
from dita.journal.dsn import JournalTarget
from dita.journal.query import QueryResult, QueryServer, is_wait_seconds
from dita.journal.schema import check_kernel_columns

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["ClickHouseJournal", "attach_all"]

log = logging.getLogger(__package__)


def _check_timeout(method: str, timeout: object) -> None:
    """A caller's ``timeout``: None (no limit) or seconds a wait can take. Checked before the
    call does anything: a bad one found later would leave it half done."""
    if timeout is not None and not is_wait_seconds(timeout, zero=True):
        raise ValueError(
            f"ClickHouseJournal.{method} timeout must be None or a number of seconds from 0 to "
            f"{threading.TIMEOUT_MAX:g}, got {timeout!r}"
        )


class ClickHouseJournal:
    """A journal writing kernel outbox rows to ClickHouse through clickhouse-connect.

    ``dsn``: ``chdb://<dir>`` (embedded chDB, the default ``chdb://./dita-journal`` or
    ``$DITA_JOURNAL_DSN``) or ``http(s)://user:password@host:port/database``.

    Batching: a batch is written when ``batch_rows`` rows are waiting or the oldest has waited
    ``max_delay`` seconds (at a steady pace the delay decides; ``batch_rows`` bounds a
    burst's inserts, and ClickHouse spends much less per row on large ones). ``queue_rows``
    bounds the rows taken from the kernels and not yet written (about 120 bytes each), and
    ``queue_bytes`` their bytes (``JournalBlock.nbytes``, exact: rows of large metadata or
    details take far more); beyond either, rows wait in the kernels' outboxes. The queue is
    where a burst waits while ClickHouse catches up, so the strategy thread keeps writing its
    rows into warm, recycled segments. ``drain_rows`` bounds one take (a take of everything the
    outbox holds hands out its segments, and the rows are copied out after the kernel is free
    again; a smaller one also copies, while it holds the kernel, the rows below its cut in one
    segment, so keep it at least as large as the rows a poll interval brings).
    Retries back off from ``retry_initial`` to ``retry_max`` seconds; after a failure, a
    writer's client that no longer answers (closed under it, its chDB connection or the
    server's connections gone) is let go and a new one opened for the next attempt
    (``stats().extra["clients_reopened"]``). An insert ClickHouse refuses for a reason
    retrying does not cure (a table whose columns do not match, a table
    or database missing that cannot be made again, the user's rights or credentials refused)
    blocks the writer: its rows stay queued and are tried again every ``retry_blocked``
    seconds and at each ``flush()``, which raises :class:`JournalBlockedError` instead of
    waiting; ``stats().blocked`` names the table and the error, and it is logged once as an
    error. ``close()`` waits up to ``close_timeout`` seconds for ClickHouse (not while blocked).

    ``burst_hold`` (None: never): while a burst lasts (the drainer took at least ``batch_rows``
    rows within the last ``max_delay``, faster than ClickHouse stores them), batches wait until
    the oldest queued row is ``burst_hold`` seconds old, the burst ends or the queue is full,
    so ClickHouse's ingest does not run beside the strategy's burst on a small machine. A hold
    only starts once the writer has caught up (the oldest queued row younger than
    ``burst_hold``), so it never caps what the journal writes under sustained load; a burst's
    rows reach ClickHouse up to ``burst_hold`` later. ``flush()`` (so ``detach()``), ``backfill()``
    and ``close()`` lift it.

    ``gil_budget`` (None: unlimited): the share of wall time the journal's two threads may
    spend on the CPU together, so a strategy bursting faster than the journal can write keeps
    its speed while rows wait in the kernel's outbox; ``flush()`` and ``close()`` lift it.

    ``serve_sql`` (embedded journals only): serve read-only SQL on a Unix socket in the
    journal directory so ``dita journal sql`` can query while this process holds chDB's lock.

    ``wal_fill``: when a kernel with a write-ahead log is attached, its outbox starts afresh
    (``kernel.journal_restart()``: rows it still held are let go) and the rows of every
    record from where its rows in ClickHouse stop (:meth:`gap_start`) up to that moment are
    derived again from the log, in the background (``stats().extra["wal_filled"]``);
    :meth:`flush` waits for them. Such a kernel's progress also stops before any input its
    outbox later drops for lack of room (ClickHouse away longer than the queue and the outbox
    can hold). ``refill_dropped``: once ClickHouse stores rows again, those are derived again
    from the log too, while the kernel keeps trading (``extra["wal_refills"]``); without it,
    the next attach does it.

    ``nice`` (Linux; None: leave priorities alone): the CPU priority, as a nice value from 0
    to 19, of the journal's drainer, writer and WAL fill threads and of the threads an
    embedded chDB runs for it (inserts, merges), so that on a busy machine they yield the CPU
    to the strategy's threads; rows wait in the queue meanwhile. The merge setting is taken
    when this journal is the first in the process to open the chDB directory.

    The settings, as checked, are in ``settings``; the target in ``target``.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        batch_rows: int = 100_000,
        max_delay: float = 0.1,
        queue_rows: int = 1_000_000,
        queue_bytes: int = 256 << 20,
        drain_rows: int = 100_000,
        poll_interval: float = 0.02,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        retry_blocked: float = 30.0,
        close_timeout: float = 30.0,
        serve_sql: bool = True,
        gil_budget: float | None = None,
        burst_hold: float | None = 0.5,
        wal_fill: bool = True,
        refill_dropped: bool = True,
        nice: int | None = 10,
    ) -> None:
        self.settings = JournalSettings.checked(
            dsn,
            batch_rows=batch_rows,
            max_delay=max_delay,
            queue_rows=queue_rows,
            queue_bytes=queue_bytes,
            drain_rows=drain_rows,
            poll_interval=poll_interval,
            retry_initial=retry_initial,
            retry_max=retry_max,
            retry_blocked=retry_blocked,
            close_timeout=close_timeout,
            serve_sql=serve_sql,
            gil_budget=gil_budget,
            burst_hold=burst_hold,
            wal_fill=wal_fill,
            refill_dropped=refill_dropped,
            nice=nice,
        )
        self.target: JournalTarget = self.settings.target
        self._queue = RowQueue(self.settings)
        self._connection = WriterConnection(self._queue)
        self._connection.open_at_start()
        try:
            server = (
                QueryServer.acquire(self.target, nice=nice)
                if serve_sql and self.target.kind == "chdb"
                else None
            )
        except BaseException:
            self._connection.close()
            raise
        # close() has begun (set under the lock before it stops recording): attach refuses from
        # then on, as nothing would drain a kernel attached after that.
        self._closing = False
        self._close_lock = threading.RLock()
        self._columns_checked = False
        self._died: dict[str, str] = {}  # thread -> the exception that ended it
        self._queries = Queries(self.target, server, closed=lambda: self._queue.closed)
        self._backoff = Backoff(self._queue)
        self._kernels = AttachedKernels(
            self._queue, self._queries, lambda: self._connection.client is not None
        )
        self._progress = Progress(self._queue, self._kernels, self._connection, self._backoff)
        self._fill = WalFill(self._queue, self._kernels, self._progress, self._backoff, self._queries)
        self._writer = Writer(
            self._queue,
            self._kernels,
            self._connection,
            self._backoff,
            self._progress,
            self._fill,
            self._guarded,
        )
        self._drainer = Drainer(self._queue, self._kernels, self._drop_kernel_locked, self._guarded)
        self._backfill = Backfill(self._queue, self._backoff, self._check_open_locked)
        self._writer.thread.start()
        self._drainer.thread.start()
        # The threads are daemons: a process that exits without close() would stop them
        # mid-write. This hook closes the journal first; it holds only a weak reference.
        self._exit_hook: Callable[[], None] | None = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._exit_hook)
        self._kernels.open_in_process()

    @property
    def database(self) -> str:
        return self.target.database

    # ------------------------------------------------------------------ attach

    def attach(self, kernel: ExecutionKernel, *, replay: bool = False) -> None:
        """Turn the kernel's outbox on and start draining it.

        A kernel without a write-ahead log starts at seq 1 each run, and one on a new or lost
        log starts again too, so under a kernel_id that already has rows above its seq its
        new rows would take stored rows' keys: that is refused (ValueError). When ClickHouse
        cannot be read now, the kernel is attached and checked once it can, before any of its
        rows is written; refused then, its rows are held (none written, skipped or merged) and
        ``flush()`` raises :class:`JournalBlockedError` with the same reason. ``replay=True``
        says the kernel is deliberately fed the same inputs as the stored run again (a
        deterministic re-run): rows already stored are then recognised by their keys and
        skipped. A kernel another journal records (until that one detaches it or closes) is
        refused too (ValueError): each would drain a part of the kernel's one outbox. On a
        journal closed or closing (another thread's ``close()``) it is refused (RuntimeError),
        the kernel left free: nothing would write its rows; so is a closed kernel, and
        anything but an ExecutionKernel (TypeError).
        """
        from dita.kernel import ExecutionKernel

        if not isinstance(kernel, ExecutionKernel):
            raise TypeError(
                f"ClickHouseJournal.attach kernel must be an ExecutionKernel, got {type(kernel).__name__}"
            )
        if not isinstance(replay, bool):
            raise ValueError(f"ClickHouseJournal.attach replay must be True or False, got {replay!r}")
        # Closed: no input and no log left (one that failed stays, its rows still to write). It
        # makes no more rows, and attached, this journal's close() would warn it still is.
        if kernel.input_refused_reason() is not None and kernel.wal_info() is None:
            raise RuntimeError(
                f"ClickHouseJournal.attach: kernel {kernel.kernel_id!r} is closed, it makes no more rows; "
                "attach a kernel before closing it"
            )
        if self._closing:
            raise RuntimeError(self._closed_to_attach(kernel))
        if not self._columns_checked:
            from dita._kernel import JOURNAL_COLUMNS

            check_kernel_columns(dict(JOURNAL_COLUMNS))
            self._columns_checked = True
        with sole_journal(kernel, self):
            self._attach(kernel, replay)

    def _closed_to_attach(self, kernel: ExecutionKernel) -> str:
        return (
            f"ClickHouseJournal is closed (or closing): kernel {kernel.kernel_id!r} is not attached to "
            f"{self.target.display}, as nothing would write its rows; open a new one to attach kernels"
        )

    def records(self, kernel: ExecutionKernel) -> bool:
        """Whether ``kernel`` is attached here, or still leaving (its rows being written)."""
        return self._kernels.records(kernel)

    def _attach(self, kernel: ExecutionKernel, replay: bool) -> None:
        kernel_id = kernel.kernel_id
        self._kernels.refuse_recorded_elsewhere(kernel_id)
        wal = kernel.wal_info()
        unchecked = None if replay else self._kernels.check_new_seqs(kernel, wal)
        fill = self.settings.wal_fill and wal is not None
        dropped_before = outbox_dropped(kernel) or 0  # drops before this attach are not ours
        kernels = self._kernels
        with self._queue.cond:
            self._refuse_locked(kernel, kernel_id)
            to_seq = 0
            if fill:
                # Rows of every input up to to_seq come from the log, whatever the outbox held
                # (rows left from an earlier journal, replayed ones, none); later ones from the
                # outbox. No progress is recorded past a gap the fill has not looked at yet.
                try:
                    to_seq = kernel.journal_restart()
                except WalError as exc:
                    log.warning("no WAL fill for %s: %s", kernel_id, exc)
                    fill = False
            self._forget_kernel_locked(kernel_id)  # from an earlier attach: this one starts afresh
            if unchecked is not None:
                kernels.unchecked[kernel_id] = unchecked
            self._writer.forget_high_water_marks_locked(kernel_id)
            if fill:
                self._fill.filling[kernel_id] += 1
                self._progress.held_for_fill.add(kernel_id)
                kernels.with_wal_fill.add(kernel_id)
            else:
                kernels.with_wal_fill.discard(kernel_id)
                self._progress.held_for_fill.discard(kernel_id)
                kernel.set_journal_enabled(True)
            kernels.add_locked(kernel_id, kernel, dropped_before)
            self._queue.cond.notify_all()
        if fill:
            self._fill.start(kernel, to_seq)

    def _refuse_locked(self, kernel: ExecutionKernel, kernel_id: str) -> None:
        """Refuse, once the stored rows were read, a kernel this journal cannot take now."""
        kernels = self._kernels
        if kernel_id in kernels.refused:
            # Its rows are held, never written, until the journal closes (the kernel stays
            # here, detached or not): not "being written", and a replay=True here cannot help.
            raise ValueError(
                f"kernel_id {kernel_id!r} was refused by this journal, which holds that run's rows "
                "and writes none of them until it closes (stats().blocked says why): attach "
                "this kernel with another kernel_id, or to a journal opened after this one closes"
            )
        if self._closing:
            # close() began while this attach read the stored rows: it no longer drains.
            raise RuntimeError(self._closed_to_attach(kernel))
        if kernel_id in kernels.leaving or kernel_id in kernels.releasing:
            raise ValueError(
                f"a kernel with kernel_id {kernel_id!r} is still leaving this journal: the rows it "
                "made are being written (flush() waits for them)"
            )
        if kernels.records_kernel_id_locked(kernel_id):
            raise ValueError(f"a kernel with kernel_id {kernel_id!r} is already attached to this journal")

    def refuse_new_log(
        self, kernel_id: str, first_seq: int, wal_dir: str | os.PathLike[str] | None = None
    ) -> None:
        """Raise the refusal ``attach`` would give a kernel on a new write-ahead log in
        ``wal_dir``, whose seq starts at ``first_seq``, under ``kernel_id``.
        ``ExecutionKernel`` asks before it makes the log, so the refusal leaves no log behind."""
        self._kernels.refuse_new_log(kernel_id, first_seq, wal_dir)

    def gap_start(self, kernel_id: str) -> int:
        """The first seq whose rows may be missing for ``kernel_id``: resend from here.

        Every row of the kernel with a lower seq is stored; for a kernel attached without a WAL
        fill (``wal_fill=False``), rows its outbox dropped when it overflowed excepted
        (``stats().dropped``), and rows of inputs before its newest checkpoint that a crash left
        unwritten: once later rows are stored, it moves past them (read it before attaching to
        resend them). 1 when nothing is recorded. A ``kernel_id`` no kernel can have is refused
        (ValueError), as ``backfill`` refuses it.
        """
        check_kernel_id(kernel_id, "gap_start")
        return self._queries.gap_start(kernel_id)

    def _forget_kernel_locked(self, kernel_id: str, keep_marks: bool = False) -> None:
        """Drop what this journal knows about a kernel's dropped rows and refills; with
        ``keep_marks``, its drop marks stay and keep its progress below the rows missing."""
        self._fill.forget_locked(kernel_id)
        self._progress.forget_locked(kernel_id, keep_marks)

    # ------------------------------------------------------------------ detach and release

    def detach(self, kernel: ExecutionKernel, timeout: float | None = None) -> None:
        """Stop recording ``kernel``, then write everything it recorded.

        Recording stops first: rows a still-trading kernel made while the flush ran would
        otherwise stay in its outbox, never drained. A kernel this journal does not record is
        left alone: its outbox may be another journal's. Raises as :meth:`flush` does, but a
        refused kernel's :class:`JournalBlockedError` (see ``attach``) only for that kernel.
        """
        _check_timeout("detach", timeout)
        if not self.records(kernel):
            return
        try:
            try:
                last = self._kernels.stop_recording(kernel)
            except Exception:
                self._progress.note_drop_mark_unread(kernel.kernel_id)
                raise
            self._progress.note_last_drop_mark(kernel.kernel_id, last["journal_first_dropped_seq"])
            self._flush(timeout, refusals_of=[kernel.kernel_id])
            if self._settle_stopped([kernel.kernel_id]):
                self._flush(timeout, refusals_of=[kernel.kernel_id])  # records the progress
        except BaseException:
            # Rows may still be in its outbox: it stays with the drainer until that is empty
            # (then it goes), and no longer counts as a kernel this journal serves.
            with self._queue.cond:
                if any(k is kernel for _, k in self._kernels.attached):
                    self._kernels.leaving.add(kernel.kernel_id)
            raise
        with self._queue.cond:
            self._drop_kernel_locked(kernel)

    def _settle_stopped(self, kernel_ids: list[str]) -> bool:
        """After a flush stored every row of ``kernel_ids``: those released (input stopped)
        are stored up to their last seq, which the writer records as their progress (batches
        record one input less, as the last input's rows may still be coming, and none while
        a WAL fill runs). Not for a kernel whose fill failed: the gap stays for the next
        start. Whether any was set (a flush then records it)."""
        progress = self._progress
        stopped_seq = self._kernels.stopped_seq
        with self._queue.cond:
            stopped = {
                kid: stopped_seq.pop(kid)
                for kid in kernel_ids
                if kid in stopped_seq
                and kid not in progress.held_for_fill
                and not self._fill.filling[kid]
                and kid not in self._kernels.refused
            }
            for kid, seq in stopped.items():
                if seq > progress.settled_seq.get(kid, 0):
                    progress.to_record[kid] = max(seq, progress.to_record.get(kid, 0))
            self._queue.cond.notify_all()
            return any(kid in progress.to_record for kid in stopped)

    def _drop_kernel_locked(self, kernel: ExecutionKernel) -> None:
        kernel_id = kernel.kernel_id
        queue = self._queue
        rows_queued = any(c.kernel_id == kernel_id for c in (*queue.chunks, *queue.in_flight))
        self._kernels.remove_locked(kernel, rows_queued)
        self._progress.to_record.pop(kernel_id, None)  # one a failed fill still held
        self._drainer.forget_locked(kernel_id)
        # No refill starts for a kernel that left (a refill running ends on its own), but its
        # drop marks stay until a fill stores their rows: a kernel that leaves after a detach
        # gave up may have its last rows stored after it left, and without the marks its
        # progress would go past inputs whose rows were never stored, which a restart would
        # then never derive.
        self._forget_kernel_locked(kernel_id, keep_marks=True)

    def release(self, kernel: ExecutionKernel) -> None:
        """What ``ExecutionKernel.close()`` calls: write ``kernel``'s rows and stop recording it
        (up to ``close_timeout``) and, when it was the last kernel attached, close. Kernels
        sharing this journal keep it until the last closes."""
        kernels = self._kernels
        with self._queue.cond:
            # Marked in the same step as the check, so two kernels released at once cannot
            # both see the other and leave the journal open.
            if not any(k is kernel for _, k in kernels.attached):
                # Detached before: not served, the journal is its caller's now (moved to
                # another kernel, say), and this close must not close it.
                return
            kernels.releasing.add(kernel.kernel_id)
            # Its input is stopped (kernel.close()): every row it makes is in its outbox, and
            # those of inputs its log holds are drained (a log that failed keeps the later ones
            # out: a restart does not recover those inputs).
            through = kernel.journaled_through()
            stopped = kernel.seq if through is None else min(kernel.seq, through)
            kernels.stopped_seq[kernel.kernel_id] = stopped
            gone = kernels.releasing | kernels.leaving
            last = all(kid in gone for kid, _ in kernels.attached)
            # Closing from here, in the same step: an attach between this and close() would go
            # through, and close() then stop recording that kernel, its rows never written.
            self._closing = self._closing or last
        if last:
            try:
                self.close()
            except BaseException:
                with self._queue.cond:  # a Ctrl-C in the flush leaves the journal open, attaches too
                    self._closing = self._queue.closed
                raise
            return
        try:
            self.detach(kernel, self.settings.close_timeout)
        except (TimeoutError, RuntimeError) as exc:
            log.warning("releasing kernel %s with rows unwritten: %s", kernel.kernel_id, str(exc))

    # ------------------------------------------------------------------ flush

    def flush(self, timeout: float | None = None) -> None:
        """Drain every attached kernel and wait until ClickHouse holds all of it.

        Raises TimeoutError (naming the rows still waiting) when ``timeout`` passes first, and
        JournalBlockedError (naming the table and ClickHouse's error) at once when ClickHouse
        refuses the rows for a reason retrying alone does not cure; a blocked writer tries
        again first, so a cause fixed meanwhile is found. Either way the rows are kept and
        written later. On a closed journal nothing is written any more: it raises RuntimeError
        naming the rows close() left unwritten, and returns when there are none; so does a
        flush that was waiting when close() gave up, and one waiting when a journal thread
        died (RuntimeError naming it).

        A kernel attached while ClickHouse could not be read, and found then to be below the
        rows stored under its kernel_id (see ``attach``), has its rows held, none written:
        once every other row is written, this raises JournalBlockedError naming the kernel_id,
        the stored seq, the kernel's and what to do.
        """
        _check_timeout("flush", timeout)
        self._flush(timeout, refusals_of=None)

    def _flush(self, timeout: float | None, refusals_of: Collection[str] | None) -> None:
        """:meth:`flush`, raising the refusals of the kernels ``refusals_of`` only (None: of
        every kernel)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        queue = self._queue
        with queue.cond:
            kernels = [k for _, k in self._kernels.attached]
        for kernel in kernels:
            sync_log(kernel)  # its outbox hands out only what its log holds
        with queue.cond:
            if queue.closed and not self._writer.thread.is_alive():
                left = self._left_by_close_locked()
                if left is not None:
                    raise left
                return
            self._raise_if_a_thread_died_locked()
            queue.flushes_waiting += 1
            try:
                self._wait_stored_locked(timeout, deadline, refusals_of)
            finally:
                queue.flushes_waiting -= 1

    def _wait_stored_locked(
        self, timeout: float | None, deadline: float | None, refusals_of: Collection[str] | None
    ) -> None:
        """Ask the drainer for a flush and wait, holding the lock, until every row drained up
        to its answer is stored, and every WAL fill and refill due has ended."""
        queue = self._queue
        writer = self._writer.thread
        queue.flush_requested += 1
        mine = queue.flush_requested
        queue.cond.notify_all()
        after = self._backoff.ask_retry_locked()
        wait = self._backoff.wait_unblocked_locked
        # A writer that died leaves the queue full for good, and the drainer then never finds
        # the kernels empty: that flush would wait forever.
        if not wait(
            lambda: queue.flush_done >= mine or not self._drainer.thread.is_alive() or not writer.is_alive(),
            deadline,
            after,
        ):
            raise TimeoutError(
                f"journal flush timed out after {timeout}s while draining kernels "
                f"({queue.pending_rows} rows waiting for ClickHouse; "
                f"last error: {queue.stats.last_error!r})"
            )
        target = queue.flush_target
        if not wait(lambda: queue.settled_total >= target or not writer.is_alive(), deadline, after):
            raise TimeoutError(
                f"journal flush timed out after {timeout}s: {queue.pending_rows} rows still waiting "
                f"for ClickHouse ({self.target.display}); last error: {queue.stats.last_error!r}"
            )
        fill = self._fill
        if not wait(
            lambda: (
                not (fill.filling or self._progress.recording_due_locked() or fill.refill_waiting_locked())
                or not writer.is_alive()
            ),
            deadline,
            after,
        ):
            raise TimeoutError(
                f"journal flush timed out after {timeout}s while deriving rows again from the WAL "
                f"of {', '.join(fill.filling) or 'a kernel whose outbox dropped rows'}; "
                f"last error: {queue.stats.last_error!r}"
            )
        if not queue.closed:
            self._raise_if_a_thread_died_locked()
        elif queue.flush_done < mine or queue.settled_total < target or fill.filling:
            # close() gave up while this flush waited: its threads stopped, rows unwritten.
            raise self._closed_while_waiting_locked(queue.flush_done < mine)
        refused = self._kernels.refusal_error_locked(refusals_of)
        if refused is not None:
            raise refused

    def _left_by_close_locked(self) -> RuntimeError | None:
        """What a flush() on a closed journal raises: the rows close() left unwritten, if any."""
        queue = self._queue
        kernels = self._kernels
        if queue.pending_rows or kernels.left_in_outbox:
            left = f"; {kernels.left_text(kernels.left_in_outbox)}" if kernels.left_in_outbox else ""
            return RuntimeError(
                f"the journal is closed with "
                f"{queue.pending_rows + kernels.held_rows.total() + sum(kernels.left_in_outbox.values())} "
                f"rows unwritten{left}: ClickHouse ({self.target.display}) did not take them "
                f"before close() gave up; last error: {queue.stats.last_error!r}"
                + "".join(f"; {kernels.refusal_text_locked(kid)}" for kid in kernels.held_rows)
            )
        if kernels.held_rows:
            return RuntimeError(
                f"the journal is closed with {kernels.held_rows.total()} rows unwritten: "
                + "; ".join(kernels.refusal_text_locked(kid) for kid in kernels.held_rows)
            )
        return None

    def _closed_while_waiting_locked(self, undrained: bool) -> RuntimeError:
        """What a flush() gets when close() stopped the journal before its rows were written;
        ``undrained``: before the kernels' outboxes were emptied too."""
        left = [f"{self._queue.pending_rows} rows taken from the kernels are not written"]
        if undrained:
            left.append("rows still in the kernels' outboxes were not taken")
        if self._fill.filling:
            left.append(f"the WAL fill of {', '.join(self._fill.filling)} did not finish")
        return RuntimeError(
            f"the journal was closed while flush() waited: {'; '.join(left)}: ClickHouse "
            f"({self.target.display}) did not take them before close() gave up; "
            f"last error: {self._queue.stats.last_error!r}"
        )

    # ------------------------------------------------------------------ close

    def close(self) -> None:
        """Stop recording the kernels, flush (up to ``close_timeout``), stop the threads and
        release ClickHouse.

        Recording stops first, so every row a kernel still trading queued is drained; a kernel
        still attached (not being closed or detached) is named in a warning, as its later
        inputs are not journaled (with a WAL fill, the next attach derives them again).
        Rows ClickHouse did not take in time stay counted in ``stats().queued`` and are
        logged, and those never taken from a kernel's outbox (the queue was full) in
        ``stats().extra["undrained"]``; with a WAL they can be resent with :meth:`backfill`
        later (a WAL fill at the next attach derives them). A journal blocked
        (see :meth:`flush`) tries once more and closes without waiting out ``close_timeout``.
        A refused kernel's held rows (see ``attach``) stay counted too, and the refusal
        is logged; the other kernels' rows are written first. It does not raise for either:
        ``kernel.close()`` would leave its other components unreleased; a ``flush()`` after it
        raises naming the rows left. A second call waits for the first to finish.
        """
        with self._close_lock:
            self._close_once()

    def _close_once(self) -> None:
        if self._queue.closed:
            return
        with self._queue.cond:
            self._closing = True
        try:
            self._close_flush()
        except BaseException:
            with self._queue.cond:  # a Ctrl-C in the flush leaves the journal open, attaches too
                self._closing = False
            raise
        # The exit hook goes only now: after a Ctrl-C in the flush the journal stays open, and
        # without its hook its threads would die at exit with the rows still queued.
        hook, self._exit_hook = self._exit_hook, None
        if hook is not None:
            atexit.unregister(hook)
        self._stop()

    def _close_flush(self) -> None:
        """close() up to stopping its threads: stop recording every kernel, then flush."""
        self._kernels.stop_recording_all(warn=True)
        timeout = self.settings.close_timeout
        try:
            # The others' rows (and progress) first: a refused kernel's rows are not written.
            self._flush(timeout, refusals_of=())
            if self._settle_stopped([kid for kid, _ in self._kernels.attached]):
                self._flush(timeout, refusals_of=())  # records the progress
            with self._queue.cond:
                refused = self._kernels.refusal_error_locked(None)
            if refused is not None:
                raise refused  # logged below
        except (TimeoutError, RuntimeError) as exc:
            # The text only: a logged exception keeps this frame, and the kernels in it, alive.
            log.warning("closing journal with rows unwritten: %s", str(exc))

    def _stop(self) -> None:
        """close() from stopping its threads on: release ClickHouse."""
        self._kernels.close_in_process()
        queue = self._queue
        with queue.cond:
            queue.closed = True
            queue.stopping = True
            queue.cond.notify_all()
        queue.abort.set()
        with self._backoff.retry_cond:
            self._backoff.retry_cond.notify_all()  # a blocked writer waiting to try again
        self._drainer.thread.join(timeout=10)
        self._writer.thread.join(timeout=10)
        self._fill.join()
        self._kernels.stop_recording_all(warn=False)  # again: one attached while close() began (none now)
        self._kernels.count_left_in_outboxes()
        with queue.cond:
            for kernel_id, _ in self._kernels.attached:
                self._kernels.count_dropped_of_gone_locked(kernel_id)
            self._kernels.attached.clear()
        self._queries.release(self.settings.close_timeout)
        self._connection.close()

    def __enter__(self) -> ClickHouseJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ stats

    def stats(self) -> JournalStats:
        queue = self._queue
        kernels = self._kernels
        with queue.cond:
            s = JournalStats(**{k: v for k, v in vars(queue.stats).items() if k != "extra"})
            # Rows a refused kernel's check holds are drained and unwritten too; the parts of the
            # batch in flight already stored are not.
            s.queued = queue.pending_rows - queue.in_flight_stored + kernels.held_rows.total()
            now = time.monotonic()
            blocked = self._backoff.blocked
            s.blocked = "; ".join(
                [blocked.error] if blocked is not None else [r.error for r in kernels.refused.values()]
            )
            oldest = [
                t for t in (queue.in_flight_since, queue.chunks[0].drained_at if queue.chunks else None) if t
            ]
            s.lag_seconds = now - min(oldest) if oldest else 0.0
            attached = list(kernels.attached)
            s.extra = {
                **queue.counters,
                # The bytes of the rows queued and being written, about (see queue_bytes).
                "queued_bytes": queue.pending_bytes,
                "written_by_table": dict(self._writer.written_by_table),
                "last_write_latency_s": self._writer.last_write_latency,
                "kernels": [kid for kid, _ in attached],
                "leaving": sorted(kernels.leaving),
                "target": self.target.display,
                "connected": self._connection.client is not None,
                "settled_seq": dict(self._progress.settled_seq),
                # Kernels whose outbox dropped rows not derived again from the WAL yet.
                "dropped_not_refilled": sorted(
                    kid for kid, _ in attached if kid in self._progress.dropped_marks
                ),
                # Journal threads ended by an exception: nothing is written or drained any more.
                "threads_died": dict(self._died),
                # Rows close() left in the kernels' outboxes, never taken, per kernel.
                "undrained": dict(kernels.left_in_outbox),
                # What blocks the writer (stats().blocked): its table, ClickHouse's name for the
                # error and for how long; None and 0.0 while it is not blocked.
                "blocked_table": blocked.table if blocked is not None else None,
                "blocked_cause": blocked.cause if blocked is not None else None,
                "blocked_seconds": now - blocked.since if blocked is not None else 0.0,
                # Kernels attached unchecked and then refused (see attach): none of their rows
                # is written; those drained are held (in queued).
                "refused": {
                    kid: {"stored_seq": r.stored_seq, "seq": r.seq, "held_rows": kernels.held_rows[kid]}
                    for kid, r in kernels.refused.items()
                },
            }
        for _, kernel in attached:
            kernels.read_dropped(kernel)
        with queue.cond:
            s.dropped = kernels.dropped_locked()
        return s

    # ------------------------------------------------------------------ resend

    def backfill(
        self, kernel_id: str, rows: Mapping[str, Sequence[tuple[Any, ...]]], timeout: float | None = None
    ) -> BackfillResult:
        """Write rows re-sent from a WAL (same shape as ``drain_journal``) for ``kernel_id``.

        Idempotent on ``(kernel_id, seq, sub)``: rows already in ClickHouse, and a row given
        again in the same call, are counted in ``already_present`` and not written again (two
        different rows under one key are refused, ValueError, as is a ``kernel_id`` no kernel
        can have: more than 200 bytes, white space, NUL). Blocks until done or
        ``timeout``; raises JournalBlockedError as :meth:`flush` does (the rows stay queued
        either way).
        """
        _check_timeout("backfill", timeout)
        return self._backfill.send(kernel_id, rows, timeout)

    def rejected_rows(self) -> list[dict[str, Any]]:
        """Rows set aside because clickhouse-connect could not encode them (newest last): the
        newest 1,000; ``stats().extra["rejected_rows"]`` counts every one, and each was logged
        as an ERROR with its values when it was set aside."""
        with self._queue.cond:
            return list(self._writer.rejected)

    # ------------------------------------------------------------------ queries

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run one read-only query (SELECT/WITH/SHOW/DESCRIBE/EXISTS) on this journal."""
        return self._queries.query(sql, parameters)

    @property
    def query_address(self) -> str | None:
        """The Unix socket serving read-only SQL, when this journal serves one."""
        return self._queries.address

    # ------------------------------------------------------------------ the threads' health

    def _guarded(self, name: str, loop: Callable[[], None]) -> None:
        """Run a journal thread's loop; if anything ends it (a bug, a Rust panic), say so in
        stats() and make flush() raise, instead of the journal stopping in silence."""
        try:
            loop()
        except BaseException as exc:
            text = f"{type(exc).__name__}: {exc}"
            # The text only: a logged exception keeps the thread's frames, and kernels, alive.
            log.error("journal %s thread died: %s\n%s", name, text, traceback.format_exc())
            queue = self._queue
            with queue.cond:
                self._died[name] = text
                queue.stats.last_error = f"journal {name} thread died: {text}"
                if name == "writer":
                    queue.fail_completions_locked(
                        f"the journal's writer thread died ({text})", queue.in_flight
                    )
                    # Rows of its batch stored before it died are not among the rows left.
                    queue.count_in_flight_stored_locked()
                queue.cond.notify_all()

    def _check_open_locked(self) -> None:
        """Refuse new rows on a journal closed, or whose threads no longer write."""
        if self._queue.closed:
            raise RuntimeError("ClickHouseJournal is closed")
        self._raise_if_a_thread_died_locked()

    def _raise_if_a_thread_died_locked(self) -> None:
        if self._died:
            which = ", ".join(f"{name} ({why})" for name, why in self._died.items())
            raise RuntimeError(
                f"journal thread died: {which}; {self._queue.pending_rows} rows not written, and attached "
                "kernels' outboxes are no longer drained: close this journal and open a new one"
            )


def _close_at_exit(ref: weakref.ref[ClickHouseJournal]) -> None:
    """At interpreter exit, close a journal nobody closed, so the rows it was given are written."""
    journal = ref()
    if journal is None or journal._queue.closed:
        return
    before = journal.stats()
    log.warning(
        "journal %s was not closed: closing it at exit (kernels %s, %d rows queued, up to %ss)",
        journal.target.display,
        before.extra["kernels"],
        before.queued,
        journal.settings.close_timeout,
    )
    try:
        journal.close()
    except Exception as exc:
        log.error("closing journal %s at exit failed: %s", journal.target.display, str(exc))
        return
    after = journal.stats()
    log.warning(
        "journal %s closed at exit: %d rows written in all, %d not written",
        journal.target.display,
        after.written,
        after.queued,
    )


def attach_all(journal: ClickHouseJournal, kernels: Iterable[ExecutionKernel]) -> None:
    """Attach several kernels (convenience for runners that build kernels first)."""
    for kernel in kernels:
        journal.attach(kernel)
