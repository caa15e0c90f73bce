"""`dita status` on the state file of a `dita paper` run whose process is alive but no longer
rewrites it (hung, or stopped with SIGSTOP): still running, with a note saying how old the
state is, as the `--hazelcast` path says of a quiet projection."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import _state, app

runner = CliRunner()
CROSSOVER = "dita.examples.crossover:SmaCrossover"


@contextmanager
def paper(state: Path, data: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A `dita paper` run in its own process, interrupted (Ctrl-C) at the end of the block."""
    command = [sys.executable, "-c", "from dita.cli import main; main()", "paper"]
    command += ["--strategy", CROSSOVER, "--data", data, "--state-dir", str(state), "--kernel-id", "k"]
    with subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            yield proc
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def status_row(state: Path) -> dict[str, Any]:
    result = runner.invoke(app, ["status", "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    return dict(row)


def wait_for_rows(state: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (state / "k.json").exists():
            row = status_row(state)
            if row["running"] and row["data_time"]:
                return
        time.sleep(0.1)
    raise AssertionError("the run wrote no state file with a row in 120 s")


def test_status_says_how_old_the_state_of_a_stopped_paper_process_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP keeps the pid alive: status would read the frozen file as a run going on,
    without a word. Past three rewrites (at least QUIET_AFTER_S, lowered here from 10 s) it says how old
    the state is; fresh, the row has no note, and again once the run goes on."""
    monkeypatch.setattr(_state, "QUIET_AFTER_S", 1.0)
    state = tmp_path / "state"
    with paper(state, "sample", "--speed", "600", "--status-every", "0.2") as proc:
        wait_for_rows(state)
        assert status_row(state)["note"] == ""
        proc.send_signal(signal.SIGSTOP)
        time.sleep(2.0)
        row = status_row(state)
        assert row["running"] is True  # its process is there: stopped, not gone
        assert row["note"].startswith("state last written "), row["note"]
        assert row["note"].endswith("s ago (hung or stopped? the run rewrites it every 0.2s)"), row["note"]
        shown = runner.invoke(app, ["status", "--state-dir", str(state)])
        # the age is read again by the command, a second later perhaps: compare its words around it
        assert "k: state last written " in shown.stdout
        assert "s ago (hung or stopped? the run rewrites it every 0.2s)" in shown.stdout
        proc.send_signal(signal.SIGCONT)
        time.sleep(1.0)
        assert status_row(state)["note"] == ""


def test_a_paced_replay_keeps_its_state_file_fresh_while_it_waits_for_a_row(tmp_path: Path) -> None:
    """Hourly bars at --speed 60: a minute between two rows, in which the state file was not
    rewritten (status would call a healthy run stale). It is, every --status-every, as the
    live feed keeps it while it waits."""
    data = tmp_path / "BTCUSDT_1h.csv"
    rows = [f"{1_704_067_200 + 3600 * i},100,101,99,100,10" for i in range(50)]
    data.write_text("ts,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    state = tmp_path / "state"
    with paper(state, str(data), "--speed", "60", "--status-every", "0.2"):
        wait_for_rows(state)
        first = json.loads((state / "k.json").read_text())
        time.sleep(1.5)
        later = json.loads((state / "k.json").read_text())
        assert later["rows"] == first["rows"] == 1  # still waiting for the second row
        assert later["updated_at"] - first["updated_at"] >= 1.0
        assert later["status_every"] == 0.2
