"""The example crossover (`dita.examples.crossover`) holds one side of an asset at a time when the
backtest runs with latency: on a cross, `close` cancels a part-filled entry whose cancel the venue
acknowledges a bar later, and the new side waits until that part is exited too."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.examples.crossover import SmaCrossover
from dita.strategy import Bar

T0 = 1_704_067_200  # 2024-01-01 00:00 UTC


class _Watched(SmaCrossover):
    """SmaCrossover, counting the bars after which it holds a long and a short of one asset."""

    def on_start(self) -> None:
        super().on_start()
        self.both_sides = 0

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        # Any slot holding a filled size: a part-filled entry, a position, an exit filling.
        held = {s.side.name for s in self.slots() if s.asset == bar.asset and s.size > 0}
        self.both_sides += len(held) == 2


def _thin_minute_bars(tmp_path: Path) -> Path:
    """Minute bars of volume 0.6: at a 0.06 share, an entry of 0.1 fills over two bars."""
    rng = random.Random(1)
    lines, px = ["ts,open,high,low,close,volume"], 100.0
    for i in range(1500):
        close = px * math.exp(rng.gauss(0, 0.003))
        lines.append(f"{T0 + 60 * i},{px:.4f},{max(px, close):.4f},{min(px, close):.4f},{close:.4f},0.6")
        px = float(f"{close:.4f}")
    path = tmp_path / "AAA_1m.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("latency_ms", [0.0, 1000.0, 30_000.0])
def test_the_crossover_never_holds_a_long_and_a_short_at_once(tmp_path: Path, latency_ms: float) -> None:
    strategy = _Watched({"fast": 3, "slow": 8})
    cfg = BacktestConfig(balance=100_000, latency_ms=latency_ms)
    result = run_backtest(strategy, load_market_data(_thin_minute_bars(tmp_path)), cfg)
    assert result.metrics.trades > 50
    assert strategy.both_sides == 0
