"""A `dita paper` stopped (SIGTERM, Ctrl-C) while its strategies start (``on_start`` warming up,
loading a model) ends as a stop during the run does: exit 0, the kernel closed and the state
file saved as not running. The strategies were started before the run's guarded part: the
stop was a traceback-less abort with status 130, no state file, the kernel left unclosed (its
projection never said closed, its journal rows unwritten)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()

STOPPED_AT_START = """
import os
import signal

from dita.strategy import Bar, Strategy


class StoppedAtStart(Strategy):
    data = ("bars",)

    def on_start(self) -> None:
        os.kill(os.getpid(), signal.{signame})

    def on_bar(self, bar: Bar) -> None:
        pass
"""


@pytest.mark.parametrize(("signame", "said"), [("SIGTERM", "terminated"), ("SIGINT", "interrupted")])
def test_a_run_stopped_as_its_strategies_start_closes_and_saves_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signame: str, said: str
) -> None:
    module = f"stopped_at_start_{signame.lower()}"
    (tmp_path / f"{module}.py").write_text(STOPPED_AT_START.format(signame=signame))
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "bars.csv"
    data.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        + "".join(f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000\n" for i in range(5))
    )
    args = ["paper", "--strategy", f"{module}:StoppedAtStart", "--data", str(data), "--max-speed"]
    args += ["--kernel-id", "k", "--state-dir", str(tmp_path / "state"), "--wal-dir", str(tmp_path / "wal")]
    outside: list[int] = []  # the SIGTERM handler the command must put back (and a guard for pytest)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: outside.append(signum))
    try:
        result = runner.invoke(app, args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, result.output
    assert said in result.stdout
    state = json.loads((tmp_path / "state" / "k.json").read_text())
    assert state["running"] is False and state["rows"] == 0
    assert not outside
