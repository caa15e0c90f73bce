"""The dead-man switch: each source falling silent past its limit puts the kernel in the
configured mode, says why, and never loosens a mode."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from dita import ExecutionKernel, KernelIntent
from dita.control import InMemoryControlPlane
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stream:
    since_last_frame_s: float | None


class Plane:
    """A control plane that reads the cluster: its last successful read, as the Hazelcast one says."""

    def __init__(self, last_sync_at: float | None) -> None:
        self.last_sync_at = last_sync_at
        self.sets: list[tuple[str | None, dict[str, Any]]] = []

    def status(self) -> dict[str, Any]:
        return {"last_sync_at": self.last_sync_at}


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def kernel() -> Any:
    with ExecutionKernel(max_slots=2) as k:
        k.set_seed_capital(10_000.0)
        yield k


def _enter(kernel: ExecutionKernel, n: int) -> None:
    kernel.process_intent(KernelIntent(f"e{n}", f"t{n}", n % 2, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1))


def test_the_strategy_falling_silent_puts_the_kernel_in_reduce_only_and_says_why(
    kernel: ExecutionKernel, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=30), clock=clock)
    clock.now += 20
    _enter(kernel, 0)  # an intent: the strategy is heard from
    assert switch.check() == []
    clock.now += 29
    switch.heard_from_strategy()  # a heartbeat
    clock.now += 29
    assert switch.check() == [] and kernel.control()["mode"] == "PAPER"
    clock.now += 2
    with caplog.at_level(logging.ERROR, logger="dita.runtime.dead_man"):
        (trip,) = switch.check()
    assert (trip.source, trip.silent_s, trip.limit_s, trip.applied) == ("strategy", 31.0, 30.0, True)
    control = kernel.control()
    assert control["mode"] == "REDUCE_ONLY"
    assert control["source"] == "dead-man switch: the strategy process silent for 31.0s (limit 30s)"
    assert control["source"] in caplog.text
    status = switch.status()
    assert status["tripped"] == ["strategy"] and status["trips"][0]["reason"] == control["source"]
    clock.now += 60
    assert switch.check() == []  # one trip per silence
    switch.heard_from_strategy()
    assert switch.check() == [] and switch.status()["tripped"] == []
    assert kernel.control()["mode"] == "REDUCE_ONLY"  # the mode stays until an operator changes it


def test_the_control_plane_falling_silent_halts_when_so_configured(
    kernel: ExecutionKernel, clock: FakeClock
) -> None:
    plane = Plane(last_sync_at=clock.now)
    settings = DeadManSettings(control_plane_silence_s=25, action="HALTED")
    switch = DeadManSwitch(kernel, settings, clock=clock, wall_clock=clock, control_plane=plane)
    clock.now += 20
    plane.last_sync_at = clock.now  # its periodic read succeeded
    clock.now += 24
    assert switch.check() == []
    clock.now += 2
    (trip,) = switch.check()
    assert (trip.source, trip.silent_s) == ("control_plane", 26.0)
    assert kernel.control()["mode"] == "HALTED"
    assert kernel.control()["source"] == "dead-man switch: the control plane silent for 26.0s (limit 25s)"


def test_the_streams_falling_silent_trip_and_a_venue_without_streams_never_does(
    kernel: ExecutionKernel, clock: FakeClock
) -> None:
    stream = Stream(since_last_frame_s=None)
    switch = DeadManSwitch(
        kernel, DeadManSettings(streams_silence_s=10), clock=clock, stream_status=lambda: stream
    )
    clock.now += 9
    stream.since_last_frame_s = 1.0
    assert switch.check() == []
    clock.now += 5
    stream.since_last_frame_s = 6.0
    assert switch.check() == []
    clock.now += 6
    stream.since_last_frame_s = 12.0
    (trip,) = switch.check()
    assert (trip.source, trip.silent_s) == ("streams", 12.0)
    assert kernel.control()["mode"] == "REDUCE_ONLY"

    quiet = DeadManSwitch(
        kernel, DeadManSettings(streams_silence_s=10), clock=clock, stream_status=lambda: None
    )
    clock.now += 100
    assert quiet.check() == []


def test_a_trip_never_loosens_a_halted_kernel(kernel: ExecutionKernel, clock: FakeClock) -> None:
    kernel.update_control(mode="HALTED", source="operator")
    switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5), clock=clock)
    clock.now += 6
    (trip,) = switch.check()
    assert not trip.applied
    assert kernel.control()["mode"] == "HALTED" and kernel.control()["source"] == "operator"


def test_the_trip_goes_through_the_control_plane_and_keeps_its_reason(clock: FakeClock) -> None:
    plane = InMemoryControlPlane()
    with ExecutionKernel(max_slots=1, control_plane=plane) as kernel:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5, action="HALTED"), clock=clock)
        clock.now += 6
        switch.check()
        assert switch.close()  # the trip's entry written
        assert plane.entries[kernel.kernel_id] == {"mode": "HALTED"}
        assert kernel.control()["mode"] == "HALTED"
        assert kernel.control()["source"].startswith("dead-man switch: the strategy process silent")


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"strategy_silence_s": 0}, "strategy_silence_s"),
        ({"streams_silence_s": "soon"}, "streams_silence_s"),
        ({"control_plane_silence_s": float("inf")}, "control_plane_silence_s"),
        ({"action": "LIVE"}, "action"),
        ({"strategy_silence": 5}, "strategy_silence"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(table: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        DeadManSettings(**table)
    assert field in str(refused.value)


@pytest.mark.parametrize("settings", [{"strategy_silence_s": 60, "action": "HALTED"}, None])
def test_settings_that_are_no_dead_man_settings_are_refused_naming_them(
    kernel: ExecutionKernel, settings: Any
) -> None:
    with pytest.raises(TypeError) as refused:
        DeadManSwitch(kernel, settings)
    said = str(refused.value)
    assert "settings=" in said and "DeadManSettings" in said and type(settings).__name__ in said, said
    assert kernel.control()["mode"] == "PAPER"


class BusyOnce(ExecutionKernel):
    """A kernel another thread holds past the wait the first time a trip asks it for a change."""

    busy = False

    def update_control(self, *args: Any, **kwargs: Any) -> Any:
        if self.busy:
            self.busy = False
            raise RuntimeError("kernel busy: another thread has been inside the kernel for 10 s")
        return super().update_control(*args, **kwargs)


def test_a_trip_the_busy_kernel_refused_is_made_at_the_next_check(clock: FakeClock) -> None:
    with BusyOnce(max_slots=2) as kernel:
        kernel.update_control(mode="LIVE", source="operator")
        kernel.busy = True
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=60), clock=clock)
        clock.now += 61
        with pytest.raises(RuntimeError, match="kernel busy"):
            switch.check()
        assert switch.status()["tripped"] == [] and kernel.control()["mode"] == "LIVE"
        clock.now += 1  # the kernel free again, the strategy still silent
        (trip,) = switch.check()
        switch.close()
        assert (trip.source, trip.applied) == ("strategy", True)
        assert switch.status()["tripped"] == ["strategy"] and kernel.control()["mode"] == "REDUCE_ONLY"


def test_a_wall_clock_set_back_or_forward_neither_blinds_the_switch_nor_trips_it(
    kernel: ExecutionKernel,
) -> None:
    """The silences are spans, measured on the monotonic clock: the wall clock set back an hour
    (NTP, an operator) leaves a strategy and a control plane falling silent after it tripped at
    their limits, and set forward an hour trips nothing alive. The wall clock only ages the
    plane's stamp of its last read."""
    steady, wall = FakeClock(), FakeClock()
    wall.now = 1_700_000_000.0
    plane = Plane(last_sync_at=wall.now)
    settings = DeadManSettings(strategy_silence_s=30, control_plane_silence_s=25)
    switch = DeadManSwitch(kernel, settings, clock=steady, wall_clock=wall, control_plane=plane)

    def passes(seconds: float) -> None:
        steady.now += seconds
        wall.now += seconds

    passes(10)
    plane.last_sync_at = wall.now  # a read
    switch.heard_from_strategy()
    wall.now += 3600  # set forward an hour: both were heard from just now
    passes(1)
    assert switch.check() == [] and kernel.control()["mode"] == "PAPER"
    wall.now -= 2 * 3600  # set back two hours, and both fall silent
    plane.last_sync_at = wall.now  # a last read, stamped on the clock set back
    passes(26)
    (plane_trip,) = switch.check()
    passes(5)
    (strategy_trip,) = switch.check()
    assert (plane_trip.source, plane_trip.silent_s) == ("control_plane", 26.0)
    assert (strategy_trip.source, strategy_trip.silent_s) == ("strategy", 32.0)
    assert strategy_trip.at == wall.now  # a trip is stamped with the wall time, as shown
    assert kernel.control()["mode"] == "REDUCE_ONLY"


class Unreadable:
    """A source that cannot say its state: a stream reconnecting, a plane whose kernel is busy."""

    def __call__(self) -> Any:
        raise ConnectionError("user stream: no state yet (reconnecting)")

    def status(self) -> dict[str, Any]:
        raise TimeoutError("kernel busy in another thread's call")


def test_a_source_that_cannot_be_read_still_lets_the_others_trip_and_trips_past_its_own_limit(
    kernel: ExecutionKernel, clock: FakeClock
) -> None:
    kernel.update_control(mode="LIVE", source="operator")
    settings = DeadManSettings(strategy_silence_s=30, streams_silence_s=60, control_plane_silence_s=90)
    unreadable = Unreadable()
    switch = DeadManSwitch(kernel, settings, clock=clock, stream_status=unreadable, control_plane=unreadable)
    clock.now += 31
    with pytest.raises(TimeoutError, match="busy"):
        switch.check()  # the first read's error, raised once the strategy's silence is compared
    assert kernel.control()["mode"] == "REDUCE_ONLY"
    assert [t.source for t in switch.trips] == ["strategy"]
    clock.now += 30
    with pytest.raises(TimeoutError):
        switch.check()
    clock.now += 30
    with pytest.raises(TimeoutError):
        switch.check()
    assert [t.source for t in switch.trips] == ["strategy", "streams", "control_plane"]
    switch.close()


def test_a_check_that_keeps_raising_is_told_once_whichever_caller_checks_until_one_passes(
    kernel: ExecutionKernel, clock: FakeClock
) -> None:
    # dita live checks from the gateway's lane and from the strategies' thread.
    stream = {"readable": False}

    def stream_status() -> Stream:
        if not stream["readable"]:
            raise ConnectionError("user stream: no state yet (reconnecting)")
        return Stream(since_last_frame_s=0.0)

    settings = DeadManSettings(streams_silence_s=60)
    switch = DeadManSwitch(kernel, settings, clock=clock, stream_status=stream_status)
    lane: list[str] = []
    strategies: list[str] = []
    for _ in range(3):
        switch.check_or_tell(lane.append)
        switch.check_or_tell(strategies.append)
    assert lane == ["ConnectionError: user stream: no state yet (reconnecting)"]
    assert strategies == []
    stream["readable"] = True
    switch.check_or_tell(strategies.append)
    stream["readable"] = False
    switch.check_or_tell(strategies.append)
    assert strategies == ["ConnectionError: user stream: no state yet (reconnecting)"]
    switch.close()
