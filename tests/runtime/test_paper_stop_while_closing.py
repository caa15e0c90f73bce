"""A Ctrl-C that reaches `dita paper` while its run closes (the data just ended, or an operator
pressing Ctrl-C again after a first Ctrl-C or a SIGTERM) does not cut the close short, as a
SIGTERM then does not: raised in the middle of the final save, it left the state file of the
run's start (`running: true`, no fill: `dita pnl` said a run of hundreds of fills made none),
said nothing, and the program exited 130. One while the end waits for the journal stops that wait
and the run ends as any stop does: raised, it exited 130 without the state file's line or the
count of the journal rows lost. A second Ctrl-C during the close still stops at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# `dita paper`, its final save (or the strategies' stop, or the kernel's close) sending itself
# SIGINT ``times`` times.
CHILD = """
import os, signal, sys
from dita.cli.paper import PaperSession
from dita.kernel import ExecutionKernel
from dita.runtime import TradingRuntime

where, times = sys.argv[1], int(sys.argv[2])

def ctrl_c():
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)

save = PaperSession.save
def save_under_ctrl_c(self, *, running):
    if not running and where == "save":
        ctrl_c()
    return save(self, running=running)
PaperSession.save = save_under_ctrl_c

stop = TradingRuntime.stop
def stop_under_ctrl_c(self, *args, **kwargs):
    if where == "stop":
        ctrl_c()
    return stop(self, *args, **kwargs)
TradingRuntime.stop = stop_under_ctrl_c

close = ExecutionKernel.close
def close_under_ctrl_c(self):
    if where == "close":
        ctrl_c()
    return close(self)
ExecutionKernel.close = close_under_ctrl_c

from dita.cli import main
sys.argv = ["dita", *sys.argv[3:]]
main()
"""

# Stops its run on the fourth bar with the signal named in $STOP_FIRST (none: the data's end).
STOPPER = """
import os
import signal

from dita.strategy import Bar, Strategy


class Stopper(Strategy):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        self.n = getattr(self, "n", 0) + 1
        if self.n == 2 and not self.busy(bar.asset) and not self.position(bar.asset):
            self.buy(bar.asset, 1.0, price=bar.close)
        first = os.environ.get("STOP_FIRST")
        if self.n == 4 and first:
            os.kill(os.getpid(), getattr(signal, first))
"""


def _paper(
    tmp_path: Path, where: str, times: int, first: str | None, *, wal: bool
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "paper_stopper.py").write_text(STOPPER)
    data = tmp_path / "bars.csv"
    data.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        + "".join(f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000\n" for i in range(8))
    )
    args = ["paper", "--strategy", "paper_stopper:Stopper", "--data", str(data), "--max-speed"]
    args += ["--kernel-id", "k", "--state-dir", str(tmp_path / "state")]
    if wal:
        args += ["--wal-dir", str(tmp_path / "wal")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    env.pop("STOP_FIRST", None)
    if first is not None:
        env["STOP_FIRST"] = first
    return subprocess.run(
        [sys.executable, "-c", CHILD, where, str(times), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize("wal", [False, True])
@pytest.mark.parametrize("where", ["save", "stop", "close"])
@pytest.mark.parametrize(
    ("first", "said"), [(None, None), ("SIGINT", "interrupted"), ("SIGTERM", "terminated")]
)
def test_a_ctrl_c_while_the_run_closes_does_not_cut_the_close_short(
    tmp_path: Path, where: str, first: str | None, said: str | None, wal: bool
) -> None:
    run = _paper(tmp_path, where, 1, first, wal=wal)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    if said is not None:
        assert said in run.stdout
    assert "state: " in run.stdout, run.stdout
    state = json.loads((tmp_path / "state" / "k.json").read_text())
    assert state["running"] is False
    assert state["rows"] == (4 if first is not None else 8)
    assert len(state["fills"]) == 1, state["fills"]


@pytest.mark.parametrize("where", ["stop", "close"])
def test_a_second_ctrl_c_while_the_run_closes_stops_it_at_once(tmp_path: Path, where: str) -> None:
    """For a close that does not end (a strategy's on_stop that does not return)."""
    run = _paper(tmp_path, where, 2, None, wal=True)
    assert run.returncode == 130, run.stdout + run.stderr


# Trades on every other bar: the run leaves rows for its journal to write.
BUYER = """
from dita.strategy import Bar, Strategy


class Buyer(Strategy):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        self.n = getattr(self, "n", 0) + 1
        if self.n % 2 == 0 and not self.busy(bar.asset) and not self.position(bar.asset):
            self.buy(bar.asset, 1.0, price=bar.close)
        elif self.n % 2 == 1 and self.position(bar.asset) and not self.busy(bar.asset):
            self.sell(bar.asset, 1.0, price=bar.close)
"""


def test_a_ctrl_c_while_the_end_waits_for_the_journal_stops_the_wait_and_says_what_was_lost(
    tmp_path: Path,
) -> None:
    (tmp_path / "paper_buyer.py").write_text(BUYER)
    data = tmp_path / "bars.csv"
    data.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        + "".join(f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000\n" for i in range(40))
    )
    args = ["paper", "--strategy", "paper_buyer:Buyer", "--data", str(data), "--max-speed"]
    args += ["--kernel-id", "j", "--state-dir", str(tmp_path / "state")]
    args += ["--journal", "http://u:pw@127.0.0.1:1/db"]  # nothing listens: the end waits 30 s
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from dita.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        err = ""
        deadline = time.monotonic() + 60
        while "waiting for the journal" not in err and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            err += line
        assert "waiting for the journal" in err, err
        proc.send_signal(signal.SIGINT)  # "giving up in 27s": the operator stops waiting
        out, rest = proc.communicate(timeout=60)
        err += rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert proc.returncode == 1, said  # rows left unwritten
    assert "interrupted: stopped waiting for the journal http://u@127.0.0.1:1/db" in err, said
    assert "journal rows were not written to http://u@127.0.0.1:1/db" in err, said
    assert "Traceback" not in err, said
    assert "state: " in out, said
    state = json.loads((tmp_path / "state" / "j.json").read_text())
    assert state["running"] is False
