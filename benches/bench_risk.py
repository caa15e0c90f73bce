"""process_intent throughput with every risk rule on, against the same kernel with rules off.

Target: overhead <= 1.1x. Each side alternates ENTER and EXIT on slot 0 through
the default native mock venue (acknowledged and filled at once). The two sides run
interleaved, several rounds, and the median of each is compared, so a change in machine
load hits both. Wall-clock and CPU-time figures are both printed; on a shared machine the
CPU-time ratio is the fairer one.

    python benches/bench_risk.py [--orders 100000] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from dita import ExecutionKernel, KernelIntent


def build_intents(n: int, metadata: dict[str, Any]) -> list[KernelIntent]:
    out = []
    for i in range(n):
        action = "ENTER" if i % 2 == 0 else "EXIT"
        out.append(
            KernelIntent(
                f"i{i}",
                f"t{i // 2}",
                0,
                "BTCUSDT",
                "LONG",
                action,
                60_000.0,
                0.01 if action == "ENTER" else 0.0,
                leverage=2.0,
                metadata=metadata,
                timestamp=1_700_000_000.0 + i * 0.001,
            )
        )
    return out


def kernel(rules: bool) -> ExecutionKernel:
    k = ExecutionKernel(max_slots=10)
    k.set_seed_capital(1_000_000.0)
    if rules:
        # Every rule is evaluated on every order and none refuses: the cost of checking.
        k.update_control(mode="LIVE")  # provenance: metadata["source_run"] is required
        k.set_risk_limits(
            {
                "max_leverage": 10.0,
                "max_notional_per_asset": 1e9,
                "max_notional_total": 1e10,
                "max_order_rate": 100_000,  # the most the kernel takes; intents are 1 ms apart
                "regime": "BULL",  # LONG entries are with the regime
                "edge_freeze_threshold_bps": 1.5,
            }
        )
        k.set_market_limits(
            "BTCUSDT", {"lot_step": 0.001, "tick_size": 0.1, "min_qty": 0.001, "min_notional": 5.0}
        )
    return k


def run(rules: bool, intents: list[KernelIntent]) -> tuple[float, float]:
    k = kernel(rules)
    process = k.process_intent
    w0, c0 = time.perf_counter(), time.process_time()
    for it in intents:
        process(it)
    w1, c1 = time.perf_counter(), time.process_time()
    if k.stats()["intents_accepted"] != len(intents):
        sys.exit(
            f"benchmark invalid: only {k.stats()['intents_accepted']} of {len(intents)} intents accepted"
        )
    return len(intents) / (w1 - w0), len(intents) / max(c1 - c0, 1e-9)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a short smoke run")
    args = ap.parse_args()
    if args.quick:
        args.orders, args.rounds = 4_000, 2
    if args.orders < 2 or args.rounds < 1:
        ap.error("--orders must be >= 2 and --rounds >= 1")
    plain = build_intents(args.orders, {})
    guarded = build_intents(args.orders, {"source_run": "bench-run-1"})
    off: list[tuple[float, float]] = []
    on: list[tuple[float, float]] = []
    run(False, plain[:2000])  # warm-up
    for _ in range(args.rounds):
        off.append(run(False, plain))
        on.append(run(True, guarded))
    off_wall, off_cpu = (statistics.median(x[i] for x in off) for i in (0, 1))
    on_wall, on_cpu = (statistics.median(x[i] for x in on) for i in (0, 1))
    print(f"risk guard benchmark: {args.orders:,} orders x {args.rounds} rounds, ENTER/EXIT, native mock")
    print(f"  rules off                : {off_wall:12,.0f} orders/s wall   {off_cpu:12,.0f} orders/s CPU")
    print(f"  all rules on             : {on_wall:12,.0f} orders/s wall   {on_cpu:12,.0f} orders/s CPU")
    ratio_wall, ratio_cpu = off_wall / on_wall, off_cpu / on_cpu
    print(
        f"  overhead (off / on)      : {ratio_wall:12.3f}x wall   {ratio_cpu:12.3f}x CPU   (target <= 1.1x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
