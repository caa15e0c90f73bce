"""A paper ``dita live`` run started while a ``dita paper`` run of its kernel id and state
directory still runs: the two would rewrite one state file in turn (`dita status` showing the two
accounts by turns, a restart taking the other's book). It is refused naming the running process,
as `dita paper` refuses a second run of a kernel, before anything opens."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from live_process import dita, ended
from paper_runs import run_file

from dita.cli.live_run import LiveRun, RunRefused
from dita.live.config import load_config

TABLE = '[[strategies]]\nstrategy = "dita.examples.crossover:SmaCrossover"\n'


def test_a_paper_run_of_a_kernel_a_running_dita_paper_holds_is_refused_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    replay = dita(
        tmp_path / "paper.log",
        "paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--speed", "1",
        "--kernel-id", "shared", "--state-dir", str(state),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (state / "shared.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert json.loads((state / "shared.json").read_text())["pid"] == replay.pid
        path = tmp_path / "run.toml"
        # The exchange is never asked: the refusal comes before anything opens.
        path.write_text(run_file("shared", state, "http://127.0.0.1:9", TABLE))
        with pytest.raises(RunRefused) as refused:
            LiveRun(load_config(path), path, print)
        assert f"kernel 'shared' is run by process {replay.pid}, which is still running" in str(refused.value)
        assert "another kernel_id" in str(refused.value)
        assert not (state / "wal").exists() and not (state / "journal").exists()
    finally:
        replay.send_signal(signal.SIGINT)
        try:
            replay.wait(30)
        finally:
            ended(replay)
