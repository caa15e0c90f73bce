"""Date, Date32, DateTime and DateTime64 placeholders: a value refused where it names no
real time or more digits than the type keeps, and said where the type cannot hold it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from dita.cli._common import fail, warn
from dita.cli.journal_params.numeric import _holds
from dita.cli.journal_params.type_names import _base_type, _type_arguments, _unwrapped

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


def _time_type(type_: str) -> str | None:
    """The time type a placeholder's type is (``date``, ``date32``, ``datetime``, ``datetime64``);
    None for any other type."""
    name = _base_type(type_)
    return name if name in _TIME_TYPES else None


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

_DAY_SHAPE = re.compile(r"(19[0-9]{2}|[2-9][0-9]{3})([0-9]{2})([0-9]{2})")
"""Eight digits read as a day YYYYMMDD from the year 1900, real or not (20251131, 20251301): as
epoch seconds they are a time from 1970-08-08 to 1973-03-03, before any journal's rows."""

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
    shaped = _DAY_SHAPE.fullmatch(digits) if not sign and fraction is None else None
    if shaped is not None:
        year, month, mday = (int(part) for part in shaped.groups())
        at = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
        try:
            day = dt.date(year, month, mday)
        except ValueError as exc:
            # Meant as a day all the same (20251131), not as seconds of 1970.
            fail(
                f"--param {name}={value!r}: a day written YYYYMMDD that names no real day ({exc}); "
                f"ClickHouse would read it for a {type_} as epoch seconds, {at:%Y-%m-%d %H:%M:%S} UTC, "
                "without saying so. Give YYYY-MM-DD of a real day, or epoch seconds (10 digits)"
            )
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
