"""``dita rebalance --ccxt-exchange --ccxt-market-type linear`` against a local exchange speaking
Binance's USD-M futures API: a position is a contract held on margin, not bought with the wallet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from binance_spot import ccxt_args, futures_exchange
from typer.testing import CliRunner

from dita.cli import app

STAMP = {"source_run": "run-f", "generated_at": "2026-11-29T09:00:00Z"}


@pytest.mark.parametrize(("position", "entry_price"), [(1.0, 80_000.0), (-1.0, 100_000.0)])
def test_futures_equity_is_the_wallet_plus_the_unrealised_pnl_not_the_positions_full_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, position: float, entry_price: float
) -> None:
    """A long of 1 BTC entered at 80,000 (or a short entered at 100,000), marked at 90,000, on a
    wallet of 100,000 USDT: equity is 110,000. Counting the position's whole value on top of the
    balance made the long's 200,000 (a weight of 0.5 held 1.11 BTC where it means 0.61) and the
    short's 20,000."""
    with futures_exchange(monkeypatch, wallet=100_000.0) as exchange:
        exchange.positions["BTCUSDT"], exchange.entry_prices["BTCUSDT"] = position, entry_price
        targets = tmp_path / "t.json"
        targets.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTCUSDT", "weight": 0.5}]}))
        args = ["rebalance", "--targets", str(targets), "--state-dir", str(tmp_path / "s"), "--json"]
        args += [*ccxt_args(exchange), "--ccxt-market-type", "linear", "--dry-run"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        report = json.loads(result.output.splitlines()[-1])
        assert report["equity"] == pytest.approx(110_000.0)
        (row,) = report["symbols"]
        assert row["target_quantity"] == pytest.approx(0.5 * 110_000.0 / 90_000.0)
        assert exchange.orders == {}
