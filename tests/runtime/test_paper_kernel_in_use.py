"""A `dita paper` run given the --kernel-id of a run still going (its state file says so, and
its process, the same one, is alive) is refused before it starts. Taking the id, the two runs
would rewrite one state file in turn, so `dita status` and `dita pnl` would show one kernel whose
state flips between two accounts, and the running one's book could be replaced by the other's
(a run continuing it from its log would then find another account's state and end its orders)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from dita.cli import app
from dita.services import process_start

runner = CliRunner()


def _bars(path: Path) -> Path:
    path.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        + "".join(f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000\n" for i in range(3))
    )
    return path


def _paper(tmp_path: Path, *extra: str) -> Result:
    data = _bars(tmp_path / "bars.csv")
    args = ["paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", str(data), "--max-speed"]
    return runner.invoke(app, [*args, "--kernel-id", "k", "--state-dir", str(tmp_path / "state"), *extra])


def test_a_kernel_id_a_live_run_holds_is_refused(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        started = process_start(other.pid)
        assert started is not None
        path = tmp_path / "state" / "k.json"
        path.parent.mkdir()
        path.write_text(
            json.dumps({"kernel_id": "k", "running": True, "pid": other.pid, "pid_start": started})
        )
        saved = path.read_bytes()

        for extra in ((), ("--wal-dir", str(tmp_path / "wal"))):
            refused = _paper(tmp_path, *extra)
            assert refused.exit_code == 2, refused.output
            said = " ".join(refused.stderr.split())
            assert said == (
                f"error: kernel 'k' is run by process {other.pid}, which is still running (its state "
                f"file {path} says so): stop that run first, or give this one another --kernel-id"
            )
            assert path.read_bytes() == saved
            assert not (tmp_path / "wal").exists()
    finally:
        other.communicate(b"")

    # Gone, its file is taken over as a stopped run's (its id free again).
    again = _paper(tmp_path)
    assert again.exit_code == 0, again.output
    assert json.loads(path.read_text())["running"] is False


def test_a_live_pid_of_another_process_is_no_run_holding_the_id(tmp_path: Path) -> None:
    # A run killed outright left its file saying running; its pid went to another process since.
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        path = tmp_path / "state" / "k.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"kernel_id": "k", "running": True, "pid": other.pid, "pid_start": "1"}))
        again = _paper(tmp_path)
        assert again.exit_code == 0, again.output
    finally:
        other.communicate(b"")
