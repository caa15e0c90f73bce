"""Parameters as a strategy author gives them: ``--param`` text for a text parameter, a field
with an alias, and ``dita strategy inspect`` on defaults a factory makes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dita.cli import app
from dita.strategy import load_strategy_class

runner = CliRunner()

TEXT_PARAMS = """
from typing import Literal
from pydantic import BaseModel, ConfigDict, Field
from dita.strategy import Strategy

class Texts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = "a"
    note: str | None = None
    mode: Literal["1", "2"] = "1"
    size: float = Field(default=0.01, gt=0)

class Tagged(Strategy[Texts]):
    Params = Texts

    def on_start(self) -> None:
        print("PARAMS", self.params.model_dump_json())

class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lookback: int = Field(default=20, alias="window", description="bars in the window")

class Aliased(Strategy[Window]):
    Params = Window

def _config_file() -> str:
    raise RuntimeError("no config file here")

class Made(BaseModel):
    fast: int = 10
    slow: int = Field(default_factory=lambda data: data["fast"] * 3)
    venue: str = Field(default_factory=_config_file)
    legs: list[float] = Field(default_factory=lambda: [0.5, 0.5])

class Factory(Strategy[Made]):
    Params = Made
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "rev_params_cli.py").write_text(TEXT_PARAMS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "rev_params_cli"
    sys.modules.pop("rev_params_cli", None)


def _backtest(tmp_path: Path, ref: str, *params: str) -> tuple[int, str, str]:
    args = ["backtest", "--strategy", ref, "--data", "sample", "--out", str(tmp_path / "bt")]
    for p in params:
        args += ["--param", p]
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_a_text_parameter_takes_the_text_as_written(module: str, tmp_path: Path) -> None:
    """``--param tag=2024`` read as JSON is the number 2024, which a ``str`` field refuses:
    "tag=2024: Input should be a valid string", with no way to give that text on the command
    line. The text is taken where the model takes it and not what JSON made of it."""
    code, out, err = _backtest(tmp_path, f"{module}:Tagged", "tag=2024", "note=5", "mode=2", "size=0.5")
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("PARAMS "))
    assert json.loads(line.removeprefix("PARAMS ")) == {
        "tag": "2024",
        "note": "5",
        "mode": "2",
        "size": 0.5,  # a number parameter still reads the number
    }
    code, out, _ = _backtest(tmp_path, f"{module}:Tagged", "tag=true", "note=null")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("PARAMS "))
    assert json.loads(line.removeprefix("PARAMS "))["tag"] == "true"
    assert json.loads(line.removeprefix("PARAMS "))["note"] is None  # null for an optional: None


def test_a_bad_parameter_beside_a_text_one_is_still_refused_naming_it(module: str, tmp_path: Path) -> None:
    code, _, err = _backtest(tmp_path, f"{module}:Tagged", "tag=2024", "size=-1", "mode=3")
    assert code == 2
    assert "size=-1: Input should be greater than 0" in err
    assert "mode=3: Input should be '1' or '2'" in err
    assert "tag=" not in err  # its text was taken
    # JSON given with --params is typed: a number there is a number.
    args = ["backtest", "--strategy", f"{module}:Tagged", "--data", "sample", "--out", str(tmp_path / "b")]
    result = runner.invoke(app, [*args, "--params", '{"tag": 2024}'])
    assert result.exit_code == 2 and "tag=2024: Input should be a valid string" in result.stderr


def test_an_aliased_parameter_is_named_by_the_name_it_takes(module: str) -> None:
    """A field ``lookback`` with the alias ``window`` takes ``window`` only: refusing
    ``lookback`` said "unknown parameter; the parameters are lookback", and ``inspect``
    listed ``lookback``, the name it refuses."""
    cls = load_strategy_class(f"{module}:Aliased")
    assert cls({"window": 5}).params.lookback == 5  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as caught:
        cls({"lookback": 5})
    (error,) = caught.value.errors()
    assert error["loc"] == ("lookback",)
    assert error["msg"] == "unknown parameter; the parameters are window"
    (param,) = cls.describe()["params"]
    assert (param["name"], param["default"], param["description"]) == ("window", 20, "bars in the window")


def test_inspect_shows_defaults_a_factory_makes_without_a_traceback(module: str) -> None:
    """A ``default_factory`` taking the validated data (pydantic's ``lambda data: ...``) made
    ``describe`` raise "requires the 'validated_data' argument", and one that raises went out
    of ``dita strategy inspect`` as a traceback: the strategy itself loads and runs."""
    info = load_strategy_class(f"{module}:Factory").describe()
    defaults = {p["name"]: p["default"] for p in info["params"]}
    assert defaults["fast"] == 10 and defaults["slow"] == 30 and defaults["legs"] == [0.5, 0.5]
    raised = "(made by its default_factory, which raised RuntimeError: no config file here)"
    assert defaults["venue"] == raised
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["strategy", "inspect", f"{module}:Factory", *extra])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output and "no config file here" in result.stdout
