"""A kernel an edge freeze holds refuses every entry whatever its mode: `dita control show` says
FROZEN and why, and `set --wait` of a mode that takes entries does not count it applied."""

from __future__ import annotations

import time
from typing import Any

from typer.testing import CliRunner

from dita.cli import app
from dita.control.hazelcast import CONTROL_PLANE_MAP
from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, to_json_value
from dita.services.hazelcast import HazelcastMember


def test_a_frozen_kernel_is_shown_frozen_and_a_resume_is_not_applied_by_it(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    now = time.time()
    account = {"equity": 0.0, "projected_at": now, "closed_at": None}
    hz_client.get_map(ACCOUNTS_MAP).blocking().set(kernel_id, to_json_value(account))
    control = {
        "kernel_id": kernel_id,
        "mode": "LIVE",
        "frozen": True,
        "freeze_reason": "edge -3.0000 bps below threshold 0.0000 bps",
        "freeze_asset": "BTC-USD",
        "projected_at": now,
    }
    hz_client.get_map(CONTROL_MAP).blocking().set(kernel_id, to_json_value(control))
    where = ["--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name]
    try:
        shown = CliRunner().invoke(app, ["control", "show", *where])
        assert shown.exit_code == 0, shown.output
        row = next(line for line in shown.stdout.splitlines() if line.count(kernel_id) and "LIVE" in line)
        assert "LIVE FROZEN" in row, shown.stdout
        assert f"{kernel_id}: FROZEN by an edge freeze (edge -3.0000 bps below" in shown.stdout

        resume = ["control", "set", "--mode", "LIVE", "--kernel", kernel_id, "--wait", "2", *where]
        result = CliRunner().invoke(app, resume)
        assert result.exit_code == 4, result.output
        assert f"applied by: {kernel_id}" not in result.output
        assert "not trading" in result.stderr and "asset BTC-USD" in result.stderr, result.stderr
    finally:
        hz_client.get_map(CONTROL_PLANE_MAP).blocking().remove(kernel_id)
