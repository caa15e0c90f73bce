"""A kernel projected to the cluster without a control plane of it runs on whatever the control
entries say: `dita control show` and `dita status` mark it, and a write it does not reach (a
global halt) names it and exits 4 instead of reporting the halt done."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.cli import app
from dita.control import GLOBAL
from dita.control.hazelcast import CONTROL_PLANE_MAP, HazelcastControlPlane
from dita.projection.hazelcast import CONTROL_MAP, HazelcastProjection
from dita.services.hazelcast import HazelcastMember


def _projected(member: HazelcastMember, kernel_id: str, plane: Any = None) -> ExecutionKernel:
    kernel = ExecutionKernel(
        max_slots=2,
        venue=MockVenueAdapter(seed=1),
        kernel_id=kernel_id,
        projection=HazelcastProjection([member.address], member.cluster_name, heartbeat=1.0),
        control_plane=plane,
    )
    kernel.projection.flush(timeout=5)
    return kernel


def test_a_global_halt_names_a_kernel_that_takes_no_control_from_the_cluster(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    where = ["--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name]
    deaf = _projected(hz_member, kernel_id)
    plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name)
    heard = _projected(hz_member, kernel_id + "-heard", plane)
    try:
        control = hz_client.get_map(CONTROL_MAP).blocking()
        assert json.loads(control.get(kernel_id).to_string())["cluster_control"] is False
        assert json.loads(control.get(heard.kernel_id).to_string())["cluster_control"] is True

        result = CliRunner().invoke(app, ["control", "set", "--mode", "HALTED", "--wait", "5", *where])
        assert result.exit_code == 4, result.output
        # Named among the kernels the shared member holds (other tests' detached kernels read as
        # running for 30 s); the one under the control plane is halted, not named.
        error = result.stderr.splitlines()[-1]
        assert error.startswith("error: not applied by: ") and error.endswith(" (own control)"), error
        named = error.removeprefix("error: not applied by: ").removesuffix(" (own control)").split(", ")
        assert kernel_id in named and heard.kernel_id not in named, error
        assert heard.control()["mode"] == "HALTED"
        # The halt did not reach it: it still takes an entry.
        entered = deaf.process_intent(
            KernelIntent("e1", "t1", 0, "BTC-USD", "LONG", "ENTER", 60_000.0, 0.001)
        )
        assert entered.diagnostic_code.name == "OK"

        shown = CliRunner().invoke(app, ["control", "show", *where])
        assert shown.exit_code == 0, shown.output
        assert f"{kernel_id}: own control" in shown.stdout, shown.stdout
        assert f"{heard.kernel_id}: own control" not in shown.stdout
        hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
        status = CliRunner().invoke(app, ["status", *hz, "--kernel", kernel_id, "--json"])
        assert status.exit_code == 0, status.output
        assert json.loads(status.stdout)[0]["own_control"] is True
    finally:
        deaf.close()
        heard.close()
        hz_client.get_map(CONTROL_PLANE_MAP).blocking().remove(GLOBAL)
