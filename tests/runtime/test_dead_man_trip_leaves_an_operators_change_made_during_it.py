"""A dead-man trip leaves standing an operator's mode change that lands while the trip is being
made: between the trip's read of the mode and its set, while its control plane entry is being
written (a cluster write may take seconds), or between its read of the source and putting its
reason back. The kernel runs what the operator set, and the trip is not put back over it."""

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


class OperatorBeforeTheWrite(InMemoryControlPlane):
    """The operator's change (to ``kernel_id``'s entry, or with None every kernel's) lands after
    the trip set the kernel's own mode, before its entry is written."""

    def __init__(self, kernel_id: str | None, mode: str) -> None:
        super().__init__()
        self.operator = (kernel_id, mode)
        self.writes = 0

    def set(self, kernel_id: str | None = None, **change: Any) -> dict[str, Any] | None:
        self.writes += 1
        if self.writes == 1:
            operator_kernel, mode = self.operator
            super().set(operator_kernel, mode=mode)
        return super().set(kernel_id, **change)


class OperatorAfterARead:
    """``kernel`` as the switch sees it: the operator's change (set on the kernel, as the
    gateway sets it) lands right after the switch's ``read``-th read of the control, before the
    switch acts on what it read."""

    def __init__(self, kernel: ExecutionKernel, read: int, mode: str) -> None:
        self.kernel = kernel
        self.operator_at_read = read
        self.operator_mode = mode
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kernel, name)

    def control(self) -> dict[str, Any]:
        read = dict(self.kernel.control())
        self.reads += 1
        if self.reads == self.operator_at_read:
            self.kernel.update_control(mode=self.operator_mode, source="operator")
        return read


def test_an_operators_halt_after_the_trip_read_the_mode_is_not_loosened() -> None:
    """The trip reads PAPER, the operator halts, the trip's REDUCE_ONLY does not apply: the
    kernel stays HALTED and the trip writes no plane entry."""
    plane = InMemoryControlPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-read") as kernel:
        operator = OperatorAfterARead(kernel, read=1, mode="HALTED")
        settings = DeadManSettings(strategy_silence_s=5, action="REDUCE_ONLY")
        switch = DeadManSwitch(operator, settings, clock=clock)  # type: ignore[arg-type]
        clock.now += 6
        [trip] = switch.check()
        assert switch.close()  # the trip's entry written
        assert operator.reads >= 1
        assert not trip.applied
        assert (kernel.control()["mode"], kernel.control()["source"]) == ("HALTED", "operator")
        assert plane.entries.get("dm-read") is None
        assert switch.status()["trips"][0]["applied"] is False


def test_an_operators_resume_after_the_trip_read_its_source_is_not_undone() -> None:
    """The trip halts and writes its entry (the in-process plane applies it under its own
    source); the operator resumes right after the trip reads that source: the trip's reason is
    not put back, so the kernel is not halted again."""
    plane = InMemoryControlPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-relabel") as kernel:
        operator = OperatorAfterARead(kernel, read=3, mode="LIVE")
        settings = DeadManSettings(strategy_silence_s=5, action="HALTED")
        switch = DeadManSwitch(operator, settings, clock=clock)  # type: ignore[arg-type]
        clock.now += 6
        [trip] = switch.check()
        assert switch.close()  # the trip's entry written
        assert operator.reads == 3
        assert trip.applied
        assert (kernel.control()["mode"], kernel.control()["source"]) == ("LIVE", "operator")


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
        assert switch.close()  # the trip's entry written
        assert trip.applied and trip.action == action
        assert plane._effective("dm-op")["mode"] == mode
        assert kernel.control()["mode"] == mode
        assert kernel.control()["source"] == "control-plane"


@pytest.mark.parametrize(
    ("action", "operator", "mode"),
    [("REDUCE_ONLY", None, "HALTED"), ("REDUCE_ONLY", "dm-op", "HALTED"), ("HALTED", "dm-op", "LIVE")],
    ids=["a-halt-of-every-kernel", "a-halt-of-the-kernel", "a-resume-from-a-halted-trip"],
)
def test_an_operators_change_before_the_trips_entry_is_written_stands(
    action: str, operator: str | None, mode: str
) -> None:
    """The trip's entry, written after the operator's change, was the newest: the kernel ran the
    trip's mode after the operator's (REDUCE_ONLY after a halt, HALTED after a resume). The
    entries give the kernel another mode than the trip read: its entry is not written."""
    plane = OperatorBeforeTheWrite(operator, mode)
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-op") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action=action), clock=clock)
        clock.now += 6
        [trip] = switch.check()
        assert switch.close()  # the trip's entry written
        assert trip.applied and trip.action == action
        assert plane._effective("dm-op")["mode"] == mode
        assert (kernel.control()["mode"], kernel.control()["source"]) == (mode, "control-plane")
        assert plane.entries.get("dm-op", {}).get("mode") in (None, mode)


def test_a_trip_written_undisturbed_keeps_its_reason() -> None:
    plane = InMemoryControlPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-alone") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        switch.check()
        assert switch.close()  # the trip's entry written
        assert kernel.control()["mode"] == "HALTED"
        assert kernel.control()["source"].startswith("dead-man switch: the strategy process silent")


def test_a_trip_from_a_mode_the_entries_do_not_give_is_written_to_the_plane() -> None:
    """The kernel runs REDUCE_ONLY no entry gives it (as a mode kept from its log over an older
    LIVE entry runs): nobody changes anything after the trip, so the plane's entry holds the
    halt too, for the cluster to see."""
    plane = InMemoryControlPlane()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-kept") as kernel:
        plane.set("dm-kept", mode="LIVE")
        kernel.update_control(mode="REDUCE_ONLY", source="gateway")
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        [trip] = switch.check()
        assert switch.close()  # the trip's entry written
        assert trip.applied and kernel.control()["mode"] == "HALTED"
        assert plane.given("dm-kept")["mode"] == "HALTED"


class PlaneReturningNothing(InMemoryControlPlane):
    """A plane of one's own that passes every argument on but ``only_if`` and returns nothing."""

    def set(self, kernel_id: str | None = None, **change: Any) -> None:
        change.pop("only_if", None)
        super().set(kernel_id, **change)


def test_a_plane_whose_set_returns_nothing_does_not_break_the_trip() -> None:
    plane = PlaneReturningNothing()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-none") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        [trip] = switch.check()
        assert switch.close()  # the trip's entry written
        assert trip.applied and kernel.control()["mode"] == "HALTED"
        assert plane.given("dm-none")["mode"] == "HALTED"


class AppliesLater(InMemoryControlPlane):
    """A plane whose operator change is stored in its entries before the kernel is set (as the
    Hazelcast plane's entry event, then its applier)."""

    def store_only(self, kernel_id: str, mode: str) -> None:
        with self._lock:
            kernel = self._kernels.pop(kernel_id)  # stored, not applied yet
            try:
                super().set(kernel_id, mode=mode)
            finally:
                self._kernels[kernel_id] = kernel

    def apply(self, kernel: ExecutionKernel) -> None:
        kernel.update_control(**self._effective(kernel.kernel_id), source="control-plane")


def test_a_reduce_only_trip_does_not_write_over_a_halt_on_its_way_to_the_kernel() -> None:
    """An operator's halt the plane's entries hold and its applier has yet to set on the kernel
    (the Hazelcast plane's window): a REDUCE_ONLY trip's entry must not loosen it. (Review
    /work/review127.)"""
    plane = AppliesLater()
    clock = Clock()
    with ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="dm-lag") as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5), clock=clock)
        plane.store_only("dm-lag", "HALTED")  # the operator's halt, in the entries
        assert kernel.control()["mode"] not in ("REDUCE_ONLY", "HALTED")
        clock.now += 6
        [trip] = switch.check()  # REDUCE_ONLY, the default action
        assert switch.close()  # the trip's entry written
        assert trip.applied
        plane.apply(kernel)  # the applier sets what the entries give
        assert plane.given("dm-lag")["mode"] == "HALTED", "the operator's halt was written over"
        assert kernel.control()["mode"] == "HALTED"
