"""`dita paper` whose write-ahead log fills its disk part way through a run."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CHURN = """
from dita.strategy import Bar, Strategy


class Churn(Strategy):
    \"\"\"Opens a trade on one bar and closes it on the next: many log records per bar.\"\"\"

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if self.busy(bar.asset):
            self.close(bar.asset, price=bar.close)
        else:
            self.buy(bar.asset, 0.1, price=bar.close)
"""

LIMIT = 96 * 1024  # bytes any file of the run may reach: the log's segment is the first past it


def _limit_file_size() -> None:
    # A disk that fills up: a write past the limit fails with EFBIG (SIGXFSZ ignored), as
    # ENOSPC would, on the log's writer thread, while the strategy is inside the kernel.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="no RLIMIT_FSIZE here")
def test_a_log_that_fills_its_disk_under_a_strategy_stops_the_run_with_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    """The log's writer thread met the full disk; the strategy's next input got WalError (the
    strategy goes to ERROR). The end of the data then handed the kernel its last marks
    (`runtime.finish()`) and the status table took a snapshot that synced the marks: both
    raised WalError out of `dita paper`, a traceback, and neither the final save nor its error
    was said. The run must stop as the docs say: `error: cannot sync the write-ahead log in
    DIR: ...`, exit 1, the kernel closed, the state file keeping the last book saved."""
    (tmp_path / "paper_churn.py").write_text(CHURN)
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{1_704_067_200 + 60 * i},BTCUSDT,100,107,99,{100 + i % 7},1000" for i in range(3000)]
    data = tmp_path / "bars.csv"
    data.write_text("\n".join(rows) + "\n")
    wal = tmp_path / "wal"
    args = [sys.executable, "-m", "dita.cli", "paper", "--strategy", "paper_churn:Churn", "--data", str(data)]
    args += ["--max-speed", "--kernel-id", "full", "--state-dir", str(tmp_path / "state")]
    # Saved at the start only, however long the machine has been up (the first save waited
    # until its uptime passed --status-every, and on a machine up for less, none was made).
    args += ["--wal-dir", str(wal), "--status-every", "1e9"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    proc = subprocess.run(
        args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size
    )
    assert wal.is_dir(), proc.stdout + proc.stderr
    assert max(f.stat().st_size for f in wal.iterdir()) <= LIMIT
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # No traceback out of the command (the runtime's log line for the strategy's refused
    # input may carry one; the command's own frames must not).
    assert "During handling of the above exception" not in proc.stderr, proc.stderr
    assert "dita/cli/paper" not in proc.stderr, proc.stderr  # paper.py, paper_run.py, ...
    assert f"error: cannot sync the write-ahead log in {wal}" in proc.stderr, proc.stderr
    assert "the final state file was not written" in proc.stderr, proc.stderr
    # The state file keeps the book saved at the start, with the log synced; the log still
    # opens (its torn tail cut off) and the kernel is past that save.
    snap = json.loads((tmp_path / "state" / "full.json").read_text())
    from dita import ExecutionKernel

    kernel = ExecutionKernel(wal_dir=str(wal))
    try:
        assert kernel.seq >= snap["seq"]
    finally:
        kernel.close()
