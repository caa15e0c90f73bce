"""``dita paper`` as the CLI tests run it, on flat one-minute BTCUSDT bars, kernel ``k``: the runs
and the state file they save, shared by the tests of what a run counts and says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()

# What the kernel says of BuysTooMuchOnce's order (below).
TOO_MUCH_REFUSED = "INVALID_INTENT: target_size=1e+308: must be at most 1e15 in magnitude"

# A strategy's source, for a strategies file whose own source imports ``Any``, ``Bar`` and
# ``Strategy``: the kernel refuses its one order (target_size 1e308), run after run.
BUYS_TOO_MUCH_ONCE = '''

class BuysTooMuchOnce(Strategy[Any]):
    """Asks for 1e308 BTCUSDT on the first bar of each run: the kernel refuses it."""

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1e308, price=bar.close)
'''


def flat_bars(path: Path, n: int) -> Path:
    """``n`` one-minute BTCUSDT bars at 100 (high 101, low 99, volume 1000), written to ``path``."""
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,99,100,1000" for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def run_paper(tmp_path: Path, strategy: str, data: Path | str, *extra: str) -> Any:
    """``dita paper`` of ``strategy`` on ``data`` at full speed, kernel ``k``, its state in
    ``tmp_path/state``; the CLI runner's result."""
    args = ["paper", "--strategy", strategy, "--data", str(data), "--max-speed", "--kernel-id", "k"]
    return runner.invoke(app, [*args, "--state-dir", str(tmp_path / "state"), *extra])


def saved_state(tmp_path: Path) -> dict[str, Any]:
    """The state file kernel ``k``'s run saved under ``tmp_path/state``."""
    snap: dict[str, Any] = json.loads((tmp_path / "state" / "k.json").read_text())
    return snap


def strategies_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> str:
    """``source`` written as module ``name`` in ``tmp_path``, importable for the test: its name,
    for ``--strategy NAME:CLASS``."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name
