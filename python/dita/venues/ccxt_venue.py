"""CcxtVenue: live exchanges through the ccxt library (Binance spot and USD-M futures first).

What this adapter guarantees, because each is a way live bots lose money:

- Orders go out with a client order id derived from the kernel's, so an order whose submit
  timed out is found again by that id; it is never assumed rejected. When the lookup cannot
  tell either, ``submit`` raises ``VenueTimeout`` and ``poll_events`` keeps looking.
- Fills are keyed by the exchange's trade id and reported once, however many times the
  order's status or trade list is read; the two fills of a self-trade (two of the account's
  orders matched with each other, one trade id) are told apart by their orders. A fill the
  exchange states whose trades never show is booked from the order at the best price known of
  it after a wait, never dropped; with no price known, the kernel is left holding it as owed.
- A throttling answer (HTTP 429/418) becomes a RATE_LIMITED event carrying the retry time
  the exchange asked for; until then the adapter sends nothing (it answers RATE_LIMITED
  itself), and ccxt's own request pacing stays on.
- Sizes and prices that are not already on the market's lot and tick are refused here
  instead of being truncated silently by ccxt into a different order.
- A spot market buy goes out sized in base units or not at all, never with its size read as
  the quote currency to spend; user options that would allow that, or resend orders, are refused.
- API keys come from environment variables and are scrubbed from every message this adapter
  produces (events, exceptions, logs); ``repr`` only says whether credentials are set.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, Literal, NamedTuple, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dita._kernel import KernelEventKind, OrderSide, OrderType, VenueEvent, VenueOrder, VenueOrderStatus
from dita._numbers import Count, Number, OptionalNumber
from dita.risk import KERNEL_MIN_STEP, MarketLimits
from dita.venues import VenueTimeout, VenueUnavailable, order_status_asset
from dita.venues._events import BoundedIdSet, OrderEvents
from dita.venues._settings import VenueInputs, VenueName

__all__ = ["CcxtSettings", "CcxtVenue", "TopOfBook"]

log = logging.getLogger("dita.venues.ccxt")

# Binance's rule for client order ids; ids outside it are replaced by a stable hash.
_CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
# Exchanges whose client order ids follow other rules than Binance's (above, used for the
# rest): OKX takes letters and digits only, up to 32; Bybit letters, digits, - and _, up to 36;
# Kraken free text up to 18 or a UUID;
# Gate "t-" then letters, digits, _ - and ., and ccxt refuses more than 28 in all (it adds the
# "t-" to an id not starting with "t", so "trend-1" would go out unprefixed and be refused).
# A kernel id (`<kernel_id>-<n>`) breaks OKX's and Gate's rules, so there every order goes out
# under the stable hash.
_CLIENT_ID_RULES = {
    "okx": (re.compile(r"^[A-Za-z0-9]{1,32}$"), "dita", 28),
    "bybit": (re.compile(r"^[A-Za-z0-9_-]{1,36}$"), "dita-", 31),
    "gate": (re.compile(r"^t-[A-Za-z0-9_.-]{1,26}$"), "t-", 26),
    # Kraken's cl_ord_id: free text up to 18, or a UUID (the hash goes out as a short one, 32 hex).
    "kraken": (re.compile(r"^[A-Za-z0-9_.:/-]{1,18}$"), "", 32),
}


def _lineage(exchange_class: Any) -> list[str]:
    """The names of a ccxt exchange class and of those it derives from (``binanceusdm``,
    ``binance``, ...): an exchange ccxt derives from another speaks its API."""
    return [c.__name__ for c in getattr(exchange_class, "__mro__", ())]


def _client_id_rule(exchange: str) -> tuple[re.Pattern[str], str, int]:
    """The client order id rule of ``exchange``: its own, or that of the exchange ccxt derives
    it from (OKX's EEA and US sites ``myokx``, ``okxus``, Bybit's ``bybiteu``, ``bybitid``: the
    same API under another name, and Gate's ``gateeu``)."""
    import ccxt  # imported by the time an order goes out; only a bare call pays for it

    lineage = _lineage(getattr(ccxt, exchange, None)) or [exchange]
    for name in lineage:
        if name in _CLIENT_ID_RULES:
            return _CLIENT_ID_RULES[name]
    return _CLIENT_ID_RE, "dita-", 31


class _OrderLists(NamedTuple):
    """How an order is found on an exchange whose order query (ccxt's ``fetch_order``) cannot
    find it: in its open, then its closed order list (ccxt's methods), filtered by the
    parameter of its client id, or of its order id (None: the order query finds it by that).
    ``account_wide``: the lists are the account's whatever the market asked for (ccxt keeps
    that market's orders from the answer), so one request of each covers every market."""

    methods: tuple[str, str]
    client_id_param: str
    order_id_param: str | None
    account_wide: bool = False


# Exchanges (and those ccxt derives from them) whose orders are found in their order lists.
# Kraken's query takes an order id or a ``userref`` (an integer): ccxt sends a client id there
# as the userref with the order id "None", so no order was ever found; its lists filter by
# ``cl_ord_id`` (ccxt's ``clientOrderId``). On a Bybit unified account (the default) ccxt's
# query refuses to run (ArgumentsRequired: it sees the last 500 orders only), and would send a
# client id as ``clientOrderId``, where Bybit's field is ``orderLinkId``. ccxt's closed list there
# (fetch_closed_orders) asks for filled orders only: fetch_canceled_and_closed_orders has every end.
_ORDER_LISTS = {
    "kraken": _OrderLists(("fetch_open_orders", "fetch_closed_orders"), "clientOrderId", None, True),
    "bybit": _OrderLists(("fetch_open_orders", "fetch_canceled_and_closed_orders"), "orderLinkId", "orderId"),
}
# The parameter by which an exchange's trade list (ccxt's fetch_my_trades, which passes it on
# as given) keeps one order's trades: Binance's and Bybit's ``orderId`` where not named here.
# Kraken's list has none (""): it answers the account's latest trades, of which the order's are
# kept (read only where the order's answer does not name its trades: ``_TRADES_BY_ID``), and
# Binance's ``orderId`` went on to Kraken's TradesHistory as given. Gate's ``order_id`` filters
# its spot list (a swap's is in ``_ORDER_TRADE_LISTS``).
_TRADES_ORDER_PARAM = {"okx": "ordId", "gate": "order_id", "kraken": ""}


def _gate_swap_trades(
    exchange: Any, symbol: str, since: int | None, limit: int | None, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """A Gate swap's trades from Gate's ``my_trades`` list (``/futures/{settle}/my_trades``),
    parsed as ccxt's fetch_my_trades parses that of a swap."""
    market = exchange.market(symbol)
    request = {"settle": market["settleId"], "contract": market["id"], **params}
    if limit is not None:
        request["limit"] = limit
    trades: list[dict[str, Any]] = exchange.parse_trades(
        exchange.privateFuturesGetSettleMyTrades(request), market, since, limit
    )
    return trades


# Where an exchange's trade list of one market type is not the one ccxt's fetch_my_trades asks,
# the call that reads it (as fetch_my_trades is called) and its order parameter. For a swap ccxt
# asks Gate's ``my_trades_timerange``, which takes no order filter (Gate documents contract,
# from, to, limit, offset and role; ccxt's fetch_order_trades sends the spot's ``order_id``
# there, and so did this adapter): its answer was the contract's latest trades of any order, and
# a busy account's order's trades were not among them. Gate's ``my_trades`` takes ``order``.
_ORDER_TRADE_LISTS = {"gate": {"linear": (_gate_swap_trades, "order")}}


def _binance_next_page(page: list[dict[str, Any]], asked: dict[str, Any]) -> dict[str, Any] | None:
    """Binance: the trades from the page's last trade id on (``fromId``)."""
    ids = [int(t["id"]) for t in page if str(t.get("id") or "").isdigit()]
    return {"fromId": max(ids) + 1} if ids else None


def _bybit_next_page(page: list[dict[str, Any]], asked: dict[str, Any]) -> dict[str, Any] | None:
    """Bybit: the page its answer's ``nextPageCursor`` names (sent as ``cursor``; ccxt puts it in
    the ``info`` of one of the page's trades, and leaves it out on the last page)."""
    for trade in page:
        info = trade.get("info")
        cursor = info.get("nextPageCursor") if isinstance(info, dict) else None
        if cursor:
            return {"cursor": str(cursor)}
    return None


def _okx_next_page(page: list[dict[str, Any]], asked: dict[str, Any]) -> dict[str, Any] | None:
    """OKX: the fills before the page's oldest one, ``after`` its ``billId``. By bill, not by
    time: the fills of one sweep share a millisecond, and a page ending within it would skip
    the rest of it (ccxt's own ``paginate`` asks for those before the oldest one's time)."""
    bills = [
        int(bill)
        for trade in page
        if isinstance(trade.get("info"), dict) and (bill := str(trade["info"].get("billId") or "")).isdigit()
    ]
    return {"after": str(min(bills))} if bills else None


# Gate's spot trade list pages by number while limit * (page - 1) stays within 100,000 (its
# documented cap: a page past it is not asked for).
_GATE_LAST_PAGE_ROWS = 100_000


def _gate_next_page(page: list[dict[str, Any]], asked: dict[str, Any]) -> dict[str, Any] | None:
    """Gate (spot): the page after the one ``asked`` for (``page``, 1 when not sent), up to the
    last one Gate serves. ``page`` is full: its length is the limit asked for."""
    number = int(asked.get("page", 1)) + 1
    return {"page": number} if len(page) * (number - 1) <= _GATE_LAST_PAGE_ROWS else None


# The most time ranges an order's trades are read over (Gate's spot list: 30 days each, so the
# last year of the order's life; Bybit's: 7 days each, its last 12 weeks), and how far the
# exchange's clock is taken to run ahead of ours at most: an order's last update later than
# that is no time its trades can have.
_MOST_TRADE_RANGES = 12
_EXCHANGE_CLOCK_AHEAD_S = 86_400


def _time_ranges(start_s: int, end_s: int, window_s: int) -> list[tuple[int | None, dict[str, Any]]]:
    """``start_s`` to ``end_s`` (seconds) in ranges of ``window_s`` at most, each as ccxt's
    fetch_my_trades takes it (``since`` and the ``until`` parameter, in ms). Each ends on the
    second the next starts with: the list is asked for every second whether its end is taken in
    or not."""
    ranges: list[tuple[int | None, dict[str, Any]]] = []
    while True:
        stop = min(start_s + window_s, end_s)
        ranges.append((start_s * 1000, {"until": stop * 1000}))
        if stop >= end_s:
            return ranges
        start_s = stop


class _TradePages(NamedTuple):
    """How an exchange's trade list (ccxt's ``fetch_my_trades``) is read past its first page: the
    most trades a request may ask for, the parameters of the page after ``page``, given those
    of the request ``asked`` that brought it (None: there is none), and the market types
    (``market_type``) whose list is read so: elsewhere the first page only."""

    limit: int
    next_page: Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any] | None]
    market_types: tuple[str, ...] = ("spot", "linear")
    # The longest time range (seconds) one request may cover where the list, asked for none,
    # covers a recent one only: it is asked range after range over the order's life.
    window_s: int | None = None


# Driven here rather than by ccxt's ``paginate`` option: that retries a failed request and
# raises after, losing the pages read, reads on past the order's filled size, and on OKX pages
# by time. Binance: 500 trades a request unless asked for up to 1000; Bybit's execution list
# 50, up to 100, newest first; OKX's fill list 100 at most, newest first; Gate's spot list 100
# unless asked for up to 1000, by page number. Gate's spot list, asked for no time range
# (``from``, ``to``: ccxt sends fetch_my_trades' ``since`` and ``until`` as them), gives the
# last 7 days only, and a range may span 30 days at most: an order older than a week (taken over
# after a restart) had its older trades missed, and the rest booked from the order. Bybit's
# execution list is Gate's case with 7 days for both (``startTime``, ``endTime``: ccxt's
# ``since`` and ``until``), the order's id given or not. A Gate swap's list
# (``_ORDER_TRADE_LISTS``) is read one page.
_TRADE_PAGES = {
    "binance": _TradePages(1000, _binance_next_page),
    "bybit": _TradePages(100, _bybit_next_page, window_s=7 * 86_400),
    "okx": _TradePages(100, _okx_next_page),
    "gate": _TradePages(1000, _gate_next_page, ("spot",), window_s=30 * 86_400),
}
# Exchanges whose cancel takes an order's client id in place of its order id, in the same
# argument (ccxt's Gate puts it in the path and has no field for a client id: a cancel by
# ``clientOrderId`` went to ``/orders/None``). Gate takes the ``text`` there while the order works.
_CANCEL_BY_CLIENT_ID_AS_ID = {"gate": True}
# Exchanges whose order query names the order's trades by id, and whose trade query (ccxt's
# fetch_order_trades) takes those ids, at most this many a request: Kraken's trade list has no
# order filter, and a busy account's order's trades are not among its latest 50.
_TRADES_BY_ID = {"kraken": 20}

_T = TypeVar("_T")


def _by_lineage(exchange_class: Any, table: dict[str, _T]) -> _T | None:
    """The entry of ``table`` for the exchange of ``exchange_class`` or the nearest one ccxt
    derives it from; None when there is none."""
    for name in _lineage(exchange_class):
        if name in table:
            return table[name]
    return None


_SIGNATURE_RE = re.compile(r"(signature=)[0-9A-Za-z%+/=_-]+")
# Codes whose execution status is unknown (the request may have been carried out); ccxt maps
# them to different exception classes per endpoint family, so match the code. Binance's -1000,
# -1001, -1006 and -1007; Bybit's 5004 "Server Timeout", 10016 "System error", 170001 "Internal
# error", 170146 "Order creation timeout" and 170147 "Order cancellation timeout", answered in an
# HTTP 200's body and raised by ccxt as a bare ExchangeError or InvalidOrder: taken for a
# refusal, an order Bybit had placed was reported rejected, and its fills never booked.
_UNKNOWN_OUTCOME_RE = re.compile(
    r'"code"\s*:\s*-100[0167]\b|"retCode"\s*:\s*(?:5004|10016|170001|17014[67])\b|execution status unknown',
    re.IGNORECASE,
)

# ccxt's market type per setting, and the market kinds fetched by load_markets (ccxt options).
_CCXT_TYPES: dict[str, dict[str, Any]] = {
    "spot": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
    "linear": {"defaultType": "future", "fetchMarkets": {"types": ["linear"]}},
}
# Exchanges whose linear perpetuals ccxt fetches under other names. Gate's fetchMarkets types
# are spot, swap, future and option: asked for "linear" it loaded no market, and its "future"
# is its dated delivery contracts. Its perpetuals are "swap", fetched per settle currency, and
# the USDT-settled ones are the linear ones (ccxt's default also fetches the BTC-settled).
# OKX's types are the same four, each sent as its instType: "linear" went out as one OKX does
# not have. Its swaps hold the inverse ones too, which the markets' own `linear` flag leaves out.
_LINEAR_TYPES: dict[str, dict[str, Any]] = {
    "gate": {
        "defaultType": "swap",
        "fetchMarkets": {"types": ["swap"]},
        "swap": {"fetchMarkets": {"settlementCurrencies": ["usdt"]}},
    },
    "okx": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}},
}
# ccxt's order status -> the venue's, for the ones that are over; the rest still work. A
# "closed" order whose stated filled size is short of its size ended part filled: EXPIRED.
_ENDED_STATUSES = {
    "closed": VenueOrderStatus.FILLED,
    "canceled": VenueOrderStatus.CANCELED,
    "expired": VenueOrderStatus.EXPIRED,
    "rejected": VenueOrderStatus.REJECTED,
}


# ccxt options the adapter's guarantees rest on, and why a user's value for them is refused.
# ccxt reads each at the top of its options and inside a method's (``{"createOrder": {...}}``).
_RESEND = "ccxt would resend a request that failed on the network, and a resent order is a second order"
_COST = (
    "ccxt would send a spot market buy's amount as the cost to spend in quote currency, and "
    "dita's sizes are base units"
)
_UNSAFE_OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "maxRetriesOnFailure": (lambda v: v not in (None, 0), _RESEND),
    "createMarketBuyOrderRequiresPrice": (lambda v: v is not None and not v, _COST),
    "defaultCreateMarketBuyOrderRequiresPrice": (lambda v: v is not None and not v, _COST),
    "tgtCcy": (lambda v: v == "quote_ccy", _COST),  # OKX's unit of a spot market buy's amount
}


def _number(value: Any) -> float:
    """``value`` as a float; NaN when the exchange sent something that is not a number, and
    infinite for an integer past a float's range (``10**400``), as the text ``"1e400"`` reads:
    refused wherever a figure that is not finite is (float() raised OverflowError there)."""
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return math.nan
    except OverflowError:
        return -math.inf if value < 0 else math.inf


MAX_RETRY_AFTER_S = 600.0
"""The longest pause a Retry-After header is followed for: a larger one (or `inf`) is cut to it."""


def _retry_after_seconds(value: Any, now: float) -> float | None:
    """A Retry-After header's wait in seconds (0 at least): a number of seconds, or an HTTP
    date; None when it is neither (NaN included)."""
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, OverflowError):  # a year past any date's: OverflowError
            return None
        if when.tzinfo is None:  # an HTTP date is GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - now
    return max(seconds, 0.0) if not math.isnan(seconds) else None


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer ``exc`` was raised for: ccxt raises its error from (or
    while handling) the HTTP library's, which holds the response. None when there was none."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
        cause = cause.__cause__ or cause.__context__
    return None


def _qualified_order_id(market_id: str, exchange_order_id: str) -> str:
    """The kernel's id of an exchange order: ``<market id>:<exchange's id>`` ('' while it has
    none). Binance's order ids are unique only within a market, and the kernel's index of venue
    ids spans every market: two working orders of one id refused the second's ack and fills."""
    return f"{market_id}:{exchange_order_id}" if exchange_order_id else ""


def _exchange_order_id(market_id: str, venue_order_id: str) -> str:
    """The exchange's own id of an order in ``market_id`` the kernel knows as ``venue_order_id``:
    qualified with the market (``_qualified_order_id``), or bare, as a log written before ids
    were qualified holds it."""
    prefix = f"{market_id}:"
    return venue_order_id[len(prefix) :] if venue_order_id.startswith(prefix) else venue_order_id


def _never_acknowledged(order: VenueOrder) -> bool:
    """Whether the kernel never saw ``order`` acknowledged or filled: a submit in doubt (NEW), or
    an order in doubt (``orders_in_doubt()``: rate limited before its ack with a cancel asked,
    ended REJECTED and kept), which the exchange may show late if the throttled request was the
    cancel of a submit that timed out."""
    unheard = order.status in (VenueOrderStatus.NEW, VenueOrderStatus.REJECTED)
    return unheard and not order.venue_order_id and not order.filled_size > 0


def _trade_amount(trade: dict[str, Any]) -> float:
    """The trade's amount; 0 when it or the trade's price is not a positive number (the trade
    is not reported)."""
    amount, price = _number(trade.get("amount")), _number(trade.get("price"))
    return amount if all(v > 0 and math.isfinite(v) for v in (amount, price)) else 0.0


def _named_only(trade: dict[str, Any]) -> bool:
    """Whether ``trade`` (one of an order answer's) names a trade without giving it: no amount
    and no price (Kraken's order query lists its trades' ids only)."""
    return trade.get("amount") is None and trade.get("price") is None


def _placed_answer(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw``, the answer to an order's placing, its trades that do not say maker or taker
    (Binance's fills: ccxt leaves them None) said taker's: they traded on the order's arrival.
    A polled trade that does not say is left unsaid, for the kernel to read."""
    trades = raw.get("trades")
    if not trades:
        return raw
    return {
        **raw,
        "trades": [
            dict(t, takerOrMaker="taker") if t.get("takerOrMaker") is None and not _named_only(t) else t
            for t in trades
        ],
    }


def _trade_ms(trade: dict[str, Any]) -> float | None:
    """The trade's timestamp (milliseconds); None when absent or not a time."""
    ms = _number(trade.get("timestamp"))
    return ms if ms > 0 and math.isfinite(ms) else None


class TopOfBook(NamedTuple):
    """Best bid and ask, in ``PaperVenue.on_quote``'s argument order: ``paper.on_quote(*top)``."""

    asset: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    ts: float


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialized(method: Callable[Concatenate[CcxtVenue, _P], _R]) -> Callable[Concatenate[CcxtVenue, _P], _R]:
    """Run under the adapter's lock: the kernel's thread submits while a timer thread may
    poll, and neither ccxt's session nor the order book-keeping is safe to share."""

    def locked(self: CcxtVenue, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    locked.__name__ = method.__name__
    locked.__doc__ = method.__doc__
    # Its signature is the method's (reconciliation reads whether order_status takes an asset).
    locked.__wrapped__ = method  # type: ignore[attr-defined]
    return locked


class CcxtSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    exchange: str = Field(default="binance", min_length=1, description="ccxt exchange id")
    market_type: Literal["spot", "linear"] = Field(
        default="spot", description="spot, or linear (USD-M) perpetual futures"
    )
    name: VenueName | None = Field(default=None, description="venue name; default '<exchange>-<market_type>'")
    api_key_env: str = Field(default="DITA_CCXT_API_KEY", min_length=1)
    secret_env: str = Field(default="DITA_CCXT_SECRET", min_length=1)
    password_env: str | None = Field(default=None, description="for exchanges that need a passphrase")
    sandbox: bool = Field(default=False, description="use the exchange's testnet URLs")
    base_url: str | None = Field(
        default=None,
        description="send every API request to this scheme://host[:port] instead (a proxy or a "
        "recorded-exchange server); paths are kept",
    )
    timeout_ms: Count = Field(default=10_000, gt=0, description="HTTP timeout of one request")
    rate_limit_ms: OptionalNumber = Field(
        default=None, gt=0, description="ccxt's minimum spacing of requests; None keeps ccxt's value"
    )
    default_retry_after_s: Number = Field(
        default=1.0, gt=0, description="pause after a throttling answer that carries no Retry-After"
    )
    resolve_attempts: Count = Field(
        default=2, ge=1, description="lookups by client id after a timed-out submit"
    )
    resolve_delay_ms: Number = Field(default=250.0, ge=0, description="pause between those lookups")
    unknown_order_grace_s: Number = Field(
        default=30.0,
        gt=0,
        description="after a timed-out submit, how long the venue must keep saying 'no such order' "
        "(from its first such answer; lookups it did not answer do not count) before the order is "
        "reported rejected; of an order it acknowledged (purged), or one it says closed without "
        "stating its filled size or amount whose trades do not show all of it, before its end is "
        "reported with its filled size unknown",
    )
    missing_trades_wait_s: Number = Field(
        default=60.0,
        gt=0,
        description="how long an order the exchange says filled more than its trade list shows is "
        "asked about for those trades; then the rest is booked as one fill from the order's own "
        "filled size and average price (else its limit price, else its reference price; fee left "
        "to the kernel's model; with no price known, left owed to the kernel) and the order is "
        "asked about no more",
    )
    markets: list[str] | None = Field(
        default=None,
        min_length=1,
        description="the markets (ids or ccxt symbols) this venue trades: orders for others are "
        "refused, and order_status after a restart searches only these; None: every market of the "
        "market_type. Checked against the exchange's markets at construction",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="extra ccxt options; those that would resend orders or read a market buy's "
        "amount as a cost are refused",
    )

    @field_validator("options")
    @classmethod
    def _safe_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        places = list(options.items()) + [
            (f"{k}.{name}", value)
            for k, nested in options.items()
            if isinstance(nested, dict)
            for name, value in nested.items()
        ]
        for key, value in places:
            unsafe = _UNSAFE_OPTIONS.get(key.rsplit(".", 1)[-1])
            if unsafe is not None and unsafe[0](value):
                raise ValueError(f"{key}={value!r} refused: {unsafe[1]}")
        return options


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        return True


def _scrub_signatures(text: str) -> str:
    return _SIGNATURE_RE.sub(r"\1***", text)


def _guard_http_log() -> None:
    """urllib3 logs each request line, signed query string included, at DEBUG; scrub the
    signatures there too (once per process)."""
    http_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactingFilter) for f in http_log.filters):
        http_log.addFilter(_RedactingFilter(_scrub_signatures))


def _record_key(order: VenueOrder) -> str:
    """What the adapter keeps ``order``'s record by: its client order id, or, for an order
    without one (placed by hand: some exchanges give it none), its exchange id; under the
    empty id, or the id it goes out under (the one hash of ''), all such orders were one."""
    return order.client_order_id or f"venue:{order.venue_order_id}"


@dataclass
class _Tracked:
    """An order this adapter sent, and what it has reported about it."""

    order: VenueOrder
    client_id: str
    symbol: str
    market_id: str
    # The exchange's own id, as its API takes it (unique only within the market on Binance);
    # the kernel knows the order as ``venue_order_id``.
    exchange_order_id: str = ""
    filled: float = 0.0
    acked: bool = False
    terminal: bool = False
    cancel_requested: bool = False
    # Set when a submit timed out and the order has not been found yet.
    unresolved_since: float | None = None
    # When the exchange first answered "no such order" about it (since it last had it): the
    # grace runs from then, as a lookup that got no answer (unreachable, throttled) says
    # nothing about the order.
    not_found_since: float | None = None
    # When the end (cancel, expiry) was reported while the exchange counted more filled than
    # its trade list showed yet: the order is polled for those trades until they come.
    ended_at: float | None = None
    # The trades (``_fill_key``) reported as its fills, or booked before a restart, and the id
    # of a fill booked from the order: kept while it is followed, however many other fills the
    # process reports meanwhile (a memory shared by all orders forgot a resting order's first
    # trade, which was then reported again).
    reported: set[str] = field(default_factory=set)
    # What the fills reported so far cost (size x price): the rest of an order booked from its
    # own cost (``_fill_from_order``) is priced by what is left of it.
    booked_cost: float = 0.0
    # When the exchange first said closed an order whose trade list did not show all it filled
    # (or, stating no filled size, all of the order).
    trades_missing_since: float | None = None
    # The last answer about an order that is over with more filled than its trades show: the
    # fill is booked from it after the wait even when the order cannot be asked about by then.
    owed_answer: dict[str, Any] | None = None
    # An order taken over from before a restart: what the kernel had booked of it (its filled
    # size then) not yet matched to trades. Its oldest trades, up to that, were booked already.
    booked_unmatched: float = 0.0
    # An order taken over from a kernel whose log was written before ids were qualified: the
    # bare id that kernel holds. Its events name it so: the kernel refuses an event under
    # another venue id than its order carries (rules 35), and every fill of it was refused.
    kernel_order_id: str = ""

    @property
    def venue_order_id(self) -> str:
        """The order's id in the events for the kernel: the exchange's, qualified with its market
        (the bare id the kernel holds, for an order taken over from an older log)."""
        return self.kernel_order_id or _qualified_order_id(self.market_id, self.exchange_order_id)

    @property
    def event_key(self) -> str:
        """What the order's ack and end events are named by: its venue order id, or while the
        exchange gave it none (an answer without one) ``client:<client id>``. Under the empty
        id every such order's ack and end were one event, and the kernel refused a later
        order's as a duplicate: one whose end was refused stayed working for good. The qualified
        id, also for an order the kernel holds bare (``kernel_order_id``): its ids stay as they were."""
        return _qualified_order_id(self.market_id, self.exchange_order_id) or f"client:{self.client_id}"

    @property
    def order_key(self) -> str:
        """What the order's own fill ids are named by (a fill booked from the order, a fill of a
        trade another order reported): the exchange's bare id, as before ids were qualified (the
        same fill keeps its id), or while the exchange gave it none ``client:<client id>``. Under
        the empty id the fills of two such orders were one, and the kernel refused the second."""
        return self.exchange_order_id or f"client:{self.client_id}"


# How a fill booked from its order's own record (``_fill_from_order``) is priced, by source:
# said in its warning, and its ``metadata["price_source"]``.
_PRICE_SOURCES = {
    "average": "priced by the order's cost",
    "limit": "at its limit price, the exchange giving no cost or average (the fill's may be better)",
    "order_price": "at the exchange's price of the order, which gives no cost or average",
    "reference": (
        "at its reference price (the price it was sent at), the exchange giving no cost, average "
        "or price of the order (the fill's may differ)"
    ),
}


def market_limits(market: dict[str, Any], precision_mode: int, ccxt: Any) -> MarketLimits:
    """A ccxt market's trading rules. ccxt states a market's precision as a step
    (``TICK_SIZE``, most exchanges), a number of decimal places (``DECIMAL_PLACES``) or of
    significant digits (``SIGNIFICANT_DIGITS``: bitfinex, bithumb); the last has no fixed
    step, so the kernel rounds nothing there and the exchange's own rounding is checked at
    submit. Read as a step, a count of digits would round 0.3 BTC down to nothing (or 12 to
    10 with a precision of 5). A figure that is not a number is a ValueError naming it."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}

    def step(value: Any, field_name: str) -> float:
        if value is None:
            return 0.0
        if precision_mode == ccxt.TICK_SIZE:
            found = _market_figure(market, field_name, value)
        elif precision_mode == ccxt.DECIMAL_PLACES:
            places = int(_market_figure(market, field_name, value))
            if not -_MAX_PLACES <= places <= _MAX_PLACES:  # 10.0 ** 400 raised OverflowError
                raise ValueError(
                    f"market {market.get('id')!r} field {field_name!r}: {value!r} decimal places is "
                    f"outside -{_MAX_PLACES}..{_MAX_PLACES}"
                )
            found = 10.0**-places
        else:
            return 0.0
        # Finer than the kernel takes (18 decimal places): a float holds no such digits of a
        # size or price anyway, so the kernel rounds nothing and the exchange's own rounding
        # is checked at submit, as for significant digits.
        return 0.0 if 0 < found < KERNEL_MIN_STEP else found

    return MarketLimits(
        lot_step=step(precision.get("amount"), "precision.amount"),
        tick_size=step(precision.get("price"), "precision.price"),
        min_qty=_market_figure(market, "limits.amount.min", (limits.get("amount") or {}).get("min")),
        min_notional=_market_figure(market, "limits.cost.min", (limits.get("cost") or {}).get("min")),
    )


_MAX_PLACES = 300
"""The most decimal places (either way) a market's precision may give: 10.0 ** 309 is past a float."""


def _market_figure(market: dict[str, Any], field_name: str, value: Any) -> float:
    """``value``, the figure ``field_name`` of a ccxt ``market``, as a number (0 when absent); a
    ValueError naming the market, the field and the value when it is not a finite one (float()
    raised a bare "could not convert string to float", or OverflowError for ``10**400``)."""
    figure = _number(value)
    if not math.isfinite(figure):
        raise ValueError(f"market {market.get('id')!r} field {field_name!r}: {value!r} is not a number")
    return figure


class CcxtVenue:
    """``CcxtVenue(exchange="binance", market_type="spot", api_key_env=..., secret_env=...,
    sandbox=False, base_url=None, timeout_ms=10000, markets=None, ...)``; see ``CcxtSettings``.

    Assets are the exchange's market ids (``BTCUSDT``) or ccxt symbols (``BTC/USDT``,
    ``BTC/USDT:USDT``). Markets load on first use or with ``load_markets()``.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Any,
    ) -> None:
        self.settings = CcxtSettings.model_validate(settings)
        s = self.settings
        inputs = VenueInputs.model_validate({"clock": clock, "sleep": sleep})
        import ccxt  # deferred: ccxt takes most of a second to import and only live runs need it

        self._ccxt = ccxt
        if s.exchange not in ccxt.exchanges:
            raise ValueError(f"exchange {s.exchange!r} is not a ccxt exchange id")
        self.name = s.name or f"{s.exchange}-{s.market_type}"
        self._clock = inputs.clock or time.time
        self._sleep = inputs.sleep or time.sleep
        self._lock = threading.RLock()
        self._secrets = [v for v in (self._env(s.api_key_env), self._env(s.secret_env)) if v]
        if s.password_env:
            password = self._env(s.password_env)
            if password:
                self._secrets.append(password)
        # Each also as ccxt's request log (a dict's repr) and a JSON body show it: a backslash
        # or quote (a passphrase may hold any) comes out escaped there. Longest first, so a
        # form is scrubbed whole before a shorter one it contains.
        forms = {f for v in self._secrets for f in (v, repr(v)[1:-1], json.dumps(v)[1:-1])}
        self._secrets = sorted(forms, key=len, reverse=True)
        types = _CCXT_TYPES[s.market_type]
        if s.market_type == "linear":
            types = _by_lineage(getattr(ccxt, s.exchange), _LINEAR_TYPES) or types
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": s.timeout_ms,
            "options": {
                **types,
                # Both need extra private endpoints at load time; the adapter needs neither.
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                # Never let ccxt resend a request by itself: a resent order is a second order.
                "maxRetriesOnFailure": 0,
                **s.options,
            },
        }
        api_key, secret = self._env(s.api_key_env), self._env(s.secret_env)
        if api_key:
            config["apiKey"] = api_key
        if secret:
            config["secret"] = secret
        if s.password_env and self._env(s.password_env):
            config["password"] = self._env(s.password_env)
        self._exchange: Any = getattr(ccxt, s.exchange)(config)
        # ccxt logs every request with its headers (the API key among them) at DEBUG: give it
        # a logger of its own that scrubs credentials before any handler sees the record.
        wire_log = logging.getLogger(f"dita.venues.ccxt.wire.{self.name}")
        wire_log.filters = [_RedactingFilter(self._redact)]
        self._exchange.logger = wire_log
        _guard_http_log()
        self._require_market_buy_price()
        if s.rate_limit_ms is not None:
            self._exchange.rateLimit = s.rate_limit_ms
        if s.sandbox:
            # ccxt lists no testnet URL for many exchanges (its 'test' entry None or absent),
            # and switching then failed as a TypeError about a None.
            if not self._exchange.urls.get("test"):
                raise ValueError(f"sandbox=True: ccxt knows no testnet of {s.exchange!r}")
            self._exchange.set_sandbox_mode(True)
        if s.base_url is not None:
            self._point_at(s.base_url)
        self._events = OrderEvents(self.name)
        self._tracked: dict[str, _Tracked] = {}
        # The order a poll stopped at, throttled: the next poll starts there (see poll_events).
        self._poll_from: str | None = None
        # The trades (``_fill_key``) an order of this process reported a fill of: another order's
        # fill of one (a self-trade) is reported under an id of its own (``_fill_id``).
        self._reported_trades = BoundedIdSet()
        # Events a poll made and did not return (it was cut short): the next poll returns them.
        self._undelivered: list[VenueEvent] = []
        self._asset_symbols: dict[str, str] = {}
        self._limits: dict[str, MarketLimits] = {}
        # Futures markets left out for their contract size (see load_markets), by id and symbol.
        self._contract_markets: dict[str, float] = {}
        self._blocked_until = 0.0
        self._assets_traded: set[str] = set()
        self.submitted = 0
        # The symbols of the markets setting, in its order; None: every market served.
        self._trade_symbols: list[str] | None = None
        if s.markets is not None:
            self._trade_symbols = self._checked_markets(s.markets)

    def _checked_markets(self, markets: list[str]) -> list[str]:
        """The symbols of ``markets``; a market the exchange does not have is refused now, not
        at the first order (this loads the markets)."""
        self.load_markets()
        refused = [self._contract_refusal(m) for m in markets if m in self._contract_markets]
        if refused:
            self.close()
            raise ValueError(f"markets: {refused[0]}")
        unknown = [m for m in markets if m not in self._asset_symbols]
        if unknown:
            self.close()
            raise ValueError(
                f"markets: {', '.join(map(repr, unknown))} not among {self.name}'s markets "
                "(give market ids like 'BTCUSDT' or ccxt symbols like 'BTC/USDT')"
            )
        return list(dict.fromkeys(self._asset_symbols[m] for m in markets))

    # -- configuration -------------------------------------------------------------------

    def _require_market_buy_price(self) -> None:
        """Make ccxt refuse, not send, a spot market buy whose amount the exchange would take as
        the cost to spend. Some exchanges default to sending it (Bybit's classic accounts: 0.015
        BTC goes out as 0.015 USDT); with this option set, ccxt raises InvalidOrder instead, and
        exchanges that take the amount in base units (Binance, Bybit's unified accounts) ignore it."""
        options = self._exchange.options
        options["createMarketBuyOrderRequiresPrice"] = True
        for nested in options.values():
            if isinstance(nested, dict) and "createMarketBuyOrderRequiresPrice" in nested:
                nested["createMarketBuyOrderRequiresPrice"] = True

    @staticmethod
    def _env(variable: str) -> str:
        # Without the whitespace around it: a key kept in a file often ends with a newline,
        # which breaks every request it signs, and ccxt's request log shows it escaped
        # ('...\\n'), so scrubbing the value as read would miss it.
        return os.environ.get(variable, "").strip()

    @property
    def has_credentials(self) -> bool:
        return bool(self._exchange.apiKey) and bool(self._exchange.secret)

    def _point_at(self, base_url: str) -> None:
        """Rewrite every API URL of the exchange to ``base_url``, keeping the paths."""
        target = urlsplit(base_url)
        if target.scheme not in ("http", "https") or not target.netloc:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")

        def rewrite(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: rewrite(v) for k, v in value.items()}
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                parts = urlsplit(value)
                return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
            return value

        urls = dict(self._exchange.urls)
        urls["api"] = rewrite(urls["api"])
        self._exchange.urls = urls

    def _redact(self, text: str) -> str:
        """``text`` with credentials and request signatures removed."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _scrub_signatures(text)

    def _error_text(self, exc: BaseException) -> str:
        return self._redact(f"{type(exc).__name__}: {exc}")

    @_serialized
    def close(self) -> None:
        """Close the HTTP session (idle connections to the exchange)."""
        session = getattr(self._exchange, "session", None)
        if session is not None:
            session.close()

    def __enter__(self) -> CcxtVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        creds = "set" if self.has_credentials else "missing"
        return (
            f"CcxtVenue(name={self.name!r}, exchange={self.settings.exchange!r}, "
            f"market_type={self.settings.market_type!r}, credentials={creds})"
        )

    # -- markets -------------------------------------------------------------------------

    @_serialized
    def load_markets(self, reload: bool = False) -> dict[str, MarketLimits]:
        """Load the exchange's markets; returns each market id's trading rules. A futures
        market whose contract is not one unit of the base currency (OKX's BTC swap is 0.01
        BTC) is left out: ccxt counts its amounts in contracts, and the kernel's sizes are
        base units, so an order would go out at the wrong size. A market figure that is not a
        number is a RuntimeError naming the market, the field and the value; nothing is loaded."""
        if self._asset_symbols and not reload:
            return dict(self._limits)
        try:
            markets = self._exchange.load_markets(reload)
        except self._ccxt.BaseError as exc:
            # Re-raised without the original so no URL with a signature rides along in __cause__.
            raise RuntimeError(f"{self.name}: load_markets failed: {self._error_text(exc)}") from None
        want_spot = self.settings.market_type == "spot"
        symbols: dict[str, str] = {}
        limits: dict[str, MarketLimits] = {}
        contracts: dict[str, float] = {}
        try:
            for symbol, market in markets.items():
                if bool(market.get("spot")) != want_spot or (not want_spot and not market.get("linear")):
                    continue
                market_id = str(market["id"])
                contract_size = (
                    1.0
                    if want_spot
                    else _market_figure(market, "contractSize", market.get("contractSize") or 1.0)
                )
                if contract_size != 1.0:
                    contracts[market_id] = contracts[symbol] = contract_size
                    continue
                symbols[market_id] = symbol
                symbols[symbol] = symbol
                limits[market_id] = market_limits(market, self._exchange.precisionMode, self._ccxt)
        except ValueError as exc:
            # A figure that is not a number: nothing is loaded, and a submit is rejected naming it.
            raise RuntimeError(f"{self.name}: load_markets failed: {exc}") from None
        self._asset_symbols = symbols
        self._limits = limits
        self._contract_markets = contracts
        return dict(limits)

    def _contract_refusal(self, market: str) -> str:
        """Why ``market`` is not traded here when its contract is not one base unit ('' else)."""
        size = self._contract_markets.get(market)
        if size is None:
            return ""
        return (
            f"{market!r} on {self.name} is traded in contracts of {size!r} base units; dita's sizes "
            "are base units, so only markets with a contract size of 1 are traded"
        )

    def market_metadata(self) -> dict[str, MarketLimits]:
        return self.load_markets()

    def _symbol(self, asset: str) -> str | None:
        self.load_markets()
        return self._asset_symbols.get(asset)

    def _market_id(self, symbol: str) -> str:
        return str(self._exchange.market(symbol)["id"])

    # -- identifiers and events -----------------------------------------------------------

    @staticmethod
    def venue_client_id(client_order_id: str, exchange: str = "binance") -> str:
        """The client order id sent to ``exchange`` (a ccxt exchange id): the kernel's when the
        exchange accepts it, else a stable hash of it (so a restart finds the same order
        again)."""
        rule, prefix, digits = _client_id_rule(exchange)
        if rule.match(client_order_id):
            return client_order_id
        return prefix + hashlib.sha256(client_order_id.encode()).hexdigest()[:digits]

    def _event(
        self,
        order: VenueOrder,
        kind: KernelEventKind,
        status: VenueOrderStatus,
        *,
        venue_order_id: str = "",
        reason: str = "",
        retry_after: float = 0.0,
        filled: float = 0.0,
        timestamp: float | None = None,
    ) -> VenueEvent:
        return self._events.make(
            order,
            kind,
            status,
            venue_order_id=venue_order_id,
            timestamp=self._clock() if timestamp is None else timestamp,
            filled_size=filled,
            reason=reason,
            retry_after=retry_after,
        )

    def _rate_limited(self, order: VenueOrder) -> list[VenueEvent]:
        wait = max(self._blocked_until - self._clock(), 0.0)
        return [
            self._event(
                order,
                KernelEventKind.RATE_LIMITED,
                order.status,
                venue_order_id=order.venue_order_id,
                reason=f"{self.name} is throttling requests; order not sent, retry in {wait:.3f}s",
                retry_after=wait,
            )
        ]

    def _cancel_throttled(self, tracked: _Tracked) -> list[VenueEvent]:
        # A CANCEL_REJECT, not RATE_LIMITED: the kernel ends an order it has not seen
        # acknowledged or filled on RATE_LIMITED (its submit was refused), while here the order
        # still works at the exchange, acknowledged or not.
        wait = max(self._blocked_until - self._clock(), 0.0)
        return [
            self._event(
                tracked.order,
                KernelEventKind.CANCEL_REJECT,
                tracked.order.status,
                venue_order_id=tracked.venue_order_id,
                reason=f"{self.name} is throttling requests; cancel not sent, the order still works; "
                f"retry in {wait:.3f}s",
                retry_after=wait,
                filled=tracked.filled,
            )
        ]

    def _note_throttle(self, exc: BaseException) -> None:
        """Remember how long the exchange asked us to wait (Retry-After, seconds)."""
        headers = self._exchange.last_response_headers or {}
        retry_after = self.settings.default_retry_after_s
        for key, value in headers.items():
            if str(key).lower() == "retry-after":
                asked = _retry_after_seconds(value, self._clock())
                if asked is None:
                    log.warning(
                        "%s: Retry-After %r is neither seconds nor a date; pausing the default",
                        self.name,
                        value,
                    )
                elif asked > MAX_RETRY_AFTER_S:
                    # `inf` or a year would stop the adapter for good, with working orders unfollowed.
                    log.warning(
                        "%s: Retry-After %r is past %gs; pausing that long",
                        self.name,
                        value,
                        MAX_RETRY_AFTER_S,
                    )
                    retry_after = MAX_RETRY_AFTER_S
                else:
                    retry_after = asked
        self._blocked_until = max(self._blocked_until, self._clock() + retry_after)
        log.warning("%s throttled; pausing %.3fs: %s", self.name, retry_after, self._error_text(exc))

    def _throttled(self) -> bool:
        return self._clock() < self._blocked_until

    # -- submit --------------------------------------------------------------------------

    @_serialized
    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        try:
            return self._submit(order)
        finally:
            self._forget_if_over(order.client_order_id)

    def _forget_if_over(self, key: str) -> None:
        """Drop the record of an order its submit's or cancel's answer ended (a market order
        filled at once): left for a poll to drop, and a runtime polls only while orders work,
        a strategy trading market orders kept one per order for as long as it ran."""
        tracked = self._tracked.get(key)
        if tracked is not None and tracked.terminal:
            del self._tracked[key]

    def _submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.submitted += 1
        ccxt = self._ccxt
        if self._throttled():
            return self._rate_limited(order)
        try:
            symbol = self._symbol(order.asset)
        except RuntimeError as exc:
            return [self._event(order, KernelEventKind.REJECT, VenueOrderStatus.REJECTED, reason=str(exc))]
        if symbol is None:
            return [
                self._event(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    reason=self._contract_refusal(order.asset)
                    or f"unknown asset {order.asset!r} on {self.name}",
                )
            ]
        if self._trade_symbols is not None and symbol not in self._trade_symbols:
            # order_status would not look for it there after a restart, and its None would end it.
            return [
                self._event(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    reason=f"{order.asset!r} is not among {self.name}'s markets setting",
                )
            ]
        refusal = self._precision_refusal(order, symbol)
        if refusal:
            return [self._event(order, KernelEventKind.REJECT, VenueOrderStatus.REJECTED, reason=refusal)]
        if not self.has_credentials:
            return [
                self._event(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    reason=f"{self.name} has no API credentials: set the environment variables "
                    f"{self.settings.api_key_env} and {self.settings.secret_env}",
                )
            ]
        tracked = _Tracked(
            order,
            self.venue_client_id(order.client_order_id, self.settings.exchange),
            symbol,
            self._market_id(symbol),
        )
        params: dict[str, Any] = {"clientOrderId": tracked.client_id}
        if order.reduce_only and self.settings.market_type == "linear":
            params["reduceOnly"] = True
        order_type = "limit" if order.order_type == OrderType.LIMIT else "market"
        side = "buy" if order.side == OrderSide.BUY else "sell"
        price = order.price if order.order_type == OrderType.LIMIT else None
        self._assets_traded.add(order.asset)
        try:
            raw = self._exchange.create_order(symbol, order_type, side, order.size, price, params)
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            # Binance answers 429/418 before processing: the order was not placed.
            self._note_throttle(exc)
            return self._rate_limited(order)
        except ccxt.BaseError as exc:
            if not self._outcome_unknown(exc):
                return self._submit_refused(order, exc)
            return self._submit_unknown(tracked, exc)
        except Exception as exc:
            # Not the exchange's refusal: ccxt's own code broke (reading an answer it did not
            # expect, say), maybe after the exchange placed the order. Left unfollowed, an order
            # working there was never reported; it is looked up as a timed-out submit is.
            return self._submit_unknown(tracked, exc)
        self._tracked[order.client_order_id] = tracked
        return self._order_events(tracked, _placed_answer(raw))

    def _submit_unknown(self, tracked: _Tracked, exc: BaseException) -> list[VenueEvent]:
        """A submit the exchange may have carried out: followed as unresolved (``poll_events``
        keeps looking, ``unresolved_orders`` lists it) and looked up now by client id; raises
        ``VenueTimeout`` when it is not found yet."""
        log.warning(
            "%s submit of %s outcome unknown: %s", self.name, tracked.client_id, self._error_text(exc)
        )
        tracked.unresolved_since = self._clock()
        self._tracked[tracked.order.client_order_id] = tracked
        return self._resolve_submit(tracked, exc)

    def _outcome_unknown(self, exc: BaseException) -> bool:
        """Whether the exchange may have carried out a request that raised ``exc``: network
        failures, timeouts, server errors and Binance's 'execution status unknown' codes."""
        ccxt = self._ccxt
        if isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed):
            return True
        # A 5xx ccxt has no class for (Cloudflare's 524: the exchange took the request and did
        # not answer in time) comes as a bare ExchangeError, the request maybe carried out.
        status = _http_status(exc)
        if status is not None and status >= 500:
            return True
        return bool(_UNKNOWN_OUTCOME_RE.search(str(exc)))

    def _submit_refused(self, order: VenueOrder, exc: BaseException) -> list[VenueEvent]:
        reason = f"{self.name} refused the order: {self._error_text(exc)}"
        if "createMarketBuyOrderRequiresPrice" in str(exc):
            # ccxt's advice (set the option to false) would send the size as a cost: not taken.
            reason = (
                f"{self.name} takes a spot market buy's amount as the cost to spend in quote "
                f"currency, and dita's sizes are base units: send a limit order ({self._error_text(exc)})"
            )
        return [self._event(order, KernelEventKind.REJECT, VenueOrderStatus.REJECTED, reason=reason)]

    def _precision_refusal(self, order: VenueOrder, symbol: str) -> str:
        """Why the order is off the market's lot or tick ('' when it is on them)."""
        checks = [("size", order.size, self._exchange.amount_to_precision)]
        if order.order_type == OrderType.LIMIT:
            checks.append(("price", order.price, self._exchange.price_to_precision))
        for label, value, to_precision in checks:
            if not math.isfinite(value) or value <= 0:
                return f"{label} must be positive and finite, got {value!r}"
            try:
                exchange_value = float(to_precision(symbol, value))
            except Exception as exc:
                # Not only ccxt's refusals: a market that states no precision fails ccxt's own
                # check (an AssertionError), and raised out of submit, an order that never left
                # stayed in flight in the kernel, followed by nobody.
                return f"{label} {value!r} refused for {symbol}: {self._error_text(exc)}"
            if not math.isclose(exchange_value, value, rel_tol=1e-9, abs_tol=0.0):
                rule = "lot step" if label == "size" else "tick size"
                return (
                    f"{label} {value!r} is not on {symbol}'s {rule} "
                    f"(the exchange would take {exchange_value!r}); round it before sending"
                )
        return ""

    def _resolve_submit(self, tracked: _Tracked, exc: BaseException) -> list[VenueEvent]:
        """After a timed-out submit: look the order up by client id before anything else."""
        for attempt in range(self.settings.resolve_attempts):
            if attempt:
                self._sleep(self.settings.resolve_delay_ms / 1000.0)
            try:
                found = self._find(tracked.client_id, tracked.symbol)
            except VenueUnavailable as unanswered:
                log.warning("%s", unanswered)
                continue
            if found is not None:
                tracked.unresolved_since = None
                return self._order_events(tracked, found)
            self._not_found(tracked)
        raise VenueTimeout(
            f"{self.name}: submit of {tracked.client_id!r} timed out and the order was not found yet "
            f"({self._error_text(exc)}); poll_events keeps looking",
            client_order_id=tracked.order.client_order_id,
        ) from None

    def _lookup(self, tracked: _Tracked) -> dict[str, Any] | None:
        """The order as the exchange has it, found by client id; None when unknown or unreachable."""
        try:
            return self._find(tracked.client_id, tracked.symbol)
        except VenueUnavailable as exc:
            log.warning("%s", exc)
            return None

    def _find(self, client_id: str, symbol: str | None) -> dict[str, Any] | None:
        """The order sent as ``client_id`` in ``symbol`` (None: in any market, where the order
        lists are the account's), as the exchange has it; None only when the exchange says it
        has no such order. Raises ``VenueUnavailable`` when it could not be asked (throttled,
        unreachable, an error answer)."""
        ccxt = self._ccxt
        if self._throttled():
            wait = self._blocked_until - self._clock()
            raise VenueUnavailable(
                f"{self.name}: lookup of {client_id!r} not sent, the exchange is throttling "
                f"(retry in {wait:.3f}s)"
            )
        try:
            return self._fetch_by_client_id(client_id, symbol)
        except ccxt.OrderNotFound:
            return None
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            self._note_throttle(exc)
            raise VenueUnavailable(
                f"{self.name}: lookup of {client_id!r} throttled: {self._error_text(exc)}"
            ) from None
        except ccxt.BaseError as exc:
            raise VenueUnavailable(
                f"{self.name}: lookup of {client_id!r} in {symbol or 'any market'} failed: "
                f"{self._error_text(exc)}"
            ) from None

    def _fetch_by_client_id(self, client_id: str, symbol: str | None) -> dict[str, Any]:
        """The order sent as ``client_id`` in ``symbol``; raises ccxt's ``OrderNotFound`` when the
        exchange has none. By the exchange's order query, or where that cannot find it (Kraken,
        Bybit: ``_ORDER_LISTS``) in its open and then closed order lists."""
        lists = self._order_lists()
        if lists is None:
            found: dict[str, Any] = self._exchange.fetch_order(None, symbol, {"clientOrderId": client_id})
            return found
        return self._listed(lists, symbol, lists.client_id_param, client_id, "clientOrderId", "client id")

    def _fetch_by_order_id(self, order_id: str, symbol: str) -> dict[str, Any]:
        """The order of exchange id ``order_id`` in ``symbol``; raises ccxt's ``OrderNotFound`` when
        the exchange has none. By the exchange's order query, or where that cannot find it
        (Bybit: ``_ORDER_LISTS``) in its open and then closed order lists."""
        lists = self._order_lists()
        if lists is None or lists.order_id_param is None:
            found: dict[str, Any] = self._exchange.fetch_order(order_id, symbol, {})
            return found
        return self._listed(lists, symbol, lists.order_id_param, order_id, "id", "order id")

    def _listed(
        self, lists: _OrderLists, symbol: str | None, param: str, value: str, field_name: str, what: str
    ) -> dict[str, Any]:
        """The order whose ``field_name`` (a ccxt order's) is ``value`` in the exchange's open, then
        closed orders of ``symbol``, each list asked with ``{param: value}``; one of another id
        (a filter the exchange did not apply) is not taken for it. Raises ccxt's
        ``OrderNotFound`` when neither lists it, as the order query says "no such order"."""
        for method in lists.methods:
            for raw in getattr(self._exchange, method)(symbol, None, None, {param: value}):
                if str(raw.get(field_name) or "") == value:
                    return dict(raw)
        raise self._ccxt.OrderNotFound(
            f"{self.name} lists no order with {what} {value!r} in {symbol or 'any market'}"
        )

    def _client_id_param(self) -> str:
        """The parameter a client id goes by in the exchange's requests: ccxt's ``clientOrderId``
        unless it passes the exchange's own field on as given (Bybit's ``orderLinkId``)."""
        lists = self._order_lists()
        return "clientOrderId" if lists is None else lists.client_id_param

    def _order_lists(self) -> _OrderLists | None:
        """How the exchange's orders are found in its order lists; None where its order query finds them."""
        return _by_lineage(type(self._exchange), _ORDER_LISTS)

    # -- mapping exchange answers to events ----------------------------------------------

    def _order_events(self, tracked: _Tracked, raw: dict[str, Any]) -> list[VenueEvent]:
        """Events for what ``raw`` (a ccxt order) says beyond what was already reported."""
        order = tracked.order
        events: list[VenueEvent] = []
        tracked.not_found_since = None  # the exchange has it: a later "no such order" starts anew
        tracked.unresolved_since = None  # and it is no submit in doubt any more (a cancel's lookup found it)
        if raw.get("id") is not None:
            tracked.exchange_order_id = str(raw["id"])
        ts = _number(raw.get("lastUpdateTimestamp") or raw.get("timestamp"))
        timestamp = ts / 1000.0 if math.isfinite(ts) and ts > 0 else self._clock()
        # Read before anything is counted as reported (the ack below), so a figure that is
        # not a number cannot break the answer half-way.
        exchange_filled = _number(raw.get("filled"))
        status = raw.get("status")
        rejected_late = status == "rejected" and (
            tracked.filled > 0 or (raw.get("filled") is not None and exchange_filled > 0)
        )
        if rejected_late:
            # Dropped after part of it traded: an end like an expiry, whose fills still count.
            status = "expired"
        if status == "rejected":
            tracked.terminal = True
            return [
                self._event(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name} rejected the order",
                    timestamp=timestamp,
                )
            ]
        if not tracked.acked:
            events.append(
                self._events.make(
                    order,
                    KernelEventKind.ORDER_ACK,
                    VenueOrderStatus.ACKNOWLEDGED,
                    venue_order_id=tracked.venue_order_id,
                    timestamp=timestamp,
                    event_id=f"{self.name}:ack:{tracked.event_key}",
                )
            )
        listed = list(raw.get("trades") or [])
        # Trades the answer names by id only (Kraken's order query: ccxt gives them without
        # amount or price) are asked for by those ids; taken for trades, each hid the trade of
        # its id, listed, and no fill of the order was ever reported.
        trades = [t for t in listed if not _named_only(t)]
        named = [str(t["id"]) for t in listed if _named_only(t) and t.get("id") is not None]
        # A closed answer stating no filled size is full by ccxt's reading: its trades are asked
        # for up to the order's size. Counted 0, they were never asked for, nor ever reported.
        wanted = exchange_filled
        if status == "closed" and (raw.get("filled") is None or not math.isfinite(exchange_filled)):
            wanted = order.size
        if wanted > tracked.filled + order.size * 1e-9 and self._trades_total(tracked, trades) < wanted:
            trades.extend(self._fetch_trades(tracked, wanted, named, self._order_life(raw)))
        events.extend(self._fill_events(tracked, trades, timestamp))
        # Counted once the answer has read this far: nothing below raises, and an answer that
        # broke above is read again, ack and all.
        tracked.acked = True
        # Some exchanges say "closed" for an order that ended part filled (the rest of an IOC or
        # market order dropped): over, like an expiry. Only by a filled size the answer states:
        # ccxt counts a closed order without one as full, and a fill the end left out is refused.
        stated = raw.get("filled") is not None and math.isfinite(exchange_filled)
        closed_short = (
            status == "closed" and stated and max(tracked.filled, exchange_filled) < order.size * (1 - 1e-9)
        )
        if status in ("canceled", "expired") or closed_short:
            # The exchange's own filled size goes with the end, so the kernel knows a fill is
            # still to come when the trade list lags; the order stays polled until it does. An
            # answer without one (HTX's cancel) ends it with 0, the kernel's "cannot say": any
            # figure would refuse the fills still to come, so it is asked about until it says.
            if tracked.ended_at is not None and not stated and tracked.owed_answer is not None:
                # Of an order already ended, an answer without a filled size says nothing new:
                # the last one that stated one stands (read as "cannot say", it had the order
                # given up on at the grace, and the fill the end told the kernel of never booked).
                raw = tracked.owed_answer
                exchange_filled, stated = _number(raw.get("filled")), True
            behind = exchange_filled > tracked.filled + order.size * 1e-9
            settled = tracked.filled >= order.size or (stated and not behind)
            if not settled and stated:
                tracked.owed_answer = dict(raw)
            if tracked.ended_at is not None:
                waited = self._clock() - tracked.ended_at
                if not settled and stated and waited >= self.settings.missing_trades_wait_s:
                    # The end's own figures stand in for the trades that never showed.
                    events.extend(self._fill_from_order(tracked, raw, exchange_filled, timestamp, waited))
                    return events
                # Without a filled size to book from, it is given up on after the grace.
                tracked.terminal = settled or (not stated and waited >= self.settings.unknown_order_grace_s)
                if not settled and tracked.terminal:
                    log.warning(
                        "%s: %s ended with %s filled, but its trades show %s after %.1fs; "
                        "reconcile with the exchange",
                        self.name, tracked.client_id, exchange_filled if stated else "an unknown size",
                        tracked.filled, waited,
                    )  # fmt: skip
                return events
            tracked.terminal = settled
            if not settled:
                tracked.ended_at = self._clock()
            end_filled = max(tracked.filled, exchange_filled) if stated else 0.0
        if status == "canceled" or closed_short:
            ended_by = (
                f"{self.name} canceled the order"
                if status == "canceled"
                else f"{self.name} closed the order with {end_filled!r} of {order.size!r} filled"
            )
            events.append(
                self._ended(tracked, timestamp, end_filled, "" if tracked.cancel_requested else ended_by)
            )
        elif status == "expired":
            events.append(
                self._events.make(
                    order,
                    KernelEventKind.EXPIRED,
                    VenueOrderStatus.EXPIRED,
                    venue_order_id=tracked.venue_order_id,
                    timestamp=timestamp,
                    filled_size=end_filled,
                    event_id=f"{self.name}:expired:{tracked.event_key}",
                    reason=(
                        (
                            f"{self.name} rejected the order after {end_filled!r} of {order.size!r} filled"
                            if stated
                            else f"{self.name} rejected the order after part of it filled"
                        )
                        if rejected_late
                        else f"{self.name} expired the order"
                    ),
                )
            )
        elif status == "closed" and tracked.filled >= order.size * (1 - 1e-9):
            tracked.terminal = True
        elif status == "closed":
            # Filled in full by the exchange's word (or by ccxt's reading, stating no filled size),
            # its trades not all listed: asked about for them for a while, then booked from the
            # order (asked for ever, the fill never came). A later answer stating no filled size
            # says nothing new: the last one that stated one stands.
            now = self._clock()
            if tracked.trades_missing_since is None:
                tracked.trades_missing_since = now
            if stated:
                tracked.owed_answer = dict(raw)
            waited = now - tracked.trades_missing_since
            owed = tracked.owed_answer
            if owed is not None and waited >= self.settings.missing_trades_wait_s:
                owed_filled = _number(owed.get("filled"))
                events.extend(self._fill_from_order(tracked, owed, owed_filled, timestamp, waited))
            elif owed is None and waited >= self.settings.unknown_order_grace_s:
                # Never a filled size to book from: it was asked about for ever.
                events.extend(self._closed_unfigured(tracked, timestamp, waited))
        return events

    def _ended(self, tracked: _Tracked, timestamp: float, filled_size: float, reason: str) -> VenueEvent:
        """The end of ``tracked`` without a fill to come from here: ``CANCEL_ACK`` once a cancel
        was asked for, else ``EXPIRED``, stating ``filled_size`` (0: the kernel's "cannot say"),
        under the order's one end id."""
        kind = KernelEventKind.CANCEL_ACK if tracked.cancel_requested else KernelEventKind.EXPIRED
        return self._events.make(
            tracked.order,
            kind,
            VenueOrderStatus.CANCELED if tracked.cancel_requested else VenueOrderStatus.EXPIRED,
            venue_order_id=tracked.venue_order_id,
            timestamp=timestamp,
            filled_size=filled_size,
            event_id=f"{self.name}:{kind.name.lower()}:{tracked.event_key}",
            reason=reason,
        )

    def _closed_unfigured(self, tracked: _Tracked, timestamp: float, waited: float) -> list[VenueEvent]:
        """The end of an order the exchange has said closed for ``unknown_order_grace_s`` without
        stating its filled size (nor its amount, so ccxt could not count it full), its trades not
        showing all of it: over, ended as one the exchange purged is (``_purged``), with its filled
        size unknown (0, the kernel's "cannot say"), a warning naming it, and asked about no more
        (before, it was asked about for ever). No second end where one was reported already."""
        order = tracked.order
        tracked.terminal = True
        reason = (
            f"{self.name} closed the order without saying how much it filled, and its trades show "
            f"{tracked.filled!r} of {order.size!r} after {waited:.1f}s: over, what it filled beyond "
            "that is unknown; reconcile with the exchange"
        )
        log.warning("%s: order %s (%s): %s", self.name, tracked.client_id, tracked.venue_order_id, reason)
        if tracked.ended_at is not None:
            return []
        return [self._ended(tracked, timestamp, 0.0, reason)]  # 0: the kernel's "cannot say"

    def _fill_from_order(
        self, tracked: _Tracked, raw: dict[str, Any], exchange_filled: float, timestamp: float, waited: float
    ) -> list[VenueEvent]:
        """One fill for what the exchange says ``raw`` (an order that is over) filled beyond the
        trades reported, priced by the best price known of it (``_price_of_rest``), its fee left
        to the kernel's model; the order is then over here, so its trades, should they show
        later, are never read and booked a second time. Its fill id is the order's: a resend is
        a duplicate. With no price known, the fill is left owed (``_owed_without_price``)."""
        order = tracked.order
        tracked.terminal = True
        total = min(exchange_filled, order.size)
        if order.size - total <= order.size * 1e-9:
            total = order.size
        missing = total - tracked.filled
        if missing <= order.size * 1e-9:
            return []
        price, source = self._price_of_rest(tracked, raw, total, missing)
        if not price > 0:
            return self._owed_without_price(tracked, total, missing, timestamp, waited)
        # Built on the exchange's bare id, as before ids were qualified: the same fill keeps its id.
        fill_id = f"{tracked.market_id}:order:{tracked.order_key}"
        log.warning(
            "%s: order %s (%s) filled %r by the exchange's word, but its trades show %r after %.1fs; "
            "the rest (%r at %r, %s) booked from the order, its fee left to the kernel's model",
            self.name, tracked.client_id, tracked.venue_order_id or "no exchange id", total, tracked.filled,
            waited, missing, price, _PRICE_SOURCES[source],
        )  # fmt: skip
        event = self._events.make(
            order,
            KernelEventKind.FILL,
            VenueOrderStatus.FILLED if total >= order.size else VenueOrderStatus.PARTIALLY_FILLED,
            venue_order_id=tracked.venue_order_id,
            timestamp=timestamp,
            price=price,
            size=missing,
            filled_size=total,
            fill_id=fill_id,
            fee=None,
            event_id=f"{self.name}:fill:{fill_id}",
            metadata={"fill_source": "order", "price_source": source},
        )
        tracked.reported.add(fill_id)
        tracked.filled = total
        tracked.booked_cost += missing * price
        return [event]

    @staticmethod
    def _price_of_rest(
        tracked: _Tracked, raw: dict[str, Any], total: float, missing: float
    ) -> tuple[float, str]:
        """The price of the ``missing`` rest of ``total`` that ``raw`` (an order that is over)
        filled, and its source (a key of ``_PRICE_SOURCES``): the order's cost (or average) less
        what the reported trades cost (its average where that does not make sense); else the
        order's price as the exchange states it (a limit, or a market order's price bound) or
        the limit it was sent with, which the fill cannot be worse than; else the price it was
        sent at (its reference, which reconciliation falls back to as well). (0, "") when none
        is known. Before, an answer without a cost or average (Binance answers a cost below 0
        when it has none) had the fill given up on, and lost."""
        order = tracked.order
        average = _number(raw.get("average"))
        cost = _number(raw.get("cost"))
        if not (math.isfinite(cost) and cost > 0) and math.isfinite(average) and average > 0:
            cost = average * total
        for price in ((cost - tracked.booked_cost) / missing, cost / total):
            if math.isfinite(price) and price > 0:
                return price, "average"
        limit = order.order_type == OrderType.LIMIT
        candidates = [
            (_number(raw.get("price")), "limit" if limit else "order_price"),
            (order.price if limit else 0.0, "limit"),
            (order.reference_price, "reference"),
        ]
        for price, source in candidates:
            if math.isfinite(price) and price > 0:
                return price, source
        return 0.0, ""

    def _owed_without_price(
        self, tracked: _Tracked, total: float, missing: float, timestamp: float, waited: float
    ) -> list[VenueEvent]:
        """What the exchange says ``tracked`` filled beyond its trades, with no price known of it:
        not booked at a made-up price, and not dropped either. An ERROR names the order, the size
        and what to do; the kernel holds the fill as owed (``awaited_orders()``, its slot waiting)
        by the end, which carries the exchange's filled size: the end reported already, or one
        made here (the exchange said filled, and the kernel's order worked on for good)."""
        order = tracked.order
        log.error(
            "%s: order %s (%s) filled %r by the exchange's word, but its trades show %r after %.1fs and "
            "no price of the rest is known (no cost, average or price of the order, no limit or "
            "reference price): %r of it is owed to the kernel, not booked (awaited_orders() lists "
            "it); find the order's trades at the exchange and feed their fill, or run "
            "reconcile_with_venue, which books it from the order's status",
            self.name, tracked.client_id, tracked.venue_order_id or "no exchange id", total, tracked.filled,
            waited, missing,
        )  # fmt: skip
        if tracked.ended_at is not None:
            return []  # its end, with the exchange's filled size, told the kernel already
        reason = (
            f"{self.name} says the order filled {total!r} of {order.size!r}, but its trades never "
            "showed and no price of them is known: ended here with that filled size, the "
            f"{missing!r} not booked owed to the slot, which waits for it; reconcile with the exchange"
        )
        return [self._ended(tracked, timestamp, total, reason)]

    def _trades_total(self, tracked: _Tracked, trades: list[dict[str, Any]]) -> float:
        """Filled size once ``trades`` are applied (the already reported ones count once, and
        so do those the kernel booked before a restart, counted in ``tracked.filled``)."""
        # A trade whose amount or price is unreadable counts nothing: ``_fill_events`` skips it,
        # warning. Counted, an order's answer giving one had its trade list never read for it.
        new = sum(
            _trade_amount(t)
            for t in trades
            if t.get("id") is not None and self._fill_key(tracked, t) not in tracked.reported
        )
        return tracked.filled - tracked.booked_unmatched + new

    def _order_life(self, raw: dict[str, Any]) -> tuple[int, int] | None:
        """When the order of answer ``raw`` was made and the latest its trades can be (whole
        seconds): its last update by the exchange's clock or now by ours, whichever is later.
        None when the answer gives no time it was made."""
        made = _trade_ms(raw)
        if made is None:
            return None
        times = [_number(raw.get(k)) for k in ("lastTradeTimestamp", "lastUpdateTimestamp")]
        latest = max([t for t in times if math.isfinite(t)] + [self._clock() * 1000, made])
        return int(made // 1000), math.ceil(latest / 1000)

    def _fetch_trades(
        self,
        tracked: _Tracked,
        exchange_filled: float,
        trade_ids: Sequence[str] = (),
        life: tuple[int, int] | None = None,
    ) -> list[dict[str, Any]]:
        """The order's trades, page by page (``_trade_pages``; over ``life``, ``_order_life``,
        where the list covers a recent time range unless asked), until the pages end, one brings
        nothing new or the trades add up to ``exchange_filled``; only the order's are kept. A
        request that fails (any error, ccxt's or its parser's) ends the reading with the pages
        read so far: their trades are reported, and the next poll reads again (those already
        reported count once)."""
        ccxt = self._ccxt
        order_id = tracked.exchange_order_id
        if not order_id:
            return []
        by_id = self._trades_by_id(tracked, trade_ids)
        pages = self._trade_pages(tracked, by_id, life)
        found: dict[str, dict[str, Any]] = {}
        while True:
            try:
                page = next(pages, None)
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
                self._note_throttle(exc)
                break
            except Exception as exc:
                # The fills are not lost: the next poll asks again. Not only ccxt's errors: its
                # parser raises TypeError on a page it did not expect (a null entry), and raised
                # on, that lost the pages read and, breaking every poll, left the order asked
                # about for ever, never booked from its own figures after the wait.
                log.warning(
                    "%s trades of %s unavailable: %s",
                    self.name,
                    tracked.venue_order_id,
                    self._error_text(exc),
                )
                break
            if page is None:
                break
            new = [t for t in page if str(t.get("order") or "") == order_id and str(t.get("id")) not in found]
            found.update((str(t.get("id")), t) for t in new)
            # A page that brings nothing new ends a list's reading (a venue that ignored the
            # cursor gives the same page for ever); the batches by id are each asked once.
            read_out = not new and by_id is None
            if read_out or self._trades_total(tracked, list(found.values())) >= exchange_filled:
                break
        return list(found.values())

    def _trades_by_id(self, tracked: _Tracked, trade_ids: Sequence[str]) -> list[list[str]] | None:
        """Where the order's answer named its trades (``trade_ids``) and the exchange is asked
        for trades by id (``_TRADES_BY_ID``: Kraken), the batches of those not reported yet, one
        request each; else None (the trade list is read)."""
        most = _by_lineage(type(self._exchange), _TRADES_BY_ID)
        if most is None or not trade_ids:
            return None
        options = self._exchange.safe_dict(self._exchange.options, "fetchOrderTrades", {})
        batch = self._exchange.safe_integer(options, "batchSize", most)  # as ccxt reads it
        # ccxt splits the ids into batches of its size and then sends the rest, an empty
        # request when none are left: each call gets fewer than a batch, one request.
        per_request = max(min(batch, most) - 1, 1)
        unreported = [
            i for i in dict.fromkeys(trade_ids) if self._fill_key(tracked, {"id": i}) not in tracked.reported
        ]
        return [unreported[at : at + per_request] for at in range(0, len(unreported), per_request)]

    def _trade_pages(
        self, tracked: _Tracked, by_id: list[list[str]] | None, life: tuple[int, int] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The order's trades, one request per page: the batches ``by_id`` (``_trades_by_id``),
        or else the trade list (``_ORDER_TRADE_LISTS``, else ccxt's fetch_my_trades) asked for
        the order's trades by the exchange's own parameter (``_TRADES_ORDER_PARAM``: OKX's
        ``ordId``, to which ccxt does not map Binance's ``orderId``; none on Kraken), page after
        page where it pages (``_TRADE_PAGES``: Binance, Bybit, OKX, Gate's spot list) until a
        page is short or names no next one; elsewhere its first page only. Where the list
        covers a recent time range unless asked (Gate's spot list), each range of ``life`` in
        turn, from the oldest (its last ``_MOST_TRADE_RANGES``, ending by our clock, see below)."""
        exchange_class = type(self._exchange)
        symbol, order_id = tracked.symbol, tracked.exchange_order_id
        if by_id is not None:
            for batch_ids in by_id:
                yield self._exchange.fetch_order_trades(order_id, symbol, None, None, {"trades": batch_ids})
            return
        own_list = (_by_lineage(exchange_class, _ORDER_TRADE_LISTS) or {}).get(self.settings.market_type)
        if own_list is not None:
            fetch: Callable[..., list[dict[str, Any]]] = functools.partial(own_list[0], self._exchange)
            by_order: str | None = own_list[1]
        else:
            fetch = self._exchange.fetch_my_trades
            by_order = _by_lineage(exchange_class, _TRADES_ORDER_PARAM)
            by_order = "orderId" if by_order is None else by_order
        the_order: dict[str, Any] = {by_order: order_id} if by_order else {}
        paging = _by_lineage(exchange_class, _TRADE_PAGES)
        if paging is not None and self.settings.market_type not in paging.market_types:
            paging = None
        limit = paging.limit if paging is not None else None
        ranges: list[tuple[int | None, dict[str, Any]]] = [(None, {})]
        if paging is not None and paging.window_s is not None and life is not None:
            # Bounded whatever the answer's times say: made at 0, or updated in another unit
            # (microseconds read as the year 57,000), it was asked range after range, hundreds of
            # thousands of requests a poll. Ending a day past our clock at most, over the last
            # _MOST_TRADE_RANGES ranges; trades older are booked from the order, as a list's
            # missing ones are (missing_trades_wait_s).
            end_s = min(life[1], math.ceil(self._clock()) + _EXCHANGE_CLOCK_AHEAD_S)
            start_s = min(max(life[0], end_s - _MOST_TRADE_RANGES * paging.window_s), end_s)
            ranges = _time_ranges(start_s, end_s, paging.window_s)
        # The trades given so far: a range repeats those of the second it shares with the last.
        # One without an id is not known again by it (all such would be one), and is given.
        seen: set[str] = set()
        for since, bounds in ranges:
            params = {**the_order, **bounds}
            while True:
                page = fetch(symbol, since, limit, params)
                fresh = [t for t in page if t.get("id") is None or str(t["id"]) not in seen]
                if not fresh and len(ranges) > 1:
                    break  # nothing new in this range: the next may hold some
                yield fresh
                seen.update(str(t["id"]) for t in fresh if t.get("id") is not None)
                if paging is None or len(page) < paging.limit:
                    break
                after = paging.next_page(page, params)
                if after is None:
                    break
                params = {**the_order, **bounds, **after}

    def _fill_key(self, tracked: _Tracked, trade: dict[str, Any]) -> str:
        # Binance trade ids are unique per market, not across markets.
        return f"{tracked.market_id}:{trade['id']}"

    def _fill_id(self, tracked: _Tracked, fill_key: str) -> str:
        """The fill id of ``tracked``'s fill of trade ``fill_key``: the trade's, or
        ``<trade's>:<order key>`` (``_Tracked.order_key``: its exchange id, or its client id
        while it has none) when another order reported that trade (a self-trade's second fill).
        The kernel keeps a fill's predicted fee until FILL_SETTLED by fill id, so under one id the
        second fill's replaced the first's and one FILL_SETTLED settled one."""
        if fill_key not in self._reported_trades:
            return fill_key
        return f"{fill_key}:{tracked.order_key}"

    def _fill_events(
        self, tracked: _Tracked, trades: list[dict[str, Any]], order_ts: float
    ) -> list[VenueEvent]:
        """Fill events for the trades not reported yet. All are built before any is counted
        as reported, so a trade that breaks half-way loses none: the next poll asks again."""
        order = tracked.order
        made: dict[str, VenueEvent | None] = {}  # by fill key, in order: one per trade
        filled = tracked.filled
        cost = tracked.booked_cost
        unmatched = tracked.booked_unmatched
        # A trade that reads comes before any that does not: an order's answer giving one
        # without a price (nor a time, so first) had its copy in the trade list skipped.
        ordered = sorted(
            (t for t in trades if t.get("id") is not None),
            key=lambda t: (_trade_amount(t) == 0.0, _trade_ms(t) or 0.0, str(t["id"])),
        )
        skipped: set[str] = set()  # a trade listed twice (the answer's and the trade list's) warns once
        for trade in ordered:
            fill_key = self._fill_key(tracked, trade)
            if fill_key in tracked.reported or fill_key in skipped or fill_key in made:
                continue
            qty, price = _number(trade.get("amount")), _number(trade.get("price"))
            booked_before = 0.0  # what of it the kernel had booked (its cost is in booked_cost)
            bad = [n for n, v in (("amount", qty), ("price", price)) if not (v > 0 and math.isfinite(v))]
            if bad:
                skipped.add(fill_key)
                field_name = bad[0]
                # Not counted as reported: the exchange's next answer about it may read right.
                log.warning(
                    "%s: trade %s of order %s has %s=%r, not a positive number; not reported",
                    self.name, fill_key, tracked.client_id, field_name, trade.get(field_name),
                )  # fmt: skip
                continue
            if unmatched > order.size * 1e-9:
                if qty <= unmatched + order.size * 1e-9:
                    # Within what the kernel had booked when this adapter took the order over
                    # (after a restart): reported then, so not again.
                    unmatched = max(unmatched - qty, 0.0)
                    made[fill_key] = None
                    continue
                # Booked in part: its running total ends where it does, so only the rest is new.
                filled -= unmatched
                booked_before, unmatched = unmatched, 0.0
            filled = min(filled + qty, order.size)
            if order.size - filled <= order.size * 1e-9:
                filled = order.size
            done = filled >= order.size
            named = f"trade {fill_key} of order {tracked.client_id}"
            fee, fee_note = self._quote_fee(trade, price, named)
            fill_id = self._fill_id(tracked, fill_key)
            # Left unsaid when the trade does not say (ccxt's None): the kernel then reads a
            # limit order's fill as a maker's; TAKER charged it the taker rate.
            liquidity = {"maker": "MAKER", "taker": "TAKER"}.get(str(trade.get("takerOrMaker")))
            event = self._events.make(
                order,
                KernelEventKind.FILL,
                VenueOrderStatus.FILLED if done else VenueOrderStatus.PARTIALLY_FILLED,
                venue_order_id=tracked.venue_order_id,
                timestamp=self._trade_time(trade, order_ts, named),
                price=price,
                size=qty,
                filled_size=filled,
                fill_id=fill_id,
                fee=fee,
                event_id=f"{self.name}:fill:{fill_id}",
                metadata={**({"liquidity": liquidity} if liquidity else {}), **fee_note},
            )
            made[fill_key] = event
            cost += (qty - booked_before) * price
        for fill_key in made:
            tracked.reported.add(fill_key)
            self._reported_trades.add(fill_key)
        tracked.filled = filled
        tracked.booked_cost = cost
        tracked.booked_unmatched = unmatched
        if filled >= order.size:
            tracked.terminal = True
        return [event for event in made.values() if event is not None]

    def _trade_time(self, trade: dict[str, Any], fallback: float, named: str) -> float:
        """The trade's time in seconds; ``fallback`` (the order's time, else the poll's) when the
        answer gives none (Binance's fills in a submit's answer) or one that is not a time, with
        a warning: a NaN reached the kernel, which refused the fill already counted reported."""
        ms = _trade_ms(trade)
        if ms is not None:
            return ms / 1000.0
        if trade.get("timestamp") is not None:
            log.warning(
                "%s: %s has timestamp=%r, not a time in milliseconds; stamped %r instead",
                self.name, named, trade.get("timestamp"), fallback,
            )  # fmt: skip
        return fallback

    def _quote_fee(
        self, trade: dict[str, Any], price: float, named: str
    ) -> tuple[float | None, dict[str, str | float]]:
        """The trade's fee in the quote currency, or None (with a note) when a fee other than
        zero was paid in a third currency (BNB, say) the adapter cannot price, or in one the
        answer does not name; the kernel then predicts it. A fee that is not a number counts as
        none given (the kernel predicts it), with a warning naming ``named``, the trade: sent on,
        a NaN had the kernel refuse the fill, and text blocked every fill of the order."""
        fee = trade.get("fee") or {}
        if not isinstance(fee, dict):
            log.warning("%s: %s has fee=%r, not a fee; left to the kernel's model", self.name, named, fee)
            return None, {}
        cost, currency = fee.get("cost"), fee.get("currency")
        if cost is None:
            return None, {}
        native = _number(cost)
        if not math.isfinite(native):
            log.warning(
                "%s: %s has fee cost=%r, not a number; its fee left to the kernel's model",
                self.name, named, cost,
            )  # fmt: skip
            return None, {}
        if native == 0.0:
            # Nothing to price, whatever the currency: left to the model, it would be charged.
            return 0.0, {}
        if currency is None:
            # Not taken for any: a spot market has no settle currency, and None matched it.
            return None, {"fee_currency": "", "fee_native": native}
        market = self._exchange.market(trade["symbol"]) if trade.get("symbol") else {}
        if currency == market.get("quote") or currency == market.get("settle"):
            return native, {}
        if currency == market.get("base"):
            return native * price, {"fee_currency": str(currency), "fee_native": native}
        return None, {"fee_currency": str(currency), "fee_native": native}

    @_serialized
    def resume(self, seq: int) -> None:
        """Mark the ids this adapter makes itself (throttles, refusals) with ``seq``: the
        kernel recovered from its write-ahead log beside it calls this."""
        self._events.resume(seq)

    # -- orders from before a restart ----------------------------------------------------

    def _adopt(self, order: VenueOrder, symbol: str) -> _Tracked:
        """A record of ``order``, one the kernel sent before a restart (to follow or to cancel):
        what the kernel booked of it (its filled size) counts as reported. One the kernel never
        saw acknowledged is asked for by client id, as a timed-out submit is (found: its events;
        "no such order" once ``unknown_order_grace_s`` from its send, ``created_at``, has passed:
        REJECT); taken as acknowledged, one that never reached the exchange was asked about for
        good."""
        market_id = self._market_id(symbol)
        tracked = _Tracked(
            order,
            self.venue_client_id(order.client_order_id, self.settings.exchange),
            symbol,
            market_id,
            # The kernel's id is qualified with the market, or bare when its log is older.
            exchange_order_id=_exchange_order_id(market_id, order.venue_order_id),
            kernel_order_id="" if order.venue_order_id.startswith(f"{market_id}:") else order.venue_order_id,
            filled=order.filled_size,
            acked=True,
            booked_unmatched=order.filled_size,
            booked_cost=order.filled_size * order.avg_fill_price,
            # A cancel the kernel asked for before the restart: the order's end by cancel is that
            # cancel's (CANCEL_ACK), as in the process that sent it, not an EXPIRED nobody asked for.
            cancel_requested=order.cancel_requested,
        )
        if _never_acknowledged(order):
            tracked.acked = False
            now = self._clock()
            tracked.unresolved_since = now
            # Its grace runs from its send, which the log keeps (from the restart, one sent long
            # ago waited a grace more; at its first "no such order", one sent a moment before the
            # restart was ended before the exchange showed it). Never from a time to come.
            tracked.not_found_since = min(order.created_at, now)
        return tracked

    @_serialized
    def watch(self, order: VenueOrder) -> None:
        """Follow ``order`` in ``poll_events``: one the kernel works that this adapter has no
        record of (sent before a restart), whose fills and end would otherwise reach the kernel
        only at the next reconciliation. Reconciliation calls it for each order the kernel
        still works, those it never saw acknowledged before it asks ``order_status`` about them.
        An order the kernel never saw acknowledged is asked for by client id, as a timed-out
        submit is (found: its events; "no such order" once ``unknown_order_grace_s`` from its
        send, ``created_at``, has passed: REJECT; before, ``order_status`` raises
        ``VenueUnavailable``). An order already followed is left as it is, unless this adapter
        never found it and the kernel's ``order`` is acknowledged (reconciliation found it): then
        it is taken over anew, with what the kernel booked. An asset this venue does not trade
        raises ValueError naming it."""
        if not order.client_order_id:
            raise ValueError(f"{self.name}: cannot follow an order without a client order id")
        known = self._tracked.get(order.client_order_id)
        if known is not None and not self._learned_elsewhere(known, order):
            self._booked_elsewhere(known, order)
            return
        symbol = self._symbol(order.asset)
        if symbol is None:
            raise ValueError(
                f"{self.name}: cannot follow {order.client_order_id!r}: unknown asset {order.asset!r}"
            )
        self._tracked[order.client_order_id] = self._adopt(order, symbol)

    @staticmethod
    def _booked_elsewhere(tracked: _Tracked, order: VenueOrder) -> None:
        """Count as reported what the kernel's ``order`` has booked beyond what this adapter
        reported of it (a reconciliation booked the exchange's listing): its oldest trades not
        reported, up to that, were booked. Followed as it was, its next poll (or its cancel's
        answer) reported them again, refused as duplicates."""
        extra = order.filled_size - tracked.filled
        if extra <= order.size * 1e-9:
            return
        tracked.booked_unmatched += extra
        tracked.booked_cost = max(tracked.booked_cost, order.filled_size * order.avg_fill_price)
        tracked.filled = order.filled_size
        if not tracked.exchange_order_id and order.venue_order_id:
            tracked.exchange_order_id = _exchange_order_id(tracked.market_id, order.venue_order_id)

    @staticmethod
    def _learned_elsewhere(tracked: _Tracked, order: VenueOrder) -> bool:
        """Whether the kernel's ``order`` is acknowledged while this adapter still has it as a
        submit in doubt it never found (reconciliation asked about it, and booked its ack and
        fills): followed on as it was, its next poll reported them all again."""
        never_found = tracked.unresolved_since is not None and not tracked.acked and not tracked.reported
        return never_found and bool(order.venue_order_id)

    # -- cancel --------------------------------------------------------------------------

    @_serialized
    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        try:
            return self._cancel(order)
        finally:
            self._forget_if_over(_record_key(order))

    def _cancel(self, order: VenueOrder) -> list[VenueEvent]:
        ccxt = self._ccxt
        # An order without a client id is kept by its exchange id (``_record_key``); under the
        # empty id, the next such cancel would reach this one again.
        key = _record_key(order)
        tracked = self._tracked.get(key)
        if tracked is None:
            symbol = self._symbol(order.asset)
            if symbol is None:
                return [
                    self._event(
                        order,
                        KernelEventKind.CANCEL_REJECT,
                        order.status,
                        venue_order_id=order.venue_order_id,
                        reason=f"unknown asset {order.asset!r} on {self.name}",
                        filled=order.filled_size,
                    )
                ]
            # An order from before a restart: cancel it by its client id.
            tracked = self._adopt(order, symbol)
            self._tracked[key] = tracked
        if self._throttled():
            return self._cancel_throttled(tracked)
        tracked.cancel_requested = True
        # Without the exchange's id (a submit that timed out), by the client id under the
        # exchange's own parameter: Bybit refused ``clientOrderId`` (its field is orderLinkId);
        # on Gate as the order id (``_CANCEL_BY_CLIENT_ID_AS_ID``).
        cancel_id: str | None = tracked.exchange_order_id or None
        params: dict[str, Any] = {}
        if cancel_id is None and _by_lineage(type(self._exchange), _CANCEL_BY_CLIENT_ID_AS_ID):
            cancel_id = tracked.client_id
        elif cancel_id is None:
            params = {self._client_id_param(): tracked.client_id}
        try:
            raw = self._exchange.cancel_order(cancel_id, tracked.symbol, params)
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            self._note_throttle(exc)
            tracked.cancel_requested = False
            return self._cancel_throttled(tracked)
        except ccxt.OrderNotFound as exc:
            # Usually filled (or canceled) before the cancel arrived: ask what became of it.
            return self._cancel_missed(tracked, exc)
        except ccxt.BaseError as exc:
            if self._outcome_unknown(exc):
                found = self._lookup(tracked)
                if found is not None and found.get("status") != "open":
                    return self._order_events(tracked, found)
                raise VenueTimeout(
                    f"{self.name}: cancel of {tracked.client_id!r} timed out and the order is still "
                    f"working ({self._error_text(exc)}); poll_events reports the outcome",
                    client_order_id=order.client_order_id,
                ) from None
            tracked.cancel_requested = False
            return [
                self._event(
                    order,
                    KernelEventKind.CANCEL_REJECT,
                    order.status,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name} refused the cancel: {self._error_text(exc)}",
                    filled=tracked.filled,
                )
            ]
        return self._order_events(tracked, raw)

    def _cancel_missed(self, tracked: _Tracked, exc: BaseException) -> list[VenueEvent]:
        """A cancel the exchange answered "no such order": what became of the order. Usually it
        filled or ended first (its fills and end; filled: a refusal saying so). Found working,
        the cancel overtook the order on its way (a submit that timed out): it did not happen,
        so it is refused, or the kernel waited on a cancel that never came while the order
        could fill."""
        found = self._lookup(tracked)
        if found is None:
            return [
                self._event(
                    tracked.order,
                    KernelEventKind.CANCEL_REJECT,
                    tracked.order.status,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name} does not know the order: {self._error_text(exc)}",
                    filled=tracked.filled,
                )
            ]
        events = self._order_events(tracked, found)
        ended = any(e.kind in (KernelEventKind.CANCEL_ACK, KernelEventKind.EXPIRED) for e in events)
        if found.get("status") == "closed" and not ended:
            tracked.cancel_requested = False
            events.append(
                self._event(
                    tracked.order,
                    KernelEventKind.CANCEL_REJECT,
                    VenueOrderStatus.FILLED,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name}: order already filled, nothing to cancel",
                    filled=tracked.filled,
                )
            )
        elif found.get("status") == "open" and not tracked.terminal:
            tracked.cancel_requested = False
            working = VenueOrderStatus.ACKNOWLEDGED
            if tracked.filled > 0:
                working = VenueOrderStatus.PARTIALLY_FILLED
            events.append(
                self._event(
                    tracked.order,
                    KernelEventKind.CANCEL_REJECT,
                    working,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name} answered the cancel that it has no such order "
                    f"({self._error_text(exc)}), yet lists it working: not canceled, the order still works",
                    filled=tracked.filled,
                )
            )
        return events

    # -- asynchronous reports ------------------------------------------------------------

    @_serialized
    def poll_events(self) -> list[VenueEvent]:
        """Ask the exchange about every order still working (and every timed-out submit);
        returns new fills, cancels and expiries, each reported once. One order's failure (any
        error, ccxt's or its parser's) is logged and that order asked about again next poll;
        the others' events are returned. A throttle stops the poll, and the next one starts
        with the order it stopped at, going round: starting from the first order each time, the
        last ones were never asked about while the exchange kept throttling."""
        # Kept on the adapter until returned: their fills count as reported once made, so a poll
        # cut short (Ctrl-C in a request) hands them to the next poll instead of losing them.
        events = self._undelivered
        orders = list(self._tracked.items())
        start = list(self._tracked).index(self._poll_from) if self._poll_from in self._tracked else 0
        self._poll_from = None
        for key, tracked in orders[start:] + orders[:start]:
            if tracked.terminal:
                continue
            if self._throttled():
                self._poll_from = key
                break
            if tracked.unresolved_since is not None:
                try:
                    events.extend(self._poll_unresolved(tracked))
                except Exception as exc:
                    self._unreadable(tracked, exc)
                continue
            # An order canceled after a restart before its ack has no exchange id yet: asked for
            # by an empty one, the exchange would refuse every poll (Binance: -1102).
            try:
                if tracked.exchange_order_id:
                    raw = self._fetch_by_order_id(tracked.exchange_order_id, tracked.symbol)
                else:
                    raw = self._fetch_by_client_id(tracked.client_id, tracked.symbol)
            except (self._ccxt.DDoSProtection, self._ccxt.RateLimitExceeded) as exc:
                self._note_throttle(exc)
                self._poll_from = key
                break
            except Exception as exc:
                # Not only ccxt's errors: its parser raises KeyError or TypeError on an answer it
                # did not expect, and raised out of the poll, that lost the events of the rest.
                log.warning(
                    "%s status of %s unavailable (asked again next poll): %s",
                    self.name, tracked.client_id, self._error_text(exc),
                )  # fmt: skip
                if (
                    isinstance(exc, self._ccxt.OrderNotFound)
                    and tracked.ended_at is None
                    and tracked.owed_answer is None
                ):
                    events.extend(self._purged(tracked))
                    continue
                ended_at = tracked.ended_at
                owed, since = (
                    tracked.owed_answer,
                    tracked.trades_missing_since if ended_at is None else ended_at,
                )
                waited = self._clock() - since if since is not None else 0.0
                if owed is not None and since is not None and waited >= self.settings.missing_trades_wait_s:
                    # What the exchange last said it filled stands in for the trades never shown.
                    try:
                        owed_filled = _number(owed.get("filled"))
                        events.extend(
                            self._fill_from_order(tracked, owed, owed_filled, self._clock(), waited)
                        )
                    except Exception as unreadable:
                        self._unreadable(tracked, unreadable)
                    continue
                if owed is None and ended_at is not None and waited >= self.settings.unknown_order_grace_s:
                    # Over, and its missing trades cannot be asked for: stop asking.
                    tracked.terminal = True
                    log.warning(
                        "%s: %s ended with more filled than its trades showed; gave up asking; "
                        "reconcile with the exchange",
                        self.name, tracked.client_id,
                    )  # fmt: skip
                continue
            try:
                events.extend(self._order_events(tracked, raw))
            except Exception as exc:
                self._unreadable(tracked, exc)
        for client_order_id in [k for k, t in self._tracked.items() if t.terminal]:
            del self._tracked[client_order_id]
        self._undelivered = []
        return events

    def _unreadable(self, tracked: _Tracked, exc: BaseException) -> None:
        # One order's unreadable answer must not lose the events of the others (their fills
        # already count as reported): it is logged, and the order asked about again.
        log.warning(
            "%s: the answer about %s could not be read (%s); asked again next poll",
            self.name, tracked.client_id, self._error_text(exc),
        )  # fmt: skip

    def _not_found(self, tracked: _Tracked) -> float:
        """Note a "no such order" answer about the order; seconds since the first."""
        now = self._clock()
        if tracked.not_found_since is None:
            tracked.not_found_since = now
        return now - tracked.not_found_since

    def _purged(self, tracked: _Tracked) -> list[VenueEvent]:
        """After a "no such order" answer about an order the exchange had (some purge one that
        ended unfilled within hours): once the exchange has said so for ``unknown_order_grace_s``
        (as for a timed-out submit), its end, with its filled size unknown (0, the kernel's
        "cannot say"), and it is asked about no more. Before, it was asked about, a warning each
        time, for as long as the process ran: reconciliation ends the kernel's order, not this."""
        waited = self._not_found(tracked)
        if waited < self.settings.unknown_order_grace_s:
            return []
        tracked.terminal = True
        reason = (
            f"{self.name} has answered it has no order {tracked.venue_order_id} for {waited:.1f}s "
            f"(purged): over, and what it filled beyond the {tracked.filled!r} reported is unknown; "
            "reconcile with the exchange"
        )
        log.warning("%s: %s", tracked.client_id, reason)
        return [self._ended(tracked, self._clock(), 0.0, reason)]  # 0: the kernel's "cannot say"

    def _poll_unresolved(self, tracked: _Tracked) -> list[VenueEvent]:
        try:
            found = self._find(tracked.client_id, tracked.symbol)
        except VenueUnavailable as exc:
            # No answer is not "no such order": the order may be working, so it stays unresolved.
            log.warning("%s", exc)
            return []
        if found is not None:
            tracked.unresolved_since = None
            return self._order_events(tracked, found)
        waited = self._not_found(tracked)
        if waited < self.settings.unknown_order_grace_s:
            return []
        # The exchange says "no such order" after the whole grace period: it never arrived.
        tracked.terminal = True
        return [
            self._event(
                tracked.order,
                KernelEventKind.REJECT,
                VenueOrderStatus.REJECTED,
                reason=f"{self.name} has answered it has no order with client id {tracked.client_id!r} "
                f"for {waited:.1f}s: it never reached the exchange",
            )
        ]

    @_serialized
    def following(self) -> bool:
        """Whether ``poll_events`` still asks the exchange about an order: one working, or one
        it ended without a filled size (HTX's cancel: "cannot say"), asked about until the
        exchange says or the grace passes. A runtime polls while this is true, though the
        kernel has no order working: a fill that raced the cancel is reported from a poll."""
        return any(not t.terminal for t in self._tracked.values())

    @_serialized
    def unresolved_orders(self) -> list[str]:
        """Client order ids of orders whose fate is still unknown: timed-out submits, and orders
        from before a restart never seen acknowledged (``watch``, ``cancel``). Under the lock: a
        poll on another thread changes the records while they are read."""
        return [k for k, t in self._tracked.items() if t.unresolved_since is not None]

    # -- market data ---------------------------------------------------------------------

    @_serialized
    def fetch_top_of_book(self, asset: str) -> TopOfBook:
        """The exchange's best bid and ask for ``asset`` now (public data, no keys needed),
        for feeding a paper venue from the live market."""
        symbol = self._symbol(asset)
        if symbol is None:
            raise ValueError(f"unknown asset {asset!r} on {self.name}")
        book = self._account_call("fetch_order_book", symbol, 5)
        bids, asks = book.get("bids") or [], book.get("asks") or []
        if not bids or not asks:
            raise RuntimeError(f"{self.name}: the {symbol} book has no bid or no ask")

        def figure(side: str, level: Any, index: int) -> float:
            # A None or text there raised a bare TypeError, and a NaN went on into the quote.
            field_name = f"{side}[0][{index}]"
            value = level[index] if isinstance(level, (list, tuple)) and len(level) > index else None
            number = _number(value) if value is not None else math.nan
            if not (math.isfinite(number) and (number > 0 if index == 0 else number >= 0)):
                what = "price" if index == 0 else "size"
                raise ValueError(
                    f"{self.name}: the {symbol} book's {field_name} ({side[:-1]} {what}): {value!r} "
                    f"is not a {'positive' if index == 0 else 'non-negative'} number"
                )
            return number

        ms = _trade_ms(book)  # the book's time; the clock's when it gives none that is a time
        return TopOfBook(
            asset,
            figure("bids", bids[0], 0),
            figure("asks", asks[0], 0),
            figure("bids", bids[0], 1),
            figure("asks", asks[0], 1),
            ms / 1000.0 if ms is not None else self._clock(),
        )

    # -- account -------------------------------------------------------------------------

    def _account_call(self, method: str, *args: Any) -> Any:
        """A read-only query; failures raise RuntimeError with credentials scrubbed."""
        if self._throttled():
            wait = self._blocked_until - self._clock()
            raise RuntimeError(
                f"{self.name}: {method} not sent, the exchange is throttling (retry in {wait:.3f}s)"
            )
        try:
            return getattr(self._exchange, method)(*args)
        except (self._ccxt.DDoSProtection, self._ccxt.RateLimitExceeded) as exc:
            self._note_throttle(exc)
            raise RuntimeError(f"{self.name}: {method} throttled: {self._error_text(exc)}") from None
        except self._ccxt.BaseError as exc:
            raise RuntimeError(f"{self.name}: {method} failed: {self._error_text(exc)}") from None

    @_serialized
    def open_orders(self) -> list[VenueOrder]:
        """Working orders on the exchange, for reconciliation. Orders this adapter did not
        send carry slot 0 and an empty trade id."""
        raws = self._account_call("fetch_open_orders")
        by_client = {t.client_id: t for t in self._tracked.values()}
        orders: list[VenueOrder] = []
        for raw in raws:
            exchange_id = str(raw.get("clientOrderId") or "")
            known = by_client.get(exchange_id)
            client_order_id = known.order.client_order_id if known else exchange_id
            orders.append(self._venue_order(raw, client_order_id, known))
        return orders

    def _venue_order(self, raw: dict[str, Any], client_order_id: str, known: _Tracked | None) -> VenueOrder:
        """``raw`` (a ccxt order) as a ``VenueOrder``; orders this adapter did not send (or sent
        before a restart) carry slot 0 and an empty trade id."""
        what = f"order {raw.get('id')!r}"
        symbol = raw.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            # A bare KeyError (or ccxt's BadSymbol for None) said nothing of which answer.
            raise ValueError(f"{self.name}: {what} field 'symbol': {symbol!r} is not a market symbol")
        market = self._exchange.market(symbol)
        size = self._figure(raw.get("amount"), what, "amount")
        # What the order executed so far: reconciliation books a fill the kernel missed from it
        # (the exchange never counts more than the order's size).
        filled = self._figure(raw.get("filled"), what, "filled")
        filled = min(filled, size) if size > 0 else filled
        average = self._figure(raw.get("average"), what, "average")
        if not average > 0:
            # A cost below 0 is Binance's "no figure" (ccxt's average of it too): no average, as
            # _price_of_rest reads it. Read as one, the VenueOrder refused its negative average.
            cost = self._figure(raw.get("cost"), what, "cost") if filled > 0 else 0.0
            average = cost / filled if cost > 0 else 0.0
        price = self._figure(raw.get("price"), what, "price")
        timestamp = self._figure(raw.get("timestamp"), what, "timestamp")
        status = _ENDED_STATUSES.get(str(raw.get("status"))) or (
            VenueOrderStatus.PARTIALLY_FILLED if filled > 0 else VenueOrderStatus.ACKNOWLEDGED
        )
        if status == VenueOrderStatus.FILLED and raw.get("filled") is not None and filled < size * (1 - 1e-9):
            # Closed short of its size (see _order_events): ended part filled, the rest never fills.
            status = VenueOrderStatus.EXPIRED
        if status == VenueOrderStatus.REJECTED and filled > 0:
            status = VenueOrderStatus.EXPIRED  # dropped after part of it traded (_order_events)
        if known is not None:
            # The order as sent: an answer leaving its side or type out must not turn a buy around.
            side, order_type = known.order.side.name, known.order.order_type.name
        elif raw.get("side") in ("buy", "sell"):
            side = str(raw["side"]).upper()
            # Another's type is only shown (it is canceled or listed by id): a stop is not refused.
            order_type = "LIMIT" if raw.get("type") == "limit" else "MARKET"
        else:
            raise RuntimeError(
                f"{self.name}: order {raw.get('id')!r} (client id {raw.get('clientOrderId')!r}) has "
                f"side={raw.get('side')!r}: whether it buys or sells is unknown"
            )
        return VenueOrder(
            client_order_id,
            known.order.slot_id if known else 0,
            known.order.trade_id if known else "",
            known.order.asset if known else str(market["id"]),
            side,
            order_type,
            price,
            max(size, filled),
            # In the form the kernel learned it from this adapter's events, so reconciliation
            # matches the order the kernel holds.
            venue_order_id=_qualified_order_id(str(market["id"]), str(raw.get("id") or "")),
            reduce_only=bool(raw.get("reduceOnly")),
            timestamp=timestamp / 1000.0 if timestamp else None,
            filled_size=filled,
            avg_fill_price=average,
            status=status,
            # The order as sent, where it is one: its exit may have gone out plain.
            is_entry=known.order.is_entry if known else None,
        )

    def _figure(self, value: Any, what: str, field_name: str) -> float:
        """``value``, the figure ``field_name`` of ``what`` (an order, a balance), as a number (0
        when absent). A ValueError naming them and the value when it is not a finite number: a
        bare "could not convert string to float: 'abc'" said nothing of where it came from."""
        number = _number(value or 0.0)
        if not math.isfinite(number):
            raise ValueError(f"{self.name}: {what} field {field_name!r}: {value!r} is not a number")
        return number

    @_serialized
    def listed_venue_order_id(self, order: VenueOrder) -> str:
        """The venue order id under which ``open_orders`` and ``order_status`` list the kernel's
        ``order``: its exchange id qualified with its market. A log written before ids were
        qualified holds it bare, and reconciliation, matching the ids listed with the ones the
        kernel holds, would take the order for one nobody manages. The kernel's own id when the
        order's market is not one this venue trades."""
        try:
            symbol = self._symbol(order.asset)
        except RuntimeError:  # the markets could not be loaded: nothing better to say
            return order.venue_order_id
        if symbol is None:
            return order.venue_order_id
        market_id = self._market_id(symbol)
        return _qualified_order_id(market_id, _exchange_order_id(market_id, order.venue_order_id))

    @_serialized
    def position_asset(self, asset: str) -> str:
        """The name ``positions()`` gives the kernel's ``asset``: its market's id (an asset may be
        a ccxt symbol, ``BTC/USDT``, and a position names its market by id, ``BTCUSDT``), so
        reconciliation compares the one position, not two mismatches. ``asset`` itself when it
        is no market of this venue."""
        symbol = self._symbol(asset)
        return asset if symbol is None else self._market_id(symbol)

    def listed_client_order_id(self, order: VenueOrder) -> str:
        """The client order id under which ``open_orders`` lists the kernel's ``order`` after a
        restart (this adapter has no record of it then): the id it went out under, a hash of
        the kernel's where the exchange's rules refuse that (``venue_client_id``). Without it,
        an order never acknowledged (no exchange id to be matched by) was taken by
        reconciliation for one nobody manages, and canceled, when its lookup failed."""
        return self.venue_client_id(order.client_order_id, self.settings.exchange)

    @_serialized
    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        """The exchange's order sent for the kernel's ``client_order_id`` (the exchange knows it
        as ``venue_client_id(client_order_id)``), with its status, filled size, average fill
        price and exchange id: reconciliation asks it about an order no longer open. None only
        when the exchange says it has no such order in the markets asked (of a submit in doubt
        in this process, once it has said so for ``unknown_order_grace_s``, and of one sent
        before a restart and followed, ``watch``, once that long has passed since its send:
        before, ``VenueUnavailable``).

        The exchange is asked per market. Given ``asset`` (the kernel's asset of the order, as
        reconciliation gives it), that market only: this adapter sends an order in its asset's
        market only, so one not there is None (one this process sent under the id in another
        market is another order). An asset this venue has no market for raises
        ``VenueUnavailable`` naming it, nothing asked: where the order is, is unknown, and None
        would end an order that may work there. Without ``asset``, an order this adapter sent
        (or canceled) in this process is asked for in its market; one it has no record of (sent
        before a restart) could be in any market it trades (the ``markets`` setting, else every
        market it serves), so each is asked, those it traded in this process first, until one
        has it: one request per market (two where orders are found in the order lists, Bybit),
        and only all of them saying "no such order" is None. Kraken's order lists are the
        account's: asked once each, an order they list in a market it does not trade is None
        (given ``asset``, ccxt keeps that market's orders from the same answer). Raises
        ``VenueUnavailable``, never returns None, when a market could not be asked (throttled,
        unreachable): the order may be there. An ``asset`` not a str is a TypeError."""
        asset = order_status_asset(asset, self.name)
        client_id = self.venue_client_id(client_order_id, self.settings.exchange)
        tracked = self._tracked.get(client_order_id)
        if asset is not None:
            symbol = self._symbol(asset)
            if symbol is None:
                raise VenueUnavailable(
                    f"{self.name}: status of {client_order_id!r} not asked: its asset {asset!r} is no "
                    f"market of {self.name}, so where to look is unknown"
                )
            if tracked is not None and tracked.symbol != symbol:
                tracked = None  # an order of this id in another market: not the one asked for
            symbols = [symbol]
        else:
            symbols = [tracked.symbol] if tracked is not None else self._markets_to_search()
        lists = self._order_lists()
        # The market of an order from before a restart is known neither here (no record of it)
        # nor from its client id (the kernel's id, or a hash of it). Where the order lists are
        # the account's (Kraken), one ask covers them all: per market, the same requests went
        # out once for each, hundreds of them.
        account_wide = tracked is None and asset is None and lists is not None and lists.account_wide
        for symbol in [None] if account_wide else symbols:
            raw = self._find(client_id, symbol)
            if raw is None:
                continue
            if account_wide and isinstance(raw.get("symbol"), str) and raw["symbol"] not in symbols:
                return None  # in a market this venue does not trade: not asked for, per market
            order = self._venue_order(raw, client_order_id, tracked)
            # Its market counts as traded: searched first next time.
            self._assets_traded.add(str(self._exchange.market(raw["symbol"])["id"]))
            return order
        if tracked is not None and tracked.unresolved_since is not None:
            # A submit in doubt is never sent only once the exchange has said so for the grace,
            # as poll_events counts it (its query may lag its book): None at the first such
            # answer had reconciliation end an order that then showed, and filled.
            waited = self._not_found(tracked)
            if waited < self.settings.unknown_order_grace_s:
                raise VenueUnavailable(
                    f"{self.name}: status of {client_order_id!r} unknown: its submit timed out and the "
                    f"exchange has answered no such order for {waited:.1f}s, short of unknown_order_grace_s "
                    f"({self.settings.unknown_order_grace_s:g}s); it may be working there"
                )
            # Never sent, as the poll would say: asked about on, the poll reported its REJECT
            # again, for an order reconciliation ended on this None.
            del self._tracked[client_order_id]
        elif tracked is not None and tracked.acked:
            # Acknowledged (or taken over from before a restart, ``watch``): sent less than the
            # grace ago, an exchange may not show it yet. None had reconciliation end it as
            # purged, and its fill, once the exchange showed it, was refused.
            now = self._clock()
            waited = now - min(tracked.order.created_at, now)
            if waited < self.settings.unknown_order_grace_s:
                raise VenueUnavailable(
                    f"{self.name}: status of {client_order_id!r} unknown: the exchange answers no such "
                    f"order, {waited:.1f}s after it was sent, short of unknown_order_grace_s "
                    f"({self.settings.unknown_order_grace_s:g}s); it may be working there"
                )
            if tracked.ended_at is None and tracked.owed_answer is None:
                # Purged, as the poll would say after its own grace: asked about on, the poll
                # reported its end again, for an order reconciliation ended on this None.
                del self._tracked[client_order_id]
        return None

    def _markets_to_search(self) -> list[str]:
        """The symbols of the markets this venue trades (the markets setting, else every one it
        serves), those traded in this process first."""
        self.load_markets()
        served = self._trade_symbols or sorted(set(self._asset_symbols.values()))
        traded = {self._asset_symbols[a] for a in self._assets_traded if a in self._asset_symbols}
        return sorted(traded) + [symbol for symbol in served if symbol not in traded]

    @_serialized
    def positions(self) -> dict[str, float]:
        """Signed position per market id. Futures: the exchange's positions, a market's long and
        short netted (a hedge-mode account lists them apart). Spot: the total base-currency
        balance of each market of the ``markets`` setting (without it, RuntimeError: a balance
        names no market, and the markets traded in this process are none after a restart; and
        RuntimeError when two of those markets share a base currency, BTCUSDT and BTCUSDC, or one's
        base is another's quote, BTCUSDT and ETHBTC)."""
        self.load_markets()
        if self.settings.market_type == "linear":
            result: dict[str, float] = {}
            for position in self._account_call("fetch_positions"):
                contracts = self._figure(
                    position.get("contracts"), f"position {position.get('symbol')!r}", "contracts"
                )
                if contracts == 0.0:
                    continue
                market = self._exchange.market(position["symbol"])
                market_id = str(market["id"])
                # ccxt's contracts are unsigned and its side says which way; without a side, a
                # negative count (signed, as some exchanges give it) is short.
                side = position.get("side")
                if side not in ("long", "short") and contracts > 0:
                    raise RuntimeError(
                        f"{self.name}: the {market_id} position has side={side!r} and "
                        f"contracts={contracts!r}: whether it is long or short is unknown"
                    )
                contract_size = self._figure(
                    market.get("contractSize") or 1.0, f"market {market_id!r}", "contractSize"
                )
                size = abs(contracts) * contract_size
                result[market_id] = result.get(market_id, 0.0) + (size if side == "long" else -size)
            return {market_id: size for market_id, size in result.items() if size != 0.0}
        if self._trade_symbols is None:
            # The markets traded in this process are none after a restart, when reconciliation
            # asks: a held balance would be reported as no position.
            raise RuntimeError(
                f"{self.name}: spot positions are currency balances, and without the markets "
                "setting which market holds one is unknown; set markets"
            )
        by_base: dict[str, list[str]] = {}
        by_quote: dict[str, list[str]] = {}
        for symbol in self._trade_symbols:
            market = self._exchange.market(symbol)
            by_base.setdefault(str(market["base"]), []).append(str(market["id"]))
            by_quote.setdefault(str(market["quote"]), []).append(str(market["id"]))
        for base, market_ids in by_base.items():
            if len(market_ids) > 1:
                # One balance, several markets: given to each it would count several times.
                raise RuntimeError(
                    f"{self.name}: spot positions of {', '.join(sorted(market_ids))} are all the one "
                    f"{base!r} balance, which cannot be split by market"
                )
            if base in by_quote:
                # The balance also holds what the other market's trades paid or got in it.
                raise RuntimeError(
                    f"{self.name}: the spot position of {market_ids[0]} is the {base!r} balance, "
                    f"which {', '.join(sorted(by_quote[base]))} also trades in, so it is not that position"
                )
        totals = self.balances()
        spot: dict[str, float] = {}
        for base, (market_id,) in by_base.items():
            amount = totals.get(base, 0.0)
            if amount:
                spot[market_id] = amount
        return spot

    @_serialized
    def balances(self) -> dict[str, float]:
        balance = self._account_call("fetch_balance")
        totals = balance.get("total") or {}
        amounts = {
            str(cur): self._figure(amount, f"balance of {cur!r}", "total") for cur, amount in totals.items()
        }
        return {cur: amount for cur, amount in amounts.items() if amount}
