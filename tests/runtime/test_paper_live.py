"""``dita paper`` following a live ccxt feed: Binance's REST answers are served by a local
HTTP server (exchange info from the recorded fixtures, a ticker that moves on every poll),
so the live path runs offline: poll, quote, paper fills, status file."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

# The example quoter with no edge required (its own threshold off, and a paper run sets no
# kernel freeze): it quotes from the first tick, whatever the fee.
EAGER_QUOTER = (
    "--strategy",
    "dita.examples.quoting:TwoSidedQuoter",
    "--params",
    '{"edge_threshold_bps": null}',
)

EXCHANGE_INFO = (
    Path(__file__).resolve().parents[1] / "venues" / "fixtures" / "binance" / "spot_exchange_info.json"
)


class FakeBinance:
    """Answers exchangeInfo and 24h tickers; the book walks up and down a few ticks per poll."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.polls = 0
        # Tickers answered before the exchange goes down (503 to every later one); None: never.
        self.up_for: int | None = None
        # A quiet market: every ticker is stamped with this last-trade time (ms), not now.
        self.last_trade_ms: int | None = None
        info = EXCHANGE_INFO.read_bytes()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                outer.paths.append(parts.path)
                if parts.path == "/api/v3/exchangeInfo":
                    body = info
                elif parts.path == "/api/v3/ticker/24hr" and outer.down():
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
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

    def down(self) -> bool:
        if self.up_for is None:
            return False
        self.up_for -= 1
        return self.up_for < 0

    def ticker(self, symbol: str) -> dict[str, Any]:
        self.polls += 1
        mid = 60_000.0 + (self.polls % 7 - 3) * 15.0
        now_ms = int(time.time() * 1000) if self.last_trade_ms is None else self.last_trade_ms
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
            *EAGER_QUOTER,
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


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--ccxt-exchange", "nosuchexchange"],
            "error: --ccxt-exchange='nosuchexchange': exchange 'nosuchexchange' is not a ccxt exchange id\n",
        ),
        (["--ccxt-exchange", ""], "error: --ccxt-exchange='': String should have at least 1 character\n"),
        (
            ["--ccxt-exchange", "binance", "--ccxt-base-url", "ftp://127.0.0.1:9"],
            "error: --ccxt-base-url='ftp://127.0.0.1:9': base_url must be http(s)://host[:port], "
            "got 'ftp://127.0.0.1:9'\n",
        ),
        (
            ["--ccxt-exchange", "binance", "--ccxt-base-url", "127.0.0.1:9"],
            "error: --ccxt-base-url='127.0.0.1:9': base_url must be http(s)://host[:port], "
            "got '127.0.0.1:9'\n",
        ),
    ],
)
def test_paper_live_feed_refuses_a_bad_exchange_or_url_as_an_option(
    options: list[str], message: str, tmp_path: Path
) -> None:
    # They read as "cannot reach nosuchexchange: ValueError: ..." with exit 1, as if the
    # network had failed; nothing was ever sent.
    from typer.testing import CliRunner

    from dita.cli import app

    state = tmp_path / "state"
    args = ["paper", *EAGER_QUOTER, *options, "--state-dir", str(state)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr == message
    assert not state.exists()


def test_live_ticker_feed_keeps_time_order_across_symbols() -> None:
    """Each ticker is stamped with its market's last trade, so a quiet market's is older than
    the busy one polled just before it; the paper venue and the runtime refuse data that goes
    back in time, so the feed must not (it stamps quotes when received; and skips a crossed
    ticker)."""
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

    tickers: dict[str, dict[str, Any]] = {
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


def _paper_live(
    fake_binance: FakeBinance,
    tmp_path: Path,
    *args: str,
    timeout: float = 120,
    pythonpath: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DITA_CCXT_API_KEY": "", "DITA_CCXT_SECRET": ""}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
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
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # A strategy on bars follows the kline stream, at an interval the exchange has.
        (
            ("--strategy", "dita.examples.crossover:SmaCrossover", "--bar-interval", "2m"),
            "--bar-interval='2m' is not a kline interval of binance",
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


def test_paper_live_run_stops_at_duration_while_every_poll_fails(
    fake_binance: FakeBinance, tmp_path: Path
) -> None:
    """--duration was looked at only when the feed yielded a quote: with the exchange down
    (every poll failing) the run went on until Ctrl-C. It ends as a run whose time is up."""
    fake_binance.up_for = 0
    started = time.monotonic()
    proc = _paper_live(
        fake_binance, tmp_path, "--strategy", "dita.examples.quoting:TwoSidedQuoter", timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 25
    assert "/api/v3/ticker/24hr" in fake_binance.paths
    assert "feed: BTC/USDT: ExchangeNotAvailable" in proc.stderr
    snap = json.loads(next((tmp_path / "state").glob("*.json")).read_text())
    assert snap["running"] is False and snap["rows"] == 0


def test_paper_live_state_file_is_kept_fresh_while_every_poll_fails(
    fake_binance: FakeBinance, tmp_path: Path
) -> None:
    """The state file (what `dita status` reads) was written only when a quote came: with the
    exchange down it was never written while the run lived, or went stale showing running."""
    fake_binance.up_for = 0
    env = {**os.environ, "DITA_CCXT_API_KEY": "", "DITA_CCXT_SECRET": ""}
    state = tmp_path / "state"
    args = ["--ccxt-exchange", "binance", "--ccxt-base-url", fake_binance.url, "--poll", "0.1"]
    args += ["--duration", "120", "--status-every", "0.3", "--state-dir", str(state)]
    args += ["--strategy", "dita.examples.quoting:TwoSidedQuoter"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from dita.cli import main; main()", "paper", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )

    def snapshot() -> dict[str, Any] | None:
        for f in state.glob("*.json"):
            with contextlib.suppress(ValueError, OSError):  # caught mid-write: read it again
                return dict(json.loads(f.read_text()))
        return None

    def seen(until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        # Waits on what the run writes, not on a time: a loaded host only makes it slower.
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and proc.poll() is None:
            snap = snapshot()
            if snap is not None and until(snap):
                return snap
            time.sleep(0.05)
        raise AssertionError(f"the run (exit {proc.poll()}) wrote no such state file: {snapshot()}")

    try:
        first = seen(lambda snap: snap["running"] is True)
        # Written again while every poll fails: the feed waits, the state file does not.
        later = seen(lambda snap: snap["updated_at"] > first["updated_at"])
        assert later["running"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=30)


FAILS_ON_QUOTE = """
from typing import Any

from dita.strategy import Quote, Strategy


class FailsOnQuote(Strategy[Any]):
    data = ("quotes",)

    def on_quote(self, quote: Quote) -> None:
        raise ValueError("boom")
"""


def test_paper_live_run_stops_once_every_strategy_is_in_error_while_the_feed_is_down(
    fake_binance: FakeBinance, tmp_path: Path
) -> None:
    """The strategy fails on the first quote, then the exchange goes down: the stop was looked
    at only on the next quote, which never came, so the run hung with nothing left to trade."""
    (tmp_path / "live_failing.py").write_text(FAILS_ON_QUOTE)
    fake_binance.up_for = 1
    proc = _paper_live(
        fake_binance,
        tmp_path,
        "--strategy",
        "live_failing:FailsOnQuote",
        "--duration",
        "600",
        timeout=30,
        pythonpath=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "error: strategy FailsOnQuote failed in on_quote: ValueError: boom" in proc.stderr
    assert "error: every strategy is in ERROR: the run was stopped" in proc.stderr


def test_live_feed_that_fails_every_poll_ends_when_told_and_says_so_once_a_minute(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """While no poll gives a quote the feed looks at the stop conditions at every wait (it
    sleeps, it does not spin), and says on stderr that it has had nothing for so long, once
    a minute instead of one line a poll (3,600 an hour at --poll 1)."""
    from dita.cli.paper import _ccxt_quotes

    now = [1_000.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    class Down:
        def fetch_ticker(self, symbol: str) -> dict[str, Any]:
            now[0] += 0.01
            raise ConnectionError("network is unreachable")

    def should_stop() -> bool:
        return now[0] >= 1_000.0 + 300

    feed = _ccxt_quotes(Down(), ["BTC/USDT"], 1.0, should_stop=should_stop, clock=lambda: now[0], sleep=sleep)
    assert list(feed) == []
    assert now[0] < 1_000.0 + 302  # stopped at the first wait past the deadline
    assert sleeps and all(0 < s <= 1.0 for s in sleeps)
    lines = capsys.readouterr().err.splitlines()
    # The first failure at once, then one line a minute (not ~300, one a poll).
    assert lines[0] == "feed: BTC/USDT: ConnectionError: network is unreachable"
    silent = [line for line in lines[1:] if "no quote for" in line]
    assert 4 <= len(silent) <= 5 and len(lines) == 1 + len(silent), lines
    assert re.fullmatch(
        r"feed: BTC/USDT: no quote for 6[01]s \(6\d polls without one; last: "
        r"ConnectionError: network is unreachable\)",
        silent[0],
    ), silent[0]


def test_live_ticker_quotes_are_stamped_with_the_wall_clock_not_the_last_trade() -> None:
    """A ticker's timestamp is its market's last trade: minutes old on a quiet market, while
    the book it gives is current. Stamped with it, the venue clock lagged the wall clock, so an
    order sent with --latency-ms was judged against quotes older than it."""
    from itertools import islice

    from dita.cli.paper import _ccxt_quotes

    class Client:
        def fetch_ticker(self, symbol: str) -> dict[str, Any]:
            return {"bid": 100.0, "ask": 100.5, "timestamp": 1_000_000}  # 1970

        def market(self, symbol: str) -> dict[str, Any]:
            return {"id": symbol.replace("/", "")}

    before = time.time()
    quotes = list(islice(_ccxt_quotes(Client(), ["BTC/USDT"], 0.0), 3))
    after = time.time()
    assert all(before <= q.ts <= after for q in quotes)
    assert [q.ts for q in quotes] == sorted(q.ts for q in quotes)


def test_paper_live_fills_with_latency_on_a_quiet_market(fake_binance: FakeBinance, tmp_path: Path) -> None:
    """No trade for ten minutes (every ticker stamped with that last trade) while the book
    moves: with --latency-ms the quoter's orders were live from that old time plus the
    latency, which no later quote (all stamped alike) reached, so nothing ever filled."""
    fake_binance.last_trade_ms = int((time.time() - 600) * 1000)
    started = time.time()
    proc = _paper_live(
        fake_binance,
        tmp_path,
        *EAGER_QUOTER,
        "--param",
        "quote_usd=600",
        "--latency-ms",
        "50",
        "--duration",
        "4",
        "--kernel-id",
        "quiet",
    )
    assert proc.returncode == 0, proc.stderr
    snap = json.loads((tmp_path / "state" / "quiet.json").read_text())
    assert snap["rows"] >= 5
    assert snap["fills"], "no paper fills on a quiet market with latency"
    assert all(started <= f["ts"] <= time.time() for f in snap["fills"])


@pytest.mark.parametrize("clock", ["data", "wall"])
def test_paper_session_venue_keeps_the_runs_clock(tmp_path: Path, clock: str) -> None:
    """A replay's venue keeps the data's time (a file from 2024 fills as the backtest did); a
    live run's is the wall clock, which its strategies' intents are stamped with too."""
    from dita.backtest.engine import BacktestConfig
    from dita.cli.paper import PaperSession
    from dita.examples.quoting import TwoSidedQuoter
    from dita.strategy import Quote

    session = PaperSession(
        TwoSidedQuoter(),
        fill_model=BacktestConfig(balance=10_000.0, fee_rate=0.0, slippage_bps=0.0, latency_ms=100.0),
        kernel_id=f"clock-{clock}",
        state_dir=tmp_path,
        clock=clock,
    )
    session.runtime.start()
    try:
        session.runtime.on_quote(Quote("BTCUSDT", 1_700_000_000.0, 100.0, 100.5, 1.0, 1.0))
        session.runtime.finish()
        before = time.time()
        venue_now = session.venue.now()
        if clock == "data":
            assert venue_now == 1_700_000_000.0
        else:
            assert before <= venue_now <= time.time()
    finally:
        session.kernel.close()


def test_paper_live_feed_continues_a_run_whose_venue_clock_is_past_the_wall_clock(
    fake_binance: FakeBinance, tmp_path: Path
) -> None:
    """A live run on --wal-dir continued from a state file whose paper venue clock is later than
    this host's wall clock (the files moved from a host whose clock ran ahead, or the clock was
    stepped back): the first quote, stamped with the wall clock, was earlier than the venue's
    clock, and the run ended in a ValueError traceback. The feed now never stamps a quote
    earlier than the restored clock."""
    state, wal = tmp_path / "state", tmp_path / "wal"

    def run(seconds: str) -> subprocess.CompletedProcess[str]:
        return _paper_live(
            fake_binance,
            tmp_path,
            *EAGER_QUOTER,
            "--symbols",
            "BTC/USDT",
            "--duration",
            seconds,
            "--wal-dir",
            str(wal),
            "--kernel-id",
            "ahead",
        )

    first = run("1.5")
    assert first.returncode == 0, first.stderr
    path = state / "ahead.json"
    snap = json.loads(path.read_text())
    ahead = 600.0
    snap["venue"]["now"] = snap["venue"]["now"] + ahead
    snap["data_time"] = snap["data_time"] + ahead
    path.write_text(json.dumps(snap))
    second = run("1.5")
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr, second.stderr
    # Ahead by what is left of the 600 s once the second run starts (a busy host starts it later).
    said = re.search(r"clock is ([0-9.]+) s ahead of this host's", second.stdout)
    assert said is not None and 0 < float(said.group(1)) <= ahead, second.stdout
    again = json.loads(path.read_text())
    assert again["rows"] > 0, "the continued run took no quote"
    # Its quotes were stamped at the restored clock or later, and so is the state it saved:
    # a third run continues from it.
    assert again["data_time"] >= again["venue"]["now"] >= snap["venue"]["now"]
    third = run("1")
    assert third.returncode == 0, third.stderr
