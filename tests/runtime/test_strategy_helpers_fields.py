"""The entry helpers take the intent's fields by their own keywords: an intent field passed
as free metadata (``limit_price=``, ``order_type=``, ``leverage=``) is refused instead of
sending a market order that ignores it, and a trade's exit legs can be set and exited."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


def attached(venue: MockVenueAdapter | None = None) -> tuple[ExecutionKernel, Strategy[Any]]:
    kernel = ExecutionKernel(max_slots=4, venue=venue or MockVenueAdapter(), kernel_id="rev-fields")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    strategy: Strategy[Any] = Strategy(name="s")
    runtime.add_strategy(strategy)
    runtime.start()
    runtime.on_bar(BAR)
    return kernel, strategy


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("limit_price", 90.0),
        ("order_type", "LIMIT"),
        ("leverage", 5.0),
        ("target_size", 2.0),
        ("side", "SHORT"),
        ("slot_id", 3),
        ("timestamp", 1.0),
    ],
)
def test_an_intent_field_passed_as_metadata_is_refused(keyword: str, value: object) -> None:
    kernel, strategy = attached(MockVenueAdapter(fill_rate=0.0))
    with pytest.raises(TypeError, match=keyword):
        strategy.buy("AAA", 1.0, price=100.0, **{keyword: value})
    with pytest.raises(TypeError, match=keyword):
        strategy.sell("AAA", 1.0, price=100.0, **{keyword: value})
    # Nothing was sent: no slot holds a trade.
    assert not strategy.busy("AAA")
    assert all(kernel.slot_state(i).fsm_state.name == "IDLE" for i in range(4))


def test_other_metadata_still_goes_to_the_slot() -> None:
    kernel, strategy = attached()
    out = strategy.buy("AAA", 1.0, price=100.0, signal="breakout", score=2.5)
    assert out.accepted
    # Next to the name of the strategy whose trade it is, which the runtime stamps on each ENTER.
    assert kernel.slot_state(out.slot_id).metadata == {"signal": "breakout", "score": 2.5, "strategy": "s"}


def test_exit_legs_set_at_entry_and_exited_one_by_one() -> None:
    kernel, strategy = attached()
    out = strategy.buy("AAA", 1.0, price=100.0, exit_leg_ratios=(0.25, 0.75))
    assert out.accepted
    sid = out.slot_id
    assert kernel.slot_state(sid).exit_leg_ratios == (0.25, 0.75)
    assert strategy.exit(sid, price=100.0, leg=True).accepted
    assert strategy.position("AAA") == pytest.approx(0.75)
    assert kernel.slot_state(sid).active_leg_index == 1
    assert strategy.exit(sid, price=100.0, leg=True).accepted
    assert strategy.position("AAA") == 0.0
    assert kernel.slot_state(sid).fsm_state.name == "CLOSED"


def test_exit_without_leg_still_exits_the_whole_position() -> None:
    _, strategy = attached()
    out = strategy.sell("AAA", 1.0, price=100.0, exit_leg_ratios=(0.5, 0.5))
    assert out.accepted
    assert strategy.exit(out.slot_id, price=100.0).accepted
    assert strategy.position("AAA") == 0.0


def test_close_replaces_a_working_market_leg_with_the_whole_position() -> None:
    """``close`` left a working market exit to fill, a leg's too: it sent nothing (``[]``) and
    once the leg filled half the trade stayed open, which ``close`` promises to exit."""
    from dita.venues.paper import PaperVenue

    venue = PaperVenue(assets=["AAA"], slippage_bps=0.0, bar_seconds=60.0)
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="rev-close-leg")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [venue])
    strategy: Strategy[Any] = Strategy(name="s")
    runtime.add_strategy(strategy)
    runtime.start()
    bars = (Bar("AAA", 1.7e9 + 60.0 * i, 100.0, 101.0, 99.0, 100.0, 1e6) for i in range(4))
    runtime.on_bar(next(bars))
    sid = strategy.buy("AAA", 1.0, price=100.0, exit_leg_ratios=(0.5, 0.5)).slot_id
    runtime.on_bar(next(bars))  # the entry fills at this bar's open
    assert strategy.position("AAA") == 1.0
    assert strategy.exit(sid, price=100.0, leg=True).state.name == "EXIT_WORKING"  # 0.5, at market
    outcomes = strategy.close("AAA", price=100.0)
    assert [o.accepted for o in outcomes] == [True, True]  # the leg canceled, the whole sent
    exit_order = kernel.slot_state(sid).active_exit_order
    assert exit_order is not None and exit_order.size == 1.0
    runtime.on_bar(next(bars))
    assert strategy.position("AAA") == 0.0 and not strategy.busy("AAA")
    assert [f.size for f in strategy.fills] == [1.0, 1.0]
    # A market exit of the whole position is left to fill, as before.
    sid = strategy.buy("AAA", 1.0, price=100.0).slot_id
    runtime.on_bar(next(bars))
    assert strategy.exit(sid, price=100.0).accepted
    assert strategy.close("AAA", price=100.0) == []
