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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, ClassVar

from dita.journal.dsn import JournalTarget
from dita.journal.priority import lower_thread_priority
from dita.services import process_start

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

ALLOWED_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS")

RESULT_ROWS_CAP = 1_000_000
"""The most rows a journal query returns: a longer result is cut to its first this many, and
said to be (``QueryResult.truncated``)."""

RESULT_BYTES_CAP = 256 << 20
"""The most bytes of values (a text's length as JSON, 16 for a number) a journal query returns: a
result past it is cut after the row that reached it, and said to be. ``max_memory_usage``
bounds what ClickHouse holds, not the result's rows as Python objects and JSON in the owner's
process (1,000,000 rows of 1,000 characters took a kernel's process to 4.3 GB)."""

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

_MAX_REQUEST_BYTES = 1 << 20


QUOTED_QUERY = re.compile(r": \(in query: .*\)(?=\. \([A-Z_]+\)$)", re.DOTALL)
"""The query ClickHouse's embedded engine quotes in an error of a streamed query, on several
lines, with the FORMAT clause the client appended."""


class ReadOnlyViolation(ValueError):
    """A statement that is not a single read-only query."""


class JournalUnavailable(RuntimeError):
    """An embedded journal that cannot be opened for a query here (held by another process, or
    a directory the engine cannot write to): no query ran."""


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


# Functions that reach beyond the journal's tables from the process running the query (the
# kernel's, for an embedded journal): files, the network, other programs, the host's Python
# objects. Table functions among them are refused by readonly=1 too, except cluster(),
# clusterAllReplicas() and eval(); the scalar ones (file() above all) are not. Compared
# case-insensitively; tests check every table function of the installed chDB is here or in
# their list of local ones, and every AI function is here.
REFUSED_FUNCTIONS = frozenset(
    name.lower()
    for name in (
        # scalar
        "file",
        "hasColumnInTable",
        "catboostEvaluate",
        "modelEvaluate",
        "aiClassify",
        "aiEmbed",
        "aiExtract",
        "aiFilter",
        "aiGenerate",
        "aiRedact",
        "aiSimilarity",
        "aiTranslate",
        # table
        "arrowFlight",
        "arrowstream",
        "azureBlobStorage",
        "azureBlobStorageCluster",
        "bigquery",
        "cluster",
        "clusterAllReplicas",
        "cosn",
        "deltaLake",
        "deltaLakeAzure",
        "deltaLakeAzureCluster",
        "deltaLakeCluster",
        "deltaLakeLocal",
        "deltaLakeS3",
        "deltaLakeS3Cluster",
        "eval",
        "executable",
        "fileCluster",
        "filesystem",
        "gcs",
        "hdfs",
        "hdfsCluster",
        "hudi",
        "hudiCluster",
        "iceberg",
        "icebergAzure",
        "icebergAzureCluster",
        "icebergCluster",
        "icebergHDFS",
        "icebergHDFSCluster",
        "icebergLocal",
        "icebergLocalCluster",
        "icebergS3",
        "icebergS3Cluster",
        "jdbc",
        "mongodb",
        "mysql",
        "odbc",
        "oss",
        "paimon",
        "paimonAzure",
        "paimonAzureCluster",
        "paimonCluster",
        "paimonHDFS",
        "paimonHDFSCluster",
        "paimonLocal",
        "paimonS3",
        "paimonS3Cluster",
        "postgresql",
        "python",
        "redis",
        "remote",
        "remoteSecure",
        "s3",
        "s3Cluster",
        "sqlite",
        "url",
        "urlCluster",
        "ytsaurus",
    )
)

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# The last two open a string and a name closed by U+2019 and U+201D (ClickHouse 23.x on).
_QUOTES = "'\"`\u2018\u201c"


def _lex(sql: str) -> list[tuple[str, str]]:
    """Split ``sql`` into (kind, text) tokens the way ClickHouse's lexer does where it matters:
    kind is "space", "comment", "string" (quoted or heredoc), "ident" (quoted), "word" or
    "punct" (one character).

    Comments nest (``/* /* */ */``); ``--``, ``//``, ``# `` and ``#!`` run to the end of the
    line; strings end at an unescaped quote (``\\`` escapes, a doubled quote continues them);
    curly quotes (U+2018 to U+2019, U+201C to U+201D) hold a string and a name, without
    escapes; ``$tag$ ... $tag$`` is a string. A string or comment left open runs to the end
    (ClickHouse refuses such a query). Other characters outside ASCII count as space:
    ClickHouse takes them for space or refuses the query. Raises :class:`ReadOnlyViolation`
    for a heredoc whose tag is not letters, digits and _ (``$q'$ ... $q'$``): ClickHouse
    versions read that either way.
    """
    out: list[tuple[str, str]] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in _QUOTES:
            j = i + 1
            if c in "\u2018\u201c":
                j = sql.find("\u2019" if c == "\u2018" else "\u201d", j)
                j = n if j < 0 else j + 1
            else:
                while j < n:
                    if sql[j] == "\\":
                        j += 2
                    elif sql[j] == c:
                        if not sql.startswith(c, j + 1):
                            break
                        j += 2  # a doubled quote
                    else:
                        j += 1
                j = min(j + 1, n)
            out.append(("string" if c in "'\u2018" else "ident", sql[i:j]))
        elif c.isspace() or not c.isascii():
            j = i + 1
            while j < n and (sql[j].isspace() or not sql[j].isascii()) and sql[j] not in _QUOTES:
                j += 1
            out.append(("space", sql[i:j]))
        elif sql.startswith(("--", "//", "# ", "#!"), i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(("comment", sql[i:j]))
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while depth and j < n:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(("comment", sql[i:j]))
        elif c == "$" and (heredoc := _heredoc(sql, i)):
            j = i + len(heredoc)
            out.append(("string", heredoc))
        elif c in _WORD_CHARS or (c == "$" and i + 1 < n and sql[i + 1] in _WORD_CHARS):
            # A word may hold '$' after its start; one that starts as a number may hold '.' and
            # not '$' (ClickHouse ends the number there, and a '$' may open a heredoc).
            more = _WORD_CHARS | ({"."} if c.isdigit() else {"$"})
            j = i + 1
            while j < n and sql[j] in more:
                j += 1
            out.append(("word", sql[i:j]))
        else:
            j = i + 1
            out.append(("punct", c))
        i = j
    return out


def _heredoc(sql: str, i: int) -> str:
    """The heredoc string starting at ``sql[i] == "$"``, or "" when there is none: ``$tag$``
    up to the next ``$tag$``, as ClickHouse reads it."""
    close = sql.find("$", i + 1)
    if close < 0:
        return ""
    tag = sql[i : close + 1]
    end = sql.find(tag, close + 1)
    if end < 0:
        return ""
    if not set(tag[1:-1]) <= _WORD_CHARS:
        # Older ClickHouse takes any tag, chDB 26.9 letters, digits and _ only: the text
        # would be a string to one and code to the other.
        raise ReadOnlyViolation(
            f"the heredoc tag {tag!r} is refused: use $$ or a tag of letters, digits and _ only"
        )
    return sql[i : end + len(tag)]


def _significant(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [t for t in tokens if t[0] not in ("space", "comment")]


def check_read_only(sql: str) -> str:
    """Return ``sql`` without comments or a trailing ';' if it is one read-only query.

    Raises :class:`ReadOnlyViolation` naming what is refused otherwise: another statement
    kind, a second statement, ``INTO OUTFILE``, a ``FORMAT`` clause (the client picks the
    format), or a call of a function that reaches files, the network or other processes
    (:data:`REFUSED_FUNCTIONS`).
    """
    if not isinstance(sql, str):
        raise ReadOnlyViolation(f"the journal query must be SQL text, got {type(sql).__name__}")
    tokens = _lex(sql)
    end = next((k for k, t in enumerate(tokens) if t == ("punct", ";")), len(tokens))
    if any(t != ("punct", ";") for t in _significant(tokens[end:])):
        raise ReadOnlyViolation("the journal runs one statement at a time; remove everything after the ';'")
    statement = tokens[:end]
    # Comments go: what runs is exactly what was checked.
    body = "".join(" " if kind == "comment" else text for kind, text in statement).strip()
    words = _significant(statement)
    if not words:
        raise ReadOnlyViolation("the journal query is empty")
    first = _statement_kind(words)
    if first not in ALLOWED_STATEMENTS:
        raise ReadOnlyViolation(
            f"the journal is read-only here: {first} statements are refused; "
            "only SELECT (or WITH ... SELECT, SHOW, DESCRIBE, EXISTS) queries run"
        )
    _check_clauses(words)
    return body


def _statement_kind(words: list[tuple[str, str]]) -> str:
    """The statement's first word, upper case (SELECT, WITH, SHOW, ...), past any '('."""
    return next((t for t in words if t != ("punct", "(")), words[-1])[1].upper()


def _check_clauses(words: list[tuple[str, str]]) -> None:
    """Refuse INTO OUTFILE, a FORMAT clause and calls of :data:`REFUSED_FUNCTIONS` among the
    statement's significant tokens (a string is one token, so its text never counts)."""
    depth = 0
    for k, (kind, text) in enumerate(words):
        after = words[k + 1] if k + 1 < len(words) else ("", "")
        if kind == "punct":
            depth += {"(": 1, ")": -1}.get(text, 0)
            continue
        if kind == "word" and text.upper() == "OUTFILE":
            # chDB writes the file itself, in the owner's process, whatever readonly says.
            raise ReadOnlyViolation(
                "INTO OUTFILE is refused: a journal query writes no files; print the rows with "
                "dita journal sql --format csv (or json) and redirect its output"
            )
        if (
            kind == "word"
            and text.upper() == "FORMAT"
            and depth == 0
            and after[0] in ("word", "ident")
            and (k == 0 or words[k - 1][1].upper() != "AS")
        ):
            # The client asks for its own format (Native) after the query: a second one is a
            # syntax error that would quote a FORMAT clause the operator never wrote.
            raise ReadOnlyViolation(
                f"FORMAT {after[1]} is refused: the journal picks the format results travel in; "
                "choose how they print with dita journal sql --format table, csv or json "
                "(a column named format: write it `format`)"
            )
        if kind not in ("word", "ident"):
            continue
        # A name calls a function without a '(' after it too (`* APPLY file`), and a quoted
        # name is a name (`file`('x')), whose escapes ClickHouse decodes (`fi\x6ce` is file):
        # a refused name is refused wherever it stands, and so is any quoted name with an escape.
        if kind == "ident" and text[0] in '"`' and "\\" in text:  # curly-quoted names have no escapes
            raise ReadOnlyViolation(
                f"{text} is refused: a quoted name with escapes may name any function; write the name plainly"
            )
        name = text if kind == "word" else text[1:-1].replace(text[0], "")
        # Each part of a dotted name too (`1x.file` lexes as one word here).
        if any(part.lower() in REFUSED_FUNCTIONS for part in name.split(".")):
            call = "()" if after == ("punct", "(") else ""
            raise ReadOnlyViolation(
                f"{name}{call} is refused: it reaches files, the network or other processes from "
                "the journal owner's process; journal queries read the journal's tables only "
                "(a column or alias of that name: rename it)"
            )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID | IPv4Address | IPv6Address):
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


def _result_bytes(value: Any) -> int:
    """What :data:`RESULT_BYTES_CAP` counts of a row's (:func:`_jsonable`) values."""
    if isinstance(value, str):
        # Its text as the owner's socket sends it: JSON escapes a non-ASCII or control
        # character to 6 bytes (12 for one past U+FFFF), so a character each let a result of
        # '€' through with 6 times the cap in JSON (and 3.9 GB in the owner's process).
        return len(encode_basestring_ascii(value)) - 2
    if isinstance(value, list):
        return sum(_result_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_result_bytes(k) + _result_bytes(v) for k, v in value.items())
    # A number, a bool or None: about what a float takes as JSON ("0.30000000000000004" is 19),
    # and half what it takes as a Python object in its list. Counted as 8, rows of 1,000
    # floats went out as JSON at twice the cap.
    return 16


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


def open_read_only_client(target: JournalTarget, nice: int | None = None) -> Any:
    """A client on ``target`` that ClickHouse itself keeps read-only, in the journal database.

    ``nice``: the nice value of the chDB threads running its queries (for the journal owner's
    SQL server, whose threads are its own: chDB may put the calling thread back to nice 0).
    """
    settings = {**row_cap_settings(), **READ_ONLY_SETTINGS}
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


def check_bound(body: str, parameters: dict[str, Any]) -> None:
    """Refuse ``parameters`` that would change the text of the checked query ``body``.

    Without a ``{name:Type}`` placeholder clickhouse-connect formats the parameters into the
    text itself (Python ``%``-formatting over all of it, strings included), so a value could
    close a string the check read as inert and run what follows. Only server-side binding
    leaves the text as checked."""
    from clickhouse_connect.driver.binding import bind_query

    plain = isinstance(parameters, dict) and all(isinstance(k, str) and k.isidentifier() for k in parameters)
    if not plain:
        raise ReadOnlyViolation("query parameters must be a dict of plain names (letters, digits, _)")
    if any(isinstance(v, bytes | bytearray | memoryview) for v in parameters.values()):
        raise ReadOnlyViolation("query parameters must not be bytes: bound into the text, they change it")
    if bind_query(body, parameters)[0] != body.rstrip(";"):
        raise ReadOnlyViolation(
            "query parameters are bound only through {name:Type} placeholders in the query "
            "(e.g. WHERE kernel_id = {k:String}); this query has none for them"
        )


class _Literal:
    """Text clickhouse-connect passes to the server as it is (its ``str()``), not escaped."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


_COMPOSITE_TYPES = ("array", "tuple", "map")


def placeholders(sql: str) -> list[tuple[str, str]]:
    """Each ``{name:Type}`` placeholder of ``sql`` as (name, type), in order, read as
    clickhouse-connect reads them when it binds the query.

    Only those ClickHouse substitutes: one in a string, a quoted name or a comment is text
    (``-- AND kernel_id = {k:String}`` filters nothing). Raises :class:`ReadOnlyViolation`
    as :func:`check_read_only` does for a heredoc tag it refuses."""
    from clickhouse_connect.driver.binding import external_bind_re

    return [(m[1], m[2]) for m in _at_braces(sql, external_bind_re)]


def spaced_placeholders(sql: str) -> list[tuple[str, str, str]]:
    """Each placeholder of ``sql`` written with spaces (``{ n : Int64 }``), as (written,
    name, type): the client does not read it, so a value given for it alone never reaches
    ClickHouse."""
    from clickhouse_connect.driver.binding import external_bind_re

    return [
        (m[0], m[1], m[2]) for m in _at_braces(sql, _SPACED_PLACEHOLDER) if not external_bind_re.match(m[0])
    ]


_SPACED_PLACEHOLDER = re.compile(r"\{\s*(\w+)\s*:\s*([^{}]+?)\s*\}")


def _at_braces(sql: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """``pattern``'s matches at each brace the lexer finds outside text: a match started in a
    comment or a string could run on over a real placeholder."""
    found = []
    at = 0
    for token in _lex(sql):
        if token == ("punct", "{") and (match := pattern.match(sql, at)):
            found.append(match)
        at += len(token[1])
    return found


def _composite_literals(body: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with each text value for an Array, Tuple or Map placeholder passed as
    ClickHouse's own text of the value (``['t1','t2']``), as clickhouse-client's ``--param_``.

    clickhouse-connect escapes a text value's quotes and backslashes for a String placeholder;
    in a composite one that escaping stands outside any string and ClickHouse cannot parse
    it. The CLI's ``--param`` values (and any over the query socket from it) are all text."""
    types: dict[str, str] = {}
    for name, type_ in placeholders(body):
        types.setdefault(name, type_)
    out = dict(parameters)
    for name, value in parameters.items():
        base = types.get(name, "").partition("(")[0].strip().lower()
        if isinstance(value, str) and base in _COMPOSITE_TYPES:
            out[name] = _Literal(value)
    return out


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
            from clickhouse_connect.driver.exceptions import DatabaseError, StreamFailureError

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


def _refused_peer(connection: socket.socket) -> str | None:
    """Why the process on the other end of ``connection`` may not query, or None.

    Only the owner's uid and root may. An abstract socket (a journal path too long for a
    socket file) has no file permissions at all, and a socket file's depend on the umask,
    so the peer's credentials decide, for every kind."""
    if not hasattr(socket, "SO_PEERCRED"):  # not Linux: no abstract sockets, only files
        return None
    # struct ucred: pid_t (signed), uid_t and gid_t (unsigned: a uid may pass 2**31).
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
    _, uid, _ = struct.unpack("iII", creds)
    owner = os.geteuid()
    if uid in (owner, 0):
        return None
    return f"the journal's query socket answers its owner (uid {owner}) and root only, not uid {uid}"


class _Handler(socketserver.StreamRequestHandler):
    server: _SocketServer

    def handle(self) -> None:
        refused = _refused_peer(self.connection)
        if refused is not None:
            log.warning("refused a query on %r: %s", self.server.owner.address, refused)
            self._answer({"error": refused, "kind": "permission"})
            return
        # One byte more than the limit: a request of exactly the limit still ends in its newline.
        line = self.rfile.readline(_MAX_REQUEST_BYTES + 1)
        if len(line) > _MAX_REQUEST_BYTES and not line.endswith(b"\n"):
            # Read to its end: answered while still sending, the client would see a broken
            # pipe instead of this.
            size = len(line) + self._skip_line()
            error = (
                f"the request is {size:,} bytes, over the {_MAX_REQUEST_BYTES:,}-byte limit of the "
                "journal's query socket: shorten the query or its parameters"
            )
            self._answer({"error": error, "kind": "too_large"})
            return
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("sql"), str):
                raise ValueError("request must be a JSON object with an 'sql' string")
            params = request.get("parameters") or {}
            if not isinstance(params, dict):
                raise ValueError("'parameters' must be a JSON object")
            database = request.get("database")
            if not isinstance(database, str):
                raise ValueError("request must name its 'database'")
            owner = self.server.owner
            lower_thread_priority(owner.nice)  # started by the serving thread: already is
            # A caller that goes away meanwhile (Ctrl-C) does not stop the query: it runs to its
            # end, at most max_execution_time. Stopping it would take a KILL QUERY from a second
            # client, and the embedded client runs a query under an id of its own, not ours.
            res = owner.run(database, request["sql"], params, served=True)
            lower_thread_priority(owner.nice)  # again, as chDB may have reset it
            reply: dict[str, Any] = {
                "columns": res.columns,
                "types": res.types,
                "rows": res.rows,
                "truncated": res.truncated,
            }
        except ReadOnlyViolation as exc:
            reply = {"error": str(exc), "kind": "read_only"}
        except LookupError as exc:
            reply = {"error": str(exc), "kind": "lookup"}
        except Exception as exc:  # reported to the operator; the server keeps serving
            reply = {"error": str(exc), "kind": type(exc).__name__}
        self._answer(reply)

    def _answer(self, reply: dict[str, Any]) -> None:
        """Send ``reply`` as one line. A caller that went away (Ctrl-C on `dita journal sql`)
        has nobody to tell: one line in the owner's log, not a socketserver traceback."""
        try:
            self.wfile.write(json.dumps(reply).encode() + b"\n")
        except OSError as exc:  # BrokenPipeError, ConnectionResetError: the caller has gone
            log.info(
                "a journal query's caller on %r went away before its answer (%s)",
                self.server.owner.address,
                exc,
            )

    def _skip_line(self) -> int:
        """Read the rest of the request line; returns its bytes, the newline left out."""
        size = 0
        while chunk := self.rfile.readline(1 << 16):
            if chunk.endswith(b"\n"):
                return size + len(chunk) - 1
            size += len(chunk)
        return size


class _SocketServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    owner: QueryServer


class ServerClosed(RuntimeError):
    """The query server was closed (its last journal let go of it) before the query ran."""


class QueryServer:
    """Serves read-only SQL on an embedded journal directory's Unix socket, to processes of
    its own uid and root only.

    One per directory and process (chDB hosts one engine per process, so every journal on
    that directory in this process shares it): :meth:`acquire` and :meth:`release` count
    the journals using it. Each database gets its own read-only client.
    """

    _registry: ClassVar[dict[str, QueryServer]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def acquire(cls, target: JournalTarget, nice: int | None = None) -> QueryServer:
        """The directory's server, started by the first journal (with its ``nice``)."""
        with cls._registry_lock:
            server = cls._registry.get(target.socket_address)
            if server is None:
                server = cls(target, nice)
                cls._registry[server.address] = server
            server._users += 1
            return server

    def release(self) -> None:
        with self._registry_lock:
            self._users -= 1
            if self._users > 0:
                return
            self._registry.pop(self.address, None)
        self.close()

    def __init__(self, target: JournalTarget, nice: int | None = None) -> None:
        self.target = target
        # Operators' queries yield the CPU to the strategy like the journal's writing does:
        # the serving thread (and the thread per request it starts, which inherits its nice
        # value) and chDB's threads for the query.
        self.nice = nice
        self.address = target.socket_address
        self._users = 0
        self._clients: dict[tuple[str, bool], Any] = {}
        self._client_locks: dict[tuple[str, bool], threading.Lock] = {}
        self._lock = threading.Lock()
        self._closed = False
        if not self.address.startswith("\0"):
            # A socket file left by a crashed owner: the chDB lock we hold proves it is stale.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
        self._server = _SocketServer(self.address, _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._serve, name="dita-journal-sql", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        lower_thread_priority(self.nice)
        self._server.serve_forever(poll_interval=0.2)

    def run(self, database: str, sql: str, parameters: dict[str, Any], served: bool = False) -> QueryResult:
        """``served``: for a client on the socket, on one of this server's threads; then chDB
        runs it at the server's nice value. Otherwise (the owner's own ``journal.query()``, on
        the caller's thread) priorities are left alone: chDB may reset a thread it ran a
        niced query on to nice 0, and the caller's thread is not ours to change."""
        check_read_only(sql)
        key = (database, served)
        with self._lock:
            if self._closed:  # a client opened now would keep the engine open for good
                raise ServerClosed(f"the query server of {self.address!r} is closed")
            in_use = self._client_locks.setdefault(key, threading.Lock())
        # Each client runs one query at a time, under its own lock: the owner's queries (attach's
        # seq check, a WAL fill's gap_start) do not wait for an operator's, up to 120 s long.
        with in_use:
            with self._lock:
                if self._closed:
                    raise ServerClosed(f"the query server of {self.address!r} is closed")
                client = self._clients.get(key)
            if client is None:
                nice = self.nice if served else None
                client = open_read_only_client(replace(self.target, database=database), nice)
                with self._lock:
                    if self._closed:  # closed while this one opened: it would stay open
                        client.close()
                        raise ServerClosed(f"the query server of {self.address!r} is closed")
                    self._clients[key] = client
            return execute(client, sql, parameters)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if not self.address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
        with self._lock:
            self._closed = True
            clients = list(self._clients.items())
            self._clients.clear()
        for key, client in clients:
            with self._client_locks[key]:  # a query still running on it ends first
                client.close()


def is_wait_seconds(value: object, *, zero: bool = False) -> bool:
    """Whether ``value`` is a number of seconds a thread can wait for: a real number (not a
    bool), above 0 (from 0 with ``zero``), at most ``threading.TIMEOUT_MAX`` (a longer or
    infinite wait makes the wait itself raise)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (0 <= value if zero else 0 < value) and value <= threading.TIMEOUT_MAX


# What a JSON request carries as the owner's client would take it.
_JSON_SCALARS = (str, int, float, type(None))


def _wire_parameters(sql: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` for the JSON request, which has no time or decimal: each value JSON
    cannot carry written as the owner's client would bind it (a DateTime64 placeholder keeps
    the microseconds); text, numbers, booleans and None as they are, since the owner's client
    binds them itself (written as text, None was the string \\N, not NULL)."""
    typed = {name: v for name, v in parameters.items() if not isinstance(v, _JSON_SCALARS)}
    if not typed:
        return parameters  # (and the query needs no ClickHouse client library here)
    from clickhouse_connect.driver.binding import bind_query, format_bind_value

    _, bound = bind_query(sql, typed, dt.UTC)  # times are UTC (docs/reference/journal.md)
    return {
        name: bound.get(f"param_{name}", format_bind_value(v)) if name in typed else v
        for name, v in parameters.items()
    }


def query_via_socket(
    address: str,
    database: str,
    sql: str,
    parameters: dict[str, Any] | None = None,
    timeout: float = 130.0,
) -> QueryResult:
    """Ask a journal owner for ``sql``. Raises ConnectionError when no owner listens,
    PermissionError when it does not answer this process's uid."""
    if not is_wait_seconds(timeout):
        raise ValueError(
            f"query_via_socket timeout must be a positive number of seconds up to "
            f"{threading.TIMEOUT_MAX:g}, got {timeout!r}"
        )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(address)
        except (FileNotFoundError, NotADirectoryError, ConnectionRefusedError) as exc:
            raise ConnectionError(f"no journal owner listens on {address!r}") from exc
        request = {"sql": sql, "parameters": _wire_parameters(sql, parameters or {}), "database": database}
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            # The owner may answer and close before reading a word (it refuses this uid at
            # once): its answer is still there to read, and says why. The send raced it.
            pass
        with sock.makefile("rb") as f:
            line = f.readline()
    finally:
        sock.close()
    if not line:
        raise ConnectionError(f"the journal owner on {address!r} closed the connection without an answer")
    reply = json.loads(line)
    if "error" in reply:
        if reply.get("kind") == "read_only":
            raise ReadOnlyViolation(reply["error"])
        if reply.get("kind") == "lookup":
            raise LookupError(reply["error"])
        if reply.get("kind") == "permission":
            raise PermissionError(reply["error"])
        raise RuntimeError(reply["error"])
    return QueryResult(
        columns=reply["columns"],
        types=reply["types"],
        rows=reply["rows"],
        truncated=bool(reply.get("truncated", False)),
    )


def chdb_holder(directory: Path | None) -> str | None:
    """Who holds chDB's lock on ``directory`` (its ``status`` file, flock'ed by the engine
    that opened it): ``"pid N"`` (``""`` when the file names none), or None when nobody does.

    chDB's own error for a held directory says only "Error initializing EmbeddedServer" (the
    lock is named on stderr), so it is asked of the file itself."""
    import fcntl

    if directory is None:
        return None
    try:
        with open(directory / "status", "rb") as status:
            try:
                fcntl.flock(status, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = status.read(256).decode("utf-8", "replace")
                first = text.splitlines()[0] if text else ""
                pid = first.split(":", 1)[1].strip() if first.startswith("PID:") else ""
                if pid == str(os.getpid()):
                    return None  # this process's own engine: not another process
                return f"pid {pid}" if pid else ""
            fcntl.flock(status, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


# The engine's refusal of a held directory ("Cannot lock file <dir>/status. Another ...");
# some builds say only "Error initializing EmbeddedServer", hence chdb_holder first.
_CHDB_HELD_ERROR = "Another server instance in same directory is already running"


def refused_as_held(exc: BaseException) -> bool:
    """Whether ``exc`` is the engine's refusal of a directory another process holds."""
    return _CHDB_HELD_ERROR in str(exc)


QUERY_WAIT_SECONDS = READ_ONLY_SETTINGS["max_execution_time"] + 10
"""How long a kernel starting on a journal waits for a `dita journal` query holding its
directory to end: a query is stopped after ``max_execution_time``."""


def _query_mark(directory: Path, pid: int | str) -> Path:
    return directory / f".dita-query-{pid}"


def held_by_a_query(directory: Path, holder: str) -> bool:
    """Whether ``holder`` (:func:`chdb_holder`'s ``"pid N"``) is a query that opened the
    directory itself (:func:`run_query` marks it while it does): it ends within
    :data:`QUERY_WAIT_SECONDS`, so a kernel starting on the journal waits for it. A mark a
    query left behind (killed) names a pid another process may have now: the mark holds its
    process's start, and only the same process counts."""
    pid = holder.removeprefix("pid ").strip()
    if not pid.isdigit():
        return False
    try:
        token = _query_mark(directory, pid).read_text().strip()
    except OSError:
        return False
    return bool(token) and token == process_start(pid)


def run_query(
    target: JournalTarget,
    sql: str,
    parameters: dict[str, Any] | None = None,
    *,
    on_wait: Callable[[str], None] | None = None,
    wait: float = QUERY_WAIT_SECONDS,
) -> QueryResult:
    """Run one read-only query on a journal wherever it is.

    Embedded journals: through the owner's socket when a kernel holds the directory, else by
    opening the directory read-only here. One that another `dita journal` query opened
    itself (:func:`held_by_a_query`) is waited for, up to ``wait`` seconds (it ends within
    :data:`QUERY_WAIT_SECONDS`), as a starting kernel waits; ``on_wait`` is told why once,
    with the message, when a wait begins. Servers: directly, with a read-only client.
    """
    check_read_only(sql)  # refuse before touching anything
    if target.kind != "chdb":
        return _run_on_a_client(target, sql, parameters)
    deadline: float | None = None
    while True:
        try:
            return query_via_socket(target.socket_address, target.database, sql, parameters)
        except ConnectionError:
            pass
        try:
            return _run_in_the_directory(target, sql, parameters)
        except _HeldByAQuery as held:
            now = time.monotonic()
            if deadline is None:
                deadline = now + wait
                if on_wait is not None:
                    on_wait(
                        f"journal {target.path} is held by another `dita journal` query ({held.holder}): "
                        f"waiting up to {wait:g} s for it to end"
                    )
            if now >= deadline:
                raise JournalUnavailable(
                    f"journal {target.path} is held by another `dita journal` query ({held.holder}) "
                    f"still running after {wait:g} s; retry when it has ended"
                ) from None
            time.sleep(min(_HELD_POLL_S, max(deadline - now, 0.0)))


_HELD_POLL_S = 0.2


class _HeldByAQuery(Exception):
    """The directory is held by another `dita journal` query (``holder``: "pid N")."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def _run_in_the_directory(target: JournalTarget, sql: str, parameters: dict[str, Any] | None) -> QueryResult:
    """Open the embedded journal's directory here and run ``sql``. Raises
    :class:`_HeldByAQuery` when another `dita journal` query holds it (before or while this
    one opens it), RuntimeError naming any other holder."""
    assert target.path is not None
    if not target.path.exists():
        raise LookupError(f"no journal at {target.path} (nothing written there yet)")
    if not target.path.is_dir():
        raise LookupError(f"no journal at {target.path}: a file, not a journal directory")
    # Asked before opening: chDB's own error says only "Error initializing EmbeddedServer".
    holder = chdb_holder(target.path)
    if holder and held_by_a_query(target.path, holder):
        raise _HeldByAQuery(holder)
    if holder is not None:
        raise JournalUnavailable(_held_by_another(target.path, holder))
    if not os.access(target.path, os.W_OK | os.X_OK):
        # chDB writes its status file into any directory it opens; its own error says only
        # "Error initializing EmbeddedServer".
        raise JournalUnavailable(
            f"journal {target.path} is not writable (a read-only file system, or its permissions): "
            "the embedded engine opens a directory only to write to it; query a writable copy"
        )
    if not (target.path / "metadata").is_dir():
        # The engine makes metadata/ with a journal's first table. A directory without it is no
        # journal, and not left as it was by an open: the engine makes tmp/ there and deletes
        # the files in it named tmp* (a mistyped --dsn chdb://. took the user's).
        raise LookupError(f"no journal at {target.path}: a directory without the engine's metadata/")
    # Marked while this process holds the directory: a kernel (or another query) starting on
    # it meanwhile waits for the query instead of refusing (see `held_by_a_query`).
    mark = _query_mark(target.path, os.getpid())
    with contextlib.suppress(OSError):
        mark.write_text(process_start(os.getpid()) or "")
    try:
        try:
            return _run_on_a_client(target, sql, parameters)
        except Exception as exc:
            # Taken between the look above and the open (by a query, it is waited for too).
            # Any other error is the query's own, whatever words it holds ("block", "clock").
            holder = chdb_holder(target.path)
            if holder is None and not refused_as_held(exc):
                raise
            if holder and held_by_a_query(target.path, holder):
                raise _HeldByAQuery(holder) from exc
            raise JournalUnavailable(_held_by_another(target.path, holder)) from exc
    finally:
        with contextlib.suppress(OSError):
            mark.unlink()


def _held_by_another(directory: Path, holder: str | None) -> str:
    return (
        f"journal {directory} is held by another process{f' ({holder})' if holder else ''} that "
        "does not serve queries (started with serve_sql=False?); query it from that process or "
        "stop it first"
    )


def _run_on_a_client(target: JournalTarget, sql: str, parameters: dict[str, Any] | None) -> QueryResult:
    client = open_read_only_client(target)
    try:
        return execute(client, sql, parameters)
    finally:
        client.close()
