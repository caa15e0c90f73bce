"""A paper run continuing its kernel (--wal-dir) with another strategy than the one whose trade
is open: trades are taken back by the strategy's name, so nobody would ever exit that position.
The run is refused after reconciliation, naming the trade and its strategy, with nothing traded,
as `dita live` refuses such a restart; continued with that strategy again, it takes it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.paper_cli import flat_bars, run_paper, saved_state, strategies_module

STRATEGIES = """
from dita.strategy import Bar, Strategy


class HoldsOne(Strategy):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and not self.position(bar.asset) and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close)


class Idle(Strategy):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        pass
"""


def test_a_run_with_another_strategy_is_refused_naming_the_trade_nobody_takes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = strategies_module(tmp_path, monkeypatch, "paper_another_strategy", STRATEGIES)
    first_bars = flat_bars(tmp_path / "first.csv", 5)
    wal = ("--wal-dir", str(tmp_path / "wal"))
    first = run_paper(tmp_path, f"{module}:HoldsOne", first_bars, *wal)
    assert first.exit_code == 0, first.output
    held = [s["trade_id"] for s in saved_state(tmp_path)["slots"] if s.get("size")]
    assert held == ["HoldsOne-t1"], saved_state(tmp_path)["slots"]

    more_bars = flat_bars(tmp_path / "more.csv", 10)
    other = run_paper(tmp_path, f"{module}:Idle", more_bars, *wal)
    assert other.exit_code == 1, other.output
    assert "open trades no strategy of this run takes back (HoldsOne-t1 of strategy 'HoldsOne')" in (
        other.stderr
    ), other.stderr
    assert "the run's strategy is 'Idle'" in other.stderr and "nothing was traded" in other.stderr
    assert "Traceback" not in other.output
    state = saved_state(tmp_path)
    assert state["rows"] == 0 and state["running"] is False
    assert [s["trade_id"] for s in state["slots"] if s.get("size")] == held

    again = run_paper(tmp_path, f"{module}:HoldsOne", more_bars, *wal)
    assert again.exit_code == 0, again.output
    assert "takes back" not in again.stderr
