"""``Strategy.fills`` kept every fill of the run: a live run (open-ended) grew it without bound.
Under the wall clock each strategy now keeps its latest ``LIVE_FILLS_KEPT`` fills, a replay
(backtest, shadow, paper from a file) every fill, and ``TradingRuntime(fills_kept=)`` says
otherwise; the counts (``fills_total``, the handle's, ``stats``) stay exact."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.runtime import TradingRuntime, trading_runtime
from dita.strategy import Bar, Fill, Quote, Strategy
from dita.venues import ShadowVenue

from .points import quote


class RoundTrips(Strategy[Any]):
    """Buys 1 on a data point when flat, closes on the next: a fill on every data point.
    ``heard`` keeps every fill it is told of, to compare ``fills`` with."""

    data = ("bars", "quotes")

    def on_start(self) -> None:
        self.heard: list[Fill] = []

    def _point(self, asset: str, price: float) -> None:
        if self.busy(asset):
            assert all(o.accepted for o in self.close(asset, price=price))
        else:
            assert self.buy(asset, 1.0, price=price).accepted

    def on_quote(self, item: Quote) -> None:
        self._point(item.asset, item.mid)

    def on_bar(self, item: Bar) -> None:
        self._point(item.asset, item.close)

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


def trading(clock: str, **options: Any) -> tuple[TradingRuntime, RoundTrips]:
    kernel = ExecutionKernel(max_slots=4, venue=ShadowVenue(), kernel_id=f"kept-{clock}")
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel, clock=clock, **options)
    strategy = RoundTrips(name="s")
    runtime.add_strategy(strategy)
    return runtime, strategy


def exact_counts(runtime: TradingRuntime, strategy: RoundTrips, n: int) -> None:
    assert len(strategy.heard) == n
    assert strategy.fills_total == n
    assert runtime.handles["s"].fills == n == runtime.status()[0]["fills"]
    assert runtime.stats["fills"] == n


def test_a_live_run_keeps_each_strategys_latest_fills_and_counts_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trading_runtime, "LIVE_FILLS_KEPT", 4)
    runtime, s = trading("wall")
    assert runtime.fills_kept == 4
    kept = []
    for m in range(30):
        runtime.on_quote(quote(m))
        kept.append(len(s.fills))
    exact_counts(runtime, s, 30)
    # At least the latest 4, trimmed to them when 8 are held: never more than 7.
    assert max(kept) == 7 and min(kept[4:]) == 4
    assert s.fills == s.heard[-len(s.fills) :]


def test_a_replay_keeps_every_fill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trading_runtime, "LIVE_FILLS_KEPT", 4)
    runtime, s = trading("data")
    assert runtime.fills_kept is None
    runtime.run([quote(m) for m in range(30)])
    exact_counts(runtime, s, 30)
    assert s.fills == s.heard


@pytest.mark.parametrize("clock", ["data", "wall"])
def test_fills_kept_says_how_many_under_either_clock(clock: str) -> None:
    runtime, s = trading(clock, fills_kept=3)
    for m in range(20):
        runtime.on_quote(quote(m))
    exact_counts(runtime, s, 20)
    assert 3 <= len(s.fills) < 6
    assert s.fills == s.heard[-len(s.fills) :]


def test_a_backtest_keeps_every_fill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backtest's report counts its fills from its own record; the strategy's list is
    whole too, for what a user reads of it after the run."""
    monkeypatch.setattr(trading_runtime, "LIVE_FILLS_KEPT", 4)
    rows = "".join(f"{i * 60},100,101,99,100,10\n" for i in range(40))
    path = tmp_path / "BTCUSDT_1m.csv"
    path.write_text("timestamp,open,high,low,close,volume\n" + rows)
    strategy = RoundTrips()
    result = run_backtest(strategy, load_market_data(path), BacktestConfig(balance=1e6, fee_rate=0))
    assert result.run_info["fills"] > 8
    assert len(strategy.fills) == strategy.fills_total == result.run_info["fills"]


@pytest.mark.parametrize("kept", [0, -1, 1.5, True, "10", math.inf])
def test_a_bad_fills_kept_is_refused_naming_it(kept: Any) -> None:
    kernel = ExecutionKernel(max_slots=2, venue=ShadowVenue())
    with pytest.raises(ValueError, match=rf"fills_kept={kept!r} must be a positive whole number of fills"):
        TradingRuntime(kernel, fills_kept=kept)
