"""Market history for backtests: bars or quotes from CSV or Parquet, checked before replay.

A backtest on bad data gives numbers that look fine and mean nothing, so every problem
(missing column, a cell that is not a number, NaN or non-positive price, unsorted or
repeated time, a gap in the bar series, a bar opening inside its asset's previous bar, high
below low, bars of an asset none of which has volume) is refused with a ``DataError`` naming the
row. Rows are numbered from 1 for the first data row; for CSV the file line is the row number
plus one (header), where no blank line (which the reader skips) or cell holding a line break
comes before it.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dita._text import shortened
from dita.data import table_format
from dita.risk import KERNEL_MAX

__all__ = [
    "BAR_COLUMNS",
    "QUOTE_COLUMNS",
    "DataError",
    "MarketData",
    "load_market_data",
    "parse_time",
]

FloatArray = npt.NDArray[np.float64]

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
QUOTE_COLUMNS = ("bid", "ask", "bid_size", "ask_size")
TIME_COLUMNS = ("timestamp", "ts", "time", "datetime", "date", "open_time")
ASSET_COLUMNS = ("asset", "symbol")
# The size of a quote side a file gives no size for: its depth is unknown, so an order fills
# whole at the touch (the kernel takes no order larger than 1e15). A made-up small size would
# split fills over later quotes at other prices.
UNKNOWN_DEPTH = 1e15


def _check_one_clock(
    ts: np.ndarray, assets: Any, per_asset: list[tuple[str, np.ndarray, float]], src: str
) -> None:
    """Refuses bars of one asset opening while a bar of another is still open. A bar reaches
    the strategy at its open time carrying its close: a decision on an hourly bar's close
    would fill on another asset's minute bars inside that hour, before that close existed, and
    so would one on a bar opening half a step later. That look-ahead makes profits no live run
    could have. A bar is taken to last until its asset's next bar, or its length when that comes
    later (a gap): the shortest step its bars take more than once, so calendar months and
    bars with gaps on one clock load. An asset of one bar is not judged (its length is
    unknown), and one whose bars are seldom neighbours reads as of the longer length.
    ``per_asset``: the name, rows and bar length (``_bar_length``) of each asset of two bars or
    more, as the caller's checks found them."""
    names = np.asarray(assets)
    opens = np.unique(ts)  # every time some bar opens, sorted
    for name, rows, length in per_asset:
        own = ts[rows]
        until = np.minimum(np.append(own[1:], np.inf), own + length)
        # The first time any bar opens after each of this asset's bars opened.
        nxt = np.searchsorted(opens, own, side="right")
        later = np.where(nxt < opens.size, opens[np.minimum(nxt, opens.size - 1)], np.inf)
        inside = np.flatnonzero(later < until - 1e-6)
        if inside.size:
            k = int(inside[0])
            at = float(later[k])
            i = int(np.flatnonzero(ts == at)[0])
            raise DataError(
                f"{names[i]} bar at {_iso(at)} opens while the {name} bar of {_iso(float(own[k]))} "
                f"is open (until {_iso(float(until[k]))}): a decision on that {name} bar's close "
                "would fill on it before the close existed; assets of one file must share one "
                "bar length and open their bars at the same times (resample, or run each length "
                "in its own backtest)",
                path=src,
                row=i + 1,
            )


def _bar_length(steps: np.ndarray) -> float:
    """The length of an asset's bars from the steps between them: the shortest step they take
    more than once (and in at least 1 % of the steps), not a single one (one stray bar an hour
    after a daily one would make every bar an hour long) nor the most common (sparse minute bars
    would read as longer)."""
    values, counts = np.unique(steps, return_counts=True)
    often = values[_often(counts, steps.size)]
    return float(often[0] if often.size else values[np.argmax(counts)])


def _often(counts: np.ndarray, steps: int) -> np.ndarray:
    """Which of the steps counted ``counts`` times, of ``steps`` in all, are taken often: more
    than once and in at least 1 % of the steps."""
    return counts >= max(2, 0.01 * steps)


class DataError(ValueError):
    """History that cannot be replayed as given. ``row`` is 1-based (first data row is 1)."""

    def __init__(self, message: str, *, path: str = "", row: int | None = None) -> None:
        self.path = path
        self.row = row
        where = f"{path}: " if path else ""
        if row is not None:
            where += f"row {row}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class MarketData:
    """Columnar history, time-sorted, the rows of one time in the order of their assets' names.
    ``kind`` says whether rows are bars or quotes.

    ``ts`` is float seconds since the Unix epoch (UTC). Bars fill ``open..volume``; quotes fill
    ``bid..ask_size``; the other group's arrays are empty. ``asset`` holds one name per row.
    """

    kind: Literal["bars", "quotes"]
    ts: FloatArray
    asset: list[str]
    columns: dict[str, FloatArray]
    source: str = ""
    interval: float = 0.0

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def assets(self) -> list[str]:
        return sorted(set(self.asset))

    def mid(self) -> FloatArray:
        """The reference price per row: the close of a bar, the mid of a quote."""
        if self.kind == "bars":
            return self.columns["close"]
        return (self.columns["bid"] + self.columns["ask"]) / 2.0

    def slice_time(self, start: float | None, end: float | None) -> MarketData:
        """Rows with ``start <= ts < end`` (either bound may be None)."""
        lo = 0 if start is None else int(np.searchsorted(self.ts, start, side="left"))
        hi = len(self.ts) if end is None else int(np.searchsorted(self.ts, end, side="left"))
        return MarketData(
            kind=self.kind,
            ts=self.ts[lo:hi],
            asset=self.asset[lo:hi],
            columns={k: v[lo:hi] for k, v in self.columns.items()},
            source=self.source,
            interval=self.interval,
        )


# Times a report can print: 1900-01-01 up to the end of 9999 (datetime's last year).
EARLIEST_TIME = -2_208_988_800.0
LATEST_TIME = 253_402_300_799.0


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
            f"({_iso(float(text))})? write the date as {meant[1]}, or the seconds as {text}.0"
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


def _read_table(path: Path) -> pa.Table:
    kind = table_format(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")

    def csv_source() -> Any:
        # pyarrow finds the codec by the exact suffix: not X.CSV.GZ's.
        return pa.CompressedInputStream(str(path), "gzip") if kind == "csv.gz" else path

    try:
        if kind == "parquet":
            return pq.read_table(path)
        if kind in ("csv", "csv.gz"):
            _refuse_other_encodings(path, gzipped=kind == "csv.gz")
            try:
                return pacsv.read_csv(
                    csv_source(), convert_options=_asset_columns_as_text(path, kind == "csv.gz")
                )
            except pa.ArrowInvalid as exc:
                if _COUNT_ERROR.search(str(exc)):
                    _refuse_row_of_other_width(path, csv_source)
                raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read {path.name}: {_escaped(str(exc))}", path=str(path)) from exc
    raise DataError(
        f"unsupported file type {path.suffix.lower()!r} (use .csv, .csv.gz or .parquet)", path=str(path)
    )


def _asset_columns_as_text(path: Path, gzipped: bool) -> pacsv.ConvertOptions:
    """Options reading the asset column as text: read as numbers, codes lose their leading zeros
    (Hong Kong's 0700 becomes 700). Names are read case-insensitively, so the header gives the
    spelling to name. Only a regular file's header is read: a pipe's would be taken from the reader."""
    if not path.is_file():
        return pacsv.ConvertOptions()
    try:
        with pa.CompressedInputStream(str(path), "gzip") if gzipped else pa.OSFile(str(path)) as stream:
            head = bytes(stream.read(1 << 16)).split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    except (OSError, pa.ArrowInvalid, EOFError):
        head = ""  # the reader says what is wrong
    names = next(csv.reader([head.rstrip("\r")]), [])
    return pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names if _column_key(n) in ASSET_COLUMNS}
    )


# What the reader says of a row with more or fewer cells than the header: without the row's number
# when it reads in threads, as it does.
_COUNT_ERROR = re.compile(r"Expected \d+ columns, got \d+")
# Byte order marks of the encodings a spreadsheet's "Unicode text" export writes (UTF-32's first:
# little-endian, it starts as UTF-16's does).
_OTHER_ENCODINGS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
# Files that are no text at all, under a .csv name (a download or copy misnaming them): the reader
# refused them as an "Empty CSV file" or with a screen of their bytes, and a traceback on stderr.
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed", "name it .csv.gz"),
    (b"PAR1", "Parquet", "name it .parquet"),
    (b"PK\x03\x04", "a ZIP archive", "unzip it"),
)


def _refuse_other_encodings(path: Path, *, gzipped: bool) -> None:
    """A CSV file in UTF-16 or UTF-32 (a spreadsheet's "Unicode text"), said as such: the reader
    split it into cells of NUL bytes, refused as ``Expected 6 columns, got 1: \\x00``; so is
    one that is gzip, Parquet or ZIP (``_NOT_TEXT``) under a plain .csv name. Only a
    regular file is looked at: reading the start of a pipe would take it from the reader."""
    if not path.is_file():
        return
    try:
        with pa.CompressedInputStream(str(path), "gzip") if gzipped else pa.OSFile(str(path)) as stream:
            head = bytes(stream.read(4096))
    except (OSError, pa.ArrowInvalid, EOFError):
        return  # the reader says what is wrong
    for mark, what, advice in () if gzipped else _NOT_TEXT:
        if head.startswith(mark):
            raise DataError(
                f"the file is {what} (its first bytes {mark.hex(' ').upper()}), not CSV text: {advice}",
                path=str(path),
            )
    for mark, encoding in _OTHER_ENCODINGS:
        if head.startswith(mark):
            said = f"the file is {encoding} text (its first bytes {mark.hex(' ').upper()})"
            break
    else:
        # Without a mark: ASCII text as UTF-16 has a NUL byte every other byte, and only there.
        pairs = head[: len(head) // 2 * 2][:256]
        if not pairs or not any(
            pairs[nul::2].count(0) == len(pairs) // 2 and 0 not in pairs[1 - nul :: 2] for nul in (0, 1)
        ):
            return
        said = "the file is UTF-16 text (a NUL byte every other byte)"
    raise DataError(f"{said}, not UTF-8: save it as UTF-8 (CSV UTF-8)", path=str(path))


def _refuse_row_of_other_width(path: Path, source: Any) -> None:
    """Names the first row with more or fewer cells than the header, read again in one thread,
    where the reader numbers rows (the header is its row 1, as a data row is numbered from 1 after
    it here; blank lines are not counted). Returns when it finds none."""
    found: list[Any] = []

    def first(row: Any) -> str:
        found.append(row)
        return "error"

    options = pacsv.ParseOptions(invalid_row_handler=first)
    # Read as Latin-1, which every byte is: a row that is not UTF-8 (a Latin-1 file's) could not
    # be handed over as text, and the reader would print a traceback and number no row.
    read = pacsv.ReadOptions(use_threads=False, encoding="latin-1")
    try:
        pacsv.read_csv(source(), read_options=read, parse_options=options)
    except (pa.ArrowInvalid, OSError):
        pass
    if not found or found[0].number is None:
        return
    row = found[0]
    text = row.text.encode("latin-1").decode("utf-8", errors="backslashreplace")  # the file's bytes
    raise DataError(
        f"{row.actual_columns} cells where the header has {row.expected_columns}: {shortened(text, 200)!r}",
        path=str(path),
        row=row.number - 1,
    )


def _escaped(text: str) -> str:
    """``text`` with what is not printable (a NUL, an escape sequence from a row of the file)
    written as its escape, for a terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _time_column_to_seconds(col: pa.ChunkedArray, name: str, path: str) -> FloatArray:
    """Timestamps, ISO strings, or epoch numbers (s, ms, us or ns, told apart by magnitude)."""
    typ = col.type
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
        if pa.types.is_date(typ):
            col = col.cast(pa.timestamp("s"))
        # In the column's own unit: nanoseconds since 1970 end in 2262, before a date column does.
        per_second = _UNITS_PER_SECOND[col.type.unit]
        raw = pc.cast(col, pa.int64())
        nulls = _first_null(raw)
        if nulls is not None:
            raise DataError(f"{name} is empty", path=path, row=nulls + 1)
        return np.asarray(raw.to_numpy(), dtype=np.int64).astype(np.float64) / per_second
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        values = col.to_pylist()
        out = np.empty(len(values), dtype=np.float64)
        first_zoned: tuple[int, bool] | None = None  # the first ISO time's row, and whether it has a zone
        for i, v in enumerate(values):
            if v is None:
                raise DataError(f"{name} is empty", path=path, row=i + 1)
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
            raise DataError(f"{name} is NaN or empty", path=path, row=int(bad[0]) + 1)
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
                f"seconds ({_iso(arr[0])})? all {arr.size:,} of its values read as dates written as "
                f"digits ({meant[2]}): write them as ISO dates ({meant[1]})",
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


def _show_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _first_null(arr: pa.ChunkedArray | pa.Array) -> int | None:
    if arr.null_count == 0:
        return None
    mask = np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False))
    return int(np.flatnonzero(mask)[0])


def _float_column(table: pa.Table, name: str, path: str) -> FloatArray:
    col = table.column(name)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        # A CSV column with one stray word in it is read as text: name that cell, not the type.
        for i, v in enumerate(col.to_pylist()):
            if v is not None and not _is_number(v):
                raise DataError(f"{name} is {v!r}, expected a number", path=path, row=i + 1)
        raise DataError(
            f"column {name!r} holds numbers as text; store them as numbers (a float column)", path=path
        )
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_null(col.type)):
        raise DataError(f"column {name!r} has type {col.type}, expected numbers", path=path)
    empty = _first_null(col)
    if empty is not None:
        # The reader takes an empty cell (and the text NaN) for no value: said as such, so an
        # empty cell is not reported as "NaN", a value the file does not hold.
        raise DataError(f"{name} is NaN or empty, expected a number", path=path, row=empty + 1)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def _is_number(text: str) -> bool:
    """Whether the CSV reader would take ``text`` as a number. Python's float() also takes
    ``1_000`` and full-width digits, which the reader does not: asking float() would pass over
    the very cell that made the column text."""
    try:
        pc.cast(pa.scalar(text.strip()), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _columns_read(table: pa.Table) -> str:
    """The column names as read, for an error about a missing one (a file split on another
    separator reads as one column: 'timestamp;open;high')."""
    return "columns read: " + ", ".join(repr(n) for n in table.column_names)


def _column_key(name: str) -> str:
    """How a column name is read: case and surrounding spaces (``timestamp, open``) aside."""
    return name.strip().lower()


def _refuse_text_not_utf8(table: pa.Table, path: str) -> None:
    """The CSV reader takes bytes that are not UTF-8 (a file saved as Latin-1) into binary
    columns, and into names that raise UnicodeDecodeError when read: name the cell instead."""
    try:
        columns = table.column_names
    except UnicodeDecodeError as exc:
        raise DataError(f"the header is not UTF-8 text: column {exc.object!r}", path=path) from None
    for name, col in zip(columns, table.columns, strict=True):  # a name may be there twice
        if not (pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)):
            continue
        for i, value in enumerate(col.to_pylist()):
            try:
                if value is not None:
                    value.decode()
            except UnicodeDecodeError:
                message = f"{name.strip()} is {value!r}, not UTF-8 text"
                raise DataError(message, path=path, row=i + 1) from None


def _refuse_same_name_twice(columns: list[str], path: str) -> None:
    """Names are read case-insensitively: ``Close`` and ``close`` would be one column twice."""
    read = {*TIME_COLUMNS, *ASSET_COLUMNS, *BAR_COLUMNS, *QUOTE_COLUMNS}
    seen: dict[str, list[str]] = {}
    for name in columns:
        seen.setdefault(_column_key(name), []).append(name)
    for low, names in seen.items():
        if low in read and len(names) > 1:
            raise DataError(
                f"columns {', '.join(repr(n) for n in names)} are all column {low!r} "
                "(names are read case-insensitively); keep one",
                path=path,
            )


def _one_of_agreeing_columns(
    found: list[str], read: Callable[[str], Sequence[Any]], names: dict[str, str], kind: str, path: str
) -> str:
    """The first of ``found``, columns that could each give the rows' time (``open_time`` and
    ``timestamp``, say) or asset (``asset`` and ``symbol``), once each says the same on every row
    as it (``read``: a column's values): a ccxt dump's ``timestamp`` and ``datetime`` do. Two
    that differ (a ``timestamp`` of close times) are refused naming the first row they differ
    at: which one the file means is not for the reader to guess."""
    first = read(found[0])
    for other in found[1:]:
        values = read(other)
        row = next((i for i, (a, b) in enumerate(zip(first, values, strict=True)) if _differ(a, b)), None)
        if row is not None:
            raise DataError(
                f"columns {names[found[0]]!r} and {names[other]!r} are both {kind} and differ "
                f"({first[row]!r} against {values[row]!r}): keep the one the rows mean",
                path=path,
                row=row + 1,
            )
    return found[0]


def _time_column_name(table: pa.Table, found: list[str], names: dict[str, str], path: str) -> str:
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
    seconds = {chosen: _time_column_to_seconds(table.column(chosen), chosen, path)}
    for c in others[1:]:
        try:
            seconds[c] = _time_column_to_seconds(table.column(c), c, path)
        except DataError:
            continue
    days = {c: _whole_days(s) for c, s in seconds.items()}
    if found[0] in of_day and all(days.values()):
        return found[0]
    compared = [c for c in seconds if days[chosen] or not days[c]]
    return _one_of_agreeing_columns(compared, lambda c: seconds[c].tolist(), names, "time columns", path)


def _whole_days(seconds: FloatArray) -> bool:
    """Whether every time is a midnight UTC: a column of dates, no time of day."""
    return bool(np.all(seconds % 86_400 == 0))


def _differ(a: Any, b: Any) -> bool:
    """Whether two cells say different things; two missing times (NaN) say the same."""
    return bool(a != b) and not (a != a and b != b)


def _asset_names(table: pa.Table, column: str, names: dict[str, str], path: str) -> list[str]:
    """The asset each row names in ``column``, refused when the column is no text or a cell is
    empty."""
    try:
        raw = table.column(column).cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        typ = table.column(column).type
        raise DataError(
            f"column {names[column]!r} has type {typ}, expected text (one asset name a row)", path=path
        ) from None
    null_row = _first_null(raw)
    if null_row is not None:
        raise DataError(f"{column} is empty", path=path, row=null_row + 1)
    # Text cells keep the spaces after a comma (numbers lose them): " BTCUSDT" is BTCUSDT.
    assets: list[str] = [str(a).strip() for a in raw.to_pylist()]
    blank = next((i for i, a in enumerate(assets) if not a), None)
    if blank is not None:
        raise DataError(f"{column} is empty", path=path, row=blank + 1)
    return assets


def load_market_data(
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    asset: str | None = None,
    allow_gaps: bool = False,
) -> MarketData:
    """Read and check ``path`` (CSV or Parquet) and return the rows with ``start <= ts < end``.

    Bars need a time column (one of ``timestamp, ts, time, datetime, date, open_time``) and
    ``open, high, low, close, volume``; quotes need time and ``bid, ask`` (sizes optional: a side
    without one is ``UNKNOWN_DEPTH`` deep, so orders fill whole at the touch). A file with both
    ``bid`` and ``ask`` is quotes, any bar columns beside them unread.
    An ``asset`` or ``symbol`` column (both only when they agree) names the instrument; without
    one every row is ``asset`` (default ``"ASSET"``, or the file name's first part such as
    ``BTCUSDT`` in ``BTCUSDT_1m.csv``). Two time columns giving bar times are read only when
    they agree too (``_time_column_name``).
    Checks run on the whole file, so a bad row outside the window is still reported.
    """
    p = Path(path)
    src = str(p)
    table = _read_table(p)
    _refuse_text_not_utf8(table, src)
    _refuse_same_name_twice(table.column_names, src)
    names = {_column_key(n): n for n in table.column_names}
    table = table.rename_columns([_column_key(n) for n in table.column_names])
    if table.num_rows == 0:
        raise DataError("no rows", path=src)

    time_names = [c for c in TIME_COLUMNS if c in names]
    if not time_names:
        raise DataError(
            f"missing time column: need one of {', '.join(TIME_COLUMNS)} ({_columns_read(table)})", path=src
        )
    time_name = _time_column_name(table, time_names, names, src)
    if all(c in names for c in ("bid", "ask")):
        kind: Literal["bars", "quotes"] = "quotes"
        required: tuple[str, ...] = ("bid", "ask")
    else:
        kind = "bars"
        required = BAR_COLUMNS
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}: bars need {', '.join(BAR_COLUMNS)}; "
            f"quotes need bid, ask ({_columns_read(table)})",
            path=src,
        )

    ts = _time_column_to_seconds(table.column(time_name), time_name, src)
    # Rows start at 1970, not 1900: the paper venue (and so the runtime) takes no earlier
    # time, and a row it refuses would end the replay in a traceback instead of here.
    outside = np.flatnonzero(~np.isfinite(ts) | (ts < 0) | (ts > LATEST_TIME))
    if outside.size:
        i = int(outside[0])
        t = float(ts[i])
        problem = _time_problem(t) or "is before 1970 (the venues take no earlier time)"
        raise DataError(f"{time_name} {problem} (read as {t:g} s since 1970)", path=src, row=i + 1)
    asset_names = [c for c in ASSET_COLUMNS if c in names]
    asset_name: str | None = None
    if asset_names:
        asset_name = _one_of_agreeing_columns(
            asset_names, lambda c: _asset_names(table, c, names, src), names, "asset columns", src
        )
        assets = _asset_names(table, asset_name, names, src)
    else:
        default = asset or p.name.split(".")[0].split("_")[0].upper() or "ASSET"
        assets = [default] * table.num_rows

    cols: dict[str, FloatArray] = {}
    if kind == "bars":
        for c in BAR_COLUMNS:
            cols[c] = _float_column(table, c, src)
    else:
        for c in QUOTE_COLUMNS:
            cols[c] = _float_column(table, c, src) if c in names else np.full(table.num_rows, UNKNOWN_DEPTH)

    price_cols = ("open", "high", "low", "close") if kind == "bars" else ("bid", "ask")
    size_cols = ("volume",) if kind == "bars" else ("bid_size", "ask_size")
    for c in price_cols:
        arr = cols[c]
        # Above KERNEL_MAX the kernel refuses the mark: the replay would end in a traceback there.
        bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0) | (arr > KERNEL_MAX))
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{c} is {_show(arr[i])}, expected a positive price of at most {KERNEL_MAX:g}",
                path=src,
                row=i + 1,
            )
    for c in size_cols:
        arr = cols[c]
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{c} is {_show(arr[i])}, expected a size >= 0", path=src, row=i + 1)
    if kind == "bars":
        o, h, lo, c_ = cols["open"], cols["high"], cols["low"], cols["close"]
        bad = np.flatnonzero((h < lo) | (o > h) | (o < lo) | (c_ > h) | (c_ < lo))
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"bar is not consistent: open={o[i]}, high={h[i]}, low={lo[i]}, close={c_[i]}",
                path=src,
                row=i + 1,
            )
    else:
        bad = np.flatnonzero(cols["bid"] > cols["ask"])
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"crossed quote: bid={cols['bid'][i]} > ask={cols['ask'][i]}", path=src, row=i + 1
            )

    # Whole-file time order; per asset, strictly increasing (a repeated bar is a data fault).
    back = np.flatnonzero(np.diff(ts) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(
            f"time goes backwards: {_iso(ts[i])} after {_iso(ts[i - 1])} (rows must be sorted by time)",
            path=src,
            row=i + 1,
        )
    interval = 0.0
    per_asset: list[tuple[str, np.ndarray, float]] = []  # for the one-clock check below
    # Each asset's rows, in time order, found in one sort: an array of the names made again for
    # each asset would take time of the rows x the assets.
    if asset_name is None:
        listed, of_row = np.asarray(assets[:1]), np.zeros(len(assets), dtype=np.int64)
    else:
        listed, of_row = np.unique(np.asarray(assets), return_inverse=True)
    rows_of = np.bincount(of_row)
    by_asset = np.argsort(of_row, kind="stable")
    stops = np.cumsum(rows_of)
    for name, lo, hi in zip(listed.tolist(), stops - rows_of, stops, strict=True):
        idx = by_asset[lo:hi]
        d = np.diff(ts[idx])
        dup = np.flatnonzero(d <= 0)
        if dup.size:
            i = int(idx[dup[0] + 1])
            raise DataError(f"repeated time {_iso(ts[i])} for {name}", path=src, row=i + 1)
        if kind == "bars" and not cols["volume"][idx].any():
            raise DataError(
                f"volume is 0 on every {name} bar: an order fills at most a share of a bar's "
                "volume (volume_share), so none could ever fill; give the bars' traded volume",
                path=src,
                row=int(idx[0]) + 1,
            )
        for size, side in (("ask_size", "buy"), ("bid_size", "sell")):
            if kind == "quotes" and size in names and not cols[size][idx].any():
                raise DataError(
                    f"{size} is 0 on every {name} quote: an order fills at most the quoted size, so "
                    f"no {side} could ever fill; give the quoted sizes, or leave out the size columns "
                    "(a quote's depth is then unknown, and an order fills whole at the touch)",
                    path=src,
                    row=int(idx[0]) + 1,
                )
        if kind == "bars" and d.size:
            per_asset.append((name, idx, _bar_length(d)))
            _refuse_bar_inside_bar(name, ts, idx, d, src)
            # The lower median: a step the bars take, where the median of an even count is
            # the mean of two (60 s and 240 s made bars of 150 s).
            k = (d.size - 1) // 2
            step = float(np.partition(d, k)[k])
            interval = interval or step
            gap = np.flatnonzero(d > step * 1.5)
            if gap.size and not allow_gaps:
                j = int(gap[0])
                i = int(idx[j + 1])
                raise DataError(
                    f"gap in {name} bars: {_iso(ts[i])} follows {_iso(ts[idx[j]])}, "
                    f"{d[j]:g} s apart where bars are {step:g} s (pass allow_gaps / --allow-gaps to accept)",
                    path=src,
                    row=i + 1,
                )

    if kind == "bars" and asset_name is not None:
        _check_one_clock(ts, assets, per_asset, src)
    if asset_name is not None:
        ts, assets, cols = _in_asset_order(ts, assets, of_row, cols)
    data = MarketData(kind=kind, ts=ts, asset=assets, columns=cols, source=src, interval=interval)
    if start is not None or end is not None:
        if start is not None and end is not None and end <= start:
            raise DataError(f"empty window: to={_iso(end)} is not after from={_iso(start)}", path=src)
        first, last = float(data.ts.min()), float(data.ts.max())
        data = data.slice_time(start, end)
        if len(data) == 0:
            window = " ".join(
                f"{word} {_iso(t)}" for word, t in (("from", start), ("to", end)) if t is not None
            )
            raise DataError(
                f"no rows inside the --from/--to window ({window}); "
                f"the data runs from {_iso(first)} to {_iso(last)}",
                path=src,
            )
    return data


def _refuse_bar_inside_bar(name: str, ts: FloatArray, rows: np.ndarray, steps: np.ndarray, src: str) -> None:
    """Refuses a bar of an asset opening less than half its bars' length after the one before
    (two feeds merged, a bar stamped off the grid): the earlier bar reaches the strategy
    carrying its close, and an order decided on it would fill at the later bar's open, before
    that close existed. ``--allow-gaps`` does not accept it: it is no missing bar. The length is
    the shortest step taken often, as ``_bar_length`` takes it, so two strays of one offset do
    not make it theirs; bars too sparse for any (an illiquid asset's minute bars, one every few
    hours) are judged by the shortest step taken twice, and one stray bar's step is taken once."""
    values, counts = np.unique(steps, return_counts=True)
    often, twice = values[_often(counts, steps.size)], values[counts >= 2]
    if not twice.size:
        return  # no step repeats: the bars' length is unknown
    length = float(often[0] if often.size else twice[0])
    short = np.flatnonzero(steps < length / 2)
    if short.size:
        j = int(short[0])
        before, after = int(rows[j]), int(rows[j + 1])
        raise DataError(
            f"{name} bar at {_iso(ts[after])} opens {steps[j]:g} s after the {name} bar of "
            f"{_iso(ts[before])} (row {before + 1}), where its bars are {length:g} s long: it opens "
            "while that bar is open, and an order decided on that bar's close would fill on it "
            "before the close existed; keep one bar per time on the bars' grid (resample)",
            path=src,
            row=after + 1,
        )


def _in_asset_order(
    ts: FloatArray, assets: list[str], of_asset: np.ndarray, cols: dict[str, FloatArray]
) -> tuple[FloatArray, list[str], dict[str, FloatArray]]:
    """The rows of one time in the order of their assets' names (``of_asset``: each row's
    asset's place among the sorted names), rows already in time order: what the strategy sees
    first, and which order takes a bar's volume first, is the same whatever order a file lists
    them in."""
    out_of_order = (np.diff(ts) == 0) & (np.diff(of_asset) < 0)
    if not out_of_order.any():
        return ts, assets, cols
    order = np.lexsort((of_asset, ts))
    return ts[order], [assets[i] for i in order], {k: v[order] for k, v in cols.items()}


def _show(x: float) -> str:
    return "NaN" if math.isnan(x) else repr(float(x))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
