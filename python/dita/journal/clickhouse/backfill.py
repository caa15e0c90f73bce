"""Rows resent with ``ClickHouseJournal.backfill`` (from a write-ahead log, say): checked
before any of them is queued (a bad row refuses the whole call, naming the table, the row and
the value, so nothing of it is half written), queued with a key check, and waited for."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dita._text import kernel_id_flaw
from dita.control import GLOBAL
from dita.journal.clickhouse.backoff import Backoff
from dita.journal.clickhouse.queue import RowQueue
from dita.journal.clickhouse.rows import BackfillResult, Chunk, Completion, TupleRows, tuple_bytes
from dita.journal.schema import TABLE_COLUMNS

__all__ = ["Backfill", "check_kernel_id", "checked_rows"]

_SEQ_MAX = 2**64 - 1  # seq is UInt64, sub UInt32
_SUB_MAX = 2**32 - 1


class Backfill:
    """Sends resent rows through the queue and waits for the writer's answer.
    ``check_open_locked()`` raises when the journal takes no new rows (closed, a thread dead)."""

    def __init__(self, queue: RowQueue, backoff: Backoff, check_open_locked: Callable[[], None]) -> None:
        self.queue = queue
        self.backoff = backoff
        self.check_open_locked = check_open_locked

    def send(
        self, kernel_id: str, rows: Mapping[str, Sequence[tuple[Any, ...]]], timeout: float | None
    ) -> BackfillResult:
        """``ClickHouseJournal.backfill``, its timeout checked."""
        check_kernel_id(kernel_id)
        chunks, repeated = checked_rows(rows)
        total = sum(len(r) for _, r in chunks)
        completion = Completion(remaining=total)
        completion.result.already_present = repeated
        if total == 0:
            return completion.result
        # Sized before the lock: a resend of a million rows is tens of millions of steps.
        sizes = [tuple_bytes(r) for _, r in chunks]
        last_seq = max(row[0] for _, table_rows in chunks for row in table_rows)
        queue = self.queue
        with queue.cond:
            self.check_open_locked()
            # A generous resend may hold rows still waiting in the kernel's outbox: drained
            # after this backfill stored them, they get the key check, so none is stored twice.
            queue.check_drained_through_locked(kernel_id, last_seq)
            now = time.monotonic()
            for (table, table_rows), nbytes in zip(chunks, sizes, strict=True):
                queue.enqueue_locked(
                    Chunk(
                        kernel_id,
                        table,
                        TupleRows(table_rows),
                        now,
                        completion=completion,
                        resend=True,
                        nbytes=nbytes,
                    )
                )
            queue.flushes_waiting += 1  # write now rather than after max_delay
            queue.cond.notify_all()
            after = self.backoff.ask_retry_locked()
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            with queue.cond:
                if not self.backoff.wait_unblocked_locked(completion.done.is_set, deadline, after):
                    raise TimeoutError(
                        f"backfill of {total} rows timed out after {timeout}s "
                        f"({completion.remaining} not yet written); "
                        "they stay queued and will still be written"
                    )
        finally:
            with queue.cond:
                queue.flushes_waiting -= 1
        if completion.failed is not None:
            raise RuntimeError(
                f"backfill of {total} rows did not finish: {completion.failed} "
                f"({completion.remaining} rows not written; written so far: {completion.result})"
            )
        with queue.cond:
            queue.counters["backfilled"] += completion.result.written
        return completion.result


def check_kernel_id(kernel_id: object, method: str = "backfill") -> None:
    """Refuse a kernel_id no kernel can have (``Kernel::new``: 1 to 200 bytes of UTF-8 without
    white space, no NUL; not ``*``): rows stored under it would lie beside the kernel's, found by no
    query for it (a kernel_id read from a file with its line end, say). ``method``: the
    journal's method given it, named in the error."""
    if not isinstance(kernel_id, str) or not kernel_id:
        raise ValueError(f"{method} kernel_id must be a non-empty string, got {kernel_id!r}")
    if kernel_id_flaw(kernel_id) is not None:
        size = len(kernel_id.encode("utf-8", "surrogatepass"))
        raise ValueError(
            f"{method} kernel_id {kernel_id!r} ({size} bytes) is no kernel's: a kernel_id is 1 to 200 "
            "bytes of UTF-8 without white space or NUL"
        )
    if kernel_id == GLOBAL:
        raise ValueError(
            f"{method} kernel_id {kernel_id!r} is no kernel's: the control plane's entry for every kernel"
        )


def checked_rows(
    rows: Mapping[str, Sequence[tuple[Any, ...]]],
) -> tuple[list[tuple[str, list[tuple[Any, ...]]]], int]:
    """``rows`` (table -> row tuples) as (table, rows) pairs to queue, each key once, and the
    number of rows given again under a key the call holds already (written once)."""
    if not isinstance(rows, Mapping):
        raise TypeError(f"backfill rows must map table names to row tuples, got {type(rows).__name__}")
    chunks: list[tuple[str, list[tuple[Any, ...]]]] = []
    repeated = 0
    for table, table_rows in rows.items():
        if table not in TABLE_COLUMNS:
            raise ValueError(f"backfill table {table!r} is not a journal table ({', '.join(TABLE_COLUMNS)})")
        checked, again = _checked_table(table, table_rows)
        repeated += again
        if checked:
            chunks.append((table, checked))
    return chunks, repeated


def _checked_table(table: str, table_rows: Sequence[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], int]:
    width = len(TABLE_COLUMNS[table]) - 1
    checked: list[tuple[Any, ...]] = []
    repeated = 0
    first_of: dict[tuple[int, int], int] = {}  # key -> the index of its first row
    for i, row in enumerate(table_rows):
        if not isinstance(row, tuple | list) or len(row) != width:
            raise ValueError(
                f"backfill {table} row {i} must be a tuple of {width} values "
                f"({', '.join(n for n, _ in TABLE_COLUMNS[table][1:])}), got {row!r}"
            )
        # Within the columns (UInt64, UInt32): the writer would set a key beyond them aside,
        # unnamed, while the call's other rows are written.
        seq, sub = row[0], row[1]
        if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= _SEQ_MAX:
            raise ValueError(
                f"backfill {table} row {i} has seq {seq!r}; it must be an integer from 1 to {_SEQ_MAX}"
            )
        if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub <= _SUB_MAX:
            raise ValueError(
                f"backfill {table} row {i} has sub {sub!r}; it must be an integer from 0 to {_SUB_MAX}"
            )
        # One key, one row: a repeat (overlapping spans resent in one call) is written once;
        # two different rows under one key are the caller's error, not a choice.
        at = first_of.setdefault((seq, sub), i)
        if at != i:
            if not _same_row(table_rows[at], row):
                raise ValueError(
                    f"backfill {table} rows {at} and {i} both have seq {seq} sub {sub} and "
                    "differ; a key holds one row"
                )
            repeated += 1
            continue
        checked.append(tuple(row))
    return checked, repeated


def _same_row(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two rows hold the same values, a NaN equal to a NaN (a refused input's price)."""
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))
