"""Kernel throughput, slot scaling and memory, with a NautilusTrader baseline from the same run.

Figures:

1. orders/s through ``ExecutionKernel.process_intent`` with the default mock venue (every
   order acknowledged and filled at once), alternating ENTER and EXIT on slot 0:
   - prebuilt intents: the intents exist before the clock starts, so the figure is the
     kernel call alone. This is the HEADLINE figure (target >= 1,000,000 orders/s);
   - intents built in the loop: each ``KernelIntent`` is constructed inside the timed loop,
     as a strategy would; the figure to hold against NautilusTrader, whose strategy builds
     each order inside its timed run as well;
   - one batch: the same prebuilt intents through one ``process_intents`` call, answered in
     columns (target >= 5,000,000 orders/s), and its ratio to the prebuilt one-by-one figure;
   - one batch of columns: the same intents as columns (lists of ids, NumPy arrays of numbers)
     through one ``process_intents`` call, each row read and checked inside the call, and its
     ratio to the intents built in the loop (both start from the figures, not from objects).
2. NautilusTrader orders/s for the same workload (one market order per quote tick,
   alternating buy and sell, risk engine on, logging bypassed), measured in this process
   in chunks interleaved with the dita repeats, and the ratio dita / NautilusTrader
   (target >= 100x).
3. per-order cost with max_slots=10,000 vs max_slots=10 (target within 1.2x): ENTER on
   every slot in turn, then EXIT on every slot, so the large kernel holds up to 10,000 open
   positions at once and any per-call cost proportional to the slot count would show. The
   same ratio with all the work on slot 0 separates such a cost from the cache footprint of
   touching 10,000 slots in turn.
4. resident memory growth (RSS) over 1,000,000 orders after a warm-up, in a fresh
   interpreter (target < 20 MB).

Run ``python benches/bench_kernel.py`` (full) or ``--quick`` (a smoke run, seconds; the
figures are then too short to judge against the targets). The machine is shared, so each
dita figure is the median of several repeats and the load average is printed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dita import ExecutionKernel, KernelIntent, TradeStage

ASSET = "BTCUSDT"
PRICE = 50_000.0
SIZE = 0.01

# Labels are part of the script's interface: tests/benches/test_bench_smoke.py checks each.
LABEL_PREBUILT = "dita orders/s, prebuilt intents (headline)"
LABEL_IN_LOOP = "dita orders/s, intents built in loop"
LABEL_BATCH = "dita orders/s, one process_intents batch"
LABEL_RATIO_BATCH = "ratio batch / prebuilt one by one"
LABEL_COLUMNS = "dita orders/s, one batch of columns"
LABEL_RATIO_COLUMNS = "ratio columns batch / intents built in loop"
LABEL_NAUTILUS = "NautilusTrader orders/s"
LABEL_RATIO_HEADLINE = "ratio dita/NautilusTrader, prebuilt (headline)"
LABEL_RATIO_IN_LOOP = "ratio dita/NautilusTrader, built in loop"
LABEL_COST_SMALL = "per-order cost, max_slots=10"
LABEL_COST_LARGE = "per-order cost, max_slots=10000"
LABEL_COST_RATIO = "ratio cost max_slots=10000 / max_slots=10"
LABEL_COST_RATIO_SLOT0 = "ratio cost max_slots=10000 / 10, slot 0 only"
LABEL_RSS = "RSS growth over the memory run"

TARGET_ORDERS_PER_SECOND = 1_000_000.0
TARGET_BATCH_ORDERS_PER_SECOND = 5_000_000.0
TARGET_NAUTILUS_RATIO = 100.0
TARGET_SLOT_COST_RATIO = 1.2
TARGET_RSS_GROWTH_MB = 20.0


@dataclass(frozen=True)
class Settings:
    throughput_orders: int
    repeats: int
    nautilus_orders: int
    slot_orders: int
    large_slots: int
    memory_warmup_orders: int
    memory_orders: int


FULL = Settings(
    throughput_orders=200_000,
    repeats=5,
    nautilus_orders=20_000,
    slot_orders=200_000,
    large_slots=10_000,
    memory_warmup_orders=200_000,
    memory_orders=1_000_000,
)
QUICK = Settings(
    throughput_orders=10_000,
    repeats=2,
    nautilus_orders=300,
    slot_orders=20_000,
    large_slots=10_000,
    memory_warmup_orders=5_000,
    memory_orders=20_000,
)


def enter_intent(n: int, slot_id: int, trade: int) -> KernelIntent:
    return KernelIntent(f"i{n}", f"t{trade}", slot_id, ASSET, "LONG", "ENTER", PRICE, SIZE)


def exit_intent(n: int, slot_id: int, trade: int) -> KernelIntent:
    return KernelIntent(f"i{n}", f"t{trade}", slot_id, ASSET, "LONG", "EXIT", PRICE, SIZE)


def alternating_intents(start: int, count: int) -> list[KernelIntent]:
    """ENTER, EXIT, ENTER, ... on slot 0; order n belongs to trade n // 2."""
    return [
        enter_intent(n, 0, n // 2) if n % 2 == 0 else exit_intent(n, 0, n // 2)
        for n in range(start, start + count)
    ]


def spread_intents(start: int, count: int, max_slots: int) -> list[KernelIntent]:
    """ENTER on slots 0..max_slots-1, then EXIT on them, repeated; ``count`` is rounded to whole rounds."""
    intents = []
    n = start
    rounds = max(1, count // (2 * max_slots))
    for r in range(rounds):
        for slot in range(max_slots):
            intents.append(enter_intent(n, slot, r * max_slots + slot + start))
            n += 1
        for slot in range(max_slots):
            intents.append(exit_intent(n, slot, r * max_slots + slot + start))
            n += 1
    return intents


@dataclass(frozen=True)
class Timing:
    """Wall-clock and thread-CPU seconds of one timed loop over ``orders`` orders."""

    orders: int
    wall: float
    cpu: float


def run_prebuilt(kernel: ExecutionKernel, intents: Sequence[KernelIntent]) -> Timing:
    """Push ``intents`` through the kernel; refuses to report if any was refused."""
    process = kernel.process_intent
    accepted = 0
    started, started_cpu = time.perf_counter(), time.thread_time()
    for intent in intents:
        accepted += process(intent).accepted
    timing = Timing(len(intents), time.perf_counter() - started, time.thread_time() - started_cpu)
    if accepted != len(intents):
        raise RuntimeError(f"kernel accepted {accepted} of {len(intents)} intents; the figure is not valid")
    return timing


def run_batch(kernel: ExecutionKernel, intents: Sequence[KernelIntent]) -> Timing:
    """Push ``intents`` through the kernel in one ``process_intents`` call; refuses to report if
    any was refused."""
    started, started_cpu = time.perf_counter(), time.thread_time()
    columns = kernel.process_intents(intents)
    timing = Timing(len(intents), time.perf_counter() - started, time.thread_time() - started_cpu)
    accepted = int(columns["accepted"].sum())
    if accepted != len(intents):
        raise RuntimeError(f"kernel accepted {accepted} of {len(intents)} intents; the figure is not valid")
    return timing


def intent_columns(start: int, count: int) -> dict[str, Any]:
    """The orders of ``alternating_intents(start, count)`` as columns."""
    numbers = np.arange(start, start + count)
    return {
        "intent_id": [f"i{n}" for n in range(start, start + count)],
        "trade_id": [f"t{n // 2}" for n in range(start, start + count)],
        "slot_id": np.zeros(count, dtype=np.int64),
        "asset": [ASSET] * count,
        "side": ["LONG"] * count,
        "action": np.where(numbers % 2 == 0, "ENTER", "EXIT").tolist(),
        "reference_price": np.full(count, PRICE),
        "target_size": np.full(count, SIZE),
    }


def run_columns(kernel: ExecutionKernel, columns: dict[str, Any]) -> Timing:
    """Push ``columns`` through the kernel in one ``process_intents`` call; refuses to report if
    any was refused."""
    count = len(columns["intent_id"])
    started, started_cpu = time.perf_counter(), time.thread_time()
    answered = kernel.process_intents(columns)
    timing = Timing(count, time.perf_counter() - started, time.thread_time() - started_cpu)
    accepted = int(answered["accepted"].sum())
    if accepted != count:
        raise RuntimeError(f"kernel accepted {accepted} of {count} intents; the figure is not valid")
    return timing


def run_built_in_loop(kernel: ExecutionKernel, start: int, count: int) -> Timing:
    """Like run_prebuilt, but each intent is constructed inside the timed loop."""
    process = kernel.process_intent
    accepted = 0
    started, started_cpu = time.perf_counter(), time.thread_time()
    for n in range(start, start + count):
        trade = f"t{n >> 1}"
        action = "ENTER" if n % 2 == 0 else "EXIT"
        accepted += process(KernelIntent(f"i{n}", trade, 0, ASSET, "LONG", action, PRICE, SIZE)).accepted
    timing = Timing(count, time.perf_counter() - started, time.thread_time() - started_cpu)
    if accepted != count:
        raise RuntimeError(f"kernel accepted {accepted} of {count} intents; the figure is not valid")
    return timing


@dataclass(frozen=True)
class Rate:
    """Median orders/s over repeats, by wall clock (judged) and by thread CPU time (context)."""

    wall: float
    cpu: float
    low: float
    high: float
    repeats: int
    orders: int

    @staticmethod
    def of(timings: Sequence[Timing]) -> Rate:
        walls = [t.orders / t.wall for t in timings]
        return Rate(
            wall=statistics.median(walls),
            cpu=statistics.median(t.orders / t.cpu for t in timings),
            low=min(walls),
            high=max(walls),
            repeats=len(timings),
            orders=timings[0].orders,
        )

    def note(self) -> str:
        return (
            f"median of {self.repeats} x {self.orders:,} orders, range {self.low:,.0f}-{self.high:,.0f}; "
            f"by CPU time {self.cpu:,.0f}"
        )


def check_round_trip() -> None:
    """One ENTER and one EXIT with the default mock venue must fill: open, then closed."""
    kernel = ExecutionKernel(max_slots=1)
    opened = kernel.process_intent(enter_intent(0, 0, 0))
    closed = kernel.process_intent(exit_intent(1, 0, 0))
    if opened.state != TradeStage.POSITION_OPEN or closed.state != TradeStage.CLOSED:
        raise RuntimeError(
            f"default mock venue did not fill at once: ENTER -> {opened.state.name}, "
            f"EXIT -> {closed.state.name}; orders/s would not count filled orders"
        )


def prebuilt_repeat(s: Settings) -> Timing:
    kernel = ExecutionKernel(max_slots=10)
    warm = alternating_intents(0, 2_000)
    run_prebuilt(kernel, warm)
    return run_prebuilt(kernel, alternating_intents(len(warm), s.throughput_orders))


def batch_repeat(s: Settings) -> Timing:
    kernel = ExecutionKernel(max_slots=10)
    warm = alternating_intents(0, 2_000)
    run_batch(kernel, warm)
    return run_batch(kernel, alternating_intents(len(warm), s.throughput_orders))


def columns_repeat(s: Settings) -> Timing:
    kernel = ExecutionKernel(max_slots=10)
    run_columns(kernel, intent_columns(0, 2_000))
    return run_columns(kernel, intent_columns(2_000, s.throughput_orders))


def in_loop_repeat(s: Settings) -> Timing:
    kernel = ExecutionKernel(max_slots=10)
    run_built_in_loop(kernel, 0, 2_000)
    return run_built_in_loop(kernel, 2_000, s.throughput_orders)


@dataclass(frozen=True)
class Throughput:
    prebuilt: Rate
    in_loop: Rate
    batch: Rate
    columns: Rate
    nautilus: Rate | None  # None when the comparison was skipped
    nautilus_fills: int
    skipped_because: str


def throughput(s: Settings, with_nautilus: bool) -> Throughput:
    """dita and NautilusTrader throughput, their repeats interleaved.

    Each round runs dita (prebuilt), dita (built in loop) and a 1/repeats share of the
    NautilusTrader orders back to back, so a change in machine load during the run lands on
    both sides of the ratio instead of on whichever happened to run later.
    """
    baseline: Any = None
    why = "--skip-nautilus given"
    if with_nautilus:
        baseline, why = import_nautilus_baseline()
    chunk = max(1, s.nautilus_orders // s.repeats)
    if baseline is not None:
        baseline.run_nautilus_orders(min(200, chunk))  # warm-up: first-call costs
    prebuilt, in_loop, batch, columns, nautilus = [], [], [], [], []
    fills = 0
    for _ in range(s.repeats):
        prebuilt.append(prebuilt_repeat(s))
        in_loop.append(in_loop_repeat(s))
        batch.append(batch_repeat(s))
        columns.append(columns_repeat(s))
        if baseline is not None:
            run = baseline.run_nautilus_orders(chunk)
            fills += run.fills
            nautilus.append(Timing(run.items, run.seconds, run.cpu_seconds))
    return Throughput(
        prebuilt=Rate.of(prebuilt),
        in_loop=Rate.of(in_loop),
        batch=Rate.of(batch),
        columns=Rate.of(columns),
        nautilus=Rate.of(nautilus) if nautilus else None,
        nautilus_fills=fills,
        skipped_because="" if nautilus else why,
    )


def slot_cost_run(max_slots: int, s: Settings) -> Timing:
    """One timed run with the work spread over every slot of a ``max_slots`` kernel."""
    kernel = ExecutionKernel(max_slots=max_slots)
    run_prebuilt(kernel, spread_intents(0, 2 * max_slots, max_slots))  # warm-up round
    return run_prebuilt(kernel, spread_intents(10_000_000, s.slot_orders, max_slots))


def slot_zero_run(max_slots: int, s: Settings) -> Timing:
    """One timed run of ENTER/EXIT on slot 0 only of a ``max_slots`` kernel."""
    kernel = ExecutionKernel(max_slots=max_slots)
    run_prebuilt(kernel, alternating_intents(0, 2_000))
    return run_prebuilt(kernel, alternating_intents(2_000, s.slot_orders))


@dataclass(frozen=True)
class SlotCosts:
    spread_small: Rate
    spread_large: Rate
    zero_small: Rate
    zero_large: Rate


def slot_costs(s: Settings) -> SlotCosts:
    """Rates of 10-slot and large kernels, work spread over all slots and on slot 0 only.

    Spread is the judged comparison: with up to max_slots positions open it shows any cost
    that grows with the slot count or the open positions. Slot 0 only tells such a cost
    apart from the memory footprint of touching thousands of slots in turn. Repeats are
    interleaved so a drift in machine load does not land on one side of a ratio.
    """
    runs: dict[str, list[Timing]] = {"ss": [], "sl": [], "zs": [], "zl": []}
    for _ in range(s.repeats):
        runs["ss"].append(slot_cost_run(10, s))
        runs["sl"].append(slot_cost_run(s.large_slots, s))
        runs["zs"].append(slot_zero_run(10, s))
        runs["zl"].append(slot_zero_run(s.large_slots, s))
    return SlotCosts(*(Rate.of(runs[k]) for k in ("ss", "sl", "zs", "zl")))


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def rss_growth_mb(s: Settings) -> tuple[float, float, float]:
    """(growth MB, RSS before MB, RSS after MB) over ``memory_orders`` built-in-loop orders."""
    kernel = ExecutionKernel(max_slots=10)
    # The warm-up fills the kernel's bounded memories (seen intents, finished orders,
    # unsettled fills) so the measured run shows growth, not the first fill of those caps.
    run_built_in_loop(kernel, 0, s.memory_warmup_orders)
    gc.collect()
    before = rss_bytes()
    run_built_in_loop(kernel, s.memory_warmup_orders, s.memory_orders)
    gc.collect()
    after = rss_bytes()
    return (after - before) / 2**20, before / 2**20, after / 2**20


def rss_growth_in_fresh_process(quick: bool) -> tuple[float, float, float]:
    """Run rss_growth_mb in a new interpreter.

    In this process the throughput runs have already freed hundreds of MB of intents; the
    allocator would hand that memory to a leaking kernel without RSS moving, hiding a leak.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-phase"] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory run failed (exit {proc.returncode}): {proc.stderr.strip()}")
    growth, before, after = json.loads(proc.stdout.strip().splitlines()[-1])
    return float(growth), float(before), float(after)


def import_nautilus_baseline() -> tuple[Any, str]:
    """The nautilus_baseline module, or None and why it cannot be used."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import nautilus_baseline
    except ImportError as exc:
        return None, f"nautilus_trader is not importable ({exc}); install the bench extra"
    return nautilus_baseline, ""


def verdict(ok: bool, quick: bool) -> str:
    if quick:
        return "[quick run: not judged]"
    return "[met]" if ok else "[MISSED]"


def line(label: str, value: str, note: str = "") -> None:
    print(f"{label:<48}: {value}{('   ' + note) if note else ''}", flush=True)


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (seconds)")
    parser.add_argument("--nautilus-orders", type=int, help="orders in the NautilusTrader run")
    parser.add_argument("--skip-nautilus", action="store_true", help="do not run the NautilusTrader baseline")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    # Internal: the memory measurement, run by the main invocation in a fresh interpreter.
    parser.add_argument("--memory-phase", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    s = QUICK if args.quick else FULL
    if args.memory_phase:
        print(json.dumps(rss_growth_mb(s)))
        return 0
    if args.nautilus_orders is not None:
        if args.nautilus_orders < 1:
            parser.error(f"--nautilus-orders must be at least 1, got {args.nautilus_orders}")
        s = Settings(**{**s.__dict__, "nautilus_orders": args.nautilus_orders})
    q = args.quick
    figures: dict[str, Any] = {"quick": q}

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"dita kernel benchmark: python {platform.python_version()}, dita {version('dita')}, "
        f"nautilus_trader {version('nautilus_trader')}, {os.cpu_count()} cpus, load average {load}"
        + (" (quick run)" if q else "")
    )
    check_round_trip()

    t = throughput(s, with_nautilus=not args.skip_nautilus)
    prebuilt, in_loop, nautilus = t.prebuilt, t.in_loop, t.nautilus
    figures["orders_per_second_prebuilt"] = prebuilt.wall
    figures["orders_per_cpu_second_prebuilt"] = prebuilt.cpu
    ok = prebuilt.wall >= TARGET_ORDERS_PER_SECOND
    line(
        LABEL_PREBUILT,
        f"{prebuilt.wall:,.0f}",
        f"{prebuilt.note()}; target >= {TARGET_ORDERS_PER_SECOND:,.0f} {verdict(ok, q)}",
    )
    figures["orders_per_second_in_loop"] = in_loop.wall
    figures["orders_per_cpu_second_in_loop"] = in_loop.cpu
    line(LABEL_IN_LOOP, f"{in_loop.wall:,.0f}", in_loop.note())
    batch = t.batch
    figures["orders_per_second_batch"] = batch.wall
    figures["ratio_batch_to_prebuilt"] = batch.wall / prebuilt.wall
    ok = batch.wall >= TARGET_BATCH_ORDERS_PER_SECOND
    line(
        LABEL_BATCH,
        f"{batch.wall:,.0f}",
        f"{batch.note()}; target >= {TARGET_BATCH_ORDERS_PER_SECOND:,.0f} {verdict(ok, q)}",
    )
    line(LABEL_RATIO_BATCH, f"{batch.wall / prebuilt.wall:.2f}x", "same run, medians by wall clock")
    columns = t.columns
    figures["orders_per_second_columns"] = columns.wall
    figures["ratio_columns_to_in_loop"] = columns.wall / in_loop.wall
    line(LABEL_COLUMNS, f"{columns.wall:,.0f}", columns.note())
    line(LABEL_RATIO_COLUMNS, f"{columns.wall / in_loop.wall:.2f}x", "same run, medians by wall clock")
    if nautilus is None:
        figures["nautilus_orders_per_second"] = None
        line(LABEL_NAUTILUS, "comparison skipped", t.skipped_because)
        line(LABEL_RATIO_HEADLINE, "comparison skipped")
        line(LABEL_RATIO_IN_LOOP, "comparison skipped")
    else:
        figures["nautilus_orders_per_second"] = nautilus.wall
        figures["nautilus_orders_per_cpu_second"] = nautilus.cpu
        ratio, ratio_loop = prebuilt.wall / nautilus.wall, in_loop.wall / nautilus.wall
        figures["ratio_vs_nautilus_prebuilt"] = ratio
        figures["ratio_vs_nautilus_in_loop"] = ratio_loop
        line(
            LABEL_NAUTILUS,
            f"{nautilus.wall:,.0f}",
            f"{nautilus.note()}; one market order per quote tick, all "
            f"{t.nautilus_fills:,} filled, risk engine on, logging bypassed, timed engine.run() only",
        )
        line(
            LABEL_RATIO_HEADLINE,
            f"{ratio:,.0f}x",
            f"by CPU time {prebuilt.cpu / nautilus.cpu:,.0f}x; target >= "
            f"{TARGET_NAUTILUS_RATIO:.0f}x {verdict(ratio >= TARGET_NAUTILUS_RATIO, q)}",
        )
        line(LABEL_RATIO_IN_LOOP, f"{ratio_loop:,.0f}x", f"by CPU time {in_loop.cpu / nautilus.cpu:,.0f}x")

    costs = slot_costs(s)
    small, large = costs.spread_small, costs.spread_large
    small_us, large_us = 1e6 / small.wall, 1e6 / large.wall
    cost_ratio, cost_ratio_cpu = small.wall / large.wall, small.cpu / large.cpu
    zero_ratio, zero_ratio_cpu = (
        costs.zero_small.wall / costs.zero_large.wall,
        costs.zero_small.cpu / costs.zero_large.cpu,
    )
    figures.update(cost_us_small=small_us, cost_us_large=large_us, cost_ratio=cost_ratio)
    figures.update(
        cost_ratio_cpu=cost_ratio_cpu, cost_ratio_slot0=zero_ratio, cost_ratio_slot0_cpu=zero_ratio_cpu
    )
    line(
        LABEL_COST_SMALL,
        f"{small_us:.3f} us",
        f"{small.orders:,} orders spread over 10 slots, median of {small.repeats}; "
        f"by CPU time {1e6 / small.cpu:.3f} us",
    )
    line(
        LABEL_COST_LARGE,
        f"{large_us:.3f} us",
        f"{large.orders:,} orders spread over {s.large_slots:,} slots (up to {s.large_slots:,} open at "
        f"once); by CPU time {1e6 / large.cpu:.3f} us",
    )
    line(
        LABEL_COST_RATIO,
        f"{cost_ratio:.2f}x",
        f"by CPU time {cost_ratio_cpu:.2f}x; target <= {TARGET_SLOT_COST_RATIO}x "
        f"{verdict(cost_ratio <= TARGET_SLOT_COST_RATIO, q)}",
    )
    line(
        LABEL_COST_RATIO_SLOT0,
        f"{zero_ratio:.2f}x",
        f"by CPU time {zero_ratio_cpu:.2f}x; {1e6 / costs.zero_large.wall:.3f} us vs "
        f"{1e6 / costs.zero_small.wall:.3f} us per order; a per-call cost proportional to max_slots "
        "would show here",
    )

    growth, before, after = rss_growth_in_fresh_process(args.quick)
    figures.update(rss_growth_mb=growth, rss_before_mb=before, rss_after_mb=after)
    line(
        LABEL_RSS,
        f"{growth:.1f} MB",
        f"{s.memory_orders:,} orders after {s.memory_warmup_orders:,} warm-up orders in a fresh process "
        f"(RSS {before:.1f} -> {after:.1f} MB); target < {TARGET_RSS_GROWTH_MB:.0f} MB "
        f"{verdict(growth < TARGET_RSS_GROWTH_MB, q)}",
    )

    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
