"""``dita backtest`` says it is reading a large data file: the read said nothing until its end."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.data import SAMPLE_BARS

runner = CliRunner()
CROSSOVER = "dita.examples.crossover:SmaCrossover"


@pytest.mark.parametrize("progress", [True, False])
def test_a_slow_read_of_the_data_says_it_is_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    # A file of gigabytes takes minutes to read and check: as slow here, by a sleep.
    import dita.backtest.data as data
    import dita.cli.backtest as backtest_cli

    load = data.load_market_data

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.7)
        return load(*args, **kwargs)

    monkeypatch.setattr(data, "load_market_data", slow)
    monkeypatch.setattr(backtest_cli, "PROGRESS_LINE_SECONDS", 0.2)
    args = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, *([] if progress else ["--no-progress"])])
    assert result.exit_code == 0, result.output
    reading = [line for line in result.stderr.splitlines() if line.startswith("reading ")]
    if not progress:
        assert reading == [] and result.stderr == ""
        return
    assert len(reading) >= 2, result.stderr
    assert all(
        re.fullmatch(
            rf"reading {re.escape(SAMPLE_BARS.name)} \([\d.]+ [kMG]?B\): still running after \d+ s", x
        )
        for x in reading
    ), reading
    # Before the replay's own progress.
    lines = result.stderr.splitlines()
    replay = [i for i, x in enumerate(lines) if x.startswith("backtest")]
    assert all(lines.index(reading[-1]) < i for i in replay)
