"""The public market side of the local Binance spot exchange (``binance_streams.py`` mounts it on
its port): a market that trades on its own, its WebSocket market streams, the REST depth snapshot
and klines, and faults injected by seed.

What it speaks, as ccxt.pro's binance uses it for spot: raw streams at ``/ws/<n>``, subscribed
live with ``{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1s", ...], "id": n}`` and answered
``{"result": null, "id": n}``; the frames are Binance's documented payloads: ``trade``, ``kline``
(its ``k.x`` true on the frame that closes the period), ``depthUpdate`` (first and final update
ids ``U`` and ``u``, bids ``b`` and asks ``a`` as [price, quantity], quantity 0 removing the
level) and the book ticker (``u``, ``s``, ``b``, ``B``, ``a``, ``A``, no event type). REST:
``GET /api/v3/depth`` (``lastUpdateId``, ``bids``, ``asks``), ``GET /api/v3/klines`` (rows
[open time, open, high, low, close, volume, close time, quote volume, trades, taker base, taker
quote, "0"]) and ``GET /api/v3/ticker/24hr`` (``symbol``, or ``symbols`` as a JSON array, or
neither for all: the FULL answer, ``bidPrice``/``askPrice`` the book's top, ``"0.00000000"`` for
a side the book lacks; an unknown symbol is -1121 "Invalid symbol."). Source: Binance's spot
API documentation, "WebSocket Streams for Binance" (binance/binance-spot-api-docs,
web-socket-streams.md: Trade Streams, Kline/Candlestick Streams, Diff. Depth Stream, Individual
Symbol Book Ticker Streams -- ``u`` "order book updateId", the same id the depth stream's ``u``
counts --, "How to manage a local order book correctly") and "Market Data endpoints"
(rest-api.md: Order book, Kline/Candlestick data, 24hr ticker price change statistics).

The market trades every ``trade_every_s`` at a seeded random walk and rebuilds its book around
the price every ``depth_every_s``, sending its book ticker with each depth update; a kline period
closes by the clock and its closing frame is sent then, for the periods that had a trade (klines
of periods without one are neither sent nor listed by REST). ``trades`` is the truth: ``klines()``
is computed from it; ``book_tickers`` lists every book ticker made, as (u, bid, bid size, ask,
ask size).

Faults (``MarketFaults``), drawn from ``random.Random(seed)``: a quiet period (``quiet_s`` long)
with no trade, a depth update never sent (a skipped update id), the connection dropped before a
frame, a frame sent twice, a frame held back and sent after the next one of its stream on that
connection (reordered). ``inject`` forces the next ones whatever the seed draws. ``refusing``
refuses new connections and ``silent`` makes every connection stale, while set.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def interval_ms(interval: str) -> int:
    """Milliseconds of a Binance kline interval ("1s", "1m", "4h", ...)."""
    return int(interval[:-1]) * _UNIT_S[interval[-1]] * 1000


def _text(value: float) -> str:
    return f"{value:.8f}"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class MarketFaults:
    seed: int = 0
    quiet: float = 0.0  # chance per period of quiet_s that no trade happens in it
    gap: float = 0.0  # chance per depth update that it is never sent
    drop: float = 0.0  # chance per frame that the connection is closed instead
    duplicate: float = 0.0  # chance per frame that it is sent twice
    reorder: float = 0.0  # chance per frame that it is sent after the next one of its stream


@dataclass
class MarketTrade:
    trade_id: int
    time_ms: int
    price: float
    quantity: float
    buyer_maker: bool


@dataclass
class _Book:
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    last_update_id: int = 1000

    def top(self) -> tuple[float, float, float, float]:
        bid, ask = max(self.bids), min(self.asks)
        return bid, self.bids[bid], ask, self.asks[ask]


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    streams: set[str] = field(default_factory=set)
    # A frame held back by a reorder, by stream: sent after the stream's next one.
    held: dict[str, str] = field(default_factory=dict)


class BinanceMarket:
    """The market of ``symbols``; ``mount`` puts its routes on the exchange's app."""

    def __init__(
        self,
        faults: MarketFaults | None = None,
        *,
        symbols: tuple[str, ...] = ("BTCUSDT",),
        start_price: float = 90000.0,
        trade_every_s: float = 0.05,
        depth_every_s: float = 0.1,
        quiet_s: float = 1.0,
        ping_s: float = 0.1,
        wave_s: float | None = None,
    ) -> None:
        self.faults = faults or MarketFaults()
        self._rng = random.Random(self.faults.seed)
        self._prices = random.Random(self.faults.seed + 1)
        self.symbols = symbols
        self.trade_every_s = trade_every_s
        self.depth_every_s = depth_every_s
        self.quiet_s = quiet_s
        self.ping_s = ping_s
        # A swing of 1 % over this many seconds under the walk: averages that cross often.
        self.wave_s = wave_s
        self._start_price = start_price
        self.price = {s: start_price for s in symbols}
        self.trades: dict[str, list[MarketTrade]] = {s: [] for s in symbols}
        self.books = {s: _Book() for s in symbols}
        self.book_tickers: dict[str, list[tuple[int, float, float, float, float]]] = {s: [] for s in symbols}
        self.quiet_periods: list[int] = []  # start times (ms) of the quiet periods
        self.faults_injected: dict[str, int] = {}
        self.forced: list[str] = []
        self.snapshots = 0
        # Symbols whose 24hr ticker states no bid and no ask ("0.00000000"), as Binance's does for
        # a market whose book is empty; their depth is answered as usual.
        self.tickers_without_quotes: set[str] = set()
        # The answers (HTTP status, body) the next 24hr ticker requests get.
        self.tickers_failing: list[tuple[int, dict[str, Any]]] = []
        # The answers (HTTP status, body) the next depth requests of a symbol get, by symbol.
        self.depth_failing: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        # While set, a connection to the streams is refused (503): the network down.
        self.refusing = False
        # While set, the streams send nothing: no frame, no ping, no pong (a stale connection).
        self.silent = False
        # While set, the streams send no data frame, and pings and pongs go on: a subscription
        # stalled on a connection that stays up.
        self.stalled = False
        self._trade_id = 5_000_000
        self._quiet_period: tuple[int, bool] = (-1, False)
        self._kline_open: dict[tuple[str, str], int] = {}
        self._connections: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/depth", self.depth)
        app.router.add_get("/api/v3/klines", self._klines)
        app.router.add_get("/api/v3/ticker/24hr", self._ticker_24hr)
        app.router.add_get("/ws/{stream:.*}", self._websocket)
        self.run_on(app)

    def run_on(self, app: web.Application) -> None:
        """Trade and quote while ``app`` runs, for an app that serves some of the routes only."""
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._stop)

    async def _start(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        for symbol in self.symbols:
            self._rebuild_book(symbol)
        self._tasks = [asyncio.ensure_future(self._trading()), asyncio.ensure_future(self._quoting())]

    async def _stop(self, app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        for connection in list(self._connections):
            await connection.ws.close()

    # -- the tests' side -----------------------------------------------------------------

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (where all the market's state changes)."""
        assert self._loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def inject(self, *faults: str) -> None:
        """Make the next chances of ``faults`` (quiet, gap, drop, duplicate, reorder) hit, whatever
        the seed draws."""
        self.call(lambda: self.forced.extend(faults))

    def drop_connections(self) -> None:
        async def drop() -> None:
            for connection in list(self._connections):
                await connection.ws.close()

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(10)

    def klines(self, symbol: str, interval: str, *, closed_before_ms: int | None = None) -> list[list[Any]]:
        """REST's kline rows of ``symbol``, computed from its trades (periods with a trade only)."""
        return self.call(lambda: self._kline_rows(symbol, interval, 0, closed_before_ms))  # type: ignore[no-any-return]

    def top(self, symbol: str) -> tuple[float, float, float, float]:
        """The book's best bid, its size, best ask, its size."""
        return self.call(lambda: self.books[symbol].top())  # type: ignore[no-any-return]

    def connected(self) -> int:
        return int(self.call(lambda: sum(1 for c in self._connections if c.streams and not c.ws.closed)))

    # -- the market ----------------------------------------------------------------------

    def _chance(self, name: str, rate: float) -> bool:
        forced = bool(self.forced) and self.forced[0] == name
        if forced:
            self.forced.pop(0)
        hit = forced or (rate > 0 and self._rng.random() < rate)
        if hit:
            self.faults_injected[name] = self.faults_injected.get(name, 0) + 1
        return hit

    def _quiet_now(self, now_ms: int) -> bool:
        period_ms = int(self.quiet_s * 1000)
        start = now_ms - now_ms % period_ms
        if start != self._quiet_period[0]:
            quiet = self._chance("quiet", self.faults.quiet)
            self._quiet_period = (start, quiet)
            if quiet:
                self.quiet_periods.append(start)
        return self._quiet_period[1]

    async def _trading(self) -> None:
        while True:
            await asyncio.sleep(self.trade_every_s)
            now = _now_ms()
            await self._close_klines(now)
            if self._quiet_now(now):
                continue
            for symbol in self.symbols:
                await self._trade(symbol, now)

    async def _trade(self, symbol: str, now: int) -> None:
        price = self.price[symbol]
        if self.wave_s is None:
            price = round(max(price * (1 + self._prices.gauss(0.0, 0.0015)), 1.0), 2)
        else:
            swing = 0.01 * math.sin(2 * math.pi * now / 1000 / self.wave_s)
            price = round(self._start_price * (1 + swing + self._prices.gauss(0.0, 0.0002)), 2)
        self.price[symbol] = price
        self._trade_id += 1
        trade = MarketTrade(
            self._trade_id,
            now,
            price,
            round(self._prices.uniform(0.001, 0.5), 5),
            self._prices.random() < 0.5,
        )
        self.trades[symbol].append(trade)
        await self._broadcast(
            f"{symbol.lower()}@trade",
            {
                "e": "trade",
                "E": _now_ms(),
                "s": symbol,
                "t": trade.trade_id,
                "p": _text(trade.price),
                "q": _text(trade.quantity),
                "T": trade.time_ms,
                "m": trade.buyer_maker,
                "M": True,
            },
        )
        for (kline_symbol, interval), open_ms in list(self._kline_open.items()):
            if kline_symbol == symbol:
                await self._send_kline(symbol, interval, open_ms, closed=False)

    async def _close_klines(self, now: int) -> None:
        """Send the closing kline of every followed period that ended (if it had a trade)."""
        for (symbol, interval), open_ms in list(self._kline_open.items()):
            length = interval_ms(interval)
            current = now - now % length
            if current > open_ms:
                self._kline_open[(symbol, interval)] = current
                if self._period_trades(symbol, open_ms, length):
                    await self._send_kline(symbol, interval, open_ms, closed=True)

    def _period_trades(self, symbol: str, open_ms: int, length: int) -> list[MarketTrade]:
        return [t for t in self.trades[symbol] if open_ms <= t.time_ms < open_ms + length]

    async def _send_kline(self, symbol: str, interval: str, open_ms: int, *, closed: bool) -> None:
        length = interval_ms(interval)
        trades = self._period_trades(symbol, open_ms, length)
        if not trades:
            return
        o, h, low, c, v = _ohlcv(trades)
        await self._broadcast(
            f"{symbol.lower()}@kline_{interval}",
            {
                "e": "kline",
                "E": _now_ms(),
                "s": symbol,
                "k": {
                    "t": open_ms,
                    "T": open_ms + length - 1,
                    "s": symbol,
                    "i": interval,
                    "f": trades[0].trade_id,
                    "L": trades[-1].trade_id,
                    "o": _text(o),
                    "c": _text(c),
                    "h": _text(h),
                    "l": _text(low),
                    "v": _text(v),
                    "n": len(trades),
                    "x": closed,
                    "q": _text(sum(t.price * t.quantity for t in trades)),
                    "V": _text(0.0),
                    "Q": _text(0.0),
                    "B": "0",
                },
            },
        )

    def _kline_rows(self, symbol: str, interval: str, start_ms: int, end_ms: int | None) -> list[list[Any]]:
        length = interval_ms(interval)
        periods: dict[int, list[MarketTrade]] = {}
        for t in self.trades[symbol]:
            periods.setdefault(t.time_ms - t.time_ms % length, []).append(t)
        rows = []
        for open_ms in sorted(periods):
            if open_ms < start_ms or (end_ms is not None and open_ms + length > end_ms):
                continue
            trades = periods[open_ms]
            o, h, low, c, v = _ohlcv(trades)
            quote = sum(t.price * t.quantity for t in trades)
            rows.append(
                [open_ms, _text(o), _text(h), _text(low), _text(c), _text(v), open_ms + length - 1,
                 _text(quote), len(trades), _text(0.0), _text(0.0), "0"]
            )  # fmt: skip
        return rows

    async def _quoting(self) -> None:
        while True:
            await asyncio.sleep(self.depth_every_s)
            for symbol in self.symbols:
                await self._depth_update(symbol)

    def _rebuild_book(self, symbol: str) -> dict[str, list[list[str]]]:
        """Rebuild the book of ``symbol`` around its price; the levels changed, as Binance lists them."""
        book, price = self.books[symbol], self.price[symbol]
        sizes = self._prices
        bids = {round(price - 0.5 - k * 0.5, 2): round(sizes.uniform(0.01, 2.0), 5) for k in range(10)}
        asks = {round(price + 0.5 + k * 0.5, 2): round(sizes.uniform(0.01, 2.0), 5) for k in range(10)}
        changes: dict[str, list[list[str]]] = {"b": [], "a": []}
        for side, old, new in (("b", book.bids, bids), ("a", book.asks, asks)):
            for level in sorted(set(old) | set(new)):
                if old.get(level) != new.get(level):
                    changes[side].append([_text(level), _text(new.get(level, 0.0))])
        book.bids, book.asks = bids, asks
        return changes

    async def _depth_update(self, symbol: str) -> None:
        book = self.books[symbol]
        changes = self._rebuild_book(symbol)
        first = book.last_update_id + 1
        book.last_update_id += max(len(changes["b"]) + len(changes["a"]), 1)
        if self._chance("gap", self.faults.gap):
            return  # every subscriber misses ids first..last: the next update skips them
        await self._broadcast(
            f"{symbol.lower()}@depth",
            {
                "e": "depthUpdate",
                "E": _now_ms(),
                "s": symbol,
                "U": first,
                "u": book.last_update_id,
                **changes,
            },
        )
        bid, bid_size, ask, ask_size = book.top()
        self.book_tickers[symbol].append((book.last_update_id, bid, bid_size, ask, ask_size))
        await self._broadcast(
            f"{symbol.lower()}@bookTicker",
            {"u": book.last_update_id, "s": symbol, "b": _text(bid), "B": _text(bid_size), "a": _text(ask),
             "A": _text(ask_size)},
        )  # fmt: skip

    # -- REST ----------------------------------------------------------------------------

    async def depth(self, request: web.Request) -> web.Response:
        """The depth snapshot, as spot's ``GET /api/v3/depth`` and USD-M futures'
        ``GET /fapi/v1/depth`` answer it (``E`` and ``T`` aside, which futures' adds)."""
        symbol = request.query["symbol"]
        if self.depth_failing.get(symbol):
            status, body = self.depth_failing[symbol].pop(0)
            return web.json_response(body, status=status)
        limit = int(request.query.get("limit") or 100)
        book = self.books[symbol]
        self.snapshots += 1
        return web.json_response(
            {
                "lastUpdateId": book.last_update_id,
                "bids": [[_text(p), _text(book.bids[p])] for p in sorted(book.bids, reverse=True)[:limit]],
                "asks": [[_text(p), _text(book.asks[p])] for p in sorted(book.asks)[:limit]],
            }
        )

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        if self.tickers_failing:
            status, body = self.tickers_failing.pop(0)
            return web.json_response(body, status=status)
        q = request.query
        one = q.get("symbol")
        if one is not None:
            asked = [one]
        else:
            asked = json.loads(q["symbols"]) if "symbols" in q else list(self.symbols)
        if any(symbol not in self.books for symbol in asked):
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        answers = [self._ticker(symbol) for symbol in asked]
        return web.json_response(answers[0] if one is not None else answers)

    def _ticker(self, symbol: str) -> dict[str, Any]:
        """``symbol``'s 24hr ticker, the FULL answer; its figures but the book's and the last price
        are plausible, not computed."""
        bid, bid_size, ask, ask_size = self.books[symbol].top()
        if symbol in self.tickers_without_quotes:
            bid = bid_size = ask = ask_size = 0.0
        price, now = self.price[symbol], _now_ms()
        trades = self.trades[symbol]
        return {
            "symbol": symbol,
            "priceChange": _text(0.0),
            "priceChangePercent": "0.000",
            "weightedAvgPrice": _text(price),
            "prevClosePrice": _text(price),
            "lastPrice": _text(price),
            "lastQty": _text(trades[-1].quantity if trades else 0.0),
            "bidPrice": _text(bid),
            "bidQty": _text(bid_size),
            "askPrice": _text(ask),
            "askQty": _text(ask_size),
            "openPrice": _text(price),
            "highPrice": _text(price),
            "lowPrice": _text(price),
            "volume": _text(sum(t.quantity for t in trades)),
            "quoteVolume": _text(sum(t.quantity * t.price for t in trades)),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": trades[0].trade_id if trades else -1,
            "lastId": trades[-1].trade_id if trades else -1,
            "count": len(trades),
        }

    async def _klines(self, request: web.Request) -> web.Response:
        q = request.query
        rows = self._kline_rows(q["symbol"], q["interval"], int(q.get("startTime") or 0), None)
        end = q.get("endTime")
        if end is not None:
            rows = [r for r in rows if r[0] <= int(end)]
        return web.json_response(rows[: int(q.get("limit") or 500)])

    # -- the streams ---------------------------------------------------------------------

    async def _broadcast(self, stream: str, frame: dict[str, Any]) -> None:
        text = json.dumps(frame)
        if self.stalled:
            return
        for connection in [c for c in self._connections if _follows(c, stream) and not self.silent]:
            if self._chance("drop", self.faults.drop):
                await connection.ws.close()
            elif not connection.ws.closed:
                try:
                    await self._send(connection, stream, text)
                except ConnectionResetError:
                    # The peer went (a process killed) before the connection says closed: its
                    # frame is lost, as at an exchange; raised, it would end the market's task.
                    pass

    async def _send(self, connection: _Connection, stream: str, text: str) -> None:
        """Send a frame of ``stream``, maybe twice or held back, then the one held back before it."""
        held = connection.held.pop(stream, None)
        if self._chance("reorder", self.faults.reorder):
            connection.held[stream] = text
        else:
            await connection.ws.send_str(text)
            if self._chance("duplicate", self.faults.duplicate):
                await connection.ws.send_str(text)
        if held is not None:
            await connection.ws.send_str(held)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self.refusing:
            raise web.HTTPServiceUnavailable()
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        connection = _Connection(ws)
        self._connections.append(connection)
        pinger = asyncio.ensure_future(self._ping(ws))
        try:
            async for message in ws:
                if self.silent:
                    continue
                if message.type == WSMsgType.PING:
                    await ws.pong(message.data)
                elif message.type == WSMsgType.TEXT:
                    await self._request(connection, json.loads(message.data))
        finally:
            pinger.cancel()
            self._connections.remove(connection)
        return ws

    async def _ping(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.ping_s)
            if not ws.closed and not self.silent:
                await ws.ping()

    async def _request(self, connection: _Connection, request: dict[str, Any]) -> None:
        method, streams = request.get("method"), list(request.get("params") or [])
        if method == "SUBSCRIBE":
            connection.streams.update(streams)
            now = _now_ms()
            for stream in streams:
                symbol, _, kind = stream.partition("@")
                if kind.startswith("kline_"):
                    interval = kind.removeprefix("kline_")
                    self._kline_open.setdefault((symbol.upper(), interval), now - now % interval_ms(interval))
        elif method == "UNSUBSCRIBE":
            connection.streams.difference_update(streams)
        await connection.ws.send_str(json.dumps({"result": None, "id": request.get("id")}))


def _follows(connection: _Connection, stream: str) -> bool:
    """Whether ``connection`` is subscribed to ``stream`` (a depth stream at any update speed)."""
    return stream in connection.streams or any(s.startswith(stream + "@") for s in connection.streams)


def _ohlcv(trades: list[MarketTrade]) -> tuple[float, float, float, float, float]:
    prices = [t.price for t in trades]
    return prices[0], max(prices), min(prices), prices[-1], round(sum(t.quantity for t in trades), 8)
