"""``RiskLimits`` and ``MarketLimits`` take numbers as numbers: "100" was read as a limit of 100.0, where the
kernel's ``set_risk_limits`` refuses text ("must be a number or None"), so a limit written as
text in a config passed the model that is there to check it. Each field refuses what it cannot
mean, naming the field and the value."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from pydantic import ValidationError

from dita import ExecutionKernel
from dita.risk import MarketLimits, RiskLimits

NUMBER_FIELDS = (
    "max_leverage",
    "max_notional_per_asset",
    "max_notional_total",
    "max_order_rate",
    "edge_freeze_threshold_bps",
)


def refused(field: str, value: object) -> str:
    with pytest.raises(ValidationError) as raised:
        RiskLimits(**{field: value})
    (error,) = raised.value.errors()
    assert error["loc"] == (field,), error
    message = str(raised.value)
    assert field in message, message
    return message


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", ["100", "5", " 2 ", "1e3", b"3", bytearray(b"3")])
def test_a_number_written_as_text_is_refused_naming_field_and_value(field: str, value: object) -> None:
    message = refused(field, value)
    assert repr(value) in message and "is text, not a number" in message, message


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", [True, False, np.bool_(True), math.nan, math.inf, -math.inf])
def test_flags_and_numbers_that_are_not_finite_are_refused(field: str, value: object) -> None:
    message = refused(field, value)
    assert str(value) in message, message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_leverage", -1.0),
        ("max_leverage", 0),
        ("max_notional_per_asset", -5.0),
        ("max_notional_per_asset", 0.0),
        ("max_notional_total", -5),
        ("max_order_rate", -1),
        ("max_order_rate", 0.5),
    ],
)
def test_values_the_limit_cannot_mean_are_refused(field: str, value: float) -> None:
    assert repr(value) in refused(field, value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("regime", 1),
        ("regime", b"BULL"),
        ("regime", "bull"),
        ("require_source_run_in_live", "true"),
        ("require_source_run_in_live", 2),
        ("require_source_run_in_live", 1.0),
    ],
)
def test_the_other_fields_refuse_what_is_not_theirs(field: str, value: object) -> None:
    message = refused(field, value)
    assert repr(value).strip("'") in message, message


@pytest.mark.parametrize(
    ("field", "value", "taken"),
    [
        ("max_leverage", 3, 3.0),
        ("max_leverage", np.float32(2.5), 2.5),
        ("max_order_rate", np.int64(5), 5.0),
        ("max_notional_total", Decimal("100"), 100.0),
        ("edge_freeze_threshold_bps", -2.5, -2.5),  # a negative edge is a threshold
        ("max_leverage", None, None),
    ],
)
def test_numbers_of_any_numeric_type_are_still_taken(field: str, value: object, taken: float | None) -> None:
    limits = RiskLimits(**{field: value})
    assert getattr(limits, field) == taken
    ExecutionKernel(max_slots=1, kernel_id="risk-types").set_risk_limits(limits.model_dump())


def test_a_refused_limit_changes_nothing_in_the_kernel() -> None:
    kernel = ExecutionKernel(max_slots=1, kernel_id="risk-types-kept")
    kernel.set_risk_limits(RiskLimits(max_leverage=2).model_dump())
    before = kernel.risk_limits()
    assert before["max_leverage"] == 2.0
    with pytest.raises(ValidationError, match="max_leverage"):
        kernel.set_risk_limits(RiskLimits(max_leverage="100").model_dump())  # type: ignore[arg-type]
    assert kernel.risk_limits() == before


MARKET_FIELDS = ("lot_step", "tick_size", "min_qty", "min_notional")


@pytest.mark.parametrize("field", MARKET_FIELDS)
@pytest.mark.parametrize("value", ["0.01", b"1", True])
def test_a_market_rule_written_as_text_or_a_flag_is_refused(field: str, value: object) -> None:
    """A market's rules went to the kernel as what pydantic made of "0.01"; venues that read
    them from an exchange's answer convert each figure themselves, naming it."""
    with pytest.raises(ValidationError) as raised:
        MarketLimits(**{field: value})
    (error,) = raised.value.errors()
    assert error["loc"] == (field,), error
    assert repr(value) in str(raised.value), str(raised.value)


@pytest.mark.parametrize("value", [0.01, 1, np.float64(0.5), Decimal("0.25")])
def test_a_market_rule_of_any_numeric_type_is_taken(value: object) -> None:
    assert MarketLimits(lot_step=value).lot_step == float(value)  # type: ignore[arg-type]
