"""In a replay (the runtime's data clock), a hand-built intent dated after the data's time is
refused by ``submit``, naming timestamp: KernelIntent's default is the machine's clock, and an
intent built without a time would be dated years after its bar, its fill after the exit that
closes the trade, and differ on every run. Dated with ``ctx.now()`` it is taken; under the wall
clock the machine's time is the runtime's. A datetime of the data's time, rounded up to its
microsecond, is dated by the data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dita import ExecutionKernel, KernelIntent
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Quote, Strategy

T0 = 1.7e9


class HandEntry(Strategy[Any]):
    def on_start(self) -> None:
        self.refusals: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        if bar.ts == T0:
            undated = KernelIntent("hand-1", "hand-t1", 0, bar.asset, "LONG", "ENTER", bar.close, 1.0)
            try:
                self.submit(undated)
            except ValueError as refused:
                self.refusals.append(str(refused))
            dated = KernelIntent(
                "hand-2", "hand-t2", 0, bar.asset, "LONG", "ENTER", bar.close, 1.0, timestamp=self.ctx.now()
            )
            assert self.submit(dated).accepted
        else:
            self.exit(0, price=bar.close)


def _run(clock: str) -> tuple[TradingRuntime, HandEntry]:
    kernel = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(), kernel_id="hand-built-time")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [], clock=clock)
    strategy = HandEntry(name="s")
    runtime.add_strategy(strategy)
    runtime.start()
    return runtime, strategy


def test_a_hand_built_intent_dated_after_the_data_is_refused_in_a_replay() -> None:
    runtime, strategy = _run("data")
    try:
        runtime.on_bar(Bar("A", T0, 100.0, 101.0, 99.0, 100.0, 1.0))
        runtime.on_bar(Bar("A", T0 + 60, 100.0, 101.0, 99.0, 100.0, 1.0))
        [refusal] = strategy.refusals
        assert refusal.startswith("timestamp=") and f"data's time ({T0!r})" in refusal
        assert "timestamp=self.ctx.now()" in refusal
        # Nothing was sent: the intent dated by the data is the one taken, and its trade closed.
        assert runtime.handles["s"].status == "RUNNING"
        assert [fill.ts for fill in strategy.fills] == [T0, T0 + 60]
        assert runtime.kernel.stats()["intents_accepted"] == 2
    finally:
        runtime.kernel.close()


def test_under_the_wall_clock_an_intent_built_without_a_time_is_taken() -> None:
    runtime, strategy = _run("wall")
    try:
        runtime.on_quote(Quote("A", T0, 99.0, 101.0, 1.0, 1.0))  # no on_bar: the strategy stays idle
        intent = KernelIntent("hand-1", "hand-t1", 0, "A", "LONG", "ENTER", 100.0, 1.0)
        assert strategy.submit(intent).accepted
    finally:
        runtime.kernel.close()


T_NS = 1_704_067_200.1234567  # a quote time of nanosecond data, as float seconds


class DatedByTheBar(Strategy[Any]):
    def on_start(self) -> None:
        self.refusals: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        when = datetime.fromtimestamp(self.ctx.now(), UTC)  # the data's time to the microsecond, rounded up
        intent = KernelIntent(
            "hand-3", "hand-t3", 0, bar.asset, "LONG", "ENTER", bar.close, 1.0, timestamp=when
        )
        try:
            self.submit(intent)
        except ValueError as refused:
            self.refusals.append(str(refused))


def test_an_intent_dated_by_the_data_as_a_datetime_is_taken_on_the_data_clock() -> None:
    kernel = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(), kernel_id="dated-as-a-datetime")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [], clock="data")
    strategy = DatedByTheBar(name="s")
    runtime.add_strategy(strategy)
    runtime.start()
    try:
        runtime.on_bar(Bar("A", T_NS, 100.0, 101.0, 99.0, 100.0, 1.0))
        assert strategy.refusals == []
        assert kernel.stats()["intents_accepted"] == 1
    finally:
        kernel.close()
