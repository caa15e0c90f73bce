"""true or false for a number inside a list, tuple or dict parameter is refused, naming the
parameter, as it is for a number alone: lax validation read `--param 'levels=[0.5,true]'` as
levels of 0.5 and 1.0, and the strategy ran on them without a word (NaN inside one was refused)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dita.strategy import Strategy, validate_params


class Grid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    levels: list[float] = Field(default_factory=lambda: [0.5])
    counts: tuple[int, int] = (1, 2)
    weights: dict[str, float] = Field(default_factory=dict)
    nested: list[list[float]] = Field(default_factory=list)
    flags: list[bool] = Field(default_factory=list)
    anything: list[Any] = Field(default_factory=list)
    mixed: list[bool | float] = Field(default_factory=list)


class GridStrategy(Strategy[Grid]):
    Params = Grid


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"levels": [0.5, True]}, "levels"),
        ({"counts": [False, 2]}, "counts"),
        ({"weights": {"BTC": 0.5, "ETH": True}}, "weights"),
        ({"nested": [[1.0], [2.0, False]]}, "nested"),
    ],
)
def test_a_flag_inside_a_number_container_is_refused_naming_the_parameter(
    params: dict[str, object], name: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        GridStrategy(params)
    (error,) = caught.value.errors()
    assert error["loc"] == (name,)
    assert error["msg"] == "Input should be a number, not true or false"
    assert error["input"] == params[name]


def test_flags_where_the_model_takes_flags_and_numbers_are_still_taken() -> None:
    p = validate_params(
        Grid,
        {
            "levels": [0.5, 1, 2.5],
            "counts": (3, 4),
            "weights": {"BTC": 1},
            "flags": [True, False],
            "anything": [True, 1],
            "mixed": [True, 0.5],
        },
    )
    assert p.levels == [0.5, 1.0, 2.5] and p.counts == (3, 4)  # type: ignore[attr-defined]
    assert p.flags == [True, False] and p.anything == [True, 1]  # type: ignore[attr-defined]
    assert p.mixed == [True, 0.5] and p.mixed[0] is True  # type: ignore[attr-defined]
