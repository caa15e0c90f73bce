"""Backtest memory: how much run_backtest takes beyond the market data it replays, and its
speed, for N one-minute bars built in memory and a strategy that does nothing.

The baseline, measured in the same run, is the size of the MarketData itself (its arrays and
its list of asset names). The figure is the growth of the process's peak resident memory over
what it held before ``run_backtest`` (each run in a process of its own, so one run's peak does
not hide the next's); the ratio is that growth over the data's size. ``--old`` also runs the
replay unchunked: every column made a Python list at once (``ROWS_PER_CHUNK`` set to all the
rows), 32 bytes a number (a float object and a list slot) held for the whole replay.

    python benches/bench_backtest_memory.py [--rows 2000000] [--old] [--repeat 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import psutil

MB = 1 << 20


def _peak_rss() -> int:
    """The process's peak resident memory so far, in bytes (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _bars(n: int) -> Any:
    """N one-minute bars of one asset, built in place: no temporary array raises the peak
    above what the data holds before the run is measured."""
    from dita.backtest.data import MarketData

    ts = np.arange(n, dtype=np.float64)
    ts *= 60.0
    ts += 1_704_067_200.0
    close = np.arange(n, dtype=np.float64)
    close /= 500.0
    np.sin(close, out=close)
    close += 100.0
    high, low = close + 0.5, close - 0.5
    columns = {"open": close, "high": high, "low": low, "close": close, "volume": np.full(n, 5.0)}
    return MarketData(
        kind="bars", ts=ts, asset=["BTCUSDT"] * n, columns=columns, source="bench", interval=60.0
    )


def measure(rows: int, old: bool) -> dict[str, Any]:
    """One run in this process: the data's size, the peak growth, the rows per second."""
    from dita.backtest.engine import run_backtest
    from dita.runtime import feeds
    from dita.strategy import Bar, Strategy

    class Idle(Strategy[Any]):
        def on_bar(self, bar: Bar) -> None:
            pass

    if old:
        feeds.ROWS_PER_CHUNK = max(1, rows)  # one chunk: the whole columns as lists
    data = _bars(rows)
    # Distinct arrays only: open and close are one array.
    arrays = {id(a): a for a in (data.ts, *data.columns.values())}
    data_bytes = sum(a.nbytes for a in arrays.values()) + sys.getsizeof(data.asset)
    gc.collect()
    before = psutil.Process().memory_info().rss
    peak_before = _peak_rss()
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_backtest(Idle(), data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "rows": rows,
        "data_bytes": data_bytes,
        "extra_bytes": max(0, _peak_rss() - before),
        # Above ``before``: building the data peaked higher than it holds, and a smaller growth
        # than that gap is hidden.
        "hidden_below": max(0, peak_before - before),
        "replay_rows_s": rows / result.elapsed_s,
        "end_to_end_rows_s": rows / wall,
        # CPU time: the machine is shared, and wall time moves with the other work on it.
        "end_to_end_rows_cpu_s": rows / cpu,
        "chunk": feeds.ROWS_PER_CHUNK,
    }


def _child(rows: int, old: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--rows", str(rows), "--child", "old" if old else "new"]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{proc.stderr}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _lines(label: str, f: dict[str, Any]) -> str:
    ratio = f["extra_bytes"] / f["data_bytes"]
    hidden = f" (growth under {f['hidden_below'] / MB:,.0f} MB unseen)" if f["hidden_below"] > 4 * MB else ""
    return (
        f"{label}\n  extra peak RSS {f['extra_bytes'] / MB:9,.1f} MB = {ratio:5.2f}x the data, "
        f"{f['extra_bytes'] / f['rows']:6.1f} bytes/row{hidden}\n"
        f"  replay {f['replay_rows_s']:,.0f} rows/s wall; end to end {f['end_to_end_rows_s']:,.0f} rows/s "
        f"wall, {f['end_to_end_rows_cpu_s']:,.0f} rows/s cpu"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000, help="one-minute bars to replay")
    parser.add_argument("--old", action="store_true", help="also run the replay of whole columns as lists")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (alternated; the fastest shown)")
    parser.add_argument("--child", choices=("new", "old"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows {args.rows} must be at least 1")
    if args.child:
        print(json.dumps(measure(args.rows, args.child == "old")))
        return 0

    news: list[dict[str, Any]] = []
    olds: list[dict[str, Any]] = []
    for _ in range(max(1, args.repeat)):
        news.append(_child(args.rows, old=False))
        if args.old:
            olds.append(_child(args.rows, old=True))
    new = max(news, key=lambda f: f["end_to_end_rows_cpu_s"])
    print(
        f"bars: {args.rows:,} one-minute bars, a strategy that does nothing; "
        f"data (the baseline): {new['data_bytes'] / MB:,.1f} MB"
    )
    print(_lines(f"chunked ({new['chunk']:,} rows a chunk):", new))
    if args.old:
        old = max(olds, key=lambda f: f["end_to_end_rows_cpu_s"])
        print(_lines("whole columns as lists (--old):", old))
        saved = old["extra_bytes"] - new["extra_bytes"]
        speed = new["end_to_end_rows_cpu_s"] / old["end_to_end_rows_cpu_s"]
        per_row = saved / new["rows"]
        print(f"chunks save {saved / MB:,.1f} MB ({per_row:.1f} bytes/row); speed (CPU) {speed:.2f}x")
    else:
        # As computed, not measured: a float object (24 bytes) and a list slot (8) for each
        # of the six numbers of a bar.
        print(f"whole columns as lists would add about {32 * 6 * args.rows / MB:,.1f} MB (--old to measure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
