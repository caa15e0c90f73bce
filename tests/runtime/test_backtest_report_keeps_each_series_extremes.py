"""equity.png draws a long run's curve decimated to at most MAX_PLOT_POINTS points, each bucket
keeping the lowest and highest point of every series drawn: the drawdown panel shows the deepest
drawdown metrics.json reports, also where the bucket's lowest equity is not that point."""

from __future__ import annotations

import numpy as np
import pytest

from dita.backtest.metrics import FloatArray, drawdown_series
from dita.backtest.report import MAX_PLOT_POINTS, _decimate


def _a_peak_and_a_fall_inside_one_bucket() -> tuple[FloatArray, FloatArray]:
    # Equity sets a peak of 20,000, falls to 10,000 (50 % under it) and recovers past it, all
    # within a few points: the lowest equity of those points is 9,000, before the peak.
    n = 10_000
    ts = np.arange(n, dtype=float) * 60
    equity = np.full(n, 10_000.0)
    equity[5000:5005] = [9_000, 20_000, 10_000, 25_000, 26_000]
    equity[5005:] = 26_000
    return ts, equity


def test_the_drawdown_panel_shows_the_deepest_drawdown() -> None:
    ts, equity = _a_peak_and_a_fall_inside_one_bucket()
    _, dd_frac = drawdown_series(equity, 10_000)
    x, shown_equity, shown_dd = _decimate(ts, equity, -dd_frac * 100.0)  # as plot_equity calls it
    assert -shown_dd.min() == pytest.approx(dd_frac.max() * 100.0) == 50.0
    assert (shown_equity.min(), shown_equity.max()) == (9_000, 26_000)
    assert len(x) <= MAX_PLOT_POINTS and np.all(np.diff(x) > 0)
