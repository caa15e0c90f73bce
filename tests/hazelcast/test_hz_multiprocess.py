"""Two kernels in two processes project into one cluster side by side, without key clashes."""

from __future__ import annotations

from typing import Any

from hz_helpers import Child, expected, json_roundtrip, projected

from dita.services.hazelcast import HazelcastMember


def test_two_kernels_in_two_processes_project_side_by_side(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    where = ("--address", hz_member.address, "--cluster", hz_member.cluster_name)
    # Same slot ids in both kernels: only the kernel id in the key keeps them apart.
    children = {
        f"{kernel_id}-{n}": Child(
            "project", *where, "--kernel-id", f"{kernel_id}-{n}", "--seed", str(n), "--rounds", "800"
        )
        for n in (1, 2)
    }
    reports = {kid: child.next(timeout=120) for kid, child in children.items()}
    for kid, child in children.items():
        assert child.finish() == 0
        assert reports[kid]["synced"] is True
    snapshots = {kid: json_roundtrip(r["snapshot"]) for kid, r in reports.items()}
    assert snapshots[f"{kernel_id}-1"]["slots"] != snapshots[f"{kernel_id}-2"]["slots"]
    for kid, snapshot in snapshots.items():
        assert snapshot["kernel_id"] == kid
        assert projected(hz_client, kid) == expected(snapshot)
