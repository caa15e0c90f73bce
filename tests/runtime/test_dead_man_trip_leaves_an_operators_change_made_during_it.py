"""A dead-man trip leaves standing an operator's mode change that lands while the trip's control
plane entry is being written (a cluster write may take seconds): the kernel runs what the
operator set, as the plane's entries say, and the trip is not put back over it."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita.control import InMemoryControlPlane
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class OperatorDuringTheWrite(InMemoryControlPlane):
    """The operator's change (to ``kernel_id``'s entry, or with None every kernel's) lands right
    after the trip's entry is written, before the write returns."""

    def __init__(self, kernel_id: str | None, mode: str) -> None:
        super().__init__()
        self.operator = (kernel_id, mode)
        self.writes = 0

    def set(self, kernel_id: str | None = None, **change: Any) -> dict[str, Any]:
        answer = super().set(kernel_id, **change)
        self.writes += 1
        if self.writes == 1:
            operator_kernel, mode = self.operator
            super().set(operator_kernel, mode=mode)
        return answer


@pytest.mark.parametrize(
    ("action", "operator", "mode"),
    [("REDUCE_ONLY", None, "HALTED"), ("HALTED", "dm-op", "LIVE")],
    ids=["a-halt-of-every-kernel-over-a-reduce-only-trip", "a-resume-from-a-halted-trip"],
)
def test_an_operators_change_during_the_trips_write_stands(
    action: str, operator: str | None, mode: str
) -> None:
    plane = OperatorDuringTheWrite(operator, mode)
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-op") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action=action), clock=clock)
        clock.now += 6
        [trip] = switch.check()
        assert trip.applied and trip.action == action
        assert plane._effective("dm-op")["mode"] == mode
        assert kernel.control()["mode"] == mode
        assert kernel.control()["source"] == "control-plane"


def test_a_trip_written_undisturbed_keeps_its_reason() -> None:
    plane = InMemoryControlPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-alone") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        switch.check()
        assert kernel.control()["mode"] == "HALTED"
        assert kernel.control()["source"].startswith("dead-man switch: the strategy process silent")
