"""An order the kernel works on a trade no strategy of the runtime owns (placed through the
gateway on the same kernel, left by a strategy renamed or removed across a restart, an ENTER
built by hand) counts as working: the paper venue is handed every bar while it rests, and it
fills on the bar that reaches its price, as when every bar is handed over at once."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent
from dita.backtest.engine import BacktestConfig
from dita.runtime import TradingRuntime
from dita.strategy import Bar

T0 = 1.7e9


def bar(minute: int, low: float) -> Bar:
    return Bar("AAA", T0 + 60 * minute, 100.0, 101.0, low, 100.0, 10.0)


def a_kernel_on_paper() -> tuple[ExecutionKernel, Any]:
    config = BacktestConfig(balance=100_000.0, fee_rate=0.0, max_slots=2)
    venue = config.paper_venue(["AAA"], bar_seconds=60.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="unowned")
    config.set_up(kernel, source="test")
    return kernel, venue


def rest_a_limit_buy_at_95(kernel: ExecutionKernel, trade_id: str, ts: float) -> None:
    """An ENTER sent to the kernel itself, not through the runtime."""
    intent = KernelIntent(
        f"{trade_id}-i1",
        trade_id,
        0,
        "AAA",
        "LONG",
        "ENTER",
        100.0,
        1.0,
        order_type="LIMIT",
        limit_price=95.0,
        timestamp=ts,
    )
    assert kernel.process_intent(intent).accepted
    assert len(kernel.open_orders()) == 1


def filled_on_the_bar_reaching_95(runtime: TradingRuntime, kernel: ExecutionKernel, first: int) -> None:
    runtime.on_bar(bar(first, 94.0))  # reaches 95
    runtime.on_bar(bar(first + 1, 99.0))  # the last bar of the asset: above the limit
    runtime.finish()
    assert kernel.open_orders() == []
    assert kernel.slot_state(0).fsm_state.name != "IDLE"


@pytest.mark.parametrize("defer", [True, False], ids=["deferred", "every-bar"])
def test_an_order_sent_to_the_kernel_between_bars_fills_on_the_bar_reaching_its_price(defer: bool) -> None:
    kernel, venue = a_kernel_on_paper()
    runtime = TradingRuntime(kernel, [venue], defer_venue_data=defer)
    runtime.start()
    runtime.on_bar(bar(0, 99.0))
    runtime.sync_venues()  # the venue has the mark the order is checked against
    rest_a_limit_buy_at_95(kernel, "op-t1", T0 + 1)
    filled_on_the_bar_reaching_95(runtime, kernel, 1)


def test_an_order_working_when_the_runtime_is_built_fills_on_the_bar_reaching_its_price() -> None:
    kernel, venue = a_kernel_on_paper()
    before = TradingRuntime(kernel, [venue])
    before.start()
    before.on_bar(bar(0, 99.0))
    before.sync_venues()
    rest_a_limit_buy_at_95(kernel, "gone-t1", T0 + 1)  # a strategy's trade, run no more
    runtime = TradingRuntime(kernel, [venue])  # as after a restart on the kernel's log
    runtime.start()
    filled_on_the_bar_reaching_95(runtime, kernel, 1)
