"""Checks shared by the Python venues' settings: each bad value is a ``pydantic.ValidationError``
naming the setting and the value, raised when the venue is built, not at its first order
(a bool where a number belongs: ``dita._numbers.not_a_flag``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from dita._numbers import is_real
from dita._text import is_utf8
from dita.risk import MarketLimits

__all__ = ["FEE_RATE_BOUND", "AssetName", "VenueInputs", "VenueName", "check_rebate", "check_venue_name"]

AssetName = Annotated[str, Field(min_length=1)]
# A paper venue's fee rates, fractions of notional, are below this in magnitude (10 %).
FEE_RATE_BOUND = 0.1


def check_venue_name(name: str) -> str:
    """``name``, refused (naming the value, its NUL shown) when it holds a NUL byte or a lone
    surrogate (no UTF-8): a venue names its event, order and fill ids after itself, and the
    kernel refuses such an id, so every answer of the venue would raise and each order stay in
    flight."""
    if "\0" in name:
        raise ValueError(
            f"venue name {name!r} holds a NUL byte: the ids of the venue's events and orders "
            "carry its name, and an id may not hold one"
        )
    if not is_utf8(name):
        raise ValueError(f"venue name {name!r} is not valid UTF-8 (it holds a lone surrogate)")
    return name


# A venue's name: not empty, UTF-8 with no NUL (``check_venue_name``; pydantic refuses a lone
# surrogate in any text setting before it).
VenueName = Annotated[str, Field(min_length=1), AfterValidator(check_venue_name)]


class VenueInputs(BaseModel):
    """A venue's settings that are objects rather than numbers, checked when the venue is built:
    a market's rules given as a plain dict, or a clock that is not a function, would break the
    first order that met them, and a submit that raises leaves the order in flight in the kernel. A
    clock's readings are checked as they are made."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="venue settings")

    # Rules given as dicts are read as MarketLimits (and checked as those are).
    market_limits: dict[AssetName, MarketLimits] | None = None
    assets: frozenset[AssetName] | None = None
    clock: Callable[[], float] | None = None
    sleep: Callable[[float], None] | None = None

    @field_validator("clock")
    @classmethod
    def _clock_reads(cls, clock: Callable[[], float] | None) -> Callable[[], float] | None:
        # Each reading checked, not one made here: a clock may read what is wired up after
        # the venue (a runtime's time), and a stateful one would lose a tick.
        return None if clock is None else _checked_clock(clock)


def _checked_clock(clock: Callable[[], float]) -> Callable[[], float]:
    """``clock`` whose readings are refused unless they are a time (finite epoch seconds, not
    before the epoch), naming the clock: a NaN or a text stamped on events would break them later,
    far from the cause, and the kernel refuses an event stamped before 1970 (its ack and fill
    alike: the order would stay in flight while the venue holds the fill)."""

    def read() -> float:
        now = clock()
        if not is_real(now) or not math.isfinite(now) or now < 0:
            raise ValueError(f"the venue's clock {clock!r} gave {now!r}, not a time in epoch seconds")
        return float(now)

    return read


def check_rebate(maker: float, taker: float, maker_name: str, taker_name: str) -> None:
    """Refuses a maker rate that rebates more than the taker rate charges, as the kernel's
    exchange config does: past it, a maker order filled against one's own taker order would
    earn money from fees alone. The names are the settings' as the caller has them."""
    if maker < -taker:
        raise ValueError(
            f"{maker_name}={maker!r} is a rebate above {taker_name}={taker!r}, the taker fee: no "
            "venue pays makers more than it charges takers"
        )
