"""on_start is called once per strategy, before its first data point, however the strategies
are added: a second start() must not restart (and wipe) one that is running."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy


def bar(ts: float) -> Bar:
    return Bar("AAA", ts, 100.0, 101.0, 99.0, 100.0, 10.0)


class Counting(Strategy[Any]):
    def on_start(self) -> None:
        self.starts = getattr(self, "starts", 0) + 1
        self.bars: list[Bar] = []

    def on_bar(self, b: Bar) -> None:
        self.bars.append(b)


def runtime(kernel_id: str) -> TradingRuntime:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id=kernel_id)
    kernel.set_seed_capital(10_000.0)
    return TradingRuntime(kernel, [])


def test_a_strategy_added_after_start_is_started_once_and_the_first_keeps_its_state() -> None:
    rt = runtime("start-once")
    first = Counting(name="first")
    rt.add_strategy(first)
    rt.start()
    rt.on_bar(bar(1.7e9))
    second = Counting(name="second")
    rt.add_strategy(second)
    rt.start()  # as a harness that starts after each add would
    rt.on_bar(bar(1.7e9 + 60))
    assert (first.starts, len(first.bars)) == (1, 2)
    assert (second.starts, len(second.bars)) == (1, 1)
    assert [h["status"] for h in rt.status()] == ["RUNNING", "RUNNING"]


def test_a_strategy_added_after_start_gets_on_start_before_its_first_bar() -> None:
    rt = runtime("start-late")
    rt.add_strategy(Counting(name="first"))
    rt.start()
    late = Counting(name="late")
    rt.add_strategy(late)
    rt.on_bar(bar(1.7e9))
    assert (late.starts, len(late.bars)) == (1, 1)
    assert rt.status()[1]["status"] == "RUNNING"


def test_a_strategy_paused_before_start_is_started_when_resumed() -> None:
    rt = runtime("start-paused")
    held = Counting(name="held")
    rt.add_strategy(held)
    rt.pause("held")
    rt.start()
    rt.resume("held")
    rt.on_bar(bar(1.7e9))
    assert (held.starts, len(held.bars)) == (1, 1)
