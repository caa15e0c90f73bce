"""`dita pnl`'s net is the kernel's: realized PnL less fees plus funding, as K is
(``k_capital = seed + k_realized_pnl - k_fees_paid + k_funding_net``), from the journal and
from a state file alike. It left funding out: a kernel paying funding on a held position read
as doing better than its account."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent
from dita.cli import app
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import SilentVenue, pnl_rows

T = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


def _traded_with_funding(journal: ClickHouseJournal, kernel_id: str) -> ExecutionKernel:
    """A long entered and filled at T, funding paid at T+60 (0.75) and received at T+120
    (0.25), one funding refused (not finite): the account's funding is -0.5."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), journal=journal, kernel_id=kernel_id)
    intent = KernelIntent("e0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 2.0, timestamp=T)
    order = kernel.process_intent(intent).order
    assert order is not None
    fill = VenueEvent(
        "f0", "t0", 0, "FILL", venue_client_id=order.client_order_id, asset="BTCUSDT",
        price=100.0, size=2.0, filled_size=2.0, fill_id="x1", timestamp=T,
    )  # fmt: skip
    assert kernel.on_venue_event(fill).accepted
    for event_id, amount, at in (("fund-1", -0.75, T + 60), ("fund-2", 0.25, T + 120)):
        out = kernel.on_account_event(AccountEvent(event_id, "FUNDING_FEE", amount=amount, timestamp=at))
        assert out.accepted, out
    refused = kernel.on_account_event(AccountEvent("fund-bad", "FUNDING_FEE", amount=math.inf))
    assert not refused.accepted
    assert kernel.account()["k_funding_net"] == pytest.approx(-0.5)
    journal.flush(30)
    return kernel


def test_pnl_from_the_journal_nets_funding_as_the_kernels_account_does(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'journal'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    try:
        account = _traded_with_funding(journal, "funded").account()
    finally:
        journal.close()
    (row,) = pnl_rows("--journal", dsn, "--kernel", "funded")
    assert row["fills"] == 1 and account["k_fees_paid"] > 0
    assert row["fees"] == pytest.approx(account["k_fees_paid"])
    assert row["funding"] == pytest.approx(-0.5)
    assert row["net_pnl"] == pytest.approx(
        account["k_realized_pnl"] - account["k_fees_paid"] + account["k_funding_net"]
    )
    # A period takes the funding paid in it: by T+90 only the first payment.
    (early,) = pnl_rows(
        "--journal", dsn, "--kernel", "funded", "--period", "today", "--at", "2026-09-21T14:14:50Z"
    )
    assert early["funding"] == pytest.approx(-0.75)
    assert early["net_pnl"] == pytest.approx(-account["k_fees_paid"] - 0.75)


def _state(tmp_path: Path, account: dict[str, Any], **fields: Any) -> Path:
    snap = {"kernel_id": "k", "pid": 1, "running": False, "account": account, **fields}
    (tmp_path / "k.json").write_text(json.dumps(snap))
    return tmp_path


def test_pnl_from_a_state_file_nets_the_accounts_funding(tmp_path: Path) -> None:
    account = {"equity": 10.0, "realized_pnl": 3.0, "k_fees_paid": 0.5, "k_funding_net": -1.25}
    state = _state(tmp_path, account, fills=[{"ts": T, "realized_pnl": 3.0, "fee": 0.5}])
    result = CliRunner().invoke(app, ["pnl", "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["funding"], row["net_pnl"]) == (-1.25, 3.0 - 0.5 - 1.25)
    table = CliRunner().invoke(app, ["pnl", "--state-dir", str(state)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "funding" in table.stdout and "-1.25" in table.stdout and "1.25 " in table.stdout
    # Up to a moment the state file cannot say what funding was paid by then: unknown, not 0.
    at = ("--at", "2026-09-22")
    result = CliRunner().invoke(app, ["pnl", "--state-dir", str(state), *at, "--json"])
    (row,) = json.loads(result.stdout)
    assert (row["realized_pnl"], row["fees"], row["funding"], row["net_pnl"]) == (3.0, 0.5, None, None)
    assert "funding" in row["note"] and "--journal" in row["note"]
    # An account that never paid or received funding: none in any period either.
    fills = [{"ts": T, "realized_pnl": 3.0, "fee": 0.5}]
    state = _state(tmp_path, {**account, "k_funding_net": 0.0}, fills=fills)
    result = CliRunner().invoke(app, ["pnl", "--state-dir", str(state), *at, "--json"])
    (row,) = json.loads(result.stdout)
    assert (row["funding"], row["net_pnl"], row["note"]) == (0.0, 2.5, "")
