"""NaN for a number parameter is refused, naming it: pydantic's default (``allow_inf_nan``)
takes it, and a strategy comparing against a NaN threshold never trades, without a word.
Infinity stays a value (a bound that is never reached); a model may still allow NaN itself."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dita.strategy import Strategy, validate_params


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_z: float = 2.0
    stop_bps: float | None = None
    weights: list[float] = Field(default_factory=lambda: [1.0])
    max_hold: float = math.inf


class Breakout(Strategy[Thresholds]):
    Params = Thresholds


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"entry_z": float("nan")}, "entry_z"),
        ({"entry_z": "nan"}, "entry_z"),  # `--param entry_z=nan`, taken as text
        ({"stop_bps": float("nan")}, "stop_bps"),
        ({"weights": [0.5, float("nan")]}, "weights"),
    ],
)
def test_nan_for_a_number_parameter_is_refused_naming_it(params: dict[str, object], name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Breakout(params)
    (error,) = caught.value.errors()
    assert error["loc"] == (name,)
    assert error["msg"] == "Input should be a number, not NaN"


def test_infinity_and_numbers_are_still_taken() -> None:
    p = Breakout({"entry_z": 1.5, "max_hold": "inf", "weights": [0.5, 0.5]}).params
    assert (p.entry_z, p.max_hold, p.weights) == (1.5, math.inf, [0.5, 0.5])
    assert math.isnan(Breakout().params.entry_z) is False


def test_a_model_that_allows_nan_itself_gets_it() -> None:
    class Lenient(BaseModel):
        model_config = ConfigDict(allow_inf_nan=True)
        level: float = 0.0

    class Tagged(BaseModel):
        level: float = Field(default=0.0, allow_inf_nan=True)

    for model in (Lenient, Tagged):
        assert math.isnan(validate_params(model, {"level": float("nan")}).level)  # type: ignore[attr-defined]
