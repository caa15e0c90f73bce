"""A local Binance USD-M futures exchange on 127.0.0.1 for the user-data stream tests: the spot
server of ``binance_streams.py`` (its faults drawn by seed, its connections, weights and ban)
with the futures API in place of spot's. One account in one-way mode (each market's position
``BOTH``, signed), cross margin, USDT its wallet.

What it speaks, as ccxt.pro's binance follows a USD-M account (``authenticate`` with type
linear): the REST endpoints the venue calls (``/fapi/v1/exchangeInfo``, ``/fapi/v1/time``,
``/fapi/v1/order`` POST/GET/DELETE, ``/fapi/v1/userTrades``, ``/fapi/v1/openOrders``,
``/fapi/v3/account``, ``/fapi/v3/positionRisk``, ``/fapi/v1/leverageBracket``, and
``/fapi/v1/depth``, the market's book as spot's depth gives it) and the listen
key's: ``POST /fapi/v1/listenKey`` answers the account's active key (a new one once it expired),
``PUT`` keeps it alive (-1125 for a key that does not exist), ``DELETE`` closes it. The stream is
the listen key's connection: ``/ws/<listenKey>`` and ``/private/ws/<listenKey>`` as Binance
documents it, and ``/private/ws?listenKey=<listenKey>``, where ccxt 4.5.90 dials it; a connection
with a key that is not the active one is closed. No subscribe request: the account's events come
unwrapped on a connection from its start. The events are Binance's documented frames:
``ORDER_TRADE_UPDATE`` (the order under ``o``; execution types NEW, TRADE, CANCELED),
``ACCOUNT_UPDATE`` (reason ``m``, balances ``B`` with ``wb``/``cw``/``bc``, positions ``P`` with
``pa``/``ep``/``up``) and ``listenKeyExpired``. Source: Binance's USDS-M futures API
documentation, "User Data Streams" (developers.binance.com/docs/derivatives/usds-margined-futures/
user-data-streams: "Start User Data Stream", "Event: Order Update", "Event: Balance and Position
Update", "Event: User Data Stream Expired") and "General Info: LIMITS" (request weights).

Faults are the spot server's (``StreamFaults``, ``FUTURES_FAULT_KINDS``) but for
``eventStreamTerminated``, which the listen-key stream does not send: ``expire_listen_key`` is how
the subscription ends here, and it expires the key, so the client's next POST gets a new one.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from binance_streams import (
    FIXTURES,
    FRAME_FAULTS,
    BinanceStreamServer,
    SimOrder,
    SimTrade,
    StreamFaults,
    _Connection,
    _now_ms,
    _text,
)

# Binance USD-M futures' request weight (IP) per endpoint; GET /fapi/v1/openOrders weighs 1 for
# one symbol and 40 for all. A new order weighs 0 on the address (it counts on the order limits).
FUTURES_REQUEST_WEIGHTS = {
    "GET /fapi/v1/time": 1,
    "GET /fapi/v1/exchangeInfo": 1,
    "POST /fapi/v1/order": 0,
    "GET /fapi/v1/order": 1,
    "DELETE /fapi/v1/order": 1,
    "GET /fapi/v1/openOrders": 1,
    "GET /fapi/v1/userTrades": 5,
    "GET /fapi/v3/account": 5,
    "GET /fapi/v3/positionRisk": 5,
    "GET /fapi/v1/leverageBracket": 1,
    "POST /fapi/v1/listenKey": 1,
    "PUT /fapi/v1/listenKey": 1,
    "DELETE /fapi/v1/listenKey": 1,
}

FUTURES_FAULT_KINDS = (*(f for f in FRAME_FAULTS if f != "terminate"), "ban")

_SETTLE = "USDT"


def futures_faults(seed: int, rate: float = 0.08) -> StreamFaults:
    """The spot server's seeded faults without ``terminate`` (no eventStreamTerminated here)."""
    faults = StreamFaults.seeded(seed, rate)
    faults.terminate = 0.0
    return faults


class BinanceFuturesServer(BinanceStreamServer):
    """The USD-M futures exchange: ``positions`` (signed, per market id) and ``wallet`` (USDT
    wallet balance: realised profit in, commissions out) are its truth, with ``orders`` and
    ``trades``; ``listen_key`` the account's active key (None once expired or closed)."""

    thread_name = "binance-futures-streams"
    exchange_info_fixture = "binance/usdm_exchange_info.json"
    rest_prefix = "/fapi/"
    request_weights = FUTURES_REQUEST_WEIGHTS
    all_symbols_weights = {"GET /fapi/v1/openOrders": 40}
    not_banned_on = ("GET /fapi/v1/time", "GET /fapi/v1/exchangeInfo")
    order_event = "ORDER_TRADE_UPDATE"

    def __init__(self, faults: StreamFaults | None = None, **options: Any) -> None:
        # Set before the server's thread starts: its routes read them.
        self.positions: dict[str, float] = {}
        self.entry_prices: dict[str, float] = {}
        self.realized: dict[str, float] = {}
        self.wallet = 1_000_000.0
        self.listen_key: str | None = None
        self.listen_keys_made = 0
        # A market given (``market=``) trades and answers its depth at /fapi/v1/depth.
        self._books = options.get("market") is not None
        self._listen_key_numbers = itertools.count(1)
        super().__init__(faults, **options)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/fapi/v1/time", self._server_time)
        app.router.add_get("/fapi/v1/exchangeInfo", self._exchange_info_answer)
        app.router.add_post("/fapi/v1/order", self._new_order)
        app.router.add_get("/fapi/v1/order", self._query_order)
        app.router.add_delete("/fapi/v1/order", self._cancel_order)
        app.router.add_get("/fapi/v1/userTrades", self._my_trades)
        app.router.add_get("/fapi/v1/openOrders", self._open_orders)
        app.router.add_get("/fapi/v3/account", self._account)
        app.router.add_get("/fapi/v3/positionRisk", self._position_risk)
        app.router.add_get("/fapi/v1/leverageBracket", self._leverage_bracket)
        if self._books:
            app.router.add_get("/fapi/v1/depth", self.market.depth)
            self.market.run_on(app)
        app.router.add_post("/fapi/v1/listenKey", self._new_listen_key)
        app.router.add_put("/fapi/v1/listenKey", self._keep_listen_key)
        app.router.add_delete("/fapi/v1/listenKey", self._close_listen_key)
        app.router.add_get("/ws/{listenKey}", self._websocket)
        app.router.add_get("/private/ws/{listenKey}", self._websocket)
        app.router.add_get("/private/ws", self._websocket)

    def position(self, market_id: str = "BTCUSDT") -> float:
        return self.positions.get(market_id, 0.0)

    def close_position_itself(self, client_id: str, price: float, market_id: str = "BTCUSDT") -> SimTrade:
        """The exchange closing the account's whole position in ``market_id`` itself at ``price``,
        by a MARKET order of its own under ``client_id``: Binance's ``adl_autoclose`` for an
        auto-deleveraging, ``autoclose-<ms>`` for a liquidation (its docs, "Event: Order Update").
        Its ORDER_TRADE_UPDATE and ACCOUNT_UPDATE go out on the stream."""

        def close() -> Any:
            held = self.positions.get(market_id, 0.0)
            assert held, f"no position in {market_id} to close"
            side = "SELL" if held > 0 else "BUY"
            size = abs(held)
            order_id = next(self._order_ids)
            order = SimOrder(order_id, market_id, client_id, side, "MARKET", size, 0.0, _now_ms())
            self.orders[order.order_id] = order
            return self._trade(order, size, price, maker=False)

        result: SimTrade = self._call(close)
        return result

    # -- the listen key --------------------------------------------------------------------

    async def _new_listen_key(self, request: web.Request) -> web.Response:
        if self.listen_key is None:
            self.listen_key = f"futures-listen-key-{next(self._listen_key_numbers)}"
            self.listen_keys_made += 1
        return web.json_response({"listenKey": self.listen_key})

    async def _keep_listen_key(self, request: web.Request) -> web.Response:
        if self.listen_key is None:
            return self._error(-1125, "This listenKey does not exist.")
        return web.json_response({"listenKey": self.listen_key})

    async def _close_listen_key(self, request: web.Request) -> web.Response:
        self.listen_key = None
        return web.json_response({})

    def _accepted(self, connection: _Connection, request: web.Request) -> bool:
        """The listen key's connection: subscribed from its start while the key is active."""
        key = request.match_info.get("listenKey") or request.query.get("listenKey")
        if key is None or key != self.listen_key:
            return False
        connection.subscribed = True
        self.subscriptions += 1
        return True

    def _listen_key_expired(self) -> dict[str, Any]:
        expired, self.listen_key = self.listen_key, None
        return {"e": "listenKeyExpired", "E": _now_ms(), "listenKey": expired or ""}

    async def _request(self, connection: _Connection, request: dict[str, Any]) -> None:
        # The listen key's stream takes no requests of the account's (SUBSCRIBE is for markets).
        answer = {"id": request.get("id"), "error": {"code": 2, "msg": "Invalid request"}}
        await connection.ws.send_str(json.dumps(answer))

    @staticmethod
    def _framed(event: dict[str, Any]) -> str:
        return json.dumps(event)

    @staticmethod
    def _is_fill(event: dict[str, Any]) -> bool:
        return bool(event.get("o", {}).get("x") == "TRADE")

    # -- REST answers ----------------------------------------------------------------------

    def _order_answer(self, order: SimOrder, fills: list[SimTrade] | None = None) -> dict[str, Any]:
        # A futures order's answer carries no fills: its trades are listed by userTrades.
        average = order.quote / order.executed if order.executed else 0.0
        return {
            "orderId": order.order_id,
            "symbol": order.symbol,
            "status": order.status,
            "clientOrderId": order.client_id,
            "price": _text(order.price),
            "avgPrice": _text(average),
            "origQty": _text(order.quantity),
            "executedQty": _text(order.executed),
            "cumQty": _text(order.executed),
            "cumQuote": _text(order.quote),
            "timeInForce": "GTC",
            "type": order.order_type,
            "reduceOnly": order.reduce_only,
            "closePosition": False,
            "side": order.side,
            "positionSide": "BOTH",
            "stopPrice": "0.00",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": order.order_type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "time": order.created_ms,
            "updateTime": order.updated_ms or order.created_ms,
        }

    def _trade_answer(self, trade: SimTrade) -> dict[str, Any]:
        return {
            "buyer": trade.is_buyer,
            "commission": _text(trade.commission),
            "commissionAsset": _SETTLE,
            "id": trade.trade_id,
            "maker": trade.is_maker,
            "orderId": trade.order_id,
            "price": _text(trade.price),
            "qty": _text(trade.quantity),
            "quoteQty": _text(trade.price * trade.quantity),
            "realizedPnl": _text(self.realized.get(str(trade.trade_id), 0.0)),
            "side": "BUY" if trade.is_buyer else "SELL",
            "positionSide": "BOTH",
            "symbol": trade.symbol,
            "time": trade.time_ms,
        }

    def _unrealized(self, market_id: str) -> float:
        entry = self.entry_prices.get(market_id, 0.0)
        return self.positions.get(market_id, 0.0) * (self.market_price - entry)

    async def _account(self, request: web.Request) -> web.Response:
        unrealized = sum(self._unrealized(s) for s in self.positions)
        asset = {
            "asset": _SETTLE,
            "walletBalance": _text(self.wallet),
            "unrealizedProfit": _text(unrealized),
            "marginBalance": _text(self.wallet + unrealized),
            "crossWalletBalance": _text(self.wallet),
            "availableBalance": _text(self.wallet + unrealized),
            "maxWithdrawAmount": _text(self.wallet),
            "updateTime": self.account_updated_ms,
        }
        positions = [
            {"symbol": s, "positionSide": "BOTH", "positionAmt": _text(amount),
             "unrealizedProfit": _text(self._unrealized(s)), "updateTime": self.account_updated_ms}
            for s, amount in self.positions.items()
        ]  # fmt: skip
        answer = {
            "totalWalletBalance": _text(self.wallet),
            "totalUnrealizedProfit": _text(unrealized),
            "totalMarginBalance": _text(self.wallet + unrealized),
            "availableBalance": _text(self.wallet + unrealized),
            "assets": [asset],
            "positions": positions,
        }
        return web.json_response(answer)

    async def _position_risk(self, request: web.Request) -> web.Response:
        answer = [
            {
                "symbol": s,
                "positionSide": "BOTH",
                "positionAmt": _text(amount),
                "entryPrice": _text(self.entry_prices.get(s, 0.0)),
                "markPrice": _text(self.market_price),
                "unRealizedProfit": _text(self._unrealized(s)),
                "liquidationPrice": "0",
                "isolatedMargin": "0",
                "notional": _text(amount * self.market_price),
                "marginAsset": _SETTLE,
                "isolatedWallet": "0",
                "updateTime": self.account_updated_ms,
            }
            for s, amount in self.positions.items()
        ]
        return web.json_response(answer)

    async def _leverage_bracket(self, request: web.Request) -> web.Response:
        return web.json_response(json.loads((FIXTURES / "binance/usdm_leverage_bracket.json").read_text()))

    # -- matching --------------------------------------------------------------------------

    def _settle(self, trade: SimTrade) -> None:
        """The position moves by the trade; what it closes is realised into the wallet at the
        entry price, less the commission; what it opens (or turns to) enters at the trade's price."""
        held = self.positions.get(trade.symbol, 0.0)
        entry = self.entry_prices.get(trade.symbol, 0.0)
        signed = trade.quantity if trade.is_buyer else -trade.quantity
        realized = 0.0
        if held == 0.0 or (held > 0) == (signed > 0):
            entry = (abs(held) * entry + trade.quantity * trade.price) / (abs(held) + trade.quantity)
        else:
            closed = min(abs(signed), abs(held))
            realized = closed * (trade.price - entry) * (1.0 if held > 0 else -1.0)
            if abs(signed) > abs(held):
                entry = trade.price
        after = round(held + signed, 8)
        self.positions[trade.symbol] = after
        self.entry_prices[trade.symbol] = entry if after else 0.0
        self.realized[str(trade.trade_id)] = realized
        self.wallet = round(self.wallet + realized - trade.commission, 8)

    async def _send_account_after(self, trade: SimTrade) -> None:
        """The ``ACCOUNT_UPDATE`` Binance sends when a trade changes the balance and position."""
        self.account_updated_ms = trade.time_ms
        symbol = trade.symbol
        position = {
            "s": symbol,
            "pa": _text(self.positions[symbol]),
            "ep": _text(self.entry_prices.get(symbol, 0.0)),
            "bep": _text(self.entry_prices.get(symbol, 0.0)),
            "cr": _text(sum(self.realized.values())),
            "up": _text(self._unrealized(symbol)),
            "mt": "cross",
            "iw": "0",
            "ps": "BOTH",
            "ma": _SETTLE,
        }
        balance = {"a": _SETTLE, "wb": _text(self.wallet), "cw": _text(self.wallet), "bc": "0"}
        await self._broadcast(
            {"e": "ACCOUNT_UPDATE", "E": _now_ms(), "T": trade.time_ms,
             "a": {"m": "ORDER", "B": [balance], "P": [position]}}
        )  # fmt: skip

    def deposit(self, asset: str, amount: float, *, streamed: bool = True) -> None:
        """A transfer into the futures wallet: an ``ACCOUNT_UPDATE`` of reason DEPOSIT (not
        ``streamed``: a frame the exchange never sent, which only REST shows)."""

        async def credit() -> None:
            self.wallet = round(self.wallet + amount, 8)
            now = _now_ms()
            self.account_updated_ms = now
            if streamed:
                wallet = _text(self.wallet)
                balance = {"a": asset, "wb": wallet, "cw": wallet, "bc": _text(amount)}
                update = {"m": "DEPOSIT", "B": [balance], "P": []}
                await self._broadcast({"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": update})

        self._call(credit)

    # -- the stream ------------------------------------------------------------------------

    def _execution_report(self, order: SimOrder, execution: str, trade: SimTrade | None) -> dict[str, Any]:
        """Binance's ``ORDER_TRADE_UPDATE`` of ``order`` after ``execution`` (NEW, TRADE, CANCELED)."""
        now = _now_ms()
        average = order.quote / order.executed if order.executed else 0.0
        update = {
            "s": order.symbol,
            "c": order.client_id,
            "S": order.side,
            "o": order.order_type,
            "f": "GTC",
            "q": _text(order.quantity),
            "p": _text(order.price),
            "ap": _text(average),
            "sp": "0",
            "x": execution,
            "X": order.status,
            "i": order.order_id,
            "l": _text(trade.quantity if trade else 0.0),
            "z": _text(order.executed),
            "L": _text(trade.price if trade else 0.0),
            "T": trade.time_ms if trade else (order.updated_ms or order.created_ms),
            "t": trade.trade_id if trade else 0,
            "b": "0",
            "a": "0",
            "m": bool(trade and trade.is_maker),
            "R": order.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": order.order_type,
            "ps": "BOTH",
            "cp": False,
            "rp": _text(self.realized.get(str(trade.trade_id), 0.0) if trade else 0.0),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        }
        if trade is not None:
            # Binance pushes the commission only with one.
            update.update({"N": _SETTLE, "n": _text(trade.commission)})
        return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": update["T"], "o": update}


@contextmanager
def futures_streaming(faults: StreamFaults | None = None, **options: Any) -> Iterator[BinanceFuturesServer]:
    server = BinanceFuturesServer(faults, **options)
    try:
        yield server
    finally:
        server.close()
