"""``stop()`` called again for a strategy whose ``on_stop`` is running (from that ``on_stop``, or
from a partner's it stops in turn): ``on_stop`` is called once. Were each call to run it again,
it would run hundreds of times until a RecursionError, which both strategies would then show as
their error while reading STOPPED."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 1_000.0)


class Paired(Strategy[Any]):
    """Stops ``partner`` (every strategy with None) when it is stopped."""

    runtime: TradingRuntime
    partner: str | None

    def on_start(self) -> None:
        self.stops = 0

    def on_stop(self) -> None:
        self.stops += 1
        self.runtime.stop(self.partner)


def runtime_of(*strategies: Paired) -> TradingRuntime:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="stop-again")
    runtime = TradingRuntime(kernel, [])
    for strategy in strategies:
        strategy.runtime = runtime
        runtime.add_strategy(strategy)
    runtime.start()
    return runtime


def test_partners_stopping_each_other_each_hear_on_stop_once() -> None:
    a, b = Paired(name="a"), Paired(name="b")
    a.partner, b.partner = "b", "a"
    runtime = runtime_of(a, b)
    runtime.stop("a")
    assert (a.stops, b.stops) == (1, 1)
    assert [(s["status"], s["error"]) for s in runtime.status()] == [("STOPPED", ""), ("STOPPED", "")]


def test_on_stop_stopping_every_strategy_stops_the_others_once() -> None:
    a, b = Paired(name="a"), Paired(name="b")
    a.partner, b.partner = None, None
    runtime = runtime_of(a, b)
    runtime.stop()
    assert (a.stops, b.stops) == (1, 1)
    assert [(s["status"], s["error"]) for s in runtime.status()] == [("STOPPED", ""), ("STOPPED", "")]


class FailsOnItsFill(Strategy[Any]):
    """Buys at market from ``on_stop``; its ``on_fill`` raises."""

    def on_fill(self, fill: Fill) -> None:
        raise ValueError("bad fill handling")

    def on_stop(self) -> None:
        self.buy("AAA", 1.0, price=100.0)


def test_a_strategy_put_in_error_during_its_on_stop_stays_in_error() -> None:
    """Its ``on_fill`` raised while its ``on_stop`` ran: it read STOPPED, with an error."""
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="stop-error")
    kernel.set_seed_capital(1_000_000.0)
    runtime = TradingRuntime(kernel, [])
    runtime.add_strategy(FailsOnItsFill(name="f"))
    runtime.on_bar(BAR)
    runtime.stop("f")
    (status,) = runtime.status()
    assert (status["status"], status["error_callback"]) == ("ERROR", "on_fill")
    assert "bad fill handling" in status["error"]
