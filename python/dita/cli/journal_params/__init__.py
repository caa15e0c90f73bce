"""``dita journal sql --param``: each value read as ClickHouse would read it for its
placeholder's type, and refused where ClickHouse would change it without saying so (an integer
past its type, a float past its range, digits past a Decimal's scale or a DateTime64's
precision, an impossible day, a NULL where the type takes none), naming the parameter and the value.

One file per family of types, read in this order:

- ``__init__.py``: the ``--param`` pairs and the query's placeholders they go to.
- ``type_names.py``: a placeholder's type as written, read (Nullable and LowCardinality
  taken off, arguments split).
- ``numeric.py``: integers, decimals and floats.
- ``times.py``: Date, Date32, DateTime and DateTime64.
- ``composites.py``: Array, Tuple and Map values, each part checked as a value of its type.
"""

from __future__ import annotations

from typing import Any

from dita.cli._common import fail, require_utf8
from dita.cli.journal_params.composites import _check_composite_params
from dita.cli.journal_params.numeric import _check_decimal_params, _check_float_params, _check_int_params
from dita.cli.journal_params.times import _check_time_params

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
    _check_float_params(found, params)
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
