"""A dead-man trip's control plane entry, written in the background, leaves an operator's resume
made before it is written: a resume to the very mode the trip read (LIVE) gave the entries the
mode the write's guard took for "nothing changed", and the trip's HALTED was written over it."""

from __future__ import annotations

import threading
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
    """The dead man's writes (the only callers passing only_if) wait for ``answer``."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()

    def set(self, kernel_id: str | None = None, **change: Any) -> dict[str, Any] | None:
        if change.get("only_if") is not None:
            self.answer.wait(30)
        return super().set(kernel_id, **change)


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
