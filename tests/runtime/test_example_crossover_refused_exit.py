"""The example crossover (`dita.examples.crossover`) holds one position at a time per asset when
the venue rejects or throttles its exit: it entered the new side all the same, and held a long
and a short of one asset at once until the next cross (a hedge nobody asked for), its exit of
the old side never tried again."""

from __future__ import annotations

import pytest

from dita import ExecutionKernel, MockVenueAdapter
from dita.backtest.data import MarketData
from dita.examples.crossover import SmaCrossover
from dita.runtime import TradingRuntime
from dita.strategy import Bar


@pytest.mark.parametrize(
    "venue",
    [
        {"reject_rate": 0.2},
        {"rate_limit_rate": 0.3},
        {"reject_rate": 0.1, "rate_limit_rate": 0.1, "partial_fill_rate": 0.2},
    ],
    ids=["rejects", "rate-limits", "both-and-partial-fills"],
)
def test_a_refused_exit_leaves_no_long_and_short_open_together(
    sample_bars: MarketData, venue: dict[str, float]
) -> None:
    kernel = ExecutionKernel(max_slots=8, venue=MockVenueAdapter(seed=3, **venue), kernel_id="x-refused")
    kernel.set_seed_capital(1e7)
    runtime = TradingRuntime(kernel)
    strategy = SmaCrossover({"fast": 5, "slow": 20})
    runtime.add_strategy(strategy)
    c = sample_bars.columns
    hedged = []
    for i in range(1_500):
        values = (float(c[k][i]) for k in ("open", "high", "low", "close", "volume"))
        runtime.on_bar(Bar(sample_bars.asset[i], float(sample_bars.ts[i]), *values))
        held = {s.side.name for s in strategy.slots() if s.fsm_state.name == "POSITION_OPEN"}
        if len(held) == 2:
            hedged.append(i)
    assert len(strategy.fills) > 50
    assert runtime.status()[0]["status"] == "RUNNING"
    assert hedged == []
