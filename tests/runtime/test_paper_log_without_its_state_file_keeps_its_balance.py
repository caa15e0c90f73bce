"""A paper run continuing a log (--wal-dir) with no state file of it (a new --state-dir, the file
lost) has no record of the account's fill model but the log's: the kernel counts the log's seed
capital. A --balance other than it would give the paper venue another balance than the kernel's
capital, so it is refused naming the option, nothing written; the log's own balance continues."""

from __future__ import annotations

import json
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


def test_a_log_continued_without_its_state_file_refuses_another_balance(tmp_path: Path) -> None:
    first = _paper(tmp_path, "state", "--balance", "5000")
    assert first.exit_code == 0, first.output
    segments = sorted((tmp_path / "wal").glob("seg-*.wal"))
    sizes = [p.stat().st_size for p in segments]

    refused = _paper(tmp_path, "elsewhere")  # --balance left at its default, 10000
    assert refused.exit_code == 2, refused.output
    assert "--balance 10000 differs from the seed capital 5000 the write-ahead log in" in refused.output
    assert "Give --balance 5000 to continue it" in refused.output
    assert not (tmp_path / "elsewhere" / "k.json").exists()
    assert [p.stat().st_size for p in segments] == sizes

    again = _paper(tmp_path, "elsewhere", "--balance", "5000")
    assert again.exit_code == 0, again.output
    state = json.loads((tmp_path / "elsewhere" / "k.json").read_text())
    assert state["account"]["seed_capital"] == 5000 and state["fill_model"]["balance"] == 5000
