"""Orders reaching the paper venue (``submit``, ``cancel``): an order the exchange would refuse
(a duplicate id, a size or price that is no number above 0, an asset the venue does not list, its
market's filters, the margin) is rejected; another is acknowledged and works, and one marketable
at the last quote is matched at once. A cancel acts at once, or a latency later."""

from __future__ import annotations

import math

from dita._kernel import KernelEventKind, OrderSide, OrderType, VenueEvent, VenueOrder, VenueOrderStatus
from dita.venues._events import require_order
from dita.venues.paper.margin import _Margin
from dita.venues.paper.market_data import _MarketData
from dita.venues.paper.order_book import _Working

# How many listed assets a refusal of an unlisted one names.
LISTED_SHOWN = 10


class _OrderEntry(_MarketData, _Margin):
    """``PaperVenue``'s ``submit`` and ``cancel`` (see the module docstring)."""

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
