"""How a time becomes epoch seconds: a ``--from``/``--to`` text (``parse_time``) and a file's
time column (``time_column_to_seconds``), and which of several time columns gives the rows'
time (``time_column_name``).

A time read wrong gives a backtest that looks fine on the wrong dates, so each of these is
refused with a ``DataError`` (a ``ValueError`` for ``parse_time``) saying what it reads as:
digits that are a date as well as epoch seconds (20240105), a spreadsheet's serial days (45292,
45292.5) stepping from row to row as days do, epoch numbers in more than one unit, times giving
their zone beside times giving none, a time of day with no date, and a time outside the years a
report prints (``EARLIEST_TIME``, ``LATEST_TIME``) or a venue takes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from dita._numbers import LAST_DATETIME_SECOND
from dita.backtest.data_error import DataError
from dita.backtest.data_file import as_written, first_null, one_of_agreeing_columns

__all__ = [
    "EARLIEST_TIME",
    "LATEST_TIME",
    "FloatArray",
    "iso",
    "parse_time",
    "refuse_times_outside_replay",
    "time_column_name",
    "time_column_to_seconds",
]

FloatArray = npt.NDArray[np.float64]

# Times a report can print: 1900-01-01 up to the end of 9999 (datetime's last year, the
# kernel's last time).
EARLIEST_TIME = -2_208_988_800.0
LATEST_TIME = LAST_DATETIME_SECOND


def _time_problem(value: float) -> str | None:
    """Why ``value`` (epoch seconds) is not a time history can have (None: it is one)."""
    if not math.isfinite(value):
        return "is not a finite number"
    if not EARLIEST_TIME <= value <= LATEST_TIME:
        return "is outside the years 1900-9999"
    return None


def _date_or_seconds(text: str) -> tuple[str, str] | None:
    """What else all digits could mean besides epoch seconds, and that date in ISO: "20240105"
    is an ISO date to Python (and to a person), "202401" a month, "2024" a year; read as
    seconds, all are in 1970, and a window starting there would silently take all the data. None
    when they are no date."""
    if not text.isdigit():
        return None
    if len(text) == 8:
        try:
            day = datetime.strptime(text, "%Y%m%d").date().isoformat()
        except ValueError:
            return None
        return f"the date {day}", day
    if len(text) == 6 and 1970 <= int(text[:4]) <= 2999 and 1 <= int(text[4:]) <= 12:
        return f"the month {text[:4]}-{text[4:]}", f"{text[:4]}-{text[4:]}-01"
    if len(text) == 4 and 1970 <= int(text) <= 2999:
        return f"the year {text}", f"{text}-01-01"
    return None


def parse_time(value: str, field: str = "time") -> float:
    """An ISO date or datetime (UTC unless it says otherwise), or epoch seconds, as epoch seconds."""
    return _time_and_zone(value, field)[0]


def _time_and_zone(value: str, field: str) -> tuple[float, bool | None]:
    """``parse_time``'s seconds, and whether the text gave its time zone (None for epoch
    seconds, which are UTC by what they are)."""
    text = value.strip()
    meant = _date_or_seconds(text)
    if meant is not None:
        raise ValueError(
            f"{field}={value!r} is ambiguous: {meant[0]} or {int(text):,} epoch seconds "
            f"({iso(float(text))})? write the date as {meant[1]}, or the seconds as {text}.0"
        )
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        problem = _time_problem(seconds)
        if problem:
            raise ValueError(f"{field}={value!r} {problem} (give an ISO date/datetime or epoch seconds)")
        return seconds, None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{field}={value!r} is not an ISO date/datetime or epoch seconds") from None
    zoned = dt.tzinfo is not None
    if not zoned:
        dt = dt.replace(tzinfo=UTC)
    seconds = dt.timestamp()
    # ISO text reaches back to year 1 (and past 9999 with an offset): hold it to the same years.
    problem = _time_problem(seconds)
    if problem:
        raise ValueError(f"{field}={value!r} {problem} (give an ISO date/datetime or epoch seconds)")
    return seconds, zoned


def time_column_to_seconds(col: pa.ChunkedArray, name: str, path: str) -> FloatArray:
    """Timestamps, ISO strings, or epoch numbers (s, ms, us or ns, told apart by magnitude)."""
    typ = col.type
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        if pa.types.is_date(typ):
            col = col.cast(pa.timestamp("s"))
        # In the column's own unit: nanoseconds since 1970 end in 2262, before a date column does.
        per_second = _UNITS_PER_SECOND[col.type.unit]
        raw = pc.cast(col, pa.int64())
        nulls = first_null(raw)
        if nulls is not None:
            raise DataError(f"{name} is {as_written(path, name, nulls) or 'empty'}", path=path, row=nulls + 1)
        return np.asarray(raw.to_numpy(), dtype=np.int64).astype(np.float64) / per_second
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        values = col.to_pylist()
        out = np.empty(len(values), dtype=np.float64)
        first_zoned: tuple[int, bool] | None = None  # the first ISO time's row, and whether it has a zone
        for i, v in enumerate(values):
            if v is None:
                raise DataError(f"{name} is {as_written(path, name, i) or 'empty'}", path=path, row=i + 1)
            try:
                out[i], zoned = _time_and_zone(v, name)
            except ValueError as exc:
                raise DataError(str(exc), path=path, row=i + 1) from None
            if zoned is None:
                continue
            if first_zoned is None:
                first_zoned = (i, zoned)
            elif zoned != first_zoned[1]:
                # A file in local time with some rows stamped with their offset is two clocks.
                said = ("gives its time zone", "gives none") if zoned else ("gives no time zone", "gives one")
                raise DataError(
                    f"{name} {v!r} {said[0]}, where row {first_zoned[0] + 1}'s {values[first_zoned[0]]!r} "
                    f"{said[1]} (a time without one is read as UTC): give every time with its offset "
                    "(2024-01-01T00:00:00+02:00) or every one in UTC without",
                    path=path,
                    row=i + 1,
                )
        return out
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        arr = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{name} is {as_written(path, name, i) or 'NaN or empty'}", path=path, row=i + 1)
        # Each value's unit by its size; a column must keep one (files joined across a
        # provider's switch from ms to us would put the ms rows in 1970).
        if not arr.size:
            return arr
        meant = _digit_dates(arr)
        if meant is not None:
            # As parse_time refuses such a --from: read as seconds, daily bars would be one-second
            # bars of 1970, and a run of them report its Sharpe and drawdowns of seconds.
            raise DataError(
                f"{name} {_show_number(arr[0])} is ambiguous: {meant[0]} or {int(arr[0]):,} epoch "
                f"seconds ({iso(arr[0])})? all {arr.size:,} of its values read as dates written as "
                f"digits ({meant[2]}): write them as ISO dates ({meant[1]})",
                path=path,
                row=1,
            )
        if _spreadsheet_days(arr):
            # Read as seconds, daily bars of 2024 would be one-second bars of 1970.
            when = _SPREADSHEET_DAY_ZERO + float(arr[0]) * 86_400.0
            day = iso(when)[:10] if float(arr[0]).is_integer() else iso(when)
            raise DataError(
                f"{name} {_show_number(arr[0])} looks like spreadsheet serial days ({day} as a "
                f"spreadsheet counts days from 1899-12-30), not epoch seconds ({iso(arr[0])}): all "
                f"{arr.size:,} of its values are from {_SPREADSHEET_DAYS[0]:,} to {_SPREADSHEET_DAYS[1]:,}, "
                f"a row from the next by {_SPREADSHEET_STEPS}: save the times as ISO dates ({day}) "
                "or epoch seconds",
                path=path,
                row=1,
            )
        unit = np.searchsorted(_EPOCH_UNIT_ABOVE, np.abs(arr), side="left")
        mixed = np.flatnonzero(unit != unit[0])
        if mixed.size:
            i = int(mixed[0])
            raise DataError(
                f"{name} {_show_number(arr[i])} reads as epoch {_EPOCH_UNITS[unit[i]]}, row 1's as epoch "
                f"{_EPOCH_UNITS[unit[0]]}: give every time in one unit",
                path=path,
                row=i + 1,
            )
        return arr / _UNITS_PER_SECOND[_EPOCH_UNITS[unit[0]]]
    if pa.types.is_time(typ):
        # Date and Time in two columns (a common export): the time column has no date.
        raise DataError(
            f"column {name!r} holds times of day without their date ({typ}): give date and time "
            "in one time column, e.g. 2024-01-01T00:01:00",
            path=path,
        )
    raise DataError(f"column {name!r} has type {typ}, expected dates/times or epoch numbers", path=path)


_UNITS_PER_SECOND = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
# Epoch numbers above 1e11 are ms, above 1e14 us, above 1e17 ns (1e11 s is the year 5138).
_EPOCH_UNIT_ABOVE = np.array([1e11, 1e14, 1e17])
_EPOCH_UNITS = ("s", "ms", "us", "ns")


# Dates written as digits: the form and the numbers it takes.
_DIGIT_DATES = (("YYYY", 1_970, 2_999), ("YYYYMM", 197_001, 299_912), ("YYYYMMDD", 19_000_101, 29_991_231))


def _digit_dates(arr: FloatArray) -> tuple[str, str, str] | None:
    """What the first epoch number means (``_date_or_seconds``) and the form of the digits
    when every one is a date written as digits, YYYY (2020), YYYYMM (202001) or YYYYMMDD
    (20240105), as epoch seconds of a file's rows almost never all are; None when they are not
    all such dates."""
    whole = arr == np.floor(arr)
    for form, low, high in _DIGIT_DATES:
        if not np.all((arr >= low) & (arr <= high) & whole):
            continue
        digits = arr.astype(np.int64)
        month = digits // 100 % 100 if form == "YYYYMMDD" else digits % 100
        if form != "YYYY" and not np.all((month >= 1) & (month <= 12)):
            return None
        if any(_date_or_seconds(str(d)) is None for d in np.unique(digits)):
            return None  # a day past its month's end (20240230)
        meant = _date_or_seconds(str(digits[0]))
        return None if meant is None else (*meant, form)
    return None


# A spreadsheet's dates saved as numbers: days since 1899-12-30, 45292 being 2024-01-01, and a
# time of day as a fraction of one (45292.5 is noon). The years 1954-2119 in those days are
# seconds of one day of 1970 as epoch seconds; the step between rows tells the two apart.
_SPREADSHEET_DAY_ZERO = -2_209_161_600.0  # 1899-12-30T00:00:00Z
_SPREADSHEET_DAYS = (20_000, 80_000)
_SPREADSHEET_STEPS = "whole days up to a month, or less than a day in whole seconds"
# Days between bars: a weekend, a holiday, a month; seconds between bars start at a minute.
_MOST_DAYS_BETWEEN_BARS = 31
_SECOND_IN_DAYS = 1 / 86_400


def _spreadsheet_days(arr: FloatArray) -> bool:
    """Whether every epoch number is a day a spreadsheet gives dates of recent decades as
    (20,000 to 80,000) and the rows step as days do: by whole days up to a month (daily bars,
    weekends skipped, monthly bars), or by a fraction of a day in whole seconds (45292.0416..
    to 45292.0833.., an hour). Epoch seconds in that range (a session of minute bars on day 0,
    seconds since midnight) step by a minute or more, or by fractions of a second."""
    low, high = _SPREADSHEET_DAYS
    if not np.all((arr >= low) & (arr <= high)):
        return False
    steps = np.diff(np.unique(arr))
    whole = bool(np.all(arr == np.floor(arr)))
    if not steps.size:
        return whole  # one time: a whole number there is a date far more often than 1970
    step = float(np.median(steps))
    if whole:
        return step <= _MOST_DAYS_BETWEEN_BARS
    # Written to six decimals, a day's fraction is a whole second to within 0.1 s.
    seconds = step / _SECOND_IN_DAYS
    return step < 1 and abs(seconds - round(seconds)) < 0.1 and round(seconds) >= 1


def _show_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def time_column_name(table: pa.Table, found: list[str], names: dict[str, str], path: str) -> str:
    """The column of ``found`` (time columns, in ``TIME_COLUMNS``' order) giving the rows' time:
    the first that holds no times of day, once the others that are bar times too agree with it.
    A column of times of day (``08:30:00``) gives no date, so it is taken, and refused there
    saying so, only when nothing else gives a time: it comes first and the others hold whole days
    only (a ``date`` beside a ``time``, one time in two columns). A column that is no bar time
    is not compared: one that does not parse as times (a ``time`` of day with a fraction, read
    as text), or of whole days beside times finer than a day (the session ``date`` of intraday
    bars)."""
    if len(found) == 1:
        return found[0]
    of_day = [c for c in found if pa.types.is_time(table.column(c).type)]
    others = [c for c in found if c not in of_day]
    if not others:
        return of_day[0]
    chosen = others[0]
    seconds = {chosen: time_column_to_seconds(table.column(chosen), chosen, path)}
    for c in others[1:]:
        try:
            seconds[c] = time_column_to_seconds(table.column(c), c, path)
        except DataError:
            continue
    days = {c: _whole_days(s) for c, s in seconds.items()}
    if found[0] in of_day and all(days.values()):
        return found[0]
    compared = [c for c in seconds if days[chosen] or not days[c]]
    return one_of_agreeing_columns(compared, lambda c: seconds[c].tolist(), names, "time columns", path)


def _whole_days(seconds: FloatArray) -> bool:
    """Whether every time is a midnight UTC: a column of dates, no time of day."""
    return bool(np.all(seconds % 86_400 == 0))


def refuse_times_outside_replay(ts: FloatArray, name: str, path: str) -> None:
    """Refuses a row whose time (``ts``, read from column ``name``) a replay cannot take."""
    # Rows start at 1970, not 1900: the paper venue (and so the runtime) takes no earlier
    # time, and a row it refuses would end the replay in a traceback instead of here.
    outside = np.flatnonzero(~np.isfinite(ts) | (ts < 0) | (ts > LATEST_TIME))
    if outside.size:
        i = int(outside[0])
        t = float(ts[i])
        problem = _time_problem(t) or "is before 1970 (the venues take no earlier time)"
        raise DataError(f"{name} {problem} (read as {t:g} s since 1970)", path=path, row=i + 1)


def iso(ts: float) -> str:
    """``ts`` (epoch seconds) as an error names it: ISO, UTC, to the second."""
    return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
