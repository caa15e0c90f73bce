"""A dead-man trip sets the kernel's mode on the checking thread (a strategy's data point) and
writes its control plane entry on a thread of its own: the check does not wait for the cluster,
the trips' entries are written in the order of the trips, only while the kernel still runs the
trip (an operator's resume before the write stands), and ``close`` waits for them a bounded time,
saying which were not written."""

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
    """A plane whose writes of the switch's (the only ones with ``only_if``) wait for ``answer``
    (a cluster not answering), each recorded; an operator's go through at once."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()
        self.written: list[Any] = []
        self.writing_on: list[threading.Thread] = []  # the threads the switch's writes ran on

    def set(self, kernel_id: str | None = None, **change: Any) -> dict[str, Any] | None:
        if change.get("only_if") is None:
            return super().set(kernel_id, **change)
        self.writing_on.append(threading.current_thread())
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
        assert time.monotonic() - started < 10.0  # not the plane's 30 s
        # The entry is written on a thread of the switch's, still held by the plane: the check
        # returned without it, however long a loaded host took to get there.
        deadline = time.monotonic() + 30
        while not plane.writing_on and time.monotonic() < deadline:
            time.sleep(0.01)
        assert plane.writing_on and plane.writing_on[0] is not threading.current_thread()
        assert plane.written == []
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
            assert time.monotonic() - started < 10.0  # not the plane's 30 s
        assert f"{trip.reason()}: kernel dm-late's control plane entry not written within 0.3s" in caplog.text
        assert kernel.control()["mode"] == "REDUCE_ONLY"
        plane.answer.set()
        assert switch.close()


def test_an_operators_resume_made_before_the_trips_entry_is_written_stands() -> None:
    plane = SlowPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-aba") as kernel:
        plane.set("dm-aba", mode="LIVE")  # the kernel trades LIVE
        assert kernel.control()["mode"] == "LIVE"
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        [trip] = switch.check()
        assert trip.applied and kernel.control()["mode"] == "HALTED"
        # The operator sees the halt, restarts the strategy and resumes the kernel
        # (dita control set --kernel dm-aba --mode LIVE), while the trip's entry is still queued.
        switch.heard_from_strategy()
        plane.set("dm-aba", mode="LIVE")
        assert kernel.control()["mode"] == "LIVE"
        plane.answer.set()  # the cluster answers
        assert switch.close()
        assert plane.given("dm-aba")["mode"] == "LIVE", "the trip's HALTED was written over the resume"
        assert kernel.control()["mode"] == "LIVE"


@pytest.mark.parametrize("through", ["the kernel", "the plane"])
def test_an_operators_verbosity_change_before_the_trips_entry_is_written_leaves_it_written(
    through: str,
) -> None:
    """A verbosity change sets the control's source, not the mode's setter: the trip still runs,
    and its HALTED must reach the plane, which gave LIVE for a halted kernel."""
    plane = SlowPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-verbose") as kernel:
        plane.set("dm-verbose", mode="LIVE")
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        [trip] = switch.check()
        assert trip.applied
        if through == "the kernel":
            kernel.update_control(verbosity="DEBUG", source="gateway")
        else:
            plane.set("dm-verbose", verbosity="DEBUG")
        plane.answer.set()
        assert switch.close()
        assert kernel.control()["mode"] == "HALTED"
        assert plane.given("dm-verbose")["mode"] == "HALTED"
