"""Public market data streamed through ccxt.pro (no keys): bars from the kline stream, or top of
book from the diff-depth order book or from the book ticker stream, handed to the runtime as
``Bar`` and ``Quote`` objects.

``MarketStream`` runs on a thread of its own with its own asyncio loop, as ``UserStream`` does.
One stream gives one kind of data, so that its feed is in time order: a bar is stamped with its
period's open time, a quote with its receipt, and the venue's clock must not go back.

Bars (``kind="bars"``) close on time. The kline frames are read as ccxt handles them, and the
one whose ``x`` flag says the period closed is the bar. A period is handed once every symbol's
bar for it is known, so bars of several symbols stay in order. When a period has ended by the
clock and ``grace_s`` passed without its closing kline (a connection down, a frame lost, or no
trade at all), REST's klines are asked for; a period they have no kline for is a period without
a trade: its bar is open = high = low = close = the previous close, volume 0, logged and
counted (``status().empty_bars``). With no previous close (no trade since the stream began)
there is no bar: said at WARNING at once, then at most every ``NO_PRICE_TOLD_EVERY_S``. A
kline arriving for a period already handed is dropped, so no bar is handed twice. While REST
cannot be reached the bars wait: late, never invented.

Quotes (``kind="quotes"``) are the best bid and ask of ccxt.pro's order book, kept from Binance's
diff depth stream over a REST snapshot (``/api/v3/depth``, ``lastUpdateId``). ccxt.pro checks each
``depthUpdate``'s first update id against the last one applied (``U == last u + 1`` on spot) and
raises ``ChecksumError`` on a gap, dropping the book and its subscription; the watch here takes
that as a resync, counted (``status().resyncs``), and watching again subscribes anew, which fetches
a fresh snapshot. The option that turns that check off (``watchOrderBook.checksum``) is set on.

Quotes from the ticker (``kind="ticker"``) are Binance's book ticker frames (``<symbol>@bookTicker``,
subscribed by ccxt.pro's ``watch_bids_asks``): the best bid and ask with their sizes, no book to
keep, so no snapshot and no resync. A frame carries the order book's update id ``u``; one whose
``u`` is not above the last handed for its symbol (duplicated, or overtaken by a newer one) is
dropped and counted (``status().dropped_tickers``), so the quote never goes back. Each frame is
read as ccxt handles it, as the klines are: a watch answers with the latest only, and may skip some.

The connection is down when a watch fails or no frame (the exchange's pings included) comes
within ``heartbeat_s``; it is dialled again after a backoff that doubles up to ``backoff_max_s``,
drawn at 50-100 % of that so many clients do not return together.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, Literal

from dita.strategy import Bar, Quote
from dita.venues.ccxt.client import pro_exchange
from dita.venues.ccxt.quote_silence import QuoteSilence
from dita.venues.ccxt.settings import CcxtSettings
from dita.venues.ccxt.stream_thread import PingSeen, StreamThread
from dita.venues.ccxt.streams import redial_delay

__all__ = ["MarketKind", "MarketStream", "MarketStreamStatus"]

log = logging.getLogger("dita.venues.ccxt")

MarketKind = Literal["bars", "quotes", "ticker"]

# How often the bar clock looks whether a period has ended.
_BAR_CHECK_S = 0.05
# How often a feed waiting for data asks its ``should_stop``.
_STOP_CHECK_S = 0.25
# How often, in the periods' own time, a market still without a first price (so without bars)
# says so at WARNING; the periods between are logged at INFO.
NO_PRICE_TOLD_EVERY_S = 60.0


@dataclass(frozen=True)
class MarketStreamStatus:
    """What ``MarketStream.status()`` says."""

    state: Literal["down", "up"]
    # Connections made after the first.
    reconnects: int
    # Order books dropped for a skipped update id and rebuilt from a snapshot.
    resyncs: int
    bars: int
    # Bars of periods without a trade, made here (open = high = low = close = previous close).
    empty_bars: int
    # Bars whose closing kline the stream did not give, taken from REST.
    bars_from_rest: int
    quotes: int
    # Book ticker frames dropped: their update id not above the last handed (duplicated or late).
    dropped_tickers: int
    # Seconds from the exchange's event time to receipt, of the last frame and the largest seen.
    lag_s: float | None
    max_lag_s: float | None
    # Seconds since the last frame of any kind (pings included); None before the first.
    since_last_frame_s: float | None
    last_error: str


class _Stopped(Exception):
    """The stream was stopped: the session ends without a reconnect."""


class MarketStream(StreamThread):
    """Bars or quotes (from the order book, or the ticker) of ``symbols`` (ccxt symbols) streamed
    from the settings' exchange."""

    def __init__(
        self,
        settings: CcxtSettings,
        symbols: list[str],
        kind: MarketKind,
        *,
        bar_interval: str = "1m",
        grace_s: float = 2.0,
        heartbeat_s: float = 30.0,
        quote_silence_s: float = 60.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if kind not in ("bars", "quotes", "ticker"):
            raise ValueError(f"kind={kind!r} must be 'bars', 'quotes' or 'ticker'")
        if not symbols:
            raise ValueError("symbols=[] names no market")
        self._settings = settings
        self._symbols = list(symbols)
        self.kind = kind
        self.bar_interval = bar_interval
        self._grace_s = grace_s
        self._heartbeat_s = heartbeat_s
        self._quote_silence_s = quote_silence_s
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._clock = clock
        super().__init__(settings.exchange, "market stream")
        self.items: SimpleQueue[Bar | Quote] = SimpleQueue()
        self._lock = threading.Lock()
        self._state: Literal["down", "up"] = "down"
        self._connections = 0
        self._counts = dict.fromkeys(
            ("resyncs", "bars", "empty_bars", "bars_from_rest", "quotes", "dropped_tickers"), 0
        )
        self._lag_s: float | None = None
        self._max_lag_s: float | None = None
        # On the monotonic clock: a wall clock set back would hide the stream's silence.
        self._last_frame: float | None = None
        self._last_error = ""
        # The exchange of the connection being followed: it is up from its first frame.
        self._current: Any = None
        self._markets: dict[str, Any] | None = None
        # Bars: market id -> symbol; closed klines by market id and open time (ms); the open time
        # of the next period to hand; each market's last close.
        self._symbol_of: dict[str, str] = {}
        self._closed: dict[str, dict[int, Bar | None]] = {}
        self._next_open_ms: int | None = None
        self._interval_ms = 0
        self._last_close: dict[str, float] = {}
        # Markets without a first price yet: the open times (ms) of their first period without a
        # bar and of the last one said at WARNING.
        self._no_price: dict[str, tuple[int, int | None]] = {}
        self._last_quote_ts = 0.0
        # Quotes: when each market's last quote came, or its connection was dialled since (the
        # silence counted while up); each market's silence, said once as it passes quote_silence_s.
        self._quoted_at: dict[str, float] = {}
        self._silences: dict[str, QuoteSilence] = {}
        # Ticker: the update id of the last book ticker handed, by market id.
        self._last_update_id: dict[str, int] = {}
        self._failure: BaseException | None = None

    # -- the runtime's side --------------------------------------------------------------

    def feed(
        self, should_stop: Callable[[], bool] = lambda: False, not_before: float = 0.0
    ) -> Iterator[Bar | Quote]:
        """The stream's items as they come, until ``should_stop`` says so (asked while waiting
        too). Items stamped before ``not_before`` (a continued run's restored venue clock) are
        skipped. Raises what ended the stream's thread, if it failed."""
        self.start()
        while not should_stop():
            try:
                item = self.items.get(timeout=_STOP_CHECK_S)
            except Empty:
                if self._failure is not None:
                    raise self._failure from None
                continue
            if item.ts >= not_before:
                yield item

    def status(self) -> MarketStreamStatus:
        with self._lock:
            since = None if self._last_frame is None else max(time.monotonic() - self._last_frame, 0.0)
            c = self._counts
            return MarketStreamStatus(
                self._state,
                max(self._connections - 1, 0),
                c["resyncs"],
                c["bars"],
                c["empty_bars"],
                c["bars_from_rest"],
                c["quotes"],
                c["dropped_tickers"],
                self._lag_s,
                self._max_lag_s,
                since,
                self._last_error,
            )

    # -- the stream's thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            super()._run()
        except BaseException as exc:
            self._failure = exc
            log.error("%s market stream failed: %s", self.name, exc)

    async def _main(self) -> None:
        rest = self._new_exchange()  # REST only: snapshots of markets and klines, across connections
        try:
            await self._load_markets(rest)
            if self._markets is None:
                return  # stopped before the exchange answered
            for symbol in self._symbols:
                self._symbol_of[str(rest.market(symbol)["id"])] = symbol
            tasks = [asyncio.ensure_future(self._sessions())]
            if self.kind == "bars":
                self._interval_ms = int(rest.parse_timeframe(self.bar_interval) * 1000)
                now_ms = int(self._clock() * 1000)
                # The period in progress is the first: its closing kline covers all of it.
                self._next_open_ms = now_ms - now_ms % self._interval_ms
                tasks.append(asyncio.ensure_future(self._bar_clock(rest)))
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self._close(rest)

    async def _load_markets(self, rest: Any) -> None:
        """The exchange's markets, asked again after a backoff until it answers or the stream stops."""
        failures = 0
        while not self._stopping.is_set():
            try:
                await rest.load_markets()
            except Exception as exc:
                failures += 1
                self._went_down(f"markets: {type(exc).__name__}: {exc}")
                await self._pause(self._backoff(failures))
                continue
            self._markets = rest.markets
            return

    async def _sessions(self) -> None:
        """Connect, follow, and after each drop wait the backoff and connect again, until stopped."""
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            exchange = self._new_exchange()
            try:
                await self._follow(exchange)
            except _Stopped:
                pass
            except Exception as exc:
                self._went_down(f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._state = "down"
                    self._current = None
                await self._close(exchange)
            lasted = time.monotonic() - started
            failures = 0 if lasted > self._heartbeat_s else failures + 1
            if not self._stopping.is_set():
                await self._pause(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        return redial_delay(failures, self._backoff_s, self._backoff_max_s)

    def _went_down(self, reason: str) -> None:
        with self._lock:
            was = self._state
            self._state = "down"
            self._last_error = reason
        log.warning("%s market stream down (was %s): %s", self.name, was, reason)

    async def _follow(self, exchange: Any) -> None:
        """One connection: watch every symbol until a watch fails or the stream goes stale."""
        assert self._markets is not None and self._wake is not None
        exchange.set_markets(self._markets)
        with self._lock:
            self._current = exchange
            self._last_frame = time.monotonic()  # the heartbeat counts from the dial
        dialled = self._clock()
        for market_id, at in self._quoted_at.items():
            self._quoted_at[market_id] = max(at, dialled)
        watches = {"bars": self._watch_klines, "quotes": self._watch_book, "ticker": self._watch_ticker}
        watch = watches[self.kind]
        watchers = [watch(exchange, symbol) for symbol in self._symbols]
        tasks = [
            asyncio.ensure_future(w) for w in [*watchers, self._heartbeat(exchange), self._until_stopped()]
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # raises what ended the connection

    async def _until_stopped(self) -> None:
        assert self._wake is not None
        await self._wake.wait()
        raise _Stopped()

    async def _watch_klines(self, exchange: Any, symbol: str) -> None:
        # The klines are read as ccxt handles each frame (``_observed``): the call keeps the
        # subscription and raises when the connection fails.
        while True:
            await exchange.watch_ohlcv(symbol, self.bar_interval)

    async def _watch_ticker(self, exchange: Any, symbol: str) -> None:
        # As the klines: the frames are read in ``_observed``; the call keeps the subscription.
        while True:
            await exchange.watch_bids_asks([symbol])

    async def _watch_book(self, exchange: Any, symbol: str) -> None:
        import ccxt  # deferred, as ccxt is: only live runs need it

        market_id = str(exchange.market(symbol)["id"])
        while True:
            try:
                book = await exchange.watch_order_book(symbol)
            except ccxt.ChecksumError as exc:
                # A skipped update id: ccxt dropped the book; watching again rebuilds it from a snapshot.
                with self._lock:
                    self._counts["resyncs"] += 1
                log.warning("%s %s order book resynced from a snapshot: %s", self.name, symbol, exc)
                continue
            self._hand_top(market_id, book)

    def _hand_top(self, market_id: str, book: Any) -> None:
        bids, asks = book.get("bids") or [], book.get("asks") or []
        if not bids or not asks:
            return
        (bid, bid_size), (ask, ask_size) = bids[0][:2], asks[0][:2]
        self._hand_quote(market_id, float(bid), float(ask), float(bid_size), float(ask_size))

    def _take_book_ticker(self, frame: dict[str, Any]) -> None:
        """Hand a book ticker frame whose update id is above the last handed for its market."""
        market_id = str(frame.get("s"))
        if market_id not in self._symbol_of:
            return
        update_id = int(frame["u"])
        last = self._last_update_id.get(market_id)
        if last is not None and update_id <= last:
            with self._lock:
                self._counts["dropped_tickers"] += 1
            log.debug("%s %s: book ticker %d after %d dropped", self.name, market_id, update_id, last)
            return
        bid, ask = float(frame["b"]), float(frame["a"])
        if self._hand_quote(market_id, bid, ask, float(frame["B"]), float(frame["A"])):
            self._last_update_id[market_id] = update_id

    def _hand_quote(self, market_id: str, bid: float, ask: float, bid_size: float, ask_size: float) -> bool:
        """Hand the top of book as a quote; False when it is none (a side empty, or crossed)."""
        if not (0 < bid < ask):
            return False  # the paper venue refuses a crossed or empty book; the next update mends it
        # Stamped at receipt and never before the last quote: the venue's clock must not go back.
        now = self._clock()
        self._last_quote_ts = max(self._last_quote_ts, now)
        self.items.put(Quote(market_id, self._last_quote_ts, bid, ask, bid_size, ask_size))
        with self._lock:
            self._counts["quotes"] += 1
        self._quoted_at[market_id] = now
        self._silence(market_id).quote(now)
        return True

    def _tell_quiet_markets(self) -> None:
        """Say at WARNING each market without a quote for ``quote_silence_s`` while its connection
        is up, once per silence: the heartbeat counts any frame, the exchange's pongs included,
        so a subscription that stopped sending on a live connection is seen only here."""
        now = self._clock()
        for market_id in self._symbol_of:
            last = self._quoted_at.setdefault(market_id, now)
            if now - last >= self._quote_silence_s:
                self._silence(market_id).missed(
                    f"no quote for {now - last:.0f}s while the connection is up", now, since=last
                )

    def _silence(self, market_id: str) -> QuoteSilence:
        silence = self._silences.get(market_id)
        if silence is None:
            symbol = self._symbol_of.get(market_id, market_id)
            silence = QuoteSilence(symbol, self._warn, repeat_s=None)
            self._silences[market_id] = silence
        return silence

    def _warn(self, line: str) -> None:
        log.warning("%s market stream %s", self.name, line)

    async def _heartbeat(self, exchange: Any) -> None:
        """Raise when no frame (pings included) came within the heartbeat."""
        ping = PingSeen()
        while True:
            await asyncio.sleep(self._heartbeat_s / 4)
            if self.kind != "bars":
                self._tell_quiet_markets()
            now = time.monotonic()
            stamps = [getattr(c, "last_message_at", None) for c in (exchange.clients or {}).values()]
            latest = max([s for s in stamps if s], default=None)
            pinged_at = ping.look(latest, now)
            with self._lock:
                last = max(self._last_frame or 0.0, pinged_at)
            if now - last > self._heartbeat_s:
                raise TimeoutError(f"no frame for {self._heartbeat_s:g}s (heartbeat): stale")

    def _new_exchange(self) -> Any:
        """A public ccxt.pro exchange of the settings, with the observer on every frame it handles."""
        # A skipped update id must drop the book (ChecksumError), not be applied over.
        checked = {"watchOrderBook": {"checksum": True}}
        name = f"{self.name} market stream"
        return pro_exchange(self._settings, self._heartbeat_s, self._observed, name, options=checked)

    def _observed(self, exchange: Any, message: Any, received: float) -> None:
        """Take a frame ccxt has just handled: the connection up, its lag noted, a closed kline kept,
        a book ticker handed."""
        with self._lock:
            if exchange is self._current and self._state == "down":
                self._state = "up"
                self._connections += 1
                log.info("%s market stream up", self.name)
        if not isinstance(message, dict):
            return
        frame = message.get("data", message)
        if not isinstance(frame, dict):
            return
        with self._lock:
            self._last_frame = time.monotonic()  # ``received`` is wall time, for the lag
            event_ms = frame.get("E")
            if isinstance(event_ms, int | float) and event_ms > 0:
                self._lag_s = received - event_ms / 1000.0
                self._max_lag_s = max(self._max_lag_s or self._lag_s, self._lag_s)
        kline = frame.get("k")
        if frame.get("e") == "kline" and isinstance(kline, dict) and kline.get("x") is True:
            self._keep_kline(str(kline.get("s") or frame.get("s")), kline)
        # Spot's book ticker has no event type; futures' says "bookTicker".
        elif self.kind == "ticker" and frame.get("e", "bookTicker") == "bookTicker" and "u" in frame:
            self._take_book_ticker(frame)

    def _keep_kline(self, market_id: str, kline: dict[str, Any]) -> None:
        if market_id not in self._symbol_of or kline.get("i") != self.bar_interval:
            return
        open_ms = int(kline["t"])
        if self._next_open_ms is not None and open_ms < self._next_open_ms:
            log.warning(
                "%s %s: a kline for %d came after its bar was handed; dropped", self.name, market_id, open_ms
            )
            return
        bar = Bar(
            market_id,
            open_ms / 1000.0,
            float(kline["o"]),
            float(kline["h"]),
            float(kline["l"]),
            float(kline["c"]),
            float(kline["v"]),
        )
        self._closed.setdefault(market_id, {})[open_ms] = bar

    # -- bars on time --------------------------------------------------------------------

    async def _bar_clock(self, rest: Any) -> None:
        """Hand each period's bars once all are known; past the grace, ask REST, then make the
        missing ones empty."""
        while not self._stopping.is_set():
            await self._hand_due_bars(rest)
            await self._pause(_BAR_CHECK_S)

    async def _hand_due_bars(self, rest: Any) -> None:
        assert self._next_open_ms is not None
        while True:
            open_ms = self._next_open_ms
            missing = [m for m in self._symbol_of if open_ms not in self._closed.get(m, {})]
            if missing:
                ended_ms = open_ms + self._interval_ms
                if self._clock() * 1000 < ended_ms + self._grace_s * 1000:
                    return
                if not await self._ask_rest(rest, missing, open_ms):
                    return  # REST unreachable: the bars wait rather than being made up
            for market_id in self._symbol_of:
                self._hand_bar(market_id, open_ms)
            self._next_open_ms = open_ms + self._interval_ms

    async def _ask_rest(self, rest: Any, missing: list[str], open_ms: int) -> bool:
        """Take REST's klines from ``open_ms`` for the ``missing`` markets; a period REST has no
        kline for gets an empty bar. False when REST could not be asked."""
        now_ms = int(self._clock() * 1000)
        for market_id in missing:
            symbol = self._symbol_of[market_id]
            try:
                klines = await rest.fetch_ohlcv(symbol, self.bar_interval, since=open_ms, limit=1000)
            except Exception as exc:
                with self._lock:
                    self._last_error = f"klines by REST: {type(exc).__name__}: {exc}"
                log.warning("%s %s: klines by REST failed (bars wait): %s", self.name, symbol, exc)
                return False
            closed = self._closed.setdefault(market_id, {})
            for t, o, h, low, c, v in (k[:6] for k in klines):
                if int(t) >= open_ms and int(t) + self._interval_ms <= now_ms and int(t) not in closed:
                    closed[int(t)] = Bar(
                        market_id, t / 1000.0, float(o), float(h), float(low), float(c), float(v)
                    )
                    with self._lock:
                        self._counts["bars_from_rest"] += 1
            if open_ms not in closed:
                self._make_empty(market_id, open_ms)
        return True

    def _make_empty(self, market_id: str, open_ms: int) -> None:
        close = self._last_close.get(market_id)
        if close is None:
            # Known to have no bar: not asked of REST again when another market's call fails.
            self._closed.setdefault(market_id, {})[open_ms] = None
            # A strategy waiting for its first bar hears nothing: the operator is told at once,
            # then at most every NO_PRICE_TOLD_EVERY_S of the periods while it lasts.
            first_ms, told_ms = self._no_price.get(market_id, (open_ms, None))
            loud = told_ms is None or open_ms - told_ms >= NO_PRICE_TOLD_EVERY_S * 1000
            self._no_price[market_id] = (first_ms, open_ms if loud else told_ms)
            periods = (open_ms - first_ms) // self._interval_ms + 1
            log.log(
                logging.WARNING if loud else logging.INFO,
                "%s %s: no trade in the period at %d and no price before it: no bar "
                "(%d period%s without one since the stream began)",
                self.name,
                market_id,
                open_ms,
                periods,
                "" if periods == 1 else "s",
            )
            return
        self._closed.setdefault(market_id, {})[open_ms] = Bar(
            market_id, open_ms / 1000.0, close, close, close, close, 0.0
        )
        with self._lock:
            self._counts["empty_bars"] += 1
        log.info(
            "%s %s: no trade in the period at %d: an empty bar at the last close %g",
            self.name,
            market_id,
            open_ms,
            close,
        )

    def _hand_bar(self, market_id: str, open_ms: int) -> None:
        bar = self._closed.get(market_id, {}).pop(open_ms, None)
        if bar is None:
            return
        self._last_close[market_id] = bar.close
        self._no_price.pop(market_id, None)
        self.items.put(bar)
        with self._lock:
            self._counts["bars"] += 1
