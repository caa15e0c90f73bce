"""Checks shared by the Python venues' settings: each bad value is a ``pydantic.ValidationError``
naming the setting and the value, raised when the venue is built, not at its first order
(a bool where a number belongs: ``dita._numbers.not_a_flag``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dita._numbers import is_real
from dita.risk import MarketLimits

__all__ = ["AssetName", "VenueInputs"]

AssetName = Annotated[str, Field(min_length=1)]


class VenueInputs(BaseModel):
    """A venue's settings that are objects rather than numbers. Checked once: a market's rules
    given as a plain dict, or a clock that is not a function of no argument giving a time,
    broke the first order that met them, and a submit that raises leaves the order in flight
    in the kernel."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="venue settings")

    # Rules given as dicts are read as MarketLimits (and checked as those are).
    market_limits: dict[AssetName, MarketLimits] | None = None
    assets: frozenset[AssetName] | None = None
    clock: Callable[[], float] | None = None

    @field_validator("clock")
    @classmethod
    def _clock_reads(cls, clock: Callable[[], float] | None) -> Callable[[], float] | None:
        # Read once here: one that needs an argument, or gives no time, broke the first order.
        if clock is not None:
            try:
                now = clock()
            except Exception as exc:  # e.g. one that needs an argument
                raise ValueError(f"clock() raised {type(exc).__name__}: {exc}") from None
            if not is_real(now) or not math.isfinite(now):
                raise ValueError(f"clock() gave {now!r}: it must give the time, epoch seconds")
        return clock
