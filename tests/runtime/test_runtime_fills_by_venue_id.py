"""A venue reporting a fill by its own order id only (no trade id, no client id, or no slot):
the kernel books it (docs/kernel.md: "empty says nothing"), and the runtime routes it to the
strategy owning the trade by what the kernel booked, not by the event's own empty fields. It
routed by the event's trade id and slot: the strategy never heard the fill, held the closed
slot for good, and a fill naming no slot raised IndexError out of run()."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from dita import ExecutionKernel, VenueEvent, VenueOrder
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuysOnce(Strategy[NoParams]):
    Params = NoParams

    def on_start(self) -> None:
        self.heard: list[Fill] = []
        self.bought = False

    def on_bar(self, bar: Bar) -> None:
        if not self.bought:
            self.bought = True
            assert self.buy(bar.asset, 1.0, limit=100.0, price=bar.close).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


class ByVenueId:
    """Acks each order synchronously under the kernel's client id (so the kernel learns the
    venue id), then reports its fills from ``poll_events`` by the venue's own id only."""

    name = "by-venue-id"

    def __init__(self, *, slot_known: bool = True) -> None:
        self.orders: dict[str, VenueOrder] = {}
        self.queue: list[VenueEvent] = []
        self.slot_known = slot_known
        self.n = 0

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.orders[order.client_order_id] = order
        return [
            VenueEvent(
                f"ack-{order.client_order_id}",
                order.trade_id,
                order.slot_id,
                "ORDER_ACK",
                venue_order_id=f"V-{order.client_order_id}",
                venue_client_id=order.client_order_id,
                asset=order.asset,
                side=order.side,
            )
        ]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def fill(self, client_order_id: str) -> None:
        o = self.orders[client_order_id]
        self.n += 1
        self.queue.append(
            VenueEvent(
                f"fill-{self.n}",
                "",  # no trade id: "empty says nothing"
                o.slot_id if self.slot_known else -1,
                "FILL",
                "FILLED",
                venue_order_id=f"V-{client_order_id}",  # by the venue's id only
                asset=o.asset,
                side=o.side,
                price=100.0,
                size=o.size,
                filled_size=o.size,
                fill_id=f"F{self.n}",
            )
        )

    def poll_events(self) -> list[VenueEvent]:
        events, self.queue = self.queue, []
        return events


def _bar(i: int) -> Bar:
    return Bar("BTCUSDT", 1_700_000_000.0 + 60 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0)


def _started(venue: Any) -> tuple[TradingRuntime, BuysOnce, ExecutionKernel, str]:
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="review-route")
    runtime = TradingRuntime(kernel)
    strategy = BuysOnce()
    runtime.add_strategy(strategy)
    runtime.run([_bar(0)])
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    return runtime, strategy, kernel, order.client_order_id


def test_a_fill_reported_by_venue_id_only_reaches_the_strategy_owning_the_trade() -> None:
    venue = ByVenueId()
    runtime, strategy, kernel, coid = _started(venue)
    venue.fill(coid)
    runtime.run([_bar(1)])
    # The kernel booked it on the strategy's trade...
    assert kernel.slot_state(0).size == 1.0
    assert kernel.slot_state(0).trade_id.startswith(strategy.name)
    # ...and the runtime counted it and routed it to the strategy owning the trade.
    assert runtime.stats["fills"] == 1
    assert strategy.fills_total == 1, "the strategy's fill was never routed to it"
    assert [f.size for f in strategy.heard] == [1.0]


def test_an_exit_fill_reported_by_venue_id_only_frees_the_strategys_slot() -> None:
    venue = ByVenueId()
    runtime, strategy, kernel, coid = _started(venue)
    venue.fill(coid)
    runtime.run([_bar(1)])
    assert strategy.exit(0, price=100.0).accepted
    exit_order = kernel.slot_state(0).active_exit_order
    assert exit_order is not None
    venue.fill(exit_order.client_order_id)
    runtime.run([_bar(2)])
    assert kernel.slot_state(0).fsm_state.name == "CLOSED"
    # The trade is over in the kernel, and so for its strategy; the ended order is not followed.
    assert not strategy.busy("BTCUSDT"), "the strategy still holds the closed slot"
    assert [f.closed for f in strategy.heard] == [False, True]
    assert not runtime._working


def test_a_fill_that_names_no_slot_does_not_stop_the_run() -> None:
    venue = ByVenueId(slot_known=False)
    runtime, strategy, kernel, coid = _started(venue)
    venue.fill(coid)
    # The kernel takes a fill that names no slot (slot_id -1) by its venue id.
    runtime.run([_bar(1)])
    assert kernel.slot_state(0).size == 1.0
    assert [f.size for f in strategy.heard] == [1.0]
