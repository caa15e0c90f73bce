"""Data points of one asset, ``AAA``, a minute apart: what the runtime's dispatch tests feed;
the acknowledgement their hand-made venues give an order at submit; and a strategy that buys
once and keeps the fills it hears."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from dita import VenueEvent
from dita.strategy import Bar, Fill, Quote, Strategy

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


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuysOnce(Strategy[NoParams]):
    """Buys ``size`` of the first bar's asset, limit 100, and keeps each fill it hears in
    ``heard``."""

    Params = NoParams
    size = 1.0

    def on_start(self) -> None:
        self.heard: list[Fill] = []
        self.bought = False

    def on_bar(self, bar: Bar) -> None:
        if not self.bought:
            self.bought = True
            assert self.buy(bar.asset, self.size, limit=100.0, price=bar.close).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)
