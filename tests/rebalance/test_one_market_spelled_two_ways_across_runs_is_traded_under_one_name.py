"""A symbol may be a ccxt symbol (BTC/USDT) or a market id (BTCUSDT): a file spelling the market
otherwise than the one whose buy the kernel holds exits that trade, sent under the name the
kernel trades it as, and the kernel holds no second trade of the one market."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from binance_spot import ccxt_args, spot_exchange
from typer.testing import CliRunner

from dita._kernel import wal_replay
from dita.cli import app

STAMP = {"generated_at": "2026-11-28T09:00:00Z"}


def _args(tmp_path: Path, run: str, *rows: dict[str, object]) -> list[str]:
    path = tmp_path / f"{run}.json"
    path.write_text(json.dumps({**STAMP, "source_run": run, "targets": list(rows)}))
    return ["rebalance", "--targets", str(path), "--state-dir", str(tmp_path / "s"), "--json"]


def test_a_sell_spelling_the_market_otherwise_exits_the_trade_the_buy_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with spot_exchange(monkeypatch, btc=0.5) as exchange:
        first = CliRunner().invoke(
            app, [*_args(tmp_path, "r1", {"symbol": "BTC/USDT", "quantity": 0.6}), *ccxt_args(exchange)]
        )
        assert first.exit_code == 0, first.output
        then = CliRunner().invoke(
            app, [*_args(tmp_path, "r2", {"symbol": "BTCUSDT", "quantity": 0.5}), *ccxt_args(exchange)]
        )
        assert then.exit_code == 0, then.output
        assert exchange.balances["BTC"] == pytest.approx(0.5)
    (row,) = json.loads(then.output.splitlines()[-1])["symbols"]
    kernel, _ = wal_replay(tmp_path / "s" / "wal")
    held = [(s["asset"], s["side"], s["size"]) for s in kernel.slots() if s["fsm_state"] == "POSITION_OPEN"]
    assert [o["intent_id"].rsplit(":", 1)[-1] for o in row["orders"]] == ["sell-exit-0"], (
        row["orders"],
        held,
    )
    assert held == [], held
