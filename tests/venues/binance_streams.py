"""A local Binance spot exchange on 127.0.0.1 for the user-data stream tests: REST and the
WebSocket API on one port, one account, orders matched when a test says so, and faults injected
by seed on the stream.

What it speaks, as ccxt.pro's binance uses it for a spot account: the REST endpoints the venue
calls (``/api/v3/exchangeInfo``, ``order`` POST/GET/DELETE, ``myTrades``, ``account``,
``openOrders``), and the WebSocket API at ``/ws-api/v3`` with its
``userDataStream.subscribe.signature`` request, answered ``{"id", "status": 200, "result":
{"subscriptionId": 0}}``, after which the account's events come wrapped as ``{"subscriptionId":
0, "event": {...}}``. The events are Binance's documented frames: ``executionReport`` (execution
types NEW, TRADE, CANCELED; order statuses NEW, PARTIALLY_FILLED, FILLED, CANCELED),
``outboundAccountPosition``, ``balanceUpdate``, ``eventStreamTerminated`` and
``listenKeyExpired``. Source: Binance's spot API documentation, "User Data Streams for Binance"
(developers.binance.com/docs/binance-spot-api-docs/user-data-stream), "WebSocket API: User Data
Stream requests" and "LIMITS" (request weights, ``X-MBX-USED-WEIGHT-1M``, 429 and 418).

Every REST request adds its documented request weight (``REQUEST_WEIGHTS``) to the address's
count for the current minute, answered in the ``X-MBX-USED-WEIGHT-1M`` header as Binance does;
``weight_used`` keeps the total, for a test or a benchmark to read.

``eventStreamTerminated`` is how the WebSocket API says a subscription ended (the listen key's
expiry, ``listenKeyExpired``, on the older ``/ws/<listenKey>`` streams): the connection stays
open and nothing more comes on it. The server pings each connection as Binance does (every
``ping_s``) and answers the client's pings, except while a connection is made stale.

Faults (``StreamFaults``), drawn per frame from ``random.Random(seed)``: the connection dropped
before a frame (the frame lost, as is every frame sent while nobody is subscribed), a frame sent
twice, a frame held back and sent after the next, a fill frame never sent, the subscription
terminated (``eventStreamTerminated``) or its listen key expired (``listenKeyExpired``), and the
connection gone silent (no frames, no pings, no pongs) until the client drops it. Whatever the
stream loses, REST tells the truth. And drawn per REST request, a ban: the address is banned for
``ban_s`` seconds by ``ban_clock``, every REST request answered HTTP 418 with ``Retry-After`` and
Binance's -1003 body, the WebSocket API's subscription refused alike; a request that arrives
after the ban was answered and before it ends is counted (``sent_while_banned``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from binance_market import BinanceMarket

FIXTURES = Path(__file__).parent / "fixtures"
SUBSCRIPTION_ID = 0

# Binance spot's request weight (IP) per endpoint: GET /api/v3/openOrders weighs 6 for one
# symbol and 80 for all (``ALL_SYMBOLS_WEIGHTS``). Binance's spot API documentation; ccxt's
# binance lists the same as its costs (a fifth of the weight).
REQUEST_WEIGHTS = {
    "GET /api/v3/time": 1,
    "GET /api/v3/exchangeInfo": 20,
    "GET /api/v3/ticker/24hr": 2,  # for 1-20 symbols; 80 for all
    "POST /api/v3/order": 1,
    "GET /api/v3/order": 4,
    "DELETE /api/v3/order": 1,
    "GET /api/v3/openOrders": 6,
    "GET /api/v3/myTrades": 20,
    "GET /api/v3/account": 20,
    "POST /api/v3/userDataStream": 2,
    "PUT /api/v3/userDataStream": 2,
    "DELETE /api/v3/userDataStream": 2,
}
ALL_SYMBOLS_WEIGHTS = {"GET /api/v3/openOrders": 80}

# Requests a ban is never drawn on: those of loading the markets, before trading starts.
NOT_BANNED_ON = ("GET /api/v3/time", "GET /api/v3/exchangeInfo")

# Fault kinds drawn per frame, and per REST request.
FRAME_FAULTS = ("drop", "duplicate", "reorder", "lose_fill", "terminate", "expire_listen_key", "stale")
FAULT_KINDS = (*FRAME_FAULTS, "ban")


@dataclass
class StreamFaults:
    """Chances, per frame, of each fault; ``seed`` makes a run repeatable."""

    seed: int = 0
    drop: float = 0.0  # close the connection instead of sending the frame
    duplicate: float = 0.0
    reorder: float = 0.0  # hold an order update back until the next one is sent
    lose_fill: float = 0.0  # a TRADE executionReport never sent
    terminate: float = 0.0  # eventStreamTerminated instead of the frame
    expire_listen_key: float = 0.0  # listenKeyExpired instead of the frame
    stale: float = 0.0  # the connection goes silent instead of sending the frame
    ban: float = 0.0  # per REST request: the address banned (HTTP 418) for ``ban_s``
    # Binance's bans last from 2 minutes to 3 days; a seeded ban draws one of these.
    ban_s: tuple[float, ...] = (120.0, 600.0, 7200.0)

    @classmethod
    def seeded(cls, seed: int, rate: float = 0.08) -> StreamFaults:
        """Every fault at ``rate`` (a subscription's end, a silence and a ban less often), mixed
        by ``seed``."""
        return cls(
            seed,
            drop=rate,
            duplicate=rate,
            reorder=rate,
            lose_fill=rate,
            terminate=rate / 4,
            expire_listen_key=rate / 4,
            stale=rate / 2,
            ban=rate / 8,
        )


@dataclass
class SimOrder:
    order_id: int
    symbol: str
    client_id: str
    side: str
    order_type: str
    quantity: float
    price: float
    created_ms: int
    status: str = "NEW"
    executed: float = 0.0
    quote: float = 0.0
    updated_ms: int = 0
    reduce_only: bool = False


@dataclass
class SimTrade:
    trade_id: int
    order_id: int
    symbol: str
    price: float
    quantity: float
    commission: float
    is_buyer: bool
    is_maker: bool
    time_ms: int
    # The currency the commission is taken in: the quote (USDT), or the base a buy receives (BTC).
    commission_asset: str = "USDT"


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    subscribed: bool = False
    silent: bool = False
    held: list[dict[str, Any]] = field(default_factory=list)


def _text(value: float) -> str:
    return f"{value:.8f}"


def _now_ms() -> int:
    return int(time.time() * 1000)


class BinanceStreamServer:
    """The exchange: ``url`` for ccxt's ``base_url``; ``fill`` trades a resting order;
    ``trades``, ``balances`` and ``orders`` are its truth. Runs its own thread and loop.

    Another market's server (USD-M futures, ``binance_futures_streams.py``) derives from it and
    changes what differs: the class attributes below, the routes, the answers' and frames' shapes,
    what a trade does to the account, and how a connection subscribes."""

    thread_name = "binance-streams"
    exchange_info_fixture = "binance/spot_exchange_info.json"
    rest_prefix = "/api/"
    request_weights = REQUEST_WEIGHTS
    all_symbols_weights = ALL_SYMBOLS_WEIGHTS
    not_banned_on = NOT_BANNED_ON
    # The frame of an order update: the one the faults hit (the venue books from it).
    order_event = "executionReport"

    def __init__(
        self,
        faults: StreamFaults | None = None,
        *,
        ping_s: float = 0.1,
        fee_rate: float = 0.001,
        market: BinanceMarket | None = None,
        commission_asset: str = "USDT",
    ) -> None:
        self.faults = faults or StreamFaults()
        # The public side: market streams, depth snapshots and klines (``binance_market.py``).
        self.market = market or BinanceMarket()
        self._rng = random.Random(self.faults.seed)
        self.ping_s = ping_s
        self.fee_rate = fee_rate
        # Spot: the quote (USDT), or BTC, taken from the base a buy receives (a BNB-less account
        # trading with the base as its commission currency).
        self.commission_asset = commission_asset
        self.market_price = 90000.0
        self.balances: dict[str, float] = {"BTC": 0.0, "USDT": 1_000_000.0, "ETH": 0.0}
        # When a balance last changed (Binance's account ``updateTime``), in ms.
        self.account_updated_ms = _now_ms()
        self.orders: dict[int, SimOrder] = {}
        self.trades: list[SimTrade] = []
        self.frames_sent: list[dict[str, Any]] = []
        self.faults_injected: dict[str, int] = {}
        self.subscriptions = 0
        # How far the server's clock is ahead of this machine's (behind when negative).
        self.clock_offset_s = 0.0
        # The answer to every subscription request while set (``status`` and ``error``).
        self.subscribe_refusal: dict[str, Any] | None = None
        # Every REST request, as "METHOD /path".
        self.requests: list[str] = []
        # Faults the next frames suffer, whatever the seed draws (a test's scripted fault).
        self.forced: list[str] = []
        # The answers (HTTP status, body) the next cancels get without being carried out.
        self.cancels_failing: list[tuple[int, dict[str, Any]]] = []
        # The answers (HTTP status, body) the next requests of the account get.
        self.account_failing: list[tuple[int, dict[str, Any]]] = []
        # While set, requests of the account wait unanswered (an exchange that is slow); cleared
        # at close, so no request is left waiting.
        self.account_held = threading.Event()
        # The answers (HTTP status, body) the next listings of the open orders get.
        self.open_orders_failing: list[tuple[int, dict[str, Any]]] = []
        # The answers (HTTP status, body, headers) the next requests of the server's time get.
        self.time_failing: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        # Request weight: the total, and the current minute's (Binance's window is the minute).
        self.weight_used = 0
        self._weight_minute = -1
        self._weight_1m = 0
        # The ban: until when (by ``ban_clock``, a test's clock where the venue runs on one),
        # whether a 418 has told the client, and what arrived after it did.
        self.ban_clock: Callable[[], float] = time.time
        self.banned_until: float | None = None
        self._ban_answered = False
        self.sent_while_banned = 0
        self.subscribes_while_banned = 0
        self._order_ids = itertools.count(28_500_000)
        self._trade_ids = itertools.count(7_000_000)
        self._connections: list[_Connection] = []
        self._exchange_info = json.loads((FIXTURES / self.exchange_info_fixture).read_text())
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the local Binance server did not start")

    # -- the server's own thread ---------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._record])
        self._routes(app)
        self._runner = web.AppRunner(app, handle_signals=False)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        self._loop.run_forever()

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/time", self._server_time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info_answer)
        app.router.add_post("/api/v3/order", self._new_order)
        app.router.add_get("/api/v3/order", self._query_order)
        app.router.add_delete("/api/v3/order", self._cancel_order)
        app.router.add_get("/api/v3/myTrades", self._my_trades)
        app.router.add_get("/api/v3/account", self._account)
        app.router.add_get("/api/v3/openOrders", self._open_orders)
        app.router.add_get("/ws-api/v3", self._websocket)
        self.market.mount(app)

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(self.rest_prefix):
            answered: web.StreamResponse = await handler(request)
            return answered
        call = f"{request.method} {request.path}"
        self.requests.append(call)
        used = self._add_weight(call, request)
        response: web.StreamResponse
        if self._banned(call):
            response = self._ban_answer()
        else:
            response = await handler(request)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        return response

    def request_weight(self, call: str, query: dict[str, str]) -> int:
        """Binance's weight of ``call`` ("METHOD /path") with ``query``."""
        if call in self.all_symbols_weights and "symbol" not in query:
            return self.all_symbols_weights[call]
        return self.request_weights.get(call, 1)

    def _add_weight(self, call: str, request: web.Request) -> int:
        """Add ``call``'s weight to the minute's; returns the minute's used weight, this call's in."""
        weight = self.request_weight(call, dict(request.query))
        minute = self._server_ms() // 60_000
        if minute != self._weight_minute:
            self._weight_minute, self._weight_1m = minute, 0
        self._weight_1m += weight
        self.weight_used += weight
        return self._weight_1m

    # -- the ban -------------------------------------------------------------------------

    def ban(self, seconds: float) -> None:
        """Ban the address for ``seconds`` by ``ban_clock`` from now (a test's scripted ban)."""
        self._call(lambda: self._start_ban(seconds))

    def _start_ban(self, seconds: float) -> None:
        self.banned_until = self.ban_clock() + seconds
        self._ban_answered = False
        self.faults_injected["ban"] = self.faults_injected.get("ban", 0) + 1

    def is_banned(self) -> bool:
        if self.banned_until is not None and self.ban_clock() >= self.banned_until:
            self.banned_until = None
        return self.banned_until is not None

    def _banned(self, call: str) -> bool:
        """Whether ``call`` is answered by the ban: one in force (counted when it was already
        answered), or one the seed starts with it."""
        if self.is_banned():
            if self._ban_answered:
                self.sent_while_banned += 1
            return True
        if call in self.not_banned_on or not self.faults.ban or self._rng.random() >= self.faults.ban:
            return False
        self._start_ban(self._rng.choice(self.faults.ban_s))
        return True

    def _ban_error(self) -> tuple[dict[str, Any], int, int]:
        """Binance's -1003 body of a ban, its Retry-After in seconds and its end (server ms); the
        ban counts as answered."""
        assert self.banned_until is not None
        self._ban_answered = True
        wait_s = max(self.banned_until - self.ban_clock(), 0.0)
        until_ms = self._server_ms() + int(wait_s * 1000)
        body = {
            "code": -1003,
            "msg": f"Way too many requests; IP(127.0.0.1) banned until {until_ms}. "
            "Please use the websocket for live updates to avoid bans.",
        }
        return body, math.ceil(wait_s), until_ms

    def _ban_answer(self) -> web.Response:
        body, retry_after, _ = self._ban_error()
        return web.json_response(body, status=418, headers={"Retry-After": str(retry_after)})

    def rest_calls(self, method: str, path: str) -> int:
        return self.requests.count(f"{method} {path}")

    def inject(self, *faults: str) -> None:
        """Make the next frames suffer ``faults`` in turn (``FRAME_FAULTS``), whatever the seed draws."""
        self._call(lambda: self.forced.extend(faults))

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (where all its state changes) and return its result."""

        async def run() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.account_held.clear()

        async def stop() -> None:
            for connection in list(self._connections):
                await connection.ws.close()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()  # its self-pipe's sockets with it

    # -- REST ----------------------------------------------------------------------------

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.can_read_body:
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    @staticmethod
    def _error(code: int, msg: str, status: int = 400) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def _server_time(self, request: web.Request) -> web.Response:
        # The venue syncs its signing clock with this at each markets load.
        if self.time_failing:
            status, body, headers = self.time_failing.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return web.json_response({"serverTime": self._server_ms()})

    def _server_ms(self) -> int:
        return int((time.time() + self.clock_offset_s) * 1000)

    def _timestamp_refused(self, params: dict[str, Any]) -> bool:
        """Binance's -1021: a signed request's timestamp ahead of the server's by more than a
        second, or behind by more than its recvWindow."""
        timestamp = int(params.get("timestamp", 0))
        now = self._server_ms()
        return timestamp > now + 1000 or now - timestamp > int(params.get("recvWindow", 5000))

    async def _exchange_info_answer(self, request: web.Request) -> web.Response:
        return web.json_response(self._exchange_info)

    def _found(self, params: dict[str, str]) -> SimOrder | None:
        if "orderId" in params:
            return self.orders.get(int(params["orderId"]))
        client_id = params.get("origClientOrderId")
        return next((o for o in self.orders.values() if o.client_id == client_id), None)

    def _order_answer(self, order: SimOrder, fills: list[SimTrade] | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_id,
            "price": _text(order.price),
            "origQty": _text(order.quantity),
            "executedQty": _text(order.executed),
            "cummulativeQuoteQty": _text(order.quote),
            "status": order.status,
            "timeInForce": "GTC",
            "type": order.order_type,
            "side": order.side,
            "time": order.created_ms,
            "transactTime": order.created_ms,
            "updateTime": order.updated_ms or order.created_ms,
            "isWorking": order.status in ("NEW", "PARTIALLY_FILLED"),
            "workingTime": order.created_ms,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if fills is not None:
            answer["fills"] = [
                {
                    "price": _text(t.price),
                    "qty": _text(t.quantity),
                    "commission": _text(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.trade_id,
                }
                for t in fills
            ]
        return answer

    async def _new_order(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if any(o.client_id == params.get("newClientOrderId") for o in self.orders.values()):
            return self._error(-2010, "Duplicate order sent.")
        order = SimOrder(
            next(self._order_ids),
            params["symbol"],
            params["newClientOrderId"],
            params["side"],
            params["type"],
            float(params["quantity"]),
            float(params.get("price") or 0.0),
            _now_ms(),
            reduce_only=params.get("reduceOnly") == "true",
        )
        self.orders[order.order_id] = order
        await self._send_execution(order, "NEW")
        fills: list[SimTrade] = []
        if order.order_type == "MARKET":
            fills.append(await self._trade(order, order.quantity, self.market_price, maker=False))
        return web.json_response(self._order_answer(order, fills))

    async def _query_order(self, request: web.Request) -> web.Response:
        order = self._found(await self._params(request))
        if order is None:
            return self._error(-2013, "Order does not exist.")
        return web.json_response(self._order_answer(order))

    async def _cancel_order(self, request: web.Request) -> web.Response:
        if self.cancels_failing:
            status, body = self.cancels_failing.pop(0)
            return web.json_response(body, status=status)
        order = self._found(await self._params(request))
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            return self._error(-2011, "Unknown order sent.")
        order.status = "CANCELED"
        order.updated_ms = _now_ms()
        await self._send_execution(order, "CANCELED")
        answer = self._order_answer(order)
        answer["origClientOrderId"] = order.client_id
        return web.json_response(answer)

    async def _my_trades(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        order_id = int(params["orderId"]) if "orderId" in params else None
        from_id = int(params.get("fromId") or 0)
        limit = int(params.get("limit") or 500)
        listed = [
            t
            for t in self.trades
            if t.symbol == params.get("symbol") and order_id in (None, t.order_id) and t.trade_id >= from_id
        ][:limit]
        return web.json_response([self._trade_answer(t) for t in listed])

    @staticmethod
    def _trade_answer(trade: SimTrade) -> dict[str, Any]:
        return {
            "symbol": trade.symbol,
            "id": trade.trade_id,
            "orderId": trade.order_id,
            "orderListId": -1,
            "price": _text(trade.price),
            "qty": _text(trade.quantity),
            "quoteQty": _text(trade.price * trade.quantity),
            "commission": _text(trade.commission),
            "commissionAsset": trade.commission_asset,
            "time": trade.time_ms,
            "isBuyer": trade.is_buyer,
            "isMaker": trade.is_maker,
            "isBestMatch": True,
        }

    async def _account(self, request: web.Request) -> web.Response:
        while self.account_held.is_set():
            await asyncio.sleep(0.02)
        if self.account_failing:
            status, body = self.account_failing.pop(0)
            return web.json_response(body, status=status)
        balances = [{"asset": a, "free": _text(v), "locked": _text(0.0)} for a, v in self.balances.items()]
        answer = {"accountType": "SPOT", "canTrade": True, "balances": balances, "permissions": ["SPOT"]}
        return web.json_response({**answer, "updateTime": self.account_updated_ms})

    async def _open_orders(self, request: web.Request) -> web.Response:
        if self.open_orders_failing:
            status, body = self.open_orders_failing.pop(0)
            return web.json_response(body, status=status)
        working = [o for o in self.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")]
        return web.json_response([self._order_answer(o) for o in working])

    # -- matching ------------------------------------------------------------------------

    def fill(self, client_id: str, quantity: float | None = None, price: float | None = None) -> SimTrade:
        """Trade ``quantity`` (default: all that is left) of the resting order sent as ``client_id``
        at ``price`` (default: its limit), as a maker; its frames go out on the stream."""

        def trade() -> Any:
            order = next(o for o in self.orders.values() if o.client_id == client_id)
            left = order.quantity - order.executed
            return self._trade(order, min(quantity or left, left), price or order.price, maker=True)

        result: SimTrade = self._call(trade)
        return result

    def cancel(self, client_id: str) -> None:
        """Cancel the working order sent as ``client_id`` on the exchange's side: a cancel request
        it carries out late, or one made on its website; its frame goes out on the stream."""

        async def cancel() -> None:
            order = next(o for o in self.orders.values() if o.client_id == client_id)
            assert order.status in ("NEW", "PARTIALLY_FILLED"), order
            order.status = "CANCELED"
            order.updated_ms = _now_ms()
            await self._send_execution(order, "CANCELED")

        self._call(cancel)

    def position(self, market_id: str = "BTCUSDT") -> float:
        """The account's position in ``market_id``: spot, the base currency it holds."""
        return self.balances[self._exchange_info_base(market_id)]

    def _exchange_info_base(self, market_id: str) -> str:
        return next(str(m["baseAsset"]) for m in self._exchange_info["symbols"] if m["symbol"] == market_id)

    def order(self, client_id: str) -> SimOrder:
        return next(o for o in list(self.orders.values()) if o.client_id == client_id)

    async def _trade(self, order: SimOrder, quantity: float, price: float, *, maker: bool) -> SimTrade:
        now = _now_ms()
        buyer = order.side == "BUY"
        in_base = buyer and self.commission_asset == "BTC"
        commission = round(quantity * (1.0 if in_base else price) * self.fee_rate, 8)
        trade = SimTrade(
            next(self._trade_ids),
            order.order_id,
            order.symbol,
            price,
            quantity,
            commission,
            buyer,
            maker,
            now,
            "BTC" if in_base else "USDT",
        )
        self.trades.append(trade)
        order.executed = round(order.executed + quantity, 8)
        order.quote += quantity * price
        order.updated_ms = now
        order.status = "FILLED" if order.executed >= order.quantity - 1e-12 else "PARTIALLY_FILLED"
        self._settle(trade)
        await self._send_execution(order, "TRADE", trade)
        await self._send_account_after(trade)
        return trade

    def _settle(self, trade: SimTrade) -> None:
        """What ``trade`` does to the account: spot, the base bought or sold for the quote."""
        sign = 1.0 if trade.is_buyer else -1.0
        in_base = trade.commission_asset == "BTC"
        self.balances["BTC"] = round(
            self.balances["BTC"] + sign * trade.quantity - (trade.commission if in_base else 0.0), 8
        )
        self.balances["USDT"] -= sign * trade.quantity * trade.price + (0.0 if in_base else trade.commission)

    async def _send_account_after(self, trade: SimTrade) -> None:
        await self._send_account_position(trade.time_ms, ("BTC", "USDT"))

    async def _send_account_position(self, updated_ms: int, assets: tuple[str, ...]) -> None:
        """The ``outboundAccountPosition`` Binance sends whenever a balance changed."""
        self.account_updated_ms = updated_ms
        balances = [{"a": a, "f": _text(self.balances[a]), "l": _text(0.0)} for a in assets]
        await self._broadcast(
            {"e": "outboundAccountPosition", "E": _now_ms(), "u": updated_ms, "B": balances}
        )

    def deposit(self, asset: str, amount: float, *, streamed: bool = True) -> None:
        """A deposit: the balance grows, and a ``balanceUpdate`` then an ``outboundAccountPosition``
        go out (not ``streamed``: frames the exchange never sent, which only REST shows)."""

        async def credit() -> None:
            self.balances[asset] = self.balances.get(asset, 0.0) + amount
            now = _now_ms()
            if not streamed:
                self.account_updated_ms = now
                return
            await self._broadcast({"e": "balanceUpdate", "E": now, "a": asset, "d": _text(amount), "T": now})
            await self._send_account_position(now, (asset,))

        self._call(credit)

    # -- the stream ----------------------------------------------------------------------

    def _execution_report(self, order: SimOrder, execution: str, trade: SimTrade | None) -> dict[str, Any]:
        """Binance's ``executionReport`` of ``order`` after ``execution`` (NEW, TRADE, CANCELED)."""
        canceled = execution == "CANCELED"
        return {
            "e": "executionReport",
            "E": _now_ms(),
            "s": order.symbol,
            # A cancel's report carries the cancel request's own id in c, the order's in C.
            "c": f"cancel-{order.order_id}" if canceled else order.client_id,
            "S": order.side,
            "o": order.order_type,
            "f": "GTC",
            "q": _text(order.quantity),
            "p": _text(order.price),
            "P": _text(0.0),
            "F": _text(0.0),
            "g": -1,
            "C": order.client_id if canceled else "",
            "x": execution,
            "X": order.status,
            "r": "NONE",
            "i": order.order_id,
            "l": _text(trade.quantity if trade else 0.0),
            "z": _text(order.executed),
            "L": _text(trade.price if trade else 0.0),
            "n": _text(trade.commission if trade else 0.0),
            "N": trade.commission_asset if trade else None,
            "T": trade.time_ms if trade else (order.updated_ms or order.created_ms),
            "t": trade.trade_id if trade else -1,
            "I": 0,
            "w": order.status in ("NEW", "PARTIALLY_FILLED"),
            "m": bool(trade and trade.is_maker),
            "M": False,
            "O": order.created_ms,
            "Z": _text(order.quote),
            "Y": _text(trade.price * trade.quantity if trade else 0.0),
            "Q": _text(0.0),
            "W": order.created_ms,
            "V": "EXPIRE_MAKER",
        }

    async def _send_execution(self, order: SimOrder, execution: str, trade: SimTrade | None = None) -> None:
        await self._broadcast(self._execution_report(order, execution, trade))

    def _chance(self, name: str, rate: float) -> bool:
        forced = bool(self.forced) and self.forced[0] == name
        if forced:
            self.forced.pop(0)
        hit = forced or (rate > 0 and self._rng.random() < rate)
        if hit:
            self.faults_injected[name] = self.faults_injected.get(name, 0) + 1
        return hit

    async def _broadcast(self, event: dict[str, Any]) -> None:
        """Send ``event`` to every subscribed connection, through the faults."""
        self.frames_sent.append(event)
        for connection in [c for c in self._connections if c.subscribed and not c.silent]:
            await self._deliver(connection, event)

    async def _deliver(self, connection: _Connection, event: dict[str, Any]) -> None:
        faults = self.faults
        if event.get("e") != self.order_event:
            # Faults hit order updates, which the venue books from; balances go as they are.
            await self._send(connection, event)
            return
        fill = self._is_fill(event)
        if self._chance("drop", faults.drop):
            await connection.ws.close()
            return
        if fill and self._chance("lose_fill", faults.lose_fill):
            return
        if self._chance("terminate", faults.terminate):
            connection.subscribed = False
            await self._send(connection, {"e": "eventStreamTerminated", "E": _now_ms()})
            return
        if self._chance("expire_listen_key", faults.expire_listen_key):
            # The listen key's expiry, as the listen-key streams say it: the subscription ends.
            connection.subscribed = False
            await self._send(connection, self._listen_key_expired())
            return
        if self._chance("stale", faults.stale):
            connection.silent = True
            return
        if self._chance("reorder", faults.reorder):
            connection.held.append(event)
            return
        frames = [event, *connection.held]
        connection.held = []
        if self._chance("duplicate", faults.duplicate):
            frames.append(event)
        for frame in frames:
            await self._send(connection, frame)

    @staticmethod
    def _is_fill(event: dict[str, Any]) -> bool:
        return event.get("x") == "TRADE"

    def _listen_key_expired(self) -> dict[str, Any]:
        return {"e": "listenKeyExpired", "E": _now_ms(), "listenKey": "expired"}

    @staticmethod
    def _framed(event: dict[str, Any]) -> str:
        """``event`` as the connection carries it: the WebSocket API wraps it with its subscription."""
        return json.dumps({"subscriptionId": SUBSCRIPTION_ID, "event": event})

    async def _send(self, connection: _Connection, event: dict[str, Any]) -> None:
        if not connection.ws.closed:
            try:
                await connection.ws.send_str(self._framed(event))
            except ConnectionResetError:
                # The peer went (a process killed) before the connection says closed: its frame
                # is lost, as at an exchange; raised, it would fail the order call that sent it.
                return

    def drop_connections(self) -> None:
        """Close every stream connection now (a network drop)."""

        async def drop() -> None:
            for connection in list(self._connections):
                await connection.ws.close()

        self._call(drop)

    def connected(self) -> int:
        """Connections subscribed to the account's events now."""
        return int(self._call(lambda: sum(1 for c in self._connections if c.subscribed and not c.ws.closed)))

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        connection = _Connection(ws)
        if not self._accepted(connection, request):
            await ws.close()
            return ws
        self._connections.append(connection)
        pinger = asyncio.ensure_future(self._ping(connection))
        try:
            async for message in ws:
                if connection.silent:
                    continue
                if message.type == WSMsgType.PING:
                    await ws.pong(message.data)
                elif message.type == WSMsgType.TEXT:
                    await self._request(connection, json.loads(message.data))
        finally:
            pinger.cancel()
            self._connections.remove(connection)
        return ws

    def _accepted(self, connection: _Connection, request: web.Request) -> bool:
        """Whether the connection is taken; the WebSocket API's subscribes by request (``_request``)."""
        return True

    async def _ping(self, connection: _Connection) -> None:
        while not connection.ws.closed:
            await asyncio.sleep(self.ping_s)
            if not connection.silent and not connection.ws.closed:
                await connection.ws.ping()

    async def _request(self, connection: _Connection, request: dict[str, Any]) -> None:
        if request.get("method") == "userDataStream.subscribe.signature":
            if self.subscribe_refusal is not None:
                answer: dict[str, Any] = {"id": request.get("id"), **self.subscribe_refusal}
            elif self.is_banned():
                # The ban is the address's: the WebSocket API refuses it too, in the shape of
                # Binance's WebSocket API docs ("Rate limits": status 418, the ban's end in the
                # message and in data.retryAfter, epoch ms, beside data.serverTime).
                if self._ban_answered:
                    self.subscribes_while_banned += 1
                error, _, until_ms = self._ban_error()
                answer = {
                    "id": request.get("id"),
                    "status": 418,
                    "error": {**error, "data": {"serverTime": self._server_ms(), "retryAfter": until_ms}},
                }
            elif self._timestamp_refused(request.get("params", {})):
                answer = {
                    "id": request.get("id"),
                    "status": 400,
                    "error": {"code": -1021, "msg": "Timestamp outside of the recvWindow."},
                }
            elif not request.get("params", {}).get("apiKey"):
                answer = {
                    "id": request.get("id"),
                    "status": 401,
                    "error": {"code": -2015, "msg": "Invalid API-key."},
                }
            else:
                connection.subscribed = True
                self.subscriptions += 1
                answer = {
                    "id": request.get("id"),
                    "status": 200,
                    "result": {"subscriptionId": SUBSCRIPTION_ID},
                }
        else:
            answer = {
                "id": request.get("id"),
                "status": 400,
                "error": {"code": -1000, "msg": "unknown method"},
            }
        await connection.ws.send_str(json.dumps(answer))


@contextmanager
def streaming(faults: StreamFaults | None = None, **options: Any) -> Iterator[BinanceStreamServer]:
    server = BinanceStreamServer(faults, **options)
    try:
        yield server
    finally:
        server.close()
