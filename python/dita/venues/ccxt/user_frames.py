"""What the user stream follows and reads, per market type, as ccxt.pro's binance does it.

- Spot: ``authenticate`` subscribes on the WebSocket API (``userDataStream.subscribe.signature``)
  and the account's events come on that connection: ``executionReport`` (an order update, its
  trade with it), ``outboundAccountPosition`` and ``balanceUpdate``.
- USD-M futures (``linear``): ``authenticate`` asks REST for a listen key (``POST
  /fapi/v1/listenKey``, kept alive by a PUT every ``listenKeyRefreshRate``), and the first
  ``watch_*`` call dials the listen key's stream (``get_private_ws_url``), which the user stream
  keeps alive itself (``keep_alive``: ccxt 4.5.90 extends the key once only, its rescheduling
  reading its clients as dicts, and Binance expires a key an hour after its last extension); its
  events are
  ``ORDER_TRADE_UPDATE`` (the order update under ``o``) and ``ACCOUNT_UPDATE`` (balances ``B``,
  positions ``P``); ``listenKeyExpired`` ends it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STREAM_KINDS", "StreamKind", "StreamUpdate", "futures_account", "net_positions", "order_update"]


@dataclass(frozen=True)
class StreamKind:
    """How one market type's user stream is followed."""

    # The account type ``authenticate`` subscribes (ccxt's ``type`` parameter).
    auth_type: str
    # The ccxt.pro ``watch_*`` methods whose calls keep the subscriptions.
    watches: tuple[str, ...]
    # ccxt options of the stream's exchange.
    options: dict[str, Any] = field(default_factory=dict)
    # The ccxt call that extends the listen key, where there is one (``UserStream._keep_alive``).
    keep_alive: str | None = None

    def url(self, exchange: Any) -> str:
        """The address of the connection the account's events come on (its client's key in
        ``exchange.clients``), once ``authenticate`` has returned."""
        if self.auth_type == "spot":
            return str(exchange.urls["api"]["ws"]["ws-api"]["spot"])
        listen_key = exchange.options[self.auth_type]["listenKey"]
        return str(exchange.get_private_ws_url(self.auth_type, listen_key))


STREAM_KINDS = {
    "spot": StreamKind("spot", ("watch_orders", "watch_my_trades", "watch_balance")),
    "linear": StreamKind(
        "linear",
        ("watch_orders", "watch_my_trades", "watch_balance", "watch_positions"),
        # ccxt would read the positions by REST at each connection; the venue reconciles itself.
        {"watchPositions": {"fetchPositionsSnapshot": False}},
        keep_alive="fapiPrivatePutListenKey",
    ),
}


@dataclass(frozen=True)
class StreamUpdate:
    """An order update as ccxt parsed it, with the trades the frame and ccxt's cache name."""

    order: dict[str, Any]
    trades: list[dict[str, Any]]


def order_update(exchange: Any, report: dict[str, Any]) -> StreamUpdate:
    """The order of an order update (spot's ``executionReport``, futures' ``ORDER_TRADE_UPDATE``
    ``o``) as ccxt's cache has it after the frame (its trades included), and the frame's trade:
    ccxt attaches a trade only to an order it holds already."""
    # Futures' updates carry the position side, as ccxt tells them apart.
    market_type = "contract" if "ps" in report else "spot"
    symbol = exchange.safe_symbol(report.get("s"), None, None, market_type)
    cached = ((exchange.orders.hashmap if exchange.orders is not None else {}).get(symbol) or {}).get(
        str(report.get("i"))
    )
    order = copy.deepcopy(dict(cached)) if cached is not None else exchange.parse_ws_order(report)
    trades = [dict(t) for t in order.get("trades") or []]
    if report.get("x") == "TRADE":
        trades.append(exchange.parse_ws_trade(report))
    return StreamUpdate(order, trades)


def futures_account(frame: dict[str, Any]) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """An ``ACCOUNT_UPDATE``'s wallet balance per asset (``wb``) and signed position amount per
    market id and position side (``pa``): only what changed is in a frame."""
    update = frame.get("a")
    if not isinstance(update, dict):
        return {}, {}
    balances = {
        str(entry["a"]): float(entry["wb"])
        for entry in update.get("B") or []
        if isinstance(entry, dict) and "a" in entry and "wb" in entry
    }
    positions = {
        (str(entry["s"]), str(entry.get("ps", "BOTH"))): float(entry["pa"])
        for entry in update.get("P") or []
        if isinstance(entry, dict) and "s" in entry and "pa" in entry
    }
    return balances, positions


def net_positions(positions: dict[tuple[str, str], float]) -> dict[str, float]:
    """The net position per market id: the sum of its position sides' signed amounts."""
    net: dict[str, float] = {}
    for (market_id, _side), amount in positions.items():
        net[market_id] = net.get(market_id, 0.0) + amount
    return net
