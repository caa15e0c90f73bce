"""Where slow ``process_intent`` calls come from: each call's wall and thread CPU time, the
collector's passes and the strategy thread's context switches, for one configuration.

``python benches/latency_stalls.py CONFIG [RATE] [SECONDS]``: CONFIG names the parts on, joined
by ``+``: ``alone``, ``wal`` (fsync=batch), ``journal`` (chDB at NORMAL), ``nogc`` (the collector
off), ``perf`` (the slow calls' time off the CPU by cause, from the strategy thread's context
switches as Linux ``perf`` records them: ``offcpu.py``), e.g. ``wal+journal+perf``.
``DITA_CHECKPOINT_EVERY`` sets ``wal_checkpoint_every`` (default 1,000,000). One loop of RATE
intents/s (default 50,000) for SECONDS (default 5) after a warm-up loop as long, ENTER and EXIT
in turn on slot 0 with the default mock venue.

Printed: the percentiles; the calls over 200 us, split into those mostly on the CPU (the
thread's own work: an encoding, a copy) and those off it (preempted, or waiting), and how many
overlapped a collection; where the on-CPU ones fell (a period points at a periodic job); and the
strategy thread's voluntary (waits) and involuntary (preemptions) context switches, from
/proc (Linux). A diagnosis, not a target: not in ``make bench``.
"""

from __future__ import annotations

import array
import contextlib
import gc
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

import offcpu
from dita import ExecutionKernel, KernelIntent
from dita.journal.clickhouse import ClickHouseJournal

SLOW_NS = 200_000
collections: list[tuple[int, int]] = []  # (start, end) of each collector pass, perf_counter_ns


def _on_gc(phase: str, info: dict[str, Any], started: list[int] = [0]) -> None:  # noqa: B006
    if phase == "start":
        started[0] = time.perf_counter_ns()
    else:
        collections.append((started[0], time.perf_counter_ns()))


def paced_loop(kernel: ExecutionKernel, rate: float, seconds: float, first: int) -> tuple[np.ndarray, ...]:
    """Each call's wall time, thread CPU time and start (ns), at ``rate`` intents/s."""
    count = int(rate * seconds)
    step = int(1e9 / rate)
    wall, cpu, at = (array.array("q", bytes(8 * count)) for _ in range(3))
    clock, thread_clock, process = time.perf_counter_ns, time.thread_time_ns, kernel.process_intent
    start = clock() + 1_000_000
    for n in range(first, first + count):
        intent = KernelIntent(
            f"i{n}", f"t{n >> 1}", 0, "BTCUSDT", "LONG", "EXIT" if n & 1 else "ENTER", 50_000.0, 0.01
        )
        due = start + (n - first) * step
        while clock() < due:
            pass
        c0, t0 = thread_clock(), clock()
        process(intent)
        t1, c1 = clock(), thread_clock()
        k = n - first
        wall[k], cpu[k], at[k] = t1 - t0, c1 - c0, t0
    return tuple(np.frombuffer(a, dtype=np.int64) for a in (wall, cpu, at))


def context_switches() -> tuple[int, int]:
    """This thread's (voluntary, involuntary) context switches so far."""
    fields = dict(
        line.split(":\t") for line in open("/proc/thread-self/status").read().splitlines() if "ctxt" in line
    )
    return int(fields["voluntary_ctxt_switches"]), int(fields["nonvoluntary_ctxt_switches"])


def report(config: str, wall: np.ndarray, cpu: np.ndarray, at: np.ndarray, switches: tuple[int, int]) -> None:
    us = wall / 1000
    slow = np.nonzero(wall > SLOW_NS)[0]
    on_cpu = slow[cpu[slow] > 0.5 * wall[slow]]
    in_gc = sum(any(a <= at[i] + wall[i] and at[i] <= b for a, b in collections) for i in slow)
    p50, p99, p999, p9999 = np.percentile(us, [50, 99, 99.9, 99.99])
    print(
        f"{config}: p50 {p50:.2f} us, p99 {p99:.2f} us, p99.9 {p999:.1f} us, p99.99 {p9999:.1f} us, "
        f"max {us.max():,.0f} us"
    )
    print(
        f"  {len(slow)} calls over {SLOW_NS // 1000} us: {len(on_cpu)} mostly on the CPU, "
        f"{len(slow) - len(on_cpu)} off it; {in_gc} overlapped a collection"
    )
    print(f"  on the CPU at intents {on_cpu.tolist()[:40]}, taking {(wall[on_cpu] // 1000).tolist()[:40]} us")
    print(f"  strategy thread: {switches[0]} waits (voluntary switches), {switches[1]} preemptions")


@contextlib.contextmanager
def recorded(wanted: bool) -> Iterator[list[offcpu.OffCpu] | None]:
    """The strategy thread's spells off the CPU over the block (filled when it ends), or None
    when not wanted or perf cannot record here (said)."""
    why = offcpu.available() if wanted else "not asked"
    if why is None:
        with offcpu.switches_of(threading.get_native_id()) as spells:
            yield spells
        return
    if wanted:
        print(f"  perf: not recorded, {why}")
    yield None


def main(argv: list[str]) -> int:
    config = argv[0] if argv else "alone"
    rate = float(argv[1]) if len(argv) > 1 else 50_000.0
    seconds = float(argv[2]) if len(argv) > 2 else 5.0
    parts = set(config.split("+"))
    gc.callbacks.append(_on_gc)
    with tempfile.TemporaryDirectory(prefix="dita-stalls-") as root:
        options: dict[str, Any] = {}
        journal = None
        if "wal" in parts:
            every = int(os.environ.get("DITA_CHECKPOINT_EVERY", 1_000_000))
            options.update(wal_dir=f"{root}/wal", fsync="batch", wal_checkpoint_every=every)
        if "journal" in parts:
            journal = ClickHouseJournal(f"chdb://{root}/journal", serve_sql=False)
            options["journal"] = journal
        if "nogc" in parts:
            gc.disable()
        kernel = ExecutionKernel(max_slots=4, kernel_id="stalls", **options)
        kernel.update_control(verbosity="NORMAL", source="bench")
        try:
            paced_loop(kernel, rate, seconds, 0)
            collections.clear()
            with recorded("perf" in parts) as spells:
                before = context_switches()
                wall, cpu, at = paced_loop(kernel, rate, seconds, 1 << 40)
                after = context_switches()
            report(config, wall, cpu, at, (after[0] - before[0], after[1] - before[1]))
            if spells is not None:
                slow = wall > SLOW_NS
                print(f"  the slow calls' {wall[slow].sum() / 1e6:,.1f} ms, of it off the CPU (ms):")
                for cause, ms in offcpu.causes(spells, at[slow], wall[slow]).items():
                    print(f"    {ms:9,.1f}  {cause}")
            print(f"  journal rows dropped from the outbox: {kernel.stats()['journal_dropped']:,}")
        finally:
            kernel.close()
            if journal is not None:
                journal.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
