"""Market history for backtests: bars or quotes from CSV or Parquet, checked before replay.

A backtest on bad data gives numbers that look fine and mean nothing, so every problem
(missing column, a cell that is not a number, NaN or a price the kernel refuses, an asset name
the replay refuses, unsorted or repeated time, a gap in the bar series, a bar opening inside
its asset's previous bar, high below low, bars of an asset none of which has volume) is refused
with a ``DataError`` naming the row. Rows are numbered from 1 for the first data row; for CSV
the file line is the row number plus one (header), where no blank line (which the reader skips)
or cell holding a line break comes before it.

``load_market_data`` reads a file into ``MarketData`` in steps, one module each beside this one:

- ``data_file``: the file read into a table of named columns (its format, encoding, rows'
  widths and header);
- ``times``: the time column as epoch seconds, and which of several it is;
- ``bar_grid``: each asset's bars a steady step apart, and the assets on one clock;
- ``data_error``: ``DataError``, which every step raises.

The prices, sizes, assets and the rows' order are checked here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dita._text import shortened
from dita.backtest.bar_grid import bar_length, check_one_clock, refuse_bar_inside_bar, refuse_gaps
from dita.backtest.data_error import DataError
from dita.backtest.data_file import (
    ASSET_COLUMNS,
    BAR_COLUMNS,
    QUOTE_COLUMNS,
    TIME_COLUMNS,
    as_written,
    column_key,
    first_null,
    one_of_agreeing_columns,
    read_table,
    refuse_same_name_twice,
    refuse_text_not_utf8,
)
from dita.backtest.times import EARLIEST_TIME as EARLIEST_TIME
from dita.backtest.times import LATEST_TIME as LATEST_TIME
from dita.backtest.times import (
    FloatArray,
    iso,
    parse_time,
    refuse_times_outside_replay,
    time_column_name,
    time_column_to_seconds,
)
from dita.risk import KERNEL_MAX, KERNEL_MIN_PRICE
from dita.runtime.data_checks import asset_flaw

__all__ = [
    "BAR_COLUMNS",
    "QUOTE_COLUMNS",
    "DataError",
    "MarketData",
    "load_market_data",
    "parse_time",
]

# The size of a quote side a file gives no size for: its depth is unknown, so an order fills
# whole at the touch (the kernel takes no order larger than 1e15). A made-up small size would
# split fills over later quotes at other prices.
UNKNOWN_DEPTH = 1e15


@dataclass(frozen=True)
class MarketData:
    """Columnar history, time-sorted, the rows of one time in the order of their assets' names.
    ``kind`` says whether rows are bars or quotes.

    ``ts`` is float seconds since the Unix epoch (UTC). Bars fill ``open..volume``; quotes fill
    ``bid..ask_size``; the other group's arrays are empty. ``asset`` holds one name per row.
    ``interval`` is the bars' length in seconds (``bar_grid.bar_length``, of the first asset
    with two bars or more, by name), the paper venue's ``bar_seconds``: an order sent on a bar is
    decided at its close. It is 0 for quotes and for bars of one time. ``first_row`` is the
    file's row, from 0, of the first row (past the rows before a ``--from`` window), the rows of
    one time counted in their assets' order.
    """

    kind: Literal["bars", "quotes"]
    ts: FloatArray
    asset: list[str]
    columns: dict[str, FloatArray]
    source: str = ""
    interval: float = 0.0
    first_row: int = 0

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
            first_row=self.first_row + lo,
        )


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
    they agree too (``times.time_column_name``).
    Checks run on the whole file, so a bad row outside the window is still reported.
    """
    p = Path(path)
    src = str(p)
    table = read_table(p)
    refuse_text_not_utf8(table, src)
    refuse_same_name_twice(table.column_names, src)
    names = {column_key(n): n for n in table.column_names}
    table = table.rename_columns([column_key(n) for n in table.column_names])
    if table.num_rows == 0:
        raise DataError("no rows", path=src)

    time_names = [c for c in TIME_COLUMNS if c in names]
    if not time_names:
        raise DataError(
            f"missing time column: need one of {', '.join(TIME_COLUMNS)} ({_columns_read(table)})", path=src
        )
    time_name = time_column_name(table, time_names, names, src)
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

    ts = time_column_to_seconds(table.column(time_name), time_name, src)
    refuse_times_outside_replay(ts, time_name, src)
    asset_names = [c for c in ASSET_COLUMNS if c in names]
    asset_name: str | None = None
    if asset_names:
        asset_name = one_of_agreeing_columns(
            asset_names, lambda c: _asset_names(table, c, names, src), names, "asset columns", src
        )
        assets = _asset_names(table, asset_name, names, src)
    else:
        default = asset or p.name.split(".")[0].split("_")[0].upper() or "ASSET"
        flaw = asset_flaw(default)
        if flaw:
            given = "asset" if asset else "the asset the file name gives,"
            raise DataError(f"{given} {shortened(repr(default))} is not an asset name ({flaw})", path=src)
        assets = [default] * table.num_rows

    cols: dict[str, FloatArray] = {}
    if kind == "bars":
        for c in BAR_COLUMNS:
            cols[c] = _float_column(table, c, src)
    else:
        for c in QUOTE_COLUMNS:
            cols[c] = _float_column(table, c, src) if c in names else np.full(table.num_rows, UNKNOWN_DEPTH)
    _refuse_impossible_values(kind, cols, src)

    # Whole-file time order; per asset, strictly increasing (a repeated bar is a data fault).
    back = np.flatnonzero(np.diff(ts) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(
            f"time goes backwards: {iso(ts[i])} after {iso(ts[i - 1])} (rows must be sorted by time)",
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
            raise DataError(f"repeated time {iso(ts[i])} for {name}", path=src, row=i + 1)
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
            length = bar_length(d)
            per_asset.append((name, idx, length))
            refuse_bar_inside_bar(name, ts, idx, d, length, src)
            refuse_gaps(name, ts, idx, d, length, src, allow_gaps=allow_gaps)
            interval = interval or length

    if kind == "bars" and asset_name is not None:
        check_one_clock(ts, assets, per_asset, src)
    if asset_name is not None:
        ts, assets, cols = _in_asset_order(ts, assets, of_row, cols)

    data = MarketData(kind=kind, ts=ts, asset=assets, columns=cols, source=src, interval=interval)
    if start is not None or end is not None:
        data = _in_window(data, start, end)
    return data


def _refuse_impossible_values(kind: Literal["bars", "quotes"], cols: dict[str, FloatArray], src: str) -> None:
    """Refuses, naming the first such row, a price the kernel refuses as a mark (not a number
    from ``KERNEL_MIN_PRICE`` to ``KERNEL_MAX``), a size that is not a number >= 0, a bar whose
    open or close lies outside its low..high (or whose high is below its low) and a quote whose
    bid is above its ask."""
    price_cols = ("open", "high", "low", "close") if kind == "bars" else ("bid", "ask")
    size_cols = ("volume",) if kind == "bars" else ("bid_size", "ask_size")
    for c in price_cols:
        arr = cols[c]
        # The replay's bounds (a subnormal price is below the least): a price outside them
        # would end the replay in a traceback. NaN fails both comparisons.
        bad = np.flatnonzero(~((arr >= KERNEL_MIN_PRICE) & (arr <= KERNEL_MAX)))
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{c} is {_show(arr[i])}, expected a price from {KERNEL_MIN_PRICE!r} (the kernel's "
                f"least) to {KERNEL_MAX:g}",
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


def _in_window(data: MarketData, start: float | None, end: float | None) -> MarketData:
    """The rows of ``data`` with ``start <= ts < end``, refused when the window is empty or
    holds none of them."""
    src = data.source
    if start is not None and end is not None and end <= start:
        raise DataError(f"empty window: to={iso(end)} is not after from={iso(start)}", path=src)
    first, last = float(data.ts.min()), float(data.ts.max())
    data = data.slice_time(start, end)
    if len(data) == 0:
        window = " ".join(f"{word} {iso(t)}" for word, t in (("from", start), ("to", end)) if t is not None)
        raise DataError(
            f"no rows inside the --from/--to window ({window}); "
            f"the data runs from {iso(first)} to {iso(last)}",
            path=src,
        )
    return data


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
    empty = first_null(col)
    if empty is not None:
        # The reader takes an empty cell and markers such as NULL or NA for no value: named as
        # written, so a NULL is not reported as "NaN", a value the file does not hold.
        raise DataError(
            f"{name} is {as_written(path, name, empty) or 'NaN or empty'}, expected a number",
            path=path,
            row=empty + 1,
        )
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


def _asset_names(table: pa.Table, column: str, names: dict[str, str], path: str) -> list[str]:
    """The asset each row names in ``column``, refused when the column is no text, a cell is
    empty or a name is one the replay refuses (``asset_flaw``: it holds a NUL, say)."""
    try:
        raw = table.column(column).cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        typ = table.column(column).type
        raise DataError(
            f"column {names[column]!r} has type {typ}, expected text (one asset name a row)", path=path
        ) from None
    null_row = first_null(raw)
    if null_row is not None:
        raise DataError(f"{column} is empty", path=path, row=null_row + 1)
    # Text cells keep the spaces after a comma (numbers lose them): " BTCUSDT" is BTCUSDT.
    assets: list[str] = [str(a).strip() for a in raw.to_pylist()]
    blank = next((i for i, a in enumerate(assets) if not a), None)
    if blank is not None:
        raise DataError(f"{column} is empty", path=path, row=blank + 1)
    flawed = {name: flaw for name in set(assets) if (flaw := asset_flaw(name))}
    if flawed:
        i, name = next((i, a) for i, a in enumerate(assets) if a in flawed)
        raise DataError(
            f"{column} is {shortened(repr(name))}, not an asset name ({flawed[name]})", path=path, row=i + 1
        )
    return assets


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
