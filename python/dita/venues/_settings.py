"""Checks shared by the Python venues' settings: each bad value is a ``pydantic.ValidationError``
naming the setting and the value, raised when the venue is built, not at its first order
(a bool where a number belongs: ``dita._numbers.not_a_flag``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dita.risk import MarketLimits

__all__ = ["AssetName", "VenueInputs"]

AssetName = Annotated[str, Field(min_length=1)]


class VenueInputs(BaseModel):
    """A venue's settings that are objects rather than numbers. Checked once: a market's rules
    given as a plain dict, or a clock that is not a function, broke the first order that met
    them, and a submit that raises leaves the order in flight in the kernel."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="venue settings")

    # Rules given as dicts are read as MarketLimits (and checked as those are).
    market_limits: dict[AssetName, MarketLimits] | None = None
    assets: frozenset[AssetName] | None = None
    clock: Callable[[], float] | None = None
