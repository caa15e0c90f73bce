"""``close(asset, price=...)`` with a price no exit can take cancels nothing: it canceled the
trade's resting take-profit (and working entries) first, then its market exit was refused for
the price, and the position was left open with no exit working at all."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues.paper import PaperVenue

T0 = 1.7e9


def holding_with_take_profit() -> tuple[ExecutionKernel, Strategy[Any], int, int]:
    """A strategy holding 1.0 AAA with a limit exit resting above the market, and a limit entry
    resting below it."""
    venue = PaperVenue(slippage_bps=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="rev-close-price")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [venue])
    strategy: Strategy[Any] = Strategy(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(Bar("AAA", T0, 100.0, 101.0, 99.0, 100.0, 10.0))
    held = strategy.buy("AAA", 1.0, price=100.0).slot_id
    runtime.on_bar(Bar("AAA", T0 + 60, 100.0, 101.0, 99.0, 100.0, 10.0))
    assert strategy.exit(held, price=100.0, limit=120.0).accepted
    resting = strategy.buy("AAA", 1.0, price=100.0, limit=80.0).slot_id
    assert kernel.slot_state(held).fsm_state.name == "EXIT_WORKING"
    assert kernel.slot_state(resting).fsm_state.name == "ENTRY_WORKING"
    return kernel, strategy, held, resting


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan"), float("inf"), 2e15])
def test_a_price_no_exit_can_take_cancels_nothing_and_each_refusal_names_it(price: float) -> None:
    kernel, strategy, held, resting = holding_with_take_profit()
    outcomes = strategy.close("AAA", price=price)
    assert len(outcomes) == 2
    for out in outcomes:
        assert not out.accepted and out.diagnostic_code.name == "INVALID_INTENT", out
        assert out.details["field"] == "reference_price"
    # The take-profit and the resting entry still work; the position is as it was.
    assert kernel.slot_state(held).fsm_state.name == "EXIT_WORKING"
    assert kernel.slot_state(resting).fsm_state.name == "ENTRY_WORKING"
    assert strategy.position("AAA") == 1.0


@pytest.mark.parametrize("price", [None, "100", True])
def test_a_price_that_is_no_number_raises_before_anything_is_canceled(price: Any) -> None:
    kernel, strategy, held, resting = holding_with_take_profit()
    with pytest.raises(TypeError, match="reference_price"):
        strategy.close("AAA", price=price)
    assert kernel.slot_state(held).fsm_state.name == "EXIT_WORKING"
    assert kernel.slot_state(resting).fsm_state.name == "ENTRY_WORKING"


def test_a_good_price_still_closes_everything() -> None:
    kernel, strategy, held, resting = holding_with_take_profit()
    assert all(o.accepted for o in strategy.close("AAA", price=100.0))
    assert kernel.slot_state(resting).fsm_state.name in ("IDLE", "CLOSED")
    slot = kernel.slot_state(held)
    order = slot.active_exit_order
    assert order is not None and order.order_type.name == "MARKET" and order.size == 1.0  # all of it
