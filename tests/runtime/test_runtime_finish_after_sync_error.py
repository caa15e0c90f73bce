"""``finish()`` handed the venues the deferred data (``sync_venues()``), then polled the venues
that report later, then gave the kernel the last marks: when the first step raised, the other
two were skipped, so a fill the venue reported at the end never reached the kernel and the
last prices never marked the open trades (the run's report read an old unrealized PnL). Now
each step runs, and the first error is raised at the end."""

from __future__ import annotations

from typing import Any

import pytest

from dita import VenueEvent
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from kernel_faults import FaultyKernel, busy

from .points import T0, NoParams, ack


def bar(minute: int, close: float = 100.0) -> Bar:
    return Bar("AAA", T0 + 60 * minute, 100.0, max(close, 101.0), 99.0, close, 10.0)


class LaterVenue:
    """Acknowledges each order; fills the second order from the second poll on."""

    name = "later"

    def __init__(self) -> None:
        self.orders: list[Any] = []
        self.polls = 0

    def submit(self, order: Any) -> list[VenueEvent]:
        self.orders.append(order)
        return [ack(order)]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        self.polls += 1
        if self.polls != 2:
            return []
        order = self.orders[1]
        return [
            VenueEvent(
                "later-fill", order.trade_id, order.slot_id, "FILL", "FILLED",
                venue_client_id=order.client_order_id, asset=order.asset, side=order.order_side,
                price=100.0, size=order.size, filled_size=order.size,
            )
        ]  # fmt: skip


class MarketVenue:
    """Takes market data; answers the second bar with a fill of the first order."""

    name = "market"

    def __init__(self, later: LaterVenue) -> None:
        self.later = later
        self.bars = 0

    def on_bar(self, *args: Any) -> list[VenueEvent]:
        self.bars += 1
        if self.bars != 2:
            return []
        order = self.later.orders[0]
        return [
            VenueEvent(
                "market-fill", order.trade_id, order.slot_id, "FILL", "FILLED",
                venue_client_id=order.client_order_id, asset=order.asset, side=order.order_side,
                price=100.0, size=order.size, filled_size=order.size,
            )
        ]  # fmt: skip


class BuysTwo(Strategy[NoParams]):
    Params = NoParams

    def on_start(self) -> None:
        self.heard: list[Fill] = []

    def on_bar(self, item: Bar) -> None:
        if item.ts == bar(0).ts:
            for _ in range(2):
                assert self.buy("AAA", 1.0, price=100.0, limit=100.0).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


def test_finish_still_polls_and_marks_when_handing_the_venues_their_data_raised() -> None:
    later = LaterVenue()
    market = MarketVenue(later)
    kernel = FaultyKernel(max_slots=2, venue=later)
    kernel.faults = {}
    runtime = TradingRuntime(kernel, venues=[market])
    strategy = BuysTwo(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar(0))  # two orders rest at the later venue
    kernel.faults = {"market-fill": busy}
    runtime.on_bar(bar(1, close=110.0))  # the market venue's fill waits (busy); the first poll: nothing
    assert later.polls == 1 and [kernel.slot_state(i).fsm_state.name for i in range(2)] == [
        "ENTRY_WORKING",
        "ENTRY_WORKING",
    ]

    def fails(k: Any) -> None:
        raise RuntimeError("the kernel cannot book it now")

    kernel.faults = {"market-fill": fails}
    with pytest.raises(RuntimeError, match="cannot book it now"):
        runtime.finish()  # its sync_venues() raises on the market venue's fill
    assert later.polls == 2  # polled all the same: its fill is booked
    assert kernel.slot_state(1).fsm_state.name == "POSITION_OPEN"
    assert [f.slot_id for f in strategy.heard] == [1]
    assert kernel.slot_state(1).unrealized_pnl == pytest.approx(10.0)  # marked at 110
