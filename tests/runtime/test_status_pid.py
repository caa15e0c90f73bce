"""`dita status`, `orders` and `pnl` on a state file whose pid no process can have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.services import pid_alive

runner = CliRunner()

RUNNING = {
    "kernel_id": "edited", "pid": 1, "running": True,
    "account": {"equity": 10.0, "realized_pnl": 1.0, "k_fees_paid": 0.5}, "control": {"mode": "PAPER"},
    "slots": [{"fsm_state": "POSITION_OPEN", "size": 1.0,
               "active_exit_order": {"client_order_id": "o1", "status": "NEW", "size": 1.0, "price": 5.0}}],
}  # fmt: skip
# A pid past a C int was an OverflowError from os.kill in every command, hiding every kernel.
PAST_ANY_PID = [2**31, 2**63, 2**70]


@pytest.mark.parametrize("pid", PAST_ANY_PID)
def test_a_pid_past_any_process_is_not_alive(pid: int) -> None:
    assert pid_alive(pid) is False


@pytest.mark.parametrize("pid", PAST_ANY_PID)
def test_a_state_file_with_a_pid_past_any_process_shows_its_kernel_not_running(
    tmp_path: Path, pid: int
) -> None:
    (tmp_path / "edited.json").write_text(json.dumps({**RUNNING, "pid": pid}))
    (tmp_path / "other.json").write_text(json.dumps({**RUNNING, "kernel_id": "other"}))
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--json"])
    assert result.exception is None, result.exception
    rows = {row["kernel_id"]: row for row in json.loads(result.stdout)}
    assert rows["edited"]["running"] is False
    assert rows["edited"]["note"] == "process is gone (last state shown)"
    assert rows["other"]["running"] is True  # pid 1 runs: the other kernel is still shown running
    for command in (["orders"], ["pnl"], ["status"]):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert result.exception is None, (command, result.exception)
        assert result.exit_code == 0 and "edited" in result.stdout and "other" in result.stdout, command


def test_a_state_file_whose_pid_another_process_has_now_shows_its_kernel_not_running(tmp_path: Path) -> None:
    """A run killed outright leaves its file saying running; once the system gave its pid to
    another process, that file read as a run still going. The file says when its process
    started, and only that process counts."""
    import os

    from dita.services import process_start

    mine = process_start(os.getpid())
    assert mine is not None
    (tmp_path / "reused.json").write_text(
        json.dumps({**RUNNING, "kernel_id": "reused", "pid": os.getpid(), "pid_start": "1"})
    )
    (tmp_path / "same.json").write_text(
        json.dumps({**RUNNING, "kernel_id": "same", "pid": os.getpid(), "pid_start": mine})
    )
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--json"])
    rows = {row["kernel_id"]: row for row in json.loads(result.stdout)}
    assert (
        rows["reused"]["running"] is False and rows["reused"]["note"] == "process is gone (last state shown)"
    )
    assert rows["same"]["running"] is True
