"""The runtime's settings set after it is made are checked as the constructor checks them: an
unchecked ``fills_kept`` of "5" raised inside the routing of a venue's fills (the strategy's
``on_fill`` never ran), and a ``poll_interval`` of inf stopped the polls that bring a live run
its fills. A value refused names the setting and changes nothing."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import LIVE_FILLS_KEPT, TradingRuntime
from dita.strategy import Bar, Fill, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


class Hears(Strategy[Any]):
    def on_start(self) -> None:
        self.heard: list[Fill] = []

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


def running(**settings: Any) -> tuple[TradingRuntime, Hears]:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="settings-set-later")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [], **settings)
    strategy = Hears(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(BAR)
    return runtime, strategy


def made(**settings: Any) -> TradingRuntime:
    return TradingRuntime(ExecutionKernel(max_slots=1, kernel_id="settings-made"), [], **settings)


@pytest.mark.parametrize("bad", ["5", 0, -1, 2.5, True, math.inf])
def test_a_bad_fills_kept_set_later_is_refused_as_the_constructor_refuses_it(bad: object) -> None:
    said = rf"fills_kept={re_of(bad)} must be a positive whole number of fills"
    with pytest.raises(ValueError, match=said):
        made(fills_kept=bad)
    runtime, _ = running()
    with pytest.raises(ValueError, match=said):
        runtime.fills_kept = bad  # type: ignore[assignment]
    assert runtime.fills_kept is None


def test_a_fill_after_a_refused_fills_kept_reaches_the_strategy() -> None:
    runtime, strategy = running()
    with pytest.raises(ValueError, match="fills_kept"):
        runtime.fills_kept = "5"  # type: ignore[assignment]
    assert strategy.buy("AAA", 1.0, price=100.0).accepted
    assert [f.side for f in strategy.heard] == ["BUY"]


def test_fills_kept_set_later_keeps_what_it_says() -> None:
    runtime, _ = running(clock="wall")
    runtime.fills_kept = 3
    assert runtime.fills_kept == 3
    runtime.fills_kept = None  # the clock's default, as in the constructor
    assert runtime.fills_kept == LIVE_FILLS_KEPT


@pytest.mark.parametrize("bad", [math.inf, math.nan, 0.0, -1.0, "2", True])
def test_a_bad_poll_interval_set_later_is_refused_as_the_constructor_refuses_it(bad: object) -> None:
    said = rf"poll_interval={re_of(bad)} must be a positive finite number of seconds"
    with pytest.raises(ValueError, match=said):
        made(poll_interval=bad)
    runtime, _ = running(clock="wall")
    with pytest.raises(ValueError, match=said):
        runtime.poll_interval = bad  # type: ignore[assignment]
    assert runtime.poll_interval == 1.0
    runtime.poll_interval = 2
    assert runtime.poll_interval == 2.0 and type(runtime.poll_interval) is float


@pytest.mark.parametrize("bad", ["false", None, 2, 0.0])
def test_a_defer_venue_data_that_is_no_flag_is_refused_naming_it(bad: object) -> None:
    said = rf"defer_venue_data={re_of(bad)} must be True or False"
    with pytest.raises(TypeError, match=said):
        made(defer_venue_data=bad)
    runtime, _ = running()
    with pytest.raises(TypeError, match=said):
        runtime.defer_venue_data = bad  # type: ignore[assignment]
    assert runtime.defer_venue_data is True
    runtime.defer_venue_data = 0  # type: ignore[assignment]
    assert runtime.defer_venue_data is False


def re_of(value: object) -> str:
    return re.escape(repr(value))
