"""NaN or infinity for a number parameter is refused, naming it: pydantic's default
(``allow_inf_nan``) takes both, and a strategy comparing against a NaN threshold, or one of
infinity (`close > entry * (1 + take_profit)` never holds), never trades, without a word; a
typo such as ``--param take_profit=1e400`` reads as infinity. A model or field may still allow
them itself."""

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
    max_hold: float = Field(default=math.inf, allow_inf_nan=True)  # never: no time limit


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


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (math.inf, "infinity"),
        (-math.inf, "-infinity"),
        ("inf", "infinity"),
        ("1e400", "infinity"),
        (1e400, "infinity"),
    ],
    ids=["inf", "-inf", "inf-text", "1e400-text", "1e400"],
)
def test_infinity_for_a_number_parameter_is_refused_as_nan_is(value: object, said: str) -> None:
    for params, loc in (({"entry_z": value}, ("entry_z",)), ({"weights": [0.5, value]}, ("weights",))):
        with pytest.raises(ValidationError) as caught:
            Breakout(params)
        (error,) = caught.value.errors()
        assert (error["loc"], error["msg"], error["input"]) == (
            loc,
            f"Input should be a number, not {said}",
            params[loc[0]],
        )


def test_an_instance_holding_infinity_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="entry_z"):
        Breakout(Thresholds(entry_z=math.inf))


def test_numbers_and_infinity_where_the_field_allows_it_are_taken() -> None:
    p = Breakout({"entry_z": 1.5, "max_hold": "inf", "weights": [0.5, 0.5]}).params
    assert (p.entry_z, p.max_hold, p.weights) == (1.5, math.inf, [0.5, 0.5])
    assert math.isnan(Breakout().params.entry_z) is False


def test_a_model_or_field_that_allows_nan_and_infinity_itself_gets_them() -> None:
    class Lenient(BaseModel):
        model_config = ConfigDict(allow_inf_nan=True)
        level: float = 0.0

    class Tagged(BaseModel):
        level: float = Field(default=0.0, allow_inf_nan=True)

    for model in (Lenient, Tagged):
        assert math.isnan(validate_params(model, {"level": float("nan")}).level)  # type: ignore[attr-defined]
        assert validate_params(model, {"level": "inf"}).level == math.inf  # type: ignore[attr-defined]


class _NoStop(BaseModel):
    size: float = 1.0
    stop_pct: float = math.inf  # "no stop": the author's default, pydantic's allow_inf_nan left as is


class _Sized(Strategy[_NoStop]):
    Params = _NoStop


@pytest.mark.parametrize("params", [{}, {"size": 2.0}, _NoStop(), _NoStop(size=2.0)])
def test_a_default_of_infinity_the_author_chose_is_taken_when_not_given(params: object) -> None:
    assert _Sized(params).params.stop_pct == math.inf  # type: ignore[arg-type]


def test_infinity_given_to_a_field_whose_default_is_infinity_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="stop_pct"):
        _Sized(_NoStop(stop_pct=math.inf))
    with pytest.raises(ValidationError, match="stop_pct"):
        _Sized({"stop_pct": "inf"})
