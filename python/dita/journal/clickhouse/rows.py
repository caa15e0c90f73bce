"""The rows the journal moves: a kernel's native ``JournalBlock`` or rows given as tuples (a
backfill), the queued piece of one (kernel, table) they travel in, and the completion a
backfill call or a WAL fill waits on."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dita._kernel import JournalBlock
from dita.journal.schema import TABLE_COLUMNS

__all__ = [
    "BackfillResult",
    "Chunk",
    "Completion",
    "Rows",
    "TupleRows",
    "columns_for",
    "concat",
    "tuple_bytes",
]


@dataclass
class BackfillResult:
    """What a :meth:`ClickHouseJournal.backfill` call did."""

    written: int = 0
    already_present: int = 0
    rejected: int = 0


@dataclass
class Completion:
    """The writer's answer to one backfill call (or one chunk of a WAL fill): set once every
    row it handed over is stored, skipped as present or set aside."""

    remaining: int
    result: BackfillResult = field(default_factory=BackfillResult)
    done: threading.Event = field(default_factory=threading.Event)
    # Set when the writer stopped (closed, or died) with rows of this call unwritten.
    failed: str | None = None


class Rows(Protocol):
    """Rows of one (kernel, table) in seq order: a native ``JournalBlock`` (drained from a
    kernel, sent as a ClickHouse Native block) or :class:`TupleRows` (a backfill)."""

    def __len__(self) -> int: ...
    @property
    def first_key(self) -> tuple[int, int] | None: ...
    @property
    def last_key(self) -> tuple[int, int] | None: ...
    @property
    def seq_range(self) -> tuple[int, int] | None: ...
    def slice(self, start: int, stop: int) -> Rows: ...
    def without(self, keys: set[tuple[int, int]]) -> Rows: ...
    def tuples(self) -> list[tuple[Any, ...]]: ...


class TupleRows:
    """Rows as tuples in ``JOURNAL_COLUMNS`` order, with the interface of ``JournalBlock``."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def first_key(self) -> tuple[int, int] | None:
        return (self.rows[0][0], self.rows[0][1]) if self.rows else None

    @property
    def last_key(self) -> tuple[int, int] | None:
        return (self.rows[-1][0], self.rows[-1][1]) if self.rows else None

    @property
    def seq_range(self) -> tuple[int, int] | None:
        seqs = [r[0] for r in self.rows]
        return (min(seqs), max(seqs)) if seqs else None

    def slice(self, start: int, stop: int) -> TupleRows:
        return TupleRows(self.rows[start:stop])

    def without(self, keys: set[tuple[int, int]]) -> TupleRows:
        return TupleRows([r for r in self.rows if (r[0], r[1]) not in keys])

    def tuples(self) -> list[tuple[Any, ...]]:
        return list(self.rows)


def concat(parts: list[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    blocks = [p for p in parts if isinstance(p, JournalBlock)]
    if len(blocks) == len(parts):
        return JournalBlock.concat(blocks)
    return TupleRows([row for p in parts for row in p.tuples()])


@dataclass
class Chunk:
    """Rows of one (kernel, table) in the queue, as they were taken or handed over."""

    kernel_id: str
    table: str
    rows: Rows
    drained_at: float
    # What a backfill call or a WAL fill waits on; such rows get the key check, as some of
    # them may be stored already.
    completion: Completion | None = None
    # Rows handed to backfill(): the caller's resend, checked key by key and reported to it,
    # not the kernel's own rows (never held for a refused kernel).
    resend: bool = False
    # The bytes its rows take: exact for a block (``JournalBlock.nbytes``, read in O(1),
    # nothing encoded), about for tuples (tuple_bytes).
    nbytes: int = 0


def tuple_bytes(rows: Sequence[tuple[Any, ...]]) -> int:
    """About the bytes of rows given as tuples (a backfill): text and bytes at their length,
    any other value at 8 bytes."""
    return sum(sum(len(v) if isinstance(v, str | bytes) else 8 for v in row) for row in rows)


_TS_INDEX = 2  # (seq, sub, ts, ...) in every journal table
# DateTime64's range, 1900-01-01 to 2299-12-31 23:59:59.999999, in microseconds: beyond it
# ClickHouse and its clients can no longer read a row back (micros() in journal/native.rs).
_TS_MIN_MICROS = -2_208_988_800_000_000
_TS_MAX_MICROS = 10_413_791_999_999_999


def columns_for(kernel_id: str, table: str, rows: Sequence[tuple[Any, ...]]) -> list[Sequence[Any]]:
    """Rows given as tuples, as the columns clickhouse-connect inserts into ``table``."""
    cols: list[Sequence[Any]] = [[kernel_id] * len(rows), *zip(*rows, strict=True)]
    for i, (name, type_name) in enumerate(TABLE_COLUMNS[table]):
        if i and _is_text_type(type_name):
            cols[i] = _text_values(table, name, "Nullable(" in type_name, cols[i])
    # DateTime64(6) takes integer microseconds; the kernel gives float epoch seconds. A time
    # that is not finite (a refused input's; its details name it) is stored as the epoch,
    # one beyond the column's range at its nearer end, as the kernel's Native blocks do.
    cols[_TS_INDEX + 1] = [_ts_micros(t) for t in cols[_TS_INDEX + 1]]
    return cols


def _is_text_type(type_name: str) -> bool:
    """Whether a journal column of ``type_name`` holds text (String, maybe LowCardinality or
    Nullable)."""
    return type_name.replace("LowCardinality(", "").replace("Nullable(", "").rstrip(")") == "String"


def _text_values(table: str, name: str, nullable: bool, values: Sequence[Any]) -> Sequence[Any]:
    """A backfilled text column's ``values`` as clickhouse-connect takes them, or TypeError
    naming the column and a value it cannot take, so the writer sets that row aside.

    clickhouse-connect fails on a number (or text after bytes) in a String column with an
    AttributeError, which no retry cures and which reads as a failure that may pass: it would
    hold every later row of every kernel behind it. Text and bytes mixed are sent as bytes
    (UTF-8)."""
    kinds = set(map(type, values))  # one pass in C: a resend's columns hold millions of values
    if kinds <= ({str, type(None)} if nullable else {str}):
        return values
    out: list[Any] = []
    for v in values:
        if isinstance(v, str):
            out.append(v.encode("utf-8"))  # a lone surrogate raises: that row is set aside
        elif isinstance(v, bytes) or (v is None and nullable):
            out.append(v)
        else:
            raise TypeError(f"{table} column {name} takes text, got {type(v).__name__} {v!r:.200}")
    return out


def _ts_micros(t: float) -> int:
    if not math.isfinite(t):
        return 0
    return min(max(round(t * 1_000_000), _TS_MIN_MICROS), _TS_MAX_MICROS)
