"""A HazelcastControlPlane closes with the last kernel it serves: a kernel attaching while that
kernel closes (a restart on another thread) is either served or refused, never attached to a
plane that then closes under it."""

from __future__ import annotations

import threading
from typing import Any

from hz_helpers import eventually, mode

from dita import ExecutionKernel
from dita.control.hazelcast import CONTROL_PLANE_MAP, HazelcastControlPlane, write_entry
from dita.services.hazelcast import HazelcastMember


def test_a_kernel_attaching_while_the_last_one_closes_is_not_dropped_silently(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """Attached after the old kernel's release found none left and before the plane closed, the
    new kernel was attached without a word, then dropped with the plane: no halt reached it."""
    new = ExecutionKernel(max_slots=1, kernel_id=f"{kernel_id}-new")
    refused: list[BaseException] = []

    def attach() -> None:
        try:
            plane.attach(new)
        except BaseException as exc:
            refused.append(exc)

    attaching = threading.Thread(target=attach)

    class Plane(HazelcastControlPlane):
        def _detach(self, kernel: ExecutionKernel) -> bool:
            last = super()._detach(kernel)
            if last and attaching.ident is None:
                attaching.start()  # the restart's attach, on its own thread, comes now
                attaching.join(1.0)
            return last

    plane = Plane([hz_member.address], hz_member.cluster_name)
    old = ExecutionKernel(max_slots=1, kernel_id=kernel_id, control_plane=plane)
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    try:
        assert plane.wait_synced(30)
        old.close()
        attaching.join(30)
        assert not attaching.is_alive()
        if refused:
            assert isinstance(refused[0], RuntimeError)
            assert "HazelcastControlPlane is closed" in str(refused[0])
        else:
            write_entry(hz_client, f"{kernel_id}-new", {"mode": "HALTED"})
            assert eventually(lambda: mode(new) == "HALTED"), "attached, then dropped by the plane's close"
    finally:
        entries.remove(f"{kernel_id}-new")
        new.close()
        plane.close()


def test_closing_a_kernel_detached_before_leaves_the_plane_open(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A kernel detached first is no longer served: its close shut the plane its caller kept for
    a new kernel, which was then refused ("HazelcastControlPlane is closed")."""
    plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name)
    old = ExecutionKernel(max_slots=1, kernel_id=kernel_id, control_plane=plane)
    new: ExecutionKernel | None = None
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    try:
        assert plane.wait_synced(30)
        plane.detach(old)
        old.close()
        new = ExecutionKernel(max_slots=1, kernel_id=f"{kernel_id}-moved", control_plane=plane)
        write_entry(hz_client, f"{kernel_id}-moved", {"mode": "HALTED"})
        assert eventually(lambda: mode(new) == "HALTED")
    finally:
        entries.remove(f"{kernel_id}-moved")
        if new is not None:
            new.close()
        plane.close()
