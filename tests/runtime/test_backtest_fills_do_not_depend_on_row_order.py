"""Bars of one time reach the strategy in the order of their assets' names, whatever order the
file lists them in: two files of the same bars give the same fills."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.strategy import Bar, Strategy


class TwoAssets(Strategy[Any]):
    """On the second bars: buys 1 A and 2 B on A's bar, sells 0.5 A on B's (both decided at
    the same close); closes both on B's fifth bar."""

    def on_start(self) -> None:
        self.bars_seen: dict[str, int] = {}
        self.seen: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        n = self.bars_seen.get(bar.asset, 0)
        self.bars_seen[bar.asset] = n + 1
        self.seen.append(bar.asset)
        if (bar.asset, n) == ("A", 1):
            self.buy("A", 1.0, price=bar.close)
            self.buy("B", 2.0, price=bar.close)
        elif (bar.asset, n) == ("B", 1):
            self.sell("A", 0.5, price=bar.close)
        elif (bar.asset, n) == ("B", 4):
            self.close("A", price=bar.close)
            self.close("B", price=bar.close)


def _bars(tmp_path: Path, a_first: bool) -> Path:
    rows = []
    for i in range(8):
        a = f"2024-01-01T00:0{i}:00Z,A,{100 + i},{102 + i},{98 + i},{100 + i},10"
        b = f"2024-01-01T00:0{i}:00Z,B,{50 + i},{51 + i},{49 + i},{50.5 + i},10"
        rows += [a, b] if a_first else [b, a]
    path = tmp_path / f"ab_{a_first}.csv"
    path.write_text("timestamp,asset,open,high,low,close,volume\n" + "".join(r + "\n" for r in rows))
    return path


def test_the_same_bars_listed_in_another_order_give_the_same_fills(tmp_path: Path) -> None:
    """A's bars have volume 10 at a volume share of 0.1: one of the two A orders fills whole at
    the next open and the other waits, and which one followed the file's row order."""
    config = BacktestConfig(fee_rate=0.001, slippage_bps=5, volume_share=0.1)
    runs = []
    for a_first in (True, False):
        strategy = TwoAssets({})
        result = run_backtest(strategy, load_market_data(_bars(tmp_path, a_first)), config)
        trades = sorted((t.asset, t.side, t.entry_time, t.entry_price, t.size) for t in result.trades)
        runs.append((trades, result.run_info["fills"], float(result.equity[-1]), strategy.seen))
    assert runs[0] == runs[1]
    assert runs[0][3][:4] == ["A", "B", "A", "B"]


def test_rows_of_one_time_are_held_in_asset_order(tmp_path: Path) -> None:
    data = load_market_data(_bars(tmp_path, a_first=False))
    assert data.asset[:4] == ["A", "B", "A", "B"]
    assert list(data.columns["open"][:4]) == [100.0, 50.0, 101.0, 51.0]
