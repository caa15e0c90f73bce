"""`dita paper --wal-dir` killed (SIGKILL) while a strategy handles one asset's bar, with another
asset's bar of that time still to come, then continued. The continued run went on after every
row of the time of the kernel's last act: the other asset's bar was never handled, and the fill
it made of an order resting there was lost. Each intent now records where in the data it was
decided, and the continued run goes on right after the row the kernel last acted on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()
T0 = 1_704_067_200

STRATEGY = """
import os
import time

from dita.strategy import Bar, Strategy

T0 = 1_704_067_200


class SellThenBuy(Strategy):
    \"\"\"A BBB sell limit at 150 on minute 5; an AAA market buy on minute 20, on AAA's bar, which
    comes before BBB's. With $PAPER_HANG_FLAG it then names that file and hangs, to be killed.\"\"\"

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        minute = int(bar.ts - T0) // 60
        if bar.asset == "BBB" and minute == 5:
            self.sell("BBB", 1.0, price=bar.close, limit=150.0)
        if bar.asset == "AAA" and minute == 20:
            self.buy("AAA", 1.0, price=bar.close)
            flag = os.environ.get("PAPER_HANG_FLAG")
            if flag and not os.path.exists(flag):
                open(flag, "w").close()
                time.sleep(60)
"""


def _bars(path: Path, minutes: int, *, last_without_bbb: bool = False) -> Path:
    """One-minute bars of AAA then BBB at 100; BBB trades up to 160 on minute 20 only. With
    ``last_without_bbb`` the last minute has AAA's bar only."""
    rows = ["timestamp,asset,open,high,low,close,volume"]
    for m in range(minutes):
        rows.append(f"{T0 + 60 * m},AAA,100,100,100,100,1000")
        if not (last_without_bbb and m == minutes - 1):
            rows.append(f"{T0 + 60 * m},BBB,100,{160 if m == 20 else 100},100,100,1000")
    path.write_text("\n".join(rows) + "\n")
    return path


def _args(base: Path, strategy: Path, data: Path) -> list[str]:
    args = ["paper", "--strategy", f"{strategy}:SellThenBuy", "--data", str(data), "--kernel-id", "k"]
    return [*args, "--state-dir", str(base / "state"), "--wal-dir", str(base / "wal")]


def _paper(base: Path, strategy: Path, data: Path) -> Any:
    result = runner.invoke(app, [*_args(base, strategy, data), "--max-speed"])
    assert result.exit_code == 0, result.output
    return result


def _fills(base: Path) -> list[tuple[Any, ...]]:
    snap = json.loads((base / "state" / "k.json").read_text())
    return [(f["ts"], f["asset"], f["side"], f["price"], f["qty"], f["fee"]) for f in snap["fills"]]


@pytest.fixture
def strategy(tmp_path: Path) -> Path:
    path = tmp_path / f"sell_then_buy_{tmp_path.name}.py"  # a module name of its own per test
    path.write_text(STRATEGY)
    return path


def test_a_run_killed_on_one_assets_bar_fills_on_the_other_assets_bar_of_that_time(
    tmp_path: Path, strategy: Path
) -> None:
    data = _bars(tmp_path / "bars.csv", 30)
    _paper(tmp_path / "unbroken", strategy, data)
    want = _fills(tmp_path / "unbroken")
    assert [(f[0] - T0, f[1], f[2]) for f in want] == [(1200, "BBB", "SELL"), (1260, "AAA", "BUY")]

    killed = tmp_path / "killed"
    flag = tmp_path / "hanging"
    env = {**os.environ, "PAPER_HANG_FLAG": str(flag)}
    with (tmp_path / "killed.out").open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dita", *_args(killed, strategy, data), "--max-speed"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 60
            while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert flag.exists(), (tmp_path / "killed.out").read_text()
            time.sleep(0.5)  # the log's group commit (10 ms) has the buy on disk
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    again = _paper(killed, strategy, data)
    assert "replay continues after 2024-01-01 00:20:00 UTC: 41 of 60 rows" in again.stdout
    assert "the kernel's last act at 2024-01-01 00:20:00 UTC (its row 1 of that time)" in again.stderr
    assert _fills(killed) == want


@pytest.mark.parametrize("places", [True, False])
def test_a_run_continued_after_its_last_save_goes_on_after_the_row_of_its_last_act(
    tmp_path: Path, strategy: Path, monkeypatch: pytest.MonkeyPatch, places: bool
) -> None:
    """A run killed after the first save, its log going on to the buy on AAA's bar of minute
    20 (a stopped run's log, put beside that save). It goes on with BBB's bar of minute 20, which
    fills the sell. A log an older dita wrote records no place with its intents: the run goes on
    after every row of the last act's time, as it did then, and says so."""
    from dita.runtime.clock import MarketClock

    if not places:
        monkeypatch.setattr(MarketClock, "data_place", lambda self: {})
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 2))
    early = (tmp_path / "state" / "k.json").read_text()
    # Ends on AAA's bar of minute 20: the buy there is the last act, BBB's bar of that time to come.
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 21, last_without_bbb=True))
    (tmp_path / "state" / "k.json").write_text(early)  # killed after the first run's save
    monkeypatch.undo()

    again = _paper(tmp_path, strategy, _bars(tmp_path / "c.csv", 30))
    if places:
        assert "replay continues after 2024-01-01 00:20:00 UTC: 41 of 60 rows" in again.stdout
        assert [f[1] for f in _fills(tmp_path)] == ["BBB", "AAA"]
    else:
        assert "replay continues after 2024-01-01 00:20:00 UTC: 42 of 60 rows" in again.stdout
        assert "does not say on which of its rows" in again.stderr
        assert [f[1] for f in _fills(tmp_path)] == ["AAA"]  # BBB's bar of minute 20 taken as handled


@pytest.mark.parametrize("tail", [100_000, 1])
def test_a_run_without_its_state_file_reads_the_logs_tail_for_the_last_act(
    tmp_path: Path, strategy: Path, monkeypatch: pytest.MonkeyPatch, tail: int
) -> None:
    """With no state file the run reads the log's last records only (a long account's whole log
    would take minutes): a tail with no act in it falls back on the slots' last transition, at
    every row of its time. Either way nothing is traded again."""
    import dita.cli.paper_session as paper_session

    monkeypatch.setattr(paper_session, "LAST_ACT_SEARCH_RECORDS", tail)
    data = _bars(tmp_path / "bars.csv", 30)
    _paper(tmp_path, strategy, data)
    path = tmp_path / "state" / "k.json"
    fees = json.loads(path.read_text())["account"]["k_fees_paid"]
    path.unlink()
    again = _paper(tmp_path, strategy, data)
    assert "the rows up to it are not replayed" in again.stderr
    assert _fills(tmp_path) == []  # the lost file's list of fills is gone; none made again
    assert json.loads(path.read_text())["account"]["k_fees_paid"] == pytest.approx(fees)
