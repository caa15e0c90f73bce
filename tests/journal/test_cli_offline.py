"""``dita journal sql`` on a directory nobody holds: the CLI opens it itself, read-only.

Its own module: chDB hosts one directory per process, so this cannot run while the module
fixture of test_cli.py holds another one open."""

from __future__ import annotations

from pathlib import Path

from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import run_cli, twins


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
