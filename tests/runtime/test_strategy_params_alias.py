"""validate_params on a model with aliases: the field name a lax model would drop is refused, and a
name inside a key an AliasPath reads from is checked as a parameter's is, and a field is given one
value under its names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import AliasChoices, AliasPath, BaseModel, ConfigDict, Field, ValidationError

from dita.strategy import validate_params


def test_a_lax_model_with_an_alias_does_not_drop_the_field_name() -> None:
    class Lax(BaseModel):
        window: int = Field(default=5, alias="w")

    assert validate_params(Lax, {"w": 9}).window == 9  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="unknown parameter"):
        validate_params(Lax, {"window": 9})


class FromSettings(BaseModel):
    risk: float = Field(0.05, validation_alias=AliasPath("settings", "risk"))
    size: float = Field(1.0, validation_alias=AliasPath("settings", "size"))
    depth: int = Field(1, validation_alias=AliasPath("book", "levels", "depth"))
    first_leg: float = Field(0.0, validation_alias=AliasPath("legs", 0))


class StrictFromSettings(FromSettings):
    model_config = ConfigDict(extra="forbid")


class Outer(BaseModel):
    inner: FromSettings = FromSettings()


SETTINGS = "unknown name; FromSettings reads risk, size in settings"


@pytest.mark.parametrize(
    ("model", "params", "loc", "msg"),
    [
        (FromSettings, {"settings": {"rsk": 0.5}}, ("settings", "rsk"), SETTINGS),
        (FromSettings, {"settings": {"risk": 0.5, "sise": 2}}, ("settings", "sise"), SETTINGS),
        (
            StrictFromSettings,
            {"settings": {"rsk": 0.5}},
            ("settings", "rsk"),
            SETTINGS.replace("From", "StrictFrom"),
        ),
        (
            FromSettings,
            {"book": {"levels": {"dept": 3}}},
            ("book", "levels", "dept"),
            "unknown name; FromSettings reads depth in book.levels",
        ),
        (
            FromSettings,
            {"book": {"level": {"depth": 3}}},
            ("book", "level"),
            "unknown name; FromSettings reads levels in book",
        ),
        (Outer, {"inner": {"settings": {"rsk": 0.5}}}, ("inner", "settings", "rsk"), SETTINGS),
    ],
)
def test_a_misspelt_name_inside_an_alias_paths_key_is_refused_naming_its_path(
    model: type[BaseModel], params: dict[str, Any], loc: tuple[Any, ...], msg: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(model, params)
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (loc, msg)


class SettingsToo(FromSettings):
    settings: dict[str, float] = Field(default_factory=dict)  # the key is this field's input whole


class Tagged(FromSettings):
    model_config = ConfigDict(extra="allow")


@pytest.mark.parametrize(
    ("model", "params", "field", "taken"),
    [
        (FromSettings, {"settings": {"risk": 0.5, "size": 2}}, "risk", 0.5),
        (FromSettings, {"book": {"levels": {"depth": 3}}, "legs": [0.25]}, "depth", 3),
        (FromSettings, {"legs": [0.25, 0.5]}, "first_leg", 0.25),
        (SettingsToo, {"settings": {"risk": 0.5, "rsk": 1.0}}, "settings", {"risk": 0.5, "rsk": 1.0}),
        (Tagged, {"settings": {"rsk": 0.5}}, "model_extra", {"settings": {"rsk": 0.5}}),
    ],
)
def test_the_names_an_alias_path_reads_and_a_fields_own_input_are_taken(
    model: type[BaseModel], params: dict[str, Any], field: str, taken: object
) -> None:
    assert getattr(validate_params(model, params), field) == taken


class TwoNames(BaseModel):
    stop_loss: float = Field(0.05, validation_alias=AliasChoices("stop", "sl"))


class AliasOrName(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    window: int = Field(5, alias="w")


class WithStop(BaseModel):
    risk: TwoNames = TwoNames()
    hedge: FromSettings = Field(default_factory=FromSettings, validation_alias=AliasChoices("hedge", "h"))


@pytest.mark.parametrize(
    ("model", "params", "loc", "msg"),
    [
        (TwoNames, {"stop": 0.1, "sl": 0.2}, ("sl",), "stop_loss is given twice, as stop=0.1 and as sl=0.2"),
        (AliasOrName, {"w": 9, "window": 10}, ("window",), "window is given twice, as w=9 and as window=10"),
        (
            WithStop,
            {"risk": {"sl": 0.2, "stop": 0.1}},
            ("risk", "sl"),
            "stop_loss is given twice, as stop=0.1 and as sl=0.2",
        ),
        (
            WithStop,
            {"hedge": {"settings": {"risk": 0.1}}, "h": {}},
            ("h",),
            "hedge is given twice, as hedge={'settings': {'risk': 0.1}} and as h={}",
        ),
    ],
)
def test_a_field_given_under_two_of_its_names_with_two_values_is_refused_naming_both(
    model: type[BaseModel], params: dict[str, Any], loc: tuple[Any, ...], msg: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_params(model, params)
    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == (loc, f"{msg}: give it once")


def test_a_field_given_one_value_under_two_of_its_names_is_taken() -> None:
    assert validate_params(TwoNames, {"stop": 0.1, "sl": 0.1}).stop_loss == 0.1  # type: ignore[attr-defined]
    assert validate_params(AliasOrName, {"w": 9, "window": 9}).window == 9  # type: ignore[attr-defined]
