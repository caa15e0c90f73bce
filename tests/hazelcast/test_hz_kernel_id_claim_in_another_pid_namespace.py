"""A kernel id claimed by a live process on a machine of the same host name whose pids are not
this process's to look up (a container with the host's network, a cloned machine) is not taken
for crashed: a claim names its boot and PID namespace, and is taken over at once only when both
are this process's; otherwise only once it goes unrenewed, as a holder on another host."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.projection.hazelcast import HazelcastJsonValue, HazelcastProjection
from dita.projection.hazelcast.claims import CLAIMS_MAP
from dita.services.hazelcast import HazelcastMember

ATTACH = r"""
import sys
from dita import ExecutionKernel
from dita.projection.hazelcast import HazelcastProjection
address, cluster, kernel_id = sys.argv[1:4]
projection = HazelcastProjection([address], cluster, interval=0.01)
assert projection.sync(timeout=30)
try:
    ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id).close()
    print("ATTACHED", flush=True)
except ValueError as refused:
    print("REFUSED", refused, flush=True)
projection.close()
"""


def _projection(member: HazelcastMember) -> HazelcastProjection:
    projection = HazelcastProjection([member.address], member.cluster_name, interval=0.01)
    assert projection.sync(timeout=30)
    return projection


def _dead_pid() -> int:
    said = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(said.stdout)


def _claim_by_hand(hz_client: Any, kernel_id: str, **fields: Any) -> None:
    pid, host = _dead_pid(), socket.gethostname()
    value = {
        "kernel_id": kernel_id,
        "holder": f"{host} pid {pid}",
        "host": host,
        "pid": pid,
        "token": "by-hand",
        "projected_at": time.time(),
        **fields,
    }
    hz_client.get_map(CLAIMS_MAP).blocking().put(kernel_id, HazelcastJsonValue(json.dumps(value)))


def _claimed_by(hz_client: Any, kernel_id: str) -> Any:
    value = hz_client.get_map(CLAIMS_MAP).blocking().get(kernel_id)
    return None if value is None else json.loads(value.to_string()).get("pid")


def _this_pid_space() -> dict[str, Any]:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
        return {"boot_id": boot.read().strip(), "pid_ns": os.stat("/proc/self/ns/pid").st_ino}


pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/ns/pid"), reason="a system with PID namespaces"
)


@pytest.mark.parametrize(
    "other",
    [{"pid_ns": 1}, {"boot_id": "another-boot"}],
    ids=["another-pid-namespace", "another-boot"],
)
def test_a_holder_of_this_host_name_in_another_pid_space_is_not_taken_for_crashed(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, other: dict[str, Any]
) -> None:
    _claim_by_hand(hz_client, kernel_id, **{**_this_pid_space(), **other})
    projection = _projection(hz_member)
    try:
        with pytest.raises(ValueError, match=f"kernel_id '{kernel_id}' is already projected by"):
            ExecutionKernel(max_slots=1, kernel_id=kernel_id, projection=projection)
    finally:
        projection.close()
        hz_client.get_map(CLAIMS_MAP).blocking().remove(kernel_id)


def test_a_holder_crashed_in_this_pid_space_is_taken_over_at_once(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    _claim_by_hand(hz_client, kernel_id, **_this_pid_space())
    projection = _projection(hz_member)
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id, projection=projection)
    try:
        assert _claimed_by(hz_client, kernel_id) == os.getpid()
    finally:
        kernel.close()
        projection.close()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs unshare as root")
def test_a_live_holder_is_not_taken_over_from_another_pid_namespace(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    projection = _projection(hz_member)
    kernel = ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id)
    try:
        argv = [sys.executable, "-c", ATTACH, hz_member.address, hz_member.cluster_name, kernel_id]
        child = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", *argv], capture_output=True, text=True, timeout=90
        )
        assert child.stdout.startswith("REFUSED"), child.stdout + child.stderr
        assert _claimed_by(hz_client, kernel_id) == os.getpid()
    finally:
        kernel.close()
        projection.close()
