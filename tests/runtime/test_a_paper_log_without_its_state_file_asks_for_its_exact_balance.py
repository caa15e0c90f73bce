"""A paper log continued without its state file names the seed capital to give, exactly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()


def _bars(path: Path) -> Path:
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000" for i in range(5)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _paper(tmp_path: Path, state: str, *extra: str) -> Any:
    data = _bars(tmp_path / "a.csv")
    args = ["paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", str(data), "--max-speed"]
    args += ["--kernel-id", "k", "--state-dir", str(tmp_path / state)]
    return runner.invoke(app, [*args, "--wal-dir", str(tmp_path / "wal"), *extra])


def test_the_balance_the_refusal_asks_for_is_taken(tmp_path: Path) -> None:
    """An account of 12345.67: the refusal says "Give --balance X to continue it", and X given
    continues it, so X is the seed capital exactly, not rounded to 12345.7."""
    first = _paper(tmp_path, "state", "--balance", "12345.67")
    assert first.exit_code == 0, first.output
    refused = _paper(tmp_path, "elsewhere")
    assert refused.exit_code == 2, refused.output
    asked = re.search(r"Give --balance (\S+) to continue it", " ".join(refused.output.split()))
    assert asked, refused.output
    again = _paper(tmp_path, "elsewhere", "--balance", asked.group(1))
    assert again.exit_code == 0, (asked.group(1), again.output)
