"""``dita journal sql`` on a directory nobody holds: the CLI opens it itself, read-only.

Its own module: chDB hosts one directory per process, so this cannot run while the module
fixture of test_cli.py holds another one open."""

from __future__ import annotations

from pathlib import Path

from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import held_chdb_directory, run_cli, twins


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
    the CLI asks the lock who holds it and says so, on one line."""
    directory = tmp_path / "held"
    with held_chdb_directory(directory, serve_sql=False) as holder:
        done = run_cli("sql", "--dsn", f"chdb://{directory}", "SELECT 1")
    assert done.returncode == 1, done.stdout
    assert done.stderr.splitlines() == [
        f"error: query failed on chdb://{directory}?database=dita: journal {directory} is held by "
        f"another process (pid {holder.pid}) that does not serve queries (started with "
        "serve_sql=False?); query it from that process or stop it first"
    ]


def test_a_server_that_does_not_answer_is_one_line_of_error() -> None:
    """The client library's own log line about it would come first, saying nothing more."""
    done = run_cli("sql", "--dsn", "http://desk:s3cret@127.0.0.1:1/dita", "SELECT 1")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: query failed on http://desk@127.0.0.1:1/dita: ") and "s3cret" not in line
