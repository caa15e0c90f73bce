"""Whole backtests on a few bars whose equity, returns and ratios are worked out by hand (the
comments hold the arithmetic): no fees, no slippage, one unit bought at the second bar's open."""

from __future__ import annotations

import html
import json
import math
import re
import statistics
from pathlib import Path

import pytest
from pydantic import BaseModel

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from dita.strategy import Bar, Strategy

DAY = 86_400
WEEK = 7 * DAY
T0 = 1704067200  # 2024-01-01 00:00 UTC


class _Size(BaseModel):
    size: float = 1.0


class _BuyAndHold(Strategy[_Size]):
    """Buys one unit of each asset on its first bar (filled at its next bar's open) and holds."""

    Params = _Size
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and self.position(bar.asset) == 0:
            self.buy(bar.asset, self.params.size, price=bar.close)


def _run(tmp_path: Path, step: int, prices: dict[str, list[float]], start: int = T0) -> BacktestResult:
    """Bars whose open, high, low and close are all the price, ``step`` seconds apart."""
    lines = ["ts,asset,open,high,low,close,volume"]
    for i in range(len(next(iter(prices.values())))):
        for asset, px in prices.items():
            lines.append(f"{start + i * step},{asset},{px[i]},{px[i]},{px[i]},{px[i]},1000")
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(lines) + "\n")
    cfg = BacktestConfig(balance=1000, fee_rate=0, slippage_bps=0, volume_share=1.0)
    return run_backtest(_BuyAndHold(), load_market_data(path), cfg)


def _sharpe(returns: list[float], per_year: float) -> float:
    return statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(per_year)


def _sortino(returns: list[float], per_year: float) -> float:
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    return statistics.mean(returns) / downside * math.sqrt(per_year)


def test_one_asset_of_daily_bars(tmp_path: Path) -> None:
    # Closes 100, 100, 120, 90, 110, 130; one unit bought at day 1's open of 100 leaves 900 cash.
    result = _run(tmp_path, DAY, {"AAA": [100, 100, 120, 90, 110, 130]})
    assert result.equity.tolist() == pytest.approx([1000, 1000, 1020, 990, 1010, 1030])
    m = result.metrics
    # Daily returns (the balance of 1000 before day 0), a 365-day year.
    returns = [0.0, 0.0, 20 / 1000, -30 / 1020, 20 / 990, 20 / 1010]
    assert m.sharpe == pytest.approx(_sharpe(returns, 365), rel=1e-9)
    assert m.sortino == pytest.approx(_sortino(returns, 365), rel=1e-9)
    # Peak 1020 on day 2, 990 on day 3: 30 down, 30 / 1020 of the peak; back above it on day 5.
    assert m.max_drawdown == pytest.approx(30.0)
    assert m.max_drawdown_pct == pytest.approx(30 / 1020 * 100)
    assert m.max_drawdown_days == pytest.approx(3.0)
    assert m.total_pnl == pytest.approx(30.0) and m.total_pnl_pct == pytest.approx(3.0)
    assert m.exposure_pct == pytest.approx(5 / 6 * 100)  # held after days 1 to 5
    assert m.cagr is None  # six days are not annualised


def test_two_assets_of_weekly_bars_have_one_equity_point_a_week(tmp_path: Path) -> None:
    # AAA closes 100, 100, 110, 100, 120 and BBB 100, 100, 90, 105, 100; one unit of each bought
    # at week 1's opens of 100 leaves 800 cash. Each row was a point and a period of its own:
    # week 2 read 1010 after AAA's row (BBB still at 100) and week 3 990 after AAA's (BBB still
    # at 90), a drawdown of 20 no one held, with two returns a week annualised as such.
    result = _run(tmp_path, WEEK, {"AAA": [100, 100, 110, 100, 120], "BBB": [100, 100, 90, 105, 100]})
    assert result.ts.tolist() == [T0 + i * WEEK for i in range(5)]
    assert result.equity.tolist() == pytest.approx([1000, 1000, 1000, 1005, 1020])
    m = result.metrics
    assert m.max_drawdown == 0.0 and m.max_drawdown_pct == 0.0 and m.max_drawdown_days == 0.0
    # Weekly returns, 365 / 7 weeks a year.
    returns = [0.0, 0.0, 0.0, 5 / 1000, 15 / 1005]
    assert m.sharpe == pytest.approx(_sharpe(returns, 365 / 7), rel=1e-9)
    assert m.sortino is None  # no week lost money: no downside to divide by
    assert m.exposure_pct == pytest.approx(80.0)  # both held after weeks 1 to 4
    assert m.bars == 10  # the data's rows, as the report's header says
    out = tmp_path / "out"
    result.write_report(out)
    assert len((out / "equity.csv").read_text().splitlines()) == 1 + 5


def test_a_run_of_under_two_days_reports_sharpe_as_null_with_its_reason(tmp_path: Path) -> None:
    # 24 hourly bars from noon: two half-day returns, annualised as days, gave a Sharpe.
    result = _run(tmp_path, 3600, {"AAA": [100 + (i % 5) for i in range(24)]}, start=T0 + 12 * 3600)
    assert result.metrics.sharpe is None and result.metrics.sortino is None
    out = tmp_path / "out"
    result.write_report(out)
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["metrics"]["sharpe"] is None
    assert doc["notes"]["sharpe"].startswith("less than two days (1 day) of data")
    page = (out / "report.html").read_text()
    assert "<td id='m-sharpe'>n/a</td>" in page
    assert html.escape(doc["notes"]["sharpe"], quote=False) in page


def test_the_cli_says_why_sharpe_is_not_given(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dita.cli import app

    start = T0 + 12 * 3600
    rows = "".join(f"{start + i * 3600},100,101,99,100,10\n" for i in range(24))
    (tmp_path / "bars.csv").write_text("ts,open,high,low,close,volume\n" + rows)
    args = [
        "backtest",
        "--strategy",
        "dita.examples.crossover:SmaCrossover",
        "--data",
        str(tmp_path / "bars.csv"),
    ]
    args += ["--out", str(tmp_path / "out")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Sharpe and Sortino: n/a, less than two days (1 day) of data" in res.output
    # The table has a CAGR row as well as Calmar's, and says why neither is given.
    assert re.findall(r"│ (CAGR|Calmar) ", res.output) == ["CAGR", "Calmar"]
    assert "CAGR and Calmar: n/a, the run is shorter than a year (1 day)" in res.output
    doc = json.loads(CliRunner().invoke(app, [*args, "--json"]).output.splitlines()[-1])
    assert doc["metrics"]["sharpe"] is None and doc["notes"]["sharpe"].startswith("less than two days")
