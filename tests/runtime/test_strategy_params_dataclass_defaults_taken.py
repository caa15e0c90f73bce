"""A nested dataclass's field left at its default (an infinite ``stop_pct``: the stop is off) is
taken on an instance of the parameters as in their dict: a dataclass does not keep which fields
were given, so a field holding its default counts as not given. Given infinity, it is refused."""

from __future__ import annotations

import dataclasses
import math

import pytest
from pydantic import BaseModel, Field, ValidationError

from dita.strategy import Strategy


@dataclasses.dataclass
class Stops:
    size: float = 1.0
    stop_pct: float = math.inf  # no stop unless given: the common "off" default
    levels: list[float] = dataclasses.field(default_factory=lambda: [math.inf])


class StopParams(BaseModel):
    stops: Stops = Field(default_factory=Stops)


class WithStops(Strategy[StopParams]):
    Params = StopParams


def test_a_nested_dataclass_left_at_its_infinite_default_is_taken_as_an_instance() -> None:
    # The same parameters as a dict ({"stops": {"size": 2}}) are taken, as is StopParams() itself.
    assert WithStops(name="d", params={"stops": {"size": 2.0}}).params.stops.stop_pct == math.inf
    assert WithStops(name="i", params=StopParams(stops=Stops(size=2.0))).params.stops.size == 2.0


def test_a_nested_dataclass_instance_in_a_dict_left_at_its_infinite_default_is_taken() -> None:
    assert WithStops(name="d", params={"stops": Stops(size=2.0)}).params.stops.size == 2.0


def test_a_nested_dataclass_given_infinity_off_its_default_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"stops\.levels"):
        WithStops(name="i", params=StopParams(stops=Stops(size=2.0, levels=[1.0, math.inf])))
