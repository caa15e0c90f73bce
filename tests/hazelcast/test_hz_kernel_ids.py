"""A kernel id of ``*`` (the control plane's key of the entry for every kernel) is refused by the
Hazelcast projection and control plane, nothing attached or written (see
tests/projection/test_projection_kernel_ids.py for the kernel and the in-memory ones)."""

from __future__ import annotations

from typing import Any

import pytest

from dita._kernel import KernelCore
from dita.control.hazelcast import CONTROL_PLANE_MAP, HazelcastControlPlane, write_entry
from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, SLOTS_MAP, HazelcastProjection
from dita.services.hazelcast import HazelcastMember

KERNEL_SAID = r"kernel_id '\*' is the control plane's entry for every kernel: give the kernel another id"
SET_SAID = r"kernel_id '\*' is the control plane's entry for every kernel, not a kernel's: pass None"


def test_the_projection_refuses_a_kernel_of_id_star(hz_member: HazelcastMember, hz_client: Any) -> None:
    core = KernelCore(max_slots=1, kernel_id="*")
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    try:
        with pytest.raises(ValueError, match=KERNEL_SAID):
            projection.attach(core)  # type: ignore[arg-type]
        assert projection.sync(timeout=10)
        assert projection.stats()["kernels"] == 0
        assert core.projection_changes() == ({}, None, None)  # tracking was never turned on
        for name in (ACCOUNTS_MAP, CONTROL_MAP):
            assert hz_client.get_map(name).blocking().get("*") is None
        assert hz_client.get_map(SLOTS_MAP).blocking().get("*:0") is None
    finally:
        projection.close()


def test_the_control_plane_refuses_writes_for_kernel_id_star(
    hz_member: HazelcastMember, hz_client: Any
) -> None:
    """`set("*", mode="LIVE")`, meant for a kernel of that id, resumed every kernel."""
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    entries.clear()
    try:
        write_entry(hz_client, None, {"mode": "HALTED"})
        before = entries.get("*").to_string()
        with pytest.raises(ValueError, match=SET_SAID):
            write_entry(hz_client, "*", {"mode": "LIVE"})
        plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name)
        try:
            with pytest.raises(ValueError, match=SET_SAID):
                plane.set("*", mode="LIVE")
        finally:
            plane.close()
        assert entries.get("*").to_string() == before
        assert entries.key_set() == ["*"]
    finally:
        entries.clear()


def test_a_halt_for_an_id_no_kernel_can_have_is_refused_not_written(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """`set("K\\n", mode="HALTED")` (an id read from a file, newline and all) wrote an entry no
    kernel reads, returned as if done, and kernel K traded on."""
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    said = rf"kernel_id '{kernel_id}\\n' is no kernel's \(it holds white space: .*\); nothing was set"
    with pytest.raises(ValueError, match=said):
        write_entry(hz_client, kernel_id + "\n", {"mode": "HALTED"})
    plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name)
    try:
        with pytest.raises(ValueError, match=said):
            plane.set(kernel_id + "\n", mode="HALTED")
    finally:
        plane.close()
    assert entries.get(kernel_id + "\n") is None
