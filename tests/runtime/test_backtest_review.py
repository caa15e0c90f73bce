"""A backtest's report as a user trusts it: the same data gives the same bytes, a report cut
short (Ctrl-C, a full disk) leaves no half-written or mixed set of files, a curve without
dispersion has no Sharpe of float dust, and a trade still open at the end is said, marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from dita.backtest import report
from dita.backtest.data import MarketData, load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.backtest.metrics import compute_metrics
from dita.backtest.report import ARTEFACTS
from dita.cli import app
from dita.examples.crossover import SmaCrossover
from dita.strategy import Bar, Strategy

runner = CliRunner()
CROSSOVER = "dita.examples.crossover:SmaCrossover"


class HoldOne(Strategy[Any]):
    """Buys once on the first bar and never exits: the trade is open at the data's end."""

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and self.position(bar.asset) == 0 and not self.fills_total:
            self.buy(bar.asset, 0.01, price=bar.close)


HOLD_ONE = f"{__name__}:HoldOne"


class Idle(Strategy[Any]):
    """Never trades."""

    def on_bar(self, bar: Bar) -> None:
        pass


def _backtest(out: Path, *extra: str) -> Any:
    args = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(out), "--no-progress"]
    return runner.invoke(app, [*args, *extra])


def test_the_same_data_gives_byte_identical_reports(tmp_path: Path) -> None:
    # metrics.json and report.html held the run's wall-clock time (elapsed_s): no two runs of
    # one backtest wrote the same files, so a report could not be checked against another.
    for name in ("a", "b"):
        result = _backtest(tmp_path / name)
        assert result.exit_code == 0, result.output
    for name in ARTEFACTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def _cut_short_at_the_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "plot_equity", interrupted)


def test_a_report_cut_short_leaves_no_file_of_it(
    tmp_path: Path, sample_bars: MarketData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written in place one after another, a Ctrl-C while the picture was drawn left metrics.json,
    # trades.csv and equity.csv of a report that has no HTML, read later as a finished run.
    result = run_backtest(SmaCrossover(), sample_bars.slice_time(None, sample_bars.ts[600]))
    _cut_short_at_the_picture(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        result.write_report(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_a_report_cut_short_keeps_the_previous_one_whole(
    tmp_path: Path, sample_bars: MarketData, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rewritten in place, the old report's files were left beside the new run's: metrics.json of
    # one run, report.html and equity.png of another.
    out = tmp_path / "out"
    run_backtest(SmaCrossover(), sample_bars.slice_time(None, sample_bars.ts[600])).write_report(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == sorted(ARTEFACTS)
    other = run_backtest(SmaCrossover(), sample_bars.slice_time(None, sample_bars.ts[1200]))
    _cut_short_at_the_picture(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        other.write_report(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("growth", [1.01, 1.0003, 0.999])
def test_returns_that_differ_only_by_rounding_have_no_dispersion(growth: float) -> None:
    # Equity growing by the same factor each day: the returns differ in their 17th digit only,
    # and the Sharpe was that rounding's, 2e15.
    ts = 1_704_067_200.0 + np.arange(6, dtype=np.float64) * 86_400.0
    equity = 100.0 * growth ** np.arange(1, 7, dtype=np.float64)
    m = compute_metrics(ts=ts, equity=equity, balance=100.0, trades=[], bar_interval=86_400.0)
    assert m.sharpe is None
    assert m.notes["sharpe"] == "no dispersion: every day's return is the same"
    assert m.to_dict()["sharpe"] is None


def test_returns_of_real_dispersion_keep_their_sharpe() -> None:
    ts = 1_704_067_200.0 + np.arange(4, dtype=np.float64) * 86_400.0
    equity = np.array([100.0, 101.0, 100.5, 102.0])
    m = compute_metrics(ts=ts, equity=equity, balance=100.0, trades=[], bar_interval=86_400.0)
    returns = equity / np.array([100.0, 100.0, 101.0, 100.5]) - 1
    assert m.sharpe == pytest.approx(np.mean(returns) / np.std(returns, ddof=1) * np.sqrt(365))


def test_a_trade_open_at_the_end_is_said_with_its_mark(tmp_path: Path, sample_bars: MarketData) -> None:
    # Not a closed trade (trades.csv has none), but its PnL is in the total: the table said
    # "Trades 0" beside a PnL, and --json had no word of the open trade.
    result = runner.invoke(
        app, ["backtest", "--strategy", HOLD_ONE, "--data", "sample", "--out", str(tmp_path / "t")]
    )
    assert result.exit_code == 0, result.output
    assert "open at the end: 1 trade, marked at the last price" in result.output
    assert "(not in trades.csv)" in result.output
    result = runner.invoke(
        app,
        ["backtest", "--strategy", HOLD_ONE, "--data", "sample", "--out", str(tmp_path / "j"), "--json"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["metrics"]["trades"] == 0
    direct = run_backtest(HoldOne(), sample_bars, BacktestConfig())
    assert doc["open_trades"] == {
        "trades": 1,
        "unrealized_pnl": pytest.approx(direct.account["unrealized_pnl"]),
    }
    # The open trade's PnL, marked, and its entry fee make up the whole run's PnL.
    m = direct.metrics
    assert m.total_pnl == pytest.approx(direct.account["unrealized_pnl"] - m.total_fees)


def test_no_open_trade_is_null_in_json(tmp_path: Path) -> None:
    args = ["backtest", "--strategy", f"{__name__}:Idle", "--data", "sample", "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["open_trades"] is None


def test_a_file_of_bar_and_quote_columns_is_read_as_quotes_as_documented(tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume,bid,ask\n"
        "2024-01-01T00:00:00Z,1,1,1,1,1,100,101\n"
        "2024-01-01T00:00:01Z,1,1,1,1,1,100,102\n"
    )
    data = load_market_data(path)
    assert data.kind == "quotes" and data.mid().tolist() == [100.5, 101.0]
    args = ["backtest", "--strategy", CROSSOVER, "--data", str(path), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "takes bars but --data holds quotes" in result.output
    assert not (tmp_path / "o").exists()
