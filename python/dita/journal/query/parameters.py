"""Parameters of a journal query: the ``{name:Type}`` placeholders a query binds them through
(:func:`placeholders`), the check that binding leaves the checked text as it is
(:func:`check_bound`), and values written as ClickHouse reads them, for a composite
placeholder and for the query socket's JSON request.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from dita.journal.query.guard import ReadOnlyViolation, _lex

__all__ = ["check_bound", "placeholders", "spaced_placeholders"]


def check_bound(body: str, parameters: dict[str, Any]) -> None:
    """Refuse ``parameters`` that would change the text of the checked query ``body``.

    Without a ``{name:Type}`` placeholder clickhouse-connect formats the parameters into the
    text itself (Python ``%``-formatting over all of it, strings included), so a value could
    close a string the check read as inert and run what follows. Only server-side binding
    leaves the text as checked."""
    from clickhouse_connect.driver.binding import bind_query

    plain = isinstance(parameters, dict) and all(isinstance(k, str) and k.isidentifier() for k in parameters)
    if not plain:
        raise ReadOnlyViolation("query parameters must be a dict of plain names (letters, digits, _)")
    if any(isinstance(v, bytes | bytearray | memoryview) for v in parameters.values()):
        raise ReadOnlyViolation("query parameters must not be bytes: bound into the text, they change it")
    if bind_query(body, parameters)[0] != body.rstrip(";"):
        raise ReadOnlyViolation(
            "query parameters are bound only through {name:Type} placeholders in the query "
            "(e.g. WHERE kernel_id = {k:String}); this query has none for them"
        )


class _Literal:
    """Text clickhouse-connect passes to the server as it is (its ``str()``), not escaped."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


_COMPOSITE_TYPES = ("array", "tuple", "map")


def placeholders(sql: str) -> list[tuple[str, str]]:
    """Each ``{name:Type}`` placeholder of ``sql`` as (name, type), in order, read as
    clickhouse-connect reads them when it binds the query.

    Only those ClickHouse substitutes: one in a string, a quoted name or a comment is text
    (``-- AND kernel_id = {k:String}`` filters nothing). Raises :class:`ReadOnlyViolation`
    as :func:`check_read_only` does for a heredoc tag it refuses."""
    from clickhouse_connect.driver.binding import external_bind_re

    return [(m[1], m[2]) for m in _at_braces(sql, external_bind_re)]


def spaced_placeholders(sql: str) -> list[tuple[str, str, str]]:
    """Each placeholder of ``sql`` written with spaces (``{ n : Int64 }``), as (written,
    name, type): the client does not read it, so a value given for it alone never reaches
    ClickHouse."""
    from clickhouse_connect.driver.binding import external_bind_re

    return [
        (m[0], m[1], m[2]) for m in _at_braces(sql, _SPACED_PLACEHOLDER) if not external_bind_re.match(m[0])
    ]


_SPACED_PLACEHOLDER = re.compile(r"\{\s*(\w+)\s*:\s*([^{}]+?)\s*\}")


def _at_braces(sql: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """``pattern``'s matches at each brace the lexer finds outside text: a match started in a
    comment or a string could run on over a real placeholder."""
    found = []
    at = 0
    for token in _lex(sql):
        if token == ("punct", "{") and (match := pattern.match(sql, at)):
            found.append(match)
        at += len(token[1])
    return found


def _composite_literals(body: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` with each text value for an Array, Tuple or Map placeholder passed as
    ClickHouse's own text of the value (``['t1','t2']``), as clickhouse-client's ``--param_``.

    clickhouse-connect escapes a text value's quotes and backslashes for a String placeholder;
    in a composite one that escaping stands outside any string and ClickHouse cannot parse
    it. The CLI's ``--param`` values (and any over the query socket from it) are all text."""
    types: dict[str, str] = {}
    for name, type_ in placeholders(body):
        types.setdefault(name, type_)
    out = dict(parameters)
    for name, value in parameters.items():
        base = types.get(name, "").partition("(")[0].strip().lower()
        if isinstance(value, str) and base in _COMPOSITE_TYPES:
            out[name] = _Literal(value)
    return out


# What a JSON request carries as the owner's client would take it.
_JSON_SCALARS = (str, int, float, type(None))


def _wire_parameters(sql: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` for the JSON request, which has no time or decimal: each value JSON
    cannot carry written as the owner's client would bind it (a DateTime64 placeholder keeps
    the microseconds); text, numbers, booleans and None as they are, since the owner's client
    binds them itself (written as text, None was the string \\N, not NULL)."""
    typed = {name: v for name, v in parameters.items() if not isinstance(v, _JSON_SCALARS)}
    if not typed:
        return parameters  # (and the query needs no ClickHouse client library here)
    from clickhouse_connect.driver.binding import bind_query, format_bind_value

    _, bound = bind_query(sql, typed, dt.UTC)  # times are UTC (docs/reference/journal.md)
    return {
        name: bound.get(f"param_{name}", format_bind_value(v)) if name in typed else v
        for name, v in parameters.items()
    }
