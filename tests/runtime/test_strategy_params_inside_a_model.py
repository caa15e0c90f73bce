"""A parameter that is itself a pydantic model (a strategy's risk block) is read with the same
care as the parameters: a misspelt name, NaN or a flag for a number inside it is refused, naming
its path, in a list or dict of such models too and through ``--params``. Left to pydantic's
default (``extra="ignore"``), ``{"risk": {"stop_los": 0.02}}`` ran with no stop at all."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
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
            "legs": [{"stop_loss": math.inf}],
            "by_asset": {"BTC": Risk(max_bars=3)},
            "hedge": None,
            "tags": {"level": 2, "desk": "a"},  # a model asking for extras gets them
        },
    )
    assert p.risk == Risk(stop_loss=0.02, max_bars=5)  # type: ignore[attr-defined]
    assert p.legs == [Risk(stop_loss=math.inf)] and p.by_asset["BTC"].max_bars == 3  # type: ignore[attr-defined]
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
