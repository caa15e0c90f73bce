"""Orders the paper venue rejects in a backtest (one for an asset the data does not hold) are
counted in the run's artefacts with their reasons. The kernel takes such an intent and the
venue refuses its order at once, so the strategy's outcome is accepted and the slot is free
again: the run read as one that chose not to trade."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from dita.strategy import Bar, Strategy


class _Asset(BaseModel):
    asset: str = "ETHUSDT"


class _BuysEveryBar(Strategy[_Asset]):
    """Buys one unit of ``asset`` on every bar it is free to, keeping each outcome."""

    Params = _Asset
    data = ("bars",)

    def on_start(self) -> None:
        self.outcomes: list = []

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(self.params.asset):
            self.outcomes.append(self.buy(self.params.asset, 1.0, price=bar.close))


def _run(tmp_path: Path, asset: str) -> tuple[_BuysEveryBar, BacktestResult]:
    path = tmp_path / "BTCUSDT.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        + "".join(f"{1704067200 + 60 * i},100,110,90,100,1000\n" for i in range(3))
    )
    strategy = _BuysEveryBar({"asset": asset})
    return strategy, run_backtest(strategy, load_market_data(path), BacktestConfig(max_slots=1))


def test_orders_for_an_asset_without_data_are_counted_with_the_reason(tmp_path: Path) -> None:
    strategy, result = _run(tmp_path, "ETHUSDT")
    # Each order: the venue's REJECT naming the asset and the assets the data holds; the
    # slot is free again, nothing was held or filled.
    assert len(strategy.outcomes) == 3
    for outcome in strategy.outcomes:
        assert outcome.state.name == "IDLE"
        [reject] = [e for e in outcome.emitted_events if e.kind.name == "REJECT"]
        assert reject.reason == "unknown asset 'ETHUSDT': paper lists BTCUSDT only"
    assert strategy.ctx.kernel.free_slot_id() == 0 and result.run_info["fills"] == 0
    info = result.run_info
    assert info["orders_rejected"] == 3
    assert info["rejections"] == "3 x unknown asset 'ETHUSDT': paper lists BTCUSDT only"

    paths = result.write_report(tmp_path / "out")
    run = json.loads(paths["metrics.json"].read_text())["run"]
    assert run["orders_rejected"] == 3 and run["rejections"] == info["rejections"]
    page = paths["report.html"].read_text()
    assert "<tr><th>orders_rejected</th><td>3</td></tr>" in page
    assert "3 x unknown asset &#x27;ETHUSDT&#x27;: paper lists BTCUSDT only" in page


def test_a_run_without_rejections_says_none(tmp_path: Path) -> None:
    _, result = _run(tmp_path, "BTCUSDT")
    assert result.run_info["fills"] == 1
    assert result.run_info["orders_rejected"] == 0
    assert "rejections" not in result.run_info


class _BuysSevenUnknownAssets(Strategy[_Asset]):
    """Buys one unit of each of seven assets the data does not hold, on the first bar."""

    Params = _Asset
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if bar.ts == 1704067200:
            for n in range(7):
                self.buy(f"NOPE{n}", 1.0, price=bar.close)


def test_the_rejections_name_five_reasons_and_count_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT.csv"
    path.write_text("ts,open,high,low,close,volume\n1704067200,100,110,90,100,1000\n")
    result = run_backtest(_BuysSevenUnknownAssets(), load_market_data(path), BacktestConfig())
    assert result.run_info["orders_rejected"] == 7
    reasons = result.run_info["rejections"].split("; ")
    assert reasons[:5] == [f"1 x unknown asset 'NOPE{n}': paper lists BTCUSDT only" for n in range(5)]
    assert reasons[5:] == ["2 for other reasons"]
