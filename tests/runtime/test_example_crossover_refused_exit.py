"""The example crossover (`dita.examples.crossover`) holds one position at a time per asset when
the venue rejects or throttles its exit, or fills it in parts: it entered the new side all the
same, and held a long and a short of one asset at once until the next cross (a hedge nobody asked
for), its exit of the old side never tried again or the rest of it still working."""

from __future__ import annotations

from typing import Any

import pytest

from dita import (
    ExecutionKernel,
    KernelEventKind,
    MockVenueAdapter,
    OrderSide,
    VenueEvent,
    VenueOrder,
    VenueOrderStatus,
)
from dita.backtest.data import MarketData
from dita.examples.crossover import SmaCrossover
from dita.runtime import TradingRuntime
from dita.strategy import Bar
from dita.venues import ShadowVenue


class _FillsTheRestLater:
    """The mock venue, filling at the next poll what a partial fill left of an order (the mock
    leaves it resting for good, as no exchange leaves a market order)."""

    name = "mock"

    def __init__(self, **behaviour: Any) -> None:
        self.mock = MockVenueAdapter(seed=3, **behaviour)

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return self.mock.submit(order)

    def cancel(self, order: VenueOrder, reason: str = "") -> list[VenueEvent]:
        return self.mock.cancel(order, reason)

    def open_orders(self) -> list[VenueOrder]:
        return self.mock.open_orders()

    def positions(self) -> dict[str, float]:
        return self.mock.positions()

    def poll_events(self) -> list[VenueEvent]:
        return [e for o in self.mock.open_orders() for e in self.mock.fill_open_order(o.client_order_id)]


@pytest.mark.parametrize(
    "venue",
    [
        {"reject_rate": 0.2},
        {"rate_limit_rate": 0.3},
        {"reject_rate": 0.1, "rate_limit_rate": 0.1, "partial_fill_rate": 0.2},
    ],
    ids=["rejects", "rate-limits", "both-and-partial-fills"],
)
def test_a_refused_exit_leaves_no_long_and_short_open_together(
    sample_bars: MarketData, venue: dict[str, float]
) -> None:
    kernel = ExecutionKernel(max_slots=8, venue=_FillsTheRestLater(**venue), kernel_id="x-refused")
    kernel.set_seed_capital(1e7)
    runtime = TradingRuntime(kernel)
    strategy = SmaCrossover({"fast": 5, "slow": 20})
    runtime.add_strategy(strategy)
    c = sample_bars.columns
    hedged = []
    for i in range(1_500):
        values = (float(c[k][i]) for k in ("open", "high", "low", "close", "volume"))
        runtime.on_bar(Bar(sample_bars.asset[i], float(sample_bars.ts[i]), *values))
        # Any slot holding a filled size: a position, an exit filled in part.
        held = {s.side.name for s in strategy.slots() if s.size > 0}
        if len(held) == 2:
            hedged.append(i)
    assert len(strategy.fills) > 50
    assert runtime.status()[0]["status"] == "RUNNING"
    assert hedged == []


class _RefusesSells(ShadowVenue):
    """A shadow venue that rejects sells while ``refuse_sells`` is set."""

    refuse_sells = False

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        if self.refuse_sells and order.order_side == OrderSide.SELL:
            return [
                self._events.make(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    venue_order_id="r",
                    timestamp=order.created_at,
                    reason="busy",
                )
            ]
        return super().submit(order)


def test_an_exit_left_waiting_that_went_another_way_makes_no_trade_without_a_cross() -> None:
    """The exit of a cross refused, the old side then closed another way (an operator, a stop):
    the next bar's entry went in, and the bar after closed it and entered again with no cross,
    the refused exit still taken as waiting."""
    venue = _RefusesSells()
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="x-pending")
    kernel.set_seed_capital(1e7)
    runtime = TradingRuntime(kernel)
    strategy = SmaCrossover({"fast": 2, "slow": 3, "trade_size": 1.0})
    runtime.add_strategy(strategy)
    t = [1_700_000_000.0]

    def bar(close: float) -> None:
        t[0] += 60
        runtime.on_bar(Bar("BTCUSDT", t[0], close, close, close, close, 1e6))

    for close in (10, 10, 10, 11, 12):  # a bullish cross: long
        bar(close)
    assert strategy.position("BTCUSDT") > 0
    venue.refuse_sells = True
    bar(9)  # a bearish cross: its exit refused, left waiting
    assert strategy.position("BTCUSDT") > 0
    venue.refuse_sells = False
    strategy.close("BTCUSDT", price=9.0)  # closed another way
    assert strategy.position("BTCUSDT") == 0
    bar(8)  # still bearish: the waiting entry goes in, short
    assert strategy.position("BTCUSDT") < 0
    fills = len(strategy.fills)
    bar(7)  # still bearish, no cross: the short is kept as it is
    assert len(strategy.fills) == fills
