"""A strategy's state read while the runtime routes a batch (a listener reading its position, as
a risk monitor does) changes nothing: the exit's fill, applied by the kernel and not yet routed,
still reaches the strategy."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel, MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy


class InAndOut(Strategy[Any]):
    def on_start(self) -> None:
        self.heard: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and not self.fills_total:
            assert self.buy(bar.asset, 1.0, price=bar.close).accepted
        elif self.busy(bar.asset):
            self.close(bar.asset, price=bar.close)

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill.side)


def test_a_listener_reading_a_strategys_position_leaves_it_its_exit_fill() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter())
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel)
    strategy = InAndOut(name="s")
    runtime.add_strategy(strategy)
    exposure: list[float] = []
    runtime.event_listeners.append(lambda event: exposure.append(strategy.position("AAA")))
    try:
        runtime.run([Bar("AAA", 1.7e9 + 60 * i, 100.0, 101.0, 99.0, 100.0, 10.0) for i in range(2)])
    finally:
        kernel.close()
    assert strategy.heard == ["BUY", "SELL"]
    assert strategy.fills_total == 2
    assert exposure[-1] == 0.0 and not strategy.busy("AAA")
