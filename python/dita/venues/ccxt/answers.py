"""Reading the figures of ccxt's answers (orders, trades, books), which an exchange may send as
anything: text, None, a number past a float's range."""

from __future__ import annotations

import math
from typing import Any

from dita.venues.ccxt.settings import by_lineage

__all__ = [
    "ORDER_STATUSES",
    "number",
    "order_status",
    "placed_answer",
    "trade_amount",
    "trade_id_only",
    "trade_ms",
    "trade_sequence",
]

# The statuses of ccxt's orders: any other is an exchange's own word that ccxt passed on.
ORDER_STATUSES = frozenset({"open", "closed", "canceled", "expired", "rejected"})
# Exchanges' words for how an order ended that ccxt passes on as its status: each is over by the
# exchange's own rule, what it filled counted (read as closed, short of its size or not). Gate's
# ``finish_as`` (ccxt maps filled, cancelled, ioc, liquidated): self-trade prevention, a post-only
# or fill-or-kill order that would not rest or fill whole, a remainder too small, the book or the
# counterparties too thin, a liquidation's cancel, and on futures reduce-only, position-closed,
# auto-deleveraging and reduce-out ends.
_END_WORDS = {
    "gate": frozenset({
        "stp", "poc", "fok", "small", "depth_not_enough", "trader_not_enough", "liquidate_cancelled",
        "reduce_only", "position_closed", "auto_deleveraged", "reduce_out",
    }),
}  # fmt: skip


def number(value: Any) -> float:
    """``value`` as a float; NaN when the exchange sent something that is not a number, and
    infinite for an integer past a float's range (``10**400``), as the text ``"1e400"`` reads:
    refused wherever a figure that is not finite is (float() alone raises OverflowError there)."""
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return math.nan
    except OverflowError:
        return -math.inf if value < 0 else math.inf


def order_status(raw: dict[str, Any], exchange_class: Any) -> Any:
    """The status of ``raw`` (a ccxt order of ``exchange_class``'s exchange): ccxt's, or closed
    for an exchange's own word for an end (``_END_WORDS``) that ccxt passes on. Another word is
    returned as it is (the caller warns of it)."""
    status = raw.get("status")
    return "closed" if status in (by_lineage(exchange_class, _END_WORDS) or ()) else status


def trade_amount(trade: dict[str, Any]) -> float:
    """The trade's amount; 0 when it or the trade's price is not a positive number (the trade
    is not reported)."""
    amount, price = number(trade.get("amount")), number(trade.get("price"))
    return amount if all(v > 0 and math.isfinite(v) for v in (amount, price)) else 0.0


def trade_id_only(trade: dict[str, Any]) -> bool:
    """Whether ``trade`` (one of an order answer's) names a trade without giving it: no amount
    and no price (Kraken's order query lists its trades' ids only)."""
    return trade.get("amount") is None and trade.get("price") is None


def placed_answer(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw``, the answer to an order's placing, its trades that do not say maker or taker
    (Binance's fills: ccxt leaves them None) said taker's: they traded on the order's arrival.
    A polled trade that does not say is left unsaid, for the kernel to read."""
    trades = raw.get("trades")
    if not trades:
        return raw
    return {
        **raw,
        "trades": [
            dict(t, takerOrMaker="taker") if t.get("takerOrMaker") is None and not trade_id_only(t) else t
            for t in trades
        ],
    }


# The last millisecond a datetime holds (9999-12-31 23:59:59 UTC): the kernel refuses a later
# time, and an event or order stamped so could not be made.
LAST_MS = 253_402_300_799_000.0


def time_ms(value: object) -> float | None:
    """An exchange's time in milliseconds; None when absent, not a time, or past ``LAST_MS``
    (a time in microseconds, say)."""
    ms = number(value)
    return ms if 0 < ms <= LAST_MS else None


def trade_ms(trade: dict[str, Any]) -> float | None:
    """The trade's timestamp (milliseconds); None when absent or not a time (``time_ms``)."""
    return time_ms(trade.get("timestamp"))


def trade_sequence(trade: dict[str, Any]) -> tuple[float, int, int, str]:
    """Where ``trade`` comes among an order's trades, oldest first: by its time, then, within a
    millisecond, by its id, a number's as a number (Binance's ids count up: as text,
    ``"10000000"`` would come before ``"9999999"``), ahead of ids that are not numbers."""
    trade_id = str(trade.get("id"))
    numeric = trade_id.isdecimal()
    return trade_ms(trade) or 0.0, 0 if numeric else 1, int(trade_id) if numeric else 0, trade_id
