"""Public market data streamed through ccxt.pro (``MarketStream``) from the local Binance's market
streams (``binance_market.py``): bars equal to the exchange's klines and closed on time, an
empty bar for a period without a trade, the order book resynced after a skipped update id, no
bar lost or doubled across a dropped or stale connection, and quotes from the book ticker that
never go back through duplicated, reordered or dropped frames."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from binance_market import BinanceMarket, MarketFaults
from binance_streams import BinanceStreamServer, streaming
from venue_helpers import wait_for

from dita.strategy import Bar, Quote
from dita.venues.ccxt import market_stream
from dita.venues.ccxt.market_stream import MarketStream
from dita.venues.ccxt.settings import CcxtSettings

GRACE_S = 0.3


@dataclass
class Followed:
    """A stream's feed read on a thread of its own, each item with the wall time it was handed."""

    stream: MarketStream
    items: list[tuple[float, Bar | Quote]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        def read() -> None:
            for item in self.stream.feed(self.stopping.is_set):
                self.items.append((time.time(), item))

        threading.Thread(target=read, daemon=True).start()

    def bars(self) -> list[Bar]:
        return [item for _, item in self.items if isinstance(item, Bar)]

    def wait_bars(self, n: int) -> None:
        wait_for(lambda: len(self.bars()) >= n, f"{n} bars")

    def stop(self) -> None:
        self.stopping.set()
        self.stream.stop()


@pytest.fixture
def server() -> Iterator[BinanceStreamServer]:
    with streaming(market=BinanceMarket()) as server:
        yield server


def follow(server: BinanceStreamServer, kind: str) -> Iterator[Followed]:
    stream = MarketStream(
        CcxtSettings(exchange="binance", base_url=server.url, timeout_ms=3000),
        ["BTC/USDT"],
        kind,  # type: ignore[arg-type]
        bar_interval="1s",
        grace_s=GRACE_S,
        heartbeat_s=1.0,
        backoff_s=0.05,
        backoff_max_s=0.2,
    )
    followed = Followed(stream)
    followed.start()
    try:
        yield followed
    finally:
        followed.stop()


@pytest.fixture
def bars(server: BinanceStreamServer) -> Iterator[Followed]:
    yield from follow(server, "bars")


@pytest.fixture
def quotes(server: BinanceStreamServer) -> Iterator[Followed]:
    yield from follow(server, "quotes")


@pytest.fixture
def ticker(server: BinanceStreamServer) -> Iterator[Followed]:
    yield from follow(server, "ticker")


def as_rows(bars: list[Bar]) -> list[tuple[float, ...]]:
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars]


def server_rows(server: BinanceStreamServer, since: float) -> dict[float, tuple[float, ...]]:
    rows = server.market.klines("BTCUSDT", "1s")
    return {r[0] / 1000: (r[0] / 1000, *(float(v) for v in r[1:6])) for r in rows if r[0] / 1000 >= since}


def shows_the_top(market: BinanceMarket, followed: Followed) -> bool:
    """Whether the last quote handed is the exchange's book top."""
    last = followed.items[-1][1] if followed.items else None
    assert last is None or isinstance(last, Quote), last
    return last is not None and (last.bid, last.bid_size, last.ask, last.ask_size) == market.top("BTCUSDT")


def assert_in_order_once(bars: list[Bar]) -> None:
    """One bar a second, each period once, none skipped."""
    times = [b.ts for b in bars]
    assert times == [times[0] + i for i in range(len(times))], times


def test_bars_equal_the_exchanges_klines(server: BinanceStreamServer, bars: Followed) -> None:
    bars.wait_bars(4)
    got = bars.bars()
    assert_in_order_once(got)
    truth = server_rows(server, got[0].ts)
    assert as_rows(got) == [truth[b.ts] for b in got]
    status = bars.stream.status()
    assert status.state == "up" and status.empty_bars == 0
    assert status.lag_s is not None and status.lag_s < 1.0
    # Once subscribed, each bar is handed as its closing kline comes, well within its grace (the
    # first period's may have closed before the subscription: then REST's kline is handed).
    assert all(handed - (bar.ts + 1) < GRACE_S for handed, bar in bars.items[2:])


def test_a_period_without_a_trade_closes_as_an_empty_bar_on_time(
    server: BinanceStreamServer, bars: Followed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dita.venues.ccxt")
    bars.wait_bars(1)
    server.market.inject("quiet")  # the next whole second has no trade
    wait_for(lambda: bool(server.market.quiet_periods), "a quiet second")
    (quiet_ms,) = server.market.quiet_periods
    bars.wait_bars(len(bars.bars()) + 2)
    got = bars.bars()
    assert_in_order_once(got)
    at = [i for i, b in enumerate(got) if b.ts == quiet_ms / 1000]
    assert at, "no bar for the quiet second"
    empty, before = got[at[0]], got[at[0] - 1]
    assert (empty.open, empty.high, empty.low, empty.close, empty.volume) == (before.close,) * 4 + (0.0,)
    handed = next(t for t, item in bars.items if item is empty)
    # Handed by the clock once the period and the grace ended (and REST had no kline for it).
    assert quiet_ms / 1000 + 1 + GRACE_S <= handed < quiet_ms / 1000 + 1 + GRACE_S + 0.5
    assert bars.stream.status().empty_bars == 1
    assert "no trade in the period" in caplog.text and "an empty bar at the last close" in caplog.text
    # The bars around it are the exchange's.
    truth = server_rows(server, got[0].ts)
    assert as_rows([b for b in got if b is not empty]) == [truth[b.ts] for b in got if b is not empty]


def test_a_market_without_a_first_trade_says_so_at_once_then_once_a_minute(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No trade since the stream began: no close to make an empty bar of, so no bar. The operator
    is told at WARNING at once and again each NO_PRICE_TOLD_EVERY_S (the periods between at
    INFO), and the first trade's bar ends it."""
    caplog.set_level(logging.INFO, logger="dita.venues.ccxt")

    def said(level: int) -> list[str]:
        messages = [r.getMessage() for r in caplog.records if r.levelno == level]
        return [m for m in messages if "no price before it" in m]

    with streaming(market=BinanceMarket(MarketFaults(quiet=1.0))) as server:
        followed = follow(server, "bars")
        bars = next(followed)
        try:
            wait_for(lambda: len(said(logging.INFO)) >= 2, "two more periods without a bar")
            (first,) = said(logging.WARNING)
            assert "(1 period without one since the stream began)" in first, first
            assert bars.bars() == []
            monkeypatch.setattr(market_stream, "NO_PRICE_TOLD_EVERY_S", 0.5)
            wait_for(lambda: len(said(logging.WARNING)) == 2, "the silence said again")
            assert "periods without one since the stream began" in said(logging.WARNING)[1]
            server.market.call(lambda: setattr(server.market, "faults", MarketFaults()))
            bars.wait_bars(2)
            told = len(said(logging.WARNING)) + len(said(logging.INFO))
            bars.wait_bars(len(bars.bars()) + 1)
            assert len(said(logging.WARNING)) + len(said(logging.INFO)) == told
        finally:
            followed.close()


def test_a_period_without_a_price_asked_again_is_not_said_or_counted_twice(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """REST asked for two markets, the second call failing: the period is asked again of the
    second only, and the first market's period without a bar is said and counted once."""
    caplog.set_level(logging.INFO, logger="dita.venues.ccxt")
    stream = MarketStream(
        CcxtSettings(exchange="binance"),
        ["BTC/USDT", "ETH/USDT"],
        "bars",
        bar_interval="1s",
        grace_s=0.0,
        clock=lambda: 7.5,  # the periods at 5 s and 6 s have ended, the one at 7 s has not
    )
    stream._symbol_of = {"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT"}
    stream._interval_ms, stream._next_open_ms = 1000, 5000
    asked: list[str] = []

    class Rest:
        async def fetch_ohlcv(self, symbol: str, *args: object, **kwargs: object) -> list[list[float]]:
            asked.append(symbol)
            if asked.count("ETH/USDT") == 1 and symbol == "ETH/USDT":
                raise OSError("REST unreachable")
            return []

    asyncio.run(stream._hand_due_bars(Rest()))  # BTC's period at 5 s is said; ETH's call fails
    asyncio.run(stream._hand_due_bars(Rest()))  # ETH's alone is asked again; then the 6 s period
    assert asked == ["BTC/USDT", "ETH/USDT", "ETH/USDT", "BTC/USDT", "ETH/USDT"]
    assert stream._next_open_ms == 7000
    said = [
        (r.levelno, r.getMessage().split("(")[1])
        for r in caplog.records
        if "no price before it" in r.getMessage() and "BTCUSDT" in r.getMessage()
    ]
    assert said == [
        (logging.WARNING, "1 period without one since the stream began)"),
        (logging.INFO, "2 periods without one since the stream began)"),
    ]


def test_a_skipped_depth_update_forces_a_resync_from_a_snapshot(
    server: BinanceStreamServer, quotes: Followed
) -> None:
    wait_for(lambda: len(quotes.items) >= 3, "quotes")
    assert quotes.stream.status().resyncs == 0 and server.market.snapshots == 1
    server.market.inject("gap")
    wait_for(lambda: quotes.stream.status().resyncs == 1, "a resync")
    wait_for(lambda: server.market.snapshots == 2, "a second snapshot")
    count = len(quotes.items)
    wait_for(lambda: len(quotes.items) > count + 2, "quotes after the resync")
    # The book still: its top after the resync is the exchange's.
    server.market.call(lambda: setattr(server.market, "depth_every_s", 3600.0))
    # One more update may be on its way: the stream's last quote comes to the top and stays.
    wait_for(lambda: shows_the_top(server.market, quotes), "the exchange's top")
    stamps = [t.ts for _, t in quotes.items]
    assert stamps == sorted(stamps)


def test_a_dropped_connection_reconnects_and_loses_no_bar(
    server: BinanceStreamServer, bars: Followed
) -> None:
    bars.wait_bars(1)
    # Down across a period's close: its closing kline never reaches the stream.
    server.market.call(lambda: setattr(server.market, "refusing", True))
    server.market.drop_connections()
    time.sleep(1.3)
    server.market.call(lambda: setattr(server.market, "refusing", False))
    wait_for(
        lambda: bars.stream.status().reconnects >= 1 and bars.stream.status().state == "up", "a reconnect"
    )
    bars.wait_bars(len(bars.bars()) + 2)
    got = bars.bars()
    assert_in_order_once(got)
    truth = server_rows(server, got[0].ts)
    assert as_rows(got) == [truth[b.ts] for b in got]
    status = bars.stream.status()
    assert status.bars_from_rest >= 1 and status.empty_bars == 0


def test_the_exchange_trades_on_past_a_follower_gone_before_its_connection_says_so(
    server: BinanceStreamServer, bars: Followed
) -> None:
    """A process killed mid-frame: the write raises ConnectionResetError while the connection
    still reads open. The local exchange loses that frame, as an exchange does, and its market
    trades on and closes klines (raised, it would end the task that does both: no bar would come)."""
    bars.wait_bars(1)

    def gone_while_open() -> int:
        connections = server.market._connections

        async def send_str(data: str, *args: object) -> None:
            raise ConnectionResetError("Cannot write to closing transport")

        for connection in connections:
            connection.ws = _Proxy(connection.ws, send_str)
        return len(connections)

    from_rest = bars.stream.status().bars_from_rest
    assert server.market.call(gone_while_open) >= 1
    # The klines lost are the followers' own (the pings still reach them, so the connection
    # stays up): their bars come from REST past the grace, and the exchange's klines go on.
    before = len(server.market.klines("BTCUSDT", "1s"))
    wait_for(lambda: len(server.market.klines("BTCUSDT", "1s")) >= before + 2, "two more klines", 6.0)
    bars.wait_bars(len(bars.bars()) + 2)
    assert_in_order_once(bars.bars())
    assert bars.stream.status().bars_from_rest >= from_rest + 2


class _Proxy:
    """``ws`` with ``send_str`` replaced."""

    def __init__(self, ws: object, send_str: object) -> None:
        self._ws, self.send_str = ws, send_str

    def __getattr__(self, name: str) -> object:
        return getattr(self._ws, name)


def test_a_stale_connection_is_down_and_dialled_again(server: BinanceStreamServer, bars: Followed) -> None:
    bars.wait_bars(1)
    server.market.call(lambda: setattr(server.market, "silent", True))
    # No frame within the heartbeat (1 s): down, though the connection stays open.
    wait_for(lambda: bars.stream.status().state == "down", "the stream down", timeout_s=3.0)
    # Said by the heartbeat here, or first by ccxt's own pings (sent every third of it), unanswered.
    error = bars.stream.status().last_error
    assert "stale" in error or "ping-pong keepalive missing" in error, error
    server.market.call(lambda: setattr(server.market, "silent", False))
    wait_for(lambda: bars.stream.status().state == "up", "the stream up again")
    bars.wait_bars(len(bars.bars()) + 2)
    got = bars.bars()
    assert_in_order_once(got)
    truth = server_rows(server, got[0].ts)
    assert as_rows(got) == [truth[b.ts] for b in got]
    assert bars.stream.status().reconnects >= 1


@pytest.mark.parametrize("seed", [3, 11])
def test_bars_through_seeded_faults_are_the_exchanges_or_empty(seed: int) -> None:
    """Quiet seconds and dropped connections drawn by seed (when they land is the clock's): every
    second has one bar, in order, the exchange's kline or, for a second without a trade, an empty
    one."""
    market = BinanceMarket(MarketFaults(seed, quiet=0.25, gap=0.05, drop=0.03))
    with streaming(market=market) as server:
        with contextmanager(follow)(server, "bars") as bars:
            bars.wait_bars(5)
            got = bars.bars()
            status = bars.stream.status()
        truth = server_rows(server, got[0].ts)
    assert_in_order_once(got)
    quiet = {ms / 1000 for ms in market.quiet_periods}
    for before, bar in itertools.pairwise(got):
        if bar.ts in quiet:
            assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (before.close,) * 4 + (0.0,)
        else:
            assert as_rows([bar]) == [truth[bar.ts]]
    assert status.empty_bars == len(quiet & {b.ts for b in got[1:]})


def test_the_book_through_seeded_depth_gaps_ends_as_the_exchanges() -> None:
    market = BinanceMarket(MarketFaults(5, gap=0.2))
    with streaming(market=market) as server:
        with contextmanager(follow)(server, "quotes") as quotes:
            stream = quotes.stream
            wait_for(lambda: stream.status().resyncs >= 2, "two resyncs")
            # A gap shows at the update after it: a few whole ones, then the book still.
            market.call(lambda: setattr(market.faults, "gap", 0.0))
            since: list[int] = [-1, 0]  # resyncs, and the quotes handed when that count was seen

            def whole_for_a_while() -> bool:
                resyncs = stream.status().resyncs
                if resyncs != since[0]:
                    since[:] = [resyncs, len(quotes.items)]
                return len(quotes.items) > since[1] + 5 and market.snapshots == resyncs + 1

            # No resync under way when the book stops: one needs an update after its snapshot.
            wait_for(whole_for_a_while, "whole updates after the last resync")
            market.call(lambda: setattr(market, "depth_every_s", 3600.0))
            wait_for(lambda: shows_the_top(market, quotes), "the exchange's top")
            # A resync a gap; a gap in the depth updates buffered before a snapshot needs none.
            assert stream.status().resyncs <= market.faults_injected["gap"]
            assert market.snapshots == stream.status().resyncs + 1


def update_ids(market: BinanceMarket, followed: Followed) -> list[int]:
    """The update id of the book ticker each handed quote is (its prices and sizes are one's)."""
    made = market.call(lambda: list(market.book_tickers["BTCUSDT"]))
    by_top = {tuple(top): u for u, *top in made}
    quotes = [q for _, q in followed.items if isinstance(q, Quote)]
    assert all(q.asset == "BTCUSDT" for q in quotes)
    return [by_top[(q.bid, q.bid_size, q.ask, q.ask_size)] for q in quotes]


def assert_never_back(market: BinanceMarket, followed: Followed) -> list[int]:
    """Each quote a newer book ticker than the last, stamped no earlier."""
    ids = update_ids(market, followed)
    assert all(a < b for a, b in itertools.pairwise(ids)), ids
    stamps = [q.ts for _, q in followed.items]
    assert stamps == sorted(stamps)
    return ids


def test_book_ticker_quotes_are_the_exchanges_in_time_order(
    server: BinanceStreamServer, ticker: Followed
) -> None:
    wait_for(lambda: len(ticker.items) >= 5, "quotes")
    ids = assert_never_back(server.market, ticker)
    # Once subscribed, every book ticker the exchange made is handed: none skipped.
    assert ids[1:] == [u for u, *_ in server.market.book_tickers["BTCUSDT"] if ids[1] <= u <= ids[-1]]
    status = ticker.stream.status()
    assert status.state == "up" and status.quotes == len(ticker.items) and status.dropped_tickers == 0
    # No book kept: no snapshot asked.
    assert server.market.snapshots == 0


def test_a_duplicated_or_reordered_book_ticker_never_takes_the_quote_back(
    server: BinanceStreamServer, ticker: Followed
) -> None:
    wait_for(lambda: len(ticker.items) >= 2, "quotes")
    server.market.inject("duplicate")
    wait_for(lambda: ticker.stream.status().dropped_tickers == 1, "the repeated frame dropped")
    # Held back and sent after the next one: older than the quote handed by then.
    server.market.inject("reorder")
    wait_for(lambda: ticker.stream.status().dropped_tickers == 2, "the late frame dropped")
    count = len(ticker.items)
    wait_for(lambda: len(ticker.items) > count + 1, "quotes after them")
    assert server.market.faults_injected == {"duplicate": 1, "reorder": 1}
    ids = assert_never_back(server.market, ticker)
    # The late frame's quote is not handed, but every other one is.
    made = [u for u, *_ in server.market.book_tickers["BTCUSDT"] if ids[0] <= u <= ids[-1]]
    assert len(ids) == len(made) - 1
    status = ticker.stream.status()
    assert status.quotes == len(ticker.items) and status.reconnects == 0


def test_a_dropped_book_ticker_connection_redials_and_quotes_resume(
    server: BinanceStreamServer, ticker: Followed
) -> None:
    wait_for(lambda: len(ticker.items) >= 2, "quotes")
    server.market.inject("drop")
    wait_for(lambda: ticker.stream.status().reconnects == 1, "a reconnect")
    count = len(ticker.items)
    wait_for(lambda: len(ticker.items) > count + 2, "quotes after the reconnect")
    assert_never_back(server.market, ticker)
    status = ticker.stream.status()
    assert status.state == "up" and status.dropped_tickers == 0
    assert status.last_error, "the drop is not said"


def test_a_stale_book_ticker_connection_is_down_and_quotes_resume(
    server: BinanceStreamServer, ticker: Followed
) -> None:
    wait_for(lambda: len(ticker.items) >= 2, "quotes")
    server.market.call(lambda: setattr(server.market, "silent", True))
    wait_for(lambda: ticker.stream.status().state == "down", "the stream down", timeout_s=3.0)
    server.market.call(lambda: setattr(server.market, "silent", False))
    wait_for(lambda: ticker.stream.status().state == "up", "the stream up again")
    count = len(ticker.items)
    wait_for(lambda: len(ticker.items) > count + 2, "quotes after the redial")
    assert_never_back(server.market, ticker)
    assert ticker.stream.status().reconnects >= 1


@pytest.mark.parametrize("kind", ["ticker", "quotes"])
def test_quotes_stalled_on_a_connection_still_up_are_said_once_per_silence(
    server: BinanceStreamServer, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """The heartbeat counts every frame, the exchange's pings and pongs too: a subscription that
    stops sending while the connection stays up is a symbol without quotes, said at WARNING once
    as it passes quote_silence_s, and its end said when quotes come again."""
    caplog.set_level(logging.WARNING, logger="dita.venues.ccxt")
    stream = MarketStream(
        CcxtSettings(exchange="binance", base_url=server.url, timeout_ms=3000),
        ["BTC/USDT"],
        kind,  # type: ignore[arg-type]
        heartbeat_s=1.0,
        quote_silence_s=1.0,
        backoff_s=0.05,
        backoff_max_s=0.2,
    )
    followed = Followed(stream)
    followed.start()

    def said(what: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if what in r.getMessage()]

    try:
        wait_for(lambda: len(followed.items) >= 2, "quotes")
        server.market.call(lambda: setattr(server.market, "stalled", True))
        wait_for(lambda: said("BTC/USDT: no quote for"), "the silence said")
        time.sleep(1.5)  # a few more checks of a silence said already
        (line,) = said("BTC/USDT: no quote for")
        assert "while the connection is up" in line, line
        assert stream.status().state == "up" and stream.status().reconnects == 0
        server.market.call(lambda: setattr(server.market, "stalled", False))
        wait_for(lambda: said("BTC/USDT: quotes again after"), "the end of the silence said")
    finally:
        followed.stop()


@pytest.mark.parametrize("seed", [3, 11])
def test_book_ticker_quotes_through_seeded_faults_never_go_back(seed: int) -> None:
    market = BinanceMarket(MarketFaults(seed, duplicate=0.1, reorder=0.1, drop=0.02))
    with streaming(market=market) as server:
        with contextmanager(follow)(server, "ticker") as ticker:
            wait_for(lambda: len(ticker.items) >= 30, "quotes", timeout_s=20.0)
            market.call(lambda: setattr(market, "faults", MarketFaults(seed)))
            # No fault from here: the stream redials after the last drop, then takes whole quotes.
            drops = market.faults_injected.get("drop", 0)
            wait_for(lambda: ticker.stream.status().reconnects >= drops, "a redial after each drop")
            wait_for(lambda: ticker.stream.status().state == "up", "the stream up")
            count = len(ticker.items)
            wait_for(lambda: len(ticker.items) > count + 2, "quotes after the faults")
            market.call(lambda: setattr(market, "depth_every_s", 3600.0))
            wait_for(lambda: shows_the_top(market, ticker), "the exchange's top")
            status = ticker.stream.status()
            assert_never_back(market, ticker)
    injected = market.faults_injected
    assert injected.get("duplicate", 0) + injected.get("reorder", 0) >= 1, injected
    # Each repeated or late frame is dropped, unless its connection closed before it was sent.
    assert 1 <= status.dropped_tickers <= injected.get("duplicate", 0) + injected.get("reorder", 0)
    assert status.reconnects == injected.get("drop", 0)
