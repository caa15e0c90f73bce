"""A dead-man trip sets the kernel's mode on the checking thread (a strategy's data point) and
writes its control plane entry on a thread of its own: the check does not wait for the cluster,
the trips' entries are written in the order of the trips, and ``close`` waits for them a bounded
time, saying which were not written."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.control import InMemoryControlPlane
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class SlowPlane(InMemoryControlPlane):
    """A plane whose writes wait for ``answer`` (a cluster not answering), each recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()
        self.written: list[Any] = []

    def set(self, kernel_id: str | None = None, **change: Any) -> dict[str, Any] | None:
        self.answer.wait(30)
        answer = super().set(kernel_id, **change)
        self.written.append(change["mode"])
        return answer


def test_a_trip_does_not_wait_for_its_entry_and_later_trips_are_written_after_it() -> None:
    plane = SlowPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-bg") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        started = time.monotonic()
        [first] = switch.check()
        assert time.monotonic() - started < 1.0
        assert first.applied and kernel.control()["mode"] == "HALTED"
        # The operator resumes the kernel on its own state; the strategy is heard from, then
        # falls silent again while the first trip's entry is still out.
        kernel.update_control(mode="LIVE", source="operator")
        switch.heard_from_strategy()
        assert switch.check() == []
        clock.now += 6
        [second] = switch.check()
        assert second.applied and plane.written == []
        plane.answer.set()
        assert switch.close()
        assert plane.written == ["HALTED", "HALTED"]
        assert plane.given("dm-bg")["mode"] == "HALTED"
        assert kernel.control()["mode"] == "HALTED"
        assert kernel.control()["source"] == second.reason()


def test_close_says_which_trips_entry_was_not_written_in_time(caplog: pytest.LogCaptureFixture) -> None:
    plane = SlowPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-late") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5), clock=clock)
        clock.now += 6
        [trip] = switch.check()
        with caplog.at_level(logging.ERROR, logger="dita.runtime.dead_man"):
            started = time.monotonic()
            assert switch.close(timeout=0.3) is False
            assert time.monotonic() - started < 2.0
        assert f"{trip.reason()}: kernel dm-late's control plane entry not written within 0.3s" in caplog.text
        assert kernel.control()["mode"] == "REDUCE_ONLY"
        plane.answer.set()
        assert switch.close()
