"""Integer, Decimal and Float placeholders: what each type holds, and a value refused where
ClickHouse would read it as another number without saying so."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dita.cli._common import fail
from dita.cli.journal_params.type_names import _base_type, _unwrapped

# What each integer type holds: ClickHouse wraps a parameter outside it to another number
# without a word (300 as a UInt8 is 44).
_INT_RANGES = {
    f"{kind}{bits}": (0, 2**bits - 1) if kind == "uint" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    for kind in ("int", "uint")
    for bits in (8, 16, 32, 64, 128, 256)
}
# The SQL names ClickHouse also takes for them (as _base_type spells them).
_INT_ALIASES = {
    **dict.fromkeys(("tinyint", "int1", "byte", "tinyint signed", "int1 signed"), "int8"),
    **dict.fromkeys(("tinyint unsigned", "int1 unsigned"), "uint8"),
    **dict.fromkeys(("smallint", "smallint signed"), "int16"),
    **dict.fromkeys(("smallint unsigned", "year"), "uint16"),
    **dict.fromkeys(
        ("int", "integer", "mediumint", "mediumint signed", "int signed", "integer signed"), "int32"
    ),
    **dict.fromkeys(("mediumint unsigned", "int unsigned", "integer unsigned"), "uint32"),
    **dict.fromkeys(("bigint", "signed", "bigint signed"), "int64"),
    **dict.fromkeys(("unsigned", "bigint unsigned", "bit", "set"), "uint64"),
}
# What ClickHouse reads as an integer parameter: ASCII digits and a sign, nothing around them.
_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def _int_bounds(type_: str) -> tuple[int, int] | None:
    """What the integer type ``type_`` holds, (lowest, highest); None for another type."""
    base = _base_type(type_)
    return _INT_RANGES.get(_INT_ALIASES.get(base, base))


def _holds(bounds: tuple[int, int], text: str) -> bool:
    """Whether the whole number ``text`` (as ``_INT_TEXT`` reads it) lies within ``bounds``.
    Compared as a Decimal: int() refuses a text of more than 4,300 digits."""
    from decimal import Decimal

    low, high = bounds
    return low <= Decimal(text) <= high


def _check_int_params(found: list[tuple[str, str]], params: dict[str, Any]) -> None:
    """Refuse a value for an integer placeholder that is no whole number (ClickHouse would
    fail the query after the journal is opened) or that its type cannot hold (ClickHouse would
    wrap it round). ``found``: the query's placeholders, as (name, type)."""
    for name, type_ in found:
        value = params.get(name)
        bounds = _int_bounds(type_)
        if bounds is None or not isinstance(value, str):
            continue
        if not _INT_TEXT.fullmatch(value):
            fail(
                f"--param {name}={value!r}: not a whole number, for a {type_.strip()} placeholder; "
                "give decimal digits with an optional sign (42, -7)"
            )
        low, high = bounds
        if not _holds(bounds, value):
            fail(
                f"--param {name}={value!r}: outside what a {type_.strip()} holds ({low} to {high}); "
                "ClickHouse would read it as another number without saying so"
            )
        if low == 0 and value.startswith("-"):  # -0: ClickHouse refuses any sign but + there
            fail(f"--param {name}={value!r}: a {type_.strip()} takes no minus sign")


# Decimal(P, S), Decimal(P), Decimal, Decimal32(S) ... Decimal256(S): the scale is the last. P and
# S are 76 at most: a type with more digits there is no Decimal here, and ClickHouse refuses it.
_DECIMAL_TYPE = re.compile(r"decimal(?:32|64|128|256)?\s*(?:\(\s*(\d{1,2})\s*(?:,\s*(\d{1,2})\s*)?\))?", re.I)


def _decimal_scale(type_: str) -> int | None:
    """The scale (digits after the point) of a Decimal placeholder's type; None for another type."""
    base = _unwrapped(type_)
    match = _DECIMAL_TYPE.fullmatch(base)
    if match is None:
        return None
    first, second = match.groups()
    if second is not None:
        return int(second)
    # Decimal(P) and Decimal have scale 0; Decimal32(S) and the others name only the scale.
    return int(first) if first is not None and not base.lower().startswith("decimal(") else 0


def _past_scale(text: str, scale: int) -> bool:
    """Whether the number ``text`` has digits past ``scale`` after the point. A text that is no
    number, or one past what Decimal computes with, is not: ClickHouse says what is wrong."""
    from decimal import Decimal, DecimalException

    try:
        number = Decimal(text.strip())
        return bool(number.is_finite() and number.scaleb(scale) % 1 != 0)
    except DecimalException:
        return False


def _check_decimal_params(found: list[tuple[str, str]], params: dict[str, Any]) -> None:
    """Refuse a value for a Decimal placeholder with digits past the type's scale: ClickHouse
    cuts them off without a word (1.239 as a Decimal(9, 2) is 1.23, 1.5 as a Decimal is 1).
    A text that is no number is left to ClickHouse, which refuses it."""
    for name, type_ in found:
        value = params.get(name)
        scale = _decimal_scale(type_)
        if scale is None or not isinstance(value, str):
            continue
        if _past_scale(value, scale):
            fail(
                f"--param {name}={value!r}: more digits after the point than a {type_.strip()} keeps "
                f"({scale}); ClickHouse would cut them off without saying so"
            )


# The float types, as _base_type spells them.


@dataclass(frozen=True)
class _FloatRange:
    """What a float type holds: a number of magnitude above ``infinite_above`` is read as inf
    (or -inf), one not 0 below ``zero_below`` as 0. ``largest`` and ``nearest_zero`` as
    ClickHouse prints them."""

    infinite_above: Decimal
    zero_below: Decimal
    largest: str
    nearest_zero: str


def _over_two_to(n: int, times: int = 1) -> Decimal:
    """``times`` * 2**-n exactly (``times`` * 5**n / 10**n): Decimal arithmetic would round it."""
    return Decimal(f"{times * 5**n}e-{n}")


# Each bound half a step past the type's last number, where rounding goes over to inf or 0.
# A BFloat16 is read as a Float32 with its last 16 bits cut off: the same largest magnitude,
# and 0 below its own smallest (2**-133).
_FLOAT32 = _FloatRange(Decimal(2**128 - 2**103), _over_two_to(150), "3.4028235e38", "1e-45")
_FLOAT_RANGES = {
    **dict.fromkeys(("float32", "float", "real", "single"), _FLOAT32),
    **dict.fromkeys(
        ("float64", "double", "double precision"),
        _FloatRange(Decimal(2**1024 - 2**970), _over_two_to(1075), "1.7976931348623157e308", "5e-324"),
    ),
    # 2**-133 less half a Float32's last step, 2**-150: (2**17 - 1) * 2**-150.
    "bfloat16": _FloatRange(
        _FLOAT32.infinite_above, _over_two_to(150, 2**17 - 1), "3.3895314e38", "9.1835e-41"
    ),
}
_FLOAT_TYPES = tuple(_FLOAT_RANGES)
# What ClickHouse reads as a float parameter in decimal: a sign, digits with a point, an exponent.
_FLOAT_TEXT = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(?:[eE]([+-]?[0-9]+))?")


def _float_refusal(text: str, type_: str) -> str | None:
    """Why the number ``text`` is refused for the float type ``type_``: outside what the type
    holds (ClickHouse reads it as inf or -inf) or nearer 0 than any of its numbers but 0 (read
    as 0). None for another type, a number the type holds, and a text that is no decimal number
    (ClickHouse refuses it, or reads inf and nan as written)."""
    bounds = _FLOAT_RANGES.get(_base_type(type_))
    match = _FLOAT_TEXT.fullmatch(text)
    if bounds is None or match is None:
        return None
    mantissa, exponent = match[1], match[2] or "0"
    if not mantissa.strip("+-.0"):
        return None  # zero, at any exponent
    # An exponent of more digits than Decimal takes is past every float's range as 10**9 is.
    digits = exponent.lstrip("+-").lstrip("0") or "0"
    power = int(digits) if len(digits) <= 9 else 10**9
    magnitude = Decimal(f"{mantissa}e{-power if exponent.startswith('-') else power}").copy_abs()
    if magnitude > bounds.infinite_above:
        return (
            f"outside what a {type_.strip()} holds (-{bounds.largest} to {bounds.largest}); ClickHouse "
            f"would read it as {'-inf' if mantissa.startswith('-') else 'inf'} without saying so"
        )
    if magnitude < bounds.zero_below:
        return (
            f"nearer 0 than any {type_.strip()} but 0 ({bounds.nearest_zero} the nearest); ClickHouse "
            "would read it as 0 without saying so"
        )
    return None


def _check_float_params(found: list[tuple[str, str]], params: dict[str, Any]) -> None:
    """Refuse a value for a float placeholder that ClickHouse would read as inf, -inf or 0:
    one past the type's range (1e999 for a Float64, 1e39 for a Float32), or one not 0 nearer 0
    than its smallest. ``inf`` and ``nan`` written as such are taken as asked."""
    for name, type_ in found:
        value = params.get(name)
        if not isinstance(value, str):
            continue
        refusal = _float_refusal(value, type_)
        if refusal is not None:
            fail(f"--param {name}={value!r}: {refusal}")
