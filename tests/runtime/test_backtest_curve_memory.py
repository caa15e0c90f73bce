"""The equity curve, position and metrics after the replay are worked out in place: each step's
new arrays took about 86 bytes a row (0.9 GB for 10M bars), beside the data. The artefacts stay
byte for byte those of the former computation, kept here as the reference."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from dita.backtest import engine, metrics
from dita.backtest.data import MarketData
from dita.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from dita.backtest.report import ARTEFACTS
from dita.examples.crossover import SmaCrossover
from dita.strategy import Quote, Strategy

from .own_process import in_own_process
from .test_backtest_chunks import Idle, _bars

FloatArray = npt.NDArray[np.float64]


# -- the former computation, verbatim: the reference -------------------------------------------


def _old_equity_curve(self: Any, data: MarketData, balance: float) -> tuple[FloatArray, FloatArray]:
    n = len(data)
    rows = np.asarray(self.rows, dtype=np.int64)
    price = data.mid()
    delta = np.zeros(n)
    if len(rows):
        np.add.at(delta, rows, np.asarray(self.cash))
    cash = balance + np.cumsum(delta)
    equity = cash.copy()
    position = np.zeros(n)
    assets = data.assets
    row_asset = np.asarray(data.asset) if len(assets) > 1 else None
    fill_assets = np.asarray(self.assets)
    for asset in assets:
        mask = np.ones(n, dtype=bool) if row_asset is None else row_asset == asset
        idx = np.where(mask, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        last_px = np.where(idx >= 0, price[np.maximum(idx, 0)], 0.0)
        dq = np.zeros(n)
        flat = np.ones(n, dtype=bool)
        if len(rows):
            sel = fill_assets == asset
            np.add.at(dq, rows[sel], np.asarray(self.qty)[sel])
            at = np.full(n, -1)
            np.maximum.at(at, rows[sel], np.flatnonzero(sel))
            np.maximum.accumulate(at, out=at)
            flat = np.where(at >= 0, np.asarray(self.flat)[np.maximum(at, 0)], True)
        qty = np.where(flat, 0.0, np.cumsum(dq))
        qty[np.abs(qty) < 1e-12] = 0.0
        equity += qty * last_px
        position += qty if len(assets) == 1 else np.abs(qty) * last_px
    return equity, position


def _old_drawdown_series(equity: FloatArray, balance: float) -> tuple[FloatArray, FloatArray]:
    peak = np.maximum.accumulate(np.concatenate(([balance], equity)))[1:]
    dd = peak - equity
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(peak > 0, dd / peak, 0.0)
    return dd, frac


def _old_longest_drawdown(ts: FloatArray, dd: FloatArray) -> float:
    n = len(ts)
    if n == 0:
        return 0.0
    under = np.concatenate(([0], (dd > 0).astype(np.int8), [0]))
    edges = np.diff(under)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    if not starts.size:
        return 0.0
    return float((ts[np.minimum(ends, n - 1)] - ts[np.maximum(starts - 1, 0)]).max())


def _old_last_of_each_time(ts: FloatArray) -> npt.NDArray[np.int64]:
    n = len(ts)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    return np.concatenate((np.flatnonzero(np.diff(ts) != 0), [n - 1])).astype(np.int64)


def _old_bucket_ends(ts: FloatArray, period_s: float) -> Any:
    bucket = np.floor(ts / period_s).astype(np.int64)
    return np.flatnonzero(np.diff(bucket)) if len(bucket) > 1 else np.empty(0, dtype=np.int64)


def _the_former_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    import dita.backtest.report as report

    monkeypatch.setattr(engine._Recorder, "equity_curve", _old_equity_curve)
    monkeypatch.setattr(metrics, "drawdown_series", _old_drawdown_series)
    monkeypatch.setattr(report, "drawdown_series", _old_drawdown_series)
    monkeypatch.setattr(metrics, "longest_drawdown", _old_longest_drawdown)
    monkeypatch.setattr(metrics, "last_of_each_time", _old_last_of_each_time)
    monkeypatch.setattr(engine, "last_of_each_time", _old_last_of_each_time)
    old_period_returns = metrics.period_returns

    def period_returns(ts: FloatArray, equity: FloatArray, balance: float, period_s: float = 86_400.0) -> Any:
        if period_s <= 86_400.0 and len(equity):
            last = _old_bucket_ends(ts, period_s)
            closes = np.concatenate((equity[last], equity[-1:]))
            ruin = np.flatnonzero(closes <= 0)
            if ruin.size:
                closes = closes[: ruin[0] + 1]
            return closes / np.concatenate(([balance], closes[:-1])) - 1.0
        return old_period_returns(ts, equity, balance, period_s)

    monkeypatch.setattr(metrics, "period_returns", period_returns)


# -- data ---------------------------------------------------------------------------------------


def _two_assets(n: int) -> MarketData:
    """Two assets' minute bars on one clock, BBB's from the 40th minute (0 before it)."""
    t = np.arange(n, dtype=float)
    rows = [(ts, "AAA", 100 + 5 * np.sin(ts / 9)) for ts in t] + [
        (ts, "BBB", 20 + 2 * np.cos(ts / 7)) for ts in t[40:]
    ]
    rows.sort(key=lambda r: (r[0], r[1]))
    close = np.array([r[2] for r in rows])
    return MarketData(
        kind="bars",
        ts=1_704_067_200.0 + 60.0 * np.array([r[0] for r in rows]),
        asset=[r[1] for r in rows],
        columns={
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": np.full(len(rows), 50.0),
        },
        source="two.csv",
        interval=60.0,
    )


class _QuoteFlipper(Strategy[Any]):
    """Long on every 11th quote, short on every 23rd, closing what it holds on every 7th."""

    data = ("quotes",)

    def on_start(self) -> None:
        self.seen = 0

    def on_quote(self, quote: Quote) -> None:
        self.seen += 1
        if self.seen % 7 == 0:
            self.close(quote.asset, price=quote.bid)
        elif self.seen % 11 == 0:
            self.buy(quote.asset, 0.3, price=quote.ask)
        elif self.seen % 23 == 0:
            self.sell(quote.asset, 0.2, price=quote.bid)


def _quotes(n: int) -> MarketData:
    """Quotes with a repeated time every fifth row (one point a time kept)."""
    step = np.arange(n, dtype=np.float64)
    step[4::5] -= 1.0
    mid = 100.0 + np.sin(np.arange(n) / 5.0)
    return MarketData(
        kind="quotes",
        ts=1_704_067_200.0 + 3_000.0 * step,
        asset=["BTCUSDT"] * n,
        columns={
            "bid": mid - 0.05,
            "ask": mid + 0.05,
            "bid_size": np.full(n, 2.0),
            "ask_size": np.full(n, 2.0),
        },
        source="quotes.csv",
    )


def _cases(sample_bars: MarketData) -> dict[str, tuple[Any, MarketData, BacktestConfig | None]]:
    return {
        "one asset": (lambda: SmaCrossover({"fast": 3, "slow": 8, "trade_size": 0.01}), sample_bars, None),
        "two assets": (
            lambda: SmaCrossover({"fast": 3, "slow": 8, "trade_size": 1.0}),
            _two_assets(400),
            None,
        ),
        "quotes, repeated times": (_QuoteFlipper, _quotes(300), BacktestConfig(fee_rate=0, leverage=None)),
        "blown": (
            lambda: SmaCrossover({"fast": 3, "slow": 8, "trade_size": 1.0}),
            sample_bars,
            BacktestConfig(balance=1_000, fee_rate=0.01, volume_share=1.0, leverage=None),
        ),
    }


@pytest.mark.parametrize("case", ["one asset", "two assets", "quotes, repeated times", "blown"])
def test_the_artefacts_are_byte_for_byte_those_of_the_former_computation(
    sample_bars: MarketData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    make, data, cfg = _cases(sample_bars)[case]
    now = run_backtest(make(), data, cfg)
    with monkeypatch.context() as patched:
        _the_former_computation(patched)
        before = run_backtest(make(), data, cfg)
    assert now.trades and now.trades == before.trades
    assert now.metrics == before.metrics
    for name in ("ts", "equity", "position"):
        a, b = getattr(now, name), getattr(before, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name  # -0.0 and 0.0 told apart
    assert now.position.any() and (now.position == 0).any()
    now.write_report(tmp_path / "now")
    with monkeypatch.context() as patched:
        _the_former_computation(patched)
        before.write_report(tmp_path / "before")
    for name in ARTEFACTS:
        assert (tmp_path / "now" / name).read_bytes() == (tmp_path / "before" / name).read_bytes(), name


def _bytes_a_row_after_the_replay() -> float:
    """Traced: the peak from the end of the replay to the end of run_backtest, over what was held
    before it, a row."""
    n = 100_000
    data = _bars(n)
    after_replay: list[int] = []
    equity_curve = engine._Recorder.equity_curve

    def traced(self: Any, *args: Any) -> Any:
        after_replay.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.reset_peak()
        return equity_curve(self, *args)

    engine._Recorder.equity_curve = traced  # type: ignore[method-assign]
    tracemalloc.start()
    try:
        result = run_backtest(Idle(), data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        engine._Recorder.equity_curve = equity_curve  # type: ignore[method-assign]
    assert result.rows == n and result.ts is data.ts
    return (peak - after_replay[0]) / n


def test_after_the_replay_the_run_adds_few_floats_a_row() -> None:
    # The curve's and the metrics' new arrays were 75 bytes a row; the result's own equity and
    # position are 16 (its times are the data's), the metrics' drawdowns 16 more (42 measured).
    per_row = in_own_process("runtime.test_backtest_curve_memory", "_bytes_a_row_after_the_replay")
    assert per_row < 48, f"{per_row:.1f} bytes a row after the replay"


def test_a_result_keeps_its_curve_in_place(sample_bars: MarketData) -> None:
    result: BacktestResult = run_backtest(
        SmaCrossover({"fast": 3, "slow": 8, "trade_size": 0.01}), sample_bars
    )
    # One float a row each, no copies of the data's times.
    assert result.ts is sample_bars.ts
    assert result.equity.dtype == result.position.dtype == np.float64
    assert len(result.equity) == len(result.position) == len(sample_bars)
