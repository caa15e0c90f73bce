"""A parameter typed as a dataclass (stdlib or pydantic) or a TypedDict is read with the care a
model-typed one gets: a misspelt name, NaN or a flag for a number inside it is refused, naming
its path. Left to pydantic's default, ``{"dc": {"stop_los": 0.02}}`` ran on the default stop."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NotRequired

import pydantic.dataclasses
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, with_config
from pydantic.alias_generators import to_camel
from typing_extensions import TypedDict

from dita.strategy import Strategy, validate_params


class RiskTD(TypedDict, total=False):
    stop_loss: float
    levels: list[float]


@with_config(ConfigDict(extra="allow"))
class TagsTD(TypedDict, total=False):
    level: float


@dataclasses.dataclass
class RiskDC:
    stop_loss: float = 0.0


@pydantic.dataclasses.dataclass
class StopPDC:
    stop_loss: float = Field(0.0, alias="sl")


@pydantic.dataclasses.dataclass(config=ConfigDict(extra="allow"))
class TagsPDC:
    level: float = 1.0


class Params(BaseModel):
    td: RiskTD = {}
    dc: RiskDC = RiskDC()
    pdc: StopPDC = StopPDC()
    legs: list[RiskDC] = []
    by_asset: dict[str, RiskTD] = {}
    tags_td: TagsTD = {}
    tags_dc: TagsPDC = TagsPDC()


class WithDataclasses(Strategy[Params]):
    Params = Params


NAN = "Input should be a number, not NaN"
FLAG = "Input should be a number, not true or false"


@pytest.mark.parametrize(
    ("params", "loc", "msg"),
    [
        ({"td": {"stop_los": 0.02}}, ("td", "stop_los"), "unknown name; RiskTD takes stop_loss, levels"),
        ({"dc": {"stop_los": 0.02}}, ("dc", "stop_los"), "unknown name; RiskDC takes stop_loss"),
        ({"pdc": {"stop_loss": 0.02}}, ("pdc", "stop_loss"), "unknown name; StopPDC takes sl"),
        ({"dc": {"stop_loss": math.nan}}, ("dc", "stop_loss"), NAN),
        ({"dc": {"stop_loss": True}}, ("dc", "stop_loss"), FLAG),
        ({"pdc": {"sl": "nan"}}, ("pdc", "sl"), NAN),
        ({"td": {"stop_loss": math.nan}}, ("td", "stop_loss"), NAN),  # told once, at its path
        ({"td": {"levels": [0.5, True]}}, ("td", "levels"), FLAG),
        ({"td": {"levels": [0.5, "1e400"]}}, ("td", "levels"), "Input should be a number, not infinity"),
        ({"legs": [{}, {"stop_los": 1}]}, ("legs", 1, "stop_los"), "unknown name; RiskDC takes stop_loss"),
        ({"by_asset": {"BTC": {"stop_loss": False}}}, ("by_asset", "BTC", "stop_loss"), FLAG),
    ],
)
def test_a_misread_input_inside_a_dataclass_or_typeddict_parameter_is_refused_naming_its_path(
    params: dict[str, Any], loc: tuple[Any, ...], msg: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(Params, params)
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (loc, msg)


def test_good_inputs_inside_a_dataclass_or_typeddict_parameter_are_taken() -> None:
    p = validate_params(
        Params,
        {
            "td": {"stop_loss": 0.02, "levels": [0.5, 1.5]},
            "dc": {"stop_loss": 0.03},
            "pdc": {"sl": 0.04},
            "tags_td": {"level": 2, "desk": "a"},  # one asking for extras gets them
            "tags_dc": {"desk": "b"},
        },
    )
    assert p.td == {"stop_loss": 0.02, "levels": [0.5, 1.5]}  # type: ignore[attr-defined]
    assert (p.dc.stop_loss, p.pdc.stop_loss) == (0.03, 0.04)  # type: ignore[attr-defined]
    assert p.tags_td == {"level": 2, "desk": "a"} and p.tags_dc.desk == "b"  # type: ignore[attr-defined]


class CamelTD(TypedDict):
    stop_loss: NotRequired[float]


class CamelParams(BaseModel):  # its alias generator reads a stdlib dataclass and TypedDict too
    model_config = ConfigDict(alias_generator=to_camel)
    the_dc: RiskDC = RiskDC()
    the_td: CamelTD = {}


def test_names_inside_a_dataclass_or_typeddict_are_those_its_models_config_reads() -> None:
    p = validate_params(CamelParams, {"theDc": {"stopLoss": 0.02}, "theTd": {"stopLoss": 0.03}})
    assert (p.the_dc.stop_loss, p.the_td) == (0.02, {"stop_loss": 0.03})  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as caught:
        validate_params(CamelParams, {"theDc": {"stop_loss": 0.02}})
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (("theDc", "stop_loss"), "unknown name; RiskDC takes stopLoss")


def test_nan_in_a_dataclass_instance_is_refused_in_a_dict_and_in_an_instance_of_params() -> None:
    for given in (
        lambda: validate_params(Params, {"legs": [RiskDC(stop_loss=math.nan)]}),
        lambda: WithDataclasses(Params(legs=[RiskDC(stop_loss=math.nan)])),
    ):
        with pytest.raises(ValidationError) as caught:
            given()
        (error,) = caught.value.errors()
        assert (error["loc"], error["msg"]) == (("legs", 0, "stop_loss"), NAN)
