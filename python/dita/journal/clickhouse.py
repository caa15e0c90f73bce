"""ClickHouseJournal: the kernel's journal in ClickHouse, embedded (chDB) or on a server.

Two background threads keep ClickHouse off the hot path:

- the *drainer* moves rows from each attached kernel's native outbox
  (``kernel.drain_journal_blocks``, one ``JournalBlock`` per table) into a bounded queue;
  when the queue is full it stops draining and rows wait in the kernel's own bounded
  outbox, so ``process_intent`` never waits;
- the *writer* batches queued rows per (kernel, table) by size and time and inserts them
  with clickhouse-connect, retrying with exponential backoff while ClickHouse is away; a
  client of its own that no longer answers (closed under it, its connection gone) is let go
  and a new one opened.
  Drained rows never become Python objects: the kernel encodes each batch as a ClickHouse
  ``Native`` block with the GIL released and the writer hands the bytes to ``raw_insert``.
  Rows handed to :meth:`ClickHouseJournal.backfill` go through the ordinary column insert.

No loss, no duplicates: a batch is only dropped from the queue once ClickHouse accepted it.
Retries carry an ``insert_deduplication_token`` (one per batch sent, the same for its
retries) and check which ``(kernel_id, seq, sub)`` keys already landed, so a batch whose
first attempt succeeded unseen is not written twice; rows drained after a restart at or
below the highest ``seq`` already stored, and rows handed to
:meth:`ClickHouseJournal.backfill` (a WAL resend), get the same key check. The tables are
ReplacingMergeTree on those keys, so ``FINAL`` collapses anything that slipped through
(two writers on one kernel id, say).

A row that clickhouse-connect cannot encode (a bug, not an outage) is isolated by bisecting
its batch and set aside in :meth:`ClickHouseJournal.rejected_rows`; everything else waits
for ClickHouse for as long as it takes. A refusal retrying alone does not cure (the table's
columns, a table that cannot be made again, the user's rights) blocks the writer: the rows
are kept and tried again slowly, and ``flush()`` raises :class:`JournalBlockedError` naming
the table and the error instead of waiting. A kernel attached while ClickHouse could not be
read is checked once it can, before any of its rows is: one whose rows would take stored
rows' keys has them held, never written, skipped or merged, and ``flush()`` raises the same
error naming it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import math
import os
import struct
import threading
import time
import traceback
import weakref
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from clickhouse_connect.driver.exceptions import OperationalError

from dita._kernel import JournalBlock, WalError
from dita._text import kernel_id_flaw
from dita.journal import JournalStats, sole_journal, sync_log
from dita.journal.dsn import JournalTarget, default_dsn, parse_dsn
from dita.journal.priority import lower_thread_priority
from dita.journal.query import (
    QUERY_WAIT_SECONDS,
    QueryResult,
    QueryServer,
    ServerClosed,
    chdb_holder,
    execute,
    held_by_a_query,
    is_wait_seconds,
    open_read_only_client,
    run_query,
)
from dita.journal.schema import (
    PROGRESS_TABLE,
    TABLE_COLUMNS,
    NewerSchemaError,
    check_kernel_columns,
    migrate,
    quote_ident,
    restore_missing_tables,
)

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["BackfillResult", "ClickHouseJournal", "JournalBlockedError"]

log = logging.getLogger(__name__)


def _query_holding(directory: Path) -> str | None:
    """The holder of ``directory`` (``chdb_holder``'s "pid N") when it is a `dita journal`
    query that opened the directory itself (``held_by_a_query``); None otherwise."""
    holder = chdb_holder(directory)
    return holder if holder and held_by_a_query(directory, holder) else None


def _wait_for_a_query(directory: Path, deadline: float, poll: float = 0.2) -> None:
    """Waits, until ``deadline`` (``time.monotonic()``), while a `dita journal` query that
    opened ``directory`` itself holds it (chDB lets one process have a directory): an
    operator's query of a stopped kernel's journal must not keep the kernel from starting
    again. Another holder (a kernel that took the directory once the query ended) ends the
    wait at once: it is no query, and will not let go."""
    holder = _query_holding(directory)
    if holder is None:
        return
    log.warning(
        "journal directory %s is held by a `dita journal` query (%s): waiting up to %.0f s for it to end",
        directory,
        holder,
        max(deadline - time.monotonic(), 0.0),
    )
    while time.monotonic() < deadline and _query_holding(directory) is not None:
        time.sleep(poll)


_TS_INDEX = 2  # (seq, sub, ts, ...) in every journal table
_SEQ_MAX = 2**64 - 1  # seq is UInt64, sub UInt32
_SUB_MAX = 2**32 - 1
_REJECTED_KEPT = 1000
# The journals open in this process: a kernel_id one of them records on a database is refused
# by the others on that database (attach), as their rows would take the same keys.
_open_journals: weakref.WeakSet[ClickHouseJournal] = weakref.WeakSet()
_open_journals_lock = threading.Lock()
# A failure that lasts, or an outbox that keeps dropping rows, is logged again at most this
# often (seconds); the journal reads its kernels' drop counts every _DROPS_READ_EVERY.
_LOG_EVERY = 60.0
_DROPS_READ_EVERY = 1.0


def _block_bytes(block: JournalBlock) -> int:
    """The bytes ``block``'s rows take (``JournalBlock.nbytes``: exact, read in O(1), nothing
    encoded). An estimate from a sample of its rows counted a block whose large rows lay
    between the sampled ones as small, take after take, and the queue outgrew its bound."""
    return block.nbytes


def _tuple_bytes(rows: Sequence[tuple[Any, ...]]) -> int:
    """About the bytes of rows given as tuples (a backfill): text and bytes at their length,
    any other value at 8 bytes."""
    return sum(sum(len(v) if isinstance(v, str | bytes) else 8 for v in row) for row in rows)


def _stored_seq_sql() -> str:
    """The highest seq stored for the kernel_id ``{k:String}`` over every journal table."""
    union = " UNION ALL ".join(
        f"SELECT max(seq) AS s FROM {quote_ident(t)} WHERE kernel_id = {{k:String}}" for t in TABLE_COLUMNS
    )
    return f"SELECT max(s) FROM ({union})"


@dataclass
class BackfillResult:
    """What a :meth:`ClickHouseJournal.backfill` call did."""

    written: int = 0
    already_present: int = 0
    rejected: int = 0


@dataclass
class _Ticket:
    """Completion of one backfill call, settled by the writer."""

    remaining: int
    result: BackfillResult = field(default_factory=BackfillResult)
    done: threading.Event = field(default_factory=threading.Event)
    # Set when the writer stopped (closed, or died) with rows of this call unwritten.
    failed: str | None = None


class _Rows(Protocol):
    """Rows of one (kernel, table) in seq order: a native ``JournalBlock`` (drained from a
    kernel, sent as a ClickHouse Native block) or :class:`_TupleRows` (a backfill)."""

    def __len__(self) -> int: ...
    @property
    def first_key(self) -> tuple[int, int] | None: ...
    @property
    def last_key(self) -> tuple[int, int] | None: ...
    @property
    def seq_range(self) -> tuple[int, int] | None: ...
    def slice(self, start: int, stop: int) -> _Rows: ...
    def without(self, keys: set[tuple[int, int]]) -> _Rows: ...
    def tuples(self) -> list[tuple[Any, ...]]: ...


class _TupleRows:
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

    def slice(self, start: int, stop: int) -> _TupleRows:
        return _TupleRows(self.rows[start:stop])

    def without(self, keys: set[tuple[int, int]]) -> _TupleRows:
        return _TupleRows([r for r in self.rows if (r[0], r[1]) not in keys])

    def tuples(self) -> list[tuple[Any, ...]]:
        return list(self.rows)


def _concat(parts: list[_Rows]) -> _Rows:
    if len(parts) == 1:
        return parts[0]
    blocks = [p for p in parts if isinstance(p, JournalBlock)]
    if len(blocks) == len(parts):
        return JournalBlock.concat(blocks)
    return _TupleRows([row for p in parts for row in p.tuples()])


@dataclass
class _Chunk:
    kernel_id: str
    table: str
    rows: _Rows
    drained_at: float
    check_existing: bool = False
    ticket: _Ticket | None = None
    # Rows handed to backfill(): the caller's resend, checked key by key and reported to it,
    # not the kernel's own rows (never held for a refused kernel).
    resend: bool = False
    nbytes: int = 0  # the bytes its rows take (_block_bytes; about, for _tuple_bytes)


class _Unreachable(OperationalError):
    """A ClickHouse server that cannot be reached right now (the writer keeps trying)."""


class _Aborted(Exception):
    """The journal is closing and gave up waiting for ClickHouse."""


class JournalBlockedError(RuntimeError):
    """ClickHouse refuses the journal's inserts for a reason that retrying alone does not cure
    (the table's schema, the user's rights, the credentials): raised by ``flush()`` (so
    ``detach()``) and ``backfill()`` instead of waiting. The rows are kept and written once the
    cause is fixed; ``stats().blocked`` says what it is. Also raised by ``flush()`` when the
    journal holds a kernel's rows because writing them under its kernel_id would lose them
    (a kernel attached while ClickHouse could not be read, see ``attach``)."""


# ClickHouse errors an insert of the journal's own rows cannot get past by being sent again:
# the table does not take them (a column missing or of another type, a constraint), it or
# its database is missing and could not be made again, or the user may not write. Anything
# else (no answer, a timeout, an overloaded or restarting server, memory, a full disk, a
# replica gone read-only) is taken to pass. Codes, as the real engine names them (a test
# asks it): either way rows are kept; this only decides how often to try and how loudly.
_PERMANENT_ERRORS = {
    6: "CANNOT_PARSE_TEXT",
    8: "THERE_IS_NO_COLUMN",
    10: "NOT_FOUND_COLUMN_IN_BLOCK",
    16: "NO_SUCH_COLUMN_IN_TABLE",
    20: "NUMBER_OF_COLUMNS_DOESNT_MATCH",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    38: "CANNOT_PARSE_DATE",
    41: "CANNOT_PARSE_DATETIME",
    43: "ILLEGAL_TYPE_OF_ARGUMENT",
    44: "ILLEGAL_COLUMN",
    47: "UNKNOWN_IDENTIFIER",
    53: "TYPE_MISMATCH",
    60: "UNKNOWN_TABLE",
    70: "CANNOT_CONVERT_TYPE",
    72: "CANNOT_PARSE_NUMBER",
    81: "UNKNOWN_DATABASE",
    117: "INCORRECT_DATA",
    164: "READONLY",
    192: "UNKNOWN_USER",
    193: "WRONG_PASSWORD",
    194: "REQUIRED_PASSWORD",
    195: "IP_ADDRESS_NOT_ALLOWED",
    291: "DATABASE_ACCESS_DENIED",
    349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
    469: "VIOLATED_CONSTRAINT",
    497: "ACCESS_DENIED",
    516: "AUTHENTICATION_FAILED",
}
_PERMANENT_NAMES = frozenset(_PERMANENT_ERRORS.values())
# The writer's own refusal, met when it connects again (ClickHouse was away, or its client no
# longer answered): a newer dita migrated the database meanwhile. Retrying cannot cure it either.
_NEWER_SCHEMA = "NEWER_SCHEMA"


def _permanent_cause(exc: BaseException) -> str | None:
    """The ClickHouse error's name when ``exc`` (or an error it was raised from) is one that
    sending the rows again cannot get past (``_PERMANENT_ERRORS``), ``NEWER_SCHEMA`` for a
    database a newer dita migrated; None for anything else."""
    from clickhouse_connect.driver.exceptions import Error

    seen: BaseException | None = exc
    for _ in range(5):  # an error re-raised "from" the client's (reconnecting) names it as cause
        if seen is None:
            return None
        if isinstance(seen, NewerSchemaError):
            return _NEWER_SCHEMA
        if isinstance(seen, Error):
            if seen.code is not None:
                return _PERMANENT_ERRORS.get(seen.code)
            if seen.name in _PERMANENT_NAMES:  # no code given, the server's name for it
                return seen.name
        seen = seen.__cause__
    return None


def _answered_by_clickhouse(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is one ClickHouse sent: it names a
    ClickHouse error code or name. A client's own error (closed, no connection) names none."""
    from clickhouse_connect.driver.exceptions import Error

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, Error) and (seen.code is not None or seen.name):
            return True
        seen = seen.__cause__
    return False


@dataclass
class _Blocked:
    """The writer's latest attempt failed for a permanent reason (``_permanent_cause``)."""

    table: str
    cause: str  # the ClickHouse error's name
    error: str  # "<table>: <type>: <text>", what last_error says
    since: float  # time.monotonic() of the first such failure in a row
    attempt: int  # the writer's attempt that failed so most recently


@dataclass
class _Unchecked:
    """A kernel attached while the rows stored under its kernel_id could not be read."""

    seq: int  # the kernel's seq when it was attached
    wal_dir: str | None  # its write-ahead log's directory; None without one


@dataclass
class _Refused:
    """A kernel attached unchecked whose seq was below the rows stored under its kernel_id:
    its rows are held, none written."""

    stored_seq: int
    seq: int  # the kernel's seq when it was attached
    error: str  # why, and what to do: what flush() raises and stats().blocked says


@dataclass
class _Failing:
    """The writer's attempts fail for a reason that may pass, since ``since``."""

    since: float
    failures: int = 0
    logged: bool = False  # a warning said so (its recovery is then logged too)


def _is_encoding_error(exc: BaseException) -> bool:
    """True for errors the rows themselves cause (a value its column cannot take: the same
    every time), so the batch is split to set the bad rows aside. Anything else (the server,
    the network, a full disk, memory) is retried with backoff: rows are never set aside for
    a failure that may pass."""
    from clickhouse_connect.driver.exceptions import ClickHouseError, DataError

    if isinstance(exc, DataError):
        return True
    return isinstance(exc, ValueError | TypeError | OverflowError | struct.error) and not isinstance(
        exc, ClickHouseError
    )


def _same_row(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two rows hold the same values, a NaN equal to a NaN (a refused input's price)."""
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))


def _positive(name: str, value: float, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"ClickHouseJournal {name} must be a positive number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ValueError(f"ClickHouseJournal {name} must be a positive integer, got {value!r}")
    if not integer and not value <= threading.TIMEOUT_MAX:
        # Seconds a thread waits for: an infinite or larger wait makes the wait raise and the
        # thread die.
        raise ValueError(
            f"ClickHouseJournal {name} must be a finite number of seconds up to "
            f"{threading.TIMEOUT_MAX:g}, got {value!r}"
        )


def _check_kernel_id(kernel_id: object) -> None:
    """Refuse, for backfill(), a kernel_id no kernel can have (``Kernel::new``: 1 to 200 bytes of
    UTF-8 without white space, no NUL): rows stored under it would lie beside the kernel's,
    found by no query for it (a kernel_id read from a file with its line end, say)."""
    if not isinstance(kernel_id, str) or not kernel_id:
        raise ValueError(f"backfill kernel_id must be a non-empty string, got {kernel_id!r}")
    if kernel_id_flaw(kernel_id) is not None:
        size = len(kernel_id.encode("utf-8", "surrogatepass"))
        raise ValueError(
            f"backfill kernel_id {kernel_id!r} ({size} bytes) is no kernel's: a kernel_id is 1 to 200 "
            "bytes of UTF-8 without white space or NUL"
        )


def _outbox_dropped(kernel: ExecutionKernel) -> int | None:
    """The rows ``kernel``'s outbox has dropped for lack of room in its life, or None when its
    stats cannot be read."""
    try:
        return int(kernel.stats().get("journal_dropped") or 0)
    except Exception:
        log.debug("kernel stats unavailable", exc_info=True)
        return None


def _check_timeout(method: str, timeout: object) -> None:
    """A caller's ``timeout``: None (no limit) or seconds a wait can take. Checked before the
    call does anything: a bad one found later would leave it half done."""
    if timeout is not None and not is_wait_seconds(timeout, zero=True):
        raise ValueError(
            f"ClickHouseJournal.{method} timeout must be None or a number of seconds from 0 to "
            f"{threading.TIMEOUT_MAX:g}, got {timeout!r}"
        )


# DateTime64's range, 1900-01-01 to 2299-12-31 23:59:59.999999, in microseconds: beyond it
# ClickHouse and its clients can no longer read a row back (micros() in journal/native.rs).
_TS_MIN_MICROS = -2_208_988_800_000_000
_TS_MAX_MICROS = 10_413_791_999_999_999


def _is_text_type(type_name: str) -> bool:
    """Whether a journal column of ``type_name`` holds text (String, maybe LowCardinality or
    Nullable)."""
    return type_name.replace("LowCardinality(", "").replace("Nullable(", "").rstrip(")") == "String"


def _text_values(table: str, name: str, nullable: bool, values: Sequence[Any]) -> Sequence[Any]:
    """A backfilled text column's ``values`` as clickhouse-connect takes them, or TypeError
    naming the column and a value it cannot take, so the writer sets that row aside.

    clickhouse-connect fails on a number (or text after bytes) in a String column with an
    AttributeError, which no retry cures: taken for a failure that may pass, it held every later
    row of every kernel behind it for good. Text and bytes mixed are sent as bytes (UTF-8)."""
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
        for name, value, integer in (
            ("batch_rows", batch_rows, True),
            ("max_delay", max_delay, False),
            ("queue_rows", queue_rows, True),
            ("queue_bytes", queue_bytes, True),
            ("drain_rows", drain_rows, True),
            ("poll_interval", poll_interval, False),
            ("retry_initial", retry_initial, False),
            ("retry_max", retry_max, False),
            ("retry_blocked", retry_blocked, False),
            ("close_timeout", close_timeout, False),
        ):
            _positive(name, value, integer)
        if burst_hold is not None:
            _positive("burst_hold", burst_hold)
        if gil_budget is not None and (
            isinstance(gil_budget, bool) or not isinstance(gil_budget, int | float) or not 0 < gil_budget <= 1
        ):
            raise ValueError(f"ClickHouseJournal gil_budget must be in (0, 1] or None, got {gil_budget!r}")
        for name, flag in (
            ("serve_sql", serve_sql),
            ("wal_fill", wal_fill),
            ("refill_dropped", refill_dropped),
        ):
            if not isinstance(flag, bool):
                raise ValueError(f"ClickHouseJournal {name} must be True or False, got {flag!r}")
        if nice is not None and (isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19):
            raise ValueError(f"ClickHouseJournal nice must be an int from 0 to 19 or None, got {nice!r}")
        if retry_max < retry_initial:
            raise ValueError(
                f"ClickHouseJournal retry_max ({retry_max!r}) must not be below "
                f"retry_initial ({retry_initial!r})"
            )
        self.target: JournalTarget = parse_dsn(dsn if dsn is not None else default_dsn())
        self.batch_rows = batch_rows
        self.max_delay = float(max_delay)
        self.queue_rows = queue_rows
        self.queue_bytes = queue_bytes
        self.drain_rows = drain_rows
        self.poll_interval = float(poll_interval)
        self.retry_initial = float(retry_initial)
        self.retry_max = float(retry_max)
        self.retry_blocked = float(retry_blocked)
        self.close_timeout = float(close_timeout)
        self.gil_budget = None if gil_budget is None else float(gil_budget)
        self.burst_hold = None if burst_hold is None else float(burst_hold)
        self.wal_fill = wal_fill
        self.refill_dropped = refill_dropped
        self.nice = nice

        self._stats = JournalStats()
        self._client: Any = None
        try:
            self._client = self._open_writer_client()
        except _Unreachable as exc:
            # A server that is down must not stop the kernel from starting: the writer keeps
            # trying to connect (and migrate) while rows wait in the queue and the outbox.
            self._stats.last_error = str(exc)
            log.warning("%s; the journal will keep trying", exc)
        self._server: QueryServer | None = None
        self._reader: Any = None
        self._reader_lock = threading.Lock()
        self._close_lock = threading.RLock()
        try:
            if serve_sql and self.target.kind == "chdb":
                self._server = QueryServer.acquire(self.target, nice=self.nice)
        except BaseException:
            if self._client is not None:
                self._client.close()
            raise

        lock = threading.RLock()
        self._cond = threading.Condition(lock)
        # A blocked writer waits on this one (the same lock) between its slow retries: woken by
        # flush(), backfill() and close(), not by every take of the drainer.
        self._retry_cond = threading.Condition(lock)
        # The writer's insert attempts so far; the latest attempt a flush() or backfill() wants
        # followed by a prompt one (a blocked writer then does not wait retry_blocked).
        self._attempt_no = 0
        self._retry_wanted = 0
        self._blocked: _Blocked | None = None
        # Kernels attached while ClickHouse could not be read: checked before any of their rows
        # is written. Those the check refused, and the number of their rows held (taken from
        # the queue, never written).
        self._unchecked: dict[str, _Unchecked] = {}
        self._refused: dict[str, _Refused] = {}
        self._held_rows: Counter[str] = Counter()
        # The writer's current run of failures that may pass; when one was last logged.
        self._failing: _Failing | None = None
        self._failure_logged_at = -math.inf
        self._queue: deque[_Chunk] = deque()
        # (monotonic time, rows) of the drainer's takes within the last max_delay: a burst's
        # measure (see burst_hold).
        self._recent_drains: deque[tuple[float, int]] = deque()
        self._recent_rows = 0  # their rows' sum
        # The writer is writing, or waits at most poll_interval because a burst is held: it
        # looks at the queue again soon by itself, and the drainer need not wake it per take.
        self._writer_looks_soon = False
        self._kernels: list[tuple[str, ExecutionKernel]] = []
        # Kernels detached while rows were still in their outboxes: drained until empty, then
        # dropped by the drainer.
        self._leaving: set[str] = set()
        # Kernels being released (kernel.close()): still served in full, refills included,
        # but no longer counted when another release asks whether it is the last.
        self._releasing: set[str] = set()
        self._columns_checked = False
        self._pending_rows = 0  # queued + being written
        self._pending_bytes = 0  # their bytes, about (_Chunk.nbytes)
        # Per (kernel_id, table), the bytes a row of its latest drained block took, about: a
        # take is cut to the queue's byte room before its rows are seen.
        self._row_bytes: dict[tuple[str, str], float] = {}
        self._inflight_since: float | None = None
        self._enqueued_total = 0
        self._settled_total = 0
        self._flush_requested = 0
        self._flush_done = 0
        self._flush_target = 0
        self._flushers = 0
        self._stopping = False
        self._abort = threading.Event()
        # close() has begun (set under the lock before it stops recording): attach refuses from
        # then on, as nothing would drain a kernel attached after that.
        self._closing = False
        self._closed = False
        self._hwm: dict[tuple[str, str], int] = {}
        # Each batch the writer sends (with its retries) gets its own deduplication token.
        self._token_prefix = os.urandom(6).hex()
        self._sends = 0
        self._settled_seq: dict[str, int] = {}
        self._rejected: deque[dict[str, Any]] = deque(maxlen=_REJECTED_KEPT)
        self._written_by_table: dict[str, int] = dict.fromkeys(TABLE_COLUMNS, 0)
        self._counters = {
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
        # The writer let go of a client that no longer answered: the next one opened replaces it.
        self._client_lost = False
        # Kernels whose earlier rows are being derived again from their WAL (flush waits for
        # them), and kernels whose progress is not recorded until such a fill is stored: from
        # attach on, and for good when the fill failed, so a later start looks again.
        self._filling: Counter[str] = Counter()
        self._progress_held: set[str] = set()
        # The last seq a finished fill stored, recorded as progress by the writer (at once,
        # and with the next batch if that failed).
        self._progress_floor: dict[str, int] = {}
        self._floor_retry: dict[str, int] = {}
        # Kernels being released (their input stopped), with their last seq: once their rows
        # are stored, that seq is their progress.
        self._stopped_seq: dict[str, int] = {}
        # Kernels attached with a WAL fill: their progress also stops at a dropped input.
        self._fillable: set[str] = set()
        self._fill_threads: list[threading.Thread] = []
        # Per kernel, every drop mark seen while attached here that no fill has covered yet
        # (a mark read during a refill lies above its span and outlives it); the smallest is
        # the oldest input whose rows are missing. Never an empty set.
        self._dropped_marks: dict[str, set[int]] = {}
        # Fillable kernels whose mark could not be read after their last batch (busy): read
        # again from poll to poll, and flush() waits until it was.
        self._marks_unread: set[str] = set()
        self._marks_retry_at = 0.0
        # Per kernel, no refill of dropped rows before this time.monotonic() (the kernel was
        # busy, or the last refill failed: then the failures in a row, for the backoff).
        self._refill_after: dict[str, float] = {}
        self._refill_failures: Counter[str] = Counter()
        # Per kernel, drained rows up to this seq are checked key by key before they are
        # written: a refill derives them too, and may have stored them first.
        self._check_through: dict[str, int] = {}
        self._last_write_latency = 0.0
        # stats().dropped, a running total: per attached kernel its outbox's drop count when it
        # was attached and the latest one read; the drops of kernels that have left.
        self._dropped_at_attach: dict[str, int] = {}
        self._dropped_read: dict[str, int] = {}
        self._dropped_by_gone = 0
        # Per attached kernel, the drops last logged (its count since attach) and when.
        self._drops_told: dict[str, tuple[int, float]] = {}

        self._died: dict[str, str] = {}  # thread -> the exception that ended it
        # Per kernel, the rows close() left in its outbox, never taken (the queue was full while
        # ClickHouse did not take rows): not in stats().queued, so counted here.
        self._undrained: dict[str, int] = {}
        self._taken: list[_Chunk] = []  # the writer's batch in hand
        self._take_settled = 0  # rows of that batch stored (or set aside) so far
        self._writer = threading.Thread(
            target=self._guarded, args=("writer", self._writer_loop), name="dita-journal-writer", daemon=True
        )
        self._drainer = threading.Thread(
            target=self._guarded,
            args=("drainer", self._drainer_loop),
            name="dita-journal-drainer",
            daemon=True,
        )
        self._writer.start()
        self._drainer.start()
        # The threads are daemons: a process that exits without close() would stop them
        # mid-write. This hook closes the journal first; it holds only a weak reference.
        self._exit_hook: Callable[[], None] | None = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._exit_hook)
        with _open_journals_lock:
            _open_journals.add(self)

    # ------------------------------------------------------------------ setup

    def _open_writer_client(self) -> Any:
        made: list[Path] = []  # directories made here for an embedded journal, deepest first
        if self.target.kind == "chdb":
            assert self.target.path is not None
            made = [p for p in (self.target.path, *self.target.path.parents) if not p.exists()]
            try:
                self.target.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file of that name, a read-only file system: name them
                for directory in made:
                    with contextlib.suppress(OSError):
                        directory.rmdir()
                what = (
                    "is a file, not a directory"
                    if self.target.path.is_file()
                    else f"cannot be made ({exc.strerror}: {exc.filename})"
                )
                raise RuntimeError(
                    f"journal directory {self.target.path} {what}: the kernel's journal writes there"
                ) from exc
        niced = self.nice is not None and self.target.kind == "chdb"
        # Not above the process's own nice value (a higher priority than the strategy's).
        nice = max(self.nice or 0, os.getpriority(os.PRIO_PROCESS, 0))
        # Threads of our own engine that merge parts, taken when the engine is opened.
        chdb_options = {"os_threads_nice_value_merge_mutate": nice} if niced else None
        if self.target.kind == "chdb":
            assert self.target.path is not None
            if not os.access(self.target.path, os.W_OK | os.X_OK):
                # chDB's own error says only "Error initializing EmbeddedServer".
                raise RuntimeError(
                    f"journal directory {self.target.path} is not writable (a read-only file "
                    "system, or its permissions): the kernel's journal writes there"
                )
        # One deadline for the whole wait: a query may take the directory between a wait that
        # found it free and the open, and is then waited for too, never refused at once.
        deadline = time.monotonic() + QUERY_WAIT_SECONDS
        while True:
            if self.target.kind == "chdb":
                assert self.target.path is not None
                _wait_for_a_query(self.target.path, deadline)
            try:
                client = self.target.connect(chdb_options=chdb_options)
                break
            except Exception as exc:
                held = self._held_by_a_query()
                if held and time.monotonic() < deadline:
                    continue
                self._connect_failed(exc, made, held)
        try:
            migrate(client, self.target.database)
            client.database = self.target.database
            if niced:
                # The threads running the writer's inserts. Set only now: chDB puts a thread it
                # ran such a query on back to nice 0, and this may be the caller's thread.
                client.set_client_setting("os_threads_nice_value_query", nice)
        except OperationalError as exc:
            client.close()
            if self.target.kind == "chdb":
                raise
            raise _Unreachable(f"ClickHouse at {self.target.display} is unreachable: {exc}") from exc
        except BaseException:
            client.close()
            raise
        return client

    def _held_by_a_query(self) -> bool:
        """Whether the journal's directory is held by a `dita journal` query now."""
        if self.target.kind != "chdb" or self.target.path is None:
            return False
        return _query_holding(self.target.path) is not None

    def _connect_failed(self, exc: Exception, made: list[Path], held: bool) -> NoReturn:
        """Raises why the journal could not be opened (``exc``, chDB's or the client's),
        removing the directories ``made`` for it; ``held``: by a query, past the wait."""
        # A directory chDB refused (this process hosts another) is not left behind.
        for directory in made:
            with contextlib.suppress(OSError):
                directory.rmdir()
        holder = chdb_holder(self.target.path) if self.target.kind == "chdb" else None
        if held:
            raise RuntimeError(
                f"journal directory {self.target.path} is held by a `dita journal` query ({holder}) "
                f"still running after {QUERY_WAIT_SECONDS} s; stop it, or pick another directory"
            ) from exc
        if holder is not None or (self.target.kind == "chdb" and "lock" in str(exc).lower()):
            raise RuntimeError(
                f"journal directory {self.target.path} is held by another process"
                f"{f' ({holder})' if holder else ''} (chDB allows one process per directory); "
                "query it with `dita journal sql` or pick another directory"
            ) from exc
        if self.target.kind == "chdb":
            raise RuntimeError(
                f"cannot open the embedded journal at {self.target.path}: {exc} "
                "(one process can host one chDB directory at a time)"
            ) from exc
        if isinstance(exc, OperationalError):
            raise _Unreachable(f"ClickHouse at {self.target.display} is unreachable: {exc}") from exc
        raise exc

    @property
    def database(self) -> str:
        return self.target.database

    # ------------------------------------------------------------------ protocol

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
        the kernel left free: nothing would write its rows.
        """
        if not isinstance(replay, bool):
            raise ValueError(f"ClickHouseJournal.attach replay must be True or False, got {replay!r}")
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
        with self._cond:
            return any(k is kernel for _, k in self._kernels)

    def _attach(self, kernel: ExecutionKernel, replay: bool) -> None:
        kernel_id = kernel.kernel_id
        self._refuse_a_kernel_id_recorded_elsewhere(kernel_id)
        wal = kernel.wal_info()
        unchecked = None if replay else self._check_new_seqs(kernel, wal)
        fill = self.wal_fill and wal is not None
        dropped_before = _outbox_dropped(kernel) or 0  # drops before this attach are not ours
        with self._cond:
            if kernel_id in self._refused:
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
            if kernel_id in self._leaving or kernel_id in self._releasing:
                raise ValueError(
                    f"a kernel with kernel_id {kernel_id!r} is still leaving this journal: the rows it "
                    "made are being written (flush() waits for them)"
                )
            if any(kid == kernel_id for kid, _ in self._kernels):
                raise ValueError(f"a kernel with kernel_id {kernel_id!r} is already attached to this journal")
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
                self._unchecked[kernel_id] = unchecked
            # High-water marks read for an earlier run of this kernel_id here leave out the
            # rows stored since: a re-run's rows must be checked against those too.
            for table in TABLE_COLUMNS:
                self._hwm.pop((kernel_id, table), None)
            if fill:
                self._filling[kernel_id] += 1
                self._progress_held.add(kernel_id)
                self._fillable.add(kernel_id)
            else:
                self._fillable.discard(kernel_id)
                self._progress_held.discard(kernel_id)
                kernel.set_journal_enabled(True)
            self._kernels.append((kernel_id, kernel))
            self._dropped_at_attach[kernel_id] = self._dropped_read[kernel_id] = dropped_before
            self._cond.notify_all()
        if fill:
            self._start_wal_fill(kernel, to_seq)

    def _refuse_a_kernel_id_recorded_elsewhere(self, kernel_id: str) -> None:
        """Refuse ``kernel_id`` while another journal of this process on the same database
        records a kernel of it (attached, or leaving with rows to write).

        Both runs' rows would take the same keys: each writer takes the other's for rows
        stored already and skips its own, or ClickHouse merges them, and one run's rows are
        lost without a word. The check of the stored rows cannot see the other's rows still
        on their way. Attaches are one at a time in a process (``sole_journal``), so none
        slips in between this check and the attach."""
        with _open_journals_lock:
            others = [j for j in _open_journals if j is not self and j._same_database(self.target)]
        for other in others:
            with other._cond:
                taken = not other._closed and any(kid == kernel_id for kid, _ in other._kernels)
            if taken:
                raise ValueError(
                    f"a kernel with kernel_id {kernel_id!r} is already attached to another journal on "
                    f"{other.target.display} (the same database, in this process): the two runs' rows "
                    "would take the same keys and one run's be skipped as stored; give each kernel its "
                    "own kernel_id, or detach it from that journal first"
                )

    def _same_database(self, target: JournalTarget) -> bool:
        """Whether ``target`` names this journal's database (the same directory, or the same
        server as written, and the same database name)."""

        def where(t: JournalTarget) -> tuple[Any, ...]:
            port = t.port if t.port is not None else (8443 if t.scheme == "https" else 8123)
            return (t.kind, t.path, t.host.lower(), port if t.kind == "http" else None, t.database)

        return where(self.target) == where(target)

    def _check_new_seqs(self, kernel: ExecutionKernel, wal: dict[str, Any] | None) -> _Unchecked | None:
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
        stored = self._stored_seq(kernel_id)
        if stored is None:
            return _Unchecked(seq, wal_dir)
        if stored > seq:
            raise ValueError(self._seq_refusal(kernel_id, stored, seq, wal_dir))
        return None

    def refuse_new_log(
        self, kernel_id: str, first_seq: int, wal_dir: str | os.PathLike[str] | None = None
    ) -> None:
        """Raise the refusal ``attach`` would give a kernel on a new write-ahead log in
        ``wal_dir``, whose seq starts at ``first_seq``, under ``kernel_id``.
        ``ExecutionKernel`` asks before it makes the log, so the refusal leaves no log behind."""
        stored = self._stored_seq(kernel_id)
        if stored is not None and stored > first_seq:
            where = "a new one" if wal_dir is None else f"a new one in {wal_dir}"
            raise ValueError(self._seq_refusal(kernel_id, stored, first_seq, where))

    def _stored_seq(self, kernel_id: str) -> int | None:
        """The highest seq stored for ``kernel_id`` (0: none), or None when it cannot be read."""
        try:
            return self._read_stored_seq(kernel_id)
        except Exception as exc:  # unreachable now: the writer checks once it can read it
            log.warning(
                "could not check the journal for rows of kernel_id %r before attaching it: %s; it is "
                "checked before any of its rows is written",
                kernel_id,
                exc,
            )
            return None

    def _read_stored_seq(self, kernel_id: str) -> int:
        return int(self.query(_stored_seq_sql(), {"k": kernel_id}).rows[0][0] or 0)

    @staticmethod
    def _seq_refusal(
        kernel_id: str, stored: int, seq: int, wal_dir: str | None, attached: bool = False
    ) -> str:
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

    def _check_unchecked(self, kernel_id: str, read: Callable[[], int]) -> bool:
        """For a kernel attached unchecked, compare the seq stored under its kernel_id
        (``read()``: raises while ClickHouse cannot be read) with the kernel's at attach; a
        kernel below it is refused (its rows held, logged once). Whether its rows may be
        written (False: refused)."""
        with self._cond:
            if kernel_id in self._refused or kernel_id not in self._unchecked:
                return kernel_id not in self._refused
        stored = read()
        with self._cond:
            pending = self._unchecked.pop(kernel_id, None)
            if pending is None or stored <= pending.seq:
                return kernel_id not in self._refused
            error = (
                self._seq_refusal(kernel_id, stored, pending.seq, pending.wal_dir, attached=True)
                + " ClickHouse could not be read when it was attached, so the journal found this only "
                "now: it writes none of this kernel's rows and holds them (in stats().queued) until "
                "it closes."
            )
            # Logged before it is published (under the lock, which the check's other thread
            # waits for): whoever finds the refusal finds it logged.
            log.error("journal %s refuses the rows of kernel %r: %s", self.target.display, kernel_id, error)
            self._refused[kernel_id] = _Refused(stored, pending.seq, error)
            self._stats.last_error = error
            self._cond.notify_all()
        return False

    def _start_wal_fill(self, kernel: ExecutionKernel, to_seq: int, refill: bool = False) -> None:
        """Derive the rows of the kernel's records up to ``to_seq`` from its WAL."""
        thread = threading.Thread(
            target=self._wal_fill,
            args=(kernel, to_seq, refill),
            name=f"dita-journal-wal-fill-{kernel.kernel_id}",
            daemon=True,
        )
        with self._cond:
            self._fill_threads = [t for t in self._fill_threads if t.is_alive()] + [thread]
        thread.start()

    def _wal_fill(self, kernel: ExecutionKernel, to_seq: int, refill: bool = False) -> None:
        """The fill at attach (progress held until it is stored), or with ``refill`` the one
        for dropped rows (progress is capped at the oldest dropped input until it is stored)."""
        self._lower_priority()
        kernel_id = kernel.kernel_id
        tickets: list[_Ticket] = []
        stored = False
        try:
            if to_seq < 1:
                stored = True
                return
            gap = self._fill_gap_start(kernel_id)
            if gap is None:  # refused (_check_unchecked): none of its rows is written
                return
            if gap > to_seq:  # ClickHouse says it has all of them already
                with self._cond:
                    self._lift_drop_mark_locked(kernel_id, to_seq)
                stored = True
                return
            log.info(
                "journal: deriving the rows of %s records %d..%d again from its WAL", kernel_id, gap, to_seq
            )

            # Half the queue at most: the live rows keep room to drain meanwhile.
            share = max(1, self.queue_rows // 2)
            byte_share = max(1, self.queue_bytes // 2)

            def sink(blocks: list[JournalBlock]) -> None:
                ticket = _Ticket(remaining=sum(len(b) for b in blocks))
                sizes = [_block_bytes(b) for b in blocks]
                with self._cond:
                    while (
                        self._pending_rows >= share or self._pending_bytes >= byte_share
                    ) and not self._stopping:
                        self._cond.wait(self.poll_interval)
                    if self._stopping:
                        raise _Aborted
                    now = time.monotonic()
                    for block, size in zip(blocks, sizes, strict=True):
                        self._enqueue_locked(
                            _Chunk(
                                kernel_id,
                                block.table,
                                block,
                                now,
                                check_existing=True,
                                ticket=ticket,
                                nbytes=size,
                            )
                        )
                    self._cond.notify_all()
                tickets.append(ticket)

            rows = kernel.wal_journal_blocks(gap, to_seq, sink=sink, chunk_rows=min(share, self.drain_rows))
            while not all(t.done.wait(0.1) for t in tickets):
                if self._abort.is_set():
                    raise _Aborted
            if kernel_id in self._refused:  # its rows were held, not stored
                return
            with self._cond:
                self._counters["wal_filled"] += sum(t.result.written for t in tickets)
                self._progress_floor[kernel_id] = max(to_seq, self._progress_floor.get(kernel_id, 0))
                self._lift_drop_mark_locked(kernel_id, to_seq)
            stored = True
            log.info("journal: %s rows of %s derived again from its WAL", rows, kernel_id)
        except _Aborted:
            log.warning("journal closed before the WAL fill of %s finished", kernel_id)
        except Exception as exc:
            with self._cond:
                self._stats.last_error = f"wal fill of {kernel_id}: {exc!r}"
            log.warning("could not fill the journal of %s from its WAL: %r", kernel_id, exc)
        finally:
            with self._cond:
                self._fill_ended_locked(kernel_id)
                if stored and refill:
                    self._refill_failures.pop(kernel_id, None)
                elif stored:
                    self._progress_held.discard(kernel_id)
                elif kernel_id in self._refused:
                    pass  # not a failure: flush() raises the refusal, and progress stays held
                else:
                    # Progress stays where the gap starts (held, or capped at the dropped
                    # input), so the next start fills it; a refill is tried again, later
                    # each time it fails (a log that stays unreadable is not replayed
                    # every few seconds forever).
                    self._counters["wal_fill_failed"] += 1
                    if refill:
                        self._refill_failures[kernel_id] += 1
                        backoff = self.retry_max * 2 ** min(self._refill_failures[kernel_id] - 1, 6)
                        self._refill_after[kernel_id] = time.monotonic() + backoff
                self._cond.notify_all()  # the writer looks for a refill due; flush() for the end

    def _fill_gap_start(self, kernel_id: str) -> int | None:
        """``gap_start`` for a WAL fill, asked until ClickHouse answers. ClickHouse away: asked
        again like the writer retries. A progress table it cannot read for a permanent reason
        (other columns, rights) blocks the journal as an insert refused so does: flush() raises
        JournalBlockedError naming it, and it is asked again every ``retry_blocked`` seconds and
        at each flush(). A kernel attached unchecked is checked first (the stored progress may
        lie past its new log's end): None when it is refused."""
        attempt = 0
        while True:
            if self._abort.is_set():  # closed before the fill began
                raise _Aborted
            with self._cond:
                self._attempt_no += 1
                attempt_no = self._attempt_no
            try:
                checked = self._check_unchecked(kernel_id, lambda: self._read_stored_seq(kernel_id))
                gap = self.gap_start(kernel_id) if checked else None
            except Exception as exc:
                cause = _permanent_cause(exc)
                with self._cond:
                    self._stats.last_error = f"wal fill of {kernel_id}: gap_start: {exc!r}"
                error = f"{PROGRESS_TABLE}: {type(exc).__name__}: {exc} (wal fill of {kernel_id})"
                self._fail_and_wait(PROGRESS_TABLE, cause, error, attempt_no, attempt)
                attempt += 1
                continue
            self._lift_block(PROGRESS_TABLE)
            return gap

    def _lift_block(self, table: str) -> None:
        """ClickHouse took ``table``'s rows (or answered for it): a run of failures that may
        pass is over (logged when it was), and so is a block this lifts. One of the progress
        table is lifted only by that table: rows going into the others say nothing about it,
        and a WAL fill waits on it."""
        with self._cond:
            failing, self._failing = self._failing, None
            rows = self._pending_rows
            blocked = self._blocked
            if blocked is not None and (blocked.table != PROGRESS_TABLE or table == PROGRESS_TABLE):
                self._blocked = None
            else:
                blocked = None
        if failing is not None and failing.logged:
            log.info(
                "journal %s: ClickHouse takes rows again (%s), after %.1f s and %d failed attempts; "
                "%d rows wait",
                self.target.display,
                table,
                time.monotonic() - failing.since,
                failing.failures,
                rows,
            )
        if blocked is None:
            return
        log.warning(
            "journal %s: ClickHouse takes rows again (%s), after %.1f s blocked by: %s",
            self.target.display,
            table,
            time.monotonic() - blocked.since,
            blocked.error,
        )

    def _fill_ended_locked(self, kernel_id: str) -> None:
        """One fill of the kernel counted in ``_filling`` is over (or never began)."""
        self._filling[kernel_id] -= 1
        if self._filling[kernel_id] <= 0:
            del self._filling[kernel_id]

    def _forget_kernel_locked(self, kernel_id: str, keep_marks: bool = False) -> None:
        """Drop what this journal knows about a kernel's dropped rows and refills; with
        ``keep_marks``, its drop marks stay and keep its progress below the rows missing."""
        for per_kernel in (self._refill_after, self._refill_failures):
            per_kernel.pop(kernel_id, None)
        if not keep_marks:
            self._dropped_marks.pop(kernel_id, None)
        self._marks_unread.discard(kernel_id)

    def _note_drop_locked(self, kernel_id: str, mark: int) -> None:
        """The kernel's outbox dropped the rows of input ``mark`` (and maybe later ones)."""
        self._dropped_marks.setdefault(kernel_id, set()).add(mark)

    def _lift_drop_mark_locked(self, kernel_id: str, stored_through: int) -> None:
        """Rows of every input up to ``stored_through`` are stored: drops among them no longer
        hold progress back; a drop of a later input still does."""
        marks = {m for m in self._dropped_marks.get(kernel_id, ()) if m > stored_through}
        if marks:
            self._dropped_marks[kernel_id] = marks
        else:
            self._dropped_marks.pop(kernel_id, None)

    def _refills_pending_locked(self) -> list[tuple[str, ExecutionKernel]]:
        """Attached kernels whose outbox dropped rows that no refill is deriving yet (none for
        a refused kernel: its rows are not written)."""
        if not self.refill_dropped or self._stopping:
            return []
        return [
            (kernel_id, kernel)
            for kernel_id, kernel in self._kernels
            if kernel_id in self._dropped_marks
            and kernel_id in self._fillable
            and not self._filling[kernel_id]
            and kernel_id not in self._refused
        ]

    def _refills_due_locked(self, now: float) -> list[tuple[str, ExecutionKernel]]:
        """Pending refills not put off past ``now`` (the kernel was busy, or one failed)."""
        return [
            (kid, k) for kid, k in self._refills_pending_locked() if self._refill_after.get(kid, 0.0) <= now
        ]

    def _refill_waiting_locked(self) -> bool:
        """A refill flush() waits for: due, or put off only because the kernel was busy (not
        one put off after failing: that may take long, like a failed attach fill)."""
        return self.refill_dropped and any(
            kid not in self._refused
            and (
                (kid in self._dropped_marks and kid in self._fillable and not self._refill_failures[kid])
                or kid in self._marks_unread
            )
            for kid, _ in self._kernels
        )

    def _refill_dropped(self) -> None:
        """Start deriving again from the WAL the rows a kernel's outbox dropped while ClickHouse
        was away. The writer calls it between batches: a drop is known once a stored batch
        read the kernel's mark, so this starts when ClickHouse takes rows again."""
        with self._cond:
            due = self._refills_due_locked(time.monotonic())
            for kernel_id, _ in due:
                self._filling[kernel_id] += 1
        for kernel_id, kernel in due:
            started = False
            try:
                # Every input up to to_seq comes from the log now; the mark is cleared in the
                # same call, so a later drop marks only a later input.
                to_seq = kernel.journal_clear_drop_mark()
                if to_seq is None:  # the kernel is busy right now: shortly
                    with self._cond:
                        self._refill_after[kernel_id] = time.monotonic() + self.poll_interval
                    continue
                with self._cond:
                    self._counters["wal_refills"] += 1
                    self._refill_after.pop(kernel_id, None)
                    # Rows up to to_seq still in the outbox are drained later, maybe after the
                    # refill stored them: they get the key check, so none is stored twice.
                    self._check_through[kernel_id] = max(self._check_through.get(kernel_id, 0), to_seq)
                self._start_wal_fill(kernel, to_seq, refill=True)
                started = True
            except WalError as exc:  # its log failed: the rows are not there to derive
                log.warning("no WAL refill of dropped rows for %s: %s", kernel_id, exc)
                with self._cond:
                    self._refill_after[kernel_id] = math.inf
                    self._refill_failures[kernel_id] += 1
            except Exception as exc:  # best effort, like recording progress: keep writing
                log.warning("could not start a WAL refill for %s: %r", kernel_id, exc)
                with self._cond:
                    self._stats.last_error = f"wal refill of {kernel_id}: {exc!r}"
                    self._refill_failures[kernel_id] += 1
                    self._refill_after[kernel_id] = time.monotonic() + self.retry_max
            finally:
                if not started:
                    with self._cond:
                        self._fill_ended_locked(kernel_id)
                        self._cond.notify_all()

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
            self._stop_recording(kernel)
            self._flush(timeout, refusals_of=[kernel.kernel_id])
            if self._settle_stopped([kernel.kernel_id]):
                self._flush(timeout, refusals_of=[kernel.kernel_id])  # records the progress
        except BaseException:
            # Rows may still be in its outbox: it stays with the drainer until that is empty
            # (then it goes), and no longer counts as a kernel this journal serves.
            with self._cond:
                if any(k is kernel for _, k in self._kernels):
                    self._leaving.add(kernel.kernel_id)
            raise
        with self._cond:
            self._drop_kernel_locked(kernel)

    def _stop_recording(self, kernel: ExecutionKernel) -> None:
        """Turn ``kernel``'s outbox off before the last drain of a detach or close: rows a
        kernel still trading made after that drain would stay in its outbox, drained by nobody
        and counted nowhere. The rows it holds stay to be drained; its drops are read last."""
        kernel.set_journal_enabled(False)
        self._read_dropped(kernel)  # its last drops: the outbox takes no more rows now

    def _settle_stopped(self, kernel_ids: list[str]) -> bool:
        """After a flush stored every row of ``kernel_ids``: those released (input stopped)
        are stored up to their last seq, which the writer records as their progress (batches
        record one input less, as the last input's rows may still be coming, and none while
        a WAL fill runs). Not for a kernel whose fill failed: the gap stays for the next
        start. Whether any was set (a flush then records it)."""
        with self._cond:
            floors = {
                kid: self._stopped_seq.pop(kid)
                for kid in kernel_ids
                if kid in self._stopped_seq
                and kid not in self._progress_held
                and not self._filling[kid]
                and kid not in self._refused
            }
            for kid, seq in floors.items():
                if seq > self._settled_seq.get(kid, 0):
                    self._progress_floor[kid] = max(seq, self._progress_floor.get(kid, 0))
            self._cond.notify_all()
            return any(kid in self._progress_floor for kid in floors)

    def _drop_kernel_locked(self, kernel: ExecutionKernel) -> None:
        if any(k is kernel for _, k in self._kernels):
            self._count_dropped_of_gone_locked(kernel.kernel_id)
        self._kernels = [(kid, k) for kid, k in self._kernels if k is not kernel]
        self._leaving.discard(kernel.kernel_id)
        self._releasing.discard(kernel.kernel_id)
        self._stopped_seq.pop(kernel.kernel_id, None)
        self._progress_floor.pop(kernel.kernel_id, None)  # one a failed fill still held
        for table in TABLE_COLUMNS:
            self._row_bytes.pop((kernel.kernel_id, table), None)
        # No refill starts for a kernel that left (a refill running ends on its own), but its
        # drop marks stay until a fill stores their rows: a kernel leaving after a detach that
        # gave up had its last rows stored after it left, and with the marks gone its progress
        # went past inputs whose rows were never stored, which a restart then never derived.
        self._forget_kernel_locked(kernel.kernel_id, keep_marks=True)
        # A check it never needed (it left before any of its rows was written) must not be
        # made of the next kernel of its kernel_id, checked at its own attach; rows of it still
        # queued (it left while ClickHouse was away) are checked by the writer as usual.
        if not any(c.kernel_id == kernel.kernel_id for c in (*self._queue, *self._taken)):
            self._unchecked.pop(kernel.kernel_id, None)

    def release(self, kernel: ExecutionKernel) -> None:
        """What ``ExecutionKernel.close()`` calls: write ``kernel``'s rows and stop recording it
        (up to ``close_timeout``) and, when it was the last kernel attached, close. Kernels
        sharing this journal keep it until the last closes."""
        with self._cond:
            # Marked in the same step as the check, so two kernels released at once cannot
            # both see the other and leave the journal open.
            if not any(k is kernel for _, k in self._kernels):
                # Detached before: not served, the journal is its caller's now (moved to
                # another kernel, say), and this close must not close it.
                return
            self._releasing.add(kernel.kernel_id)
            # Its input is stopped (kernel.close()): every row it makes is in its outbox, and
            # those of inputs its log holds are drained (a log that failed keeps the later ones
            # out: a restart does not recover those inputs).
            through = kernel.journaled_through()
            stopped = kernel.seq if through is None else min(kernel.seq, through)
            self._stopped_seq[kernel.kernel_id] = stopped
            gone = self._releasing | self._leaving
            last = all(kid in gone for kid, _ in self._kernels)
            # Closing from here, in the same step: an attach between this and close() went
            # through, and close() then stopped recording that kernel, its rows never written.
            self._closing = self._closing or last
        if last:
            try:
                self.close()
            except BaseException:
                with self._cond:  # a Ctrl-C in the flush leaves the journal open, attaches too
                    self._closing = self._closed
                raise
            return
        try:
            self.detach(kernel, self.close_timeout)
        except (TimeoutError, RuntimeError) as exc:
            log.warning("releasing kernel %s with rows unwritten: %s", kernel.kernel_id, str(exc))

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
        with self._cond:
            kernels = [k for _, k in self._kernels]
        for kernel in kernels:
            sync_log(kernel)  # its outbox hands out only what its log holds
        with self._cond:
            if self._closed and not self._writer.is_alive():
                if self._pending_rows or self._undrained:
                    left = f"; {self._undrained_text(self._undrained)}" if self._undrained else ""
                    raise RuntimeError(
                        f"the journal is closed with "
                        f"{self._pending_rows + self._held_rows.total() + sum(self._undrained.values())} "
                        f"rows unwritten{left}: ClickHouse ({self.target.display}) did not take them "
                        f"before close() gave up; last error: {self._stats.last_error!r}"
                        + "".join(f"; {self._refusal_text_locked(kid)}" for kid in self._held_rows)
                    )
                if self._held_rows:
                    raise RuntimeError(
                        f"the journal is closed with {self._held_rows.total()} rows unwritten: "
                        + "; ".join(self._refusal_text_locked(kid) for kid in self._held_rows)
                    )
                return
            self._raise_if_a_thread_died_locked()
            self._flushers += 1
            try:
                self._flush_requested += 1
                mine = self._flush_requested
                self._cond.notify_all()
                after = self._ask_retry_locked()
                # A writer that died leaves the queue full for good, and the drainer then never
                # finds the kernels empty: that flush would wait forever.
                if not self._wait_unblocked_locked(
                    lambda: (
                        self._flush_done >= mine
                        or not self._drainer.is_alive()
                        or not self._writer.is_alive()
                    ),
                    deadline,
                    after,
                ):
                    raise TimeoutError(
                        f"journal flush timed out after {timeout}s while draining kernels "
                        f"({self._pending_rows} rows waiting for ClickHouse; "
                        f"last error: {self._stats.last_error!r})"
                    )
                target = self._flush_target
                if not self._wait_unblocked_locked(
                    lambda: self._settled_total >= target or not self._writer.is_alive(), deadline, after
                ):
                    raise TimeoutError(
                        f"journal flush timed out after {timeout}s: {self._pending_rows} rows still waiting "
                        f"for ClickHouse ({self.target.display}); last error: {self._stats.last_error!r}"
                    )
                if not self._wait_unblocked_locked(
                    lambda: (
                        not (self._filling or self._floor_due_locked() or self._refill_waiting_locked())
                        or not self._writer.is_alive()
                    ),
                    deadline,
                    after,
                ):
                    raise TimeoutError(
                        f"journal flush timed out after {timeout}s while deriving rows again from the WAL "
                        f"of {', '.join(self._filling) or 'a kernel whose outbox dropped rows'}; "
                        f"last error: {self._stats.last_error!r}"
                    )
                if not self._closed:
                    self._raise_if_a_thread_died_locked()
                elif self._flush_done < mine or self._settled_total < target or self._filling:
                    # close() gave up while this flush waited: its threads stopped, rows unwritten.
                    raise self._closed_while_waiting_locked(self._flush_done < mine)
                refused = self._refusal_error_locked(refusals_of)
                if refused is not None:
                    raise refused
            finally:
                self._flushers -= 1

    def _refusal_error_locked(self, kernel_ids: Collection[str] | None) -> JournalBlockedError | None:
        """The error naming the refused kernels among ``kernel_ids`` (None: all), if any."""
        refused = [k for k in self._refused if kernel_ids is None or k in kernel_ids]
        if not refused:
            return None
        return JournalBlockedError("; ".join(self._refusal_text_locked(k) for k in refused))

    def _refusal_text_locked(self, kernel_id: str) -> str:
        """What a refused kernel's flush() says: the refusal and the rows it holds."""
        return (
            f"journal {self.target.display} holds the rows of kernel {kernel_id!r} "
            f"({self._held_rows[kernel_id]} rows held here, later ones in its outbox) and writes "
            f"none of them: {self._refused[kernel_id].error}"
        )

    def _closed_while_waiting_locked(self, undrained: bool) -> RuntimeError:
        """What a flush() gets when close() stopped the journal before its rows were written;
        ``undrained``: before the kernels' outboxes were emptied too."""
        left = [f"{self._pending_rows} rows taken from the kernels are not written"]
        if undrained:
            left.append("rows still in the kernels' outboxes were not taken")
        if self._filling:
            left.append(f"the WAL fill of {', '.join(self._filling)} did not finish")
        return RuntimeError(
            f"the journal was closed while flush() waited: {'; '.join(left)}: ClickHouse "
            f"({self.target.display}) did not take them before close() gave up; "
            f"last error: {self._stats.last_error!r}"
        )

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
        if self._closed:
            return
        with self._cond:
            self._closing = True
        try:
            self._close_flush()
        except BaseException:
            with self._cond:  # a Ctrl-C in the flush leaves the journal open, attaches too
                self._closing = False
            raise
        # The exit hook goes only now: a Ctrl-C in the flush leaves the journal open, and without
        # its hook the threads died at exit with the rows still queued.
        hook, self._exit_hook = self._exit_hook, None
        if hook is not None:
            atexit.unregister(hook)
        self._stop()

    def _close_flush(self) -> None:
        """close() up to stopping its threads: stop recording every kernel, then flush."""
        self._stop_recording_all(warn=True)
        try:
            # The others' rows (and progress) first: a refused kernel's rows are not written.
            self._flush(self.close_timeout, refusals_of=())
            if self._settle_stopped([kid for kid, _ in self._kernels]):
                self._flush(self.close_timeout, refusals_of=())  # records the progress
            with self._cond:
                refused = self._refusal_error_locked(None)
            if refused is not None:
                raise refused  # logged below
        except (TimeoutError, RuntimeError) as exc:
            # The text only: a logged exception keeps this frame, and the kernels in it, alive.
            log.warning("closing journal with rows unwritten: %s", str(exc))

    def _stop(self) -> None:
        """close() from stopping its threads on: release ClickHouse."""
        with _open_journals_lock:
            _open_journals.discard(self)
        with self._cond:
            self._closed = True
            self._stopping = True
            self._cond.notify_all()
        self._abort.set()
        with self._retry_cond:
            self._retry_cond.notify_all()  # a blocked writer waiting to try again
        self._drainer.join(timeout=10)
        self._writer.join(timeout=10)
        with self._cond:
            fills = list(self._fill_threads)
        for thread in fills:
            # A fill stops at its next chunk; one still replaying is left to finish alone.
            thread.join(timeout=10)
            if thread.is_alive():
                log.warning("journal closed while %s is still reading its WAL", thread.name)
        self._stop_recording_all(warn=False)  # again: one attached while close() began (none now)
        self._count_undrained()
        with self._cond:
            for kernel_id, _ in self._kernels:
                self._count_dropped_of_gone_locked(kernel_id)
            self._kernels.clear()
        # Taken under the reader's lock: a query that got in first has stored its reader by
        # now, and one that comes later sees the journal closed and opens its own.
        with self._reader_lock:
            server, self._server = self._server, None
            reader, self._reader = self._reader, None
        if server is not None:
            server.release()
        if reader is not None:
            reader.close()
        # Under the lock: a writer that outlived the join and opens a client now sees the abort
        # and closes that one itself (_writer_client).
        with self._cond:
            client = self._client
        if client is not None:
            client.close()

    def _count_undrained(self) -> None:
        """With the threads stopped: count and log the rows left in the kernels' outboxes, which
        nothing drains any more. stats().queued counts only the rows taken from them, and
        without this a close that gave up with the queue full undercounted the rows it left
        (by up to the outboxes' capacity), and said nothing of them once the queue's were
        stored. A refused kernel's are not counted: its refusal names them."""
        with self._cond:
            kernels = [(kid, k) for kid, k in self._kernels if kid not in self._refused]
            fillable = set(self._fillable)
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
        with self._cond:
            self._undrained = left
        log.warning(
            "journal %s closed with %s, never taken (ClickHouse did not take rows before close() gave "
            "up, and the queue was full): %s",
            self.target.display,
            self._undrained_text(left),
            "; ".join(
                f"{kid!r}: the next attach derives them again from its write-ahead log"
                if kid in fillable
                else f"{kid!r}: not journaled unless resent from a write-ahead log with backfill()"
                for kid in left
            ),
        )

    @staticmethod
    def _undrained_text(left: Mapping[str, int]) -> str:
        """``left`` (rows per kernel) as the close's warning and a flush() after it say it."""
        return ", ".join(f"{rows} rows left in the outbox of {kid!r}" for kid, rows in left.items())

    def _stop_recording_all(self, warn: bool) -> None:
        """Stop recording every kernel attached, for close(); with ``warn``, name each kernel
        whose input goes on (not being closed or detached): its later inputs are not journaled."""
        with self._cond:
            kernels = list(self._kernels)
            going = self._releasing | self._leaving
            fillable = set(self._fillable)
        for kernel_id, kernel in kernels:
            try:
                self._stop_recording(kernel)
            except Exception:  # a kernel being torn down must not stop the journal from closing
                log.debug("could not disable kernel %s's journal outbox", kernel_id, exc_info=True)
            if warn and kernel_id not in going:
                log.warning(
                    "journal %s closing while kernel %r is still attached: recording stops now and "
                    "its later inputs are not journaled (%s)",
                    self.target.display,
                    kernel_id,
                    "the next attach derives them again from its write-ahead log"
                    if kernel_id in fillable
                    else "they are missing unless resent from a write-ahead log with backfill()",
                )

    def __enter__(self) -> ClickHouseJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> JournalStats:
        with self._cond:
            s = JournalStats(**{k: v for k, v in vars(self._stats).items() if k != "extra"})
            # Rows a refused kernel's check holds are drained and unwritten too.
            s.queued = self._pending_rows + self._held_rows.total()
            now = time.monotonic()
            blocked = self._blocked
            s.blocked = "; ".join(
                [blocked.error] if blocked is not None else [r.error for r in self._refused.values()]
            )
            oldest = [
                t for t in (self._inflight_since, self._queue[0].drained_at if self._queue else None) if t
            ]
            s.lag_seconds = now - min(oldest) if oldest else 0.0
            kernels = list(self._kernels)
            s.extra = {
                **self._counters,
                # The bytes of the rows queued and being written, about (see queue_bytes).
                "queued_bytes": self._pending_bytes,
                "written_by_table": dict(self._written_by_table),
                "last_write_latency_s": self._last_write_latency,
                "kernels": [kid for kid, _ in kernels],
                "leaving": sorted(self._leaving),
                "target": self.target.display,
                "connected": self._client is not None,
                "settled_seq": dict(self._settled_seq),
                # Kernels whose outbox dropped rows not derived again from the WAL yet.
                "dropped_not_refilled": sorted(kid for kid, _ in kernels if kid in self._dropped_marks),
                # Journal threads ended by an exception: nothing is written or drained any more.
                "threads_died": dict(self._died),
                # Rows close() left in the kernels' outboxes, never taken, per kernel.
                "undrained": dict(self._undrained),
                # What blocks the writer (stats().blocked): its table, ClickHouse's name for the
                # error and for how long; None and 0.0 while it is not blocked.
                "blocked_table": blocked.table if blocked is not None else None,
                "blocked_cause": blocked.cause if blocked is not None else None,
                "blocked_seconds": now - blocked.since if blocked is not None else 0.0,
                # Kernels attached unchecked and then refused (see attach): none of their rows
                # is written; those drained are held (in queued).
                "refused": {
                    kid: {"stored_seq": r.stored_seq, "seq": r.seq, "held_rows": self._held_rows[kid]}
                    for kid, r in self._refused.items()
                },
            }
        for _, kernel in kernels:
            self._read_dropped(kernel)
        with self._cond:  # the kernels attached now, and those gone meanwhile, each counted once
            s.dropped = self._dropped_by_gone + sum(
                max(0, self._dropped_read[kid] - base) for kid, base in self._dropped_at_attach.items()
            )
        return s

    def _read_dropped(self, kernel: ExecutionKernel) -> int | None:
        """Read the rows ``kernel``'s outbox has dropped in all (not holding the lock: a busy
        kernel makes the read wait) and keep it for when the kernel leaves. New drops are
        logged, at most once a ``_LOG_EVERY`` per kernel."""
        now = _outbox_dropped(kernel)
        if now is None:
            return None
        kernel_id = kernel.kernel_id
        with self._cond:
            if kernel_id not in self._dropped_at_attach:
                return now
            self._dropped_read[kernel_id] = max(self._dropped_read[kernel_id], now)
            dropped = self._dropped_read[kernel_id] - self._dropped_at_attach[kernel_id]
            told, told_at = self._drops_told.get(kernel_id, (0, -math.inf))
            t = time.monotonic()
            if dropped <= told or t - told_at < _LOG_EVERY:
                return now
            self._drops_told[kernel_id] = (dropped, t)
            if kernel_id in self._refused:
                fate = "its rows are refused (see stats().blocked), and the journal does not drain it"
            elif kernel_id not in self._fillable:
                fate = "they are missing from the journal (no write-ahead log fill to derive them again)"
            elif self.refill_dropped:
                fate = "they are derived again from its write-ahead log once ClickHouse takes rows again"
            else:
                fate = "the next attach derives them again from its write-ahead log"
        log.warning(
            "journal %s: kernel %r's outbox dropped %d rows for lack of room while attached here (%d "
            "since last said): the journal is not taking its rows as fast as they come; %s",
            self.target.display,
            kernel_id,
            dropped,
            dropped - told,
            fate,
        )
        return now

    def _count_dropped_of_gone_locked(self, kernel_id: str) -> None:
        """An attached kernel leaves: what its outbox dropped while here stays counted."""
        base = self._dropped_at_attach.pop(kernel_id, 0)
        self._dropped_by_gone += max(0, self._dropped_read.pop(kernel_id, base) - base)
        self._drops_told.pop(kernel_id, None)

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
        _check_kernel_id(kernel_id)
        if not isinstance(rows, Mapping):
            raise TypeError(f"backfill rows must map table names to row tuples, got {type(rows).__name__}")
        chunks: list[tuple[str, list[tuple[Any, ...]]]] = []
        repeated = 0  # rows given again under a key this call holds already: written once
        for table, table_rows in rows.items():
            if table not in TABLE_COLUMNS:
                raise ValueError(
                    f"backfill table {table!r} is not a journal table ({', '.join(TABLE_COLUMNS)})"
                )
            width = len(TABLE_COLUMNS[table]) - 1
            checked: list[tuple[Any, ...]] = []
            first_of: dict[tuple[int, int], int] = {}  # key -> the index of its first row
            for i, row in enumerate(table_rows):
                if not isinstance(row, tuple | list) or len(row) != width:
                    raise ValueError(
                        f"backfill {table} row {i} must be a tuple of {width} values "
                        f"({', '.join(n for n, _ in TABLE_COLUMNS[table][1:])}), got {row!r}"
                    )
                # Within the columns (UInt64, UInt32): a key beyond them was set aside by the
                # writer, unnamed, while the call's other rows were written.
                seq, sub = row[0], row[1]
                if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= _SEQ_MAX:
                    raise ValueError(
                        f"backfill {table} row {i} has seq {seq!r}; "
                        f"it must be an integer from 1 to {_SEQ_MAX}"
                    )
                if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub <= _SUB_MAX:
                    raise ValueError(
                        f"backfill {table} row {i} has sub {sub!r}; "
                        f"it must be an integer from 0 to {_SUB_MAX}"
                    )
                # One key, one row: a repeat (overlapping spans resent in one call) is written
                # once; two different rows under one key are the caller's error, not a choice.
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
            if checked:
                chunks.append((table, checked))
        total = sum(len(r) for _, r in chunks)
        ticket = _Ticket(remaining=total)
        ticket.result.already_present = repeated
        if total == 0:
            return ticket.result
        # Sized before the lock: a resend of a million rows is tens of millions of steps.
        sizes = [_tuple_bytes(r) for _, r in chunks]
        with self._cond:
            if self._closed:
                raise RuntimeError("ClickHouseJournal is closed")
            self._raise_if_a_thread_died_locked()
            now = time.monotonic()
            for (table, table_rows), nbytes in zip(chunks, sizes, strict=True):
                self._enqueue_locked(
                    _Chunk(
                        kernel_id,
                        table,
                        _TupleRows(table_rows),
                        now,
                        check_existing=True,
                        ticket=ticket,
                        resend=True,
                        nbytes=nbytes,
                    )
                )
            self._flushers += 1  # write now rather than after max_delay
            self._cond.notify_all()
            after = self._ask_retry_locked()
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            with self._cond:
                if not self._wait_unblocked_locked(ticket.done.is_set, deadline, after):
                    raise TimeoutError(
                        f"backfill of {total} rows timed out after {timeout}s "
                        f"({ticket.remaining} not yet written); "
                        "they stay queued and will still be written"
                    )
        finally:
            with self._cond:
                self._flushers -= 1
        if ticket.failed is not None:
            raise RuntimeError(
                f"backfill of {total} rows did not finish: {ticket.failed} "
                f"({ticket.remaining} rows not written; written so far: {ticket.result})"
            )
        with self._cond:
            self._counters["backfilled"] += ticket.result.written
        return ticket.result

    def rejected_rows(self) -> list[dict[str, Any]]:
        """Rows set aside because clickhouse-connect could not encode them (newest last): the
        newest 1,000 (``_REJECTED_KEPT``); ``stats().extra["rejected_rows"]`` counts every one,
        and each was logged as an ERROR with its values when it was set aside."""
        with self._cond:
            return list(self._rejected)

    # ------------------------------------------------------------------ queries

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run one read-only query (SELECT/WITH/SHOW/DESCRIBE/EXISTS) on this journal."""
        server = self._server
        if server is not None:
            try:
                return server.run(self.database, sql, parameters or {})
            except ServerClosed:
                pass  # this journal closed meanwhile: a reader of the query's own, below
        with self._reader_lock:
            if not self._closed:
                if self._reader is None:
                    self._reader = open_read_only_client(self.target)
                return execute(self._reader, sql, parameters)
        # Closed: nothing would close a reader kept now (an embedded engine left open keeps the
        # process from opening another directory), so one lives for this query only.
        return run_query(self.target, sql, parameters)

    @property
    def query_address(self) -> str | None:
        """The Unix socket serving read-only SQL, when this journal serves one."""
        return self._server.address if self._server is not None else None

    # ------------------------------------------------------------------ internals

    def _wait_locked(self, ready: Any, deadline: float | None) -> bool:
        while not ready():
            if deadline is None:
                self._cond.wait(0.5)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def _yield_gil(self, cpu_seconds: float) -> None:
        """Sleep so this thread's CPU time stays within half the GIL budget (two threads share it)."""
        if self.gil_budget is None or cpu_seconds <= 0 or self._flushers:
            return
        self._abort.wait(min(1.0, cpu_seconds * (2.0 / self.gil_budget - 1.0)))

    def _enqueue_locked(self, chunk: _Chunk) -> None:
        self._queue.append(chunk)
        self._pending_rows += len(chunk.rows)
        self._pending_bytes += chunk.nbytes
        self._enqueued_total += len(chunk.rows)

    def _queue_full_locked(self) -> bool:
        """Whether the queue holds ``queue_rows`` rows or ``queue_bytes`` bytes: the drainer
        stops, and rows wait in the kernels' outboxes."""
        return self._pending_rows >= self.queue_rows or self._pending_bytes >= self.queue_bytes

    def _take_limit_locked(self, kernel_id: str, rows: int, byte_room: int) -> int:
        """The rows a take from ``kernel_id`` may hand out: ``rows``, fewer when the queue's
        ``byte_room`` holds fewer of rows as large as its largest lately (at least one)."""
        sizes = [b for (kid, _), b in self._row_bytes.items() if kid == kernel_id]
        if not sizes:
            return rows
        return max(1, min(rows, int(byte_room // max(max(sizes), 1.0))))

    def _lower_priority(self) -> None:
        """Give the calling thread (one of the journal's) the journal's ``nice`` value; again
        after chDB ran a query on it (see :mod:`dita.journal.priority`)."""
        lower_thread_priority(self.nice)

    def _guarded(self, name: str, loop: Callable[[], None]) -> None:
        """Run a journal thread's loop; if anything ends it (a bug, a Rust panic), say so in
        stats() and make flush() raise, instead of the journal stopping in silence."""
        try:
            loop()
        except BaseException as exc:
            text = f"{type(exc).__name__}: {exc}"
            # The text only: a logged exception keeps the thread's frames, and kernels, alive.
            log.error("journal %s thread died: %s\n%s", name, text, traceback.format_exc())
            with self._cond:
                self._died[name] = text
                self._stats.last_error = f"journal {name} thread died: {text}"
                if name == "writer":
                    self._fail_tickets_locked(f"the journal's writer thread died ({text})", self._taken)
                    # Rows of its batch stored before it died are not among the rows left.
                    self._pending_rows -= self._take_settled
                    self._settled_total += self._take_settled
                    self._take_settled = 0
                self._cond.notify_all()

    def _fail_tickets_locked(self, why: str, taken: Iterable[_Chunk] = ()) -> None:
        """The writer stopped: backfill calls waiting for queued (or ``taken``) rows get an
        answer."""
        for chunk in [*taken, *self._queue]:
            if chunk.ticket is not None and not chunk.ticket.done.is_set():
                chunk.ticket.failed = why
                chunk.ticket.done.set()

    def _raise_if_a_thread_died_locked(self) -> None:
        if self._died:
            which = ", ".join(f"{name} ({why})" for name, why in self._died.items())
            raise RuntimeError(
                f"journal thread died: {which}; {self._pending_rows} rows not written, and attached "
                "kernels' outboxes are no longer drained: close this journal and open a new one"
            )

    def _drainer_loop(self) -> None:
        self._lower_priority()
        drops_due = 0.0
        while True:
            with self._cond:
                if self._stopping:
                    return
                kernels = list(self._kernels)
                room = self.queue_rows - self._pending_rows
                byte_room = self.queue_bytes - self._pending_bytes
                if byte_room <= 0:
                    room = 0
                flush_gen = self._flush_requested
                refused = set(self._refused)
            if time.monotonic() >= drops_due:
                # Drops are seen (and logged) while nobody asks stats(): ClickHouse away longest.
                drops_due = time.monotonic() + _DROPS_READ_EVERY
                for _, kernel in kernels:
                    self._read_dropped(kernel)
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
                with self._cond:
                    limit = self._take_limit_locked(kernel_id, min(self.drain_rows, room), byte_room)
                try:
                    # Native rows, grouped per table with the GIL released.
                    blocks = kernel.drain_journal_blocks(limit)
                except Exception as exc:  # keep draining the other kernels; say what broke
                    asked_all = False  # a flush must not take this kernel for empty
                    with self._cond:
                        self._counters["drain_failed"] += 1
                        self._stats.last_error = f"drain_journal_blocks({kernel_id}): {exc!r}"
                    log.warning("drain_journal_blocks failed for kernel %s: %r", kernel_id, exc)
                    continue
                if blocks is None:
                    # The strategy thread is inside the kernel right now: try again next poll.
                    with self._cond:
                        self._counters["drain_busy"] += 1
                    asked_all = False
                    continue
                sizes = [_block_bytes(b) for b in blocks]
                now = time.monotonic()
                took = 0  # this kernel's rows: `drained` sums every kernel's of this pass
                with self._cond:
                    if not blocks and kernel_id in self._leaving:
                        self._drop_kernel_locked(kernel)  # detached, and now empty
                    for block, size in zip(blocks, sizes, strict=True):
                        self._enqueue_locked(_Chunk(kernel_id, block.table, block, now, nbytes=size))
                        self._row_bytes[(kernel_id, block.table)] = size / len(block)
                        took += len(block)
                        byte_room -= size
                    drained += took
                    room = room - took if byte_room > 0 else 0
                    self._counters["drained"] += took
                    if took:
                        self._note_drain_locked(now, took)
                        # While a burst is held, a writer that looks again each poll_interval
                        # by itself is not woken per take (each wake costs the strategy a GIL
                        # hand-back); one asleep for up to max_delay is, or it could sleep
                        # past the hold's end. A flush or close lifts the hold.
                        if not (self._writer_looks_soon and self._hold_left_locked(now)):
                            self._cond.notify_all()
                self._yield_gil(time.thread_time() - cpu)
            with self._cond:
                if not drained and asked_all and flush_gen > self._flush_done:
                    # Every kernel said "empty" after the flush was asked for: everything up to
                    # here is what that flush has to wait for.
                    self._flush_done = flush_gen
                    self._flush_target = self._enqueued_total
                    self._cond.notify_all()
                if self._stopping:
                    return
                full = self._queue_full_locked()
                if drained and not full:
                    continue
                if full:
                    self._cond.wait(self.poll_interval)  # the writer frees room and notifies
                elif self._flush_requested == flush_gen:
                    self._cond.wait(self.poll_interval)

    def _floor_due_locked(self) -> bool:
        return any(k not in self._progress_held for k in self._progress_floor)

    def _writer_ready_locked(self) -> bool:
        if not self._queue:
            # A finished fill's span is recorded as progress even when no batch follows, and
            # a refill that came due starts.
            now = time.monotonic()
            return (
                self._floor_due_locked()
                or bool(self._refills_due_locked(now))
                or bool(self._marks_unread and now >= self._marks_retry_at)
            )
        if self._stopping or self._flushers:
            return True
        now = time.monotonic()
        if self._hold_left_locked(now) > 0:
            return False
        return self._pending_rows >= self.batch_rows or now - self._queue[0].drained_at >= self.max_delay

    def _hold_left_locked(self, now: float) -> float:
        """Seconds the queued rows still wait for a burst (``burst_hold``); 0 when not held.
        Forgets the takes that have left the burst's window on the way."""
        if self.burst_hold is None or self._stopping or self._flushers or not self._queue:
            return 0.0
        if self._queue_full_locked():
            return 0.0
        left = self.burst_hold - (now - self._queue[0].drained_at)
        if left <= 0:
            return 0.0
        self._note_drain_locked(now, 0)
        if self._recent_rows < self.batch_rows:
            return 0.0
        return left

    def _note_drain_locked(self, now: float, rows: int) -> None:
        """Remember a take of ``rows`` (none: only forget takes older than ``max_delay``)."""
        recent = self._recent_drains
        while recent and recent[0][0] < now - self.max_delay:
            self._recent_rows -= recent.popleft()[1]
        if rows:
            recent.append((now, rows))
            self._recent_rows += rows

    def _writer_loop(self) -> None:
        self._lower_priority()
        while True:
            with self._cond:
                while not self._writer_ready_locked():
                    if self._stopping and not self._queue:
                        return
                    now = time.monotonic()
                    wait = self.max_delay
                    held = self._hold_left_locked(now)
                    self._writer_looks_soon = held > 0
                    if held:  # look again when the burst may have ended, or when the hold does
                        wait = min(self.poll_interval, held)
                    elif self._queue:
                        wait = max(0.001, self.max_delay - (now - self._queue[0].drained_at))
                    if not self._queue:  # nothing to write: wake for a refill or a mark to read
                        later = [
                            self._refill_after[kid] - now
                            for kid, _ in self._refills_pending_locked()
                            if self._refill_after.get(kid, 0.0) > now
                        ]
                        if self._marks_unread:
                            later.append(self._marks_retry_at - now)
                        wait = min([wait, *later])
                    self._cond.wait(max(0.001, wait))
                self._writer_looks_soon = True  # writing: it looks at the queue again after
                take = list(self._queue)
                self._queue.clear()
                self._taken = take
                if take:
                    self._inflight_since = take[0].drained_at
            # With no take: a finished fill's span to record, a mark to read, a refill to start.
            try:
                held = self._write_take(take)
            except _Aborted:
                with self._cond:
                    # Parts of the take stored before the close gave up are no longer queued.
                    self._pending_rows -= self._take_settled
                    self._settled_total += self._take_settled
                    self._stats.last_error = (
                        f"closed with {self._pending_rows} rows unwritten: {self._stats.last_error}"
                    )
                    self._fail_tickets_locked("the journal was closed before ClickHouse took them", take)
                    self._inflight_since = None
                    self._cond.notify_all()
                return
            self._record_progress(take)
            self._lower_priority()  # as after an insert: chDB reset it
            self._refill_dropped()  # before the batch counts as settled, so flush() waits for it
            if not take:
                continue
            with self._cond:
                n = sum(len(c.rows) for c in take) - held  # held rows left the queue's count already
                self._settled_total += n
                self._pending_rows -= n
                self._pending_bytes -= sum(c.nbytes for c in take)  # held chunks' are 0 by now
                self._take_settled = 0
                self._inflight_since = None
                self._cond.notify_all()

    def _record_progress(self, take: list[_Chunk]) -> None:
        """Store, per kernel, the seq below which every drained row is now in ClickHouse.

        The outbox hands rows out in seq order and takes are written in order, so once a take
        is stored every row before its last seq is; that seq itself may have rows still in
        the outbox. Not for a kernel whose WAL fill is not stored yet, nor, for a kernel that
        is filled from its WAL, past the oldest input its outbox dropped for lack of room
        (a refill, or the next attach, derives those rows again). Best effort: a failure here only leaves
        an older (safe) value.
        """
        last: dict[str, int] = {}
        with self._cond:
            held = self._progress_held | set(self._refused)  # a refused kernel's rows are not stored
            floors = {k: v for k, v in self._progress_floor.items() if k not in held}
            for k in floors:
                del self._progress_floor[k]
            if take:  # spans whose recording failed before go with a real batch
                for k, v in self._floor_retry.items():
                    floors.setdefault(k, v)
                self._floor_retry.clear()
            fillable = [(kid, k) for kid, k in self._kernels if kid in self._fillable]
        unknown: set[str] = set()
        marks: dict[str, int] = {}
        for kernel_id, kernel in fillable:
            known, dropped_from = kernel.journal_drop_mark()
            if not known:  # busy right now: vouch for nothing of it this time
                unknown.add(kernel_id)
            elif dropped_from is not None:
                marks[kernel_id] = dropped_from
        with self._cond:
            for kernel_id, dropped_from in marks.items():
                self._note_drop_locked(kernel_id, dropped_from)
            dropped_from_all = {kid: min(marks) for kid, marks in self._dropped_marks.items()}
            # A busy kernel's mark is read again at the next poll, batch or not.
            self._marks_unread = unknown | (self._marks_unread - {kid for kid, _ in fillable})
            self._marks_retry_at = time.monotonic() + self.poll_interval
        for chunk in take:
            seqs = chunk.rows.seq_range
            if chunk.ticket is None and seqs is not None and chunk.kernel_id not in held | unknown:
                last[chunk.kernel_id] = max(last.get(chunk.kernel_id, 0), seqs[1])
        for kernel_id, stored_to in floors.items():  # everything up to it is stored
            last[kernel_id] = max(last.get(kernel_id, 0), stored_to + 1)
        for kernel_id, seq in dropped_from_all.items():
            if kernel_id in last:
                last[kernel_id] = min(last[kernel_id], seq)
        rows = [(kid, seq - 1) for kid, seq in last.items() if seq > 1]
        try:
            if rows:
                if self._client is None:
                    raise _Unreachable("not connected")
                self._client.insert(
                    PROGRESS_TABLE,
                    rows,
                    column_names=["kernel_id", "settled_seq"],
                    column_type_names=["LowCardinality(String)", "UInt64"],
                )
                with self._cond:
                    self._settled_seq.update(dict(rows))
                self._lift_block(PROGRESS_TABLE)
        except Exception as exc:  # advisory: the rows themselves are stored
            log.debug("could not record journal progress: %r", exc)
            self._let_go_if_dead(exc, f"recording progress: {type(exc).__name__}: {exc}")
            # A dropped progress table is made again for next time.
            _, remake_error = self._remigrate_if_missing(exc)
            if remake_error:
                log.warning("re-creating journal tables failed: %s", remake_error)
            with self._cond:
                # gap_start() stays where it was: say why.
                self._counters["progress_failed"] += 1
                self._stats.last_error = f"recording progress: {type(exc).__name__}: {exc}"
                for kernel_id, stored_to in floors.items():
                    self._floor_retry[kernel_id] = max(self._floor_retry.get(kernel_id, 0), stored_to)

    def gap_start(self, kernel_id: str) -> int:
        """The first seq whose rows may be missing for ``kernel_id``: resend from here.

        Every row of the kernel with a lower seq is stored; for a kernel attached without a WAL
        fill (``wal_fill=False``), rows its outbox dropped when it overflowed excepted
        (``stats().dropped``), and rows of inputs before its newest checkpoint that a crash left
        unwritten: once later rows are stored, it moves past them (read it before attaching to
        resend them). 1 when nothing is recorded.
        """
        res = self.query(
            f"SELECT max(settled_seq) FROM {PROGRESS_TABLE} WHERE kernel_id = {{k:String}}", {"k": kernel_id}
        )
        return int(res.rows[0][0] or 0) + 1

    def _write_take(self, take: list[_Chunk]) -> int:
        """Write a take; returns the rows of it held for a refused kernel (see ``attach``)."""
        # Group by (kernel, table, backfill call) keeping drain order; one insert per group and
        # batch_rows. Backfill rows get the key check; drained rows get it only below the
        # high-water mark found at startup, or up to where a refill derives rows too.
        groups: dict[tuple[str, str, int], list[_Chunk]] = {}
        for chunk in take:
            groups.setdefault((chunk.kernel_id, chunk.table, id(chunk.ticket)), []).append(chunk)
        self._take_settled = 0
        held = 0
        for (kernel_id, table, _), chunks in groups.items():
            # A kernel attached unchecked is checked before any of its rows meets a key check.
            if not chunks[0].resend and not self._may_write(kernel_id, table):
                held += self._hold(kernel_id, chunks)
                continue
            rows = _concat([c.rows for c in chunks])
            ticket = chunks[0].ticket
            for start in range(0, len(rows), self.batch_rows):
                part = rows.slice(start, start + self.batch_rows)
                cpu = time.thread_time()
                res = self._write_batch(kernel_id, table, part, ticket is not None, chunks[0].drained_at)
                self._yield_gil(time.thread_time() - cpu)
                # Counted as each part is done: a close that gives up later in the take must
                # not report these rows as unwritten.
                self._take_settled += len(part)
                if ticket is not None:
                    with self._cond:
                        ticket.result.written += res.written
                        ticket.result.already_present += res.already_present
                        ticket.result.rejected += res.rejected
                        ticket.remaining -= len(part)
                        if ticket.remaining <= 0:
                            ticket.done.set()
                            self._cond.notify_all()  # backfill() waits on the condition
        return held

    def _may_write(self, kernel_id: str, table: str) -> bool:
        """Whether the kernel's rows may be written (False: refused, see ``attach``). One
        attached unchecked is checked first, asked until ClickHouse answers, as an insert is
        retried (for ``table``, whose rows wait on it)."""
        attempt = 0
        remade = False  # tables were made again for this check already
        while True:
            with self._cond:
                if kernel_id in self._refused or kernel_id not in self._unchecked:
                    return kernel_id not in self._refused
                self._attempt_no += 1
                attempt_no = self._attempt_no
            try:
                self._writer_client()
                allowed = self._check_unchecked(
                    kernel_id, functools.partial(self._writer_stored_seq, kernel_id)
                )
            except _Aborted:  # closed while a client was opened: not a failure to note
                raise
            except Exception as exc:
                error = f"{table}: {type(exc).__name__}: {exc} (reading the seq stored for {kernel_id})"
                with self._cond:
                    self._stats.last_error = error
                remade = self._writer_failed(table, exc, error, attempt_no, attempt, remade) or remade
                attempt += 1
                continue
            finally:
                self._lower_priority()
            if attempt:
                self._lift_block(table)
            return allowed

    def _writer_stored_seq(self, kernel_id: str) -> int:
        """``_read_stored_seq`` on the writer's own connection."""
        res = self._client.query(_stored_seq_sql(), parameters={"k": kernel_id})
        return int(res.result_rows[0][0] or 0)

    def _hold(self, kernel_id: str, chunks: list[_Chunk]) -> int:
        """Keep a refused kernel's rows out of ClickHouse and of the queue's count (they take
        no room from the other kernels), still counted in ``stats().queued``; their number."""
        n = sum(len(c.rows) for c in chunks)
        with self._cond:
            self._held_rows[kernel_id] += n
            self._pending_rows -= n
            self._settled_total += n
            for chunk in chunks:  # out of the queue's count: they take no room
                self._pending_bytes -= chunk.nbytes
                chunk.nbytes = 0
            for chunk in chunks:  # a WAL fill's (it checks first, so none in practice)
                if chunk.ticket is not None and not chunk.ticket.done.is_set():
                    chunk.ticket.failed = self._refused[kernel_id].error
                    chunk.ticket.done.set()
            self._cond.notify_all()
        return n

    def _hwm_for(self, kernel_id: str, table: str) -> int:
        key = (kernel_id, table)
        if key not in self._hwm:
            res = self._client.query(
                f"SELECT max(seq) FROM {quote_ident(table)} WHERE kernel_id = {{k:String}}",
                parameters={"k": kernel_id},
            )
            self._hwm[key] = int(res.result_rows[0][0] or 0)
        return self._hwm[key]

    def _existing_keys(self, kernel_id: str, table: str, rows: _Rows) -> set[tuple[int, int]]:
        seqs = rows.seq_range
        if seqs is None:
            return set()
        lo, hi = seqs
        res = self._client.query(
            f"SELECT seq, sub FROM {quote_ident(table)} "
            "WHERE kernel_id = {k:String} AND seq BETWEEN {lo:UInt64} AND {hi:UInt64}",
            parameters={"k": kernel_id, "lo": lo, "hi": hi},
        )
        return {(int(s), int(u)) for s, u in res.result_rows}

    def _columns_for(
        self, kernel_id: str, table: str, rows: Sequence[tuple[Any, ...]]
    ) -> list[Sequence[Any]]:
        cols: list[Sequence[Any]] = [[kernel_id] * len(rows), *zip(*rows, strict=True)]
        for i, (name, type_name) in enumerate(TABLE_COLUMNS[table]):
            if i and _is_text_type(type_name):
                cols[i] = _text_values(table, name, "Nullable(" in type_name, cols[i])
        # DateTime64(6) takes integer microseconds; the kernel gives float epoch seconds. A time
        # that is not finite (a refused input's; its details name it) is stored as the epoch,
        # one beyond the column's range at its nearer end, as the kernel's Native blocks do.
        cols[_TS_INDEX + 1] = [_ts_micros(t) for t in cols[_TS_INDEX + 1]]
        return cols

    def _insert(self, kernel_id: str, table: str, rows: _Rows, token: str) -> None:
        names = [n for n, _ in TABLE_COLUMNS[table]]
        # Tables are partitioned by month: a batch spanning more than 100 months (history
        # replayed, a long gap resent) is refused by default, and the retry would never end.
        settings = {"insert_deduplication_token": token, "max_partitions_per_insert_block": 0}
        if isinstance(rows, JournalBlock):
            # Native bytes made by the kernel with the GIL released, every column in its
            # table's type (LowCardinality ones as per-block dictionaries): nothing to convert.
            # A kernel's block never holds a key twice (one row per seq and sub), so the
            # ReplacingMergeTree merge of the block at insert (optimize_on_insert) would find
            # nothing to collapse; without it chDB stores a burst in about 40 % less time.
            self._client.raw_insert(
                table,
                column_names=names,
                insert_block=rows.encode(),
                settings={**settings, "optimize_on_insert": 0},
                fmt="Native",
            )
            return
        self._client.insert(
            table,
            self._columns_for(kernel_id, table, rows.tuples()),
            column_names=names,
            column_type_names=[t for _, t in TABLE_COLUMNS[table]],
            column_oriented=True,
            settings=settings,
        )

    def _write_batch(
        self, kernel_id: str, table: str, rows: _Rows, check: bool, drained_at: float
    ) -> BackfillResult:
        """Insert ``rows`` until ClickHouse takes them; returns what was written or skipped."""

        result = BackfillResult()
        work: list[tuple[_Rows, bool]] = [(rows, check)]
        while work:
            part, must_check = work.pop()
            attempt = 0
            remade = False  # tables were made again for this part already
            # In the deduplication token: the retries of this part share it, a later send of
            # the same keys does not. ClickHouse keeps a table's last 1000 tokens also after
            # their rows are deleted, and would drop rows deleted and sent again as duplicates.
            self._sends += 1
            send = f"{self._token_prefix}.{self._sends}"
            while True:
                with self._cond:
                    self._attempt_no += 1
                    attempt_no = self._attempt_no
                # Only an error of the insert (the rows' encoding) may set rows aside: one of
                # the key check's queries before it is no fault of the rows.
                inserting = False
                try:
                    self._writer_client()
                    first_key = part.first_key
                    if not must_check and first_key and first_key[0] <= self._check_through.get(kernel_id, 0):
                        must_check = True  # rows a refill derives too: it may have stored them
                    if not must_check and first_key and first_key[0] <= self._hwm_for(kernel_id, table):
                        must_check = True  # rows from before a restart: some may be stored already
                    todo = part
                    if must_check:
                        present = self._existing_keys(kernel_id, table, part)
                        todo = part.without(present) if present else part
                    if len(todo):
                        (s0, u0), (s1, u1) = todo.first_key or (0, 0), todo.last_key or (0, 0)
                        token = f"{kernel_id}/{table}/{s0}.{u0}/{s1}.{u1}/{len(todo)}/{send}"
                        inserting = True
                        self._insert(kernel_id, table, todo, token)
                    # Counted once the attempt went through: a failed one's check is made again.
                    result.written += len(todo)
                    result.already_present += len(part) - len(todo)
                    with self._cond:
                        self._stats.written += len(todo)
                        self._written_by_table[table] += len(todo)
                        self._counters["batches"] += 1
                        self._counters["already_present"] += len(part) - len(todo)
                        self._last_write_latency = time.monotonic() - drained_at
                    self._lift_block(table)
                    break
                except _Aborted:  # closed while a client was opened: not a failure to note
                    raise
                except Exception as exc:
                    error = f"{table}: {type(exc).__name__}: {exc}"
                    with self._cond:
                        self._stats.failed += 1
                        self._stats.last_error = error
                    if inserting and _is_encoding_error(exc):
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
                    remade = self._writer_failed(table, exc, error, attempt_no, attempt, remade) or remade
                    attempt += 1
                finally:
                    # chDB ran queries and inserts on this thread at the journal's nice value,
                    # and set it back to nice 0 after each one.
                    self._lower_priority()
        return result

    def _writer_client(self) -> Any:
        """The writer's client, opened when it has none (ClickHouse away so far, or one that no
        longer answered was let go). A journal closed meanwhile gets no new one: close() has
        released the client it found, so this one is closed here and _Aborted raised."""
        if self._client is not None:
            return self._client
        client = self._open_writer_client()
        with self._cond:
            if not self._abort.is_set():
                self._client = client
                if self._client_lost:
                    self._client_lost = False
                    self._counters["clients_reopened"] += 1
                return client
        client.close()
        raise _Aborted

    def _writer_failed(
        self, table: str, exc: Exception, error: str, attempt_no: int, attempt: int, remade: bool
    ) -> bool:
        """Both of the writer's retry loops (an insert, an unchecked kernel's check) after their
        attempt ``attempt_no`` on ``table``, their ``attempt``-th retry, failed with ``exc``
        (``error`` names it): tables or the database ClickHouse said are missing are made again,
        a client that no longer answers is let go, and the failure is noted and waited out
        (:meth:`_fail_and_wait`). ``remade``: tables were made again for this already (missing
        again, they could not be: a block). Returns whether anything was made again."""
        made, remake_error = self._remigrate_if_missing(exc)
        # A table or database made again is tried at once; missing once more after that, it
        # could not be made after all.
        cause = None if made and not remade else _permanent_cause(exc)
        if cause is not None and remake_error:
            error = f"{error}; making it again failed: {remake_error}"
        # Counted before the client is pinged (a query of its own), so stats() says the
        # failure as soon as it happened.
        self._note_failure(table, cause, error, attempt_no)
        if cause is None:
            self._let_go_if_dead(exc, error)
        self._backoff_after(cause, attempt_no, attempt)
        return made

    def _let_go_if_dead(self, exc: BaseException, error: str) -> None:
        """After a failure that may pass (``exc``, named by ``error``): a writer's client that no
        longer answers (closed under the writer, its chDB connection or the server's
        connections gone) is closed and let go, so the next attempt opens a new one; logged
        once per client. Kept, it would fail every retry alike, for good."""
        client = self._client
        if client is None or _answered_by_clickhouse(exc):
            return  # an error ClickHouse sent came through the client: it answers
        try:
            if client.ping():
                return  # the failure was not the client's: a new one would cure nothing
        except Exception:
            log.debug("the journal writer's client failed its ping", exc_info=True)
        with self._cond:
            if self._client is not client:
                return
            self._client = None
            self._client_lost = True
        log.warning(
            "journal %s: the writer's client to ClickHouse no longer answers (%s): it is closed and "
            "a new one opened for the next attempt",
            self.target.display,
            error,
        )
        try:
            client.close()
        except Exception:  # a client whose connection is gone may fail to close it too
            log.debug("could not close the journal writer's lost client", exc_info=True)

    def _remigrate_if_missing(self, exc: BaseException) -> tuple[bool, str]:
        """After ClickHouse said a journal table or the database is missing: make them again.
        Returns whether anything was made, and why making them failed ("" when it did not)."""
        if _permanent_cause(exc) in ("UNKNOWN_TABLE", "UNKNOWN_DATABASE"):
            return self._remigrate()
        return False, ""

    def _remigrate(self) -> tuple[bool, str]:
        if self._client is None:
            return False, ""
        try:
            applied = migrate(self._client, self.target.database)
            restored = restore_missing_tables(self._client, self.target.database)
            if restored:
                log.warning("journal tables %s were missing and were created again", ", ".join(restored))
                with self._cond:
                    self._counters["tables_restored"] += len(restored)
            return bool(applied or restored), ""
        except Exception as exc:  # the insert's error goes on with this one; the caller says it
            log.debug("re-creating journal tables failed: %r", exc)
            return False, f"{type(exc).__name__}: {exc}"

    def _note_failure(self, table: str, cause: str | None, error: str, attempt_no: int) -> None:
        """Count a failed attempt to write; one ClickHouse refuses for a permanent ``cause``
        blocks the writer (logged as an error when the table or the cause is new)."""
        with self._cond:
            self._stats.retries += 1
            before = self._blocked
        if cause is None:
            self._note_passing_failure(error)
            return  # a failure that may pass: a block stands until an insert goes through
        again = before is not None and (before.table, before.cause) == (table, cause)
        if not again:
            # Logged before it is published: whoever finds the writer blocked finds it logged.
            with self._cond:
                rows = self._pending_rows
            why = self._blocked_text(table, cause, error, rows)
            log.error("journal %s is blocked: %s", self.target.display, why)
        with self._cond:
            since = before.since if before is not None and again else time.monotonic()
            self._blocked = _Blocked(table, cause, error, since, attempt_no)
            self._cond.notify_all()

    def _note_passing_failure(self, error: str) -> None:
        """A failure that may pass (ClickHouse away, say): logged when the writer starts
        failing, then at most once a ``_LOG_EVERY`` while it keeps failing, with the rows
        waiting (``_lift_block`` logs the recovery). Retries alone are not logged: they come
        every ``retry_max`` seconds."""
        now = time.monotonic()
        with self._cond:
            failing = self._failing
            if failing is None:
                failing = self._failing = _Failing(since=now)
            failing.failures += 1
            if now - self._failure_logged_at < _LOG_EVERY:
                return
            self._failure_logged_at = now
            first = not failing.logged
            failing.logged = True
            failures = failing.failures
            rows = self._pending_rows
        if first and failures == 1:
            log.warning(
                "journal %s: ClickHouse does not take rows: %s; %d rows wait, kept and tried again "
                "(said again at most once a minute while it lasts)",
                self.target.display,
                error,
                rows,
            )
        else:
            log.warning(
                "journal %s: ClickHouse has not taken rows for %.0f s (%d failed attempts), lately: %s; "
                "%d rows wait, kept and tried again",
                self.target.display,
                now - failing.since,
                failures,
                error,
                rows,
            )

    def _fail_and_wait(
        self, table: str, cause: str | None, error: str, attempt_no: int, attempt: int
    ) -> None:
        """Note the writer's failed attempt ``attempt_no`` on ``table`` and wait before the next:
        the backoff of the ``attempt``-th retry for a failure that may pass, ``retry_blocked``
        (cut short by a flush() or backfill()) for a permanent ``cause``."""
        self._note_failure(table, cause, error, attempt_no)
        self._backoff_after(cause, attempt_no, attempt)

    def _backoff_after(self, cause: str | None, attempt_no: int, attempt: int) -> None:
        """The wait after failed attempt ``attempt_no``, the ``attempt``-th retry: the backoff
        for a failure that may pass, ``retry_blocked`` for a permanent ``cause``."""
        if cause is None:
            delay = min(self.retry_max, self.retry_initial * (2 ** min(attempt, 30)))
        else:
            delay = self.retry_blocked
        self._writer_backoff(delay, attempt_no, prompt=cause is not None)

    def _writer_backoff(self, delay: float, attempt_no: int, prompt: bool) -> None:
        """Wait ``delay`` seconds after the writer's failed attempt ``attempt_no``; a blocked
        writer (``prompt``) goes on at once when a flush() or backfill() asked for an attempt
        after that one. Raises _Aborted when the journal closes."""
        with self._retry_cond:
            self._retry_cond.wait_for(
                lambda: self._abort.is_set() or (prompt and self._retry_wanted >= attempt_no), delay
            )
        if self._abort.is_set():
            raise _Aborted

    def _ask_retry_locked(self) -> int:
        """A blocked writer tries again at once (not after ``retry_blocked``). Returns the
        attempt after which a blocked writer is blocked for the caller's rows too."""
        self._retry_wanted = max(self._retry_wanted, self._attempt_no)
        self._retry_cond.notify_all()
        return self._attempt_no

    def _wait_unblocked_locked(self, done: Callable[[], bool], deadline: float | None, after: int) -> bool:
        """``_wait_locked`` for ``done``, raising JournalBlockedError once an attempt after
        ``after`` left the writer blocked: waiting on would not end while the cause stays."""

        def stuck() -> bool:
            return self._blocked is not None and self._blocked.attempt > after

        ready = self._wait_locked(lambda: done() or stuck(), deadline)
        if ready and not done():
            raise self._blocked_error_locked()
        return ready

    def _blocked_error_locked(self) -> JournalBlockedError:
        blocked = self._blocked
        assert blocked is not None
        return JournalBlockedError(
            f"journal writes to {self.target.display} are blocked: "
            + self._blocked_text(blocked.table, blocked.cause, blocked.error, self._pending_rows)
        )

    def _blocked_text(self, table: str, cause: str, error: str, rows: int) -> str:
        """What blocks the writer and what becomes of the rows: the log and the error say it alike."""
        return (
            f"ClickHouse refuses inserts into {table} ({cause}), and retrying alone will not get them "
            f"in: {error}. {rows} rows are kept and tried again every {self.retry_blocked:g} s and at "
            "each flush(); fix the cause and they are written"
        )

    def _reject(self, kernel_id: str, table: str, row: tuple[Any, ...], exc: BaseException) -> None:
        names = [n for n, _ in TABLE_COLUMNS[table]][1:]
        record = {
            "kernel_id": kernel_id,
            "table": table,
            "row": dict(zip(names, row, strict=False)),
            "error": f"{type(exc).__name__}: {exc}",
        }
        log.error("journal row cannot be encoded and is set aside: %s", record)
        with self._cond:
            self._rejected.append(record)
            self._counters["rejected_rows"] += 1


def _close_at_exit(ref: weakref.ref[ClickHouseJournal]) -> None:
    """At interpreter exit, close a journal nobody closed, so the rows it was given are written."""
    journal = ref()
    if journal is None or journal._closed:
        return
    before = journal.stats()
    log.warning(
        "journal %s was not closed: closing it at exit (kernels %s, %d rows queued, up to %ss)",
        journal.target.display,
        before.extra["kernels"],
        before.queued,
        journal.close_timeout,
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
