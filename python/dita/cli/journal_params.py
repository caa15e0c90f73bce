"""``dita journal sql --param``: each value read as ClickHouse would read it for its
placeholder's type, and refused where ClickHouse would change it without saying so (an integer
past its type, digits past a Decimal's scale or a DateTime64's precision, an impossible day, a
NULL where the type takes none), naming the parameter and the value.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from dita.cli._common import fail, require_utf8, warn

__all__ = ["query_params"]


def query_params(query: str, pairs: list[str] | None) -> dict[str, Any]:
    """The ``--param`` values ``pairs`` (NAME=VALUE) of ``query`` as NAME -> text, each checked
    against its placeholder's type; a refusal ends the command naming the parameter and value."""
    params = _parse_params(pairs)
    require_utf8("the query", query)
    for name, value in params.items():
        require_utf8(f"--param {name}", value)
    found = _check_placeholders(query, params)
    _check_time_params(found, params)
    _check_int_params(found, params)
    _check_decimal_params(found, params)
    _check_composite_params(found, params)
    return params


def _parse_params(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--param {pair!r} must be NAME=VALUE (used as {{NAME:Type}} in the query)")
        name = key.strip()
        if not name.isidentifier() or not name.isascii():
            fail(
                f"--param {pair!r}: NAME must be ASCII letters, digits and _, not starting with a digit "
                "(used as {NAME:Type} in the query)"
            )
        if name in out:  # the last one winning would answer another question than asked
            fail(f"--param {name} is given twice ({out[name]!r} and {value!r})")
        out[name] = value
    return out


def _check_placeholders(query: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """Refuse a --param no placeholder of ``query`` names, and a placeholder without one;
    the placeholders, as (name, type)."""
    from dita.journal.query import ReadOnlyViolation, check_read_only, placeholders, spaced_placeholders

    try:
        check_read_only(query)  # first: what is refused is said before any --param advice
        found = placeholders(query)
    except ReadOnlyViolation as exc:
        fail(str(exc))
    for spelt, name, type_ in spaced_placeholders(query):
        # The client reads only {n:Int64}: with no other placeholder it sends no value at all.
        fail(f"placeholder {spelt!r}: write it as {{{name}:{type_}}}, without spaces")
    named = {name for name, _ in found}
    for name in params:
        # ClickHouse ignores a parameter no placeholder names: `-p kernel_id=k1` on a query
        # without {kernel_id:String} would answer for every kernel. One in a comment or a
        # string is text, not a placeholder.
        if name not in named:
            fail(
                f"--param {name}: the query has no {{{name}:Type}} placeholder, so it would be ignored "
                "(one in a comment or a string is not a placeholder)"
            )
    for name, type_ in found:
        if name not in params:
            fail(f"the query's placeholder {{{name}:{type_}}} has no value: give --param {name}=VALUE")
    return found


_TIME_TEXT = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?")
# ClickHouse reads eight digits for a Date or Date32 as YYYYMMDD, and one that names no real day
# as another without a word (20251131 as 2025-12-01, month 13 as 1970-01-01).
_DAY_DIGITS = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")

_TIME_TYPES = ("date", "date32", "datetime", "datetime64")

# What Date and DateTime hold, in UTC. ClickHouse moves a time outside to the range's nearer
# end without a word (1800-01-01 as a Date is 1970-01-01, 2200-01-01 is 2149-06-06): the
# same answer for a bound of a range (`ts < {until:Date}`), another for an equality. Date32
# and DateTime64 hold far more on recent servers (chDB's: years up to 9999).
_TIME_RANGES: dict[str, tuple[dt.datetime, dt.datetime, str]] = {
    "date": (dt.datetime(1970, 1, 1), dt.datetime(2149, 6, 6), "1970-01-01 to 2149-06-06"),
    "datetime": (
        dt.datetime(1970, 1, 1),
        dt.datetime(2106, 2, 7, 6, 28, 15),
        "1970-01-01 00:00:00 to 2106-02-07 06:28:15 UTC",
    ),
}


def _unwrapped(type_: str) -> str:
    """A placeholder's type without Nullable or LowCardinality around it, its arguments kept:
    ``LowCardinality(Nullable(Decimal(9, 2)))`` is ``Decimal(9, 2)``."""
    base = type_.strip()
    while True:
        head, paren, rest = base.partition("(")
        if not (paren and head.strip().lower() in ("nullable", "lowcardinality")):
            return base
        base = rest.rsplit(")", 1)[0].strip()


def _base_type(type_: str) -> str:
    """A placeholder's type without Nullable or LowCardinality around it, lower case and
    without its arguments: ``Nullable(DateTime64(3))`` is ``datetime64``."""
    # Its arguments dropped wherever they are (INT(11) UNSIGNED is "int unsigned").
    return " ".join(re.sub(r"\(.*\)", " ", _unwrapped(type_)).lower().split())


def _time_type(type_: str) -> str | None:
    """The time type a placeholder's type is (``date``, ``date32``, ``datetime``, ``datetime64``);
    None for any other type."""
    name = _base_type(type_)
    return name if name in _TIME_TYPES else None


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


def _check_composite_params(found: list[tuple[str, str]], params: dict[str, Any]) -> None:
    """Refuse a value inside an Array, Tuple or Map placeholder's value, at any depth, that
    ClickHouse would read as another value without a word: an integer its type cannot hold
    (``[300]`` as an Array(UInt8) is ``[44]``), digits past a Decimal's scale, NULL where its
    type is not Nullable (``[NULL]`` is ``[0]``) and a time that names no real time. A text
    read otherwise than here is left to ClickHouse, which refuses it."""
    for name, type_ in found:
        value = params.get(name)
        if not isinstance(value, str) or _type_arguments(_unwrapped(type_))[0] not in _COMPOSITE_HEADS:
            continue
        read = _read_composite(value)
        if read is not None:
            _check_composite(name, value, type_, read)


def _check_composite(name: str, value: str, type_: str, read: _Text) -> None:
    """Check each part of ``read``, the text of a value of the Array, Tuple or Map ``type_``
    inside the --param ``name=value``, as a value of its own type."""
    container = _unwrapped(type_)
    head, args = _type_arguments(container)
    parts: list[tuple[str, _Text, str]]  # (type, text, what of the container it is)
    if head == "array" and read.kind == "array" and len(args) == 1:
        parts = [(args[0], item, "whose elements are") for item in read.items]
    elif head == "tuple" and read.kind == "tuple" and len(args) == len(read.items):
        parts = []
        for k, (arg, item) in enumerate(zip(args, read.items, strict=True), 1):
            label, element = _tuple_element(arg)
            parts.append((element, item, f"whose element {label or k} ({element}) is"))
    elif head == "map" and read.kind == "map" and len(args) == 2:
        keys, values = read.items[0::2], read.items[1::2]
        parts = [(args[0], key, "whose keys are") for key in keys]
        parts += [(args[1], item, "whose values are") for item in values]
    else:
        return  # another shape than its type's: left to ClickHouse
    for part_type, part, whose in parts:
        if part.kind == "bare" and part.text.upper() == "NULL":
            reads_as = None if _nullable(part_type) else _null_reads_as(part_type)
            if reads_as is not None:
                fail(
                    f"--param {name}={value!r}: NULL in {'an' if head == 'array' else 'a'} {container}, "
                    f"{whose} not Nullable; ClickHouse would read it as {reads_as} without saying so"
                )
        elif part.kind in _COMPOSITE_HEADS:
            _check_composite(name, value, part_type, part)
        else:
            _check_element(name, value, part_type, part)


def _check_element(name: str, value: str, type_: str, element: _Text) -> None:
    """Check ``element``, a number or a quoted text inside the --param ``name=value``, as a
    value of ``type_``: what the top-level checks hold a placeholder's value to."""
    type_ = type_.strip()
    if _time_type(type_) is not None:
        _check_time_params([(name, type_)], {name: element.text})
        return
    if element.kind != "bare":
        return  # a quoted number: ClickHouse refuses it
    bounds = _int_bounds(type_)
    if bounds is not None and _INT_TEXT.fullmatch(element.text) and not _holds(bounds, element.text):
        low, high = bounds
        fail(
            f"--param {name}={value!r}: {element.text} is outside what a {type_} holds ({low} to "
            f"{high}); ClickHouse would read it as another number without saying so"
        )
    scale = _decimal_scale(type_)
    if scale is not None and _past_scale(element.text, scale):
        fail(
            f"--param {name}={value!r}: {element.text} has more digits after the point than a "
            f"{type_} keeps ({scale}); ClickHouse would cut them off without saying so"
        )


_COMPOSITE_HEADS = ("array", "tuple", "map")


def _type_arguments(type_: str) -> tuple[str, list[str]]:
    """A type's name, lower case, and its arguments as written, split at the commas between
    them: ``Map(String, Tuple(UInt8, String))`` is ("map", ["String", "Tuple(UInt8, String)"])."""
    head, paren, rest = type_.strip().partition("(")
    rest = rest.rstrip()
    if not paren or not rest.endswith(")"):
        return head.strip().lower(), []
    inside, args, start, depth, quote = rest[:-1], [], 0, 0, ""
    for i, c in enumerate(inside):
        if quote:
            quote = "" if c == quote and inside[i - 1] != "\\" else quote
        elif c in "'`\"":
            quote = c
        elif c in "()":
            depth += 1 if c == "(" else -1
        elif c == "," and depth == 0:
            args.append(inside[start:i].strip())
            start = i + 1
    args.append(inside[start:].strip())
    return head.strip().lower(), [a for a in args if a]


# A Tuple's element with a name before its type (`a UInt8`). ClickHouse reads `INT UNSIGNED`
# there as an element named INT of type UNSIGNED too.
_NAMED_ELEMENT = re.compile(r"(`[^`]*`|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_]*)\s+(\S.*)", re.S)


def _tuple_element(arg: str) -> tuple[str, str]:
    """A Tuple type's argument as (its name, "" for none; its type)."""
    named = _NAMED_ELEMENT.fullmatch(arg.strip())
    return (named[1], named[2].strip()) if named else ("", arg.strip())


def _nullable(type_: str) -> bool:
    """Whether ``type_`` holds NULL: a Nullable, or a LowCardinality of one."""
    base = type_.strip()
    while True:
        head, paren, rest = base.partition("(")
        head = head.strip().lower()
        if head == "nullable" or not (paren and head == "lowcardinality"):
            return head == "nullable"
        base = rest.rsplit(")", 1)[0]


_FLOAT_TYPES = ("float32", "float64", "bfloat16", "float", "real", "single", "double", "double precision")
# What ClickHouse reads NULL as where a type that is not Nullable goes: the type's default.
_NULL_READ_AS = {
    **dict.fromkeys(("bool", "boolean"), "false"),
    "string": "''",
    "uuid": "00000000-0000-0000-0000-000000000000",
    **dict.fromkeys(("date", "date32"), "1970-01-01"),
    **dict.fromkeys(("datetime", "datetime64"), "1970-01-01 00:00:00"),
    "array": "[]",
    "map": "{}",
}


def _null_reads_as(type_: str) -> str | None:
    """What ClickHouse reads NULL as for a ``type_`` that is not Nullable, as it prints; None for
    a type not known here (a Variant, say, holds NULL as it is)."""
    inner = _unwrapped(type_)
    head, args = _type_arguments(inner)
    base = _base_type(inner)
    if _int_bounds(inner) is not None or _decimal_scale(inner) is not None or base in _FLOAT_TYPES:
        return "0"
    if head == "tuple":
        parts = [_null_reads_as(_tuple_element(arg)[1]) for arg in args]
        return None if None in parts else "(" + ", ".join(str(p) for p in parts) + ")"
    return _NULL_READ_AS.get(base, _NULL_READ_AS.get(head))


@dataclass(frozen=True)
class _Text:
    """A value's text as ClickHouse reads it for an Array, Tuple or Map parameter: ``kind`` is
    "array", "tuple" or "map" (``items``: its elements, a map's keys and values in turn),
    "quoted" (``text``: a string, unescaped) or "bare" (``text``: a number, NULL ...)."""

    kind: str
    text: str = ""
    items: tuple[_Text, ...] = ()


_OPENS = {"[": ("array", "]"), "(": ("tuple", ")"), "{": ("map", "}")}
_BARE_ENDS = frozenset(",:[](){}'")


def _read_composite(text: str) -> _Text | None:
    """``text`` read as the value of an Array, Tuple or Map parameter; None when it is not in
    the form read here (ClickHouse then refuses it, or reads it some other way)."""
    read, at = _read_text(text, 0, 0)
    return read if read is not None and not text[at:].strip() else None


# Values nested deeper are left to ClickHouse: each level is a call here.
_MOST_LEVELS = 100


def _read_text(text: str, at: int, level: int) -> tuple[_Text | None, int]:
    """The value starting at ``text[at:]`` (spaces first), ``level`` levels deep, and where it
    ends."""
    while at < len(text) and text[at].isspace():
        at += 1
    if at == len(text):
        return None, at
    if text[at] in _OPENS:
        return _read_items(text, at, level + 1) if level < _MOST_LEVELS else (None, at)
    if text[at] == "'":
        out, at = [], at + 1
        while at < len(text):
            if text[at] == "\\" and at + 1 < len(text):
                out.append(text[at + 1])
                at += 2
            elif text.startswith("''", at):
                out.append("'")
                at += 2
            elif text[at] == "'":
                return _Text("quoted", "".join(out)), at + 1
            else:
                out.append(text[at])
                at += 1
        return None, at  # a string left open
    end = at
    while end < len(text) and text[end] not in _BARE_ENDS:
        end += 1
    bare = text[at:end].strip()
    return (_Text("bare", bare) if bare else None), end


def _read_items(text: str, at: int, level: int) -> tuple[_Text | None, int]:
    """The array, tuple or map opening at ``text[at]``, its elements separated by commas (one
    after the last too), a map's keys and values by colons."""
    kind, close = _OPENS[text[at]]
    items: list[_Text] = []
    at += 1
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if text.startswith(close, at):
            return _Text(kind, items=tuple(items)), at + 1
        item, at = _read_text(text, at, level)
        if item is None:
            return None, at
        items.append(item)
        if kind == "map":
            at = _after(text, at, ":")
            value, at = _read_text(text, at, level) if at >= 0 else (None, at)
            if value is None:
                return None, at
            items.append(value)
        after = _after(text, at, ",")
        if after >= 0:
            at = after
        elif _after(text, at, close) < 0:
            return None, at


def _after(text: str, at: int, mark: str) -> int:
    """Where ``text`` goes on past ``mark`` at ``at`` (spaces first), or -1 when it is not there."""
    while at < len(text) and text[at].isspace():
        at += 1
    return at + len(mark) if text.startswith(mark, at) else -1


def _check_time_params(found: list[tuple[str, str]], params: dict[str, Any]) -> None:
    """Refuse a text for a Date/DateTime placeholder that names no real time, and say so of a
    time a Date or DateTime cannot hold.

    ClickHouse reads such values without a word as another time: month 13 as 1900-01-01,
    2025-11-31 as 2025-12-01, 25:61 as the next day's 02:01, an empty value as 1970-01-01,
    1800-01-01 as a Date's first day. The query would then answer for a window nobody asked
    about. Other texts (epoch seconds, a form ClickHouse cannot parse at all) are left to
    ClickHouse. ``found``: the query's placeholders, as (name, type)."""
    for name, type_ in found:
        value = params.get(name)
        time_type = _time_type(type_)
        if not isinstance(value, str) or time_type is None:
            continue
        form = "YYYY-MM-DD, YYYY-MM-DD hh:mm:ss[.ffffff] (UTC) or epoch seconds"
        if not value.strip():
            fail(f"--param {name}={value!r}: empty, for a {type_.strip()} placeholder; give {form}")
        epoch = _EPOCH_TEXT.fullmatch(value)
        if epoch is not None and time_type in ("datetime", "datetime64"):
            _check_epoch(name, value, type_.strip(), time_type, epoch)
            continue
        match = _TIME_TEXT.fullmatch(value)
        if match is None and time_type in ("date", "date32") and (day := _DAY_DIGITS.fullmatch(value)):
            match = _TIME_TEXT.fullmatch("-".join(day.groups()))
        if match is None:
            continue
        y, mo, d, h, mi, sec = (int(p or 0) for p in match.groups()[:6])
        try:
            moment = dt.datetime(y, mo, d, h, mi, sec)
        except ValueError as exc:
            fail(
                f"--param {name}={value!r}: not a real time ({exc}); ClickHouse would read it as "
                f"another time without saying so. Give {form}"
            )
        _check_fraction(name, value, type_.strip(), time_type, match[7])
        if time_type not in _TIME_RANGES:
            continue
        if time_type == "date":
            moment = dt.datetime(y, mo, d)  # a Date keeps the day of a time given to it
        first, last, shown = _TIME_RANGES[time_type]
        if not first <= moment <= last:
            warn(
                f"--param {name}={value!r}: outside what a {type_.strip()} holds ({shown}); "
                f"ClickHouse reads it as {'the first' if moment < first else 'the last'} one"
            )


_EPOCH_TEXT = re.compile(r"([+-]?)([0-9]+)(\.[0-9]+)?")

_EPOCH_SECONDS_BELOW = 10**10
"""Epoch seconds have 10 digits until 2286-11-20. ClickHouse reads a longer number for a DateTime64
as a count of its ticks or as seconds, depending on its size, the type's precision and the version
(epoch milliseconds of 2026 can be 1970-01-21 in a DateTime64(6)), and clamps it in a DateTime."""


def _check_epoch(name: str, value: str, type_: str, time_type: str, epoch: re.Match[str]) -> None:
    """Refuse a number for a DateTime or DateTime64 placeholder that is not epoch seconds as
    ClickHouse reads them: more than 10 digits (epoch milliseconds, say), or a day written
    YYYYMMDD (a Date reads 20260921 as that day, a DateTime as 1970-08-23 12:02:01). Say so of
    epoch seconds past what a DateTime holds, as of a time written out."""
    sign, digits, fraction = epoch.groups()
    if not _holds((0, _EPOCH_SECONDS_BELOW - 1), digits):
        fail(
            f"--param {name}={value!r}: {len(digits)} digits, more than epoch seconds have until 2286 "
            f"(epoch milliseconds?); ClickHouse would read it for a {type_} as another time without "
            "saying so. Give epoch seconds (10 digits) or YYYY-MM-DD hh:mm:ss[.ffffff] (UTC)"
        )
    seconds = int(digits)  # below 10**10 here
    if not sign and fraction is None and len(digits) == 8:
        try:
            day = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            day = None
        if day is not None and day.year >= 1900:
            at = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
            fail(
                f"--param {name}={value!r}: read as epoch seconds, {at:%Y-%m-%d %H:%M:%S} UTC, for a "
                f"{type_}; for the day {day} write {day:%Y-%m-%d} (for that time, {at:%Y-%m-%d %H:%M:%S})"
            )
    _check_fraction(name, value, type_, time_type, fraction)
    if time_type == "datetime" and not sign and fraction is None:
        _, last, shown = _TIME_RANGES["datetime"]
        if seconds > (last - dt.datetime(1970, 1, 1)).total_seconds():
            warn(
                f"--param {name}={value!r}: outside what a {type_} holds ({shown}); "
                "ClickHouse reads it as the last one"
            )


def _check_fraction(name: str, value: str, type_: str, time_type: str, fraction: str | None) -> None:
    """Refuse a time for a DateTime64 placeholder with digits after the second past the type's
    precision (``.1234`` for a DateTime64(3)): ClickHouse cuts them off without a word, as a
    Decimal's past its scale. ``fraction``: the value's, with its point."""
    if fraction is None or time_type != "datetime64":
        return
    args = _type_arguments(_unwrapped(type_))[1]
    if args and not (args[0].isdigit() and len(args[0]) <= 2):
        return  # no precision ClickHouse takes (0 to 9): it refuses the type
    precision = int(args[0]) if args else 3  # DateTime64 alone keeps 3
    if fraction[1 + precision :].strip("0"):
        fail(
            f"--param {name}={value!r}: more digits after the second than a {type_} keeps "
            f"({precision}); ClickHouse would cut them off without saying so"
        )
