"""``dita paper --ccxt-exchange`` on streamed market data from the local Binance of
``binance_streams.py``: a strategy that takes bars gets them from the kline stream, one that
takes quotes gets the top of the streamed order book (``--quote-feed stream``) or the book ticker
(``--quote-feed ticker``), and each trades on the paper venue from them."""

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

CROSSOVER = ["--strategy", "dita.examples.crossover:SmaCrossover", "--param", "fast=1", "--param", "slow=2"]


@pytest.fixture
def server() -> Iterator[BinanceStreamServer]:
    # Prices swinging over 3 s: a close and the 2-bar average of 1 s bars cross every few bars.
    with streaming(market=BinanceMarket(wave_s=3.0)) as server:
        yield server


def paper_live(server: BinanceStreamServer, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-c", "from dita.cli import main; main()", "paper", *args,
            "--ccxt-exchange", "binance", "--ccxt-base-url", server.url, "--state-dir", str(state),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DITA_CCXT_API_KEY": "", "DITA_CCXT_SECRET": ""},
        check=False,
    )  # fmt: skip


def test_a_bar_strategy_trades_on_streamed_bars(server: BinanceStreamServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ["--bar-interval", "1s", "--duration", "8", "--kernel-id", "live-bars"]
    proc = paper_live(server, state, *CROSSOVER, *args)
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
    ("quote_feed", "said", "keeps_book"),
    [("stream", " order book resyncs", True), ("ticker", " late or repeated book tickers dropped", False)],
)
def test_a_quote_strategy_trades_on_streamed_quotes(
    server: BinanceStreamServer, tmp_path: Path, quote_feed: str, said: str, keeps_book: bool
) -> None:
    state = tmp_path / "state"
    quoter = [
        "--strategy",
        "dita.examples.quoting:TwoSidedQuoter",
        "--params",
        '{"edge_threshold_bps": null}',
    ]
    proc = paper_live(
        server, state, *quoter, "--quote-feed", quote_feed, "--duration", "4", "--kernel-id", "q"
    )
    assert proc.returncode == 0, proc.stderr
    assert "feed: binance market stream: " in proc.stderr and said in proc.stderr
    # The book ticker keeps no book: no snapshot.
    assert (server.market.snapshots >= 1) == keeps_book
    snap = json.loads((state / "q.json").read_text())
    assert snap["clock"] == "wall" and snap["rows"] >= 10
    (strategy,) = snap["strategies"]
    assert strategy["status"] == "STOPPED" and strategy["intents"] > 0
    assert snap["fills"], f"no paper fills from --quote-feed {quote_feed}"


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
            "error: --quote-feed='push': give poll, stream or ticker\n",
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


def test_a_bad_quote_feed_is_refused_before_the_exchange_is_reached(tmp_path: Path) -> None:
    """Checked first, a typo in --quote-feed is named as such even when the exchange cannot be
    reached (port 9 of the loopback: nothing listens)."""
    state = tmp_path / "state"
    args = ["paper", *CROSSOVER, "--ccxt-exchange", "binance", "--ccxt-base-url", "http://127.0.0.1:9"]
    result = CliRunner().invoke(app, [*args, "--quote-feed", "push", "--state-dir", str(state)])
    assert result.exit_code == 2, result.output
    assert result.stderr == "error: --quote-feed='push': give poll, stream or ticker\n"
    assert not state.exists()
