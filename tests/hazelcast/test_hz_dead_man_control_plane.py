"""The dead-man switch against a real cluster: the control plane's reads stop when its member
dies, and past the limit the kernel goes HALTED, saying why, with the cluster away; an operator's
change landing while the trip's entry is being written stands, a resume to the mode the trip read
among them."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from hz_helpers import eventually, mode

from dita import ExecutionKernel
from dita.control.hazelcast import CONTROL_PLANE_MAP, HazelcastControlPlane, write_entry
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch
from dita.services.hazelcast import HazelcastMember


def test_a_control_plane_cut_off_from_its_cluster_halts_the_kernel(
    member_factory: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    member = member_factory(f"dead-man-{uuid.uuid4().hex[:6]}")
    member.start()
    plane = HazelcastControlPlane(
        [member.address], member.cluster_name, resync_interval=0.5, attach_timeout=30
    )
    kernel = ExecutionKernel(max_slots=1, control_plane=plane, kernel_id=kernel_id)
    try:
        assert plane.wait_synced(30)
        switch = DeadManSwitch(kernel, DeadManSettings(control_plane_silence_s=3, action="HALTED"))
        deadline = time.monotonic() + 4  # past the limit: the plane's reads keep it heard from
        while time.monotonic() < deadline:
            assert switch.check() == []
            time.sleep(0.2)
        member.stop(kill=True)
        trips: list[Any] = []
        deadline = time.monotonic() + 60
        while not trips and time.monotonic() < deadline:
            trips = switch.check()
            time.sleep(0.2)
        (trip,) = trips
        switch.close()  # its entry's write given up
        assert trip.source == "control_plane" and 3 < trip.silent_s < 10
        control = kernel.control()
        assert control["mode"] == "HALTED"
        assert control["source"].startswith("dead-man switch: the control plane silent for")
        # The cluster is away: the kernel is halted all the same, the entry not written said so.
        assert "its control plane entry was not written" in caplog.text
    finally:
        kernel.close()


@pytest.mark.parametrize(
    ("action", "operator", "mode", "when"),
    [
        ("REDUCE_ONLY", "*", "HALTED", "before the read"),
        ("REDUCE_ONLY", "own", "HALTED", "before the read"),
        ("REDUCE_ONLY", "own", "HALTED", "after the read"),
        ("HALTED", "own", "LIVE", "before the read"),
    ],
    ids=[
        "a-halt-of-every-kernel",
        "a-halt-of-the-kernel",
        "a-halt-of-the-kernel-after-the-write-read-its-entry",
        "a-resume-from-a-halted-trip",
    ],
)
def test_an_operators_change_landing_before_the_trips_entry_is_written_stands(
    hz_member: HazelcastMember,
    hz_client: Any,
    clean_control_entries: None,
    kernel_id: str,
    action: str,
    operator: str,
    mode: str,
    when: str,
) -> None:
    """The trip sets the kernel's own mode, then writes its entry: an operator's change landing in
    between (or between the write's read and its compare-and-set, which then reads again) was
    written over, the trip's entry stamped past it, and the kernel ran the trip's mode after the
    operator's: REDUCE_ONLY after a halt, HALTED after a resume. The trip writes nothing then."""
    plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name, attach_timeout=30)
    kernel = ExecutionKernel(max_slots=1, control_plane=plane, kernel_id=kernel_id)
    try:
        assert plane.wait_synced(30)
        clock = [1_000.0]
        settings = DeadManSettings(strategy_silence_s=1, action=action)
        switch = DeadManSwitch(kernel, settings, clock=lambda: clock[0])
        real_set = plane.set

        def the_operator() -> None:
            write_entry(hz_client, None if operator == "*" else kernel_id, {"mode": mode}, updated_by="op")

        def set_with_the_operator(*args: Any, **kwargs: Any) -> Any:
            if when == "before the read":
                the_operator()
                return real_set(*args, **kwargs)
            only_if, reads = kwargs["only_if"], []

            def then_the_operator(control: dict[str, Any]) -> bool:
                reads.append(control)
                answer = only_if(control)
                if len(reads) == 1:
                    the_operator()
                return bool(answer)

            written = real_set(*args, **{**kwargs, "only_if": then_the_operator})
            assert len(reads) == 2  # the compare-and-set lost to the operator's write, and read again
            return written

        plane.set = set_with_the_operator  # type: ignore[method-assign]
        clock[0] += 5
        (trip,) = switch.check()
        assert switch.close()  # the trip's entry written, or not
        assert trip.applied
        assert eventually(lambda: str(kernel.control()["mode"]) == mode)
        time.sleep(1.0)  # the listener applies a change well under a second
        assert str(kernel.control()["mode"]) == mode, (kernel.control(), plane.entries())
        own = hz_client.get_map(CONTROL_PLANE_MAP).blocking().get(kernel_id)
        assert own is None or own.loads()["mode"] == mode
    finally:
        kernel.close()


def test_an_operators_resume_to_the_mode_the_trip_read_written_after_the_trip_stands(
    hz_member: HazelcastMember,
    hz_client: Any,
    clean_control_entries: None,
    kernel_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The trip reads LIVE and sets REDUCE_ONLY; the operator resumes to LIVE after it, and the
    kernel has yet to apply the resume when the trip's entry is written. The entries give the
    LIVE the trip read, but stamped after the trip: the resume stands, and the kernel takes it."""
    plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name, attach_timeout=30)
    kernel = ExecutionKernel(max_slots=1, control_plane=plane, kernel_id=kernel_id)
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    resume_applied = threading.Event()
    try:
        assert plane.wait_synced(30)
        write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="op")
        assert eventually(lambda: mode(kernel) == "LIVE")
        real_apply, real_set = plane._apply, plane.set

        def applied_once_the_trip_is_written(kid: str, applied_to: ExecutionKernel) -> bool:
            resume_applied.wait(10)  # the applier's window, held open
            return real_apply(kid, applied_to)

        def set_after_the_operators_resume(*args: Any, **kwargs: Any) -> Any:
            write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="op")
            return real_set(*args, **kwargs)

        plane._apply = applied_once_the_trip_is_written  # type: ignore[method-assign]
        plane.set = set_after_the_operators_resume  # type: ignore[method-assign]
        clock = [1_000.0]
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=1), clock=lambda: clock[0])
        clock[0] += 5
        (trip,) = switch.check()
        assert switch.close()  # the trip's entry written, or not
        assert trip.applied and trip.action == "REDUCE_ONLY"
        own = entries.get(kernel_id).loads()
        assert (own["mode"], own["updated_by"]) == ("LIVE", "op"), "the operator's resume was written over"
        assert "entries give it mode LIVE, written after the trip" in caplog.text
        resume_applied.set()
        assert eventually(lambda: mode(kernel) == "LIVE")
    finally:
        resume_applied.set()
        kernel.close()
