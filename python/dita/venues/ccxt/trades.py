"""Reading an order's trades from the exchange: by the trade ids its answer names (Kraken), or from
the account's trade list filtered by the order, page after page and over the order's life where
the list covers a recent time range only. Each exchange's parameters and paging are tables here."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from dita.venues.ccxt.answers import number, trade_amount, trade_ms
from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.settings import by_lineage
from dita.venues.ccxt.tracking import TrackedOrder

__all__ = ["TradeReader", "trades_total"]

log = logging.getLogger("dita.venues.ccxt")

# The parameter by which an exchange's trade list (ccxt's fetch_my_trades, which passes it on
# as given) keeps one order's trades: Binance's and Bybit's ``orderId`` where not named here.
# Kraken's list has none (""): it answers the account's latest trades, of which the order's are
# kept (read only where the order's answer does not name its trades: ``_TRADES_BY_ID``); sent to
# Kraken's TradesHistory, Binance's ``orderId`` filters nothing. Gate's ``order_id`` filters its
# spot list (a swap's is in ``_ORDER_TRADE_LISTS``).
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
# there): its answer is the contract's latest trades of any order, and a busy account's order's
# trades are not among them. Gate's ``my_trades`` takes ``order``.
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
    page_number = int(asked.get("page", 1)) + 1
    return {"page": page_number} if len(page) * (page_number - 1) <= _GATE_LAST_PAGE_ROWS else None


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
# after a restart) would have its older trades missed, and the rest booked from the order.
# Bybit's execution list is Gate's case with 7 days for both (``startTime``, ``endTime``: ccxt's
# ``since`` and ``until``), the order's id given or not. A Gate swap's list
# (``_ORDER_TRADE_LISTS``) is read one page.
_TRADE_PAGES = {
    "binance": _TradePages(1000, _binance_next_page),
    "bybit": _TradePages(100, _bybit_next_page, window_s=7 * 86_400),
    "okx": _TradePages(100, _okx_next_page),
    "gate": _TradePages(1000, _gate_next_page, ("spot",), window_s=30 * 86_400),
}
# Exchanges whose order query names the order's trades by id, and whose trade query (ccxt's
# fetch_order_trades) takes those ids, at most this many a request: Kraken's trade list has no
# order filter, and a busy account's order's trades are not among its latest 50.
_TRADES_BY_ID = {"kraken": 20}


def trades_total(tracked: TrackedOrder, trades: list[dict[str, Any]]) -> float:
    """Filled size once ``trades`` are applied (the already reported ones count once, and
    so do those the kernel booked before a restart, counted in ``tracked.filled``)."""
    # A trade whose amount or price is unreadable counts nothing: the fills skip it, warning.
    # Counted, an order's answer giving one would have its trade list never read for it.
    new = sum(
        trade_amount(t)
        for t in trades
        if t.get("id") is not None and tracked.fill_key(t) not in tracked.reported_fills
    )
    return tracked.filled - tracked.booked_unmatched + new


class TradeReader:
    """Reads one order's trades from the exchange, as ccxt's trade dicts."""

    def __init__(self, client: ExchangeClient, market_type: str) -> None:
        self._client = client
        self._market_type = market_type

    def order_life(self, raw: dict[str, Any]) -> tuple[int, int] | None:
        """When the order of answer ``raw`` was made and the latest its trades can be (whole
        seconds): its last update by the exchange's clock or now by ours, whichever is later.
        None when the answer gives no time it was made."""
        made = trade_ms(raw)
        if made is None:
            return None
        times = [number(raw.get(k)) for k in ("lastTradeTimestamp", "lastUpdateTimestamp")]
        latest = max([t for t in times if math.isfinite(t)] + [self._client.clock() * 1000, made])
        return int(made // 1000), math.ceil(latest / 1000)

    def fetch(
        self,
        tracked: TrackedOrder,
        exchange_filled: float,
        trade_ids: Sequence[str] = (),
        life: tuple[int, int] | None = None,
    ) -> list[dict[str, Any]]:
        """The order's trades, page by page (``_pages``; over ``life``, ``order_life``, where the
        list covers a recent time range unless asked), until the pages end, one brings nothing
        new or the trades add up to ``exchange_filled``; only the order's are kept. A request
        that fails (any error, ccxt's or its parser's) ends the reading with the pages read so
        far: their trades are reported, and the next poll reads again (those already reported
        count once). ``tracked.trades_unread`` says whether the list was read short of that."""
        client = self._client
        order_id = tracked.exchange_order_id
        tracked.trades_unread, tracked.unread_filled = True, exchange_filled
        if not order_id or client.throttled():
            # Throttled or banned, nothing is sent (a streamed update owing trades would ask
            # during a ban): the next poll after it ends reads them.
            return []
        by_id = self._trades_by_id(tracked, trade_ids)
        pages = self._pages(tracked, by_id, life)
        found: dict[str, dict[str, Any]] = {}
        while True:
            try:
                page = next(pages, None)
            except client.throttle_errors as exc:
                client.note_throttle(exc)
                break
            except Exception as exc:
                # The fills are not lost: the next poll asks again. Not only ccxt's errors: its
                # parser raises TypeError on a page it did not expect (a null entry), and raised
                # on, that would lose the pages read and, breaking every poll, leave the order
                # asked about for ever, never booked from its own figures after the wait.
                log.warning(
                    "%s trades of %s unavailable: %s",
                    client.name,
                    tracked.venue_order_id,
                    client.error_text(exc),
                )
                break
            if page is None:
                tracked.trades_unread = False
                break
            new = [t for t in page if str(t.get("order") or "") == order_id and str(t.get("id")) not in found]
            found.update((str(t.get("id")), t) for t in new)
            # A page that brings nothing new ends a list's reading (a venue that ignored the
            # cursor gives the same page for ever); the batches by id are each asked once.
            read_out = not new and by_id is None
            if read_out or trades_total(tracked, list(found.values())) >= exchange_filled:
                tracked.trades_unread = False
                break
        return list(found.values())

    def _trades_by_id(self, tracked: TrackedOrder, trade_ids: Sequence[str]) -> list[list[str]] | None:
        """Where the order's answer named its trades (``trade_ids``) and the exchange is asked
        for trades by id (``_TRADES_BY_ID``: Kraken), the batches of those not reported yet, one
        request each; else None (the trade list is read)."""
        exchange = self._client.exchange
        most = by_lineage(type(exchange), _TRADES_BY_ID)
        if most is None or not trade_ids:
            return None
        options = exchange.safe_dict(exchange.options, "fetchOrderTrades", {})
        batch = exchange.safe_integer(options, "batchSize", most)  # as ccxt reads it
        # ccxt splits the ids into batches of its size and then sends the rest, an empty
        # request when none are left: each call gets fewer than a batch, one request.
        per_request = max(min(batch, most) - 1, 1)
        unreported = [
            i for i in dict.fromkeys(trade_ids) if tracked.fill_key({"id": i}) not in tracked.reported_fills
        ]
        return [unreported[at : at + per_request] for at in range(0, len(unreported), per_request)]

    def _pages(
        self, tracked: TrackedOrder, by_id: list[list[str]] | None, life: tuple[int, int] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The order's trades, one request per page: the batches ``by_id`` (``_trades_by_id``),
        or else the trade list (``_ORDER_TRADE_LISTS``, else ccxt's fetch_my_trades) asked for
        the order's trades by the exchange's own parameter (``_TRADES_ORDER_PARAM``: OKX's
        ``ordId``, to which ccxt does not map Binance's ``orderId``; none on Kraken), page after
        page where it pages (``_TRADE_PAGES``: Binance, Bybit, OKX, Gate's spot list) until a
        page is short or names no next one; elsewhere its first page only. Where the list
        covers a recent time range unless asked (Gate's spot list), each range of ``life`` in
        turn, from the oldest (its last ``_MOST_TRADE_RANGES``, ending by our clock, see below)."""
        exchange = self._client.exchange
        exchange_class = type(exchange)
        symbol, order_id = tracked.symbol, tracked.exchange_order_id
        if by_id is not None:
            for batch_ids in by_id:
                yield exchange.fetch_order_trades(order_id, symbol, None, None, {"trades": batch_ids})
            return
        own_list = (by_lineage(exchange_class, _ORDER_TRADE_LISTS) or {}).get(self._market_type)
        if own_list is not None:
            fetch: Callable[..., list[dict[str, Any]]] = functools.partial(own_list[0], exchange)
            by_order: str | None = own_list[1]
        else:
            fetch = exchange.fetch_my_trades
            by_order = by_lineage(exchange_class, _TRADES_ORDER_PARAM)
            by_order = "orderId" if by_order is None else by_order
        the_order: dict[str, Any] = {by_order: order_id} if by_order else {}
        paging = by_lineage(exchange_class, _TRADE_PAGES)
        if paging is not None and self._market_type not in paging.market_types:
            paging = None
        limit = paging.limit if paging is not None else None
        ranges: list[tuple[int | None, dict[str, Any]]] = [(None, {})]
        if paging is not None and paging.window_s is not None and life is not None:
            # Bounded whatever the answer's times say: made at 0, or updated in another unit
            # (microseconds read as the year 57,000), it would be asked range after range,
            # hundreds of thousands of requests a poll. Ending a day past our clock at most, over
            # the last _MOST_TRADE_RANGES ranges; trades older are booked from the order, as a
            # list's missing ones are (missing_trades_wait_s).
            end_s = min(life[1], math.ceil(self._client.clock()) + _EXCHANGE_CLOCK_AHEAD_S)
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
