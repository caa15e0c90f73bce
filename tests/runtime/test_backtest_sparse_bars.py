"""Sparse minute bars (an illiquid asset's: a bar only for minutes with trades) are a minute long,
not the hour their median step is: the gap check judges their steps against the minute, and the
paper venue takes a bar sent on to close a minute after it opened, not at the next bar an hour on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from dita.backtest.data import DataError, load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.strategy import Bar, Fill, Strategy

T0 = 1704067200  # 2024-01-01 00:00 UTC
LATENCY = BacktestConfig(latency_ms=1000, slippage_bps=0, volume_share=1.0)


class _NoParams(BaseModel):
    pass


def _sparse_minute_bars(tmp_path: Path, price_from_01_00: float = 100.0) -> Path:
    """One-minute bars: two in a row at the top of every third hour, one at the others'. The
    steps between them are 60, 3540 and 3600 s, the median 3540 s."""
    times = []
    for h in range(24):
        times.append(T0 + h * 3600)
        if h % 3 == 0:
            times.append(T0 + h * 3600 + 60)
    rows = "".join(
        f"{t},{p},{p},{p},{p},10\n" for t in times for p in [100 if t < T0 + 3600 else price_from_01_00]
    )
    path = tmp_path / "illiquid_1m.csv"
    path.write_text("ts,open,high,low,close,volume\n" + rows)
    return path


class _Fills(Strategy[_NoParams]):
    Params = _NoParams
    data = ("bars",)

    def __init__(self) -> None:
        super().__init__()
        self.fill_times: list[float] = []

    def on_fill(self, fill: Fill) -> None:
        self.fill_times.append(fill.ts)


class _BuysOnTheSecondMinute(_Fills):
    def on_bar(self, bar: Bar) -> None:
        if bar.ts == T0 + 60:
            self.buy(bar.asset, 1.0, price=bar.close)


class _CancelsBeforeTheGap(_Fills):
    """A limit buy at 95 on the 00:00 bar, cancelled on the 00:01 bar (before an hour's gap)."""

    def on_bar(self, bar: Bar) -> None:
        if bar.ts == T0:
            self.buy(bar.asset, 1.0, price=bar.close, limit=95.0)
        if bar.ts == T0 + 60:
            for slot in self.slots():
                assert self.cancel(slot.slot_id).accepted


def test_sparse_minute_bars_are_a_minute_long(tmp_path: Path) -> None:
    assert load_market_data(_sparse_minute_bars(tmp_path), allow_gaps=True).interval == 60.0


def test_sparse_minute_bars_none_of_whose_steps_is_frequent_are_a_minute_long(tmp_path: Path) -> None:
    """A bar every 2.5 hours on average: no step is taken in 1 % of the steps (60 s is taken 17
    times in 1999), and the most common (1920 s) is no bar's length; the shortest taken twice is."""
    rng = np.random.default_rng(0)
    ts = 1.7e9 + np.cumsum(rng.geometric(1 / 150, size=2000) * 60.0)
    path = tmp_path / "illiq_1m.csv"
    rows = "".join(f"{t!r},100,101,99,100,5\n" for t in ts.tolist())
    path.write_text("ts,open,high,low,close,volume\n" + rows)
    assert load_market_data(path, allow_gaps=True).interval == 60.0


def test_minute_bars_an_hour_apart_are_refused_as_gaps_without_allow_gaps(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"row 3: gap in ILLIQUID bars: .* 3540 s apart where bars are 60 s"):
        load_market_data(_sparse_minute_bars(tmp_path))


def test_an_order_with_latency_on_sparse_bars_fills_on_the_next_bar(tmp_path: Path) -> None:
    # Sent on the 00:01 bar: decided at its close (00:02), live 1 s later, so the 01:00 bar's
    # open fills it, not the 02:00 bar's.
    strategy = _BuysOnTheSecondMinute()
    run_backtest(strategy, load_market_data(_sparse_minute_bars(tmp_path), allow_gaps=True), LATENCY)
    assert strategy.fill_times == [T0 + 3600]


def test_an_order_cancelled_before_a_gap_does_not_fill_after_it(tmp_path: Path) -> None:
    # The cancel, asked on the 00:01 bar, is decided at its close (00:02) and reaches the venue
    # 1 s later, long before the 01:00 bar opens at 90, through the limit.
    data = load_market_data(_sparse_minute_bars(tmp_path, price_from_01_00=90.0), allow_gaps=True)
    strategy = _CancelsBeforeTheGap()
    result = run_backtest(strategy, data, LATENCY)
    assert strategy.fill_times == []
    assert result.run_info["fills"] == 0
