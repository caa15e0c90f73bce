"""Backtest throughput: bars/s of the SMA crossover in dita, and the same strategy on the
same bars in NautilusTrader's BacktestEngine, measured in the same run.

dita is timed end to end (read the Parquet file and check it, replay through kernel, runtime
and paper venue, compute the metrics); NautilusTrader's ``engine.run()`` only (its setup and
data conversion are excluded, see benches/nautilus_baseline.py), so the ratio favours
NautilusTrader. Wall-clock and CPU-time figures are both printed because the machine is
shared. Target: dita >= 10x.

    python benches/bench_backtest.py [--days 30] [--fast 10] [--slow 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from dita.backtest.data import load_market_data
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.data import generate_bars, write_bars
from dita.examples.crossover import SmaCrossover

TARGET_RATIO = 10.0


def run_dita(path: Path, fast: int, slow: int, size: float) -> tuple[float, float, float, int, int]:
    """(wall s end to end, cpu s end to end, wall s replay only, bars, fills)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    data = load_market_data(path)
    strategy = SmaCrossover({"fast": fast, "slow": slow, "trade_size": size, "allow_short": False})
    result = run_backtest(strategy, data, BacktestConfig(fee_rate=0.0004, slippage_bps=0.0, volume_share=1.0))
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    return wall, cpu, result.elapsed_s, len(data), int(result.run_info["fills"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=float, default=30.0, help="days of one-minute bars")
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=30)
    parser.add_argument("--size", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=3, help="dita runs (the best is reported)")
    args = parser.parse_args(argv)

    bars = generate_bars(days=args.days, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_bars(bars, Path(tmp) / "BTCUSDT_1m.parquet")
        runs = [run_dita(path, args.fast, args.slow, args.size) for _ in range(max(1, args.repeat))]
    wall, cpu, replay, n, fills = min(runs, key=lambda r: r[0])
    print(f"bars: {n:,} one-minute bars ({args.days:g} days), SMA {args.fast}/{args.slow}, long/flat")
    print(f"dita end to end:   {n / wall:12,.0f} bars/s wall  {n / cpu:12,.0f} bars/s cpu  ({fills} fills)")
    print(f"dita replay only:  {n / replay:12,.0f} bars/s wall")

    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from nautilus_baseline import run_nautilus_bars
    except ImportError as exc:
        print(f"nautilus: comparison skipped ({exc}); install the bench extra for it")
        return 0
    columns = {
        "ts": bars["timestamp"].tolist(),
        **{k: bars[k].tolist() for k in ("open", "high", "low", "close", "volume")},
    }
    naut = run_nautilus_bars(columns, fast=args.fast, slow=args.slow, trade_size=args.size)
    print(
        f"nautilus run():    {naut.per_second:12,.0f} bars/s wall  {naut.per_cpu_second:12,.0f} bars/s cpu  "
        f"({naut.fills} fills)"
    )
    ratio_wall = (n / wall) / naut.per_second
    ratio_cpu = (n / cpu) / naut.per_cpu_second
    verdict = "meets" if min(ratio_wall, ratio_cpu) >= TARGET_RATIO else "MISSES"
    print(
        f"ratio dita/nautilus: {ratio_wall:.1f}x wall, {ratio_cpu:.1f}x cpu "
        f"({verdict} the {TARGET_RATIO:g}x target)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
