"""A dead-man trip with the control plane's member frozen (SIGSTOP: the very silence a
control_plane limit watches for): the data point it trips on is not held for the cluster write
(the plane's write timeout, 10 s), and the entry is written once the member answers."""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

from hz_helpers import eventually

from dita import ExecutionKernel
from dita.control.hazelcast import HazelcastControlPlane
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch


def test_a_trip_with_the_member_frozen_does_not_hold_the_data_point(
    member_factory: Any, kernel_id: str
) -> None:
    member = member_factory(f"dead-man-frozen-{uuid.uuid4().hex[:6]}")
    member.start()
    plane = HazelcastControlPlane([member.address], member.cluster_name, attach_timeout=30)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert plane.wait_synced(30)
        now = [time.time()]
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=5), clock=lambda: now[0])
        pid = member.pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            now[0] += 60  # the strategy silent for a minute: the switch trips
            started = time.monotonic()
            (trip,) = switch.on_data_point()
            took = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert trip.applied and str(kernel.control()["mode"]) == "REDUCE_ONLY"
        # Short of the write timeout's 10 s, with room for a loaded host.
        assert took < 5.0, f"the data point waited {took:.1f}s for the trip's cluster write"
        assert switch.close(timeout=30)
        assert eventually(lambda: plane.given(kernel_id).get("mode") == "REDUCE_ONLY"), plane.given(kernel_id)
    finally:
        kernel.close()
