"""Data points of one asset, ``AAA``, a minute apart: what the runtime's dispatch tests feed;
and the acknowledgement their hand-made venues give an order at submit."""

from __future__ import annotations

from typing import Any

from dita import VenueEvent
from dita.strategy import Bar, Quote

T0 = 1.7e9


def bar(minute: int) -> Bar:
    return Bar("AAA", T0 + 60 * minute, 100.0, 101.0, 99.0, 100.0, 10.0)


def quote(minute: int) -> Quote:
    return Quote("AAA", T0 + 60 * minute, 99.0, 101.0, 1.0, 1.0)


def ack(order: Any) -> VenueEvent:
    """The venue's acknowledgement of ``order`` (a kernel's order to submit)."""
    coid = order.client_order_id
    return VenueEvent(
        f"ack-{coid}", order.trade_id, order.slot_id, "ORDER_ACK",
        status="ACKNOWLEDGED", venue_client_id=coid, asset=order.asset, side=order.side,
    )  # fmt: skip
