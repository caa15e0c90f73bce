"""What counts as a number in data and venue answers handed to dita from Python."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeGuard

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

# A number written as text: ASCII decimal, as in JSON (a leading "+", ".5" and "5." too).
# float() also reads "1_000", " 2 " and other scripts' digits (Arabic-Indic, full-width): a
# typo would trade 1000. inf and nan pass here and are refused as not finite. ASCII case folding:
# as Unicode, "inf" also matches a dotless or dotted I ("\u0131nf"), which float() cannot read.
_PLAIN_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE | re.ASCII,
)


def plain_number(text: str) -> bool:
    """``text`` is a number written in ASCII decimal (or inf/nan, which finite checks refuse):
    what dita reads a number written as text by, from a client, a file or an option."""
    return _PLAIN_NUMBER.fullmatch(text) is not None


def is_flag(value: object) -> bool:
    """A bool, Python's or numpy's (``numpy.bool_``, what a comparison of arrays gives): the
    kernel reads both as flags, and neither as a number."""
    return isinstance(value, bool) or type(value).__name__ in ("bool", "bool_")


def not_a_flag(value: object) -> object:
    """Refuses a bool where a number belongs: pydantic takes True as 1, so ``max_leverage:
    true`` in a config would be a leverage of 1, and ``timeout_ms=True`` a timeout of one
    millisecond, without a word. The settings models' number types below check with it."""
    if is_flag(value):
        raise ValueError(f"{value!r} is a flag, not a number")
    return value


def only_a_flag(value: object) -> bool:
    """What the kernel's bindings take as a flag: a bool (numpy's too) or the int 0 or 1.
    Pydantic's own bool takes 1.0, "yes" and "off" as well, so a settings model passed on
    what the kernel, given the same value, refuses."""
    if is_flag(value):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(int(value))
    raise ValueError(f"{value!r} is not a flag (must be True or False, or the int 0 or 1)")


def not_text(value: object) -> object:
    """Refuses a number written as text (or bytes), and a flag (``not_a_flag``): pydantic reads
    "100" as 100.0, where the kernel's setters refuse text, so a limit quoted in a config passed
    the model that is there to check it."""
    if isinstance(value, str | bytes | bytearray):
        raise ValueError(f"{value!r} is text, not a number")
    return not_a_flag(value)


_NOT_PLAIN = "Input should be a number in ASCII digits (sign, fraction and exponent optional)"


def a_number(value: object) -> object:
    """Refuses a flag (``not_a_flag``) and a number written as text other than in ASCII digits
    (``plain_number``): pydantic reads "1_000" and " 10 " as numbers, where the gateway's HTTP API
    refuses them (a typo would trade 1000), so ``DITA_GATEWAY_MAX_SLOTS=1_0`` would be 10 slots. Text
    that is no number at all is left to the field's type, which says so in its own words."""
    if isinstance(value, str) and not plain_number(value):
        try:
            float(value)
        except ValueError:
            return value
        raise PydanticCustomError("number_parsing", _NOT_PLAIN)
    return not_a_flag(value)


# The number fields of dita's settings models: a bool given for one is refused naming it, and so
# is text not in ASCII digits (``a_number``).
Number = Annotated[float, BeforeValidator(a_number)]
OptionalNumber = Annotated[float | None, BeforeValidator(a_number)]
# The same for models only code or a typed file (TOML) fills: text refused too. Settings read
# from the environment arrive as text, so those keep ``Number`` and ``Count``.
PlainNumber = Annotated[float, BeforeValidator(not_text)]
OptionalPlainNumber = Annotated[float | None, BeforeValidator(not_text)]
Count = Annotated[int, BeforeValidator(a_number)]
PlainCount = Annotated[int, BeforeValidator(not_text)]
OptionalPlainCount = Annotated[int | None, BeforeValidator(not_text)]
# A settings model's flag, taken as the kernel takes one.
Flag = Annotated[bool, BeforeValidator(only_a_flag)]


def within(value: object, low: float, high: float) -> bool:
    """A Python int or float, not a bool, from ``low`` to ``high``, both included (a NaN is
    not): what a setting in seconds takes."""
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def is_real(value: object) -> TypeGuard[float]:
    """Any real number, numpy's included (a float32 column), but not a bool: Python counts
    True as 1, and a flag where a price or size belongs is a mistake."""
    # A float is the usual case (every price of a replay): answered without the ABC's check.
    return type(value) is float or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def is_finite(value: float) -> bool:
    """``math.isfinite``, False for an int too large for a float, on which it raises."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


# The last time the kernel takes (9999-12-31 23:59:59 UTC, the last second a datetime holds), in
# seconds since the epoch, and why it refuses a later one, in the kernel's words (error.rs).
LAST_DATETIME_SECOND = 253_402_300_799.0
PAST_LAST_DATETIME = (
    "must be seconds since the epoch, at most 253402300799 (9999-12-31 23:59:59 UTC, the last "
    "second a datetime holds): this reads as milliseconds"
)


def is_count(value: object) -> TypeGuard[int]:
    """An int >= 0, numpy's included, but not a bool (a flag where a count belongs is a mistake)."""
    return isinstance(value, numbers.Integral) and not is_flag(value) and int(value) >= 0


# The slot ids the kernel's bindings read: a signed 64-bit integer.
_SLOT_IDS = range(-(2**63), 2**63)


def past_slot_ids(value: object) -> bool:
    """Whether ``value`` is an integer (numpy's too; not a flag) past the 64 bits the kernel
    reads a slot id in: it names no slot, as -1 does, yet the bindings refuse it as no integer
    they can read (ValueError), not as a slot they lack."""
    if type(value) is int:  # the usual case (every exit and cancel), answered without the ABC's check
        return value not in _SLOT_IDS
    return isinstance(value, numbers.Integral) and not is_flag(value) and int(value) not in _SLOT_IDS


def integer_named(value: int) -> int | str:
    """``value`` as an error or a refusal's details name it: itself, or past the digits
    ``str()`` writes (4,300) its size, which ``repr`` and JSON would raise on."""
    try:
        str(value)
    except ValueError:
        return f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"
    return value


def finite_json(value: Any, *, as_text: bool = False) -> Any:
    """``value`` ready for strict JSON, which has no NaN or infinities: each float that is not
    finite, at any depth, becomes None (null) or, with ``as_text``, its text (``"inf"``, to
    keep what a run was given); mappings come back as dicts with text keys, sequences as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value) if as_text else None
    if isinstance(value, Mapping):
        return {str(k): finite_json(v, as_text=as_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v, as_text=as_text) for v in value]
    return value


def exact_text(value: float) -> str:
    """``value`` as short as it reads back the same (0.001, 5000, 12345.67, 1.2345678901e-05):
    a figure a message asks the operator to give again."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)
