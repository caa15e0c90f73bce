"""Hazelcast projection and control plane: what they cost the kernel and how fresh they are.

Figures, each with a baseline measured in the same run:

1. ``process_intent`` throughput with a HazelcastProjection attached (publisher running,
   default 100 ms interval) against the in-memory projection; ENTER and EXIT alternate over
   64 slots with the default mock venue, so every intent dirties a slot and the account.
   Ratio in-memory / Hazelcast = the overhead factor (target <= 1.2x).
2. Updates per second the publisher sustains: 2,000 open slots re-marked continuously, so
   every cycle has every slot to write; against the in-memory projection's publish rate.
3. Staleness under a paced load of 100,000 slot updates/s (mark prices over 200 open slots
   on 200 assets, in 1 ms batches): the projection's staleness (``stats()``: for each
   confirmed write, the time since the previous drain, i.e. the longest a change waited
   before the cluster had it), p50 and p99, against an idle kernel (one update per 10 ms).
   Next to it, the age of values when an entry listener on another client sees them (each
   mark price encodes the time it was set): write and event latency, end to end.
4. Control latency: a mode flip written by one client until the kernel (attached to a
   HazelcastControlPlane) runs it; p50 and p99 over 40 flips against the 1 s target.

A member is started on a free loopback port for the run (jars fetched with Maven if needed)
unless ``--members host:port`` points at a cluster. ``--quick`` shortens every phase.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dita import ExecutionKernel, InMemoryProjection, KernelIntent
from dita.control.hazelcast import HazelcastControlPlane, write_entry
from dita.projection.hazelcast import SLOTS_MAP, HazelcastProjection, connect_client
from dita.services.hazelcast import HazelcastMember, free_port

TARGET_OVERHEAD = 1.2
TARGET_CONTROL_S = 1.0
THROUGHPUT_SLOTS = 64


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else float("nan")


def intents(n: int, slots: int) -> list[KernelIntent]:
    """ENTER then EXIT on each slot in turn: every intent is accepted and changes a slot."""
    out = []
    for i in range(n):
        slot, leg = divmod(i, 2)
        slot_id = slot % slots
        trade = f"t{slot}"
        action = "ENTER" if leg == 0 else "EXIT"
        out.append(KernelIntent(f"i{i}", trade, slot_id, "BTCUSDT", "LONG", action, 50_000.0, 0.01))
    return out


def run_intents(kernel: ExecutionKernel, batch: list[KernelIntent]) -> float:
    process = kernel.process_intent
    start = time.perf_counter()
    for intent in batch:
        process(intent)
    return len(batch) / (time.perf_counter() - start)


def throughput(
    members: list[str], cluster: str, n: int, pairs: int
) -> tuple[float, float, float, dict[str, Any]]:
    """Medians of in-memory and Hazelcast rates, and the median of the per-pair ratios.

    Each pair runs the two back to back (in alternating order), so a change in the shared
    machine's load between pairs affects both sides of a ratio alike.
    """
    batch = intents(n, THROUGHPUT_SLOTS)
    mem_rates, hz_rates, ratios = [], [], []
    hz_stats: dict[str, Any] = {}
    for r in range(pairs):
        rates = {}
        for which in ("memory", "hazelcast") if r % 2 == 0 else ("hazelcast", "memory"):
            if which == "memory":
                kernel = ExecutionKernel(max_slots=THROUGHPUT_SLOTS, projection=InMemoryProjection())
                rates[which] = run_intents(kernel, batch)
                kernel.close()
            else:
                projection = HazelcastProjection(members, cluster)
                kernel = ExecutionKernel(max_slots=THROUGHPUT_SLOTS, projection=projection)
                if not projection.sync(timeout=30):
                    raise SystemExit("the projection did not reach the cluster")
                projection.reset_stats()
                rates[which] = run_intents(kernel, batch)
                hz_stats = projection.stats()
                hz_stats["run_s"] = n / rates[which]
                kernel.close()
        mem_rates.append(rates["memory"])
        hz_rates.append(rates["hazelcast"])
        ratios.append(rates["memory"] / rates["hazelcast"])
    return statistics.median(mem_rates), statistics.median(hz_rates), statistics.median(ratios), hz_stats


def open_slots(kernel: ExecutionKernel, assets: list[str]) -> None:
    for slot_id in range(kernel.max_slots):
        asset = assets[slot_id % len(assets)]
        intent = KernelIntent(f"o{slot_id}", f"o{slot_id}", slot_id, asset, "LONG", "ENTER", 100.0, 1.0)
        outcome = kernel.process_intent(intent)
        if not outcome.accepted:
            raise SystemExit(
                f"could not open slot {slot_id}: {outcome.diagnostic_code.name} {outcome.details}"
            )


def publisher_rate(members: list[str], cluster: str, seconds: float) -> tuple[float, float]:
    slots = 2_000
    # No duty cap here: this measures what the publisher can do, not what it is allowed to.
    projection = HazelcastProjection(members, cluster, interval=0.001, max_duty=1.0)
    kernel = ExecutionKernel(max_slots=slots, projection=projection)
    open_slots(kernel, ["AAA"])
    projection.sync(timeout=60)
    stop = threading.Event()

    refused = [0]

    def remark() -> None:
        price = 100.0
        while not stop.is_set():
            price += 0.01
            try:
                kernel.mark_price("AAA", price)  # dirties all 2,000 slots
            except RuntimeError:
                refused[0] += 1  # the kernel was borrowed by the publisher thread: must stay 0
            time.sleep(0.0005)

    marker = threading.Thread(target=remark)
    marker.start()
    time.sleep(0.5)
    before, start = projection.stats()["updates_published"], time.perf_counter()
    time.sleep(seconds)
    hz_rate = (projection.stats()["updates_published"] - before) / (time.perf_counter() - start)
    stop.set()
    marker.join()
    kernel.close()
    if refused[0]:
        print(f"  !! the strategy thread got {refused[0]} 'Already borrowed' errors from the kernel")

    memory = InMemoryProjection()
    kernel = ExecutionKernel(max_slots=slots, projection=memory)
    open_slots(kernel, ["AAA"])
    memory.flush()
    before, start, price = memory.writes, time.perf_counter(), 100.0
    while time.perf_counter() - start < seconds:
        price += 0.01
        kernel.mark_price("AAA", price)
        memory.flush()
    mem_rate = (memory.writes - before) / (time.perf_counter() - start)
    kernel.close()
    return hz_rate, mem_rate


def staleness(
    members: list[str], cluster: str, updates_per_s: float, seconds: float
) -> tuple[list[float], dict[str, Any], float]:
    """Ages (s) of projected values when an observer sees them, under a paced mark-price load."""
    assets = [f"A{i:03d}" for i in range(200)]
    projection = HazelcastProjection(members, cluster)
    kernel = ExecutionKernel(max_slots=len(assets), projection=projection)
    open_slots(kernel, assets)
    projection.sync(timeout=60)
    origin = time.time()
    ages: list[float] = []
    observing = threading.Event()
    kid = kernel.kernel_id

    def seen(event: Any) -> None:
        # mark_price was set to 1000 + (time since origin): its age is visible in the value.
        if observing.is_set() and str(event.key).startswith(kid):
            value = event.value.loads()
            if value["mark_price"] > 1000.0:
                ages.append(time.time() - origin - (value["mark_price"] - 1000.0))

    observer = connect_client(members, cluster, block=True, connect_timeout=30)
    # putAll reports every entry as added, even when it replaced one.
    observer.get_map(SLOTS_MAP).add_entry_listener(
        include_value=True, added_func=seen, updated_func=seen
    ).result()
    projection.reset_stats()
    observing.set()
    batch = max(1, round(updates_per_s / 1000))
    sent, start = 0, time.perf_counter()
    next_tick = start
    mark = kernel.mark_price
    while (now := time.perf_counter()) - start < seconds:
        if now < next_tick:
            time.sleep(next_tick - now)
        stamp = 1000.0 + (time.time() - origin)
        for i in range(batch):
            mark(assets[(sent + i) % len(assets)], stamp)
        sent += batch
        next_tick += 0.001
    achieved = sent / (time.perf_counter() - start)
    projection.sync(timeout=30)
    time.sleep(0.3)
    observing.clear()
    stats = projection.stats()
    observer.shutdown()
    kernel.close()
    return ages, stats, achieved


def control_latency(members: list[str], cluster: str, flips: int) -> list[float]:
    plane = HazelcastControlPlane(members, cluster)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane)
    writer = connect_client(members, cluster, block=True, connect_timeout=30)
    latencies = []
    for i in range(flips):
        mode = "REDUCE_ONLY" if i % 2 == 0 else "LIVE"
        start = time.perf_counter()
        write_entry(writer, kernel.kernel_id, {"mode": mode}, updated_by="bench")
        while kernel.control()["mode"] != mode:
            if time.perf_counter() - start > 10:
                raise SystemExit(f"control flip {i} to {mode} not applied within 10 s")
            time.sleep(0.0002)
        latencies.append(time.perf_counter() - start)
    writer.shutdown()
    kernel.close()
    return latencies


def show(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


def with_member(members: str | None, body: Callable[[list[str], str], None]) -> None:
    if members:
        body([m.strip() for m in members.split(",")], os.environ.get("DITA_HAZELCAST_CLUSTER", "dita"))
        return
    with tempfile.TemporaryDirectory(prefix="dita-bench-hz-") as state:
        member = HazelcastMember(port=free_port(), cluster_name="dita-bench", state_dir=Path(state))
        started = time.perf_counter()
        member.start()
        print(f"started a Hazelcast member on {member.address} in {time.perf_counter() - started:.1f} s")
        try:
            body([member.address], member.cluster_name)
        finally:
            member.stop(kill=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short phases (smoke run)")
    parser.add_argument("--members", default=None, help="use this cluster instead of starting a member")
    args = parser.parse_args()
    quick = args.quick
    print(f"bench_hazelcast (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")

    def body(members: list[str], cluster: str) -> None:
        mem, hz, ratio, hz_stats = throughput(
            members, cluster, 20_000 if quick else 60_000, 2 if quick else 16
        )
        print("1. process_intent throughput (medians over back-to-back pairs)")
        show("in-memory projection (baseline)", f"{mem:,.0f} intents/s")
        show("Hazelcast projection", f"{hz:,.0f} intents/s")
        show("overhead factor in-memory/Hazelcast", f"{ratio:.3f}x (target <= {TARGET_OVERHEAD}x)")
        show(
            "publisher during the last run",
            f"{hz_stats['updates_published']:,} updates in {hz_stats['ok_cycles']} cycles, "
            f"CPU {hz_stats['publisher_cpu_s'] / hz_stats['run_s']:.1%} of the run",
        )

        hz_rate, mem_rate = publisher_rate(members, cluster, 1.0 if quick else 5.0)
        print("2. publisher throughput (2,000 slots re-marked continuously)")
        show("Hazelcast publisher", f"{hz_rate:,.0f} updates/s")
        show("in-memory publish (baseline)", f"{mem_rate:,.0f} updates/s")
        show("ratio Hazelcast/in-memory", f"{hz_rate / mem_rate:.3f}")

        seconds = 2.0 if quick else 8.0
        loaded, loaded_stats, achieved = staleness(members, cluster, 100_000, seconds)
        idle, idle_stats, _ = staleness(members, cluster, 100, seconds / 2)

        def ms(stats: dict[str, Any]) -> str:
            return f"{stats['staleness_p50_s'] * 1e3:.1f} / {stats['staleness_p99_s'] * 1e3:.1f} ms"

        print("3. staleness: how long a change can wait before the cluster shows it (p50 / p99)")
        show("load achieved", f"{achieved:,.0f} slot updates/s (asked 100,000)")
        show("under load", ms(loaded_stats))
        show("idle kernel (baseline)", ms(idle_stats))
        show(
            "ratio p99 loaded/idle", f"{loaded_stats['staleness_p99_s'] / idle_stats['staleness_p99_s']:.2f}"
        )
        show(
            "writes",
            f"{loaded_stats['updates_published']:,} for {achieved * seconds:,.0f} updates (coalesced)",
        )
        show(
            "age of values on arrival at an observer, loaded",
            f"{percentile(loaded, 0.5) * 1e3:.1f} / {percentile(loaded, 0.99) * 1e3:.1f} ms "
            f"({len(loaded):,} values; idle {percentile(idle, 0.5) * 1e3:.1f} / "
            f"{percentile(idle, 0.99) * 1e3:.1f} ms)",
        )

        latencies = control_latency(members, cluster, 10 if quick else 40)
        print("4. control latency (write -> kernel runs the new mode)")
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        show("p50 / p99", f"{p50 * 1e3:.1f} / {p99 * 1e3:.1f} ms")
        show("ratio p99 / 1 s target", f"{p99 / TARGET_CONTROL_S:.3f}")

    with_member(args.members, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
