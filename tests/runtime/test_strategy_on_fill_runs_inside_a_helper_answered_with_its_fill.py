"""A venue that answers a submit with its fill (here the mock venue) has the strategy's
``on_fill`` run inside its own ``buy``, before ``buy`` returns its outcome; on the paper venue
with bars the fill comes with a later bar. "Fills" in the strategy guide and the runtime
reference say so: a strategy records what ``on_fill`` needs before calling the helper."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel, MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from dita.venues.paper import PaperVenue


class RecordsWhenItHears(Strategy[Any]):
    def on_start(self) -> None:
        self.inside_buy = False
        self.heard_inside_buy: list[bool] = []
        self.why: dict[str, str] = {}
        self.heard_why: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        if self.fills_total or self.busy(bar.asset):
            return
        self.why[bar.asset] = "breakout"  # recorded before the call, as the guide says
        self.inside_buy = True
        try:
            assert self.buy(bar.asset, 1.0, price=bar.close).accepted
        finally:
            self.inside_buy = False

    def on_fill(self, fill: Fill) -> None:
        self.heard_inside_buy.append(self.inside_buy)
        self.heard_why.append(self.why[fill.asset])


def bars(n: int) -> list[Bar]:
    return [Bar("AAA", 1.7e9 + 60 * i, 100.0, 101.0, 99.0, 100.0, 10.0) for i in range(n)]


def test_on_fill_of_a_buy_the_venue_answers_with_its_fill_runs_before_the_buy_returns() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter())
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel)
    strategy = RecordsWhenItHears()
    runtime.add_strategy(strategy)
    runtime.run(bars(1))
    assert strategy.heard_inside_buy == [True]
    assert strategy.heard_why == ["breakout"]
    kernel.close()


def test_on_fill_of_a_buy_on_the_paper_venue_with_bars_comes_with_a_later_bar() -> None:
    venue = PaperVenue(slippage_bps=0.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel, [venue])
    strategy = RecordsWhenItHears()
    runtime.add_strategy(strategy)
    runtime.run(bars(2))
    assert strategy.heard_inside_buy == [False]
    assert strategy.heard_why == ["breakout"]
    kernel.close()
