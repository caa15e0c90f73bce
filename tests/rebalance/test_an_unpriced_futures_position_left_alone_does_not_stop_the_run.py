"""On a futures exchange equity is the balance, and a position is not valued at its price: a
position the targets leave alone whose book states no price (a halted contract) is named in a
warning, and the targets are planned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from binance_spot import ccxt_args, futures_exchange
from typer.testing import CliRunner

from dita.cli import app
from dita.venues.ccxt import CcxtVenue

STAMP = {"source_run": "run-f", "generated_at": "2026-11-29T09:00:00Z"}


def test_an_unpriced_futures_position_the_targets_leave_alone_does_not_stop_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        held = CcxtVenue.positions
        book = CcxtVenue.fetch_top_of_book

        def positions(self: CcxtVenue) -> dict[str, float]:
            return {**held(self), "XYZUSDT": 3.0}  # a contract held elsewhere, its market halted

        def top(self: CcxtVenue, symbol: str):  # type: ignore[no-untyped-def]
            if symbol == "XYZUSDT":
                raise ValueError("XYZUSDT: the book has no bid and no ask")
            return book(self, symbol)

        monkeypatch.setattr(CcxtVenue, "positions", positions)
        monkeypatch.setattr(CcxtVenue, "fetch_top_of_book", top)
        targets = tmp_path / "t.json"
        targets.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "weight": 0.5}]}))
        args = ["rebalance", "--targets", str(targets), "--state-dir", str(tmp_path / "s"), "--json"]
        args += [*ccxt_args(exchange), "--ccxt-market-type", "linear", "--dry-run"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output[-800:]
    report = json.loads(result.output.splitlines()[-1])
    assert any("XYZUSDT" in said and "leave them alone" in said for said in report["warnings"]), report
    (row,) = report["symbols"]
    assert row["target_quantity"] == pytest.approx(0.5 * 100_000.0 / 90_000.0, rel=0.01)
