"""The dead-man switch against a real cluster: the control plane's reads stop when its member
dies, and past the limit the kernel goes HALTED, saying why, with the cluster away."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.control.hazelcast import HazelcastControlPlane
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch


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
        assert trip.source == "control_plane" and 3 < trip.silent_s < 10
        control = kernel.control()
        assert control["mode"] == "HALTED"
        assert control["source"].startswith("dead-man switch: the control plane silent for")
        # The cluster is away: the kernel is halted all the same, the entry not written said so.
        assert "its control plane entry was not written" in caplog.text
    finally:
        kernel.close()
