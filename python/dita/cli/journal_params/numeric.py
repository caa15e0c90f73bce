"""Integer and Decimal placeholders: what each type holds, and a value refused where
ClickHouse would read it as another number without saying so."""

from __future__ import annotations

import re
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
_FLOAT_TYPES = ("float32", "float64", "bfloat16", "float", "real", "single", "double", "double precision")
