"""Parameters of kinds the checks once misread or crashed on: a frozen dataclass, a TypedDict
whose field type is local, a Decimal or a datetime given by ``--param``, models inside a set or
deque, a flag for an IntEnum, a model whose validator reshapes its input, many dataclass items."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import time

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from typing_extensions import TypedDict

from dita.cli._common import _as_written, parse_params
from dita.strategy import validate_params


def _from_cli(model: type[BaseModel], *pairs: str) -> BaseModel:
    values, texts = parse_params(list(pairs), None)
    return validate_params(model, _as_written(model, values, texts))


@dataclasses.dataclass(frozen=True)
class FrozenRisk:
    stop_loss: float = 0.02


class WithFrozenRisk(BaseModel):
    risk: FrozenRisk = FrozenRisk()


@dataclasses.dataclass
class Risk:
    stop_loss: float = 0.02


class FrozenWithRisk(BaseModel):
    model_config = ConfigDict(frozen=True)
    risk: Risk = Risk()


def test_a_frozen_dataclass_parameter_is_read():
    assert validate_params(WithFrozenRisk, {"risk": {"stop_loss": 0.05}}).risk.stop_loss == 0.05  # type: ignore[attr-defined]


def test_a_dataclass_in_a_frozen_model_is_read():
    assert validate_params(FrozenWithRisk, {"risk": {"stop_loss": 0.05}}).risk.stop_loss == 0.05  # type: ignore[attr-defined]


def test_a_misspelt_name_in_a_frozen_dataclass_is_refused_naming_it():
    with pytest.raises(ValidationError, match=r"risk\.stop_los"):
        validate_params(WithFrozenRisk, {"risk": {"stop_los": 0.05}})


def _with_a_local_typeddict() -> type[BaseModel]:
    class LocalLeg(BaseModel):
        size: float = 1

    class Book(TypedDict, total=False):
        leg: LocalLeg

    class P(BaseModel):
        book: Book = {}

    P.model_rebuild(_types_namespace={"LocalLeg": LocalLeg, "Book": Book})
    return P


def test_a_typeddict_whose_field_type_is_local_is_read():
    got = validate_params(_with_a_local_typeddict(), {"book": {"leg": {"size": 2}}})
    assert got.book["leg"].size == 2  # type: ignore[attr-defined]


class Leg(BaseModel):
    model_config = ConfigDict(frozen=True)
    size: float = 1.0


class Legs(BaseModel):
    legs: frozenset[Leg] = frozenset()
    queue: collections.deque[Leg] = collections.deque()


def test_a_misspelt_name_inside_a_frozenset_of_models_is_refused():
    with pytest.raises(ValidationError, match="sise"):
        validate_params(Legs, {"legs": [{"size": 3.0}, {"sise": 2.0}]})


def test_a_misspelt_name_inside_a_deque_of_models_is_refused():
    with pytest.raises(ValidationError, match=r"queue\.0\.sise"):
        validate_params(Legs, {"queue": [{"sise": 2.0}]})


def test_a_flag_for_a_number_inside_a_frozenset_of_models_is_refused():
    with pytest.raises(ValidationError, match="not true or false"):
        validate_params(Legs, {"legs": [{"size": True}]})


def test_a_flag_for_a_number_in_a_set_of_numbers_is_refused():
    class Levels(BaseModel):
        levels: set[float] = set()

    with pytest.raises(ValidationError, match="not true or false"):
        validate_params(Levels, {"levels": [0.5, True]})
    assert validate_params(Levels, {"levels": [0.5, 1]}).levels == {0.5, 1.0}  # type: ignore[attr-defined]


class Tier(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Tiered(BaseModel):
    tier: Tier = Tier.HIGH


def test_a_flag_for_an_int_enum_is_refused():
    with pytest.raises(ValidationError, match="not true or false"):
        validate_params(Tiered, {"tier": True})
    assert validate_params(Tiered, {"tier": 1}).tier is Tier.LOW  # type: ignore[attr-defined]


class Money(BaseModel):
    limit_price: decimal.Decimal = decimal.Decimal(0)
    prices: list[decimal.Decimal] = []
    size: float = 0.0
    start: datetime.datetime | None = None


def test_a_decimal_param_keeps_every_digit_written():
    got = _from_cli(Money, "limit_price=12345678901234567.89", "prices=[0.1000000000000000055511]")
    assert got.limit_price == decimal.Decimal("12345678901234567.89")  # type: ignore[attr-defined]
    assert got.prices == [decimal.Decimal("0.1000000000000000055511")]  # type: ignore[attr-defined]


def test_a_float_param_beside_a_decimal_one_is_a_float():
    got = _from_cli(Money, "size=0.1", "limit_price=1.5")
    assert type(got.size) is float and got.size == 0.1  # type: ignore[attr-defined]


def test_an_integer_for_a_datetime_param_is_refused_naming_it():
    with pytest.raises(ValidationError, match="start"):
        _from_cli(Money, "start=20240105")
    assert _from_cli(Money, "start=2024-01-05T00:00:00Z").start.year == 2024  # type: ignore[attr-defined]


class Renamed(BaseModel):
    window: int = 5

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: object) -> object:
        if isinstance(data, dict) and "window_days" in data:
            data = dict(data)
            data["window"] = data.pop("window_days")
        return data


class HoldsRenamed(BaseModel):
    inner: Renamed = Renamed()


class CamelLeg(BaseModel):
    leg: Leg = Leg()

    @field_validator("leg", mode="before")
    @classmethod
    def _camel(cls, v: object) -> object:
        return {"size": v["Size"]} if isinstance(v, dict) and "Size" in v else v


def test_a_model_whose_before_validator_renames_a_key_takes_it():
    assert validate_params(Renamed, {"window_days": 7}).window == 7  # type: ignore[attr-defined]
    assert validate_params(HoldsRenamed, {"inner": {"window_days": 7}}).inner.window == 7  # type: ignore[attr-defined]


def test_a_field_whose_before_validator_reshapes_it_takes_its_input():
    assert validate_params(CamelLeg, {"leg": {"Size": 3}}).leg.size == 3  # type: ignore[attr-defined]


@dataclasses.dataclass
class Rung:
    price: float = 0.0


class Ladder(BaseModel):
    rungs: list[Rung] = []


def test_ten_thousand_dataclass_items_are_read_quickly():
    started = time.perf_counter()
    got = validate_params(Ladder, {"rungs": [{"price": float(i)} for i in range(10_000)]})
    assert len(got.rungs) == 10_000  # type: ignore[attr-defined]
    assert time.perf_counter() - started < 3.0
