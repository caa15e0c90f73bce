"""A blown account halts in a paper run as in the backtest (``halt_when_bust``, on by default in
both): the kernel goes HALTED and the entries still working are canceled, so a replay of the
backtest's file makes the backtest's fills, and none after the halt."""

from __future__ import annotations

from pathlib import Path

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from runtime.paper_cli import saved_state
from runtime.scripted_paper import SEEN, ShortsThenBlowsUp, blowup_bars, paper_fills


def test_a_paper_replay_of_a_blown_account_fills_as_the_backtest(tmp_path: Path) -> None:
    bars = blowup_bars(tmp_path / "bars.csv")
    SEEN.clear()
    result = run_backtest(ShortsThenBlowsUp(), load_market_data(bars), BacktestConfig(balance=1000.0))
    backtest = list(SEEN)
    assert result.run_info["halted_equity"] <= 0
    # The short of bar 0 alone: the resting short at 400 (bar 3 reaches it) was canceled with
    # the halt, and the entry of bar 2 refused.
    assert [side for _, side, *_ in backtest] == ["SELL"]
    paper = paper_fills(tmp_path, "ShortsThenBlowsUp", bars, "--balance", "1000")
    assert paper == backtest
    control = saved_state(tmp_path)["control"]
    assert (control["mode"], control["source"]) == ("HALTED", "dita-paper: account blown")
