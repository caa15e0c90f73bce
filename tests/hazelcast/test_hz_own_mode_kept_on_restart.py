"""A kernel restarted on its log in a tight mode it set itself (a dead-man trip whose cluster
write failed, a halt through its gateway) keeps it over the cluster's entries written before it:
only a later write loosens it, while an older entry that tightens it still does."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.control import GLOBAL
from dita.control.hazelcast import CONTROL_PLANE_MAP, HazelcastControlPlane, write_entry
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch
from dita.services.hazelcast import HazelcastMember, free_port


def _eventually(check: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_a_dead_man_trip_not_written_to_the_cluster_is_kept_on_restart(
    hz_member: HazelcastMember,
    hz_client: Any,
    kernel_id: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    members, name = [hz_member.address], hz_member.cluster_name
    wal = str(tmp_path / "wal")
    # The operator resumed this kernel alone, earlier: its entry holds LIVE.
    write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="operator")
    # The cluster cut off from this host: a plane on an address nobody answers.
    away = HazelcastControlPlane([f"127.0.0.1:{free_port()}"], name, attach_timeout=0.3)
    kernel = ExecutionKernel(max_slots=2, kernel_id=kernel_id, wal_dir=wal, control_plane=away)
    try:
        kernel.update_control(mode="LIVE", source="operator")
        switch = DeadManSwitch(kernel, DeadManSettings(control_plane_silence_s=0.5, action="HALTED"))
        time.sleep(0.7)
        (trip,) = switch.check()
        switch.close()  # its entry's write given up
        assert kernel.control()["mode"] == "HALTED"
        assert "its control plane entry was not written" in caplog.text
    finally:
        kernel.close()

    # Restarted on its log with the cluster reachable again, its entries as they were.
    caplog.clear()
    plane = HazelcastControlPlane(members, name, attach_timeout=30)
    kernel = ExecutionKernel(max_slots=2, kernel_id=kernel_id, wal_dir=wal, control_plane=plane)
    try:
        control = kernel.control()
        assert control["mode"] == "HALTED", control
        assert control["source"] == trip.reason()
        kept = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(f"kernel {kernel_id} keeps HALTED, recovered from its log" in m for m in kept), kept
        # Its advice holds only where the writer's clock agrees with the kernel's: it says so.
        assert any("from a host whose clock agrees with this one's changes it" in m for m in kept), kept
        # A write made after the trip is the operator's word: it loosens the mode.
        write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="operator")
        assert _eventually(lambda: kernel.control()["mode"] == "LIVE"), kernel.control()
    finally:
        kernel.close()
        hz_client.get_map(CONTROL_PLANE_MAP).blocking().remove(kernel_id)


def test_an_older_entry_that_tightens_a_kept_mode_still_applies(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, tmp_path: Path
) -> None:
    members, name = [hz_member.address], hz_member.cluster_name
    wal = str(tmp_path / "wal")
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    # A global halt the kernel never saw (written while it was cut off), then its own REDUCE_ONLY.
    write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator")
    kernel = ExecutionKernel(max_slots=2, kernel_id=kernel_id, wal_dir=wal)
    try:
        kernel.update_control(mode="REDUCE_ONLY", source="gateway")
    finally:
        kernel.close()
    plane = HazelcastControlPlane(members, name, attach_timeout=30)
    kernel = ExecutionKernel(max_slots=2, kernel_id=kernel_id, wal_dir=wal, control_plane=plane)
    try:
        assert kernel.control()["mode"] == "HALTED"
    finally:
        kernel.close()
        entries.remove(GLOBAL)
