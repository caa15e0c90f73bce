"""A second signal while `dita paper` finishes a data row (or `dita stdio` a command) stops it at
once, for a strategy that does not return, whichever the two signals are: a SIGTERM (a service
manager, `kill`) and a Ctrl-C were each held for the block's end, so after one of either kind a
signal of the other kind was held too, and the run hung until a third."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dita._signals import Terminated, held, sigterm_as_interrupt

HANGS = """
from pathlib import Path

from dita.strategy import Bar, Strategy


class Hangs(Strategy):
    data = ("bars",)
    ready = ""

    def on_bar(self, bar: Bar) -> None:
        Path(Hangs.ready).touch()
        while True:  # a strategy that does not return (a model stuck, a loop that never ends)
            pass
"""

CHILD = """
import sys

import paper_hangs

paper_hangs.Hangs.ready = sys.argv[1]
from dita.cli import main

sys.argv = ["dita", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize(
    ("first", "second", "said"),
    [(signal.SIGTERM, signal.SIGINT, "interrupted"), (signal.SIGINT, signal.SIGTERM, "terminated")],
)
def test_a_sigterm_and_a_ctrl_c_stop_a_strategy_that_does_not_return(
    tmp_path: Path, first: int, second: int, said: str
) -> None:
    (tmp_path / "paper_hangs.py").write_text(HANGS)
    data = tmp_path / "bars.csv"
    data.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        + "".join(f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000\n" for i in range(3))
    )
    ready = tmp_path / "ready"
    args = ["paper", "--strategy", "paper_hangs:Hangs", "--data", str(data), "--max-speed"]
    args += ["--kernel-id", "k", "--state-dir", str(tmp_path / "state")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ready), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(first)
        time.sleep(0.5)
        assert proc.poll() is None  # the first is held: the row is to end first
        proc.send_signal(second)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("a second signal of the other kind did not stop the run: it hangs")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == 0, out + err
    assert said in out
    assert "Traceback" not in err, err


@pytest.mark.parametrize(
    ("first", "second", "raised"),
    [("SIGTERM", "SIGINT", KeyboardInterrupt), ("SIGINT", "SIGTERM", Terminated)],
)
def test_held_raises_a_second_signal_of_the_other_kind_at_once(first: str, second: str, raised: type) -> None:
    restore = sigterm_as_interrupt()
    reached = []
    try:
        with pytest.raises(raised):
            with held():
                signal.raise_signal(getattr(signal, first))
                reached.append(first)
                signal.raise_signal(getattr(signal, second))
                reached.append(second)
    finally:
        restore()
    assert reached == [first]
