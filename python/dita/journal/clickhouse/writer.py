"""The writer: a thread taking the queued rows in batches and inserting them into ClickHouse,
without loss and without duplicates.

A batch is taken when ``batch_rows`` rows wait or the oldest has waited ``max_delay`` (or a
burst's hold is over), and written one insert per (kernel, table) and ``batch_rows``. Drained
rows never become Python objects: the kernel encodes each block as a ClickHouse ``Native``
block with the GIL released and the writer hands the bytes to ``raw_insert``; rows handed to
``backfill`` go through the ordinary column insert.

A batch leaves the queue only once ClickHouse took it. Its retries carry an
``insert_deduplication_token`` (one per batch sent, the same for its retries) and check which
``(kernel_id, seq, sub)`` keys already landed, so a batch whose first attempt succeeded unseen
is not written twice; drained rows at or below the highest seq stored when the journal first
wrote for the kernel, and rows a refill or a backfill resends, get the same key check. A row
clickhouse-connect cannot encode is isolated by bisecting its batch and set aside.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from dita._kernel import JournalBlock
from dita.journal.clickhouse.backoff import Backoff
from dita.journal.clickhouse.connection import WriterConnection
from dita.journal.clickhouse.errors import Aborted, is_encoding_error, permanent_cause
from dita.journal.clickhouse.kernels import AttachedKernels
from dita.journal.clickhouse.progress import Progress
from dita.journal.clickhouse.queries import stored_seq_sql
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.clickhouse.rows import BackfillResult, Chunk, Rows, columns_for, concat
from dita.journal.clickhouse.wal_fill import WalFill
from dita.journal.priority import lower_thread_priority
from dita.journal.schema import TABLE_COLUMNS, quote_ident

__all__ = ["Writer"]

log = logging.getLogger(__package__)

# Rows set aside (rejected_rows()) kept for the caller, newest last.
_REJECTED_KEPT = 1000


class Writer:
    """The writer thread and what it keeps: the highest seq stored per (kernel, table), the
    batches sent, the rows set aside."""

    def __init__(
        self,
        queue: RowQueue,
        kernels: AttachedKernels,
        connection: WriterConnection,
        backoff: Backoff,
        progress: Progress,
        fill: WalFill,
        guard: Callable[[str, Callable[[], None]], None],
    ) -> None:
        self.queue = queue
        self.settings = queue.settings
        self.kernels = kernels
        self.connection = connection
        self.backoff = backoff
        self.progress = progress
        self.fill = fill
        # Per (kernel_id, table), the highest seq stored when the writer first wrote for it:
        # drained rows at or below it are checked key by key (a restart may have stored them).
        self.high_water_marks: dict[tuple[str, str], int] = {}
        # Each batch the writer sends (with its retries) gets its own deduplication token.
        self.token_prefix = os.urandom(6).hex()
        self.batches_sent = 0
        self.rejected: deque[dict[str, Any]] = deque(maxlen=_REJECTED_KEPT)
        self.written_by_table: dict[str, int] = dict.fromkeys(TABLE_COLUMNS, 0)
        self.last_write_latency = 0.0
        self.thread = threading.Thread(
            target=guard, args=("writer", self.run), name="dita-journal-writer", daemon=True
        )

    def forget_high_water_marks_locked(self, kernel_id: str) -> None:
        """High-water marks read for an earlier run of this kernel_id leave out the rows stored
        since: a re-run's rows must be checked against those too."""
        for table in TABLE_COLUMNS:
            self.high_water_marks.pop((kernel_id, table), None)

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        lower_thread_priority(self.settings.nice)
        queue = self.queue
        while True:
            with queue.cond:
                while not self._ready_locked():
                    if queue.stopping and not queue.chunks:
                        return
                    queue.cond.wait(max(0.001, self._wait_locked()))
                queue.writer_polling = True  # writing: it looks at the queue again after
                batch = list(queue.chunks)
                queue.chunks.clear()
                queue.in_flight = batch
                if batch:
                    queue.in_flight_since = batch[0].drained_at
            # With no batch: a finished fill's seq to record, a mark to read, a refill to start.
            try:
                held = self.write_batch(batch)
            except Aborted:
                self._aborted(batch)
                return
            self.progress.record(batch)
            lower_thread_priority(self.settings.nice)  # as after an insert: chDB reset it
            self.fill.start_refills()  # before the batch counts as settled, so flush() waits for it
            if not batch:
                with queue.cond:
                    queue.cond.notify_all()  # flush() waits for a finished fill's seq to be recorded
                continue
            with queue.cond:
                n = sum(len(c.rows) for c in batch) - held  # held rows left the queue's count already
                queue.settled_total += n
                queue.pending_rows -= n
                queue.pending_bytes -= sum(c.nbytes for c in batch)  # held chunks' are 0 by now
                queue.in_flight_stored = 0
                queue.in_flight_since = None
                queue.cond.notify_all()

    def _ready_locked(self) -> bool:
        queue = self.queue
        if not queue.chunks:
            # A finished fill's seq is recorded as progress even when no batch follows, and a
            # refill that came due starts.
            now = time.monotonic()
            return (
                self.progress.recording_due_locked()
                or bool(self.fill.refills_due_locked(now))
                or self.progress.marks_due_locked(now)
            )
        if queue.stopping or queue.flushes_waiting:
            return True
        now = time.monotonic()
        if queue.hold_left_locked(now) > 0:
            return False
        return (
            queue.pending_rows >= self.settings.batch_rows
            or now - queue.chunks[0].drained_at >= self.settings.max_delay
        )

    def _wait_locked(self) -> float:
        """How long the writer, not ready, waits before it looks again."""
        queue = self.queue
        now = time.monotonic()
        wait = self.settings.max_delay
        held = queue.hold_left_locked(now)
        queue.writer_polling = held > 0
        if held:  # look again when the burst may have ended, or when the hold does
            wait = min(self.settings.poll_interval, held)
        elif queue.chunks:
            wait = max(0.001, self.settings.max_delay - (now - queue.chunks[0].drained_at))
        if not queue.chunks:  # nothing to write: wake for a refill or a mark to read
            later = self.fill.refills_put_off_locked(now)
            if self.progress.marks_unread:
                later.append(self.progress.marks_read_at - now)
            wait = min([wait, *later])
        return wait

    def _aborted(self, batch: list[Chunk]) -> None:
        """The journal closed while ClickHouse did not take ``batch``."""
        queue = self.queue
        with queue.cond:
            # Parts of the batch stored before the close gave up are no longer queued.
            queue.count_in_flight_stored_locked()
            queue.stats.last_error = (
                f"closed with {queue.pending_rows} rows unwritten: {queue.stats.last_error}"
            )
            queue.fail_completions_locked("the journal was closed before ClickHouse took them", batch)
            queue.in_flight_since = None
            queue.cond.notify_all()

    # ------------------------------------------------------------------ a batch

    def write_batch(self, batch: list[Chunk]) -> int:
        """Write a batch; returns the rows of it held for a refused kernel (see ``attach``)."""
        # Group by (kernel, table, backfill call) keeping drain order; one insert per group and
        # batch_rows. Backfill rows get the key check; drained rows get it only below the
        # high-water mark, or up to where a refill derives rows too.
        groups: dict[tuple[str, str, int], list[Chunk]] = {}
        for chunk in batch:
            groups.setdefault((chunk.kernel_id, chunk.table, id(chunk.completion)), []).append(chunk)
        self.queue.in_flight_stored = 0
        held = 0
        for (kernel_id, table, _), chunks in groups.items():
            # A kernel attached unchecked is checked before any of its rows meets a key check.
            if not chunks[0].resend and not self._may_write(kernel_id, table):
                held += self._hold(kernel_id, chunks)
                continue
            self._write_group(kernel_id, table, chunks)
        return held

    def _write_group(self, kernel_id: str, table: str, chunks: list[Chunk]) -> None:
        rows = concat([c.rows for c in chunks])
        completion = chunks[0].completion
        batch_rows = self.settings.batch_rows
        for start in range(0, len(rows), batch_rows):
            part = rows.slice(start, start + batch_rows)
            cpu = time.thread_time()
            res = self._insert_part(kernel_id, table, part, completion is not None, chunks[0].drained_at)
            self.queue.share_gil(time.thread_time() - cpu)
            with self.queue.cond:
                # Counted as each part is done: a close that gives up later in the batch must not
                # report these rows as unwritten, nor stats() once a backfill of them returned.
                self.queue.in_flight_stored += len(part)
                if completion is not None:
                    completion.result.written += res.written
                    completion.result.already_present += res.already_present
                    completion.result.rejected += res.rejected
                    completion.remaining -= len(part)
                    if completion.remaining <= 0:
                        completion.done.set()
                        self.queue.cond.notify_all()  # backfill() waits on the condition

    def _may_write(self, kernel_id: str, table: str) -> bool:
        """Whether the kernel's rows may be written (False: refused, see ``attach``). One
        attached unchecked is checked first, asked until ClickHouse answers, as an insert is
        retried (for ``table``, whose rows wait on it)."""
        attempt = 0
        remade = False  # tables were made again for this check already
        while True:
            with self.queue.cond:
                if kernel_id in self.kernels.refused or kernel_id not in self.kernels.unchecked:
                    return kernel_id not in self.kernels.refused
                attempt_no = self.backoff.next_attempt()
            try:
                self.connection.ensure()
                allowed = self.kernels.check_unchecked(
                    kernel_id, functools.partial(self._stored_seq, kernel_id)
                )
            except Aborted:  # closed while a client was opened: not a failure to note
                raise
            except Exception as exc:
                error = f"{table}: {type(exc).__name__}: {exc} (reading the seq stored for {kernel_id})"
                with self.queue.cond:
                    self.queue.stats.last_error = error
                remade = self.failed(table, exc, error, attempt_no, attempt, remade) or remade
                attempt += 1
                continue
            finally:
                lower_thread_priority(self.settings.nice)
            if attempt:
                self.backoff.lift(table)
            return allowed

    def _stored_seq(self, kernel_id: str) -> int:
        """``Queries.read_stored_seq`` on the writer's own connection."""
        res = self.connection.client.query(stored_seq_sql(), parameters={"k": kernel_id})
        return int(res.result_rows[0][0] or 0)

    def _hold(self, kernel_id: str, chunks: list[Chunk]) -> int:
        """Keep a refused kernel's rows out of ClickHouse and of the queue's count (they take
        no room from the other kernels), still counted in ``stats().queued``; their number."""
        n = sum(len(c.rows) for c in chunks)
        queue = self.queue
        with queue.cond:
            self.kernels.held_rows[kernel_id] += n
            queue.pending_rows -= n
            queue.settled_total += n
            for chunk in chunks:  # out of the queue's count: they take no room
                queue.pending_bytes -= chunk.nbytes
                chunk.nbytes = 0
            for chunk in chunks:  # a WAL fill's (it checks first, so none in practice)
                if chunk.completion is not None and not chunk.completion.done.is_set():
                    chunk.completion.failed = self.kernels.refused[kernel_id].error
                    chunk.completion.done.set()
            queue.cond.notify_all()
        return n

    # ------------------------------------------------------------------ one insert, until it lands

    def _insert_part(
        self, kernel_id: str, table: str, rows: Rows, check: bool, drained_at: float
    ) -> BackfillResult:
        """Insert ``rows`` until ClickHouse takes them; returns what was written or skipped."""
        result = BackfillResult()
        work: list[tuple[Rows, bool]] = [(rows, check)]
        while work:
            part, must_check = work.pop()
            attempt = 0
            remade = False  # tables were made again for this part already
            # In the deduplication token: the retries of this part share it, a later send of
            # the same keys does not. ClickHouse keeps a table's last 1000 tokens also after
            # their rows are deleted, and would drop rows deleted and sent again as duplicates.
            self.batches_sent += 1
            send = f"{self.token_prefix}.{self.batches_sent}"
            while True:
                attempt_no = self.backoff.next_attempt()
                # Only an error of the insert (the rows' encoding) may set rows aside: one of
                # the key check's queries before it is no fault of the rows.
                inserting = False
                try:
                    self.connection.ensure()
                    first_key = part.first_key
                    if (
                        not must_check
                        and first_key
                        and first_key[0] <= self.queue.check_through.get(kernel_id, 0)
                    ):
                        must_check = True  # rows a refill or a backfill resends: it may have stored them
                    if (
                        not must_check
                        and first_key
                        and first_key[0] <= self._high_water_mark(kernel_id, table)
                    ):
                        must_check = True  # rows from before a restart: some may be stored already
                    todo = part
                    if must_check:
                        present = self.existing_keys(kernel_id, table, part)
                        todo = part.without(present) if present else part
                    if len(todo):
                        (s0, u0), (s1, u1) = todo.first_key or (0, 0), todo.last_key or (0, 0)
                        token = f"{kernel_id}/{table}/{s0}.{u0}/{s1}.{u1}/{len(todo)}/{send}"
                        inserting = True
                        self._insert(kernel_id, table, todo, token)
                    # Counted once the attempt went through: a failed one's check is made again.
                    result.written += len(todo)
                    result.already_present += len(part) - len(todo)
                    self._count_written(table, len(todo), len(part) - len(todo), drained_at)
                    self.backoff.lift(table)
                    break
                except Aborted:  # closed while a client was opened: not a failure to note
                    raise
                except Exception as exc:
                    error = f"{table}: {type(exc).__name__}: {exc}"
                    with self.queue.cond:
                        self.queue.stats.failed += 1
                        self.queue.stats.last_error = error
                    if inserting and is_encoding_error(exc):
                        if len(part) == 1:
                            self._reject(kernel_id, table, part.tuples()[0], exc)
                            result.rejected += 1
                            break
                        mid = len(part) // 2
                        # Halves go back on the stack: nothing of this part was sent.
                        work.append((part.slice(mid, len(part)), True))
                        work.append((part.slice(0, mid), True))
                        break
                    # The attempt may have landed before the error reached us: check keys next time.
                    must_check = True
                    remade = self.failed(table, exc, error, attempt_no, attempt, remade) or remade
                    attempt += 1
                finally:
                    # chDB ran queries and inserts on this thread at the journal's nice value,
                    # and set it back to nice 0 after each one.
                    lower_thread_priority(self.settings.nice)
        return result

    def _count_written(self, table: str, written: int, present: int, drained_at: float) -> None:
        with self.queue.cond:
            self.queue.stats.written += written
            self.written_by_table[table] += written
            self.queue.counters["batches"] += 1
            self.queue.counters["already_present"] += present
            self.last_write_latency = time.monotonic() - drained_at

    def _high_water_mark(self, kernel_id: str, table: str) -> int:
        key = (kernel_id, table)
        if key not in self.high_water_marks:
            res = self.connection.client.query(
                f"SELECT max(seq) FROM {quote_ident(table)} WHERE kernel_id = {{k:String}}",
                parameters={"k": kernel_id},
            )
            self.high_water_marks[key] = int(res.result_rows[0][0] or 0)
        return self.high_water_marks[key]

    def existing_keys(self, kernel_id: str, table: str, rows: Rows) -> set[tuple[int, int]]:
        """The ``(seq, sub)`` keys of ``rows``' seq range stored already."""
        seqs = rows.seq_range
        if seqs is None:
            return set()
        lo, hi = seqs
        res = self.connection.client.query(
            f"SELECT seq, sub FROM {quote_ident(table)} "
            "WHERE kernel_id = {k:String} AND seq BETWEEN {lo:UInt64} AND {hi:UInt64}",
            parameters={"k": kernel_id, "lo": lo, "hi": hi},
        )
        return {(int(s), int(u)) for s, u in res.result_rows}

    def _insert(self, kernel_id: str, table: str, rows: Rows, token: str) -> None:
        names = [n for n, _ in TABLE_COLUMNS[table]]
        # Tables are partitioned by month: a batch spanning more than 100 months (history
        # replayed, a long gap resent) is refused by default, and the retry would never end.
        settings = {"insert_deduplication_token": token, "max_partitions_per_insert_block": 0}
        client = self.connection.client
        if isinstance(rows, JournalBlock):
            # Native bytes made by the kernel with the GIL released, every column in its
            # table's type (LowCardinality ones as per-block dictionaries): nothing to convert.
            # A kernel's block never holds a key twice (one row per seq and sub), so the
            # ReplacingMergeTree merge of the block at insert (optimize_on_insert) would find
            # nothing to collapse: skipped, its work is saved on every burst chDB stores.
            client.raw_insert(
                table,
                column_names=names,
                insert_block=rows.encode(),
                settings={**settings, "optimize_on_insert": 0},
                fmt="Native",
            )
            return
        client.insert(
            table,
            columns_for(kernel_id, table, rows.tuples()),
            column_names=names,
            column_type_names=[t for _, t in TABLE_COLUMNS[table]],
            column_oriented=True,
            settings=settings,
        )

    def failed(
        self, table: str, exc: Exception, error: str, attempt_no: int, attempt: int, remade: bool
    ) -> bool:
        """Both of the writer's retry loops (an insert, an unchecked kernel's check) after their
        attempt ``attempt_no`` on ``table``, their ``attempt``-th retry, failed with ``exc``
        (``error`` names it): tables or the database ClickHouse said are missing are made again,
        a client that no longer answers is let go, and the failure is noted and waited out.
        ``remade``: tables were made again for this already (missing again, they could not
        be: a block). Returns whether anything was made again."""
        made, remake_error = self.connection.remake_if_missing(exc)
        # A table or database made again is tried at once; missing once more after that, it
        # could not be made after all.
        cause = None if made and not remade else permanent_cause(exc)
        if cause is not None and remake_error:
            error = f"{error}; making it again failed: {remake_error}"
        # Counted before the client is pinged (a query of its own), so stats() says the
        # failure as soon as it happened.
        self.backoff.note_failure(table, cause, error, attempt_no)
        if cause is None:
            self.connection.let_go_if_dead(exc, error)
        self.backoff.wait_after(cause, attempt_no, attempt)
        return made

    def _reject(self, kernel_id: str, table: str, row: tuple[Any, ...], exc: BaseException) -> None:
        """Set aside a row clickhouse-connect cannot encode: logged with its values, kept for
        ``rejected_rows()``."""
        names = [n for n, _ in TABLE_COLUMNS[table]][1:]
        record = {
            "kernel_id": kernel_id,
            "table": table,
            "row": dict(zip(names, row, strict=False)),
            "error": f"{type(exc).__name__}: {exc}",
        }
        log.error("journal row cannot be encoded and is set aside: %s", record)
        with self.queue.cond:
            self.rejected.append(record)
            self.queue.counters["rejected_rows"] += 1
