"""Booking what the venue filled beyond what the kernel booked: its trades' fills where it lists
them, then one fill from the order's status for what they leave missing."""

from __future__ import annotations

import math
from typing import Any

from dita._kernel import KernelDiagnosticCode, VenueEvent, VenueOrder, VenueOrderStatus
from dita.reconcile.answers import _ENDINGS, QTY_EPS, _counts_short, _filled_size_held, _finite, _Malformed
from dita.reconcile.events import EVENT_ID_PREFIX, _Refused, _venue_id
from dita.reconcile.run import _Run


def _after_fill(mine: VenueOrder, theirs: VenueOrder) -> tuple[VenueOrderStatus, float]:
    """The status and remaining size a missed fill of ``mine`` states, from the venue's order."""
    # Stated, not left to the kind: a FILL says FILLED, and a runtime routing the event would
    # take an order whose rest works on for over. An order the venue ended has no rest open.
    if theirs.status in _ENDINGS:
        return theirs.status, 0.0
    if theirs.status == VenueOrderStatus.FILLED:
        # Held to the venue's size (an order cut to its lot), by the rule every pass judges
        # a FILLED order short by: its rest stays open only when short.
        if not _counts_short(mine, theirs):
            return VenueOrderStatus.FILLED, 0.0
        return VenueOrderStatus.PARTIALLY_FILLED, _filled_size_held(mine, theirs) - theirs.filled_size
    # What is left of an order the venue works is the kernel's size less what it filled: a
    # size listed short (an adapter giving what is left as the size) would say FILLED with
    # nothing left, and the kernel would end an order the venue works, saying nothing.
    remaining = max(mine.size - theirs.filled_size, 0.0)
    status = VenueOrderStatus.PARTIALLY_FILLED if remaining > QTY_EPS else VenueOrderStatus.FILLED
    return status, remaining


class _Booking(_Run):
    """A run's booking of missed fills."""

    def book_trades(
        self, mine: VenueOrder, theirs: VenueOrder, item: dict[str, Any]
    ) -> tuple[float, float, str]:
        """The venue's fills of ``mine`` by trade (``trade_fills``), each fed to the kernel: the
        size and cost of what it booked of them (``book_venue_fill``: one it knows already, or
        counts in part, is no part of what was missed), and why none could be read ("" when
        they were). Raises ``_Refused`` on a fill the kernel refuses."""
        if not callable(self.trade_fills):
            return 0.0, 0.0, ""
        try:
            fills = list(self.trade_fills(mine, theirs, **self.seen_event_ids(self.trade_fills, mine)) or ())
        except Exception as exc:
            return 0.0, 0.0, f"its trades could not be read: {type(exc).__name__}: {exc}"
        size = cost = 0.0
        for ev in fills:
            if not isinstance(ev, VenueEvent) or ev.kind.name != "FILL" or not _finite(ev.size):
                return size, cost, f"its trades are malformed: {ev!r} is not a fill"
            booked = self.book_venue_fill(ev, item, fill_id=ev.fill_id)
            size += booked
            cost += booked * ev.price
        return size, cost, ""

    def book_missed(
        self, mine: VenueOrder, theirs: VenueOrder, fill: tuple[float, float] | None, item: dict[str, Any]
    ) -> None:
        """FILLs for what the venue filled beyond what the kernel booked (``_missed_fill``): its
        trades' where the venue lists them (``book_trades``), then one from the order's status
        for what they leave missing. Raises ``_Malformed`` (avg_fill_price) when that rest has
        no price (the order's status states none), its trades' fills booked."""
        if fill is None:
            return
        missed, price = fill
        by_trades, trades_cost, unread = self.book_trades(mine, theirs, item)
        if by_trades > QTY_EPS:
            rest = missed - by_trades
            if rest <= QTY_EPS:
                return
            # The rest is priced by what the trades left of the order's cost.
            rest_price = (missed * price - trades_cost) / rest
            price = rest_price if price > 0 and rest_price > 0 and math.isfinite(rest_price) else price
            missed = rest
        if not price > 0:
            # The venue states no price for it: booked at a guess, it would read as the venue's.
            unpriced = _Malformed(
                "avg_fill_price", theirs.avg_fill_price, f"{missed!r} filled without a price"
            )
            unpriced.then = (
                f"its trades' fills ({by_trades!r}) are booked, the rest is not"
                if by_trades > QTY_EPS
                else f"its trades price none of it ({unread or 'none listed'}); none of it is booked"
            )
            raise unpriced
        status, remaining = _after_fill(mine, theirs)
        try:
            self.apply(
                self.event(
                    mine,
                    "FILL",
                    venue_order_id=_venue_id(mine, theirs),
                    status=status,
                    price=price,
                    size=missed,
                    filled_size=theirs.filled_size,
                    remaining_size=remaining,
                    fill_id=f"{EVENT_ID_PREFIX}{mine.client_order_id}:{theirs.filled_size:.12g}",
                )
            )
        except _Refused as refused:
            # The kernel counts the venue's total already: the stream's reports that ended the
            # order while the venue was asked, which leave no copy of it to reckon from. Not missed.
            if refused.code != KernelDiagnosticCode.DUPLICATE_EVENT:
                raise
            return
        self.report.missed_fills.append(
            {**item, "qty": missed, "price": price, **({"trades_unread": unread} if unread else {})}
        )
