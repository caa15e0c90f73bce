"""Equity a few ulps under its peak is float rounding's, not a drawdown: a run that never loses
a cent has no drawdown and no time under water, in the metrics and in equity.csv. A drawdown of
more than ROUNDING (1e-12) of its peak still counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.backtest.metrics import drawdown_series
from dita.strategy import Bar, Strategy

T0 = 1_704_067_200  # 2024-01-01 00:00 UTC


class _Size(BaseModel):
    size: float = 2.7


class _BuyThenSellAtTheSamePrice(Strategy[_Size]):
    """Buys on the first bar, sells everything on the 30th; every price is the same."""

    Params = _Size
    data = ("bars",)

    def on_start(self) -> None:
        self.seen = 0

    def on_bar(self, bar: Bar) -> None:
        self.seen += 1
        if self.seen == 1:
            self.buy(bar.asset, self.params.size, price=bar.close)
        elif self.seen == 30:
            self.close(bar.asset, price=bar.close)


def test_a_run_that_never_loses_a_cent_has_no_drawdown(tmp_path: Path) -> None:
    # Five days of hourly bars, all at 123.45; 2.7 units bought in part fills of 0.3 (a tenth
    # of 3 a bar) and sold at that price, no fee, no slippage: equity is 10,000 at every bar by
    # hand, and cash + size x price is 1.8e-12 under it while the position is held.
    px = 123.45
    rows = "".join(f"{T0 + 3600 * i},AAA,{px},{px},{px},{px},3\n" for i in range(24 * 5))
    path = tmp_path / "bars.csv"
    path.write_text("ts,asset,open,high,low,close,volume\n" + rows)
    cfg = BacktestConfig(balance=10_000, fee_rate=0, slippage_bps=0, volume_share=0.1)
    result = run_backtest(_BuyThenSellAtTheSamePrice(), load_market_data(path), cfg)
    m = result.metrics
    assert m.total_pnl == 0.0 and result.open_trades == 0
    assert (m.max_drawdown, m.max_drawdown_pct, m.max_drawdown_days) == (0.0, 0.0, 0.0)
    result.write_report(tmp_path / "out")
    lines = (tmp_path / "out" / "equity.csv").read_text().splitlines()
    drawdowns = {line.split(",")[2] for line in lines[1:]}
    assert drawdowns == {"0"}


@pytest.mark.parametrize(
    ("under_the_peak", "drawdown"),
    [(1.8e-12, 0.0), (5e-9, 0.0), (1e-7, 1e-7), (0.01, 0.01)],
    ids=["rounding", "half a 1e-12 share", "ten times one", "a cent"],
)
def test_a_drawdown_counts_above_rounding_of_its_peak(under_the_peak: float, drawdown: float) -> None:
    equity = np.array([10_000.0, 10_000.0 - under_the_peak, 10_000.0])
    dd, frac = drawdown_series(equity, 10_000.0)
    assert dd[1] == pytest.approx(drawdown, rel=1e-3, abs=0)
    assert frac[1] == pytest.approx(drawdown / 10_000.0, rel=1e-3, abs=0)
