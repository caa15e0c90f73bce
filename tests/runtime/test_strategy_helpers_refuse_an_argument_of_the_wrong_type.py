"""A strategy helper refuses an argument of the wrong type with a TypeError naming it, before
anything is sent, as ``buy`` refuses a size that is no number: ``exit(leg="no")`` sent a leg
exit (read by its truth), and ``close(5)`` answered that there was nothing to close."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


class Idle(Strategy[Any]):
    pass


def holding_one() -> tuple[ExecutionKernel, Idle]:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(), kernel_id="wrong-type")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    strategy = Idle(name="a")
    runtime.add_strategy(strategy)
    runtime.start()
    runtime.on_bar(BAR)
    assert strategy.buy("AAA", 1.0, price=100.0, exit_leg_ratios=(0.5, 0.5)).accepted
    return kernel, strategy


@pytest.mark.parametrize("leg", ["no", None, 0.5, 2], ids=repr)
def test_an_exit_whose_leg_is_no_flag_is_a_type_error_naming_it_and_sends_nothing(leg: Any) -> None:
    kernel, strategy = holding_one()
    seq = kernel.seq
    with pytest.raises(
        TypeError, match=rf"^exit\(\): leg must be True or False .*, got {type(leg).__name__}"
    ):
        strategy.exit(0, price=100.0, leg=leg)
    assert kernel.seq == seq and strategy.position("AAA") == 1.0


def test_an_exit_whose_leg_is_0_or_1_is_read_as_the_flag_it_is() -> None:
    _, strategy = holding_one()
    assert strategy.exit(0, price=100.0, leg=1).accepted
    assert strategy.position("AAA") == 0.5  # the first leg, half of it


CALLS: dict[str, Callable[[Idle, Any], object]] = {
    "position": lambda s, asset: s.position(asset),
    "busy": lambda s, asset: s.busy(asset),
    "close": lambda s, asset: s.close(asset, price=100.0),
}


@pytest.mark.parametrize("asset", [5, ["AAA"], None], ids=repr)
@pytest.mark.parametrize("call", CALLS)
def test_an_asset_that_is_no_name_is_a_type_error_naming_it(call: str, asset: Any) -> None:
    kernel, strategy = holding_one()
    seq = kernel.seq
    with pytest.raises(TypeError, match=rf"^{call}\(\): asset must be a str \(an asset name\), got"):
        CALLS[call](strategy, asset)
    assert kernel.seq == seq and strategy.position("AAA") == 1.0
