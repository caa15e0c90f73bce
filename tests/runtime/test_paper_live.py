"""``dita paper`` following a live ccxt feed: Binance's REST answers are served by a local
HTTP server (exchange info from the recorded fixtures, a ticker that moves on every poll),
so the live path runs offline: poll, quote, paper fills, status file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

EXCHANGE_INFO = (
    Path(__file__).resolve().parents[1] / "venues" / "fixtures" / "binance" / "spot_exchange_info.json"
)


class FakeBinance:
    """Answers exchangeInfo and 24h tickers; the book walks up and down a few ticks per poll."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.polls = 0
        info = EXCHANGE_INFO.read_bytes()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                outer.paths.append(parts.path)
                if parts.path == "/api/v3/exchangeInfo":
                    body = info
                elif parts.path == "/api/v3/ticker/24hr":
                    body = json.dumps(outer.ticker(dict(parse_qsl(parts.query))["symbol"])).encode()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def ticker(self, symbol: str) -> dict[str, Any]:
        self.polls += 1
        mid = 60_000.0 + (self.polls % 7 - 3) * 15.0
        now_ms = int(time.time() * 1000)
        return {
            "symbol": symbol,
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": f"{mid:.2f}",
            "prevClosePrice": f"{mid:.2f}",
            "lastPrice": f"{mid:.2f}",
            "lastQty": "0.1",
            "bidPrice": f"{mid - 5:.2f}",
            "bidQty": "2.0",
            "askPrice": f"{mid + 5:.2f}",
            "askQty": "2.0",
            "openPrice": f"{mid:.2f}",
            "highPrice": f"{mid + 100:.2f}",
            "lowPrice": f"{mid - 100:.2f}",
            "volume": "100",
            "quoteVolume": "6000000",
            "openTime": now_ms - 86_400_000,
            "closeTime": now_ms,
            "firstId": 1,
            "lastId": 2,
            "count": 2,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_binance() -> Iterator[FakeBinance]:
    server = FakeBinance()
    yield server
    server.close()


def test_paper_follows_a_live_ccxt_feed(fake_binance: FakeBinance, tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dita.cli import main; main()",
            "paper",
            "--strategy",
            "dita.examples.quoting:TwoSidedQuoter",
            "--param",
            "edge_threshold_bps=0",
            "--param",
            "quote_usd=600",
            "--ccxt-exchange",
            "binance",
            "--ccxt-base-url",
            fake_binance.url,
            "--symbols",
            "BTC/USDT",
            "--poll",
            "0.1",
            "--duration",
            "4",
            "--state-dir",
            str(state),
            "--kernel-id",
            "live-paper",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DITA_CCXT_API_KEY": "", "DITA_CCXT_SECRET": ""},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "/api/v3/exchangeInfo" in fake_binance.paths
    assert fake_binance.polls >= 5
    snap = json.loads((state / "live-paper.json").read_text())
    assert snap["clock"] == "wall" and snap["rows"] >= 5
    (strategy,) = snap["strategies"]
    assert strategy["status"] == "STOPPED" and strategy["intents"] > 0
    # The quoter's bids and asks rest at the touch; the walking book crosses some of them.
    assert snap["fills"], "no paper fills from the live feed"
    assert {f["asset"] for f in snap["fills"]} == {"BTCUSDT"}
    assert all(59_900 < f["price"] < 60_100 for f in snap["fills"])


def test_paper_live_feed_refuses_an_unreachable_exchange(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dita.cli import main; main()",
            "paper",
            "--strategy",
            "dita.examples.quoting:TwoSidedQuoter",
            "--ccxt-exchange",
            "binance",
            "--ccxt-base-url",
            "http://127.0.0.1:9",
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "cannot reach binance" in proc.stderr


def test_live_ticker_feed_keeps_time_order_across_symbols() -> None:
    """Each ticker is stamped with its market's last trade, so a quiet market's quote is older
    than the busy one polled just before it; the paper venue and the runtime refuse data that
    goes back in time, so the feed must not (and skips a crossed ticker)."""
    from itertools import islice

    from dita.cli.paper import _ccxt_quotes
    from dita.runtime import TradingRuntime

    tickers = {
        "BTC/USDT": [{"bid": 100.0, "ask": 100.5, "timestamp": 1_000_500}],
        "DOGE/USDT": [
            {"bid": 0.2, "ask": 0.19, "timestamp": 1_000_600},  # crossed: skipped
            {"bid": 0.2, "ask": 0.21, "timestamp": 1_000_200},
        ],
    }

    class Client:
        def fetch_ticker(self, symbol: str) -> dict[str, Any]:
            return tickers[symbol].pop(0) if len(tickers[symbol]) > 1 else tickers[symbol][0]

        def market(self, symbol: str) -> dict[str, Any]:
            return {"id": symbol.replace("/", "")}

    quotes = list(islice(_ccxt_quotes(Client(), ["BTC/USDT", "DOGE/USDT"], 0.0), 4))
    assert [q.asset for q in quotes] == ["BTCUSDT", "BTCUSDT", "DOGEUSDT", "BTCUSDT"]
    assert [q.ts for q in quotes] == sorted(q.ts for q in quotes)
    assert all(q.bid <= q.ask for q in quotes)
    runtime = TradingRuntime(_NoKernel(), [])
    for quote in quotes:
        runtime.on_quote(quote)


class _NoKernel:
    venue = None


def test_live_ticker_without_sizes_is_deep_as_a_file_without_size_columns() -> None:
    """A ticker that gives no bid or ask size (many exchanges leave them out) says nothing of
    the depth: as with a file without size columns, an order fills whole at the touch. Read
    as 1 unit, a 500 DOGE buy took 1 DOGE per poll, at whatever later quotes said."""
    from itertools import islice

    from dita import VenueOrder
    from dita.backtest.data import UNKNOWN_DEPTH
    from dita.cli.paper import _ccxt_quotes
    from dita.venues.paper import PaperVenue

    tickers = {
        "DOGE/USDT": {"bid": 0.2, "ask": 0.21, "timestamp": 1_000_000, "bidVolume": None},
        "BTC/USDT": {"bid": 100.0, "ask": 100.5, "timestamp": 1_000_000, "bidVolume": 3.0, "askVolume": 0.0},
    }

    class Client:
        def fetch_ticker(self, symbol: str) -> dict[str, Any]:
            return tickers[symbol]

        def market(self, symbol: str) -> dict[str, Any]:
            return {"id": symbol.replace("/", "")}

    doge, btc = islice(_ccxt_quotes(Client(), ["DOGE/USDT", "BTC/USDT"], 0.0), 2)
    assert (doge.bid_size, doge.ask_size) == (UNKNOWN_DEPTH, UNKNOWN_DEPTH)
    # A size given is kept; 0 (a best price always has some size) says as little as none.
    assert (btc.bid_size, btc.ask_size) == (3.0, UNKNOWN_DEPTH)
    venue = PaperVenue(slippage_bps=0)
    venue.on_quote(doge.asset, doge.bid, doge.ask, doge.bid_size, doge.ask_size, doge.ts)
    order = VenueOrder("o1", 0, "t-1", "DOGEUSDT", "BUY", "MARKET", 0.0, 500.0, timestamp=doge.ts)
    events = venue.submit(order)
    assert [(e.kind.name, e.price, e.size) for e in events][1:] == [("FILL", 0.21, 500.0)]


def _paper_live(fake_binance: FakeBinance, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from dita.cli import main; main()",
            "paper",
            "--ccxt-exchange",
            "binance",
            "--ccxt-base-url",
            fake_binance.url,
            "--poll",
            "0.1",
            "--duration",
            "2",
            "--state-dir",
            str(tmp_path / "state"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DITA_CCXT_API_KEY": "", "DITA_CCXT_SECRET": ""},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # The live feed is quotes: a strategy on bars heard nothing and the run "succeeded".
        (
            ("--strategy", "dita.examples.crossover:SmaCrossover", "--symbols", "BTC/USDT"),
            "SmaCrossover takes bars but --ccxt-exchange gives quotes",
        ),
        # A market the exchange does not have was polled in vain until --duration ended.
        (
            ("--strategy", "dita.examples.quoting:TwoSidedQuoter", "--symbols", "BTC/USDT,NOPE/USDT"),
            "--symbols: 'NOPE/USDT' is not a market of binance",
        ),
        (
            ("--strategy", "dita.examples.quoting:TwoSidedQuoter", "--symbols", " , "),
            "--symbols ' , ' names no market",
        ),
    ],
)
def test_paper_live_feed_refuses_a_feed_the_strategy_would_never_see(
    fake_binance: FakeBinance, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    proc = _paper_live(fake_binance, tmp_path, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "/api/v3/ticker/24hr" not in fake_binance.paths
    assert not (tmp_path / "state").exists()
