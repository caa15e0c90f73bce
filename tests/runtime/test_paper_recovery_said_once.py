"""A paper run continued on a write-ahead log its open cut says what was cut once, in the CLI's
words: the `dita.kernel` logger's warning of the same cut (what a library user, with no CLI, is
told) printed beside the CLI's own line, so every torn record was reported twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from crashed_log import remove_the_closing_checkpoint

FAR_BID = """
from dita.strategy import Bar, Strategy


class FarBid(Strategy):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and not self.position(bar.asset) and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)
"""


def _paper(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``dita paper`` in a fresh interpreter, as a user runs it: the logger's warnings reach stderr
    through Python's own last-resort handler, which pytest's log capture would stand in for."""
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000" for i in range(3)]
    (tmp_path / "bars.csv").write_text("\n".join(rows) + "\n")
    args = ["paper", "--strategy", "paper_said_once:FarBid", "--data", str(tmp_path / "bars.csv")]
    args += ["--max-speed", "--kernel-id", "once"]
    args += ["--state-dir", str(tmp_path / "state"), "--wal-dir", str(tmp_path / "wal"), *extra]
    return subprocess.run(
        [sys.executable, "-c", "from dita.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])},
        check=False,
    )


def test_a_torn_record_cut_at_the_open_is_said_once(tmp_path: Path) -> None:
    (tmp_path / "paper_said_once.py").write_text(FAR_BID)
    first = _paper(tmp_path)
    assert first.returncode == 0, first.stderr
    remove_the_closing_checkpoint(tmp_path / "wal")  # the log a crash while writing leaves
    segment = max((tmp_path / "wal").glob("seg-*.wal"))
    with segment.open("r+b") as f:
        f.truncate(segment.stat().st_size - 3)
    run = _paper(tmp_path)
    assert run.returncode == 0, run.stderr
    said = [line for line in run.stderr.splitlines() if str(segment) in line]
    assert len(said) == 1, run.stderr
    assert said[0].startswith("warning: the write-ahead log's last record was unfinished"), run.stderr
    assert f"bytes cut from {segment} at byte " in said[0]


def test_a_checkpoint_passed_over_at_the_open_is_said_once(tmp_path: Path) -> None:
    """A damaged checkpoint was said by the logger and by the CLI, and the CLI's line had the
    kernel recovered "from an earlier one" where it was the start of the log."""
    (tmp_path / "paper_said_once.py").write_text(FAR_BID)
    first = _paper(tmp_path)
    assert first.returncode == 0, first.stderr
    remove_the_closing_checkpoint(tmp_path / "wal")  # the log a crash leaves
    (checkpoint,) = (tmp_path / "wal").glob("ckpt-*.ckpt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:-1])
    # The only checkpoint passed over, the log alone does not hold the kernel's slot count.
    run = _paper(tmp_path, "--max-slots", "64")
    assert run.returncode == 0, run.stderr
    said = [line for line in run.stderr.splitlines() if checkpoint.name in line]
    assert len(said) == 1, run.stderr
    assert said[0].startswith(f"warning: checkpoint {checkpoint} was passed over (corrupt "), run.stderr
    assert said[0].endswith("checkpoint digest mismatch): the kernel was recovered from the start of the log")
