"""``dita journal``: read-only SQL on a kernel's ClickHouse journal.

An embedded journal held by a running kernel is queried through the kernel's query socket
(chDB locks the directory); otherwise the directory or server is opened read-only here.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer

from dita._numbers import finite_json
from dita.cli._common import (
    PROGRESS_LINE_SECONDS,
    UNREACHABLE,
    elapsed_report,
    fail,
    out_console,
    require_utf8,
    shown,
    warn,
)
from dita.cli.journal_params import query_params

__all__ = ["register"]

journal_app = typer.Typer(help="Query the ClickHouse journal (read-only SQL).", no_args_is_help=True)

_FORMATS = ("table", "csv", "json")

DsnOption = Annotated[
    str | None,
    typer.Option(
        "--dsn",
        help="chdb://<dir> or http(s)://user:pw@host:port/db (default: $DITA_JOURNAL_DSN or chdb://./dita-journal)",
    ),
]


CSV_NULL = "\\N"
"""How the csv format writes a NULL: ``\\N`` unquoted, as ClickHouse's own CSV does. A text
``\\N`` is quoted (``"\\N"``), as ClickHouse quotes text, and an empty text is an empty field."""


def _write_csv(rows: Iterable[list[Any]]) -> None:
    """``rows`` as CSV lines ending in ``\\n``, a NULL as ``CSV_NULL``. The writer is told
    ``\\r\\n`` so that it quotes a field holding a CR as well as one holding an LF (told ``\\n``,
    Python 3.11's leaves a CR bare, and a reader splits the row there); each line's own ``\\r\\n``
    is then cut to ``\\n``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(row: Iterable[Any]) -> str:
        writer.writerow(CSV_NULL if v is None else v for v in row)
        written = buffer.getvalue()[:-2]
        buffer.seek(0)
        buffer.truncate()
        return written

    def field(value: Any) -> str:
        if isinstance(value, str) and value in ("", CSV_NULL):
            # Written alone, a lone empty field is quoted; in a row it is not.
            return f'"{CSV_NULL}"' if value else ""
        return line([value])

    write = sys.stdout.write
    for row in rows:
        if any(isinstance(v, str) and v == CSV_NULL for v in row):
            # The writer leaves a text \N bare: quoted here, so a bare \N is a NULL's alone.
            write(",".join(map(field, row)) + "\n")
        else:
            write(line(row) + "\n")


TABLE_ROWS = 10_000
"""The most rows the table format prints: Rich lays out every cell before the first line
(200,000 rows take 41 s and 545 MB). --format csv and json print every row."""


def _print(result: Any, fmt: str) -> None:
    cut = ""
    if result.truncated:
        from dita.journal.query import RESULT_BYTES_CAP, RESULT_ROWS_CAP

        if len(result.rows) >= RESULT_ROWS_CAP:
            over, first = f"{RESULT_ROWS_CAP:,} rows", "first"
        else:  # cut at the byte cap, before the row cap
            over, first = f"{RESULT_BYTES_CAP / 2**20:,.0f} MiB of values", f"first {len(result.rows):,} rows"
        cut = (
            f"the result has more than {over} (the cap of a journal query): only the {first} "
            "are here; narrow the query (WHERE, LIMIT or an aggregate)"
        )
        typer.echo(f"warning: {cut}", err=True)
    for name, type_ in result.times_cut_to_microseconds():
        typer.echo(
            f"warning: column {shown(name)!r} is {shown(type_)}: its times print to the microsecond, "
            f"the digits after the 6th left off; select toString({shown(name)}) to print every digit",
            err=True,
        )
    for name, type_ in result.times_maybe_cut():
        typer.echo(
            f"warning: column {shown(name)!r} is {shown(type_)}: a time it holds prints to the "
            "microsecond, any digits after the 6th left off (its precision is not in the column's "
            f"type); select toString({shown(name)}) to print every digit",
            err=True,
        )
    if fmt == "json":
        # An object per row keeps one value per name: `SELECT 1, 1` or two joined tables'
        # `kernel_id` would print fewer columns than the query has, without a word.
        repeated = sorted({name for name in result.columns if result.columns.count(name) > 1})
        if repeated:
            fail(
                f"--format json: the result has more than one column named "
                f"{', '.join(repr(shown(name)) for name in repeated)}; give each its own name with AS "
                "(--format csv and table print them all)"
            )
        typer.echo(json.dumps(finite_json(result.records()), indent=2, allow_nan=False))
    elif fmt == "csv":
        _write_csv([result.columns, *result.rows])
    else:
        from rich.table import Table
        from rich.text import Text

        # Text, not str: Rich would read a journal string's "[bold]" or ":x:" as markup. Control
        # characters are shown escaped: a terminal would act on them (or Rich drop them).
        rows_shown = result.rows[:TABLE_ROWS]
        count = f"{len(result.rows)} row(s)"
        if len(rows_shown) < len(result.rows):
            count = f"{len(rows_shown):,} of {len(result.rows):,} row(s) shown"
            typer.echo(
                f"warning: the table format prints the first {TABLE_ROWS:,} rows only; "
                "--format csv or json prints them all",
                err=True,
            )
        console = out_console()
        null = _null_marker(console.encoding)
        if console.width < len(result.columns) * (TABLE_MIN_CELL + 3) + 1:  # a border and padding each
            _print_vertical(result.columns, rows_shown, null)
        else:
            table = Table(show_lines=False, title_justify="left")
            for name in result.columns:
                table.add_column(Text(shown(name)), overflow="fold")
            for row in rows_shown:
                table.add_row(*(Text(_cell(v, null)) for v in row))
            console.print(table)
        console.print(count + (f" ({cut})" if cut else ""))


TABLE_MIN_CELL = 4
"""The narrowest column the table format prints (NULL, a bool or a short number whole). A result of
more columns than the terminal has room for at this width prints each row as lines of name and
value instead: Rich gives a table too wide for the console columns of no width, and their values
vanish (60 columns on a 200-column console, `SELECT * FROM intents` on an 80-column one)."""


TABLE_NULL = "\u1d3a\u1d41\u1d38\u1d38"  # ᴺᵁᴸᴸ
"""How the table format prints a NULL, as ClickHouse's Pretty formats do: apart from the text
"NULL". No text prints as it: the ᴺ (U+1D3A) of a text prints as its escape ``\\u1d3a``."""


def _null_marker(encoding: str) -> str:
    """``TABLE_NULL``, or ``NULL`` on an output whose encoding has no ᴺᵁᴸᴸ (ASCII, Latin-1): the
    table would fail on every NULL there."""
    try:
        TABLE_NULL.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "NULL"
    return TABLE_NULL


def _cell(value: Any, null: str) -> str:
    if value is None:
        return null
    return shown(str(value)).replace(TABLE_NULL[0], "\\u1d3a")


def _print_vertical(columns: list[str], rows: list[list[Any]], null: str) -> None:
    """``rows`` as ClickHouse's Vertical format prints them: ``Row N:``, then ``name: value`` a line."""
    names = [shown(name) + ":" for name in columns]
    width = max(map(len, names), default=0)
    write = sys.stdout.write
    for k, row in enumerate(rows, 1):
        head = f"Row {k}:"
        write(f"{head}\n{'─' * len(head)}\n" if k == 1 else f"\n{head}\n{'─' * len(head)}\n")
        for name, value in zip(names, row, strict=True):
            write(f"{name:<{width}} {_cell(value, null)}\n")


def journal_target(dsn: str | None, option: str = "--dsn") -> Any:
    """The journal ``dsn`` names (None: $DITA_JOURNAL_DSN, else ``chdb://./dita-journal``);
    one that is no journal DSN exits 2 naming ``option`` (or the variable) and the value."""
    from dita.journal.dsn import DSN_ENV, default_dsn, parse_dsn, without_password

    where = option if dsn is not None else f"${DSN_ENV}"
    text = dsn if dsn is not None else default_dsn()
    require_utf8(where, text, without_password(text))  # named as parse_dsn names it: no password
    try:
        return parse_dsn(text)
    except ValueError as exc:
        fail(f"{where}: {exc}")


ProgressOption = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress",
        help="While the query runs: a spinner with the time taken on a terminal, else a line every 10 s",
    ),
]


def query_journal(target: Any, sql: str, params: dict[str, Any], *, progress: bool = False) -> Any:
    """Run ``sql`` on the journal ``target`` (`journal sql`, `journal info`, `pnl --journal`);
    a failure exits with one line naming the journal: 2 for a refused query, 3 for a server
    not reached, 1 otherwise. ``progress``: say on stderr that it runs (a query may take up
    to its 120 s)."""
    from clickhouse_connect.driver.exceptions import OperationalError

    from dita.journal.query import JournalUnavailable, ReadOnlyViolation, run_query

    # The client library logs a connection failure as a bare "Unexpected Http Driver
    # Exception" line on stderr; the error below says what it was.
    driver_log = logging.getLogger("clickhouse_connect")
    level = driver_log.level
    driver_log.setLevel(max(level, logging.ERROR))
    try:
        label = f"querying the journal {target.display}"
        with elapsed_report(label, enabled=progress, line_seconds=PROGRESS_LINE_SECONDS):
            return run_query(target, sql, params, on_wait=warn)
    except ReadOnlyViolation as exc:
        fail(str(exc))
    except (LookupError, JournalUnavailable) as exc:  # no query ran: not "query failed"
        fail(str(exc), code=1)
    except OperationalError as exc:  # the client's error for a server it could not talk to
        fail(f"cannot reach the journal {target.display}: {_server_said(exc)}", code=UNREACHABLE)
    except Exception as exc:  # ClickHouse errors: show the server's message, not a traceback
        # A column a later migration adds (the fees `pnl --journal` sums) is missing from a
        # journal no kernel of this dita has opened: say so, and how to migrate it.
        behind = journal_behind(target)
        fail(
            f"query failed on {target.display}: {_server_said(exc)}" + (f" ({behind})" if behind else ""),
            code=1,
        )
    finally:
        driver_log.setLevel(level)


def journal_behind(target: Any) -> str | None:
    """What to say of the journal ``target`` when its schema is below this dita's (a column a
    query names may not be there yet); None when it is not, or its version cannot be read."""
    from dita.journal.query import run_query
    from dita.journal.schema import VERSION_TABLE, behind_latest

    try:
        rows = run_query(target, f"SELECT max(version) FROM `{VERSION_TABLE}`", {}).rows
    except Exception:
        return None
    return behind_latest(int(rows[0][0] or 0))


_REPEATED_CODE = re.compile(r"(Code: \d+\. DB::Exception: )\1(.*?)(?:\. \([A-Z_]+\))?", re.DOTALL)


def _server_said(exc: Exception) -> str:
    """``exc``'s message, without the code ClickHouse's embedded engine puts twice round it
    ("Code: 164. DB::Exception: Code: 164. DB::Exception: ... (READONLY). (READONLY)") or the
    query it quotes ("...: (in query: SELECT ... FORMAT Native). (READONLY)")."""
    from dita.journal.query import QUOTED_QUERY

    text = QUOTED_QUERY.sub("", str(exc))
    repeated = _REPEATED_CODE.fullmatch(text)
    return repeated[1] + repeated[2] if repeated else text


QUIET_THIN_TABLES = frozenset({"transitions", "intents", "slot_timeline"})
"""The tables a kernel at QUIET leaves thin: it journals only the transitions into CLOSED, and no
intent (docs/reference/journal.md)."""


def _quiet_kernels(target: Any, sql: str, params: dict[str, Any]) -> list[str]:
    """The kernels whose latest control change set QUIET, when ``sql`` reads a table QUIET leaves
    thin (only the kernel the ``kernel`` parameter names, when there is one); none when that
    cannot be read: the query's own answer stands without it."""
    from dita.journal.query import run_query
    from dita.journal.query.guard import _lex, _significant

    names = {text.strip('`"').lower() for kind, text in _significant(_lex(sql)) if kind in ("word", "ident")}
    if not names & QUIET_THIN_TABLES:
        return []
    named = params.get("kernel")
    check = (
        "SELECT kernel_id FROM control_changes FINAL"
        + (" WHERE kernel_id = {kernel:String}" if isinstance(named, str) else "")
        + " GROUP BY kernel_id HAVING argMax(verbosity, seq) = 'QUIET' ORDER BY kernel_id"
    )
    try:
        rows = run_query(target, check, {"kernel": named} if isinstance(named, str) else None).rows
    except Exception:  # an old schema, a journal gone meanwhile: nothing to add
        return []
    return [str(row[0]) for row in rows]


@journal_app.command("sql")
def sql_command(
    query: Annotated[str, typer.Argument(help="One SELECT (or WITH/SHOW/DESCRIBE/EXISTS) statement")],
    dsn: DsnOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Query parameter NAME=VALUE for {NAME:Type} placeholders"),
    ] = None,
    progress: ProgressOption = True,
) -> None:
    """Run one read-only query on the journal and print the rows."""
    if fmt not in _FORMATS:
        fail(f"--format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    params = query_params(query, param)
    target = journal_target(dsn)
    result = query_journal(target, query, params, progress=progress)
    for kernel_id in _quiet_kernels(target, query, params):
        warn(
            f"kernel {shown(kernel_id)!r} journals at QUIET (its latest control change): its transitions "
            "are only those into CLOSED and it journals no intents, so a query of its stages or intents "
            "answers from those alone; they are journaled at NORMAL or higher"
        )
    _print(result, fmt)


@journal_app.command("info")
def info_command(
    dsn: DsnOption = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
    progress: ProgressOption = True,
) -> None:
    """Schema version and rows per table and kernel (a table without rows: one row, 0 rows)."""
    if fmt not in _FORMATS:
        fail(f"--format must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    from dita.journal.schema import TABLE_COLUMNS, VERSION_TABLE

    # A table without rows has no kernel to group by: its own row says 0, so the schema
    # version is printed for an empty journal too.
    counts = " UNION ALL ".join(
        f"SELECT '{t}' AS table, kernel_id, count() AS rows, max(seq) AS last_seq, max(ts) AS last_ts "
        f"FROM `{t}` FINAL GROUP BY kernel_id UNION ALL "
        f"SELECT '{t}', NULL, 0, NULL, NULL FROM (SELECT count() AS n FROM `{t}`) WHERE n = 0"
        for t in TABLE_COLUMNS
    )
    sql = (
        f"SELECT (SELECT max(version) FROM `{VERSION_TABLE}`) AS schema_version, table, kernel_id, rows, "
        f"last_seq, last_ts FROM ({counts}) ORDER BY table, kernel_id"
    )
    target = journal_target(dsn)
    result = query_journal(target, sql, {}, progress=progress)
    from dita.journal.schema import behind_latest

    behind = behind_latest(int(result.rows[0][0] or 0)) if result.rows else None
    if behind:
        warn(behind)
    _print(result, fmt)


def register(app: typer.Typer) -> None:
    app.add_typer(journal_app, name="journal")
