"""Every reader of a journal reads the database its DSN names, whatever name the DSN takes:
`123` or `é` needs quoting after FROM, and `pnl --journal` put it there bare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import pnl_rows


def _dita(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dita.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


@pytest.mark.parametrize("database", ["123", "é"])
def test_pnl_and_journal_info_read_a_database_named_by_digits_or_a_non_ascii_letter(
    tmp_path: Path, database: str
) -> None:
    dsn = f"chdb://{tmp_path / 'j'}?database={database}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(
        max_slots=1, journal=journal, kernel_id="db-1", venue=MockVenueAdapter(seed=1, fill_rate=1.0)
    )
    try:
        for intent_id, action, price, ts in (("e1", "ENTER", 100.0, 1.7e9), ("x1", "EXIT", 101.0, 1.7e9 + 1)):
            intent = KernelIntent(intent_id, "t1", 0, "BTCUSDT", "LONG", action, price, 1.0, timestamp=ts)
            assert kernel.process_intent(intent).accepted
        account = kernel.account()
    finally:
        kernel.close()
        journal.close()
    (row,) = pnl_rows("--journal", dsn)
    assert (row["kernel_id"], row["fills"]) == ("db-1", 2)
    assert row["realized_pnl"] == pytest.approx(account["k_realized_pnl"])
    assert row["fees"] == pytest.approx(account["k_fees_paid"])
    # A kernel the journal does not know: looked for in every table, then said so.
    unknown = _dita("pnl", "--journal", dsn, "--kernel", "nobody", "--json")
    said = f"error: no kernel 'nobody' found in the journal {dsn}\n"
    assert (unknown.returncode, unknown.stderr) == (1, said)
    info = _dita("journal", "info", "--dsn", dsn, "-f", "json")
    assert info.returncode == 0, info.stderr
    assert {"table": "fills", "kernel_id": "db-1", "rows": 2} in [
        {k: r[k] for k in ("table", "kernel_id", "rows")} for r in json.loads(info.stdout)
    ]
