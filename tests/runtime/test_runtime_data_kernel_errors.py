"""What the runtime does when the kernel raises on the events a venue answers market data
with (the paper venue's fills of resting orders): busy in another thread's call, closed,
its log failed. The venue hands each event over once: the runtime tried every later event
and raised the first error at the end of the data point, and the event the kernel had raised
on was never given again, so the venue counted the order filled and the kernel never booked
it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from dita import ExecutionKernel, VenueEvent
from dita._kernel import WalError
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from dita.venues.paper import PaperVenue
from kernel_faults import FaultyKernel, busy, closing, log_failed

from .points import T0, NoParams

# The paper venue names its events in turn: the three acks, then the fills.
FIRST_FILL, SECOND_FILL, THIRD_FILL = "paper-e4", "paper-e5", "paper-e6"


def bar(minute: int, low: float = 99.0) -> Bar:
    """A bar of ``AAA``; volume enough for every resting order to fill whole on it."""
    return Bar("AAA", T0 + 60 * minute, 100.0, 101.0, low, 100.0, 1000.0)


class RestsThree(Strategy[NoParams]):
    """On its first bar, buys 1 of ``AAA`` twice at limit 98 (slots 0 and 1) and once at 96
    (slot 2): they rest; a bar down to 97 fills the first two, one down to 95 the third."""

    Params = NoParams

    def on_start(self) -> None:
        self.heard: list[Fill] = []
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            for limit in (98.0, 98.0, 96.0):
                assert self.buy("AAA", 1.0, price=100.0, limit=limit).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


def _resting() -> tuple[TradingRuntime, FaultyKernel, PaperVenue, RestsThree, list[str]]:
    venue = PaperVenue(starting_balance=100_000.0)
    kernel = FaultyKernel(max_slots=3, venue=venue)
    kernel.faults = {}
    runtime = TradingRuntime(kernel)
    taken: list[str] = []  # the ids of the events the kernel took, in order

    def listen(event: VenueEvent) -> None:
        taken.append(event.event_id)

    runtime.event_listeners.append(listen)
    strategy = RestsThree(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar(0))  # three orders rest
    runtime.on_bar(bar(1))  # the bar they were sent on is over: they work from here
    assert runtime.working_orders == 3
    return runtime, kernel, venue, strategy, taken


def _stages(kernel: ExecutionKernel) -> list[str]:
    return [kernel.slot_state(i).fsm_state.name for i in range(kernel.max_slots)]


@pytest.mark.parametrize("fault_on", [FIRST_FILL, SECOND_FILL])
def test_fills_of_a_bar_the_busy_kernel_raised_on_are_booked_at_the_next_data_point(
    fault_on: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The paper venue fills two resting orders on one bar, the kernel busy on one of the
    fills: the bar raised, the strategy never heard it, and the fill the kernel raised on was
    lost for good (the venue counted it filled)."""
    runtime, kernel, venue, strategy, taken = _resting()
    kernel.faults = {fault_on: busy}
    with caplog.at_level(logging.WARNING, logger="dita.runtime"):
        runtime.on_bar(bar(2, low=97.0))  # both fill at the venue; the kernel busy on one
    assert strategy.bars == 3  # the data point went on
    booked = ["POSITION_OPEN", "ENTRY_WORKING"] if fault_on == SECOND_FILL else ["ENTRY_WORKING"] * 2
    assert _stages(kernel) == [*booked, "ENTRY_WORKING"]
    assert runtime.stats["venue_data_errors"] == 1
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "busy" in warning.getMessage() and fault_on in warning.getMessage()
    # The next bar (down to 95: the third order fills too) gives the kernel the kept fills
    # first, then reaches the venue: the kernel takes every fill, in the venue's order.
    runtime.on_bar(bar(3, low=95.0))
    assert _stages(kernel) == ["POSITION_OPEN"] * 3
    assert [e for e in taken if e in (FIRST_FILL, SECOND_FILL, THIRD_FILL)] == [
        FIRST_FILL,
        SECOND_FILL,
        THIRD_FILL,
    ]
    assert [f.slot_id for f in strategy.heard] == [0, 1, 2]
    assert runtime.stats["fills"] == 3 and runtime.working_orders == 0
    assert venue.positions() == {"AAA": 3.0}  # as the kernel booked them


def test_fills_still_kept_are_given_to_the_kernel_at_finish() -> None:
    runtime, kernel, _, strategy, _ = _resting()
    kernel.faults = {FIRST_FILL: busy}
    runtime.on_bar(bar(2, low=97.0))
    runtime.finish()  # the kernel takes them now
    assert _stages(kernel) == ["POSITION_OPEN", "POSITION_OPEN", "ENTRY_WORKING"]
    assert [f.slot_id for f in strategy.heard] == [0, 1]


def test_fills_the_kernel_is_still_busy_on_are_named_at_finish(caplog: pytest.LogCaptureFixture) -> None:
    runtime, kernel, _, _, _ = _resting()
    kernel.faults = {FIRST_FILL: busy}
    runtime.on_bar(bar(2, low=97.0))
    kernel.faults = {FIRST_FILL: busy}  # busy again at finish()
    with caplog.at_level(logging.ERROR, logger="dita.runtime"):
        runtime.finish()
    (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    message = error.getMessage()
    assert FIRST_FILL in message and SECOND_FILL in message and "reconcile" in message


@pytest.mark.parametrize("fault", [closing, log_failed])
def test_a_kernel_that_takes_no_more_input_stops_the_venues_data_and_names_what_it_missed(
    fault: Callable[[ExecutionKernel], None], caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel closed (or whose log failed) on the first of two fills of a bar: the second was
    named nowhere, and each later data point had the venue fill more it could not book."""
    runtime, kernel, venue, strategy, _ = _resting()
    kernel.faults = {FIRST_FILL: fault}
    try:
        with caplog.at_level(logging.ERROR, logger="dita.runtime"), pytest.raises((RuntimeError, WalError)):
            runtime.on_bar(bar(2, low=97.0))
        (error,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
        message = error.getMessage()
        assert "takes no more input" in message and FIRST_FILL in message and SECOND_FILL in message
        seen = venue.now()
        runtime.on_bar(bar(3, low=95.0))  # the venue is handed no more data: it would fill the third
        assert venue.now() == seen and len(venue.open_orders()) == 1
        assert strategy.heard == []
    finally:
        try:
            kernel.close()
        except (RuntimeError, WalError):
            pass
