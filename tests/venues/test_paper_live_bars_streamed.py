"""``dita paper --ccxt-exchange`` with a strategy that takes bars: the bars come from the
exchange's kline stream (the local Binance of ``binance_streams.py``), and the strategy trades
on the paper venue from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from binance_market import BinanceMarket
from binance_streams import BinanceStreamServer, streaming
from typer.testing import CliRunner

from dita.cli import app

CROSSOVER = ["--strategy", "dita.examples.crossover:SmaCrossover", "--param", "fast=2", "--param", "slow=3"]


@pytest.fixture
def server() -> Iterator[BinanceStreamServer]:
    # Prices swinging over 3 s: the 2- and 3-bar averages of 1 s bars cross every few bars.
    with streaming(market=BinanceMarket(wave_s=3.0)) as server:
        yield server


def test_a_bar_strategy_trades_on_streamed_bars(server: BinanceStreamServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.run(
        [
            sys.executable, "-c", "from dita.cli import main; main()", "paper", *CROSSOVER,
            "--ccxt-exchange", "binance", "--ccxt-base-url", server.url, "--bar-interval", "1s",
            "--duration", "8", "--state-dir", str(state), "--kernel-id", "live-bars",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DITA_CCXT_API_KEY": "", "DITA_CCXT_SECRET": ""},
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "feed: binance market stream: " in proc.stderr and " bars (0 empty" in proc.stderr
    snap = json.loads((state / "live-bars.json").read_text())
    assert snap["clock"] == "wall" and snap["rows"] >= 5
    (strategy,) = snap["strategies"]
    assert strategy["status"] == "STOPPED" and strategy["intents"] > 0
    assert snap["fills"], "no paper fills from the streamed bars"
    assert {f["asset"] for f in snap["fills"]} == {"BTCUSDT"}
    # Filled at the stream's prices: within the range of the exchange's trades.
    prices = [t.price for t in server.market.trades["BTCUSDT"]]
    assert all(min(prices) * 0.99 <= f["price"] <= max(prices) * 1.01 for f in snap["fills"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--bar-interval", "7m"],
            "error: --bar-interval='7m' is not a kline interval of binance (ccxt lists 1s, 1m, 3m, 5m, "
            "15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w, 1M)\n",
        ),
        (
            ["--quote-feed", "push"],
            "error: --quote-feed='push': give poll or stream\n",
        ),
    ],
)
def test_a_live_feed_option_the_exchange_cannot_serve_is_refused(
    server: BinanceStreamServer, tmp_path: Path, options: list[str], message: str
) -> None:
    state = tmp_path / "state"
    args = ["paper", *CROSSOVER, "--ccxt-exchange", "binance", "--ccxt-base-url", server.url, *options]
    result = CliRunner().invoke(app, [*args, "--state-dir", str(state)])
    assert result.exit_code == 2, result.output
    assert result.stderr == message
    assert not state.exists()
