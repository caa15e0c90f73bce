"""Read-only SQL on a journal, including one that a running kernel holds open.

chDB locks its directory for the process that opened it, so an operator's ``dita journal
sql`` cannot open a live kernel's embedded journal. Instead the journal owner serves
read-only queries on a Unix socket next to the data (:class:`QueryServer`); the CLI talks
to it (:func:`run_query`) and opens the directory itself only when nobody holds it.

Two fences keep it read-only: :func:`check_read_only` refuses anything but a single query
statement, ``INTO OUTFILE`` and calls of functions that reach files, the network or other
processes (:data:`REFUSED_FUNCTIONS`), with a message saying so; and every query runs on a
client opened with ``readonly=1``, so ClickHouse itself refuses writes, DDL, setting changes
and most table functions even if a statement slipped past the first check. The first fence
matters in its own right: chDB runs a query in the owner's process, where ``readonly=1``
stops neither ``INTO OUTFILE`` nor the scalar ``file()``.

One file per part, read in this order:

- ``__init__.py``: a query run on a read-only client (:func:`execute`), its settings and the
  caps on its result; the caps are read here when a client opens and a result is taken.
- ``guard.py``: the first fence, :func:`check_read_only`, and the lexer it reads SQL with.
- ``parameters.py``: ``{name:Type}`` placeholders and the values bound to them.
- ``server.py``: the owner's query socket (:class:`QueryServer`) and its client
  (:func:`query_via_socket`).
- ``directory.py``: a query wherever the journal is (:func:`run_query`), and who holds an
  embedded journal's directory.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from json.encoder import encode_basestring_ascii
from typing import Any

from dita.journal.dsn import JournalTarget
from dita.journal.query.guard import ALLOWED_STATEMENTS as ALLOWED_STATEMENTS
from dita.journal.query.guard import REFUSED_FUNCTIONS as REFUSED_FUNCTIONS
from dita.journal.query.guard import (
    ReadOnlyViolation,
    _lex,
    _significant,
    _statement_kind,
    check_read_only,
)
from dita.journal.query.parameters import _composite_literals, placeholders, spaced_placeholders
from dita.journal.query.parameters import check_bound as check_bound

__all__ = [
    "QUERY_WAIT_SECONDS",
    "RESULT_BYTES_CAP",
    "RESULT_ROWS_CAP",
    "STREAM_BLOCK_ROWS",
    "JournalUnavailable",
    "QueryResult",
    "QueryServer",
    "ReadOnlyViolation",
    "ServerClosed",
    "chdb_holder",
    "check_read_only",
    "execute",
    "held_by_a_query",
    "open_read_only_client",
    "placeholders",
    "query_via_socket",
    "refused_as_held",
    "row_cap_settings",
    "run_query",
    "spaced_placeholders",
]


log = logging.getLogger(__name__)


RESULT_ROWS_CAP = 1_000_000
"""The most rows a journal query returns: a longer result is cut to its first this many, and
said to be (``QueryResult.truncated``)."""


RESULT_BYTES_CAP = 256 << 20
"""The most bytes of values a journal query returns, each value counted as the larger of its JSON
on the owner's socket and a floor for its Python object (:func:`_result_bytes`): a result past it
is cut after the row that reached it, and said to be. ``max_memory_usage`` bounds what ClickHouse
holds, not the result's rows as Python objects and JSON in the owner's process (1,000,000 rows of
1,000 characters took a kernel's process to 4.3 GB)."""


# Applied to every operator query: ClickHouse's own read-only mode, and bounds so a careless
# query cannot starve the kernel's process (where an embedded journal runs it) of memory or
# time. A client takes them when it is opened, at its first query: change them before that.
# readonly goes last because it also forbids changing settings afterwards.
STREAM_BLOCK_ROWS = 4096
"""Rows a block of an operator query's result holds (ClickHouse's ``max_block_size``)."""


READ_ONLY_SETTINGS: dict[str, Any] = {
    # With the row cap's `limit` and `max_result_rows`, which a client takes from
    # RESULT_ROWS_CAP when it opens (`row_cap_settings`).
    "result_overflow_mode": "break",
    "max_execution_time": 120,
    "max_memory_usage": 1 << 30,
    # A streamed result is turned into Python objects a block at a time, before its rows meet
    # RESULT_BYTES_CAP: at ClickHouse's 65,409 rows a block of 1,000 floats a row took the
    # owner's process to 4.8 GB before the first check.
    "max_block_size": STREAM_BLOCK_ROWS,
    # Times are UTC (docs/reference/journal.md), as the journal's are: a time's text ('2026-11-20 10:41:07'
    # for a {since:DateTime64(6)}) is otherwise read in the session's zone, the host's for the
    # embedded engine, and a window copied from the journal's output missed its rows.
    "session_timezone": "UTC",
    "readonly": 1,
}


QUOTED_QUERY = re.compile(r": \(in query: .*\)(?=\. \([A-Z_]+\)$)", re.DOTALL)
"""The query ClickHouse's embedded engine quotes in an error of a streamed query, on several
lines, with the FORMAT clause the client appended."""


@dataclass
class QueryResult:
    """``truncated``: the result had more rows than :data:`RESULT_ROWS_CAP` or more bytes
    than :data:`RESULT_BYTES_CAP` and holds its first rows only."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool = False

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def times_cut_to_microseconds(self) -> list[tuple[str, str]]:
        """The columns, as (name, type), whose type keeps time past the microsecond: a
        DateTime64 or Time64 of precision 7 to 9, alone or inside an Array, Tuple, Map or
        Nullable. Their values are here to the microsecond only, the digits after the 6th cut
        off: the client reads them into Python's datetime and timedelta, which keep no more.
        ``toString()`` of such a column gives ClickHouse's text with every digit."""
        return [
            (name, type_)
            for name, type_ in zip(self.columns, self.types, strict=True)
            if _PAST_MICROSECONDS.search(_QUOTED_IN_TYPE.sub("''", type_))
        ]

    def times_maybe_cut(self) -> list[tuple[str, str]]:
        """The columns, as (name, type), of a type whose values are of any type (``Dynamic``,
        ``JSON``, alone or inside another) with a value here that reads as a time: its own type,
        and so its precision, is not in the column's, and at 7 to 9 digits it is cut as above.
        Text that only looks like a time is named too; a column ``times_cut_to_microseconds``
        names is left out."""
        found = []
        for index, (name, type_) in enumerate(zip(self.columns, self.types, strict=True)):
            unquoted = _NAME_IN_TYPE.sub("``", _QUOTED_IN_TYPE.sub("''", type_))
            if _PAST_MICROSECONDS.search(unquoted) or not _ANY_TYPE.search(unquoted):
                continue
            if any(_holds_a_time(row[index]) for row in self.rows):
                found.append((name, type_))
        return found


_PAST_MICROSECONDS = re.compile(r"\b(?:DateTime64|Time64)\(\s*[789]\s*[,)]")
# A quoted text in a type name (a time zone, an Enum's names) may read as any type; so may a
# JSON path's name, quoted with backticks.
_QUOTED_IN_TYPE = re.compile(r"'(?:[^'\\]|\\.)*'")
_NAME_IN_TYPE = re.compile(r"`(?:[^`\\]|\\.)*`")
# The types whose values are of any type, that type not in the column's (a Variant names its).
_ANY_TYPE = re.compile(r"\b(?:Dynamic|JSON|Object)\b")
# A time as _jsonable writes it: a datetime's isoformat, a time's, or a timedelta's str().
_TIME_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2})?"
    r"|(?:-?\d+ days?, )?\d{1,2}:\d{2}:\d{2}(?:\.\d{1,6})?"
)


def _holds_a_time(value: Any) -> bool:
    """Whether ``value`` (a row's value, after _jsonable) reads as a time, or holds one."""
    if isinstance(value, str):
        return _TIME_TEXT.fullmatch(value) is not None
    if isinstance(value, list):
        return any(_holds_a_time(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_a_time(v) for v in value.values())
    return False


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        # Fixed point, as ClickHouse writes it: str() gives 1.0E-7 for a Decimal(18, 8)'s 0.00000010.
        return format(value, "f")
    if isinstance(value, uuid.UUID | IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, bytes):
        # A String (read as bytes, _TEXT_AS_BYTES) or a FixedString: bytes that are not UTF-8
        # (a left() cutting a character in two) show as U+FFFD, the rest as written.
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(_jsonable(k)): _jsonable(v) for k, v in value.items()}
    return str(value)


# The least a value counts towards RESULT_BYTES_CAP: about half what it takes as a Python object
# in its list (a float 24 bytes and its pointer 8; an empty list 56 and 8; a short text 50 and
# 8), so a result of many small values is cut as one of few large ones is. Counted as their JSON
# alone, '' and [] were nothing, and rows of 1,000 empty arrays built 1e9 Python objects.
_NUMBER_FLOOR = 16
_OBJECT_FLOOR = 32
# An int of more digits than this counts its digits (a UInt256 has up to 78).
_SHORT_INT = 10**14


def _result_bytes(value: Any) -> int:
    """What :data:`RESULT_BYTES_CAP` counts of a row's (:func:`_jsonable`) values: a value's JSON
    on the owner's socket with the ", " after it, or its floor when that is more."""
    if isinstance(value, str):
        # JSON escapes a non-ASCII or control character to 6 bytes (12 for one past U+FFFF):
        # a character each let a result of '€' through with 6 times the cap in JSON.
        return max(len(encode_basestring_ascii(value)) + 2, _OBJECT_FLOOR)
    if isinstance(value, list):
        return _OBJECT_FLOOR + sum(_result_bytes(v) for v in value)
    if isinstance(value, dict):
        return _OBJECT_FLOOR + sum(_result_bytes(k) + _result_bytes(v) for k, v in value.items())
    if isinstance(value, int) and not -_SHORT_INT < value < _SHORT_INT:
        return len(str(value)) + 2
    # Any other number, a bool or None: a float's JSON is at most 24 bytes ("-2.2250738585072014e-308",
    # "0.30000000000000004" is 19), so a result of floats goes out as at most 1.6 times the cap.
    return _NUMBER_FLOOR


def row_cap_settings() -> dict[str, int]:
    """The settings that hold a result to :data:`RESULT_ROWS_CAP` rows.

    One row past the cap, as an outer LIMIT of the statement (not of its subqueries): a row
    there says the result was longer, and the query stops reading there. max_result_rows with
    overflow "break" alone ends a result only after the block that passed it, so a whole result
    of up to a block past the cap could not be told from a cut one.
    """
    past_the_cap = RESULT_ROWS_CAP + 1
    # max_result_rows: a server that ignores `limit` still stops.
    return {"limit": past_the_cap, "max_result_rows": past_the_cap}


def open_read_only_client(target: JournalTarget, nice: int | None = None, label: str | None = None) -> Any:
    """A client on ``target`` that ClickHouse itself keeps read-only, in the journal database.

    ``nice``: the nice value of the chDB threads running its queries (for the journal owner's
    SQL server, whose threads are its own: chDB may put the calling thread back to nice 0).
    ``label``: the ``log_comment`` of its queries, by which ``KILL QUERY`` finds the one it runs
    (chDB runs a query under an id of its own, which the caller cannot set).
    """
    settings = {**row_cap_settings(), **READ_ONLY_SETTINGS}
    if label is not None:
        settings = {"log_comment": label, **settings}
    if nice is not None and target.kind == "chdb":
        settings = {"os_threads_nice_value_query": max(nice, os.getpriority(os.PRIO_PROCESS, 0)), **settings}
    client = target.connect(settings=settings)
    # The session reads times as UTC (session_timezone): clickhouse-connect, which learned the
    # server's zone before that setting applied (the host's, for the embedded engine), writes an
    # aware datetime parameter in that zone and reads a result's zone-less times in it. Told
    # UTC, it writes and reads them as the session does.
    client.server_tz = dt.UTC
    try:
        exists = client.query(
            "SELECT count() FROM system.databases WHERE name = {db:String}",
            parameters={"db": target.database},
        ).result_rows[0][0]
        if not exists:
            raise LookupError(
                f"journal {target.display} has no database {target.database!r} (nothing written yet?)"
            )
        client.database = target.database
    except BaseException:
        client.close()
        raise
    return client


# Strings come as their bytes, decoded by _jsonable: clickhouse-connect gives a String it cannot
# decode as the hex digits of its bytes, which read as text ('signal \xe2', a left() of
# 'signal → enter', came out as '7369676e616c20e2'). Nested ones (arrays, maps) too.
_TEXT_AS_BYTES = {"String": "bytes"}


def execute(client: Any, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
    """Check ``sql`` (and that ``parameters`` bind on the server) and run it on a read-only
    client."""
    body = check_read_only(sql)
    if parameters:
        check_bound(body, parameters)
        parameters = _composite_literals(body, parameters)
    rows: list[list[Any]] = []
    size = 0
    truncated = False

    def take(block: Any) -> bool:
        """Keeps ``block``'s rows up to the caps; whether the result was cut there."""
        nonlocal size
        for row in block:
            # The settings' `limit` lets one row past the row cap through when there are
            # more: its presence, not a count near the cap, says the result was cut.
            if len(rows) >= RESULT_ROWS_CAP or size >= RESULT_BYTES_CAP:
                return True
            values = [_jsonable(v) for v in row]
            size += _result_bytes(values)
            rows.append(values)
        return False

    try:
        if _statement_kind(_significant(_lex(body))) in ("SELECT", "WITH"):
            # Streamed, and left at the cap: the whole result as Python objects (and its JSON
            # on the socket) would take the owner's process several times its size in memory.
            with client.query_row_block_stream(
                body, parameters=parameters or None, query_formats=_TEXT_AS_BYTES
            ) as stream:
                truncated = any(take(block) for block in stream)
                columns = list(stream.source.column_names)
                types = [t.name for t in stream.source.column_types]
        else:
            # SHOW, DESCRIBE, EXISTS: a few rows, and chDB streams none of them ("Streaming
            # query is not supported").
            result = client.query(body, parameters=parameters or None, query_formats=_TEXT_AS_BYTES)
            truncated = take(result.result_rows)
            columns, types = list(result.column_names), [t.name for t in result.column_types]
    except Exception as exc:
        if "MEMORY_LIMIT_EXCEEDED" not in str(exc):
            from clickhouse_connect.driver.exceptions import (
                DatabaseError,
                OperationalError,
                StreamFailureError,
            )

            # A query ClickHouse refused: a DatabaseError, or from chDB a StreamFailureError (an
            # OperationalError, which otherwise says the journal was not reached).
            if isinstance(exc, StreamFailureError) or (
                isinstance(exc, DatabaseError) and not isinstance(exc, OperationalError)
            ):
                syntax_error = _syntax_error(client, sql)
                if syntax_error is not None:
                    raise DatabaseError(syntax_error) from exc
            quoted = QUOTED_QUERY.search(str(exc)) is not None
            if isinstance(exc, StreamFailureError) or (isinstance(exc, DatabaseError) and quoted):
                # ClickHouse's error of the query: it failed, the journal was reached (a
                # StreamFailureError is an OperationalError, a server not reached). Without the
                # query it quotes, which ends in the FORMAT clause the client appended and the
                # caller never wrote.
                raise DatabaseError(QUOTED_QUERY.sub("", str(exc))) from exc
            raise
        cap = READ_ONLY_SETTINGS["max_memory_usage"]
        raise RuntimeError(
            f"the query needed more memory than a journal query may use ({cap / 2**20:,.0f} MiB, "
            "max_memory_usage in dita.journal.query.READ_ONLY_SETTINGS): narrow it (WHERE, LIMIT, "
            f"fewer rows per group); ClickHouse said: {str(exc).splitlines()[0]}"
        ) from exc
    if not rows and not columns and _statement_kind(_significant(_lex(body))) in ("SELECT", "WITH"):
        # ClickHouse sends no block for zero rows, so no names either: DESCRIBE gives them
        # without running the query again.
        try:
            described = client.query(f"DESCRIBE ({body})", parameters=parameters or None).result_rows
            columns, types = [str(r[0]) for r in described], [str(r[1]) for r in described]
        except Exception as exc:  # the query itself answered: its rows, no names
            log.debug("could not describe an empty result's columns: %r", exc)
    return QueryResult(columns=columns, types=types, rows=rows, truncated=truncated)


# The call _syntax_error asks ClickHouse to parse the query with, as its errors name it: "In
# scope SELECT formatQuery('SELECT 1 +')" (other versions: "While processing formatQuery(...)").
_FORMAT_QUERY_CALL = re.compile(
    r":? (?:In scope|While processing) (?:SELECT )?formatQuery\(.*(?=\. \(SYNTAX_ERROR\))", re.S
)


def _syntax_error(client: Any, sql: str) -> str | None:
    """ClickHouse's syntax error of ``sql`` as the caller wrote it, or None when it parses.

    The client runs a query with a FORMAT clause appended, which an unfinished one takes in:
    `SELECT 1 +` reads `FORMAT` as a column, `SELECT 1 AS` fails at `Native`. ClickHouse's error
    of that run names a clause the caller never wrote; parsing the text alone names its own
    fault and position ("failed at position 11 (end of query)")."""
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    try:
        client.query("SELECT formatQuery({sql:String})", parameters={"sql": sql})
    except OperationalError:
        return None  # the journal went away: the query's own error says more
    except DatabaseError as exc:
        said = str(exc)
        return _FORMAT_QUERY_CALL.sub("", said) if "(SYNTAX_ERROR)" in said else None
    return None


# server.py and directory.py import execute and the client from this module: imported after them.
from dita.journal.query.directory import (  # noqa: E402
    QUERY_WAIT_SECONDS,
    JournalUnavailable,
    chdb_holder,
    held_by_a_query,
    refused_as_held,
    run_query,
)
from dita.journal.query.server import (  # noqa: E402
    QueryServer,
    ServerClosed,
    query_via_socket,
)
from dita.journal.query.server import _refused_peer as _refused_peer  # noqa: E402
from dita.journal.query.server import is_wait_seconds as is_wait_seconds  # noqa: E402
