"""A strategy stopped (or paused, or failed) by another strategy's callback hears nothing
more of the data point being handed out: after ``on_stop`` it gets no ``on_bar``/``on_quote``
nor ``on_fill``."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Fill, Quote, Strategy
from dita.venues import ShadowVenue
from runtime.points import T0, bar, quote


class Stopper(Strategy[Any]):
    """On its second data point stops ``stops`` (every strategy when None) or pauses ``pauses``."""

    data = ("bars", "quotes")
    stops: str | None = None
    pauses: str | None = None

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, item: Bar) -> None:
        self._act()

    def on_quote(self, item: Quote) -> None:
        self._act()

    def _act(self) -> None:
        self.seen += 1
        if self.seen != 2:
            return
        runtime = self.ctx._runtime
        if self.pauses is not None:
            runtime.pause(self.pauses)
        else:
            runtime.stop(self.stops)


class Listener(Strategy[Any]):
    """Logs every callback it gets; buys on each data point, so fills come to it."""

    data = ("bars", "quotes")

    def on_start(self) -> None:
        self.heard: list[str] = []

    def on_bar(self, item: Bar) -> None:
        self.heard.append(f"bar {item.ts - T0:g}")
        self.buy(item.asset, 1.0, price=item.close)

    def on_quote(self, item: Quote) -> None:
        self.heard.append(f"quote {item.ts - T0:g}")
        self.buy(item.asset, 1.0, price=item.mid)

    def on_fill(self, fill: Fill) -> None:
        self.heard.append("fill")

    def on_stop(self) -> None:
        self.heard.append("stop")


def two_strategies(kernel_id: str, **stopper: str | None) -> tuple[TradingRuntime, Listener]:
    kernel = ExecutionKernel(max_slots=8, venue=ShadowVenue(), kernel_id=kernel_id)
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel)
    first = Stopper(name="first")
    for key, value in stopper.items():
        setattr(first, key, value)
    runtime.add_strategy(first)
    listener = Listener(name="second")
    runtime.add_strategy(listener)
    return runtime, listener


@pytest.mark.parametrize(("call", "make", "kind"), [("on_bar", bar, "bar"), ("on_quote", quote, "quote")])
@pytest.mark.parametrize("stops", [None, "second"])
def test_a_strategy_stopped_by_another_hears_no_more_of_the_data_point(
    call: str, make: Any, kind: str, stops: str | None
) -> None:
    runtime, listener = two_strategies(f"stop-{kind}-{stops}", stops=stops)
    for minute in range(1, 4):
        getattr(runtime, call)(make(minute))
    # It heard the first data point and its fill; the second stopped it before its turn.
    assert listener.heard == [f"{kind} 60", "fill", "stop"]
    assert runtime.handles["second"].status is StrategyStatus.STOPPED
    assert runtime.data_points == 3


def test_a_strategy_paused_by_another_skips_the_rest_of_the_data_point() -> None:
    runtime, listener = two_strategies("pause-bar", pauses="second")
    for minute in range(1, 4):
        runtime.on_bar(bar(minute))
    assert listener.heard == ["bar 60", "fill"]
    runtime.resume("second")
    runtime.on_bar(bar(4))
    assert listener.heard == ["bar 60", "fill", "bar 240", "fill"]
