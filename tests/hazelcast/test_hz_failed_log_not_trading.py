"""A kernel whose write-ahead log failed takes no more input (no entry, no exit, no control
change) while its process projects on: the cluster's views say it is not trading, and why,
rather than show it running LIVE."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita._kernel import WalError
from dita.cli import app
from dita.control.hazelcast import HazelcastControlPlane
from dita.projection.hazelcast import ACCOUNTS_MAP, HazelcastProjection, read_map
from dita.services.hazelcast import HazelcastMember

runner = CliRunner()


@pytest.fixture()
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A log directory that ``fail`` makes immutable, as a full disk leaves it: no segment can be
    made. Made writable again afterwards, so the test's files can be removed."""
    wal = tmp_path / "wal"
    wal.mkdir()
    yield wal
    subprocess.run(["chattr", "-i", str(wal)], capture_output=True)


def fail_the_log(kernel: ExecutionKernel, wal: Path) -> str:
    if subprocess.run(["chattr", "+i", str(wal)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here, so no log can be made to fail: NOT tested")
    # Marks until a new segment is due: its file cannot be made, and the log fails.
    with pytest.raises(WalError):
        for i in range(500):
            kernel.mark_price("ETH-USD", 3000.0 + i)
    reason = kernel.input_refused_reason()
    assert reason is not None and "write-ahead log failed" in reason
    return reason


def test_a_kernel_whose_log_failed_is_shown_not_trading_with_the_reason(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, immutable: Path
) -> None:
    members, name = [hz_member.address], hz_member.cluster_name
    kernel = ExecutionKernel(
        max_slots=2,
        kernel_id=kernel_id,
        venue=MockVenueAdapter(),
        wal_dir=str(immutable),
        fsync="always",
        wal_segment_bytes=1024,
        control_plane=HazelcastControlPlane(members, name),
        projection=HazelcastProjection(members, name, interval=0.05),
    )
    try:
        kernel.set_seed_capital(1e6)
        kernel.process_intent(KernelIntent("e1", "t1", 0, "ETH-USD", "LONG", "ENTER", 3000.0, 0.1))
        kernel.update_control(mode="LIVE", source="test")
        reason = fail_the_log(kernel, immutable)
        # Projected at once, not at the next heartbeat: a failed log marks nothing dirty.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            account = read_map(hz_client, ACCOUNTS_MAP).get(kernel_id, {})
            if account.get("input_refused_reason"):
                break
            time.sleep(0.05)
        assert account["input_refused_reason"] == reason, account
        assert account["closed_at"] is None

        hz = ["--hazelcast", hz_member.address, "--hz-cluster", name, "--kernel", kernel_id]
        status = runner.invoke(app, ["status", *hz, "--json"])
        assert status.exit_code == 0, status.output
        (row,) = json.loads(status.stdout)
        assert row["running"] is False
        assert row["note"] == f"not trading: {reason} (last state shown)"
        table = runner.invoke(app, ["status", *hz])
        assert f"{kernel_id}: not trading: the kernel refuses input" in " ".join(table.stdout.split())

        where = ["--cluster", hz_member.address, "--cluster-name", name]
        show = runner.invoke(app, ["control", "show", *where, "--json"])
        assert show.exit_code == 0, show.output
        assert kernel_id not in json.loads(show.stdout)["running"]
        show = runner.invoke(app, ["control", "show", *where])
        assert f"{kernel_id}: not running (not trading: the kernel refuses input" in " ".join(
            show.stdout.split()
        )

        # The wait ends at once: a kernel taking no input applies no change until restarted.
        started = time.monotonic()
        wait = ["--mode", "HALTED", "--kernel", kernel_id, "--wait", "20"]
        result = runner.invoke(app, ["control", "set", *wait, *where])
        assert result.exit_code == 4, result.output
        assert time.monotonic() - started < 10
        said = " ".join(result.output.split())
        assert f"kernel {kernel_id!r} is not running (not trading: the kernel refuses input" in said
        assert f"not applied by: {kernel_id} (not trading: the kernel refuses input" in said
    finally:
        subprocess.run(["chattr", "-i", str(immutable)], capture_output=True)
        with pytest.raises(WalError):
            kernel.close()
