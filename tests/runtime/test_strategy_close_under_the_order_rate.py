"""``Strategy.close`` closes every trade of an asset at once, one market exit of the whole
position per slot, each its slot's first since a fill: the order-rate rule neither refuses nor
counts them, so a rate of 2 a second
closes three positions, and the entries after them still get the whole rate."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel
from dita.risk import RiskLimits
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues.paper import PaperVenue

T0 = 1.7e9


def test_close_exits_three_trades_under_a_rate_of_two() -> None:
    venue = PaperVenue(slippage_bps=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=6, venue=venue, kernel_id="close-rate")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [venue])
    strategy: Strategy[Any] = Strategy(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(Bar("AAA", T0, 100.0, 101.0, 99.0, 100.0, 10.0))
    for _ in range(3):
        assert strategy.buy("AAA", 1.0, price=100.0).accepted
    runtime.on_bar(Bar("AAA", T0 + 60, 100.0, 101.0, 99.0, 100.0, 10.0))
    assert strategy.position("AAA") == 3.0
    kernel.set_risk_limits(RiskLimits(max_order_rate=2).model_dump())
    outcomes = strategy.close("AAA", price=100.0)
    assert [o.accepted for o in outcomes] == [True, True, True], [o.details for o in outcomes]
    # The same second: the closes took nothing of the rate.
    entries = [strategy.buy("AAA", 1.0, price=100.0) for _ in range(3)]
    assert [o.accepted for o in entries] == [True, True, False]
    assert entries[2].details["rule"] == "max_order_rate"
    runtime.on_bar(Bar("AAA", T0 + 120, 100.0, 101.0, 99.0, 100.0, 10.0))
    assert strategy.position("AAA") == 2.0  # the three closed, the two new entries filled
