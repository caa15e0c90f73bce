"""Deterministic sample market data, so backtests and demos run offline.

``SAMPLE_BARS`` is three days of one-minute BTCUSDT-like bars shipped with the package. Longer
histories come from the same generator: ``python -m dita.data --days 365 --out year.parquet``
writes a year of one-minute bars; the same seed always gives the same file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dita._files import replace_whole
from dita._numbers import is_count, is_real
from dita.risk import KERNEL_MAX

__all__ = ["SAMPLE_BARS", "bars_table", "generate_bars", "generate_quotes", "iter_quotes", "write_bars"]

SAMPLE_BARS = Path(__file__).with_name("btcusdt_1m_sample.csv")
"""Three days of one-minute bars from ``generate_bars(days=3, seed=7)``."""

DEFAULT_START = 1_704_067_200.0  # 2024-01-01T00:00:00Z
# Nineteen years of one-minute bars: more would hold gigabytes of arrays in memory at once.
MAX_BARS = 10_000_000
# Rough early-2024 prices, so synthetic quotes for well-known symbols look familiar.
_REFERENCE_PRICES = {"BTC": 42_000.0, "ETH": 2_300.0, "SOL": 100.0, "BNB": 310.0, "XRP": 0.6}


def bar_span_problem(
    days: float, interval_s: float, *, days_name: str = "days", interval_name: str = "interval_s"
) -> str | None:
    """Why ``days`` of bars ``interval_s`` seconds apart cannot be made, naming the values as
    ``days_name`` and ``interval_name`` (None: they can)."""
    for name, value in ((days_name, days), (interval_name, interval_s)):
        if not (math.isfinite(value) and value > 0):
            return f"{name}={value!r} must be positive and finite"
    bars = days * 86_400 / interval_s  # inf when the quotient passes the largest float
    if bars > MAX_BARS:
        return (
            f"{days_name}={days!r} with {interval_name}={interval_s!r} makes more than {MAX_BARS:,} bars "
            "(each takes about 100 bytes while it is made); write a shorter span"
        )
    if round(bars) < 1:
        return f"{days_name}={days!r} is shorter than one bar of {interval_name}={interval_s!r} seconds"
    return None


def _check_numbers(**checks: tuple[object, str]) -> None:
    """Refuses each value that is not a finite real number meeting its rule (``positive``,
    ``zero or more``), or, for ``count``, an int >= 0, naming the argument and the
    value: a NaN or negative price, or a negative spread (bids above asks), would be made into
    data without a word, and read back later as data the kernel refuses, far from the cause."""
    for name, (value, rule) in checks.items():
        if rule == "count":
            if not is_count(value):
                raise ValueError(f"{name}={value!r} must be an int >= 0")
        elif not (
            is_real(value) and math.isfinite(value) and (value > 0 if rule == "positive" else value >= 0)
        ):
            raise ValueError(f"{name}={value!r} must be {rule} and finite")


def generate_bars(
    *,
    days: float = 1.0,
    interval_s: float = 60.0,
    seed: int = 7,
    start: float = DEFAULT_START,
    price: float = 42_000.0,
    volatility: float = 0.0008,
) -> dict[str, np.ndarray]:
    """OHLCV bars from a seeded random walk with slowly changing drift (so trends exist).

    ``volatility`` is the standard deviation of one bar's log return. Prices are rounded to
    0.01 and bars are consistent (0 < low <= open, close <= high <= 1e15): arguments whose walk
    makes a bar outside that (a wick below 0 at a volatility near 1, a close rounding to 0.00
    near a price of 0.01) raise ValueError naming them.
    """
    _check_numbers(
        days=(days, "positive"),
        interval_s=(interval_s, "positive"),
        seed=(seed, "count"),
        start=(start, "zero or more"),  # epoch seconds: readers refuse times before 1970
        price=(price, "positive"),
        volatility=(volatility, "zero or more"),
    )
    if price < 0.01:
        # Bars are rounded to the cent: a price under half of one made bars of 0.0.
        raise ValueError(f"price={price!r} must be at least 0.01 (bars are rounded to 0.01)")
    problem = bar_span_problem(days, interval_s)
    if problem:
        raise ValueError(problem)
    n = round(days * 86_400 / interval_s)
    rng = np.random.default_rng(seed)
    # Drift regimes of a few hours give the crossover something to follow.
    regime_len = max(1, round(4 * 3600 / interval_s))
    drift = np.repeat(rng.normal(0.0, volatility * 0.05, size=n // regime_len + 1), regime_len)[:n]
    log_ret = drift + rng.normal(0.0, volatility, size=n)
    close = np.round(price * np.exp(np.cumsum(log_ret)), 2)
    open_ = np.empty(n)
    open_[0] = round(price, 2)
    open_[1:] = close[:-1]
    wick = np.abs(rng.normal(0.0, volatility * 0.6, size=(2, n)))
    high = np.round(np.maximum(open_, close) * (1.0 + wick[0]), 2)
    low = np.round(np.minimum(open_, close) * (1.0 - wick[1]), 2)
    _refuse_prices_no_reader_takes(low, high, price=price, volatility=volatility, seed=seed)
    volume = np.round(rng.lognormal(mean=1.5, sigma=0.6, size=n), 4)
    ts = start + np.arange(n, dtype=np.float64) * interval_s
    return {"timestamp": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _refuse_prices_no_reader_takes(
    low: np.ndarray, high: np.ndarray, *, price: float, volatility: float, seed: int
) -> None:
    """Refuses the walk of ``price`` at ``volatility`` when a bar's low (and so maybe its close)
    is at or below 0, or its high above the largest price the kernel takes: every reader of the
    bars refuses them. The low is at most the bar's open and close, so a low above 0 keeps them
    above it too."""
    bad = np.flatnonzero(~(low > 0) | ~(high <= KERNEL_MAX))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"price={price!r} with volatility={volatility!r} (seed={seed!r}) makes bar {i + 1} with low "
            f"{float(low[i])!r} and high {float(high[i])!r}: prices, rounded to 0.01, must stay above 0 "
            f"and at most {KERNEL_MAX:g}; give a lower volatility or another price"
        )


def generate_quotes(
    *, n: int, symbols: list[str], seed: int = 42, spread_bps: float = 4.0, interval_s: float = 1.0
) -> list[tuple[float, str, float, float, float, float]]:
    """``n`` rounds of (ts, symbol, bid, ask, bid_size, ask_size), one quote per symbol per round."""
    return list(iter_quotes(n=n, symbols=symbols, seed=seed, spread_bps=spread_bps, interval_s=interval_s))


def iter_quotes(
    *, n: int, symbols: list[str], seed: int = 42, spread_bps: float = 4.0, interval_s: float = 1.0
) -> Iterator[tuple[float, str, float, float, float, float]]:
    """The quotes of ``generate_quotes``, one at a time: a long run holds none it is done with.
    Bad arguments raise ValueError here, not at the first quote taken."""
    _check_numbers(
        n=(n, "count"),
        seed=(seed, "count"),
        spread_bps=(spread_bps, "zero or more"),
        interval_s=(interval_s, "positive"),
    )
    # A list or tuple: a str would be iterated as its letters, "BTCUSDT" quoted as seven symbols.
    names = list(symbols) if isinstance(symbols, list | tuple) else None
    if not names or not all(isinstance(s, str) and s for s in names):
        # None of them: no quote at all, however many rounds were asked for.
        raise ValueError(f"symbols={symbols!r} must be a list of one or more non-empty names")
    if len(set(names)) != len(names):
        # One mid per name, moved twice a round: two quotes of one symbol at one time.
        raise ValueError(f"symbols={symbols!r} names a symbol more than once")
    return _quotes(int(n), names, seed, spread_bps, interval_s)


def _quotes(
    n: int, symbols: list[str], seed: int, spread_bps: float, interval_s: float
) -> Iterator[tuple[float, str, float, float, float, float]]:
    rng = np.random.default_rng(seed)
    base = {s: _REFERENCE_PRICES.get(s[:3], 100.0 * (1 + i) ** 2) for i, s in enumerate(symbols)}
    mids = dict(base)
    for k in range(n):
        ts = DEFAULT_START + k * interval_s
        for s in symbols:
            mids[s] *= float(np.exp(rng.normal(0.0, 0.0005)))
            half = mids[s] * (spread_bps * float(rng.uniform(0.5, 1.5))) / 2e4
            yield (ts, s, mids[s] - half, mids[s] + half, float(rng.uniform(1, 5)), float(rng.uniform(1, 5)))


def bars_table(bars: dict[str, np.ndarray]) -> pa.Table:
    ts = pa.array((bars["timestamp"] * 1000).astype(np.int64), type=pa.int64()).cast(
        pa.timestamp("ms", tz="UTC")
    )
    cols = {"timestamp": ts}
    cols.update({k: pa.array(bars[k]) for k in ("open", "high", "low", "close", "volume")})
    return pa.table(cols)


def table_format(path: str | Path) -> Literal["parquet", "csv", "csv.gz"] | None:
    """What a market data file's name says it holds, the one rule for reading and writing:
    Parquet (``.parquet``, ``.pq``), CSV (``.csv``, ``.txt``), gzipped CSV (``.csv.gz``), or
    None for any other name."""
    name = Path(path).name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".txt")):
        return "csv"
    if name.endswith(".csv.gz"):
        return "csv.gz"
    return None


def write_bars(bars: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write bars as Parquet or CSV (gzipped for ``.csv.gz``), chosen by the file's name;
    ValueError, writing nothing, for a name :func:`table_format` does not know.

    Written whole (``replace_whole``: a temporary file beside it, synced, renamed): a write
    that fails (a full disk) or is cut short leaves nothing under the name, nor a file it
    replaces half overwritten. (Written in place, a CSV cut at a full disk read back as a
    shorter history, its last row's volume cut short, and the command said only that it could
    not write.)"""
    p = Path(path)
    kind = table_format(p)
    if kind is None:
        raise ValueError(f"{p.name}: unknown file type (use .csv, .csv.gz or .parquet)")
    p.parent.mkdir(parents=True, exist_ok=True)
    table = bars_table(bars)
    # A link's file is rewritten, not the link replaced by a file (as written in place before).
    dest = Path(os.path.realpath(p)) if p.is_symlink() else p

    def write(tmp: Path) -> None:
        if kind == "parquet":
            pq.write_table(table, tmp)
        elif kind == "csv.gz":
            with pa.CompressedOutputStream(str(tmp), "gzip") as out:
                pacsv.write_csv(table, out)
        else:
            pacsv.write_csv(table, tmp)

    replace_whole(dest, write)
    return p
