"""A strategy's name is checked when the strategy is made, naming ``name`` and the value: a
number raised a bare "expected string or bytes-like object" from ``add_strategy``, and a name
holding a NUL byte was taken, the strategy then put in ERROR by its first ``buy`` (its intent
id refused), never trading."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy


@pytest.mark.parametrize("name", [5, b"bot", ["bot"]])
def test_a_name_that_is_not_text_is_a_type_error_naming_it(name: Any) -> None:
    with pytest.raises(TypeError, match=re.escape(f"name={name!r}") + ".*must be a str"):
        Strategy(name=name)


@pytest.mark.parametrize("name", ["   ", "bot\x00", "bot\nsecond line", "bot\t1"])
def test_a_blank_name_or_one_with_control_characters_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValueError) as caught:
        Strategy(name=name)
    assert f"name={name!r}" in str(caught.value)


def test_a_good_name_trades_and_none_or_empty_takes_the_class_name() -> None:
    assert Strategy().name == Strategy(name="").name == "Strategy"
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(), kernel_id="rev-name")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    strategy: Strategy[Any] = Strategy(name="mean reversion é")
    runtime.add_strategy(strategy)
    runtime.on_bar(Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0))
    assert strategy.buy("AAA", 1.0, price=100.0).accepted
    assert strategy.position("AAA") == 1.0
