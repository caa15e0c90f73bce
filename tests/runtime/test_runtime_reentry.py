"""Data handed to the runtime from inside a strategy's callback (or a listener) is refused:
the other strategies heard the new data point before the one they were hearing."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Quote, Strategy
from dita.venues import ShadowVenue
from runtime.points import T0, bar, quote


class Feeder(Strategy[Any]):
    """Hands the runtime a later data point from its own callback."""

    data = ("bars", "quotes")

    def on_bar(self, item: Bar) -> None:
        if item.ts == T0 + 60:
            self.ctx._runtime.on_bar(bar(5))

    def on_quote(self, item: Quote) -> None:
        if item.ts == T0 + 60:
            self.ctx._runtime.on_quote(quote(5))


class Watcher(Strategy[Any]):
    data = ("bars", "quotes")

    def on_start(self) -> None:
        self.seen: list[float] = []

    def on_bar(self, item: Bar) -> None:
        self.seen.append(item.ts)

    def on_quote(self, item: Quote) -> None:
        self.seen.append(item.ts)


@pytest.mark.parametrize(("call", "make"), [("on_bar", bar), ("on_quote", quote)])
def test_data_handed_over_from_a_callback_is_refused_and_the_others_hear_in_order(
    call: str, make: Any
) -> None:
    kernel = ExecutionKernel(max_slots=4, venue=ShadowVenue(), kernel_id="reentry")
    runtime = TradingRuntime(kernel)
    feeder, watcher = Feeder(name="feeder"), Watcher(name="watcher")
    runtime.add_strategy(feeder)
    runtime.add_strategy(watcher)
    getattr(runtime, call)(make(1))
    assert watcher.seen == [T0 + 60]
    assert runtime.now() == T0 + 60
    handle = runtime.handles["feeder"]
    assert handle.status is StrategyStatus.ERROR
    assert handle.error.startswith(f"RuntimeError: {call} called while the runtime is handing out")
    # The runtime goes on with the next data point from the feed.
    getattr(runtime, call)(make(2))
    assert watcher.seen == [T0 + 60, T0 + 120]
    assert runtime.data_points == 2
