"""Detaching a kernel from a HazelcastProjection publishes its last changes first, as
InMemoryProjection.detach() and a kernel's close do: the maps kept the state of the last cycle
before the detach for good, and a detached kernel is never drained again."""

from __future__ import annotations

from typing import Any

from hz_helpers import expected, make_venue, mixed_workload, projected

from dita import ExecutionKernel
from dita.projection.hazelcast import ACCOUNTS_MAP, HazelcastProjection, read_map
from dita.services.hazelcast import HazelcastMember


def test_detach_publishes_the_kernels_last_changes(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    # A long interval: no cycle of its own runs between the changes and the detach.
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=60.0)
    kernel = ExecutionKernel(max_slots=8, venue=make_venue(), projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        before = expected(kernel.snapshot())
        mixed_workload(kernel, rounds=100, seed=5)
        after = expected(kernel.snapshot())
        assert after["slots"] != before["slots"]  # the workload changed what is projected
        projection.detach(kernel)
        assert projection.stats()["kernels"] == 0
        assert projected(hz_client, kernel_id) == after
        # Detached, not closed: the account does not say the kernel stopped.
        assert read_map(hz_client, ACCOUNTS_MAP)[kernel_id]["closed_at"] is None
    finally:
        kernel.close()
        projection.close()


def test_closing_a_kernel_detached_before_leaves_the_projection_open(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A projection closes with the last kernel it serves. A kernel detached first is no longer
    served: its close shut the projection the caller kept to move to a new kernel, which was
    then refused ("HazelcastProjection is closed")."""
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=60.0)
    old = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    new: ExecutionKernel | None = None
    try:
        assert projection.sync(timeout=30)
        projection.detach(old)
        old.close()
        new = ExecutionKernel(max_slots=2, projection=projection, kernel_id=f"{kernel_id}-new")
        new.set_seed_capital(555.0)
        assert projection.sync(timeout=30)
        account = projected(hz_client, f"{kernel_id}-new")["account"]
        assert account is not None and account["capital"] == 555.0
    finally:
        if new is not None:
            new.close()  # the last kernel served: the projection closes with it
        projection.close()
