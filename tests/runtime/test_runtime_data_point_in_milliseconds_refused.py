"""A bar or quote stamped in milliseconds (1.7e12), past the last time the kernel takes
(253402300799), is refused by the runtime naming ts and the value, in the kernel's words, and
nothing changes: taken, the strategy's buy would raise at its intent's timestamp (the strategy
in ERROR), and every later point in seconds be refused as earlier than the last. So is a replay
resumed at such a time."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Quote, Strategy

IN_MS = 1.7e12
PAST_THE_KERNEL = r"this reads as milliseconds"


class Buyer(Strategy[Any]):
    data = ("bars", "quotes")

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset):
            self.buy(bar.asset, 1.0, price=bar.close)


def _runtime() -> tuple[TradingRuntime, Buyer]:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(), kernel_id="ts-in-ms")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [])
    strategy = Buyer(name="b")
    runtime.add_strategy(strategy)
    runtime.start()
    return runtime, strategy


@pytest.mark.parametrize(
    "point",
    [Bar("A", IN_MS, 100.0, 101.0, 99.0, 100.0, 1.0), Quote("A", IN_MS, 100.0, 101.0, 1.0, 1.0)],
    ids=["bar", "quote"],
)
def test_a_data_point_stamped_in_milliseconds_is_refused_naming_ts_and_changes_nothing(point: Any) -> None:
    runtime, strategy = _runtime()
    try:
        with pytest.raises(
            ValueError, match=rf"ts {IN_MS!r} must be seconds since the epoch.*{PAST_THE_KERNEL}"
        ):
            runtime.on_bar(point) if isinstance(point, Bar) else runtime.on_quote(point)
        assert runtime.data_points == 0 and runtime.ctx.now() == 0.0
        # The strategy runs, and a bar in seconds is still taken and traded on.
        runtime.on_bar(Bar("A", 1.7e9, 100.0, 101.0, 99.0, 100.0, 1.0))
        assert runtime.handles["b"].status == "RUNNING"
        assert strategy.position("A") == 1.0
    finally:
        runtime.kernel.close()


def test_the_kernels_last_time_itself_is_taken() -> None:
    runtime, strategy = _runtime()
    try:
        runtime.on_bar(Bar("A", 253402300799.0, 100.0, 101.0, 99.0, 100.0, 1.0))
        assert runtime.handles["b"].status == "RUNNING" and strategy.position("A") == 1.0
    finally:
        runtime.kernel.close()


def test_a_replay_resumed_at_a_time_in_milliseconds_is_refused_naming_ts() -> None:
    runtime, _ = _runtime()
    try:
        with pytest.raises(ValueError, match=rf"resume_at ts={IN_MS!r} must be seconds.*{PAST_THE_KERNEL}"):
            runtime.resume_at(IN_MS)
        assert runtime.ctx.now() == 0.0
        runtime.resume_at(1.7e9)
        assert runtime.ctx.now() == 1.7e9
    finally:
        runtime.kernel.close()
