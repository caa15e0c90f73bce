"""``dita journal sql`` on a directory nobody holds: the CLI opens it itself, read-only.

Its own module: chDB hosts one directory per process, so this cannot run while the module
fixture of test_cli.py holds another one open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn
from dita.journal.query import run_query
from dita.journal.schema import LATEST_VERSION, TABLE_COLUMNS
from journal.helpers import held_chdb_directory, journal_query_holding, run_cli, twins


def test_with_nobody_holding_it_the_cli_opens_the_directory(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'closed'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02)
    work, _ = twins(journal)
    work.run(20)
    journal.flush(30)
    fills = journal.query("SELECT count() FROM fills FINAL").rows[0][0]
    journal.close()
    assert not (tmp_path / "closed" / "query.sock").exists()
    done = run_cli("sql", "--dsn", dsn, "-f", "csv", "SELECT count() AS n FROM fills FINAL")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["n", str(fills)]


def test_a_directory_held_by_a_process_that_serves_no_queries_is_named_so(tmp_path: Path) -> None:
    """chDB's own error for a held directory says only "Error initializing EmbeddedServer":
    the CLI asks the lock who holds it and says so, on one line (not as a query that failed:
    none ran)."""
    directory = tmp_path / "held"
    with held_chdb_directory(directory, serve_sql=False) as holder:
        done = run_cli("sql", "--dsn", f"chdb://{directory}", "SELECT 1")
    assert done.returncode == 1, done.stdout
    assert done.stderr.splitlines() == [
        f"error: journal {directory} is held by "
        f"another process (pid {holder.pid}) that does not serve queries (started with "
        "serve_sql=False?); query it from that process or stop it first"
    ]


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("SELECT blocked FROM fills", "Unknown expression identifier `blocked`"),
        ("SELECT 1 SETTINGS max_block_size = 1", "Cannot modify 'max_block_size' setting in readonly mode"),
    ],
)
def test_a_query_error_mentioning_a_block_is_shown_as_clickhouse_gave_it(
    sql: str, said: str, tmp_path: Path
) -> None:
    """Nobody holds the directory, so an error with "lock" in a word of it ("block", "clock")
    is the query's own, not a holder's: ClickHouse's error is shown, naming the journal."""
    directory = tmp_path / "j"
    ClickHouseJournal(f"chdb://{directory}").close()
    done = run_cli("sql", "--dsn", f"chdb://{directory}", sql)
    assert done.returncode == 1, done.stdout
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: query failed on chdb://{directory}?database=dita: "), line
    assert said in line and "held by" not in line


def _dita(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dita.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("command", [["journal", "sql", "SELECT 1", "--dsn"], ["pnl", "--journal"]])
def test_a_server_that_does_not_answer_is_one_line_of_error(command: list[str]) -> None:
    """The client library's own log line about it would come first, saying nothing more
    (`pnl --journal` printed it, and an error naming no journal). Exit 3: not reached."""
    done = _dita(*command, "http://desk:s3cret@127.0.0.1:1/dita")
    assert done.returncode == 3, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: cannot reach the journal http://desk@127.0.0.1:1/dita: ")
    assert "s3cret" not in line


@pytest.mark.parametrize("command", [["journal", "sql", "SELECT 1", "--dsn"], ["pnl", "--journal"]])
def test_a_file_named_as_the_journal_is_said_to_be_one(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("hi")
    done = _dita(*command, f"chdb://{tmp_path / 'afile'}")
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        f"error: no journal at {tmp_path / 'afile'}: a file, not a journal directory"
    ]


@pytest.mark.parametrize(
    "command",
    [["journal", "sql", "SELECT 1", "--dsn"], ["journal", "info", "--dsn"], ["pnl", "--journal"]],
)
def test_a_directory_that_is_no_journal_is_said_so_and_left_as_it_was(
    command: list[str], tmp_path: Path
) -> None:
    """A DSN naming a directory that holds no journal (`--dsn chdb://.` in a project, a typo)
    was opened by the engine, which made tmp/ there and deleted the files in it named tmp*,
    before saying it "has no database 'dita'". It is refused before anything is opened."""
    directory = tmp_path / "project"
    (directory / "tmp").mkdir(parents=True)
    (directory / "tmp" / "tmp_notes.txt").write_text("mine")
    (directory / "notes.txt").write_text("mine too")
    empty = tmp_path / "empty"
    empty.mkdir()
    for where, before in ((directory, ["notes.txt", "tmp", "tmp/tmp_notes.txt"]), (empty, [])):
        done = _dita(*command, f"chdb://{where}")
        assert sorted(p.relative_to(where).as_posix() for p in where.rglob("*")) == before
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines() == [
            f"error: no journal at {where}: a directory without the engine's metadata/"
        ]
    assert (directory / "tmp" / "tmp_notes.txt").read_text() == "mine"


def test_a_journal_that_is_not_writable_is_said_to_be_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chDB writes its status file into any directory it opens: on a read-only file system
    (a journal copied to read-only media) it printed its own errno line and "Error initializing
    EmbeddedServer". (A root test process writes through permissions, so the file system's
    answer is stood in for; the check comes before chDB opens anything in this process.)"""
    directory = tmp_path / "ro"
    directory.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: False if Path(path) == directory else real_access(path, mode)
    )
    with pytest.raises(
        RuntimeError, match=rf"^journal {directory} is not writable \(a read-only file system"
    ):
        run_query(parse_dsn(f"chdb://{directory}"), "SELECT 1")
    assert list(directory.iterdir()) == []


def test_arguments_that_are_not_utf8_are_refused_naming_them(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 (a Latin-1 shell's é) reached chDB, whose refusal named pybind11
    types; the argument is named instead. A str argument here is passed on as those bytes."""
    dsn = f"chdb://{tmp_path / 'none'}"
    done = run_cli("sql", "--dsn", dsn, "SELECT 'caf\udce9'")
    assert done.returncode == 2 and done.stderr == "error: the query is not valid UTF-8: SELECT 'caf\\xe9'\n"
    done = run_cli("sql", "--dsn", dsn, "-p", "k=caf\udce9", "SELECT {k:String}")
    assert done.returncode == 2 and done.stderr == "error: --param k is not valid UTF-8: caf\\xe9\n"
    done = run_cli("sql", "--dsn", "chdb:///tmp/caf\udce9", "SELECT 1")
    assert done.returncode == 2 and done.stderr == "error: --dsn is not valid UTF-8: chdb:///tmp/caf\\xe9\n"
    done = _dita("pnl", "--journal", dsn, "--kernel", "caf\udce9")
    assert done.returncode == 2 and done.stderr == "error: --kernel is not valid UTF-8: caf\\xe9\n"


def test_a_dsn_that_is_not_utf8_is_refused_without_its_password() -> None:
    """The refusal of a DSN that is not UTF-8 (a Latin-1 shell's é in the password) showed the
    whole DSN, password included, as every other refusal of a DSN masks it."""
    dsn = "http://desk:s3cr\udce9t@127.0.0.1:1/db"
    said = "is not valid UTF-8: http://desk:***@127.0.0.1:1/db\n"
    done = run_cli("sql", "--dsn", dsn, "SELECT 1")
    assert done.returncode == 2 and done.stderr == f"error: --dsn {said}"
    done = run_cli("sql", "SELECT 1", env={"DITA_JOURNAL_DSN": dsn})
    assert done.returncode == 2 and done.stderr == f"error: $DITA_JOURNAL_DSN {said}"
    done = _dita("pnl", "--journal", dsn)
    assert done.returncode == 2 and done.stderr == f"error: --journal {said}"


def test_info_on_a_journal_without_rows_gives_the_schema_version(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'empty'}"
    ClickHouseJournal(dsn).close()
    done = run_cli("info", "--dsn", dsn, "-f", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert sorted(r["table"] for r in rows) == sorted(TABLE_COLUMNS)
    assert all(
        r["schema_version"] == LATEST_VERSION and r["rows"] == 0 and r["kernel_id"] is None for r in rows
    )


def test_a_second_query_waits_for_one_that_holds_the_directory(tmp_path: Path) -> None:
    """Two operators' queries on a journal no kernel holds: the second was refused, naming the
    first as a process "that does not serve queries (started with serve_sql=False?)". It waits
    for it, as a starting kernel does, saying so."""
    directory = tmp_path / "j"
    ClickHouseJournal(f"chdb://{directory}").close()
    # Held for 8 s (a sleep is at most 3 s a block, so three nested), long enough that the second
    # CLI process, started on a loaded machine, still finds it held.
    held = "SELECT sleep(3) + x FROM (SELECT sleep(3) + y AS x FROM (SELECT sleep(2) AS y))"
    first = journal_query_holding(directory, held)
    try:
        second = run_cli("sql", "--dsn", f"chdb://{directory}", "-f", "csv", "SELECT 7 AS n")
        pnl = _dita("pnl", "--journal", f"chdb://{directory}", "--json")
        _out, err = first.communicate(timeout=60)
    finally:
        first.kill()
        first.communicate()
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["n", "7"]
    said, *progress = second.stderr.splitlines()
    assert said == (
        f"warning: journal {directory} is held by another `dita journal` query (pid {first.pid}): "
        "waiting up to 130 s for it to end"
    )
    # A loaded machine may take past 10 s to wait and answer: the progress line says so.
    assert all(line.endswith(" s") and ": still running after " in line for line in progress), progress
    assert pnl.returncode == 0 and json.loads(pnl.stdout) == [], pnl.stderr


def test_a_query_still_holding_the_directory_after_the_wait_is_named(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    ClickHouseJournal(f"chdb://{directory}").close()
    first = journal_query_holding(directory, "SELECT sleep(3)")
    try:
        with pytest.raises(RuntimeError) as refused:
            run_query(parse_dsn(f"chdb://{directory}"), "SELECT 1", wait=0.5)
    finally:
        first.kill()
        first.communicate()
    assert str(refused.value) == (
        f"journal {directory} is held by another `dita journal` query (pid {first.pid}) still "
        "running after 0.5 s; retry when it has ended"
    )
