"""`dita backtest` and `dita paper` give a strategy the same number of trade slots (the same
class must open the same trades in both), and `--max-slots` sets it in either."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dita.cli import app
from dita.strategy import Bar, Strategy

runner = CliRunner()


class Pile(Strategy[Any]):
    """Buys on each of the first 40 bars and never exits: each buy takes one more slot."""

    def on_start(self) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars <= 40:
            self.buy(bar.asset, 0.001, price=bar.close)


PILE = f"{__name__}:Pile"


def backtest_open_trades(tmp_path: Path, *extra: str) -> int:
    out = tmp_path / f"bt{len(extra)}"
    args = ["backtest", "--strategy", PILE, "--data", "sample", "--out", str(out), "--no-progress", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return int(json.loads((out / "metrics.json").read_text())["run"]["open_trades_at_end"])


def paper_open_trades(tmp_path: Path, *extra: str) -> int:
    state = tmp_path / f"state{len(extra)}"
    args = ["paper", "--strategy", PILE, "--data", "sample", "--max-speed", "--state-dir", str(state)]
    result = runner.invoke(app, [*args, "--kernel-id", "pile", *extra])
    assert result.exit_code == 0, result.output
    return int(json.loads((state / "pile.json").read_text())["account"]["open_positions"])


def test_backtest_and_paper_open_the_same_trades(tmp_path: Path) -> None:
    assert backtest_open_trades(tmp_path) == paper_open_trades(tmp_path)


def test_max_slots_caps_the_open_trades_in_both(tmp_path: Path) -> None:
    assert backtest_open_trades(tmp_path, "--max-slots", "5") == 5
    assert paper_open_trades(tmp_path, "--max-slots", "5") == 5


def test_max_slots_must_be_positive(tmp_path: Path) -> None:
    for command in (["backtest", "--out", str(tmp_path / "o")], ["paper"]):
        args = [*command, "--strategy", PILE, "--data", "sample", "--max-slots", "0"]
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "max-slots" in result.output
