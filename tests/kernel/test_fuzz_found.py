"""Defects found by fuzzing the bindings with hostile Python objects (tests/kernel/
fuzz_bindings.py). Each stays as a regression test."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel

Call = Callable[[ExecutionKernel, Any], Any]

# Every call that reads a config dict's numbers or a bare number the same way.
NUMBER_CALLS: list[tuple[str, Call]] = [
    ("taker_rate", lambda k, v: k.set_exchange_config({"taker_rate": v, "lot_step": 0.001})),
    ("lot_step", lambda k, v: k.set_market_limits("BTCUSDT", {"lot_step": v, "min_qty": 0.001})),
    ("max_leverage", lambda k, v: k.set_risk_limits({"max_leverage": v, "regime": "NEUTRAL"})),
    ("capital", lambda k, v: k.set_seed_capital(v)),
    ("price", lambda k, v: k.mark_price("BTCUSDT", v)),
    ("qty", lambda k, v: k.calibrate_fee(100.0, v, 0.05)),
]


def kernel_with_a_position() -> ExecutionKernel:
    k = ExecutionKernel(max_slots=2, kernel_id="fuzz-found")
    k.set_seed_capital(10_000.0)
    assert k.process_intent(intent("ENTER", 0)).accepted
    return k


class GrowsItsDict(int):
    """An int that, read as a number, adds keys to the dict it was passed in."""

    grows: dict[str, Any]

    def __float__(self) -> float:
        self.grows.update({f"added{i}": 1.0 for i in range(4)})
        return float(int(self))


@pytest.mark.parametrize(
    ("config", "call"),
    [
        ({"taker_rate": 0, "lot_step": 0.001}, lambda k, c: k.set_exchange_config(c)),
        ({"lot_step": 1, "min_qty": 0.001}, lambda k, c: k.set_market_limits("BTCUSDT", c)),
        ({"max_leverage": 3, "regime": "NEUTRAL"}, lambda k, c: k.set_risk_limits(c)),
    ],
)
def test_a_value_that_changes_its_config_dict_while_read_does_not_panic(
    config: dict[str, Any], call: Call
) -> None:
    """A value whose __float__ added keys to the config dict being read made PyO3's dict
    iterator panic: a PanicException (a BaseException, past `except Exception`) out of
    set_exchange_config, set_market_limits and set_risk_limits. The dict is read as it was
    when the call began: the keys it gained are not read (here they would be refused as
    unknown fields)."""
    kernel = kernel_with_a_position()
    first = next(iter(config))
    value = GrowsItsDict(config[first])
    value.grows = config
    config[first] = value
    call(kernel, config)  # applied: the value reads as the number it is
    assert "added0" in config  # the value did change the dict under the reader


class FloatRaises(int):
    def __float__(self) -> float:
        raise RuntimeError("no float here")


class FloatIsText(int):
    def __float__(self) -> Any:
        return "1.0"


@pytest.mark.parametrize(("field", "call"), NUMBER_CALLS)
@pytest.mark.parametrize(
    ("value", "why"),
    [(FloatRaises(1), "no float here"), (FloatIsText(1), "returned non-float")],
    ids=["float-raises", "float-is-text"],
)
def test_a_number_that_cannot_be_read_is_not_called_too_large(
    field: str, call: Call, value: Any, why: str
) -> None:
    """An int subclass whose __float__ raised or returned text was refused as "1 (must be at
    most 1e15 in magnitude)": a number too large, which 1 is not, and its own error lost. It
    is a TypeError naming the field and the value, with the reason, and nothing changes."""
    kernel = kernel_with_a_position()
    before = kernel.snapshot()
    pattern = rf"^invalid {field}: {type(value).__name__} 1 could not be read as a number: .*{why}"
    with pytest.raises(TypeError, match=pattern) as info:
        call(kernel, value)
    assert "1e15" not in str(info.value)
    assert info.value.__cause__ is not None
    assert kernel.snapshot() == before


def test_an_int_too_large_for_a_float_is_still_called_too_large() -> None:
    kernel = kernel_with_a_position()
    with pytest.raises(ValueError, match=re.escape("(must be at most 1e15 in magnitude)")):
        kernel.set_seed_capital(10**400)
