"""Array, Tuple and Map placeholders: their value's text read as ClickHouse reads it, and each
part (at any depth) checked as a value of its own type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dita.cli._common import fail
from dita.cli.journal_params.numeric import (
    _FLOAT_TYPES,
    _INT_TEXT,
    _decimal_scale,
    _float_refusal,
    _holds,
    _int_bounds,
    _past_scale,
)
from dita.cli.journal_params.times import _check_time_params, _time_type
from dita.cli.journal_params.type_names import (
    _base_type,
    _nullable,
    _tuple_element,
    _type_arguments,
    _unwrapped,
)


def _check_composite_params(found: list[tuple[str, str]], params: dict[str, Any]) -> None:
    """Refuse a value inside an Array, Tuple or Map placeholder's value, at any depth, that
    ClickHouse would read as another value without a word: an integer its type cannot hold
    (``[300]`` as an Array(UInt8) is ``[44]``), a float it reads as inf or 0 (``[1e39]`` as an
    Array(Float32)), digits past a Decimal's scale, NULL where its type is not Nullable
    (``[NULL]`` is ``[0]``) and a time that names no real time. A text
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
    refusal = _float_refusal(element.text, type_)
    if refusal is not None:
        fail(f"--param {name}={value!r}: {element.text} is {refusal}")
    scale = _decimal_scale(type_)
    if scale is not None and _past_scale(element.text, scale):
        fail(
            f"--param {name}={value!r}: {element.text} has more digits after the point than a "
            f"{type_} keeps ({scale}); ClickHouse would cut them off without saying so"
        )


_COMPOSITE_HEADS = ("array", "tuple", "map")


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
