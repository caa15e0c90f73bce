"""The paper venue's matching of a working order against a quote or a bar: whether the market
crosses it, the price it fills at (a taker at the touch or the open moved by the slippage, no
worse than its limit; a maker at its limit), how much (the quoted size or the bar's volume share
left, whole lots, a reduce-only order no further than the position), the fee it pays, and what
ends it (a reduce-only order with nothing left to reduce, a market remainder under
``market_remainder="expire"``)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from dita._kernel import KernelEventKind, VenueEvent, VenueOrderStatus
from dita.venues._events import move
from dita.venues.paper.order_book import _OrderBook, _Quote, _Working

# What orders leave of a quoted size or a bar's volume share, within this share of what there
# was, is float dust of the sizes taken (1.0 - 0.7999999999999998 - 0.2 leaves 1.7e-16): nothing.
LEFT_WITHIN = 1e-12


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


class _Matching(_OrderBook):
    """``PaperVenue``'s matching of its working orders (see the module docstring)."""

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
