"""A placeholder's type as written: without Nullable or LowCardinality around it, its name,
its arguments, a Tuple's elements."""

from __future__ import annotations

import re


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
