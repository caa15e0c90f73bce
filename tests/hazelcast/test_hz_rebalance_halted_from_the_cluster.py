"""`dita rebalance --hazelcast` puts its kernel in the cluster: projected (`dita status` lists
it) and under the control plane, so `dita control set --mode HALTED` stops its entries as it
stops every other kernel's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dita.cli import app
from dita.control.hazelcast import CONTROL_PLANE_MAP
from dita.projection.hazelcast import CONTROL_MAP
from dita.services.hazelcast import HazelcastMember


def test_a_rebalance_under_a_halt_in_the_cluster_sends_no_entry(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, tmp_path: Path
) -> None:
    cluster = ["--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name]
    halt = ["control", "set", "--mode", "HALTED", "--kernel", kernel_id, "--new-kernel", *cluster]
    assert CliRunner().invoke(app, halt).exit_code == 0
    targets = tmp_path / "t.json"
    stamp = {"source_run": "run-h", "generated_at": "2026-11-28T09:00:00Z"}
    targets.write_text(json.dumps({**stamp, "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    args = ["rebalance", "--targets", str(targets), "--state-dir", str(tmp_path / "s")]
    try:
        result = CliRunner().invoke(
            app, [*args, "--kernel-id", kernel_id, "--price", "BTC=50000", "--fill-wait", "0", "--json", *hz]
        )
        assert result.exit_code == 1, result.output  # off its targets: the buy refused
        (order,) = json.loads(result.stdout[: result.stdout.rindex("}") + 1])["symbols"][0]["orders"]
        assert order["diagnostic"] == "MODE_BLOCKED", order
        control = hz_client.get_map(CONTROL_MAP).blocking().get(kernel_id)
        assert control is not None and control.loads()["cluster_control"] is True
    finally:
        hz_client.get_map(CONTROL_PLANE_MAP).blocking().remove(kernel_id)


def test_a_dry_run_refuses_hazelcast(tmp_path: Path) -> None:
    targets = tmp_path / "t.json"
    targets.write_text(json.dumps({"source_run": "r", "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    args = ["rebalance", "--targets", str(targets), "--dry-run", "--hazelcast", "127.0.0.1:1"]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000"])
    assert result.exit_code == 2, result.output
    assert "--hazelcast with --dry-run" in result.stderr
