"""An instance of the strategy's ``Params`` model is checked for what can be seen on it: NaN
or infinity for a number, at any depth, is refused naming its path, as in a dict of parameters. A flag
pydantic already read as a number cannot be seen on an instance (the guide says so)."""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dita.strategy import Strategy


class Risk(BaseModel):
    stop_loss: float = 0.0


class Params(BaseModel):
    entry_z: float = 2.0
    levels: list[float] = Field(default_factory=list)
    risk: Risk = Risk()
    by_asset: dict[str, Risk] = Field(default_factory=dict)
    max_hold: float = Field(default=math.inf, allow_inf_nan=True)  # no time limit


class Reverts(Strategy[Params]):
    Params = Params


@pytest.mark.parametrize(
    ("params", "loc", "said"),
    [
        (Params(entry_z=math.nan), ("entry_z",), "NaN"),
        (Params(levels=[0.5, math.nan]), ("levels",), "NaN"),
        (Params(risk=Risk(stop_loss=math.nan)), ("risk", "stop_loss"), "NaN"),
        (Params(by_asset={"BTC": Risk(stop_loss=math.nan)}), ("by_asset", "BTC", "stop_loss"), "NaN"),
        (Params(entry_z=math.inf), ("entry_z",), "infinity"),
        (Params(risk=Risk(stop_loss=-math.inf)), ("risk", "stop_loss"), "-infinity"),
    ],
)
def test_nan_or_infinity_in_a_params_instance_is_refused_naming_its_path(
    params: Params, loc: tuple[object, ...], said: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Reverts(params)
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (loc, f"Input should be a number, not {said}")


def test_an_instance_of_finite_numbers_is_the_strategys_params() -> None:
    params = Params(entry_z=1.5, risk=Risk(stop_loss=0.02))
    assert Reverts(params).params is params  # max_hold's infinity its field allows


def test_an_instance_of_a_model_that_allows_nan_keeps_it() -> None:
    class Lenient(BaseModel):
        model_config = ConfigDict(allow_inf_nan=True)
        level: float = 0.0

    class UsesLenient(Strategy[Lenient]):
        Params = Lenient

    assert math.isnan(UsesLenient(Lenient(level=math.nan)).params.level)
