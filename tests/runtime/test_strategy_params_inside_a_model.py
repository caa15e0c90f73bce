"""A parameter that is itself a pydantic model (a strategy's risk block) is read with the same
care as the parameters: a misspelt name, NaN or a flag for a number inside it is refused, naming
its path, in a list or dict of such models too and through ``--params``. Left to pydantic's
default (``extra="ignore"``), ``{"risk": {"stop_los": 0.02}}`` ran with no stop at all."""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel
from typer.testing import CliRunner

from dita.cli import app
from dita.strategy import Strategy, validate_params


class Risk(BaseModel):  # pydantic's default extra="ignore", as a user writes it
    stop_loss: float = 0.0  # 0: no stop
    max_bars: int = 100


class Tags(BaseModel):
    model_config = ConfigDict(extra="allow")
    level: float = 1.0


class Params(BaseModel):
    size: float = 1.0
    risk: Risk = Risk()
    legs: list[Risk] = Field(default_factory=list)
    by_asset: dict[str, Risk] = Field(default_factory=dict)
    hedge: Risk | None = None
    tags: Tags = Tags()


class WithRisk(Strategy[Params]):
    Params = Params


UNKNOWN = "unknown name; Risk takes stop_loss, max_bars"


@pytest.mark.parametrize(
    ("params", "loc", "msg"),
    [
        ({"risk": {"stop_los": 0.02}}, ("risk", "stop_los"), UNKNOWN),
        ({"risk": {"stop_loss": math.nan}}, ("risk", "stop_loss"), "Input should be a number, not NaN"),
        ({"risk": {"max_bars": True}}, ("risk", "max_bars"), "Input should be a number, not true or false"),
        ({"legs": [{}, {"stop_los": 1}]}, ("legs", 1, "stop_los"), UNKNOWN),
        (
            {"by_asset": {"BTC": {"max_bars": False}}},
            ("by_asset", "BTC", "max_bars"),
            "Input should be a number, not true or false",
        ),
        ({"hedge": {"stop_loss": "nan"}}, ("hedge", "stop_loss"), "Input should be a number, not NaN"),
        ({"risk": Risk(stop_loss=math.nan)}, ("risk", "stop_loss"), "Input should be a number, not NaN"),
        ({"tags": {"level": math.nan}}, ("tags", "level"), "Input should be a number, not NaN"),
        (
            {"legs": [{"stop_loss": -math.inf}]},
            ("legs", 0, "stop_loss"),
            "Input should be a number, not -infinity",
        ),
    ],
)
def test_a_misread_input_inside_a_model_parameter_is_refused_naming_its_path(
    params: dict[str, Any], loc: tuple[Any, ...], msg: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        WithRisk(params)
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (loc, msg)


def test_good_inputs_inside_a_model_parameter_are_taken() -> None:
    p = validate_params(
        Params,
        {
            "risk": {"stop_loss": 0.02, "max_bars": 5},
            "legs": [{"stop_loss": 0.05}],
            "by_asset": {"BTC": Risk(max_bars=3)},
            "hedge": None,
            "tags": {"level": 2, "desk": "a"},  # a model asking for extras gets them
        },
    )
    assert p.risk == Risk(stop_loss=0.02, max_bars=5)  # type: ignore[attr-defined]
    assert p.legs == [Risk(stop_loss=0.05)] and p.by_asset["BTC"].max_bars == 3  # type: ignore[attr-defined]
    assert p.tags.model_extra == {"desk": "a"}  # type: ignore[attr-defined]


STRATEGY = """
from pydantic import BaseModel
from dita.strategy import Strategy

class Risk(BaseModel):
    stop_loss: float = 0.0

class Params(BaseModel):
    risk: Risk = Risk()

class WithRisk(Strategy[Params]):
    Params = Params
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "params_inside_a_model.py").write_text(STRATEGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "params_inside_a_model"
    sys.modules.pop("params_inside_a_model", None)


def test_a_misspelt_name_inside_a_model_parameter_given_on_the_command_line_is_refused(
    module: str, tmp_path: Path
) -> None:
    args = ["backtest", "--strategy", f"{module}:WithRisk", "--data", "sample", "--out", str(tmp_path / "bt")]
    for given in (["--params", '{"risk": {"stop_los": 0.02}}'], ["--param", 'risk={"stop_los": 0.02}']):
        result = CliRunner().invoke(app, [*args, *given])
        assert result.exit_code == 2
        assert "risk.stop_los=0.02: unknown name; Risk takes stop_loss" in " ".join(result.stderr.split())


class Weights(RootModel[dict[str, float]]):  # its keys are data (assets), not names
    pass


class Level(BaseModel):
    price: float = 1.0


class OneLevel(RootModel[Level]):
    pass


class Book(BaseModel):
    weights: Weights = Weights({})
    level: OneLevel = OneLevel(Level())
    levels: dict[int, Level] = Field(default_factory=dict)  # from JSON each key is text, "1"
    marks: dict[int, float] = Field(default_factory=dict)


def test_a_root_model_and_an_int_keyed_dict_of_models_are_taken() -> None:
    p = validate_params(
        Book,
        {
            "weights": {"BTC": 0.6, "ETH": 0.4},
            "level": {"price": 2},
            "levels": {"1": {"price": 3}, "2": {}},
            "marks": {"1": 0.5},
        },
    )
    assert p.weights.root == {"BTC": 0.6, "ETH": 0.4} and p.level.root == Level(price=2)  # type: ignore[attr-defined]
    assert p.levels == {1: Level(price=3), 2: Level()} and p.marks == {1: 0.5}  # type: ignore[attr-defined]


NOT_NAN = "Input should be a number, not NaN"
NOT_A_FLAG = "Input should be a number, not true or false"
PRICE = "unknown name; Level takes price"


@pytest.mark.parametrize(
    ("params", "loc", "msg"),
    [
        ({"weights": {"BTC": math.nan}}, ("weights",), NOT_NAN),
        ({"weights": {"BTC": True}}, ("weights",), NOT_A_FLAG),
        ({"weights": Weights({"BTC": math.nan})}, ("weights",), NOT_NAN),
        ({"level": {"pricee": 2}}, ("level", "pricee"), PRICE),
        ({"level": OneLevel(Level(price=math.nan))}, ("level", "price"), NOT_NAN),
        ({"levels": {"1": {"pricee": 2}}}, ("levels", "1", "pricee"), "unknown name; Level takes price"),
        ({"levels": {"1": {}, "2": {"price": math.nan}}}, ("levels", "2", "price"), NOT_NAN),
        ({"levels": {"1": {"price": True}}}, ("levels", "1", "price"), NOT_A_FLAG),
        ({"marks": {"1": True}}, ("marks",), NOT_A_FLAG),
    ],
)
def test_a_misread_input_in_a_root_model_or_an_int_keyed_dict_is_refused_naming_its_path(
    params: dict[str, Any], loc: tuple[Any, ...], msg: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(Book, params)
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (loc, msg)


@pytest.mark.parametrize("field", ["levels", "marks"])
def test_two_keys_read_as_one_are_refused_as_pydantic_would_drop_one(field: str) -> None:
    entry = {} if field == "levels" else 0.5
    with pytest.raises(ValidationError) as caught:
        validate_params(Book, {field: {"1": entry, "01": entry}})
    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert (
        error["msg"]
        == "Input should have distinct keys: '1' and '01' read as 1, of which only the last entry is kept"
    )


class Ladder(BaseModel):
    rungs: dict[int, float]  # size by rung; a rung of size 0 is no rung
    levels: dict[int, Level] = Field(default_factory=dict)  # a level of price 0 is no level

    @field_validator("rungs")
    @classmethod
    def _drop_empty_rungs(cls, rungs: dict[int, float]) -> dict[int, float]:
        return {k: size for k, size in rungs.items() if size != 0}

    @field_validator("levels")
    @classmethod
    def _drop_empty_levels(cls, levels: dict[int, Level]) -> dict[int, Level]:
        return {k: level for k, level in levels.items() if level.price != 0}


class TargetWeights(BaseModel):
    weights: dict[str, float]  # what they leave is held as CASH

    @field_validator("weights")
    @classmethod
    def _with_cash(cls, weights: dict[str, float]) -> dict[str, float]:
        return {**weights, "CASH": 1.0 - sum(weights.values())}


class Portfolio(BaseModel):
    ladder: Ladder | None = None
    targets: TargetWeights | None = None


@pytest.mark.parametrize(
    ("model", "params", "field", "taken"),
    [
        (Ladder, {"rungs": {"1": 0.5, "2": 0}}, "rungs", {1: 0.5}),
        (Ladder, {"rungs": {}, "levels": {"1": {"price": 0}, "2": {}}}, "levels", {2: Level()}),
        (TargetWeights, {"weights": {"BTC": 0.75}}, "weights", {"BTC": 0.75, "CASH": 0.25}),
        (Portfolio, {"ladder": {"rungs": {"1": 0.5, "2": 0}}}, "ladder", Ladder(rungs={1: 0.5})),
        (Portfolio, {"targets": {"weights": {"BTC": 1}}}, "targets", TargetWeights(weights={"BTC": 1})),
    ],
)
def test_a_dict_whose_validator_drops_or_adds_entries_is_taken(
    model: type[BaseModel], params: dict[str, Any], field: str, taken: object
) -> None:
    assert getattr(validate_params(model, params), field) == taken


@pytest.mark.parametrize(
    ("params", "loc", "msg"),
    [
        ({"rungs": {"1": True, "2": 0}}, ("rungs",), NOT_A_FLAG),
        ({"rungs": {}, "levels": {"1": {"price": 0}, "2": {"pricee": 1}}}, ("levels", "2", "pricee"), PRICE),
        (
            {"rungs": {}, "levels": {"1": {"price": 0}, "01": {}}},
            ("levels",),
            "Input should have distinct keys",
        ),
    ],
)
def test_the_entries_a_validator_keeps_are_checked(
    params: dict[str, Any], loc: tuple[Any, ...], msg: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(Ladder, params)
    (error,) = caught.value.errors()
    assert error["loc"] == loc and error["msg"].startswith(msg)


class LowerCaseAssets(BaseModel):
    model_config = ConfigDict(str_to_lower=True)
    weights: dict[str, float]


def test_two_keys_read_as_one_under_the_models_config_are_refused() -> None:
    with pytest.raises(ValidationError, match="'BTC' and 'btc' read as 'btc'"):
        validate_params(LowerCaseAssets, {"weights": {"BTC": 0.5, "btc": 0.4}})


class ByPath(BaseModel):
    risk: Risk = Field(default_factory=Risk, validation_alias=AliasPath("settings", "risk"))


class ByChoice(BaseModel):
    risk: Risk = Field(default_factory=Risk, validation_alias=AliasChoices(AliasPath("legs", 1), "r"))


class ByAlias(BaseModel):
    risk: Risk = Field(default_factory=Risk, alias="r")


class ByAliasOrName(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)
    stop_risk: Risk = Field(default_factory=Risk)


@pytest.mark.parametrize(
    ("model", "given", "at"),
    [
        (ByPath, {"settings": {"risk": {}}}, ("settings", "risk")),
        (ByChoice, {"legs": [{}, {}]}, ("legs", 1)),
        (ByChoice, {"legs": [{}], "r": {}}, ("r",)),  # the path holds nothing: the next choice
        (ByAlias, {"r": {}}, ("r",)),
        (ByAliasOrName, {"stopRisk": {}}, ("stopRisk",)),
        (ByAliasOrName, {"stop_risk": {}}, ("stop_risk",)),
    ],
)
def test_a_model_parameter_read_through_an_alias_is_taken_and_checked_inside(
    model: type[BaseModel], given: dict[str, Any], at: tuple[Any, ...]
) -> None:
    def at_the_alias(risk: dict[str, Any]) -> dict[str, Any]:
        params = copy.deepcopy(given)
        *outer, last = at
        inner: Any = params
        for key in outer:
            inner = inner[key]
        inner[last] = risk
        return params

    taken = validate_params(model, at_the_alias({"stop_loss": 0.02}))
    (field,) = model.model_fields
    assert getattr(taken, field) == Risk(stop_loss=0.02)
    with pytest.raises(ValidationError) as caught:
        validate_params(model, at_the_alias({"stop_los": 0.02}))
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == ((*at, "stop_los"), UNKNOWN)
