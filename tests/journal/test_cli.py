"""``dita journal sql``: against a running kernel's embedded journal (through its socket, also
from another process), against a directory nobody holds, and refusing anything but a query."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn
from dita.journal.query import ReadOnlyViolation, open_read_only_client, query_via_socket
from dita.journal.schema import LATEST_VERSION
from journal.helpers import run_cli, twins

runner = CliRunner()
COUNT_SQL = "SELECT next_state, count() AS n FROM transitions FINAL GROUP BY next_state ORDER BY next_state"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ClickHouseJournal]]:
    dsn = f"chdb://{tmp_path_factory.mktemp('cli') / 'journal'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02)
    try:
        work, _ = twins(journal)
        work.run(60)
        journal.flush(30)
        yield dsn, journal
    finally:
        journal.close()


def _sql(*args: str) -> Any:
    return runner.invoke(app, ["journal", "sql", *args])


def test_table_output_through_the_owners_socket(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, journal = live
    expected = journal.query(COUNT_SQL).rows
    result = _sql("--dsn", dsn, COUNT_SQL)
    assert result.exit_code == 0, result.output
    for stage, n in expected:
        assert stage in result.output and str(n) in result.output
    assert f"{len(expected)} row(s)" in result.output


def test_csv_and_json_formats(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, journal = live
    expected = journal.query(COUNT_SQL).rows
    out = _sql("--dsn", dsn, "--format", "csv", COUNT_SQL)
    assert out.exit_code == 0, out.output
    rows = list(csv.reader(io.StringIO(out.output)))
    assert rows[0] == ["next_state", "n"] and [[r[0], int(r[1])] for r in rows[1:]] == expected
    out = _sql("--dsn", dsn, "-f", "json", COUNT_SQL)
    assert json.loads(out.output) == [{"next_state": s, "n": n} for s, n in expected]


def test_json_format_refuses_a_result_with_two_columns_of_one_name(
    live: tuple[str, ClickHouseJournal],
) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "-f", "json", "SELECT 1, 1, 2 AS x")
    assert out.exit_code == 2, out.output
    assert "--format json" in out.output and "'1'" in out.output and "AS" in out.output
    out = _sql("--dsn", dsn, "-f", "csv", "SELECT 1, 1, 2 AS x")
    assert out.exit_code == 0, out.output
    assert list(csv.reader(io.StringIO(out.output))) == [["1", "1", "x"], ["1", "1", "2"]]


def test_query_parameters(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, journal = live
    want = journal.query("SELECT count() FROM transitions FINAL WHERE slot_id = 3").rows[0][0]
    out = _sql(
        "--dsn",
        dsn,
        "-f",
        "json",
        "-p",
        "slot=3",
        "SELECT count() AS n FROM transitions FINAL WHERE slot_id = {slot:Int64}",
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"n": want}] and want > 0


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE fills",
        "INSERT INTO fills SELECT * FROM fills",
        "SELECT 1; DROP TABLE fills",
        "ALTER TABLE fills DELETE WHERE 1",
    ],
)
def test_anything_but_a_query_is_refused(live: tuple[str, ClickHouseJournal], sql: str) -> None:
    dsn, journal = live
    before = journal.query("SELECT count() FROM fills").rows
    out = _sql("--dsn", dsn, sql)
    assert out.exit_code == 2
    assert "refused" in out.output or "one statement at a time" in out.output
    assert journal.query("SELECT count() FROM fills").rows == before


def test_clickhouse_refuses_writes_that_look_like_queries(live: tuple[str, ClickHouseJournal]) -> None:
    """The second fence: a table function that writes, past the statement check, is still
    refused by readonly=1."""
    dsn, _ = live
    client = open_read_only_client(parse_dsn(dsn))
    try:
        with pytest.raises(Exception, match="READONLY"):
            client.query("INSERT INTO FUNCTION file('/tmp/dita-never-written', 'CSV') SELECT 1")
        with pytest.raises(Exception, match="READONLY"):
            client.query("SELECT * FROM file('/etc/hostname', 'LineAsString')")
    finally:
        client.close()


def test_files_are_neither_written_nor_read_through_the_owner(
    live: tuple[str, ClickHouseJournal], tmp_path: Path
) -> None:
    """INTO OUTFILE and file() would run in the owner's process, which readonly=1 does not
    stop: the CLI refuses them, and so does the owner for a client that skips the CLI."""
    dsn, journal = live
    victim = tmp_path / "seg-00000001.wal"
    victim.write_bytes(b"the kernel's log")
    for sql in (f"SELECT 'x' INTO OUTFILE '{victim}' TRUNCATE", f"SELECT file('{victim}') AS stolen"):
        out = _sql("--dsn", dsn, sql)
        assert out.exit_code == 2 and "is refused" in out.output, out.output
        with pytest.raises(ReadOnlyViolation, match="is refused"):
            query_via_socket(str(journal.query_address), journal.database, sql)
        with pytest.raises(ReadOnlyViolation, match="is refused"):
            journal.query(sql)
    assert victim.read_bytes() == b"the kernel's log"
    done = run_cli("sql", "--dsn", dsn, f"SELECT 'x' INTO OUTFILE '{victim}' APPEND")
    assert done.returncode == 2 and "INTO OUTFILE is refused" in done.stderr
    assert victim.read_bytes() == b"the kernel's log"


def test_bad_arguments(live: tuple[str, ClickHouseJournal], tmp_path: Path) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "--format", "xml", "SELECT 1")
    assert out.exit_code == 2 and "--format must be one of table, csv, json, got 'xml'" in out.output
    out = _sql("--dsn", dsn, "-p", "novalue", "SELECT 1")
    assert out.exit_code == 2 and "--param 'novalue' must be NAME=VALUE" in out.output
    out = _sql("--dsn", dsn, "-p", "kernel-id=desk-1", "SELECT {kernel-id:String}")
    assert out.exit_code == 2
    assert (
        "--param 'kernel-id=desk-1': NAME must be ASCII letters, digits and _, not starting with a digit"
        in out.output
    )
    out = _sql("--dsn", dsn, "-p", "1x=2", "SELECT {1x:Int64}")
    assert (
        out.exit_code == 2
        and "--param '1x=2': NAME must be" in out.output
        and "not starting with a digit" in out.output
    )
    out = _sql("--dsn", dsn, "-p", "slot=3", "-p", "slot=4", "SELECT {slot:Int64}")
    assert out.exit_code == 2 and "--param slot is given twice ('3' and '4')" in out.output
    out = _sql("--dsn", dsn, "-p", "kernel_id=k1", "SELECT count() FROM fills")
    assert out.exit_code == 2  # it would have counted every kernel's fills
    assert "--param kernel_id: the query has no {kernel_id:Type} placeholder" in out.output
    out = _sql("--dsn", dsn, "-p", "slot=3", "SELECT {slot_id:Int64}")
    assert out.exit_code == 2 and "--param slot: the query has no {slot:Type}" in out.output
    out = _sql("--dsn", "postgres://x/y", "SELECT 1")
    assert out.exit_code == 2 and "scheme 'postgres'" in out.output
    out = _sql("--dsn", f"chdb://{tmp_path / 'nothing'}", "SELECT 1")
    assert out.exit_code == 1 and "no journal at" in out.output
    out = _sql("--dsn", dsn, "SELECT no_such_column FROM fills")
    assert out.exit_code == 1 and "no_such_column" in out.output


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count() FROM fills FINAL -- WHERE kernel_id = {kernel:String}",
        "SELECT count() FROM fills FINAL /* WHERE kernel_id = {kernel:String} */",
        "SELECT count() FROM fills FINAL WHERE kernel_id != '{kernel:String}'",
        "SELECT count() AS `{kernel:String}` FROM fills FINAL",
    ],
)
def test_a_param_named_only_in_a_comment_or_a_string_is_refused(
    live: tuple[str, ClickHouseJournal], sql: str
) -> None:
    """ClickHouse substitutes no placeholder in a comment or a string: the value would be
    ignored and the query count every kernel's fills."""
    dsn, _ = live
    out = _sql("--dsn", dsn, "-p", "kernel=desk-1", sql)
    assert out.exit_code == 2, out.output
    assert "--param kernel: the query has no {kernel:Type} placeholder, so it would be ignored" in out.output


def test_a_placeholder_without_a_param_is_named(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, journal = live
    sql = "SELECT count() AS n FROM fills FINAL WHERE kernel_id = {kernel:String} AND slot_id = {slot:Int64}"
    out = _sql("--dsn", dsn, "-p", "kernel=desk-1", sql)
    assert out.exit_code == 2, out.output
    assert "the query's placeholder {slot:Int64} has no value: give --param slot=VALUE" in out.output
    # One in a comment needs none.
    out = _sql("--dsn", dsn, "-f", "json", "-p", "kernel=desk-1", sql.replace("AND", "-- AND"))
    want = journal.query("SELECT count() FROM fills FINAL WHERE kernel_id = 'desk-1'").rows[0][0]
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"n": want}] and want > 0


def test_a_placeholder_spelt_with_spaces_is_named(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "-p", "n=5", "SELECT { n : Int64 } AS x")
    assert out.exit_code == 2, out.output
    assert "placeholder '{ n : Int64 }': write it as {n:Int64}, without spaces" in out.output


def test_a_refused_query_is_named_before_its_params(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "-p", "x=1", "SELECT $q'$ {x:Int64} $q'$")
    assert out.exit_code == 2 and 'the heredoc tag "$q\'$" is refused' in out.output
    out = _sql("--dsn", dsn, "-p", "x=1", "DELETE FROM fills WHERE seq = {x:Int64}")
    assert out.exit_code == 2 and "DELETE statements are refused" in out.output


def test_info(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, journal = live
    out = runner.invoke(app, ["journal", "info", "--dsn", dsn, "-f", "json"])
    assert out.exit_code == 0, out.output
    info = {r["table"]: r for r in json.loads(out.output)}
    fills = journal.query("SELECT count() FROM fills FINAL").rows[0][0]
    assert info["fills"]["rows"] == fills and info["fills"]["schema_version"] == LATEST_VERSION


def test_a_caller_gone_before_its_answer_is_one_line_of_the_owners_log(
    live: tuple[str, ClickHouseJournal], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C on `dita journal sql`: the owner (a kernel's process) printed a socketserver
    traceback of a BrokenPipeError into its stderr when the query ended."""
    import logging
    import socket
    import time

    dsn, _ = live
    target = parse_dsn(dsn)
    caplog.set_level(logging.INFO, logger="dita.journal.query")
    request = {"sql": "SELECT sleep(0.5)", "parameters": {}, "database": target.database}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(target.socket_address)
        sock.sendall(json.dumps(request).encode() + b"\n")
    deadline = time.monotonic() + 60
    while "went away before its answer" not in caplog.text:
        assert time.monotonic() < deadline, capsys.readouterr().err
        time.sleep(0.05)
    assert "Traceback" not in capsys.readouterr().err
    assert json.loads(_sql("--dsn", dsn, "-f", "json", "SELECT 1 AS n").output) == [{"n": 1}]  # still serving


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("SELECT nope FROM fills", "(UNKNOWN_IDENTIFIER)"),
        ("SELECT throwIf(number = 100000, 'boom') FROM numbers(200000)", "boom"),  # past the first block
    ],
)
def test_a_query_that_fails_while_its_result_streams_is_a_failed_query(
    live: tuple[str, ClickHouseJournal], sql: str, said: str
) -> None:
    """A streamed result's error is a StreamFailureError, an OperationalError: it must not read
    as a journal that cannot be reached (exit 3)."""
    dsn, _ = live
    out = _sql("--dsn", dsn, sql)
    assert out.exit_code == 1, out.output
    (line,) = out.stderr.splitlines()
    assert line.startswith(f"error: query failed on {parse_dsn(dsn).display}: Code: ") and said in line


def test_a_clickhouse_error_says_its_code_once(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "SELECT 1 SETTINGS max_threads = 1")
    assert out.exit_code == 1, out.output
    (line,) = out.stderr.splitlines()
    assert line.startswith(
        f"error: query failed on {parse_dsn(dsn).display}: Code: 164. DB::Exception: Cannot modify "
        "'max_threads' setting in readonly mode. (READONLY)"
    )
    assert line.count("Code: 164") == line.count("DB::Exception") == line.count("(READONLY)") == 1


def test_another_process_queries_the_running_kernels_journal(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, journal = live
    expected = journal.query(COUNT_SQL).rows
    done = run_cli("sql", "-f", "json", COUNT_SQL, env={"DITA_JOURNAL_DSN": dsn})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"next_state": s, "n": n} for s, n in expected]


def test_a_result_cut_at_the_byte_cap_is_reported(
    live: tuple[str, ClickHouseJournal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row cap alone let 1,000,000 rows of 1,000 characters through: the kernel's process
    holding the journal took 4.3 GB to answer them on its socket. A result is now cut after
    the row that reached RESULT_BYTES_CAP (1 MiB here), and said so; one below it is whole."""
    from dita.journal import query

    dsn, journal = live
    monkeypatch.setattr(query, "RESULT_BYTES_CAP", 1 << 20)
    # 1,052 bytes a row: its list 32, the number 16, the text 1,000 and its quotes and ", ".
    wide = "SELECT number, repeat('x', 1000) AS pad FROM numbers(100000)"
    result = journal.query(wide)
    assert result.truncated and len(result.rows) == 997  # 997 * 1,052 >= 1 MiB
    assert [r[0] for r in result.rows] == list(range(997))
    cut = _sql("--dsn", dsn, "-f", "csv", "--no-progress", wide)  # through the owner's socket
    assert cut.exit_code == 0, cut.output
    assert len(cut.stdout.splitlines()) == 1 + 997
    assert cut.stderr == (
        "warning: the result has more than 1 MiB of values (the cap of a journal query): only the first "
        "997 rows are here; narrow the query (WHERE, LIMIT or an aggregate)\n"
    )
    whole = journal.query("SELECT number, repeat('x', 1000) AS pad FROM numbers(997)")
    assert not whole.truncated and len(whole.rows) == 997


def test_the_byte_cap_counts_a_text_as_its_json_on_the_socket(
    live: tuple[str, ClickHouseJournal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text was counted a byte a character, but the owner's socket sends each non-ASCII
    character as a 6-byte JSON escape (12 past U+FFFF): 1,000,000 rows of 1,000 '€' were cut
    at 266,306 rows and 1.5 GB of JSON, the owner's process at 3.9 GB (7.5 GB for emoji)."""
    from dita.journal import query

    _, journal = live
    monkeypatch.setattr(query, "RESULT_BYTES_CAP", 1 << 20)
    for char, per_char in (("€", 6), ("\U0001f600", 12), ("\x01", 6)):
        sql = "SELECT number, repeat({c:String}, 1000) AS pad FROM numbers(100000)"
        result = journal.query(sql, {"c": char})
        row = 32 + 16 + 1000 * per_char + 4
        assert result.truncated and len(result.rows) == -(-(1 << 20) // row), char
        sent = json.dumps(result.rows).encode()
        assert len(sent) < (1 << 20) + 2 * row + 20 * len(result.rows), char


def test_a_long_query_says_it_is_still_running(
    live: tuple[str, ClickHouseJournal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query may run for its 120 s: it said nothing until its answer. Off a terminal a line
    every PROGRESS_LINE_SECONDS says it still runs (on one, a spinner with the time taken);
    --no-progress says nothing, and the result on stdout is the same."""
    from dita.cli import journal as cli_journal

    dsn, _ = live
    monkeypatch.setattr(cli_journal, "PROGRESS_LINE_SECONDS", 0.2)
    slow = "SELECT sleep(1) AS slept"
    told = _sql("--dsn", dsn, "-f", "csv", slow)
    assert told.exit_code == 0, told.output
    lines = told.stderr.splitlines()
    assert len(lines) >= 2 and all(
        re.fullmatch(r"querying the journal .+: still running after \d+ s", line) for line in lines
    ), told.stderr
    quiet = _sql("--dsn", dsn, "-f", "csv", "--no-progress", slow)
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == told.stdout


def test_a_streamed_querys_error_does_not_quote_the_clients_format_clause(
    live: tuple[str, ClickHouseJournal],
) -> None:
    """journal.query() raised ClickHouse's error quoting the query with the ` FORMAT Native`
    the client appended (the CLI stripped it, callers of the API did not)."""
    _, journal = live
    with pytest.raises(Exception, match="READONLY") as refused:
        journal.query("SELECT 1 SETTINGS max_threads=1")
    said = str(refused.value)
    assert "FORMAT Native" not in said and "(in query:" not in said, said
    assert said.endswith("setting in readonly mode. (READONLY)"), said


def test_a_result_is_read_in_small_blocks(live: tuple[str, ClickHouseJournal]) -> None:
    """A streamed result becomes Python objects a block at a time before its rows meet the
    byte cap: at ClickHouse's 65,409 rows a block, rows of 1,000 floats took the owner's
    process to 4.8 GB before the first check."""
    from dita.journal.query import STREAM_BLOCK_ROWS

    _, journal = live
    (row,) = journal.query("SELECT getSetting('max_block_size') AS rows").rows
    assert row == [STREAM_BLOCK_ROWS] and STREAM_BLOCK_ROWS <= 8192


def test_a_served_answer_is_written_a_slice_of_rows_at_a_time(live: tuple[str, ClickHouseJournal]) -> None:
    """The owner's socket wrote an answer as one json.dumps(answer), which holds the GIL for all of
    it: an 82 MiB answer to `dita journal sql` stood the kernel's strategy thread still 446 ms. It
    goes out a slice of rows at a time, the line the client reads unchanged."""
    from dita.journal.query.server import REPLY_SLICE_ROWS, _Handler

    _, journal = live
    rows = [[i, "x" * 200] for i in range(2 * REPLY_SLICE_ROWS + 500)]
    answer = {"columns": ["n", "s"], "types": ["UInt64", "String"], "truncated": False, "rows": rows}
    written: list[bytes] = []
    handler = SimpleNamespace(wfile=SimpleNamespace(write=written.append), server=None)
    _Handler._answer(handler, answer)
    assert b"".join(written) == json.dumps(answer).encode() + b"\n"
    slice_bytes = len(json.dumps(rows[-REPLY_SLICE_ROWS:])) + 2  # the widest numbers
    assert len(written) > 3 and max(map(len, written)) <= slice_bytes
    sql = f"SELECT number AS n, repeat('x', 200) AS s FROM numbers({len(rows)})"
    served = query_via_socket(str(journal.query_address), journal.database, sql)
    assert served.rows == rows and served.columns == ["n", "s"] and not served.truncated


def test_a_number_counts_as_its_json_would_towards_the_byte_cap(
    live: tuple[str, ClickHouseJournal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted as 8 bytes, rows of 1,000 floats went out as JSON at twice the cap."""
    from dita.journal import query

    _, journal = live
    monkeypatch.setattr(query, "RESULT_BYTES_CAP", 1 << 20)
    result = journal.query("SELECT arrayMap(x -> x * 1.000001, range(100)) AS a FROM numbers(100000)")
    assert result.truncated and len(result.rows) == -(-(1 << 20) // (32 + 32 + 1600))
    assert len(json.dumps(result.rows).encode()) < 1.5 * (1 << 20)


@pytest.mark.parametrize("value", ["''", "[]", "'a'", "toUInt256('1' || repeat('0', 70))"])
def test_a_result_of_small_values_is_cut_at_the_byte_cap(
    live: tuple[str, ClickHouseJournal], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """'' and [] counted 0 bytes, 'a' 1 and a UInt256 of 71 digits 16: rows of 200 of them passed
    the cap several times over as JSON, and SELECT arrayMap(x -> [], range(1000)) FROM
    numbers(1000000) built 1e9 Python objects in the owner's process without being cut."""
    from dita.journal import query

    _, journal = live
    cap = 1 << 20
    monkeypatch.setattr(query, "RESULT_BYTES_CAP", cap)
    result = journal.query(f"SELECT arrayMap(x -> {value}, range(200)) AS a FROM numbers(20000)")
    assert result.truncated
    # At most one row past the cap, each value counted at least 16 bytes of the owner's memory.
    assert (len(result.rows) - 1) * 200 * 16 < cap
    sent = len(json.dumps(result.rows).encode())
    assert sent <= 2 * cap, f"{len(result.rows)} rows: {sent:,} bytes of JSON"


def test_the_table_footer_says_the_result_was_cut(capsys: pytest.CaptureFixture[str]) -> None:
    from dita.cli.journal import _print
    from dita.journal.query import QueryResult

    _print(QueryResult(["n"], ["UInt64"], [[1], [2]], truncated=True), "table")
    out, err = capsys.readouterr()
    # Fewer rows than the row cap: cut at the byte cap.
    assert "2 row(s) (the result has more than 256 MiB of values" in out.replace("\n", " ")
    assert "warning:" in err
    _print(QueryResult(["n"], ["UInt64"], [[1], [2]]), "table")
    out, err = capsys.readouterr()
    assert "2 row(s)\n" in out and "cap" not in out and err == ""


def test_the_table_prints_its_first_rows_only_and_names_the_formats_for_all(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200,000 rows took the table 41 s and 545 MB; csv and json print every row."""
    from dita.cli import journal as journal_cli
    from dita.journal.query import QueryResult

    assert journal_cli.TABLE_ROWS == 10_000
    monkeypatch.setattr(journal_cli, "TABLE_ROWS", 3)
    result = QueryResult(["n"], ["UInt64"], [[n] for n in range(8)])
    journal_cli._print(result, "table")
    out, err = capsys.readouterr()
    assert "3 of 8 row(s) shown" in out and " 2 " in out and " 3 " not in out
    assert (
        err
        == "warning: the table format prints the first 3 rows only; --format csv or json prints them all\n"
    )
    journal_cli._print(result, "csv")
    out, err = capsys.readouterr()
    assert out.splitlines() == ["n", *map(str, range(8))] and err == ""


def test_a_table_wider_than_the_terminal_prints_each_row_as_names_and_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rich gives the columns of a table too wide for the console no width at all: a join's 60
    columns (or `SELECT * FROM intents` on an 80-column terminal) printed as empty cells under
    "2 row(s)". Each row is then printed as lines of name and value, every value whole."""
    from dita.cli.journal import TABLE_NULL, _print
    from dita.journal.query import QueryResult

    columns = [f"column_{i}" for i in range(60)]
    rows = [[f"a{i}-value" for i in range(60)], [None, *(f"b{i}-value" for i in range(1, 60))]]
    _print(QueryResult(columns, ["String"] * 60, rows), "table")  # console: 200 wide (not a tty)
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    for row in rows:
        for name, value in zip(columns, row, strict=True):
            shown = TABLE_NULL if value is None else value
            assert f"{name + ':':<10} {shown}" in lines, (name, shown)
    assert lines[0] == "Row 1:" and "Row 2:" in lines and lines[-1] == "2 row(s)"
    # One that fits stays a table.
    _print(QueryResult(columns[:5], ["String"] * 5, [row[:5] for row in rows]), "table")
    out, _ = capsys.readouterr()
    assert "Row 1:" not in out and "a4-value" in out and "┃ column_0" in out


def test_csv_quotes_a_carriage_return_so_rows_stay_whole(capsys: pytest.CaptureFixture[str]) -> None:
    """A CR in a journal string (a venue's reason with a CRLF) was written bare: a CSV reader
    split the row there."""
    import csv
    import io

    from dita.cli.journal import _print
    from dita.journal.query import QueryResult

    rows = [["a\rb", "c\nd", "e\r\nf"], ["plain", None, 'q"q']]
    _print(QueryResult(["s", "t", "u"], ["String"] * 3, rows), "csv")
    out, err = capsys.readouterr()
    assert err == "" and out.endswith('"q""q"\n') and "\r\n" not in out.replace("e\r\nf", "")
    assert list(csv.reader(io.StringIO(out, newline=""))) == [
        ["s", "t", "u"],
        ["a\rb", "c\nd", "e\r\nf"],
        ["plain", "\\N", 'q"q'],
    ]


def test_the_table_prints_journal_strings_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    """Strings a strategy wrote (reasons, ids) are text, not Rich markup or emoji codes."""
    from dita.cli.journal import TABLE_NULL, _print
    from dita.journal.query import QueryResult

    reasons = ["signal [bold]x[/bold] fired", "stop [/sl] hit", "ok :warning:", None]
    _print(QueryResult(["[b]reason[/b]"], ["String"], [[r] for r in reasons]), "table")
    out, err = capsys.readouterr()
    assert err == ""
    for text in (
        "[b]reason[/b]",
        "signal [bold]x[/bold] fired",
        "stop [/sl] hit",
        "ok :warning:",
        TABLE_NULL,
    ):
        assert text in out


def test_the_table_shows_control_characters_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    """A CR, backspace or tab in a journal string once vanished or split the cell, and an ESC
    reached the terminal (which acts on it)."""
    from dita.cli.journal import _print
    from dita.journal.query import QueryResult

    _print(QueryResult(["s\tt"], ["String"], [["x\ry"], ["e\bf"], ["a\tb"], ["q\x1b]0;pwned\x07z"]]), "table")
    out, _ = capsys.readouterr()
    assert "\x1b" not in out and "\r" not in out and "\b" not in out
    for shown in ("x\\ry", "e\\x08f", "a\\tb", "q\\x1b]0;pwned\\x07z", "s\\tt"):
        assert shown in out, shown


def test_json_prints_numbers_json_has_not_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    """NaN and infinities (a refused intent's price, say) would make the output invalid JSON."""
    from dita.cli.journal import _print
    from dita.journal.query import QueryResult

    nan, inf = float("nan"), float("inf")
    rows = [[nan, [inf, 1.5], {"k": -inf}], [2.5, [], {}]]
    _print(QueryResult(["price", "prices", "by"], ["Float64", "Array(Float64)", "Map"], rows), "json")

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    out = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert out == [
        {"price": None, "prices": [None, 1.5], "by": {"k": None}},
        {"price": 2.5, "prices": [], "by": {}},
    ]


def test_a_format_clause_is_refused_with_the_option_to_use(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "SELECT 1 FORMAT CSV")
    assert out.exit_code == 2
    assert "FORMAT CSV is refused" in out.output and "--format table, csv or json" in out.output
    assert "Native" not in out.output


def test_a_request_over_the_sockets_limit_is_refused_naming_the_limit_and_its_size(
    live: tuple[str, ClickHouseJournal],
) -> None:
    """Not cut off at the limit and answered with a JSON decode error (or a broken pipe that
    sends the CLI to open a directory the owner holds): the owner reads it out and says why."""
    dsn, journal = live
    address = journal.query_address or ""
    sql = "SELECT 1 -- " + "x" * (2 << 20)
    size = len(json.dumps({"sql": sql, "parameters": {}, "database": journal.database}))
    with pytest.raises(RuntimeError, match=rf"request is {size:,} bytes, over the 1,048,576-byte limit"):
        query_via_socket(address, journal.database, sql)
    assert query_via_socket(address, journal.database, "SELECT 1 AS one").rows == [[1]]  # still serving
    # One argument holds 128 KiB at most: the CLI's request grows past the limit by its parameters.
    names = [f"p{i}" for i in range(10)]
    params = [arg for name in names for arg in ("-p", f"{name}={'x' * 110_000}")]
    query = "SELECT " + " + ".join(f"length({{{name}:String}})" for name in names)
    out = run_cli("sql", "--dsn", dsn, *params, query)
    assert out.returncode == 1, out.stderr
    assert "over the 1,048,576-byte limit of the journal's query socket" in out.stderr
    assert "shorten the query or its parameters" in out.stderr


def test_a_request_of_exactly_the_sockets_limit_is_answered(live: tuple[str, ClickHouseJournal]) -> None:
    """The limit is the request's size: one of 1,048,576 bytes (its newline not counted) is
    served, and only a longer one is refused, not told it is over a limit it equals."""
    _, journal = live
    address = journal.query_address or ""

    def request_of(size: int) -> dict[str, str]:
        base = len(json.dumps({"sql": "SELECT 1", "parameters": {"p": ""}, "database": journal.database}))
        return {"p": "x" * (size - base)}

    assert query_via_socket(address, journal.database, "SELECT 1", request_of(1 << 20)).rows == [[1]]
    with pytest.raises(RuntimeError, match=r"request is 1,048,577 bytes, over the 1,048,576-byte limit"):
        query_via_socket(address, journal.database, "SELECT 1", request_of((1 << 20) + 1))


def test_an_empty_result_keeps_its_columns(live: tuple[str, ClickHouseJournal]) -> None:
    """ClickHouse sends no block for zero rows, so the column names come from DESCRIBE: csv
    still prints its header, and json an empty list."""
    dsn, journal = live
    sql = "SELECT seq, ts, next_state AS stage FROM transitions WHERE kernel_id = {k:String} ORDER BY seq"
    some = journal.query(sql, {"k": "desk-1"})
    none = journal.query(sql, {"k": "nobody"})
    assert some.rows and not none.rows
    assert (none.columns, none.types) == (some.columns, some.types)
    assert none.types == ["UInt64", "DateTime64(6, 'UTC')", "LowCardinality(String)"]
    assert none.columns == ["seq", "ts", "stage"]
    out = _sql("--dsn", dsn, "-f", "csv", "-p", "k=nobody", sql)
    assert out.exit_code == 0, out.output
    assert out.output == "seq,ts,stage\n"
    out = _sql("--dsn", dsn, "-f", "json", "-p", "k=nobody", sql)
    assert json.loads(out.output) == []


def test_a_param_of_an_array_map_or_tuple_type_is_read_as_clickhouse_writes_it(
    live: tuple[str, ClickHouseJournal],
) -> None:
    """As clickhouse-client's --param_: ['t1','t2'] for an Array(String) placeholder (several
    trades at once), not a text whose quotes were escaped into one ClickHouse cannot parse."""
    dsn, journal = live
    first_two = "SELECT DISTINCT trade_id FROM fills FINAL ORDER BY trade_id LIMIT 2"
    trades = [r[0] for r in journal.query(first_two).rows]
    assert len(trades) == 2
    sql = "SELECT count() AS n FROM fills FINAL WHERE trade_id IN {trades:Array(String)}"
    want = journal.query(sql, {"trades": trades}).rows[0][0]
    assert want > 0
    literal = "[" + ", ".join(f"'{t}'" for t in trades) + "]"
    out = _sql("--dsn", dsn, "-f", "json", "-p", f"trades={literal}", sql)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"n": want}]
    sql = "SELECT {m:Map(String, Int64)}['b'] AS b, tupleElement({t:Tuple(String, Int64)}, 1) AS s"
    out = _sql("--dsn", dsn, "-f", "json", "-p", "m={'a':1,'b':2}", "-p", r"t=('it\'s',3)", sql)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"b": 2, "s": "it's"}]
    # A String placeholder still takes the text as it is, quotes and backslashes included.
    out = _sql("--dsn", dsn, "-f", "json", "-p", r"s=['a\b']", "SELECT {s:String} AS s")
    assert json.loads(out.output) == [{"s": r"['a\b']"}]


@pytest.mark.parametrize(
    ("value", "clickhouse_reads"),
    [
        ("2025-13-45 10:00:00", "1900-01-01"),
        ("2025-11-31 10:41:07", "2025-12-01"),
        ("2025-11-20 25:61:00", "2025-11-21 02:01"),
        ("", "1970-01-01"),
    ],
)
def test_a_time_param_that_names_no_real_time_is_refused(
    live: tuple[str, ClickHouseJournal], value: str, clickhouse_reads: str
) -> None:
    """ClickHouse reads such a value as another time without a word, so the query would answer
    for a window nobody asked about: the CLI refuses it, naming the parameter and the value."""
    dsn, _ = live
    for type_ in ("DateTime64(6, 'UTC')", "DateTime", "Date", "Nullable(DateTime64(3))"):
        out = _sql("--dsn", dsn, "-p", f"at={value}", f"SELECT {{at:{type_}}} AS at")
        assert out.exit_code == 2, (type_, out.output)
        assert "--param at" in out.output and repr(value) in out.output, out.output
        assert clickhouse_reads not in out.output


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("UInt8", "300"),  # ClickHouse read it as 44
        ("Int64", "99999999999999999999"),  # as 7766279631452241919
        ("Nullable(UInt64)", "18446744073709551616"),
        ("Int8", "-129"),
        # Its SQL names too: ClickHouse read TINYINT 300 as 44, SMALLINT 40000 as -25536.
        ("TINYINT", "300"),
        ("SMALLINT", "40000"),
        ("BIGINT", "99999999999999999999"),
        ("INT UNSIGNED", "-1"),
        ("Nullable(bigint unsigned)", "18446744073709551616"),
    ],
)
def test_an_integer_param_its_type_cannot_hold_is_refused(
    live: tuple[str, ClickHouseJournal], type_: str, value: str
) -> None:
    """ClickHouse wrapped it round to another number, and the query answered for that."""
    dsn, _ = live
    out = _sql("--dsn", dsn, "-p", f"x={value}", f"SELECT {{x:{type_}}} AS x")
    assert out.exit_code == 2, out.output
    assert f"--param x={value!r}: outside what a {type_} holds" in out.output


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("Int64", "abc"),
        ("Int64", "5.0"),
        ("Int64", "1e3"),
        ("Int64", "0x10"),
        ("Int64", " 5 "),
        ("Int64", ""),
        ("Int64", "\u0663"),  # an Arabic-Indic three: int() reads it, ClickHouse does not
        ("Nullable(UInt8)", "NULL"),
        ("BIGINT", "1_000"),
    ],
)
def test_an_integer_param_that_is_no_integer_is_refused_before_anything_starts(
    tmp_path: Path, type_: str, value: str
) -> None:
    """ClickHouse refused it as BAD_QUERY_PARAMETER, exit 1 as a failed query, after the journal
    was opened; it is bad input: exit 2, naming the parameter and the value."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", f"n={value}", f"SELECT {{n:{type_}}} AS n")
    assert out.exit_code == 2, out.output
    assert out.output == (
        f"error: --param n={value!r}: not a whole number, for a {type_} placeholder; give decimal "
        "digits with an optional sign (42, -7)\n"
    )
    assert not where.exists()


@pytest.mark.parametrize(
    ("type_", "value", "said"),
    [
        ("Int64", "9" * 5000, "outside what a Int64 holds"),
        ("Array(Int64)", f"[1, {'9' * 5000}]", f"{'9' * 5000} is outside what a Int64 holds"),
        ("DateTime", "9" * 5000, "5000 digits, more than epoch seconds have until 2286"),
    ],
)
def test_a_param_of_thousands_of_digits_is_refused_as_out_of_range_not_a_traceback(
    tmp_path: Path, type_: str, value: str, said: str
) -> None:
    """Python's int() refuses a text of more than 4,300 digits: the check raised a ValueError
    traceback (exit 1) instead of saying what is wrong with the value."""
    out = _sql("--dsn", f"chdb://{tmp_path / 'none'}", "-p", f"n={value}", f"SELECT {{n:{type_}}} AS n")
    assert out.exit_code == 2, out.output
    assert out.output.startswith(f"error: --param n={value!r}: {said}"), out.output[:300]


@pytest.mark.parametrize(
    "type_", [f"Decimal(9, {'9' * 5000})", f"Decimal32({'9' * 5000})", f"DateTime64({'9' * 5000})"]
)
def test_a_placeholder_type_with_thousands_of_digits_is_left_to_clickhouse_not_a_traceback(
    tmp_path: Path, type_: str
) -> None:
    """No such type exists: reading its scale or precision with int() raised a ValueError
    traceback; ClickHouse refuses it (here, with no journal, nothing is opened at all)."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", "n=2025-11-20 10:41:07.5", f"SELECT {{n:{type_}}} AS n")
    assert out.exit_code == 1, out.output
    assert out.output == f"error: no journal at {where} (nothing written there yet)\n"


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("Date", "20251131"),  # ClickHouse read it as 2025-12-01
        ("Nullable(Date32)", "20251301"),  # as 1970-01-01
        ("Array(Date)", "['20251130', '20250230']"),  # as ['2025-11-30', '2025-03-02']
    ],
)
def test_a_date_param_written_yyyymmdd_that_names_no_real_day_is_refused(
    tmp_path: Path, type_: str, value: str
) -> None:
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", f"d={value}", f"SELECT {{d:{type_}}} AS d")
    assert out.exit_code == 2, out.output
    day = value.strip("[]").split(", ")[-1].strip("'")
    assert out.output.startswith(f"error: --param d={day!r}: not a real time ("), out.output
    assert not where.exists()


@pytest.mark.parametrize(
    ("type_", "value", "day"),
    [
        ("DateTime", "20251131", "20251131"),  # ClickHouse read it as 1970-08-23 09:18:51
        ("DateTime64(6, 'UTC')", "20250229", "20250229"),  # no 29th of February in 2025
        ("Nullable(DateTime)", "20251301", "20251301"),  # month 13
        ("Array(DateTime)", "[1763635267, 20251131]", "20251131"),
    ],
)
def test_a_datetime_param_written_yyyymmdd_that_names_no_real_day_is_refused(
    tmp_path: Path, type_: str, value: str, day: str
) -> None:
    """Eight digits from a year 1900 on are a day meant, real or not: not epoch seconds of 1970."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", f"at={value}", f"SELECT {{at:{type_}}} AS at")
    assert out.exit_code == 2, out.output
    said = f"error: --param at={day!r}: a day written YYYYMMDD that names no real day ("
    assert out.output.startswith(said), out.output
    assert not where.exists()


def test_a_datetime_param_of_eight_digits_below_the_year_1900_is_epoch_seconds(
    live: tuple[str, ClickHouseJournal],
) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "-f", "json", "-p", "at=18991231", "SELECT toUnixTimestamp({at:DateTime}) AS at")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"at": 18991231}]


def test_a_date_param_written_yyyymmdd_answers_that_day(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "-f", "json", "-p", "d=20251130", "SELECT {d:Date} AS d")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"d": "2025-11-30"}]


def test_a_decimal_result_prints_in_fixed_point_as_clickhouse_writes_it(
    live: tuple[str, ClickHouseJournal],
) -> None:
    """A Decimal below a millionth printed as Python writes it: 1.0E-7 for a Decimal(18, 8)'s
    0.00000010, -8.1E-7 for a price of -0.00000081."""
    dsn, journal = live
    sql = (
        "SELECT toDecimal64('0.0000001', 8) AS a, toDecimal64('-0.00000081', 8) AS b, "
        "[toDecimal64('0.00000001', 8)] AS c"
    )
    want = {"a": "0.00000010", "b": "-0.00000081", "c": ["0.00000001"]}
    assert journal.query(sql).records() == [want]
    out = _sql("--dsn", dsn, "-f", "json", sql)  # through the owner's socket
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [want]
    out = _sql("--dsn", dsn, "-f", "csv", sql)
    assert out.output.splitlines()[1] == "0.00000010,-0.00000081,['0.00000001']"


def test_a_query_ending_inside_an_open_string_is_refused_before_anything_opens(tmp_path: Path) -> None:
    """ClickHouse's error quoted the FORMAT clause the client appends, taken into the string:
    "Single quoted string is not closed: ... ('a\\n FORMAT Native)", exit 1."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "SELECT count() FROM fills WHERE kernel_id = 'desk-1")
    assert out.exit_code == 2, out.output
    assert out.output == "error: the query ends inside a string left open, \"'desk-1\": close it with '\n"
    assert not where.exists()


def test_an_unsigned_integer_param_with_a_minus_sign_is_refused(tmp_path: Path) -> None:
    out = _sql("--dsn", f"chdb://{tmp_path / 'none'}", "-p", "n=-0", "SELECT {n:UInt8} AS n")
    assert out.exit_code == 2, out.output
    assert out.output == "error: --param n='-0': a UInt8 takes no minus sign\n"


def test_an_integer_param_at_the_ends_of_its_type_answers(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql(
        "--dsn", dsn, "-f", "json", "-p", "a=255", "-p", "b=-128", "-p", "c=255",
        "SELECT {a:UInt8} AS a, {b:Int8} AS b, {c:TINYINT UNSIGNED} AS c",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"a": 255, "b": -128, "c": 255}]


@pytest.mark.parametrize(
    ("type_", "value", "scale"),
    [
        ("Decimal(9, 2)", "1.239", 2),
        ("Nullable(Decimal64(2))", "-1.239", 2),
        ("Decimal", "1.5", 0),
        ("Decimal(4)", "1.55", 0),
        ("Decimal32(1)", "1.55", 1),
    ],
)
def test_a_decimal_param_with_digits_past_its_scale_is_refused_before_anything_starts(
    tmp_path: Path, type_: str, value: str, scale: int
) -> None:
    """ClickHouse cut the digits off (1.239 as a Decimal(9, 2) is 1.23) and the query answered
    for that number."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", f"x={value}", f"SELECT {{x:{type_}}} AS x")
    assert out.exit_code == 2, out.output
    assert out.output == (
        f"error: --param x={value!r}: more digits after the point than a {type_} keeps ({scale}); "
        "ClickHouse would cut them off without saying so\n"
    )
    assert not where.exists()


def test_a_decimal_param_its_scale_holds_answers(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql(
        "--dsn", dsn, "-f", "csv", "-p", "a=1.230", "-p", "b=1.555e1", "-p", "c=-7",
        "SELECT {a:Decimal(9, 2)} AS a, {b:Decimal(9, 2)} AS b, {c:Decimal} AS c",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert list(csv.reader(io.StringIO(out.output))) == [["a", "b", "c"], ["1.23", "15.55", "-7"]]


@pytest.mark.parametrize(
    ("type_", "value", "said"),
    [
        ("Array(UInt8)", "[1, 300]", "300 is outside what a UInt8 holds (0 to 255)"),
        ("Array(Int8)", "[-129]", "-129 is outside what a Int8 holds (-128 to 127)"),
        ("Array(Nullable(UInt8))", "[NULL, 300]", "300 is outside what a Nullable(UInt8) holds (0 to 255)"),
        ("Array(UInt8)", "[NULL]", "NULL in an Array(UInt8), whose elements are not Nullable"),
        ("Array(Decimal(9,2))", "[NULL]", "NULL in an Array(Decimal(9,2)), whose elements are not Nullable"),
        ("Array(Decimal(9,2))", "[1.239]", "1.239 has more digits after the point than a Decimal(9,2)"),
    ],
)
def test_an_array_param_element_clickhouse_would_read_as_another_number_is_refused(
    tmp_path: Path, type_: str, value: str, said: str
) -> None:
    """ClickHouse read [300] as an Array(UInt8) as [44], [NULL] as [0] and 1.239 as 1.23, and
    the query answered for those."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", f"x={value}", f"SELECT {{x:{type_}}} AS x")
    assert out.exit_code == 2, out.output
    assert out.output.startswith(f"error: --param x={value!r}: {said}"), out.output
    assert not where.exists()


@pytest.mark.parametrize(
    ("type_", "value", "element"),
    [
        ("Array(Date)", "['2025-11-30', '2025-11-31']", "2025-11-31"),
        ("Array(Nullable(Date))", "['2025-13-01']", "2025-13-01"),
        ("Array(DateTime)", "['2025-11-20 25:00:00']", "2025-11-20 25:00:00"),
    ],
)
def test_an_array_param_time_that_names_no_real_time_is_refused(
    tmp_path: Path, type_: str, value: str, element: str
) -> None:
    """ClickHouse read 2025-11-31 in an Array(Date) as 2025-12-01 and month 13 as 1970-01-01."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", f"x={value}", f"SELECT {{x:{type_}}} AS x")
    assert out.exit_code == 2, out.output
    assert out.output.startswith(f"error: --param x={element!r}: not a real time"), out.output
    assert not where.exists()


def test_an_array_param_its_elements_type_holds_answers(live: tuple[str, ClickHouseJournal]) -> None:
    dsn, _ = live
    out = _sql(
        "--dsn", dsn, "-f", "json", "-p", "a=[0, 255]", "-p", "b=[NULL, 3]", "-p", "c=[1.23, 2]",
        "-p", "d=['2025-11-30', '2025-12-01']",
        "SELECT {a:Array(UInt8)} AS a, {b:Array(Nullable(Int8))} AS b, {c:Array(Decimal(9, 2))} AS c, "
        "{d:Array(Date)} AS d",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [
        {"a": [0, 255], "b": [None, 3], "c": ["1.23", "2.00"], "d": ["2025-11-30", "2025-12-01"]}
    ]


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2025-11-20 10:41:07", "2025-11-20T10:41:07"),
        ("2025-11-20T10:41:07.25", "2025-11-20T10:41:07.250000"),
        ("2025-11-20", "2025-11-20T00:00:00"),
        ("1763635267", "2025-11-20T10:41:07"),  # epoch seconds, as the kernel's timestamps
        ("2025-11-20 10:41:07.250000000", "2025-11-20T10:41:07.250000"),  # zeros past the precision
    ],
)
def test_a_time_param_in_a_form_clickhouse_reads_still_answers(
    live: tuple[str, ClickHouseJournal], value: str, want: str
) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "-f", "json", "-p", f"at={value}", "SELECT {at:DateTime64(6, 'UTC')} AS at")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"at": want}]


@pytest.mark.parametrize(
    ("type_", "value", "precision"),
    [
        ("DateTime64(3)", "2025-11-20 10:41:07.1239", 3),  # ClickHouse read it as 10:41:07.123
        ("Nullable(DateTime64(6, 'UTC'))", "2025-11-20T10:41:07.1234567", 6),
        ("DateTime64", "2025-11-20 10:41:07.0001", 3),
        ("DateTime64(0)", "2025-11-20 10:41:07.5", 0),
        ("DateTime64(3)", "1763635267.12345", 3),  # epoch seconds: as 10:41:07.123
    ],
)
def test_a_time_param_with_digits_past_its_datetime64_precision_is_refused_before_anything_starts(
    tmp_path: Path, type_: str, value: str, precision: int
) -> None:
    """ClickHouse cut the digits off without a word, as it does a Decimal's past its scale: a
    window starting at .1239 started at .123, with rows before the time asked for."""
    where = tmp_path / "none"
    out = _sql("--dsn", f"chdb://{where}", "-p", f"at={value}", f"SELECT {{at:{type_}}} AS at")
    assert out.exit_code == 2, out.output
    assert out.output == (
        f"error: --param at={value!r}: more digits after the second than a {type_} keeps ({precision}); "
        "ClickHouse would cut them off without saying so\n"
    )
    assert not where.exists()


def test_a_time_in_an_array_param_with_digits_past_its_precision_is_refused(tmp_path: Path) -> None:
    value = "['2025-11-20 10:41:07.123', '2025-11-20 10:41:07.1234']"
    out = _sql(
        "--dsn", f"chdb://{tmp_path / 'none'}", "-p", f"at={value}", "SELECT {at:Array(DateTime64(3))} AS at"
    )
    assert out.exit_code == 2, out.output
    assert out.output.startswith(
        "error: --param at='2025-11-20 10:41:07.1234': more digits after the second"
    ), out.output


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        # 2026-09-21 14:13:20 in epoch milliseconds: ClickHouse read it as 1970-01-21 17:13:20 in a
        # DateTime64(6), as 2106-02-07 06:28:15 in a DateTime, without a word.
        ("DateTime64(6, 'UTC')", "1790000000000"),
        ("DateTime('UTC')", "1790000000000"),
        ("Nullable(DateTime64(3))", "1790000000000000"),  # microseconds: as 9999-12-31 23:59:59
        ("DateTime64(6, 'UTC')", "17900000000"),  # a digit too many: as 2537-03-24
    ],
)
def test_a_time_param_with_more_digits_than_epoch_seconds_is_refused(
    live: tuple[str, ClickHouseJournal], type_: str, value: str
) -> None:
    """A number for a DateTime is epoch seconds; one past 10 digits (after 2286) is epoch
    milliseconds or microseconds, which ClickHouse read as another time, by a rule that depends
    on its version and the type's precision. The query answered for a window nobody asked about."""
    dsn, _ = live
    out = _sql("--dsn", dsn, "-p", f"at={value}", f"SELECT {{at:{type_}}} AS at")
    assert out.exit_code == 2, out.output
    assert f"--param at={value!r}: {len(value)} digits, more than epoch seconds have" in out.output


def test_a_day_written_as_a_number_for_a_datetime_param_is_refused(
    live: tuple[str, ClickHouseJournal],
) -> None:
    """A Date reads 20260921 as 2026-09-21; a DateTime reads it as epoch seconds, 1970-08-23 12:02:01,
    so `ts >= {since:DateTime64(6, 'UTC')}` answered for every row since 1970."""
    dsn, _ = live
    for type_ in ("DateTime64(6, 'UTC')", "DateTime", "Nullable(DateTime64(3))"):
        out = _sql("--dsn", dsn, "-p", "at=20260921", f"SELECT {{at:{type_}}} AS at")
        assert out.exit_code == 2, (type_, out.output)
        assert "--param at='20260921': read as epoch seconds, 1970-08-23 12:02:01 UTC" in out.output
        assert "for the day 2026-09-21 write 2026-09-21" in out.output
    out = _sql("--dsn", dsn, "-f", "json", "-p", "at=20260921", "SELECT {at:Date} AS at")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"at": "2026-09-21"}]


DATE = "1970-01-01 to 2149-06-06"
DATETIME = "1970-01-01 00:00:00 to 2106-02-07 06:28:15 UTC"


@pytest.mark.parametrize(
    ("type_", "value", "holds", "end", "read_as"),
    [
        ("Date", "1800-01-01", DATE, "first", "1970-01-01"),
        ("Date", "9999-12-31", DATE, "last", "2149-06-06"),
        ("Nullable(Date)", "1969-12-31", DATE, "first", "1970-01-01"),
        ("DateTime('UTC')", "1969-12-31 23:59:59", DATETIME, "first", "1970-01-01T00:00:00"),
        ("DateTime('UTC')", "2106-02-07 06:28:16", DATETIME, "last", "2106-02-07T06:28:15"),
        ("DateTime('UTC')", "4294967296", DATETIME, "last", "2106-02-07T06:28:15"),  # epoch seconds
    ],
)
def test_a_time_param_a_date_or_datetime_cannot_hold_is_said_and_runs(
    live: tuple[str, ClickHouseJournal], type_: str, value: str, holds: str, end: str, read_as: str
) -> None:
    """ClickHouse moves a time outside a Date's or DateTime's range to its nearer end without a
    word: right for a window's bound ("9999-12-31" for no end), wrong for an equality. Said."""
    dsn, _ = live
    out = _sql("--dsn", dsn, "-f", "json", "-p", f"at={value}", f"SELECT {{at:{type_}}} AS at")
    assert out.exit_code == 0, out.output
    assert f"warning: --param at={value!r}: outside what a {type_} holds ({holds}); " in out.stderr
    assert f"ClickHouse reads it as the {end} one" in out.stderr
    assert json.loads(out.stdout) == [{"at": read_as}]


def test_a_date32_or_datetime64_far_out_answers_as_given(live: tuple[str, ClickHouseJournal]) -> None:
    """Those hold years to 9999 on the embedded engine: the journal's own ts is a DateTime64."""
    dsn, _ = live
    sql = "SELECT {a:Date32} AS a, {b:DateTime64(6, 'UTC')} AS b"
    out = _sql("--dsn", dsn, "-f", "json", "-p", "a=9999-12-31", "-p", "b=1800-01-01 00:00:00", sql)
    assert out.exit_code == 0 and "warning" not in out.stderr, out.output
    assert json.loads(out.stdout) == [{"a": "9999-12-31", "b": "1800-01-01T00:00:00"}]


@pytest.mark.parametrize(
    ("type_", "value", "want"),
    [
        ("Date", "1970-01-01", "1970-01-01"),
        ("Date", "2149-06-06", "2149-06-06"),
        ("Date32", "1900-01-01", "1900-01-01"),
        ("Date32", "2299-12-31", "2299-12-31"),
        ("DateTime('UTC')", "1970-01-01 00:00:00", "1970-01-01T00:00:00"),
        ("DateTime('UTC')", "2106-02-07 06:28:15", "2106-02-07T06:28:15"),
        ("DateTime64(3, 'UTC')", "1900-01-01 00:00:00", "1900-01-01T00:00:00"),
        ("DateTime64(3, 'UTC')", "2299-12-31 23:59:59.999", "2299-12-31T23:59:59.999000"),
    ],
)
def test_a_time_param_at_either_end_of_its_type_s_range_still_answers(
    live: tuple[str, ClickHouseJournal], type_: str, value: str, want: str
) -> None:
    dsn, _ = live
    out = _sql("--dsn", dsn, "-f", "json", "-p", f"at={value}", f"SELECT {{at:{type_}}} AS at")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"at": want}]


def test_a_text_that_is_not_utf8_shows_replacement_characters_not_hex(
    live: tuple[str, ClickHouseJournal],
) -> None:
    """`left()` and `substring()` count bytes, and cut a character in two; a value resent as
    bytes is stored as they are. The bytes that are not UTF-8 show as U+FFFD and the rest as
    written: clickhouse-connect gives a String it cannot decode as the hex digits of its bytes,
    which read as text ('signal \\xe2' as '7369676e616c20e2'), in the table, csv and json,
    nested values too."""
    dsn, journal = live
    sql = (
        "SELECT left('signal → enter', 8) AS cut, toLowCardinality(unhex('61ff')) AS lc, "
        "[unhex('62ff'), 'c'] AS arr, map(unhex('63ff'), 'd') AS m, toNullable(unhex('65ff')) AS n, "
        "'→ ok' AS ok"
    )
    want = ["signal \ufffd", "a\ufffd", ["b\ufffd", "c"], {"c\ufffd": "d"}, "e\ufffd", "→ ok"]
    assert journal.query(sql).rows == [want]  # the owner's socket
    reader = open_read_only_client(parse_dsn(dsn))
    try:
        from dita.journal.query import execute

        assert execute(reader, sql).rows == [want]  # a client of its own
        assert execute(reader, "SHOW CREATE TABLE transitions").rows[0][0].startswith("CREATE TABLE")
    finally:
        reader.close()
    out = _sql("--dsn", dsn, "-f", "json", sql)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [dict(zip(["cut", "lc", "arr", "m", "n", "ok"], want, strict=True))]
    out = _sql("--dsn", dsn, sql)
    assert out.exit_code == 0 and "signal \ufffd" in out.output and "7369676e616c20e2" not in out.output
