"""The account's user-data stream (``user_stream=True``; Binance spot and USD-M futures): order
updates, trades, balances and positions pushed by the exchange through ccxt.pro's websocket API,
instead of asked for order by order.

``UserStream`` runs ccxt.pro's ``watch_orders``, ``watch_my_trades`` and ``watch_balance`` (and
``watch_positions`` for futures; ``user_frames`` has what differs per market type) on a thread of
its own with its own asyncio loop. Each frame is taken as ccxt handles it (a ``watch_*`` call
returns only what arrives while it waits, so a frame handled between two calls would wait for the
next one): an order update with its trades is queued for the venue, balances and positions kept,
the frame's lag (its event time to its receipt) measured. The connection is
down when a ``watch_*`` call fails, when no frame (the exchange's pings included) comes within
``user_stream_heartbeat_s``, or when the exchange ends the subscription (``eventStreamTerminated``,
``listenKeyExpired``); it is dialled again after a backoff that doubles up to
``user_stream_backoff_max_s``, with jitter, so many clients do not return at once. It is not
dialled while the REST client waits out a throttle or ban; one answered to the stream's own
requests is noted on the client, so REST waits it out too.

``StreamedPolling`` is the venue's ``poll_events`` while the stream is on: it reports the queued
updates through the venue's ``OrderReporter`` (fills keyed by trade id, so one seen on the
stream and again by REST is reported once) and decides what REST is asked:

- down: every order followed is asked about, as without a stream (REST is the fallback);
- reconciling (subscribed again after a connect): the same, and once a round has read an
  answer about every order (their trade lists whole, ``Poller.unanswered``), the stream is
  up; entries sent meanwhile are refused with a reason naming the stream and the orders not
  answered about, exits and cancels still go, as what the venue holds may be behind what the
  exchange did while it was down (with no order followed only the balance is caught up on: an
  entry reads it and completes the reconciliation). An order the exchange does not answer
  about for ``user_stream_rest_sweep_s`` (a delisted market, an archived order) does not hold
  entries up for longer: the stream is up with a warning naming it, and REST asks about it at
  every poll;
- up: only orders the stream cannot settle (a submit in doubt, an order owing trades or whose
  trade list could not be read, one whose last question got no answer) are asked about, and
  every order followed once per ``user_stream_rest_sweep_s``, which recovers a frame the exchange
  never sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, Literal

from dita._kernel import KernelEventKind, VenueEvent, VenueOrder, VenueOrderStatus
from dita.venues._events import BoundedIdSet
from dita.venues.ccxt.account_stream import AccountFacts
from dita.venues.ccxt.answers import number
from dita.venues.ccxt.client import ExchangeClient, pro_exchange
from dita.venues.ccxt.errors import clock_refused
from dita.venues.ccxt.events import OrderReporter
from dita.venues.ccxt.markets import Markets
from dita.venues.ccxt.orders import Orders
from dita.venues.ccxt.polling import Poller
from dita.venues.ccxt.settings import CcxtSettings, read_credentials
from dita.venues.ccxt.stream_thread import PingSeen, StreamThread
from dita.venues.ccxt.tracking import TrackedOrder
from dita.venues.ccxt.user_frames import (
    STREAM_KINDS,
    StreamUpdate,
    futures_account,
    net_positions,
    order_update,
)

__all__ = [
    "ExchangeClose",
    "StreamState",
    "StreamStatus",
    "StreamUpdate",
    "StreamedPolling",
    "UserStream",
    "check_stream_supported",
    "redial_delay",
]

log = logging.getLogger("dita.venues.ccxt")

StreamState = Literal["down", "reconciling", "up"]

# The longest wait between two looks at the REST client's throttle before a dial: the venue's
# clock, which the throttle is kept by, need not be the wall clock.
_THROTTLE_CHECK_S = 1.0

# Frames by which the exchange says the subscription is over while the connection stays open.
_SUBSCRIPTION_ENDED = ("eventStreamTerminated", "listenKeyExpired")

# The client ids of the orders Binance USD-M places itself to close a position (its docs, "Event:
# Order Update"): a liquidation's "autoclose-<ms>", an auto-deleveraging's "adl_autoclose", a
# delisting's or delivery's "settlement_autoclose-<ms>". No order of the kernel's stands for them.
_EXCHANGE_CLOSE_IDS = ("autoclose-", "adl_autoclose", "settlement_autoclose-")


def redial_delay(failures: int, first_s: float, most_s: float) -> float:
    """Seconds before a stream's next dial after ``failures`` failed ones: ``first_s`` doubling
    with each, up to ``most_s``, then 50-100 % of that, drawn at random, so clients dropped
    together do not all return together."""
    ceiling = min(first_s * 2.0 ** min(failures, 30), most_s)
    return ceiling * random.uniform(0.5, 1.0)


def check_stream_supported(settings: CcxtSettings) -> None:
    """Raise ValueError unless the settings' exchange and market type have a user stream here:
    Binance's own, spot and USD-M futures (its descendants, binanceus among them, have ccxt.pro's
    WebSocket API address binance.com's)."""
    if settings.user_stream and (settings.exchange != "binance" or settings.market_type not in STREAM_KINDS):
        raise ValueError(
            "user_stream=True is supported for Binance spot and USD-M futures (market_type linear) "
            f"only, not exchange={settings.exchange!r} market_type={settings.market_type!r}"
        )


@dataclass(frozen=True)
class ExchangeClose:
    """A trade of an order the exchange placed itself to close a position (``_EXCHANGE_CLOSE_IDS``:
    a liquidation, an auto-deleveraging), as the user stream reported it."""

    market: str  # the market id (BTCUSDT)
    client_order_id: str
    side: str  # BUY or SELL
    size: float
    price: float
    trade_id: str
    # The trade's time (the exchange's, seconds).
    timestamp: float


@dataclass(frozen=True)
class StreamStatus:
    """What ``CcxtVenue.stream_status()`` says of the user stream."""

    state: StreamState
    # Connections made after the first (each followed by a reconciliation by REST).
    reconnects: int
    # Seconds from the exchange's event time to receipt, of the last frame and the largest seen.
    lag_s: float | None
    max_lag_s: float | None
    # Seconds since the last frame of any kind (pings included); None before the first.
    since_last_frame_s: float | None
    frames: int
    entries_refused: int
    # The balances the stream last gave (spot: free + locked per currency; futures: the wallet
    # balance); None before any.
    balances: dict[str, float] | None
    last_error: str
    # Futures: the signed position per market id the stream last gave; None before any.
    positions: dict[str, float] | None = None
    # Futures: the trades of orders the exchange placed itself to close a position, in a market
    # this venue trades (each logged at ERROR): how many, and the last one. The kernel holds the
    # position as it was until it is told otherwise.
    exchange_closes: int = 0
    last_exchange_close: ExchangeClose | None = None


class _StreamStopped(Exception):
    """The venue closed: the session ends without a reconnect."""


class _ThrottledBeforeSubscribing(Exception):
    """REST was answered with a throttle or ban while the connection was being made: nothing is
    sent, and the dial waits for its end."""


class UserStream(StreamThread):
    """The connection to the exchange's user-data stream and what it has received, shared with
    the venue's thread under ``_lock`` (the updates through a queue)."""

    def __init__(
        self, settings: CcxtSettings, client: ExchangeClient, account: AccountFacts, markets: Markets
    ) -> None:
        self._settings = settings
        self._kind = STREAM_KINDS[settings.market_type]
        self._client = client
        self.account = account
        self._markets = markets
        super().__init__(client.name, "user stream")
        self.updates: SimpleQueue[StreamUpdate] = SimpleQueue()
        self._lock = threading.Lock()
        self._state: StreamState = "down"
        self._session = 0
        self._reconnects = 0
        self._frames = 0
        self._lag_s: float | None = None
        self._max_lag_s: float | None = None
        # On the monotonic clock: a wall clock set back would hide the stream's silence.
        self._last_frame: float | None = None
        self._balances: dict[str, float] | None = None
        # Futures: the position amount per market id and position side (a hedge-mode account
        # holds a long and a short of one market).
        self._positions: dict[tuple[str, str], float] | None = None
        self._last_error = ""
        self._entries_refused = 0
        self._exchange_closes = 0
        self._last_exchange_close: ExchangeClose | None = None
        # The trades of exchange closes noted: a frame sent twice is one close.
        self._exchange_close_trades = BoundedIdSet(10_000)
        self._loaded_markets: dict[str, Any] | None = None
        self._ended: asyncio.Event | None = None

    # -- the venue's side ----------------------------------------------------------------

    def session(self) -> tuple[StreamState, int]:
        """The state and the number of the connection it is of."""
        with self._lock:
            return self._state, self._session

    def reconciled(self, session: int) -> bool:
        """The venue's REST round after connection ``session`` completed: up, unless the stream
        went down or connected again since (then that connection is reconciled in turn)."""
        with self._lock:
            if self._state == "reconciling" and self._session == session:
                self._state = "up"
                log.info("%s user stream up (reconciled by REST)", self.name)
                return True
            return False

    def note_entry_refused(self) -> None:
        with self._lock:
            self._entries_refused += 1

    def status(self) -> StreamStatus:
        with self._lock:
            since = None if self._last_frame is None else max(time.monotonic() - self._last_frame, 0.0)
            return StreamStatus(
                self._state,
                self._reconnects,
                self._lag_s,
                self._max_lag_s,
                since,
                self._frames,
                self._entries_refused,
                None if self._balances is None else dict(self._balances),
                self._last_error,
                positions=None if self._positions is None else net_positions(self._positions),
                exchange_closes=self._exchange_closes,
                last_exchange_close=self._last_exchange_close,
            )

    # -- the stream's thread -------------------------------------------------------------

    async def _main(self) -> None:
        """Connect, follow, and after each drop wait the backoff and connect again, until stopped."""
        failures = 0
        while not self._stopping.is_set():
            if self._client.throttled():
                # The exchange's throttle or ban is the address's: nothing is sent before it ends.
                await self._pause(min(self._client.throttle_wait(), _THROTTLE_CHECK_S))
                continue
            started = time.monotonic()
            exchange: Any = None
            try:
                # Made here, its failure (credentials unreadable) is the session's: kept, retried.
                exchange = self._new_exchange()
                await self._follow(exchange)
            except (_StreamStopped, _ThrottledBeforeSubscribing):
                pass
            except Exception as exc:
                answer = self._exchange_error_in(exc)
                reason = self._client.error_text(answer or exc)
                if isinstance(answer, self._client.throttle_errors):
                    # Waited out by REST and the next dial alike; a listen key's request (futures) is
                    # answered to the stream's own exchange.
                    self._client.note_throttle(answer, answered_by=exchange)
                elif answer is not None and clock_refused(answer) and exchange is not None:
                    reason += f"; {await self._resync_clock(exchange)}"
                self._went_down(reason)
            finally:
                with self._lock:
                    self._state = "down"
                if exchange is not None:
                    await self._close(exchange)
            # A connection that held past a heartbeat was a working one: the backoff starts over.
            lasted = time.monotonic() - started
            failures = 0 if lasted > self._settings.user_stream_heartbeat_s else failures + 1
            if not self._stopping.is_set():
                await self._pause(self._backoff(failures))

    def _exchange_error_in(self, exc: BaseException) -> BaseException | None:
        """The exchange's answer ``exc`` was raised for, if any (a throttle or ban first, else
        ccxt's first error): ccxt.pro may raise another error while handling a refused
        subscription (a KeyError from its own cleanup), which names nothing the user can act on."""
        seen: set[int] = set()
        cause: BaseException | None = exc
        first: BaseException | None = None
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, self._client.throttle_errors):
                return cause
            if first is None and isinstance(cause, self._client.ccxt.BaseError):
                first = cause
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        return first

    async def _resync_clock(self, exchange: Any) -> str:
        """Sync the signing clock with the exchange's server time after a subscription refused
        for its timestamp (-1021), for the next dial and for REST; what was found, for the reason.
        Left to REST, it would wait for a request to be refused (the next entry)."""
        began = time.monotonic()
        try:
            ahead_ms = float(await exchange.load_time_difference())
        except self._client.throttle_errors as exc:
            # The address's throttle or ban: REST and the next dial wait it out, as after any.
            self._client.note_throttle(exc, answered_by=exchange)
            return f"the clock could not be synced: {self._client.error_text(exc)}"
        except Exception as exc:
            return f"the clock could not be synced: {self._client.error_text(exc)}"
        return self._client.adopt_time_difference(ahead_ms, began)

    def _backoff(self, failures: int) -> float:
        s = self._settings
        return redial_delay(failures, s.user_stream_backoff_s, s.user_stream_backoff_max_s)

    def _went_down(self, reason: str) -> None:
        with self._lock:
            was = self._state
            self._state = "down"
            self._last_error = reason
        log.warning("%s user stream down (was %s), REST polling meanwhile: %s", self.name, was, reason)

    async def _follow(self, exchange: Any) -> None:
        """One connection: subscribe, then watch until it fails, goes stale or is ended."""
        if self._loaded_markets is None:
            await exchange.load_markets()
            self._loaded_markets = exchange.markets
        else:
            exchange.set_markets(self._loaded_markets)
        self._ended = asyncio.Event()
        # Signed by the clock REST synced with the exchange's (``sync_clock_if_refused``).
        exchange.options["timeDifference"] = self._client.exchange.options.get("timeDifference", 0)
        if self._client.throttled():
            # Answered to REST while the exchange object was made and its markets loaded (the
            # first dial's take a while): the subscription would go into that throttle or ban.
            raise _ThrottledBeforeSubscribing()
        # Spot: subscribed once this returns. Futures: the listen key made, the stream dialled by
        # the first watch (``_subscribed``).
        await exchange.authenticate({"type": self._kind.auth_type})
        url = self._kind.url(exchange)
        watchers = [
            *(self._keep_watching(getattr(exchange, watch)) for watch in self._kind.watches),
            self._heartbeat(exchange, url),
            *([self._keep_alive(exchange, self._kind.keep_alive)] if self._kind.keep_alive else []),
            self._until(self._ended, "the exchange ended the subscription"),
        ]
        assert self._wake is not None
        tasks = [asyncio.ensure_future(w) for w in [*watchers, self._until(self._wake, "")]]
        try:
            await self._subscribed(exchange, url, tasks)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # raises what ended the connection

    async def _subscribed(self, exchange: Any, url: str, tasks: Sequence[asyncio.Future[Any]]) -> None:
        """Wait until the connection at ``url`` is open (or a task ended: raised by the caller),
        then count the connection: the state is reconciling from here."""
        while not _open(exchange, url):
            if any(task.done() for task in tasks):
                return
            await asyncio.sleep(0.005)
        with self._lock:
            if self._session:
                self._reconnects += 1
            self._session += 1
            self._state = "reconciling"
            self._last_frame = time.monotonic()
        log.info("%s user stream subscribed; reconciling by REST", self.name)

    @staticmethod
    async def _keep_watching(watch: Callable[[], Any]) -> None:
        # The results are read as ccxt handles each frame (``_observed``); the calls keep the
        # subscription and raise when the connection fails.
        while True:
            await watch()

    @staticmethod
    async def _keep_alive(exchange: Any, extend: str) -> None:
        """Extend the listen key every ``listenKeyRefreshRate`` (ccxt's option); a refusal (the
        key gone: -1125) raises, and the stream is dialled again with a new key."""
        every_s = exchange.safe_integer(exchange.options, "listenKeyRefreshRate", 1_200_000) / 1000.0
        while True:
            await asyncio.sleep(every_s)
            await getattr(exchange, extend)()

    async def _until(self, event: asyncio.Event, reason: str) -> None:
        await event.wait()
        if self._stopping.is_set():
            raise _StreamStopped()
        raise ConnectionError(reason)

    async def _heartbeat(self, exchange: Any, url: str) -> None:
        """Raise when no frame (pings included) came on the connection at ``url`` within the heartbeat."""
        heartbeat = self._settings.user_stream_heartbeat_s
        ping = PingSeen()
        while True:
            await asyncio.sleep(heartbeat / 4)
            client = (exchange.clients or {}).get(url)
            now = time.monotonic()
            pinged_at = ping.look(getattr(client, "last_message_at", None), now)
            with self._lock:
                last = max(self._last_frame or 0.0, pinged_at)
            if now - last > heartbeat:
                raise TimeoutError(f"no frame for {heartbeat:g}s (heartbeat): stale")

    def _new_exchange(self) -> Any:
        """A ccxt.pro exchange of the settings, with the observer on every frame it handles."""
        credentials = read_credentials(self._settings)
        keys = {"apiKey": credentials.api_key, "secret": credentials.secret}
        heartbeat = self._settings.user_stream_heartbeat_s

        # Looked up at each frame: benches/bench_streams.py wraps _observed to time frames.
        def observe(exchange: Any, message: Any, received: float) -> None:
            self._observed(exchange, message, received)

        name = f"{self.name} user stream"
        options = self._kind.options
        exchange = pro_exchange(self._settings, heartbeat, observe, name, keys=keys, options=options)
        if self._kind.keep_alive:
            # Extended by the stream itself (``_keep_alive``): ccxt's own extension, scheduled at
            # each authenticate, would run on after the exchange is closed and open a session.
            exchange.keep_alive_listen_key = _extended_by_the_stream
        return exchange

    def _observed(self, exchange: Any, message: Any, received: float) -> None:
        """Take a frame ccxt has just handled: queue an order update, keep a balance or a
        position, note the lag."""
        if not isinstance(message, dict):
            return
        frame = message.get("event", message)
        if not isinstance(frame, dict):
            return
        kind = frame.get("e")
        with self._lock:
            self._frames += 1
            self._last_frame = time.monotonic()  # ``received`` is wall time, for the lag
            event_ms = frame.get("E")
            if isinstance(event_ms, int | float) and event_ms > 0:
                self._lag_s = received - event_ms / 1000.0
                self._max_lag_s = max(self._max_lag_s or self._lag_s, self._lag_s)
        if kind in _SUBSCRIPTION_ENDED and self._ended is not None:
            self._ended.set()
        elif kind == "executionReport":
            self.updates.put(order_update(exchange, frame))
        elif kind == "ORDER_TRADE_UPDATE" and isinstance(frame.get("o"), dict):
            self._note_exchange_close(frame["o"])
            self.updates.put(order_update(exchange, frame["o"]))
        elif kind == "ACCOUNT_UPDATE":
            self._account_update(frame)
        elif kind in ("outboundAccountPosition", "balanceUpdate"):
            if kind == "outboundAccountPosition":
                self.account.spot_position(frame)
            balance = (exchange.balance or {}).get("spot") or {}
            totals = balance.get("total") or {}
            with self._lock:
                self._balances = {k: float(v) for k, v in totals.items() if v is not None}

    def _note_exchange_close(self, order: dict[str, Any]) -> None:
        """A futures order update's trade by an order the exchange placed itself to close a
        position (``_EXCHANGE_CLOSE_IDS``), in a market this venue trades: counted in the status
        and logged at ERROR, here as the frame comes. No order of the venue's has such a client
        id, so its update is dropped as another's, and the kernel, told nothing, holds the
        position as it was; a runtime polls no venue while no order works, so a poll would not
        see it."""
        client_id = str(order.get("c") or "")
        market = str(order.get("s") or "")
        if order.get("x") != "TRADE" or not client_id.startswith(_EXCHANGE_CLOSE_IDS):
            return
        if not self._markets.trades_market_id(market):
            return
        trade_id = str(order.get("t") or "")
        if not self._exchange_close_trades.add(f"{market}:{trade_id}:{client_id}"):
            return  # the frame sent again
        trade_ms = number(order.get("T"))
        close = ExchangeClose(
            market,
            client_id,
            str(order.get("S") or ""),
            number(order.get("l")),
            number(order.get("L")),
            trade_id,
            trade_ms / 1000.0 if trade_ms > 0 else time.time(),
        )
        with self._lock:
            self._exchange_closes += 1
            self._last_exchange_close = close
        log.error(
            "%s: the exchange closed a position in %s itself (order %s: %s %r at %r, trade %s; a "
            "liquidation or auto-deleveraging): no order of the kernel's stands for it, and the "
            "kernel holds the position it had; reconcile_with_venue reports the difference in "
            "position_mismatches",
            self.name, market, client_id, close.side, close.size, close.price, trade_id,
        )  # fmt: skip

    def _account_update(self, frame: dict[str, Any]) -> None:
        """A futures ``ACCOUNT_UPDATE``: the wallet balances and positions it carries kept (a
        frame holds only those that changed), and the account currency's given to the kernel."""
        self.account.futures_update(frame)
        balances, positions = futures_account(frame)
        with self._lock:
            self._balances = {**(self._balances or {}), **balances}
            self._positions = {**(self._positions or {}), **positions}


async def _extended_by_the_stream(params: Any = None) -> None:
    return None


def _open(exchange: Any, url: str) -> bool:
    """Whether ccxt's connection at ``url`` is open."""
    client = (exchange.clients or {}).get(url)
    connected = getattr(client, "connected", None)
    if connected is None or not connected.done() or connected.cancelled():
        return False
    return connected.exception() is None


class StreamedPolling:
    """``poll_events`` of a venue with a user stream: the stream's updates reported, and REST
    asked by the stream's state (see the module's docstring)."""

    def __init__(
        self,
        stream: UserStream,
        client: ExchangeClient,
        settings: CcxtSettings,
        orders: Orders,
        poller: Poller,
        reporter: OrderReporter,
    ) -> None:
        self._stream = stream
        self._client = client
        self._settings = settings
        self._orders = orders
        self._poller = poller
        self._reporter = reporter
        self._last_sweep: float | None = None
        # The connection whose reconciliation a poll found under way, and when.
        self._reconciling_since: tuple[int, float] | None = None
        # Updates taken from the stream's queue and not yet reported, and events made and not yet
        # returned (their fills count as reported once made): a poll interrupted (Ctrl-C in a
        # request) leaves them to the next one instead of losing them, as ``Poller`` does.
        self._unreported: list[StreamUpdate] = []
        self._undelivered: list[VenueEvent] = []

    def poll(self) -> list[VenueEvent]:
        events = self._undelivered
        self._report_updates(events)
        state, session = self._stream.session()
        now = self._client.clock()
        sweep_due = (
            self._last_sweep is None or now - self._last_sweep >= self._settings.user_stream_rest_sweep_s
        )
        if state == "up" and not sweep_due:
            events.extend(self._poller.poll(only=_needs_rest))
        else:
            events.extend(self._poller.poll())
            if not self._poller.cut_short:
                self._last_sweep = now
                if state == "reconciling":
                    self._reconcile(session, now)
        self._undelivered = []
        return events

    def _reconcile(self, session: int, now: float) -> None:
        """After a REST round about every order, reconciling connection ``session``: up once no
        order is left unanswered and the balance is read. An order left unanswered keeps it
        reconciling (the next poll asks about every order again), for ``user_stream_rest_sweep_s``
        at most: an order the exchange never answers about (a delisted market, an archived order)
        would refuse entries for good. It is then named in a warning, and asked about at every
        poll with the stream up (``_needs_rest``)."""
        if self._reconciling_since is None or self._reconciling_since[0] != session:
            self._reconciling_since = (session, now)
        waited = now - self._reconciling_since[1]
        unanswered = self._poller.unanswered
        if unanswered and waited < self._settings.user_stream_rest_sweep_s:
            return
        if not self._balance_read():
            return
        if unanswered:
            log.warning(
                "%s: reconciled with REST after %.1fs though the exchange gave no answer about %s; "
                "entries taken again, and those orders asked about at every poll",
                self._stream.name, waited, ", ".join(unanswered),
            )  # fmt: skip
        self._stream.reconciled(session)

    def _balance_read(self) -> bool:
        """Read the balance by REST for the account events (what the stream lost while down);
        False when it could not be read: the reconciliation is not complete, and the next poll
        or entry tries again."""
        account = self._stream.account
        if account.currency is None:
            return True
        # Stamped by the exchange's clock (the stream's frames are, and the kernel keeps the
        # newest) as the request leaves: a frame the exchange sends while it answers is newer.
        ahead_ms = self._client.exchange.options.get("timeDifference", 0) or 0
        asked_at = self._client.clock() - ahead_ms / 1000.0
        try:
            balance = self._client.account_call("fetch_balance")
        except Exception as exc:
            log.warning(
                "%s: the balance could not be read to reconcile the user stream (%s); read again "
                "at the next poll or entry", self._stream.name, self._client.error_text(exc),
            )  # fmt: skip
            return False
        account.rest_balance(balance, self._settings.market_type, asked_at)
        return True

    def _report_updates(self, events: list[VenueEvent]) -> None:
        """Add to ``events`` those of the order updates the stream queued, each fill reported once."""
        updates = self._unreported
        while True:
            try:
                updates.append(self._stream.updates.get_nowait())
            except Empty:
                break
        # The trades of every update of an order in this batch go with each: frames reordered
        # (a fill's after the order's next) still read as one whole, without asking REST.
        trades: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for update in updates:
            known = trades.setdefault(_order_key(update.order), {})
            known.update((str(t.get("id")), t) for t in update.trades if t.get("id") is not None)
        tracked_orders = self._orders.tracked
        while updates:
            events.extend(self._update_events(updates[0], trades))
            del updates[0]
        for key in [k for k, t in tracked_orders.items() if t.terminal]:
            del tracked_orders[key]

    def _update_events(
        self, update: StreamUpdate, trades: dict[tuple[str, str], dict[str, dict[str, Any]]]
    ) -> list[VenueEvent]:
        """Events of one update, read with every trade of its order in the batch (``trades``)."""
        tracked = self._tracked(update.order)
        if tracked is None or tracked.terminal:
            return []  # another process's order, or one already over here
        raw = dict(update.order)
        raw["trades"] = list(trades[_order_key(raw)].values())
        try:
            return self._reporter.order_events(tracked, raw)
        except Exception as exc:
            # Its next frame, or REST, says it again.
            log.warning(
                "%s: a streamed update of %s could not be read (%s)",
                self._stream.name, tracked.client_id, self._client.error_text(exc),
            )  # fmt: skip
            return []

    def _tracked(self, order: dict[str, Any]) -> TrackedOrder | None:
        """The order followed that ``order`` (an update) is of: by client order id, else by the
        exchange's id within the update's market (Binance's ids are unique only per market)."""
        client_id = str(order.get("clientOrderId") or "")
        exchange_id = str(order.get("id") or "")
        tracked_orders = self._orders.tracked.values()
        if client_id:
            for tracked in tracked_orders:
                if tracked.client_id == client_id:
                    return tracked
        if exchange_id:
            for tracked in tracked_orders:
                if tracked.exchange_order_id == exchange_id and tracked.symbol == order.get("symbol"):
                    return tracked
        return None

    def entry_refusal(self, order: VenueOrder) -> VenueEvent | None:
        """A REJECT of ``order`` when it is an entry and the stream is reconciling with orders
        followed, or its balance could not be read (RATE_LIMITED while the exchange throttles:
        the balance is read once it ends); else None."""
        state, session = self._stream.session()
        if state != "reconciling" or not order.is_entry:
            return None
        if not self._orders.following():
            # REST has no order to catch up on (and a runtime would not poll to find that out):
            # once the balance lost while down is read, the reconciliation is complete. An
            # unreadable balance refuses the entry, as during any reconciliation.
            if not self._client.throttled() and self._balance_read() and self._stream.reconciled(session):
                return None
            if self._client.throttled():  # before the read, or its answer: the refusal says when it ends
                return self._orders.rate_limited(order)
        self._stream.note_entry_refused()
        unanswered = self._poller.unanswered
        waiting = f" (no answer yet about {', '.join(unanswered)})" if unanswered else ""
        return self._reporter.event(
            order,
            KernelEventKind.REJECT,
            VenueOrderStatus.REJECTED,
            reason=f"{self._stream.name}: entry refused while the user-data stream reconciles with "
            f"REST after a reconnect{waiting}; exits and cancels still go",
        )


def _order_key(order: dict[str, Any]) -> tuple[str, str]:
    """An exchange order's market and id: the id alone is unique only within the market."""
    return str(order.get("symbol")), str(order.get("id"))


def _needs_rest(tracked: TrackedOrder) -> bool:
    """Whether ``tracked`` is asked about by REST while the stream is up: a submit in doubt (the
    stream shows an order only once it is placed), an order owing trades or whose trade list
    could not be read, one whose last question got no answer (the stream reconciled without
    it), or one whose cancel's outcome is unknown (an order it left working sends no frame)."""
    return (
        tracked.unresolved_since is not None
        or tracked.cancel_unknown_since is not None
        or tracked.ended_at is not None
        or tracked.trades_missing_since is not None
        or tracked.trades_unread
        or tracked.unanswered
    )
