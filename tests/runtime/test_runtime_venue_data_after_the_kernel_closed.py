"""Once the kernel takes no more input (closed by another thread in the middle of a data point),
the market-data venues are handed nothing more, not even the rest of that point (what they fill
could not be booked), and the events a venue gave as the kernel stopped are named at ERROR, for
reconciliation."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.runtime import TradingRuntime
from dita.strategy import Bar

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


def fill(event_id: str, slot_id: int) -> VenueEvent:
    return VenueEvent(
        event_id,
        f"t{slot_id}",
        slot_id,
        "FILL",
        "FILLED",
        venue_client_id=f"c{slot_id}",
        asset="AAA",
        side="BUY",
        price=100.0,
        size=1.0,
        filled_size=1.0,
    )


class ClosesAsItFills:
    """Fills on a bar as another thread closes the kernel; with ``poll_then``, the runtime's poll
    learns of the close before this venue's answer is booked."""

    def __init__(self, kernel: Any, runtime: list[TradingRuntime], poll_then: bool = False) -> None:
        self.kernel = kernel
        self.runtime = runtime
        self.poll_then = poll_then
        self.news: list[VenueEvent] = []

    def on_bar(self, *args: Any) -> list[VenueEvent]:
        self.kernel.close()
        if self.poll_then:
            self.news.append(fill("polled-fill", 0))
            with pytest.raises(RuntimeError, match="closed"):
                self.runtime[0].poll_venues()
        return [fill("late-fill", 0)]

    def poll_events(self) -> list[VenueEvent]:
        news, self.news = self.news, []
        return news


class Fills:
    def __init__(self) -> None:
        self.bars = 0

    def on_bar(self, *args: Any) -> list[VenueEvent]:
        self.bars += 1
        return [fill("other-fill", 1)]


def test_no_venue_is_handed_the_rest_of_a_point_once_the_kernel_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="closes-mid-point")
    kernel.set_seed_capital(10_000.0)
    runtime: list[TradingRuntime] = []
    first, second = ClosesAsItFills(kernel, runtime), Fills()
    runtime.append(TradingRuntime(kernel, [first, second], defer_venue_data=False))
    caplog.set_level(logging.ERROR)
    with pytest.raises(RuntimeError, match="closed"):
        runtime[0].on_bar(BAR)
    assert second.bars == 0
    assert "late-fill (FILL, slot 0, order c0, 1 at 100)" in caplog.text


def test_a_venues_answer_given_after_the_kernel_stopped_is_named(caplog: pytest.LogCaptureFixture) -> None:
    kernel = ExecutionKernel(max_slots=2, kernel_id="closed-before-answer")
    kernel.set_seed_capital(10_000.0)
    runtime: list[TradingRuntime] = []
    venue = ClosesAsItFills(kernel, runtime, poll_then=True)
    runtime.append(TradingRuntime(kernel, [venue], defer_venue_data=False))
    caplog.set_level(logging.ERROR)
    runtime[0].on_bar(BAR)
    late = [r.getMessage() for r in caplog.records if "late-fill" in r.getMessage()]
    assert len(late) == 1 and "gave after it stopped, never applied" in late[0], caplog.text
