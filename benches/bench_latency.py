"""Tail latency of ``process_intent`` under a paced, sustained stream, the full stack against the
kernel alone in the same run.

Each phase sends ``--rate`` intents per second (default 100,000) for ``--seconds`` (default 60),
ENTER and EXIT in turn on slot 0 with the default mock venue (every order acknowledged and
filled at once). The strategy thread builds each intent, waits for its time (a spin: a
sleep's wake-up is coarser than the 10 us between intents), and times the call alone with
``perf_counter_ns``. An intent late for its time is sent at once: the phase then runs behind
its pace and says so.

1. the kernel alone: no log, no journal, no projection;
2. the full stack: the write-ahead log at fsync=batch, the chDB journal at NORMAL and, when a
   member can be started (``DITA_HAZELCAST_HOME`` holds the Hazelcast jars, or the default jar
   cache does), the Hazelcast projection on that real member; ``--no-hazelcast`` leaves it out.

Printed per phase: p50, p99, p99.9, p99.99 and max of the calls, the pace kept, and the
kernel's own histogram (``stats()``); then the full stack's p99.9 over the kernel alone's.
Targets: p99.9 <= 20 us and max <= 1 ms with the full stack, its p99.9 within 1.5x of the kernel
alone's. ``--seconds 5 --rate 20000`` gives a short run; the machine is shared, so the load
average is printed.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import gc
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dita import ExecutionKernel, KernelIntent
from dita.journal.clickhouse import ClickHouseJournal

ASSET = "BTCUSDT"
PRICE = 50_000.0
SIZE = 0.01

TARGET_P999_US = 20.0
TARGET_MAX_US = 1_000.0
TARGET_P999_RATIO = 1.5


@dataclass(frozen=True)
class Phase:
    """One phase's figures: call latencies in microseconds, and the pace it kept."""

    name: str
    intents: int
    seconds: float
    p50: float
    p99: float
    p999: float
    p9999: float
    max: float
    behind: int  # intents sent later than 1 ms after their time
    kernel_stats: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.intents / self.seconds


def paced_run(kernel: ExecutionKernel, rate: float, seconds: float, name: str, first: int = 0) -> Phase:
    """Sends ``rate`` intents/s for ``seconds`` through ``kernel``, each call timed; the intents'
    numbers start at ``first`` (even: an ENTER), past those of an earlier run on the kernel."""
    count = int(rate * seconds)
    step = int(1e9 / rate)
    took = array.array("q", bytes(8 * count))
    process, clock = kernel.process_intent, time.perf_counter_ns
    behind = refused = 0
    start = clock() + 1_000_000
    for n in range(first, first + count):
        intent = KernelIntent(
            f"i{n}", f"t{n >> 1}", 0, ASSET, "LONG", "EXIT" if n & 1 else "ENTER", PRICE, SIZE
        )
        due = start + (n - first) * step
        now = clock()
        if now - due > 1_000_000:
            behind += 1
        while now < due:
            now = clock()
        t0 = clock()
        out = process(intent)
        took[n - first] = clock() - t0
        refused += not out.accepted
    elapsed = (clock() - start) / 1e9
    if refused:
        raise RuntimeError(
            f"{name}: the kernel refused {refused} of {count} intents; the figures are not valid"
        )
    us = np.frombuffer(took, dtype=np.int64) / 1_000
    p50, p99, p999, p9999 = np.percentile(us, [50, 99, 99.9, 99.99])
    return Phase(name, count, elapsed, p50, p99, p999, p9999, float(us.max()), behind, dict(kernel.stats()))


@contextlib.contextmanager
def hazelcast_member(wanted: bool) -> Iterator[tuple[list[str], str] | None]:
    """A Hazelcast member on a free loopback port for the run, or None (and why, printed)."""
    if not wanted:
        print("Hazelcast projection: left out (--no-hazelcast)")
        yield None
        return
    from dita.services.hazelcast import HazelcastMember, free_port, jar_paths

    missing = [str(j) for j in jar_paths() if not j.is_file()]
    if missing:
        print(f"Hazelcast projection: left out, no jar at {', '.join(missing)} (set DITA_HAZELCAST_HOME)")
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="dita-bench-hz-") as state:
        member = HazelcastMember(port=free_port(), cluster_name="dita-latency", state_dir=Path(state))
        started = time.perf_counter()
        member.start()
        took = time.perf_counter() - started
        print(f"Hazelcast projection: a member on {member.address}, started in {took:.1f} s")
        try:
            yield [member.address], member.cluster_name
        finally:
            member.stop(kill=True)


def full_stack_run(root: Path, rate: float, seconds: float, members: tuple[list[str], str] | None) -> Phase:
    journal = ClickHouseJournal(f"chdb://{root / 'journal'}", serve_sql=False)
    projection: Any = None
    if members is not None:
        from dita.projection.hazelcast import HazelcastProjection

        projection = HazelcastProjection(*members)
    kernel = ExecutionKernel(
        max_slots=16,
        kernel_id="latency-full",
        journal=journal,
        projection=projection,
        wal_dir=str(root / "wal"),
        fsync="batch",
    )
    try:
        kernel.update_control(verbosity="NORMAL", source="bench")
        paced_run(kernel, rate, min(seconds, 1.0), "warm-up")
        phase = paced_run(kernel, rate, seconds, "full stack", first=1 << 40)
        journal.flush(600)
        return phase
    finally:
        kernel.close()
        journal.close()
        if projection is not None:
            projection.close()


def kernel_alone_run(rate: float, seconds: float) -> Phase:
    kernel = ExecutionKernel(max_slots=16, kernel_id="latency-alone")
    paced_run(kernel, rate, min(seconds, 1.0), "warm-up")
    return paced_run(kernel, rate, seconds, "kernel alone", first=1 << 40)


def show(phase: Phase) -> None:
    k = phase.kernel_stats

    def ns(key: str) -> str:
        v = k.get(key)
        return "-" if v is None else f"{v / 1000:.2f}"

    print(
        f"{phase.name:<14}: p50 {phase.p50:.2f} us, p99 {phase.p99:.2f} us, p99.9 {phase.p999:.2f} us, "
        f"p99.99 {phase.p9999:.2f} us, max {phase.max:,.1f} us; {phase.intents:,} intents at "
        f"{phase.rate:,.0f}/s ({phase.behind:,} sent over 1 ms late); journal rows dropped from the "
        f"outbox: {k.get('journal_dropped', 0):,} (a log refills them)",
        flush=True,
    )
    print(
        f"{'':<14}  the kernel's histogram (call to outcome, venue included): "
        f"p50 {ns('intent_latency_p50_ns')} us, "
        f"p99 {ns('intent_latency_p99_ns')} us, p99.9 {ns('intent_latency_p999_ns')} us, "
        f"max {ns('intent_latency_max_ns')} us",
        flush=True,
    )


def verdict(ok: bool) -> str:
    return "[met]" if ok else "[MISSED]"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100_000.0, help="intents per second (default 100000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase (default 60)")
    parser.add_argument("--no-hazelcast", action="store_true", help="leave the Hazelcast projection out")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"dita latency benchmark: python {platform.python_version()}, {os.cpu_count()} cpus, "
        f"load average {load}; "
        f"{args.rate:,.0f} intents/s for {args.seconds:g} s per phase"
    )
    gc.collect()
    alone = kernel_alone_run(args.rate, args.seconds)
    show(alone)
    with (
        hazelcast_member(not args.no_hazelcast) as members,
        tempfile.TemporaryDirectory(prefix="dita-latency-") as root,
    ):
        full = full_stack_run(Path(root), args.rate, args.seconds, members)
    show(full)
    ratio = full.p999 / alone.p999
    print(
        f"full stack p99.9 {full.p999:.2f} us: target <= {TARGET_P999_US:g} us",
        verdict(full.p999 <= TARGET_P999_US),
    )
    print(
        f"full stack max {full.max:,.1f} us: target <= {TARGET_MAX_US:,.0f} us",
        verdict(full.max <= TARGET_MAX_US),
    )
    print(
        f"ratio p99.9 full stack / kernel alone: {ratio:.2f}x, target <= {TARGET_P999_RATIO}x",
        verdict(ratio <= TARGET_P999_RATIO),
    )
    if args.json:
        figures = {p.name: {**asdict(p), "rate": p.rate} for p in (alone, full)}
        figures["ratio_p999"] = ratio  # type: ignore[assignment]
        figures["hazelcast"] = members is not None  # type: ignore[assignment]
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
