"""`dita paper --wal-dir` counts the orders the venue rejected and the intents the kernel refused
over every run of its kernel (the state file's ``orders_rejected`` and ``intents_refused``). A run
killed after its last save lost those it met since: the next run started from the saved counts.
It now takes them from the log, as it takes the fills."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app

from .test_paper_catch_up import KERNEL, _twins

runner = CliRunner()

STRATEGY = """
from dita.strategy import Bar, Strategy


class AsksTooMuch(Strategy):
    \"\"\"On the first bar of each run: 1e308 BTCUSDT, which the kernel refuses, and ETHUSDT,
    which the paper venue rejects (the feed has BTCUSDT only).\"\"\"

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not hasattr(self, "asked"):
            self.asked = True
            self.buy("BTCUSDT", 1e308, price=bar.close)
            self.buy("ETHUSDT", 1.0, price=bar.close)
"""


def _bars(path: Path, n: int) -> Path:
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _paper(base: Path, strategy: Path, data: Path) -> Any:
    args = ["paper", "--strategy", f"{strategy}:AsksTooMuch", "--data", str(data)]
    args += ["--max-speed", "--kernel-id", KERNEL, "--state-dir", str(base / "state")]
    result = runner.invoke(app, [*args, "--wal-dir", str(base / "wal")])
    assert result.exit_code == 0, result.output
    return result


def _counts(base: Path) -> tuple[Any, ...]:
    snap = json.loads((base / "state" / f"{KERNEL}.json").read_text())
    names = ("orders_rejected", "intents_refused", "rejection_reasons", "refusal_reasons")
    return tuple(snap[name] for name in names)


REJECTED = "unknown asset 'ETHUSDT': paper lists BTCUSDT only"
REFUSED = "INVALID_INTENT: target_size=1e+308: must be at most 1e15 in magnitude"


@pytest.mark.parametrize("copy", ["clean", "killed"])
def test_what_a_killed_run_had_refused_after_its_save_is_counted(tmp_path: Path, copy: str) -> None:
    strategy = tmp_path / f"asks_too_much_{tmp_path.name}.py"  # a module name of its own per test
    strategy.write_text(STRATEGY)
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 2))
    early = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    assert _counts(tmp_path) == (1, 1, {REJECTED: 1}, {REFUSED: 1})
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 4))
    base = dict(zip(("clean", "killed"), _twins(tmp_path, early), strict=True))[copy]
    _paper(base, strategy, _bars(tmp_path / "c.csv", 6))
    assert _counts(base) == (3, 3, {REJECTED: 3}, {REFUSED: 3})
