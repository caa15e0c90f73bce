"""Data points of one asset, ``AAA``, a minute apart: what the runtime's dispatch tests feed;
the acknowledgement their hand-made venues give an order at submit; a venue filling in the
parts a test names; a strategy that buys once and keeps the fills it hears; and one that keeps
every bar and quote it hears."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from dita import VenueEvent, VenueOrder
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
        status="ACKNOWLEDGED", venue_client_id=coid, asset=order.asset, side=order.order_side,
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


def venue_ack(order: VenueOrder) -> VenueEvent:
    """The venue's ack of ``order``, naming it whole: its client id, trade and slot, and the
    venue's id, which the kernel learns from it."""
    return VenueEvent(
        f"ack-{order.client_order_id}",
        order.trade_id,
        order.slot_id,
        "ORDER_ACK",
        venue_order_id=f"V-{order.client_order_id}",
        venue_client_id=order.client_order_id,
        asset=order.asset,
        side=order.order_side,
    )


class FillsAsTold:
    """Acks each order and fills it in ``parts`` (size, running total), in the submit's
    answer (``at_once``) or from the next poll."""

    name = "fills-as-told"

    def __init__(
        self, parts: list[tuple[float, float]], *, at_once: bool, fee_rate: float | None = None
    ) -> None:
        self.parts = parts
        self.at_once = at_once
        self.fee_rate = fee_rate  # the fee each fill states, of its own size; None: none stated
        self.queue: list[VenueEvent] = []

    def _fills(self, order: VenueOrder) -> list[VenueEvent]:
        return [
            VenueEvent(
                f"fill-{n}",
                order.trade_id,
                order.slot_id,
                "FILL",
                "FILLED" if total >= order.size else "PARTIALLY_FILLED",
                venue_order_id="V1",
                venue_client_id=order.client_order_id,
                asset=order.asset,
                side=order.order_side,
                price=100.0,
                size=size,
                filled_size=total,
                fee=None if self.fee_rate is None else self.fee_rate * 100.0 * size,
            )
            for n, (size, total) in enumerate(self.parts)
        ]

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        ack = VenueEvent(
            f"ack-{order.client_order_id}",
            order.trade_id,
            order.slot_id,
            "ORDER_ACK",
            venue_order_id="V1",
            venue_client_id=order.client_order_id,
            asset=order.asset,
            side=order.order_side,
        )
        if self.at_once:
            return [ack, *self._fills(order)]
        self.queue = self._fills(order)
        return [ack]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        events, self.queue = self.queue, []
        return events


class Keeps(Strategy[Any]):
    """Keeps every bar and quote it hears, in ``seen``."""

    data = ("bars", "quotes")

    def on_start(self) -> None:
        self.seen: list[Bar | Quote] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(bar)

    def on_quote(self, quote: Quote) -> None:
        self.seen.append(quote)
