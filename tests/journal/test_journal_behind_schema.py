"""Readers of a journal a kernel of this dita has not opened yet (a schema behind this dita's,
before account_events.fee_charged) say so, naming both versions and how to migrate: `dita pnl
--journal`, whose fees need that column, a query that fails on a column not there yet, `dita
journal info`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dita.journal.schema import LATEST_VERSION
from journal.helpers import run_cli  # type: ignore

BEHIND = f"schema version 8, behind this dita's {LATEST_VERSION}"
HOW = "open it once with this dita's journal (ClickHouseJournal(dsn)"


@pytest.fixture(scope="module")
def old_journal(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A journal migrated to schema version 8 only, holding one exit fill (in a process of its
    own: chDB hosts one directory per process)."""
    dsn = f"chdb://{tmp_path_factory.mktemp('old') / 'journal'}"
    code = (
        "import sys\nfrom dita.journal import schema\nfrom dita.journal.dsn import parse_dsn\n"
        "c = parse_dsn(sys.argv[1]).connect()\n"
        "schema.migrate(c, 'dita', target=8)\n"
        'c.command("INSERT INTO dita.fills (kernel_id, seq, sub, ts, trade_id, slot_id, event_id, fill_id, '
        "asset, side, leg, price, qty, fee, liquidity, realized_pnl) VALUES "
        "('k', 1, 0, now64(6), 'T', 0, 'e', 'f1', 'BTC', 'SELL', 'EXIT', 100, 1, 0.1, 'TAKER', 5)\")\n"
    )
    subprocess.run([sys.executable, "-c", code, dsn], check=True, timeout=120)
    return dsn


def test_pnl_from_a_journal_behind_this_schema_says_so_and_how_to_migrate(old_journal: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "dita.cli", "pnl", "--journal", old_journal, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert BEHIND in out.stderr and HOW in out.stderr, out.stderr


def test_a_query_of_a_column_not_there_yet_says_the_journal_is_behind(old_journal: str) -> None:
    out = run_cli("sql", "--dsn", old_journal, "SELECT fee_charged FROM account_events")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "fee_charged" in out.stderr and BEHIND in out.stderr and HOW in out.stderr, out.stderr


def test_journal_info_says_the_journal_is_behind(old_journal: str) -> None:
    out = run_cli("info", "--dsn", old_journal, "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert f"warning: the journal is at {BEHIND}" in out.stderr, out.stderr
