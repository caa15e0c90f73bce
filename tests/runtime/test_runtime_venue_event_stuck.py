"""A polled venue event the kernel raises the same non-transient error on each time (not busy,
not closed) is set aside after ``STUCK_AFTER`` tries (named at ERROR, counted in
``stats["venue_events_stuck"]``, named again at ``finish()``), and the fills after it are
booked. Kept at the head of the venue's queue, every later fill behind it, each poll would
raise on it again, the venue asked for nothing more: the later fills would never be booked,
however long the run goes on."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.runtime import TradingRuntime
from dita.venues._events import STUCK_AFTER
from kernel_faults import ReportsLater

from .points import bar
from .test_runtime_poll_kernel_errors import ASSETS, BuysThree


class Refuses(ExecutionKernel):
    """Raises RuntimeError on the venue events named in ``refused``, each time."""

    refused: set[str]

    def on_venue_event(self, event: Any) -> Any:
        if getattr(event, "event_id", "") in self.refused:
            raise RuntimeError(f"cannot book {event.event_id}")
        return super().on_venue_event(event)


def _three_resting_fill_1_refused() -> tuple[ReportsLater, Refuses, TradingRuntime, BuysThree]:
    """A runtime whose strategy has three resting orders, filled by the next poll; the kernel
    raises on the second fill ("fill-1") each time: (the venue, the kernel, the runtime, the
    strategy)."""
    venue = ReportsLater()
    kernel = Refuses(max_slots=3, venue=venue)
    kernel.refused = set()
    runtime = TradingRuntime(kernel)
    strategy = BuysThree(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar(0))
    kernel.refused = {"fill-1"}
    return venue, kernel, runtime, strategy


def test_fills_after_an_event_the_kernel_always_raises_on_are_booked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    venue, kernel, runtime, strategy = _three_resting_fill_1_refused()
    raised = 0
    with caplog.at_level(logging.ERROR, logger="dita"):
        for _ in range(6):  # a live loop polls on, whatever one poll raised
            try:
                runtime.poll_venues()
            except RuntimeError as exc:
                assert "cannot book fill-1" in str(exc)
                raised += 1
        runtime.finish()
    assert 0 < raised < 6
    stages = [kernel.slot_state(i).fsm_state.name for i in range(3)]
    assert stages == ["POSITION_OPEN", "ENTRY_WORKING", "POSITION_OPEN"]
    assert [f.asset for f in strategy.heard] == [ASSETS[0], ASSETS[2]]
    assert runtime.stats["venue_events_stuck"] == 1
    assert venue.polls > 1  # asked for its news again once the way was clear
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("set aside" in m and "fill-1" in m for m in errors)
    assert "set aside in this run" in errors[-1] and "fill-1" in errors[-1]  # finish() names it again


def test_a_set_aside_listener_that_raises_stops_neither_the_others_nor_the_fills_after_it() -> None:
    """The set-aside listeners hear the event with the kernel's error. One that raises is
    raised once the poll is done, as another listener's error is: the next listener hears the
    event, and the fill after it is booked in the same poll; no poll error is counted for it."""
    _, kernel, runtime, strategy = _three_resting_fill_1_refused()
    heard: list[tuple[str, str]] = []

    def fails(event: VenueEvent, exc: Exception) -> None:
        raise KeyError("the listener's own fault")

    runtime.set_aside_listeners.append(fails)
    runtime.set_aside_listeners.append(lambda event, exc: heard.append((event.event_id, str(exc))))
    for _ in range(STUCK_AFTER - 1):
        with pytest.raises(RuntimeError, match="cannot book fill-1"):
            runtime.poll_venues()
    with pytest.raises(KeyError, match="the listener's own fault"):
        runtime.poll_venues()  # the poll that sets it aside
    assert heard == [("fill-1", "cannot book fill-1")]
    assert [f.asset for f in strategy.heard] == [ASSETS[0], ASSETS[2]]
    stages = [kernel.slot_state(i).fsm_state.name for i in range(3)]
    assert stages == ["POSITION_OPEN", "ENTRY_WORKING", "POSITION_OPEN"]
    assert runtime.stats["venue_events_stuck"] == 1
    assert runtime.stats["venue_poll_errors"] == STUCK_AFTER - 1  # the kernel's raises alone
