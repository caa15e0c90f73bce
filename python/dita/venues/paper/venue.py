"""PaperVenue: fills from quotes or bars, deterministic, so paper results are not rosier
than live.

The rules, chosen to err against the strategy:

- The venue clock is the timestamp of the last quote or bar; an order is live from
  ``submit time + latency`` and only data stamped at or after that can fill it (bars:
  stamped after the submit time too, since a bar's stamp is its open). An order (or a
  cancel) sent on a bar is decided at that bar's close, the next bar's open: with a latency,
  it is live (or takes effect) from that close + latency, so on bars of a minute a latency
  of 30 s lets the next bar open without it and it fills at the open after.
- Market orders take the book: buys at the ask, sells at the bid, moved ``slippage_bps``
  against the order, for at most the quoted size. What the quote cannot fill waits for the
  next quotes (``market_remainder="continue"``) or expires (``"expire"``, IOC-like).
  Against bars, a market order fills at the next bar's open (never the bar it was sent
  after: no look-ahead), for at most ``bar_volume_share`` of the bar's volume.
- Limit orders that are marketable on arrival fill as takers at the quote (no better than
  their limit); what the quoted size or the bar's volume leaves of one stays marketable, a
  taker at the next quotes or opens, until the market moves past its limit. Resting limit
  orders fill at their limit price as makers only when the market crosses them: ask <= buy
  limit or bid >= sell limit for quotes, low strictly below a buy limit or high strictly
  above a sell limit for bars (a touch proves nothing about queue position).
- Quoted size and bar volume are shared by the orders they fill, oldest order first.
- A reduce-only order never opens, grows or reverses a position: a fill takes at most the
  position on its other side, and when none is left (flat, or held on the order's side) the
  order, or what remains of it, expires (``_reduce_only_end``), as exchanges expire it.
- Fees: ``taker_rate`` or ``maker_rate`` of the fill's notional, reported on each fill (a
  negative ``maker_rate``, down to ``-taker_rate``, is a rebate: a negative fee).
- With ``market_limits`` set, orders the exchange would refuse (lot step, tick size,
  minimum size or notional) are rejected as the exchange would, and a part fill is whole
  lots of the lot step, as an exchange fills.
- With ``assets`` set (the assets the run has data for), an order for another asset is
  rejected naming it, as an exchange refuses a symbol it does not list: no data would ever
  fill it, and it would hold its kernel slot for the whole run.
- With ``leverage`` set, an order that opens or grows a position is rejected when the
  margin it needs is above the account's available margin, as an exchange refuses an order
  its balance cannot carry (``_margin_refusal``); without it, cash may go negative, as if the
  account had unlimited credit.

The backtester drives it with ``on_quote``/``on_bar`` and feeds the returned events to the
kernel; ``submit`` and ``cancel`` return their own events synchronously.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from dita._kernel import KernelEventKind, OrderSide, OrderType, VenueEvent, VenueOrder, VenueOrderStatus
from dita._reading import read_items
from dita.venues._events import answered, move, require_order
from dita.venues.paper.order_book import (
    _check_asset,
    _checked_quote,
    _finite,
    _OrderBook,
    _Quote,
    _Working,
)

__all__ = ["PaperVenue"]


# How many listed assets a refusal of an unlisted one names.
LISTED_SHOWN = 10
# The format of ``PaperVenue.book()``; ``restore_book`` refuses any other.
BOOK_FORMAT = 1
# What orders leave of a quoted size or a bar's volume share, within this share of what there
# was, is float dust of the sizes taken (1.0 - 0.7999999999999998 - 0.2 leaves 1.7e-16): nothing.
LEFT_WITHIN = 1e-12


@dataclass(frozen=True)
class BookedFill:
    """A fill the kernel booked, as its journal's ``fills`` row (derived from its write-ahead
    log) names it: what ``PaperVenue.catch_up`` applies to a book saved before it."""

    event_id: str
    fill_id: str
    client_order_id: str
    venue_order_id: str
    asset: str
    side: str
    price: float
    qty: float
    fee: float
    liquidity: str = ""


@dataclass
class CaughtUp:
    """What ``PaperVenue.catch_up`` did: fills applied, orders put back working, orders of the
    book ended (the kernel no longer works them), and what it could not apply, one line each."""

    fills: int = 0
    working: int = 0
    ended: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)


@dataclass
class _Placed:
    """What the fills of an order placed after a saved book took (``catch_up``)."""

    filled: float = 0.0
    filled_cost: float = 0.0
    fills: int = 0
    maker: bool = False


def _money(amount: float) -> str:
    """An amount of the quote currency as a refusal names it: in cents, or to 4 figures below
    a cent (a quote currency of BTC)."""
    return f"{amount:,.2f}" if abs(amount) >= 0.01 or amount == 0 else f"{amount:.4g}"


def _left(available: float, taken: float) -> float:
    """What ``taken`` leaves of ``available`` (a quoted size, a bar's volume share): 0 when only
    float dust is left, which the next order would fill, a fill no exchange makes (the kernel
    refuses it as counted already)."""
    left = available - taken
    return left if left > available * LEFT_WITHIN else 0.0


# How far a count of lots may be from a whole one, relative to it, and be that one: the floats'
# rounding of a product or a sum of sizes, far above 2**-52, far below any lot a size means.
_LOTS_WITHIN = Decimal("1e-9")


def _whole_lots(qty: float, lot_step: float) -> float:
    """``qty`` cut down to whole lots of ``lot_step``, judged on the decimals as the exchange (and
    ``float_step_multiple``) judges sizes: an exchange fills whole lots only. A part fill of what
    a bar's volume share or a quoted size left (0.333333 of an order of 1.0, lot 0.001) would
    leave a position no exchange leaves, whose exit the lot filter then refuses: never closed. A
    count of lots short of a whole one only by the floats' rounding (0.29 * 0.1 is
    0.028999999999999998) is that whole one: floored, it would lose a lot, and a reduce-only
    order capped at such a position would leave its last lot open for good."""
    step = Decimal(repr(lot_step))
    lots = Decimal(repr(qty)) / step
    nearest = lots.to_integral_value()
    if abs(lots - nearest) <= _LOTS_WITHIN * max(nearest, Decimal(1)):
        return float(nearest * step)
    return float(lots.to_integral_value(rounding=ROUND_FLOOR) * step)


# Readers of a saved book (``restore_book``): each takes only what ``book()`` writes. Taken
# loosely, a NaN fill count or a text "no" for a flag would be restored, and the venue break
# later (``open_orders`` raising at reconciliation) or work the order otherwise than it had.


def _book_time(name: str, value: object) -> float | None:
    return None if value is None else _finite(name, value, signed=True)


def _book_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} {value!r} is not a count")
    return value


def _book_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} {value!r} is not true or false")
    return value


def _check_book_order(w: _Working) -> None:
    """A saved order as only a paper venue could have held one (``submit`` refuses the rest, and
    fills keep ``filled``, ``filled_cost`` and ``fills`` in step), else a ValueError naming the
    field and its value. Restored, a size of 0 would work on for good, never filled; a sell limit
    at 0 would fill at 0; a part fill saved with ``fills`` 0 would give its next fill the first
    one's id, which the kernel drops as a duplicate."""
    o = w.order
    name = f"order {o.client_order_id!r}"
    if not o.asset:
        raise ValueError(f"{name}: asset {o.asset!r} is not a market")
    if not w.venue_order_id:
        raise ValueError(f"{name}: venue_order_id {w.venue_order_id!r} is empty")
    if not w.size > 0:
        raise ValueError(f"{name}: size {w.size!r} is not above 0")
    if o.order_type == OrderType.LIMIT and not o.price > 0:
        raise ValueError(f"{name}: price {o.price!r} of a LIMIT order is not above 0")
    if not 0 <= w.filled <= w.size:
        more = "more than its size" if w.filled > 0 else "below 0"
        raise ValueError(f"{name}: filled {w.filled!r} of {w.size!r}, {more}")
    if w.filled == 0:
        if w.filled_cost != 0:
            raise ValueError(f"{name}: filled_cost {w.filled_cost!r} with nothing filled")
        if w.fills:
            raise ValueError(f"{name}: fills {w.fills!r} with nothing filled")
    else:
        if not w.filled_cost > 0:
            raise ValueError(f"{name}: filled_cost {w.filled_cost!r} for {w.filled!r} filled")
        if not w.fills:
            raise ValueError(f"{name}: fills {w.fills!r} with {w.filled!r} filled")


def _book_quote(asset: str, saved: object) -> _Quote:
    """A saved top of book, as ``on_quote`` takes one (a bar's close is one too): read as any
    finite numbers, a negative ask or a crossed quote would be restored and filled at."""
    if not isinstance(saved, list | tuple) or len(saved) != 4:
        raise ValueError(f"{asset} is not [bid, ask, bid_size, ask_size]: {saved!r}")
    bid, ask, bid_size, ask_size = saved
    return _checked_quote(asset, bid, ask, bid_size, ask_size, named=f"{asset} ")


@dataclass
class _Sides:
    """An asset's position and working orders as the margin check counts them: ``held``, the
    position at the mark (signed); the size and notional of the working buys and sells, each
    at the price it would fill or rest at, reduce-only ones included at their whole size (they
    fill no further than the position, so the margin counted for them errs high, never low);
    and ``fees``, the taker fee of those not reduce-only."""

    held: float
    bought: float = 0.0
    sold: float = 0.0
    bought_notional: float = 0.0
    sold_notional: float = 0.0
    fees: float = 0.0

    def exposure(self, buy: bool = True, extra: float = 0.0) -> float:
        """The largest notional the account may come to hold in the asset: its position after
        every working buy fills, or after every sell does, whichever is larger (any other mix
        of fills holds less). ``extra``: the notional of one more order, a buy or not. Its
        margin is this over the leverage: orders on both sides reserve for the larger side
        only, as exchanges count them."""
        bought = self.bought_notional + (extra if buy else 0.0)
        sold = self.sold_notional + (0.0 if buy else extra)
        return max(abs(self.held + bought), abs(self.held - sold))


def _quote_crosses(working: _Working, book: _Quote) -> bool:
    """Whether the limit order ``working`` crosses the touch of ``book``."""
    return book.ask <= working.limit if working.buy else book.bid >= working.limit


def _bar_crossing(working: _Working, open_: float, high: float, low: float) -> str:
    """How a bar crosses the limit order ``working``: ``"open"`` (marketable at the open, not
    resting: a taker), ``"limit"`` (traded through its limit: a maker at it) or ``""``."""
    limit = working.limit
    if not working.resting and (open_ <= limit if working.buy else open_ >= limit):
        return "open"
    if low < limit if working.buy else high > limit:
        return "limit"
    return ""


class PaperVenue(_OrderBook):
    """``PaperVenue(taker_rate=0.0005, maker_rate=0.0002, slippage_bps=1.0, latency_ms=0,
    bar_volume_share=0.1, market_remainder="continue", quote_currency="USDT",
    starting_balance=0.0, leverage=None, name="paper", market_limits=None, assets=None,
    clock=None)``.

    Settings are validated by ``PaperSettings`` and ``VenueInputs`` (an invalid one raises
    ``pydantic.ValidationError`` naming the field and the value). Feed market data with
    ``on_quote``/``on_bar``; each returns the events it produced for working orders, oldest
    order first. ``assets``: the assets the venue lists (those its feed has); an order for
    another is rejected. None takes every asset. ``clock``: the venue time instead of the
    data's (a live run's wall clock). ``leverage``: the account's leverage, an order
    opening more than the available margin carries is rejected (``margin()``); None, no check.
    """

    # -- orders --------------------------------------------------------------------------

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        require_order(order)
        clock = self._read_clock()
        with self._lock:
            return self._submit(order, self._time(clock, order))

    def _submit(self, order: VenueOrder, now: float) -> list[VenueEvent]:
        self.submitted += 1
        venue_order_id = self._events.venue_order_id()
        reason = self._refusal(order) or self._margin_refusal(order)
        if reason:
            return [
                self._events.make(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    venue_order_id=venue_order_id,
                    timestamp=now,
                    reason=reason,
                )
            ]
        # Before any market data the order waits for the first quote or bar, whatever its time.
        known = self._now is not None or self._clock_fn is not None
        active_at = now + self._latency if known else -math.inf
        working = _Working(order, venue_order_id, active_at=active_at, sent_at=now if known else -math.inf)
        self._working.setdefault(order.asset, {})[order.client_order_id] = working
        self._by_client_id[order.client_order_id] = working
        if self._sent_on_a_bar():
            # Decided at its bar's close, which a quote inside that bar is before.
            working.awaits_close = True
            self._awaiting_close[order.client_order_id] = working
        events = [
            self._events.make(
                order,
                KernelEventKind.ORDER_ACK,
                VenueOrderStatus.ACKNOWLEDGED,
                venue_order_id=venue_order_id,
                timestamp=now,
            )
        ]
        quote = self._quotes.get(order.asset)
        if self._latency == 0 and quote is not None and order.asset not in self._bar_assets:
            # Fills use up the quoted size until the next quote refreshes it, so two orders
            # between quotes cannot both take the whole size.
            self._match_quote(working, quote, now, events)
        return events

    def _refusal(self, order: VenueOrder) -> str:
        """Why the venue refuses ``order`` outright ('' when it accepts it)."""
        if order.client_order_id in self._by_client_id:
            return f"duplicate client_order_id {order.client_order_id!r}: an order with that id is working"
        if not math.isfinite(order.size) or order.size <= 0:
            return f"size must be positive and finite, got {order.size!r}"
        if order.order_type == OrderType.LIMIT and (not math.isfinite(order.price) or order.price <= 0):
            return f"limit price must be positive and finite, got {order.price!r}"
        if self._assets is not None and order.asset not in self._assets:
            listed = sorted(self._assets)
            shown = ", ".join(listed[:LISTED_SHOWN])
            more = f" and {len(listed) - LISTED_SHOWN} more" if len(listed) > LISTED_SHOWN else ""
            if not listed:
                return f"unknown asset {order.asset!r}: {self.name} lists no asset"
            return f"unknown asset {order.asset!r}: {self.name} lists {shown}{more} only"
        limits = self._market_limits.get(order.asset)
        if limits is None:
            return ""
        if order.order_type == OrderType.LIMIT:
            reason = limits.price_violation(order.price)
            if reason:
                return f"venue filter: {reason}"
            price = order.price
        else:
            # At the market, as the exchange judges it: the touch it would take (a bar's close);
            # the order's reference only before any quote. A stale reference above the market
            # would pass a floor the fill is under, and one below it refuse an order taken there.
            quote = self._quotes.get(order.asset)
            if quote is not None:
                price = quote.ask if order.order_side == OrderSide.BUY else quote.bid
            else:
                price = order.reference_price
        if order.reduce_only:
            # Exchanges waive minimum notional for reduce-only orders so positions can be closed.
            price = 0.0
        reason = limits.order_violation(order.size, price)
        return f"venue filter: {reason}" if reason else ""

    # -- margin --------------------------------------------------------------------------

    def _margin_refusal(self, order: VenueOrder) -> str:
        """Why the account cannot carry ``order`` ('' when it can, or no ``leverage`` is
        set). Only an order that opens or grows a position needs margin: a reduce-only order (an
        exit) is never refused, nor one that only closes what is held (a sell within a long, the
        sells working before it counted first), so a position can always be closed, as on an
        exchange. The margin it needs is how much it grows its asset's exposure (``_Sides``)
        over the leverage, plus its fee: a sell beyond a long needs it for the part past the long
        only, and a short entry beside the exit of a long of its size only its fee (the long's
        margin carries the short), but the fee is refused to an account with no margin left."""
        leverage = self._leverage
        if leverage is None or order.reduce_only:
            return ""
        buy = order.order_side == OrderSide.BUY
        asset = order.asset
        sides = self._sides(asset)
        position = self._positions.get(asset, 0.0)
        # What is left to close once the orders before it on its side have filled (oldest
        # first, as they fill here): an order within it only closes, and needs no margin.
        closable = position - sides.sold if not buy else -position - sides.bought
        if order.size <= closable:
            return ""
        price = self._order_price(
            asset, buy, order.order_type == OrderType.MARKET, order.price, order.reference_price
        )
        if price is None:
            return (
                f"margin not known: no price for {asset!r} yet to value the order at (a market "
                "order before any quote, without a reference price)"
            )
        notional = order.size * price
        opened = sides.exposure(buy, notional) - sides.exposure()
        fee = notional * self._taker_rate
        needed = max(opened, 0.0) / leverage + fee
        account = self._margin()
        available = account["available_margin"]
        if needed <= available:
            return ""
        ccy = self.settings.quote_currency
        return (
            f"insufficient margin: the order needs {_money(needed)} {ccy} (notional opened "
            f"{_money(max(opened, 0.0))} / leverage {leverage:g} + fee {_money(fee)}), available "
            f"{_money(available)} {ccy} (equity {_money(account['equity'])} - positions' margin "
            f"{_money(account['position_margin'])} - working orders' {_money(account['order_margin'])})"
        )

    def _order_price(
        self, asset: str, buy: bool, market: bool, limit: float, reference: float
    ) -> float | None:
        """The price an order would fill or rest at now: a market order the quote's touch (a
        bar's close) moved by the slippage, as it would take it (before any quote, its reference
        price so moved; None without one); a limit order that, no worse than its limit (its
        limit when it would rest)."""
        quote = self._quotes.get(asset)
        touch = (quote.ask if buy else quote.bid) if quote is not None else reference
        taker = (touch * (1 + self._slip) if buy else touch * (1 - self._slip)) if touch > 0 else None
        if market:
            return taker
        if taker is None:
            return limit
        return min(taker, limit) if buy else max(taker, limit)

    def _working_price(self, working: _Working) -> float:
        price = self._order_price(
            working.order.asset, working.buy, working.market, working.limit, working.order.reference_price
        )
        return 0.0 if price is None else price

    def _mark(self, asset: str) -> float:
        """The latest price of ``asset``: its quote's mid, a bar's close. A position has one
        (it filled on data, and ``book()`` keeps the quotes); 0 before any."""
        quote = self._quotes.get(asset)
        return 0.0 if quote is None else (quote.bid + quote.ask) / 2

    def _sides(self, asset: str) -> _Sides:
        """What ``asset``'s working orders hold on each side, in one walk of them (see
        ``_Sides``)."""
        sides = _Sides(held=self._positions.get(asset, 0.0) * self._mark(asset))
        for working in self._working.get(asset, {}).values():
            notional = working.remaining * self._working_price(working)
            if working.buy:
                sides.bought += working.remaining
                sides.bought_notional += notional
            else:
                sides.sold += working.remaining
                sides.sold_notional += notional
            if not working.order.reduce_only:
                sides.fees += notional * self._taker_rate
        return sides

    def margin(self) -> dict[str, float]:
        """The account as the margin check sees it, in ``quote_currency``: ``equity`` (cash plus
        the positions marked at the latest price, a quote's mid or a bar's close),
        ``position_margin`` (|position| x mark / ``leverage``), ``order_margin`` (what the
        working orders reserve: how far they grow their asset's exposure over the leverage, plus
        the taker fee of those not reduce-only) and ``available_margin``, the equity less both
        margins, which an order opening a position may use. Without ``leverage`` nothing is
        reserved: both margins are 0 and all the equity is available."""
        with self._lock:
            return self._margin()

    def _margin(self) -> dict[str, float]:
        leverage = self._leverage
        # In the order the venue met them, not a set's: a sum in another order differs in its
        # last bits, and an order at the edge of the margin would be taken in one run, not the next.
        assets = dict.fromkeys([*self._positions, *(a for a, orders in self._working.items() if orders)])
        equity = self._cash
        position_margin = order_margin = 0.0
        for asset in assets:
            if leverage is None:
                equity += self._positions.get(asset, 0.0) * self._mark(asset)
                continue
            sides = self._sides(asset)
            equity += sides.held
            position_margin += abs(sides.held) / leverage
            order_margin += (sides.exposure() - abs(sides.held)) / leverage
            order_margin += sides.fees
        return {
            "equity": equity,
            "position_margin": position_margin,
            "order_margin": order_margin,
            "available_margin": equity - position_margin - order_margin,
        }

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        clock = self._read_clock()
        with self._lock:
            return self._cancel(order, self._time(clock, order))

    def _cancel(self, order: VenueOrder, now: float) -> list[VenueEvent]:
        working = self._by_client_id.get(order.client_order_id)
        if working is None:
            return [
                self._events.make(
                    order,
                    KernelEventKind.CANCEL_REJECT,
                    order.status,
                    venue_order_id=order.venue_order_id,
                    timestamp=now,
                    filled_size=order.filled_size,
                    reason=f"unknown order {order.client_order_id!r}: not working on {self.name}",
                )
            ]
        if self._latency > 0:
            # The cancel reaches the venue later; fills before then still happen.
            if working.cancel_at is None:
                working.cancel_at = now + self._latency
                self._canceling[order.client_order_id] = working
                if self._sent_on_a_bar():
                    working.cancel_awaits_close = True
                    self._awaiting_close[order.client_order_id] = working
            return []
        return [self._cancel_now(working, now)]

    def _closes_reached(self, ts: float, *, bar: bool = True) -> None:
        """Data at ``ts`` after the bar an order or a cancel was sent on: a bar opening at
        ``ts`` says that bar closed by then (bars are stamped with their open), at its open +
        ``bar_seconds`` when that is known and earlier (the bars after a gap); a quote
        (``bar`` False) says so only once ``bar_seconds`` after its open. The latency counts
        from that close."""
        for client_order_id, working in list(self._awaiting_close.items()):
            if working.awaits_close and self._closed_by(working.sent_at, ts, bar):
                # One that filled already (a book caught up from the log) was live: it stays so.
                if not working.fills:
                    decided = self._close_of(working.sent_at, ts)
                    working.active_at = max(working.active_at, decided + self._latency)
                working.awaits_close = False
            asked_at = None if working.cancel_at is None else working.cancel_at - self._latency
            if working.cancel_awaits_close and asked_at is not None and self._closed_by(asked_at, ts, bar):
                # The close is never before the ask (the next bar opens after it).
                working.cancel_at = self._close_of(asked_at, ts) + self._latency
                working.cancel_awaits_close = False
            if not (working.awaits_close or working.cancel_awaits_close):
                del self._awaiting_close[client_order_id]

    def _closed_by(self, opened: float, ts: float, bar: bool) -> bool:
        """Whether the bar that opened at ``opened`` closed by data at ``ts`` (a bar if ``bar``)."""
        if bar:
            return opened < ts
        return self._bar_seconds > 0 and opened + self._bar_seconds <= ts

    def _close_of(self, opened: float, next_open: float) -> float:
        """When the bar that opened at ``opened`` closed, the next one opening at ``next_open``."""
        return min(next_open, opened + self._bar_seconds) if self._bar_seconds > 0 else next_open

    # -- market data ---------------------------------------------------------------------

    def on_quote(
        self, asset: str, bid: float, ask: float, bid_size: float, ask_size: float, ts: float
    ) -> list[VenueEvent]:
        """A new top of book for ``asset`` at ``ts``; returns the events of working orders."""
        _check_asset(asset)
        available = _checked_quote(asset, bid, ask, bid_size, ask_size)
        ts = _finite("ts", ts)
        with self._lock:
            ts = self._advance(ts)
            self._now = ts
            self._on_a_bar = False
            self._quotes[asset] = available
            self._bar_assets.discard(asset)
            if self._awaiting_close:
                self._closes_reached(ts, bar=False)
            events = self._cancels_due(ts) if self._canceling else []
            for working in list(self._working.get(asset, {}).values()):
                # One sent on a bar is decided at that bar's close: a quote before it is too soon.
                if working.active_at <= ts and not working.awaits_close:
                    self._match_quote(working, available, ts, events)
            return events

    def on_bar(
        self, asset: str, open: float, high: float, low: float, close: float, volume: float, ts: float
    ) -> list[VenueEvent]:
        """A new bar for ``asset`` stamped ``ts``; returns the events of working orders."""
        _check_asset(asset)
        open_ = _finite("open", open, positive=True)
        high = _finite("high", high, positive=True)
        low = _finite("low", low, positive=True)
        close = _finite("close", close, positive=True)
        volume = _finite("volume", volume)
        if high < max(open_, close, low) or low > min(open_, close):
            raise ValueError(
                f"bar for {asset!r} is inconsistent: open={open!r} high={high!r} low={low!r} close={close!r}"
            )
        ts = _finite("ts", ts)
        with self._lock:
            ts = self._advance(ts)
            if self._bar_at.get(asset) == ts:
                raise ValueError(f"a bar for {asset!r} at ts {ts!r} was handed already; a bar is handed once")
            self._bar_at[asset] = ts
            self._now = ts
            self._on_a_bar = True
            if self._awaiting_close:
                self._closes_reached(ts)
            events = self._cancels_due(ts) if self._canceling else []
            capacity = volume * self.settings.bar_volume_share
            for working in list(self._working.get(asset, {}).values()):
                # A bar is stamped with its open time: one stamped when the order was sent (another
                # asset's bar of that time, the order sent after the first one) is all in the past.
                if working.active_at <= ts and working.sent_at < ts:
                    capacity = _left(
                        capacity, self._match_bar(working, open_, high, low, capacity, ts, events)
                    )
            # Until the next quote, the bar's close is the market; market orders wait for a bar.
            self._quotes[asset] = _Quote(close, close, 0.0, 0.0)
            self._bar_assets.add(asset)
            return events

    def _cancels_due(self, ts: float) -> list[VenueEvent]:
        """Acknowledge the cancels whose latency has passed by ``ts``, whatever asset the data
        is for: the venue acts at its clock, not at the next data of the order's market (a
        quiet market, or one whose feed stopped, would keep such an order working for good)."""
        due = [w for w in self._canceling.values() if w.cancel_at is not None and w.cancel_at <= ts]
        return [self._cancel_now(working, ts) for working in due]

    # -- matching ------------------------------------------------------------------------

    def _match_quote(self, working: _Working, book: _Quote, ts: float, events: list[VenueEvent]) -> None:
        if self._reduce_only_end(working, ts, events):
            return
        buy, limit = working.buy, working.limit
        touch = book.ask if buy else book.bid
        size_at_touch = book.ask_size if buy else book.bid_size
        taker_price = touch * (1 + self._slip) if buy else touch * (1 - self._slip)
        if working.market:
            price, maker = taker_price, False
        else:
            if not _quote_crosses(working, book):
                working.resting = True
                return
            if working.resting:
                price, maker = limit, True
            else:
                # Marketable on arrival: a taker, never filled worse than its limit.
                price = min(taker_price, limit) if buy else max(taker_price, limit)
                maker = False
        qty = self._fillable(working, min(working.remaining, size_at_touch))
        if qty > 0:
            if buy:
                book.ask_size = _left(book.ask_size, qty)
            else:
                book.bid_size = _left(book.bid_size, qty)
            self._fill(working, price, qty, maker, ts, events)
        self._after_pass(working, ts, events, maker)

    def _match_bar(
        self,
        working: _Working,
        open_: float,
        high: float,
        low: float,
        capacity: float,
        ts: float,
        events: list[VenueEvent],
    ) -> float:
        """Fill ``working`` against one bar; returns the volume it took."""
        if self._reduce_only_end(working, ts, events):
            return 0.0
        buy, limit = working.buy, working.limit
        taker_price = open_ * (1 + self._slip) if buy else open_ * (1 - self._slip)
        crossing = _bar_crossing(working, open_, high, low)
        if working.market:
            price, maker = taker_price, False
        elif crossing == "open":
            price = min(taker_price, limit) if buy else max(taker_price, limit)
            maker = False
        elif crossing == "limit":
            price, maker = limit, True
        else:
            working.resting = True
            return 0.0
        qty = self._fillable(working, min(working.remaining, max(capacity, 0.0)))
        if qty > 0:
            self._fill(working, price, qty, maker, ts, events)
        self._after_pass(working, ts, events, maker)
        return qty

    def _after_pass(self, working: _Working, ts: float, events: list[VenueEvent], maker: bool) -> None:
        """After a pass that crossed ``working`` (a maker's fill when ``maker``): a limit order
        that took as a taker is not resting, so what it could not fill is still marketable and
        takes the next quotes or opens (no worse than its limit) as a taker; taken as resting, it
        would fill at its limit as a maker on later data, even data that never traded there (a buy
        at 96 with the market at 50)."""
        if maker or working.market:
            working.resting = True
        if working.remaining <= 0:
            return
        if self._reduce_only_end(working, ts, events):
            return
        if self._expire_remainder and working.market:
            reason = f"market order remainder {working.remaining!r} found no liquidity (IOC)"
            self._expire(working, ts, reason, events)

    def _expire(self, working: _Working, ts: float, reason: str, events: list[VenueEvent]) -> None:
        """End ``working`` EXPIRED at ``ts`` with what it filled, saying ``reason``."""
        events.append(self._take_off(working, KernelEventKind.EXPIRED, VenueOrderStatus.EXPIRED, ts, reason))

    def _reducible(self, working: _Working) -> float:
        """How much the reduce-only ``working`` may fill now: the position on its other side
        (a sell the long, a buy the short), 0 when there is none."""
        position = self._positions.get(working.order.asset, 0.0)
        return max(-position if working.buy else position, 0.0)

    def _fillable(self, working: _Working, qty: float) -> float:
        """``qty`` of ``working`` that may fill now: for a reduce-only order, no more than the
        position it reduces; short of what the order has left, whole lots of its market's
        ``lot_step`` (``_whole_lots``)."""
        if working.reduce_only:
            qty = min(qty, self._reducible(working))
        if self._market_limits and working.remaining - qty > working.size * 1e-12:
            limits = self._market_limits.get(working.order.asset)
            if limits is not None and limits.lot_step > 0:
                qty = _whole_lots(qty, limits.lot_step)
        return qty

    def _reduce_only_end(self, working: _Working, ts: float, events: list[VenueEvent]) -> bool:
        """Expire ``working``, when reduce-only, if it has nothing left to reduce (its position
        closed, or held on its own side, by other orders since it was sent, or by its own fills):
        filled further, it would open or grow a position, which an exchange never lets it do.
        Returns whether it ended (never for an order that is not reduce-only)."""
        if not working.reduce_only or self._reducible(working) > 0:
            return False
        asset = working.order.asset
        position = self._positions.get(asset, 0.0)
        held = "flat" if position == 0 else f"{'long' if position > 0 else 'short'} {abs(position)!r}"
        side, opened = ("buy", "long") if working.buy else ("sell", "short")
        opens = f"open a {opened}" if position == 0 else f"grow the {opened}"
        reason = (
            f"reduce-only {side}: the {asset} position is {held}, nothing left to reduce; "
            f"its remaining {working.remaining!r} would {opens} (filled {working.filled!r} "
            f"of {working.size!r})"
        )
        self._expire(working, ts, reason, events)
        return True

    def _fill(
        self, working: _Working, price: float, qty: float, maker: bool, ts: float, events: list[VenueEvent]
    ) -> None:
        order = working.order
        qty = working.take(qty, price)
        fee = price * qty * (self._maker_rate if maker else self._taker_rate)
        delta = qty if working.buy else -qty
        move(self._positions, self._position_peaks, order.asset, delta)
        self._cash -= delta * price + fee
        self._fees_paid += fee
        done = working.remaining <= 0
        if done:
            self._remove(working, VenueOrderStatus.FILLED)
        events.append(
            self._events.make(
                order,
                KernelEventKind.FILL,
                VenueOrderStatus.FILLED if done else VenueOrderStatus.PARTIALLY_FILLED,
                venue_order_id=working.venue_order_id,
                timestamp=ts,
                price=price,
                size=qty,
                filled_size=working.filled,
                fill_id=self._fill_id(working),
                fee=fee,
                metadata={"liquidity": "MAKER" if maker else "TAKER"},
            )
        )

    def _fill_id(self, working: _Working) -> str:
        """``<venue order id>-f<n>``, the n-th fill of the order; for an order restored from an
        earlier run's book, with this run's marks before the count (``paper-1-s42-f2``). That
        book may be older than the kernel's log (the run was killed between two saves), and
        its run may have given the count to a fill after the save, which the kernel booked:
        the kernel knows a fill by its id and would refuse this one as that fill, so what it
        filled beyond that one would never be booked."""
        mark = self._events.marks if working.restored else ""
        return f"{working.venue_order_id}{mark}-f{working.fills}"

    # -- the book across a restart ---------------------------------------------------------

    def book(self) -> dict[str, Any]:
        """What this venue holds, as JSON-ready data for ``restore_book``: its working orders
        (with what they filled, whether they rest, a cancel on its way), positions, cash,
        fees, last quotes and clock. An exchange keeps resting orders while its client is
        down; a paper run saves this with its state so the next run's venue keeps them too."""
        with self._lock:
            return self._book()

    def _book(self) -> dict[str, Any]:
        def when(t: float | None) -> float | None:
            return None if t is None or math.isinf(t) else t  # -inf: waits for the first data

        orders = []
        for w in self._by_client_id.values():
            o = w.order
            orders.append(
                {
                    "client_order_id": o.client_order_id,
                    "slot_id": o.slot_id,
                    "trade_id": o.trade_id,
                    "asset": o.asset,
                    "side": o.order_side.name,
                    "order_type": o.order_type.name,
                    "price": o.price,
                    "size": o.size,
                    "reduce_only": o.reduce_only,
                    "is_entry": o.is_entry,
                    "reference_price": o.reference_price,
                    "created_at": o.created_at,
                    "venue_order_id": w.venue_order_id,
                    "active_at": when(w.active_at),
                    "sent_at": when(w.sent_at),
                    "filled": w.filled,
                    "filled_cost": w.filled_cost,
                    "fills": w.fills,
                    "resting": w.resting,
                    "cancel_at": w.cancel_at,
                    "awaits_close": w.awaits_close,
                    "cancel_awaits_close": w.cancel_awaits_close,
                }
            )
        return {
            "format": BOOK_FORMAT,
            "now": self._now,
            "orders": orders,
            "canceling": list(self._canceling),
            "positions": dict(self._positions),
            "cash": self._cash,
            "fees_paid": self._fees_paid,
            "submitted": self.submitted,
            "order_seq": self._events._order_seq,
            "quotes": {a: [q.bid, q.ask, q.bid_size, q.ask_size] for a, q in self._quotes.items()},
            "bar_assets": sorted(self._bar_assets),
            # Each asset's last bar: handed again to the restored venue (a run feeding the data
            # from the saved clock on), it would fill its volume share a second time.
            "bar_at": dict(self._bar_at),
            "on_a_bar": self._on_a_bar,
        }

    def restore_book(self, book: Mapping[str, Any]) -> list[str]:
        """Take over ``book`` (``book()`` of the venue of an earlier run) in this new venue:
        its orders work here as they did there, oldest first. Returns the client order ids
        of the orders it leaves out, those for an asset this venue does not list (no data
        would ever fill them: reconciliation ends them in the kernel). Raises ValueError, changing
        nothing, for a book of another format, one that is not as ``book()`` writes it, or
        a venue that has seen data or orders already."""
        with self._lock:
            return self._restore_book(book)

    def _restore_book(self, book: Mapping[str, Any]) -> list[str]:
        if self._by_client_id or self._now is not None or self.submitted:
            raise ValueError("restore_book takes an empty venue: this one has seen orders or data")
        fmt = book.get("format") if isinstance(book, Mapping) else None
        if isinstance(fmt, bool) or fmt != BOOK_FORMAT:
            raise ValueError(f"paper book format {fmt!r}: this version reads format {BOOK_FORMAT} only")

        def since(name: str, t: object) -> float:
            value = _book_time(name, t)
            return -math.inf if value is None else value

        part = "orders"
        try:
            working: list[_Working] = []
            held: set[str] = set()
            for o in book["orders"]:
                order = VenueOrder(
                    o["client_order_id"],
                    o["slot_id"],
                    o["trade_id"],
                    o["asset"],
                    o["side"],
                    o["order_type"],
                    o["price"],
                    o["size"],
                    venue_order_id=o["venue_order_id"],
                    reduce_only=o["reduce_only"],
                    reference_price=o["reference_price"],
                    timestamp=o["created_at"],
                    # An older book lacks it: an entry unless reduce-only.
                    is_entry=o.get("is_entry"),
                )
                w = _Working(
                    order,
                    str(o["venue_order_id"]),
                    active_at=since("active_at", o["active_at"]),
                    sent_at=since("sent_at", o["sent_at"]),
                )
                w.filled = _finite("filled", o["filled"], signed=True)
                w.filled_cost = _finite("filled_cost", o["filled_cost"], signed=True)
                w.fills = _book_count("fills", o["fills"])
                w.resting = _book_flag("resting", o["resting"])
                w.cancel_at = _book_time("cancel_at", o["cancel_at"])
                w.restored = True
                _check_book_order(w)
                # An older book lacks them: the latency counts from the open.
                w.awaits_close = _book_flag("awaits_close", o.get("awaits_close", False))
                w.cancel_awaits_close = _book_flag("cancel_awaits_close", o.get("cancel_awaits_close", False))
                if order.client_order_id in held:
                    # One would have replaced the other here, and its fills gone with it.
                    raise ValueError(f"client_order_id {order.client_order_id!r} twice")
                held.add(order.client_order_id)
                working.append(w)
            part = "canceling"
            canceling = [str(c) for c in book["canceling"]]
            by_id = {w.order.client_order_id: w for w in working}
            if any(c not in by_id for c in canceling):
                raise ValueError("a cancel of an order the book does not hold")
            # ``book()`` lists exactly the orders with a cancel_at: one listed without it would
            # never be acknowledged (the kernel's cancel pending for good), one not listed never
            # canceled.
            for c in canceling:
                if by_id[c].cancel_at is None:
                    raise ValueError(f"a cancel of {c!r} with no cancel_at")
            asked = set(canceling)
            for w in working:
                c = w.order.client_order_id
                if w.cancel_at is not None and c not in asked:
                    raise ValueError(f"order {c!r}: cancel_at {w.cancel_at!r} with no cancel on its way")
            part = "positions, cash and fees"
            positions = {str(a): _finite(str(a), v, signed=True) for a, v in book["positions"].items()}
            cash, fees = (
                _finite("cash", book["cash"], signed=True),
                _finite("fees_paid", book["fees_paid"], signed=True),
            )
            submitted = _book_count("submitted", book["submitted"])
            order_seq = _book_count("order_seq", book["order_seq"])
            part = "quotes"
            quotes = {str(a): _book_quote(str(a), q) for a, q in book["quotes"].items()}
            bar_assets = {str(a) for a in book["bar_assets"]}
            on_a_bar = _book_flag("on_a_bar", book.get("on_a_bar", False))
            part = "now"
            now = None if book["now"] is None else _finite("now", book["now"])
            part = "bar_at"
            # An older book lacks it: no bar is refused as handed already.
            bar_at = {str(a): _finite(str(a), t) for a, t in book.get("bar_at", {}).items()}
            for a, t in bar_at.items():
                if now is None or t > now:
                    raise ValueError(f"a bar of {a!r} at {t!r} is after the venue clock {now!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"paper book: {part} is not as book() writes it: {exc!r}") from None
        listed = self._assets
        left_out = [
            w.order.client_order_id for w in working if listed is not None and w.order.asset not in listed
        ]
        for w in working:
            if w.order.client_order_id in left_out:
                continue
            self._working.setdefault(w.order.asset, {})[w.order.client_order_id] = w
            self._by_client_id[w.order.client_order_id] = w
        self._canceling = {c: by_id[c] for c in canceling if c not in left_out}
        self._awaiting_close = {
            c: w
            for c, w in self._by_client_id.items()
            if w.awaits_close or (w.cancel_awaits_close and c in self._canceling)
        }
        self._on_a_bar = on_a_bar
        self._positions, self._cash, self._fees_paid = positions, cash, fees
        self._position_peaks = {}
        self.submitted = submitted
        self._events._order_seq = max(self._events._order_seq, order_seq)
        self._quotes, self._bar_assets, self._now = quotes, bar_assets, now
        self._bar_at = bar_at
        self._book_order_seq = order_seq
        return left_out

    def catch_up(
        self,
        fills: Iterable[BookedFill],
        working: Iterable[VenueOrder],
        cancels_asked: Mapping[str, float] | None = None,
    ) -> CaughtUp:
        """Bring a book just restored (``restore_book``) forward to what the kernel took from
        this venue after the book was saved: a run killed between two saves left a book older
        than the kernel's write-ahead log. ``fills``: the fills the kernel booked after the save,
        oldest first (each once, by its fill id); ``working``: the orders the kernel works now
        (``open_orders()``). Each fill is applied as the venue made it: its order's filled size
        and fill count, the position, the cash and the fee it charged. An order the kernel works
        that the book lacks, placed after the save (its venue order id counts past the book's),
        is put back working with what it filled; an order of the book the kernel no longer works
        (filled, canceled or expired after the save) is taken off. What cannot be applied (a fill
        of another venue's event, of an order neither in the book nor placed after it, or that
        disagrees with the book's order) is left as it was and named in ``not_applied``:
        reconciliation finds it. ``cancels_asked``: when the kernel asked the cancel of an order
        it works with its cancel pending, by client order id; the cancel reaches the venue a
        latency after that (on bars, after the close of the bar it was asked on), or after the
        book's clock when not given. Returns what was done."""
        # Taken whole before the guard: an iterable may run the caller's code.
        fills = list(read_items("catch_up()", "fills", fills))
        working = list(read_items("catch_up()", "working", working))
        clock = self._read_clock()
        with self._lock:
            return self._catch_up(fills, working, dict(cancels_asked or {}), clock)

    def _catch_up(
        self, fills: list[BookedFill], working: list[VenueOrder], asked: dict[str, float], clock: float | None
    ) -> CaughtUp:
        done = CaughtUp()
        placed: dict[str, _Placed] = {}  # orders placed after the save: what their fills took
        for fill in fills:
            why = self._apply_booked_fill(fill, placed)
            if why:
                done.not_applied.append(
                    f"fill {fill.fill_id!r} of order {fill.client_order_id!r} ({fill.asset}): {why}"
                )
            else:
                done.fills += 1
        now = self._time(clock, None)
        kernel_works = {o.client_order_id: o for o in working}
        for client_order_id, held in list(self._by_client_id.items()):
            if client_order_id not in kernel_works:
                self._remove(held, VenueOrderStatus.CANCELED)
                done.ended.append(client_order_id)
        for order in kernel_works.values():
            cid = order.client_order_id
            if self._assets is not None and order.asset not in self._assets:
                continue  # left out of the book (restore_book said so): reconciliation ends it
            w = self._by_client_id.get(cid)
            if w is None:
                if not self._placed_after_save(order.venue_order_id):
                    done.not_applied.append(
                        f"order {cid!r} ({order.asset}, venue id {order.venue_order_id!r}): the kernel "
                        "works it, but it is not in the saved book nor placed after the save"
                    )
                    continue
                w = self._put_back(order, placed.get(cid), now)
                self.submitted += 1
                done.working += 1
            if abs(w.filled - order.filled_size) > max(w.size, 1.0) * 1e-9:
                done.not_applied.append(
                    f"order {cid!r} ({order.asset}): the book holds it filled {w.filled!r}, the kernel "
                    f"{order.filled_size!r}"
                )
            if order.cancel_requested and w.cancel_at is None:
                self._cancel_asked(w, asked.get(cid, now))
        # Orders placed after the save that ended before the kernel's last input: the venue
        # counted them (``submitted``) as it made their fills.
        self.submitted += sum(1 for cid in placed if cid not in kernel_works)
        return done

    def _cancel_asked(self, w: _Working, at: float) -> None:
        """The kernel asked ``w``'s cancel at ``at``, which the book did not take: it reaches the
        venue as ``cancel`` has it (the venue acknowledges it with the data after that)."""
        w.cancel_at = at + self._latency
        self._canceling[w.order.client_order_id] = w
        if self._latency > 0:
            self._asked_after_save[w.order.client_order_id] = at
            self._await_close(w, cancel=self._sent_on_a_bar())

    def pass_over(self, points: Iterable[Any]) -> int:
        """Take market data the kernel acted on without this venue: the rows a run killed between
        two saves handled after its book's save, which the continued replay skips (``catch_up``
        applied the fills they made, from the kernel's log). Each point (a ``Bar`` or ``Quote``
        of ``dita.strategy``, in time order) moves the clock, its asset's last price and the bar
        closes that orders sent on a bar count their latency from, as ``on_bar`` and ``on_quote``
        do; an order it reaches without crossing its limit rests, as a matching pass leaves it,
        so it later fills at its limit as a maker (a book saved before any data reached it would
        fill as a taker at a better open). An order ``catch_up`` put back, or a cancel it asked, waits
        for a bar's close when the last point at or before its time is a bar, as ``submit`` and
        ``cancel`` decide on the data they are sent on. Nothing fills, ends or is canceled here:
        what those rows did to the orders is the log's. Returns how many points were taken.
        Raises ValueError, as ``on_bar`` does, for a point earlier than the clock, and
        ``ArgumentReadError`` naming the item for an error of ``points``' own code; the points
        before it stay taken."""
        taken = 0
        # Read before the guard: the points (a generator, say) are the caller's code.
        for p in read_items("pass_over()", "points", points):
            ts, asset = _finite("ts", p.ts), p.asset
            bar: tuple[float, float, float] | None = None
            if hasattr(p, "open"):
                bar, quote = (p.open, p.high, p.low), _Quote(p.close, p.close, 0.0, 0.0)
            else:
                quote = _checked_quote(asset, p.bid, p.ask, p.bid_size, p.ask_size)
            with self._lock:
                taken += self._pass_over(ts, asset, bar, quote)
        return taken

    def _pass_over(self, ts: float, asset: str, bar: tuple[float, float, float] | None, quote: _Quote) -> int:
        """Take one point of ``pass_over``: a bar (its open, high and low; ``quote`` its close)
        or a quote. Returns 1, or 0 for a bar handed to the venue before the save already."""
        ts = self._advance(ts)
        if bar is not None:
            if self._bar_at.get(asset) == ts:
                return 0  # handed to the venue before the save already
            self._bar_at[asset] = ts
            self._on_a_bar = True
            if self._awaiting_close:
                self._closes_reached(ts)
        else:
            self._on_a_bar = False
            if self._awaiting_close:
                self._closes_reached(ts, bar=False)
        self._now = ts
        if self._put_back_orders or self._asked_after_save:
            self._sent_on_data(ts)
        for w in self._working.get(asset, {}).values():
            if w.market or w.active_at > ts or w.awaits_close or (bar is not None and w.sent_at >= ts):
                continue
            crossed = bool(_bar_crossing(w, *bar)) if bar is not None else _quote_crosses(w, quote)
            if not crossed:
                w.resting = True
        self._quotes[asset] = quote
        if bar is not None:
            self._bar_assets.add(asset)
        else:
            self._bar_assets.discard(asset)
        return 1

    def _apply_booked_fill(self, fill: BookedFill, placed: dict[str, _Placed]) -> str:
        """Apply one fill the kernel booked after the book's save (``catch_up``); '' when it
        was applied, else why not (nothing changed)."""
        if not fill.event_id.startswith(f"{self.name}-"):
            return f"event {fill.event_id!r} is not one of {self.name}'s"
        if self._assets is not None and fill.asset not in self._assets:
            return f"{self.name} does not list {fill.asset!r} in this run"
        try:
            price = _finite("price", fill.price, positive=True)
            qty = _finite("qty", fill.qty, positive=True)
            fee = _finite("fee", fill.fee, signed=True)
        except (TypeError, ValueError) as exc:
            return str(exc)
        side = getattr(fill.side, "name", fill.side)
        if side not in ("BUY", "SELL"):
            return f"side {fill.side!r} is not BUY or SELL"
        buy = side == "BUY"
        w = self._by_client_id.get(fill.client_order_id)
        if w is not None:
            if fill.venue_order_id and fill.venue_order_id != w.venue_order_id:
                return f"venue order id {fill.venue_order_id!r}, the book's order is {w.venue_order_id!r}"
            if w.order.asset != fill.asset or w.buy != buy:
                theirs = f"{w.order.order_side.name} of {w.order.asset}"
                return f"a {side} of {fill.asset}, the book's order is a {theirs}"
            if qty > w.remaining + w.size * 1e-9:
                return f"{qty!r} is more than the {w.remaining!r} the book's order has left"
            qty = w.take(qty, price)
            w.resting = fill.liquidity == "MAKER" or w.market
            if w.remaining <= 0:
                self._remove(w, VenueOrderStatus.FILLED)
        elif self._placed_after_save(fill.venue_order_id):
            taken = placed.setdefault(fill.client_order_id, _Placed())
            taken.filled += qty
            taken.filled_cost += price * qty
            taken.fills += 1
            taken.maker = fill.liquidity == "MAKER"
        else:
            return "its order is not in the saved book nor placed after the save"
        delta = qty if buy else -qty
        move(self._positions, self._position_peaks, fill.asset, delta)
        self._cash -= delta * price + fee
        self._fees_paid += fee
        return ""

    def _placed_after_save(self, venue_order_id: str) -> bool:
        """Whether ``venue_order_id`` is one this venue gave after the restored book's save: its
        ids are ``<name>[-s<seq>...]-<n>``, n counting on from the book's ``order_seq``."""
        head, _, count = venue_order_id.rpartition("-")
        saved = self._book_order_seq
        if (
            saved is None
            or not count.isdigit()
            or not (head == self.name or head.startswith(f"{self.name}-s"))
        ):
            return False
        return int(count) > saved

    def _put_back(self, order: VenueOrder, taken: _Placed | None, now: float) -> _Working:
        """``order``, placed after the book's save and still worked by the kernel, back on the
        book with what its fills took (``taken``). It goes live as ``submit`` has it: its time
        plus the latency, on bars from the close of the bar it was sent on. One that filled
        rests as its last fill did (a maker's rested); one that did not is not resting, as it was
        sent: the rows passed over after it (``pass_over``) rest it if they did not cross it."""
        # As it was sent: what its fills took is the book's (below), not the kernel's copy.
        copy = answered(order, order.venue_order_id, VenueOrderStatus.NEW, 0.0, 0.0)
        w = _Working(
            copy, order.venue_order_id, active_at=order.created_at + self._latency, sent_at=order.created_at
        )
        w.restored = True
        if taken is not None:
            w.filled = min(taken.filled, w.size)
            w.filled_cost, w.fills = taken.filled_cost, taken.fills
            w.resting = taken.maker or w.market
        self._working.setdefault(order.asset, {})[order.client_order_id] = w
        self._by_client_id[order.client_order_id] = w
        self._put_back_orders[order.client_order_id] = w
        # Sent on a bar: decided at its close (``_closes_reached``), as ``submit`` has it; the
        # rows ``pass_over`` takes up to it decide again (``_sent_on_data``).
        self._await_close(w, order=self._sent_on_a_bar())
        return w

    def _sent_on_data(self, ts: float) -> None:
        """``pass_over`` took data at ``ts``: the orders put back and the cancels asked at or after
        it were sent on it, or on later data, so they are decided at a bar's close as this data
        has it (``_sent_on_a_bar``). The last data they see here is the data they were sent on."""
        on_a_bar = self._sent_on_a_bar()
        for cid, w in list(self._put_back_orders.items()):
            if cid not in self._by_client_id:
                del self._put_back_orders[cid]
            elif w.sent_at >= ts:
                self._await_close(w, order=on_a_bar)
        for cid, asked_at in list(self._asked_after_save.items()):
            canceling = self._canceling.get(cid)
            if canceling is None:
                del self._asked_after_save[cid]
            elif asked_at >= ts:
                self._await_close(canceling, cancel=on_a_bar)

    def _await_close(self, w: _Working, *, order: bool | None = None, cancel: bool | None = None) -> None:
        """Set whether ``w`` (``order``) and its cancel (``cancel``) wait for the close of the bar they
        were sent on (None: as they are), ``w`` listed among those that wait while either does."""
        if order is not None:
            w.awaits_close = order
        if cancel is not None:
            w.cancel_awaits_close = cancel
        cid = w.order.client_order_id
        if w.awaits_close or w.cancel_awaits_close:
            self._awaiting_close[cid] = w
        else:
            self._awaiting_close.pop(cid, None)
