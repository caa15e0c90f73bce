"""Arguments of `dita control` and `dita services hazelcast` refused before any connection
or java process: no member is needed (the cluster address below has nobody listening)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()


@pytest.mark.parametrize("wait", ["nan", "-3", "inf"])
def test_control_set_refuses_a_bad_wait_before_connecting(wait: str) -> None:
    result = runner.invoke(
        app, ["control", "set", "--mode", "HALTED", "--wait", wait, "--cluster", "127.0.0.1:1"]
    )
    assert result.exit_code == 2, result.output  # 3 would mean it tried the cluster
    assert f"--wait={float(wait)!r} must be zero or more and finite" in result.stderr


@pytest.mark.parametrize("timeout", ["nan", "0", "-1"])
def test_services_start_refuses_a_bad_timeout_before_launching(timeout: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["services", "hazelcast", "start", "--timeout", timeout, "--home", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert f"--timeout={float(timeout)!r} must be positive and finite" in result.stderr
