"""Journal benchmarks, each printed with a ratio against a baseline from the same run.

1. Sustained rows/s into embedded chDB through ClickHouseJournal (drain, batch, insert),
   against a bare clickhouse-connect insert of the same rows already in column form; and the
   same trades' rows derived again from a write-ahead log at attach (the path a refill of
   dropped rows takes: replay, key check, insert), against the rows from the outbox.
2. ``process_intent`` throughput with journaling at NORMAL against journaling off (target
   overhead <= 1.2x): ENTER/EXIT pairs on the default mock venue (instant fills), prebuilt
   intents; also with a GIL budget, without the default burst hold (``burst_hold=None``:
   batches written while the burst lasts), and with the journal's and chDB's threads left at
   the strategy's priority (``nice=None``) instead of nice 10. The journal drains and writes
   concurrently; the figure is the strategy loop alone, and separately the time ClickHouse
   then needs to catch up. Two capture-only
   figures split the overhead: the outbox filling with nobody draining (its new segments
   in fresh pages), and drained on the strategy thread every 1,000 intents (segments from
   the pool, no writer thread, the drain's copy included): what is left over NORMAL is the
   journal's threads competing for the CPU, its caches and the GIL.
   The loop (100,000 intents, about 0.25 s) is shorter than the default hold (0.5 s), so
   the same is also run as a burst four times as long, which the hold covers only in part.
3. End-to-end lag from a transition to a queryable row (p50, p99): intents at a steady pace,
   each followed by polling ClickHouse for its transition.
4. Where the journal's time goes, per row: ``drain_journal_blocks`` (taking the rows out of
   the kernel: its segments handed out with the kernel and the GIL held, then a copy
   without them), the kernel's Native block encoding (GIL released), chDB ingesting those
   blocks through ``raw_insert``, and the share of its speed a Python thread keeps meanwhile.

``python benches/bench_journal.py`` (about two minutes) or ``--quick`` (a smoke run).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dita import ExecutionKernel, KernelIntent
from dita._kernel import JournalBlock
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.clickhouse.rows import columns_for
from dita.journal.schema import TABLE_COLUMNS, migrate

LABEL_SUSTAINED = "journal rows/s into chDB (drain + batch + insert)"
LABEL_RAW = "bare clickhouse-connect insert rows/s (same rows, prebuilt columns)"
LABEL_SUSTAINED_RATIO = "ratio journal / bare insert"
LABEL_WAL_FILL = "journal rows/s derived again from the WAL (attach fill, as a refill)"
LABEL_WAL_FILL_RATIO = "ratio WAL fill / journal rows from the outbox"
LABEL_OFF = "process_intent/s, journaling off"
LABEL_NORMAL = "process_intent/s, journaling NORMAL"
LABEL_OUTBOX = "process_intent/s, outbox on at NORMAL, nobody draining (the kernel's own share)"
LABEL_OUTBOX_OVERHEAD = "overhead off/outbox-only: capture into a growing outbox (fresh pages)"
LABEL_DRAINED = "process_intent/s, outbox on at NORMAL, drained in the loop (blocks dropped, no writer)"
LABEL_DRAINED_OVERHEAD = "overhead off/drained-in-loop: capture, plus the drain's copy, no writer thread"
LABEL_OVERHEAD = "overhead off/NORMAL (target <= 1.2x)"
LABEL_CATCHUP = "ClickHouse catch-up after the NORMAL loop"
LABEL_BUDGET = "process_intent/s, journaling NORMAL, gil_budget=0.1"
LABEL_BUDGET_OVERHEAD = "overhead off/NORMAL with gil_budget=0.1 (target <= 1.2x)"
LABEL_BUDGET_CATCHUP = "ClickHouse catch-up after the gil_budget=0.1 loop"
LABEL_NOHOLD = "process_intent/s, journaling NORMAL, burst_hold=None (batches written during the burst)"
LABEL_NOHOLD_OVERHEAD = "overhead off/NORMAL with burst_hold=None"
LABEL_LONG_OFF = "process_intent/s, journaling off, a burst 4x as long"
LABEL_LONG_NORMAL = "process_intent/s, journaling NORMAL, a burst 4x as long (past the hold)"
LABEL_LONG_OVERHEAD = "overhead off/NORMAL, a burst 4x as long (past the hold)"
LABEL_LONG_CATCHUP = "ClickHouse catch-up after the long NORMAL burst"
LABEL_PLAIN = "process_intent/s, journaling NORMAL, nice=None (journal threads at full priority)"
LABEL_PLAIN_OVERHEAD = "overhead off/NORMAL with nice=None"
LABEL_NICE_GAIN = "median NORMAL speed, nice=10 (default) / nice=None"
LABEL_END_TO_END = "intents/s incl. catch-up, NORMAL"
LABEL_LAG_P50 = "lag transition -> queryable row p50"
LABEL_LAG_P99 = "lag transition -> queryable row p99"
LABEL_ROWS_PER_INTENT = "journal rows per intent at NORMAL"
LABEL_HOT_US = "process_intent cost, journaling off"
LABEL_DRAIN_US = "drain_journal_blocks cost per row (take with the GIL held, then a copy without)"
LABEL_ENCODE_US = "Native block encoding per row (in the kernel, GIL released)"
LABEL_PREDICTED = "drain work per intent / process_intent cost, at most (1 + rows*drain/hot)"
LABEL_RAW_INGEST = "chDB raw_insert rows/s of the kernel's Native blocks"
LABEL_GIL_SHARE = "Python thread speed during raw_insert vs idle (CPU contention, GIL is released)"

ASSET = "BTCUSDT"


def intents(pairs: int, slots: int) -> list[KernelIntent]:
    out = []
    for i in range(pairs):
        slot = i % slots
        common = {"trade_id": f"t{i}", "slot_id": slot, "asset": ASSET, "side": "LONG", "target_size": 0.01}
        out.append(KernelIntent(intent_id=f"e{i}", action="ENTER", reference_price=50_000.0, **common))
        out.append(KernelIntent(intent_id=f"x{i}", action="EXIT", reference_price=50_010.0, **common))
    return out


def run_loop(kernel: ExecutionKernel, batch: list[KernelIntent]) -> float:
    process = kernel.process_intent
    gc.collect()
    t = time.perf_counter()
    for intent in batch:
        process(intent)
    return time.perf_counter() - t


def run_loop_draining(kernel: ExecutionKernel, batch: list[KernelIntent], every: int = 1_000) -> float:
    """``run_loop``, taking the rows out every ``every`` intents on the same thread and dropping
    the blocks unwritten: the kernel's capture with its segments recycled, without a writer
    competing. The drain's copy of the rows, which a journal makes on its drainer thread, is
    made here on the strategy thread; small drains keep it cheap and in cache."""
    process = kernel.process_intent
    drain = kernel.drain_journal_blocks
    gc.collect()
    t = time.perf_counter()
    for start in range(0, len(batch), every):
        for intent in batch[start : start + every]:
            process(intent)
        drain(10 * every)
    return time.perf_counter() - t


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


class Report:
    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}

    def add(self, label: str, value: float, unit: str, text: str | None = None) -> None:
        self.figures[label] = {"value": value, "unit": unit}
        print(f"  {label:<78} {text or f'{value:,.2f}'} {unit}", flush=True)


def bench_sustained(report: Report, root: Path, trades: int) -> None:
    print("1. sustained writes", flush=True)
    dsn = f"chdb://{root / 'journal'}"
    # Fill a kernel's outbox first (journal not attached yet), so the figure is pure writing.
    kernel = ExecutionKernel(max_slots=16, kernel_id="sustained", journal_capacity=5_000_000)
    kernel.set_journal_enabled(True)
    run_loop(kernel, intents(trades, 16))
    rows = kernel.stats()["journal_queued"]

    journal = ClickHouseJournal(dsn, serve_sql=False, batch_rows=50_000, queue_rows=400_000)
    try:
        t = time.perf_counter()
        journal.attach(kernel)
        journal.flush(600)
        elapsed = time.perf_counter() - t
        assert journal.stats().written == rows, journal.stats()
        sustained = rows / elapsed

        # The same trades on a kernel with a log and no journal: all its rows come from the log.
        logged = ExecutionKernel(max_slots=16, kernel_id="from-log", wal_dir=str(root / "wal"), fsync="none")
        run_loop(logged, intents(trades, 16))
        before = journal.stats().written
        t = time.perf_counter()
        journal.attach(logged)
        journal.flush(600)
        elapsed = time.perf_counter() - t
        filled = journal.stats().extra["wal_filled"]
        assert filled == journal.stats().written - before > 0, journal.stats()
        wal_fill = filled / elapsed

        # Baseline: the same number of rows, already in column form, straight into the client.
        twin = ExecutionKernel(max_slots=16, kernel_id="raw", journal_capacity=5_000_000)
        twin.set_journal_enabled(True)
        run_loop(twin, intents(trades, 16))
        batches: list[tuple[str, list[Any]]] = []
        while True:
            drained = twin.drain_journal(50_000)
            if not any(drained.values()):
                break
            for table, table_rows in drained.items():
                if table_rows:
                    batches.append((table, columns_for("raw", table, table_rows)))
        client = journal._connection.client
        migrate(client, "bench_raw")
        t = time.perf_counter()
        for table, cols in batches:
            client.insert(
                table,
                cols,
                database="bench_raw",
                column_names=[n for n, _ in TABLE_COLUMNS[table]],
                column_type_names=[c for _, c in TABLE_COLUMNS[table]],
                column_oriented=True,
            )
        raw = rows / (time.perf_counter() - t)
    finally:
        journal.close()
    report.add(LABEL_SUSTAINED, sustained, "rows/s", fmt_rate(sustained))
    report.add(LABEL_RAW, raw, "rows/s", fmt_rate(raw))
    report.add(LABEL_SUSTAINED_RATIO, sustained / raw, "x")
    report.add(LABEL_WAL_FILL, wal_fill, "rows/s", fmt_rate(wal_fill))
    report.add(LABEL_WAL_FILL_RATIO, wal_fill / sustained, "x")


def run_normal(dsn: str, kernel_id: str, pairs: int, **options: Any) -> tuple[float, float, float]:
    """A loop of ``pairs`` ENTER/EXIT pairs at NORMAL on a fresh journal with ``options``:
    (intents/s of the loop, seconds ClickHouse then took to catch up, rows per intent)."""
    journal = ClickHouseJournal(dsn, serve_sql=False, **options)
    try:
        kernel = ExecutionKernel(max_slots=16, kernel_id=kernel_id, journal_capacity=5_000_000)
        kernel.update_control(verbosity="NORMAL", source="bench")
        journal.attach(kernel)
        work = intents(pairs, 16)
        before = journal.stats().written
        speed = 2 * pairs / run_loop(kernel, work)
        t = time.perf_counter()
        journal.flush(600)
        catchup = time.perf_counter() - t
        assert kernel.stats()["journal_dropped"] == 0
        return speed, catchup, (journal.stats().written - before) / (2 * pairs)
    finally:
        journal.close()


def bench_overhead(report: Report, root: Path, pairs: int, repeats: int) -> None:
    print(
        "2. process_intent with journaling off / NORMAL / with a GIL budget / without the burst hold"
        " / with nice=None",
        flush=True,
    )
    batch_size = 2 * pairs
    off: list[float] = []
    outbox: list[float] = []
    drained: list[float] = []
    # The journal as configured by default (its threads and chDB's at nice 10, a burst's
    # batches held), with a GIL budget, without the hold, and with every thread at the
    # strategy's priority (nice=None). A journal per run:
    # chDB takes its merge priority when the directory is opened.
    configs: dict[str, dict[str, Any]] = {
        "normal": {},
        "budget": {"gil_budget": 0.1},
        "nohold": {"burst_hold": None},
        "plain": {"nice": None},
    }
    runs: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in configs}
    rows_per_intent = 0.0
    dsn = f"chdb://{root / 'journal'}"
    for r in range(repeats):
        k_off = ExecutionKernel(max_slots=16, kernel_id=f"off-{r}")
        off.append(batch_size / run_loop(k_off, intents(pairs, 16)))
        # The kernel filling its outbox with no journal thread at all: row capture in the
        # hot path, plus the page faults of buffers that only grow.
        k_box = ExecutionKernel(max_slots=16, kernel_id=f"outbox-{r}", journal_capacity=5_000_000)
        k_box.set_journal_enabled(True)
        outbox.append(batch_size / run_loop(k_box, intents(pairs, 16)))
        del k_box
        k_drained = ExecutionKernel(max_slots=16, kernel_id=f"drained-{r}")
        k_drained.set_journal_enabled(True)
        drained.append(batch_size / run_loop_draining(k_drained, intents(pairs, 16)))
        assert k_drained.stats()["journal_dropped"] == 0
        del k_drained
        for name, options in configs.items():
            speed, catchup, rows_per_intent = run_normal(dsn, f"{name}-{r}", pairs, **options)
            runs[name][0].append(speed)
            runs[name][1].append(catchup)
    best_off = max(off)
    best_normal, best_budget, best_plain = (max(runs[name][0]) for name in ("normal", "budget", "plain"))
    report.add(LABEL_OFF, best_off, "intents/s", fmt_rate(best_off))
    report.add(LABEL_NORMAL, best_normal, "intents/s", fmt_rate(best_normal))
    report.add(LABEL_OVERHEAD, best_off / best_normal, "x")
    report.add(LABEL_OUTBOX, max(outbox), "intents/s", fmt_rate(max(outbox)))
    report.add(LABEL_OUTBOX_OVERHEAD, best_off / max(outbox), "x")
    report.add(LABEL_DRAINED, max(drained), "intents/s", fmt_rate(max(drained)))
    report.add(LABEL_DRAINED_OVERHEAD, best_off / max(drained), "x")
    report.add(LABEL_ROWS_PER_INTENT, rows_per_intent, "rows")
    med_catchup = statistics.median(runs["normal"][1])
    report.add(LABEL_CATCHUP, med_catchup, "s", f"{med_catchup:.2f}")
    end_to_end = batch_size / (batch_size / best_normal + med_catchup)
    report.add(LABEL_END_TO_END, end_to_end, "intents/s", fmt_rate(end_to_end))
    report.add(LABEL_BUDGET, best_budget, "intents/s", fmt_rate(best_budget))
    report.add(LABEL_BUDGET_OVERHEAD, best_off / best_budget, "x")
    budget_catchup = statistics.median(runs["budget"][1])
    report.add(LABEL_BUDGET_CATCHUP, budget_catchup, "s", f"{budget_catchup:.2f}")
    best_nohold = max(runs["nohold"][0])
    report.add(LABEL_NOHOLD, best_nohold, "intents/s", fmt_rate(best_nohold))
    report.add(LABEL_NOHOLD_OVERHEAD, best_off / best_nohold, "x")
    report.add(LABEL_PLAIN, best_plain, "intents/s", fmt_rate(best_plain))
    report.add(LABEL_PLAIN_OVERHEAD, best_off / best_plain, "x")
    median_ratio = statistics.median(runs["plain"][0]) / statistics.median(runs["normal"][0])
    report.add(LABEL_NICE_GAIN, 1 / median_ratio, "x")


def bench_long_burst(report: Report, root: Path, pairs: int, repeats: int) -> None:
    print("2b. a burst four times as long, journaling off / NORMAL (default hold)", flush=True)
    batch_size = 2 * pairs
    off: list[float] = []
    normal: list[float] = []
    catchups: list[float] = []
    dsn = f"chdb://{root / 'journal'}"
    for r in range(repeats):
        k_off = ExecutionKernel(max_slots=16, kernel_id=f"long-off-{r}")
        off.append(batch_size / run_loop(k_off, intents(pairs, 16)))
        del k_off
        speed, catchup, _ = run_normal(dsn, f"long-{r}", pairs)
        normal.append(speed)
        catchups.append(catchup)
    report.add(LABEL_LONG_OFF, max(off), "intents/s", fmt_rate(max(off)))
    report.add(LABEL_LONG_NORMAL, max(normal), "intents/s", fmt_rate(max(normal)))
    report.add(LABEL_LONG_OVERHEAD, max(off) / max(normal), "x")
    catchup = statistics.median(catchups)
    report.add(LABEL_LONG_CATCHUP, catchup, "s", f"{catchup:.2f}")


def bench_lag(report: Report, root: Path, samples: int, rate: float) -> None:
    print(f"3. lag at {rate:.0f} intents/s (default batching, max_delay 0.1 s)", flush=True)
    journal = ClickHouseJournal(f"chdb://{root / 'journal'}")
    lags: list[float] = []
    try:
        kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="lag")
        work = intents(samples, 4)
        for i, intent in enumerate(work):
            t0 = time.perf_counter()
            out = kernel.process_intent(intent)
            if i % 2 == 0:
                while not journal.query(
                    "SELECT count() FROM transitions WHERE kernel_id = 'lag' AND seq = {s:UInt64}",
                    {"s": out.seq},
                ).rows[0][0]:
                    time.sleep(0.001)
                lags.append(time.perf_counter() - t0)
            time.sleep(max(0.0, 1 / rate - (time.perf_counter() - t0)))
    finally:
        journal.close()
    lags.sort()
    p50 = lags[len(lags) // 2] * 1000
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000
    report.add(LABEL_LAG_P50, p50, "ms", f"{p50:.1f}")
    report.add(LABEL_LAG_P99, p99, "ms", f"{p99:.1f}")


def _gil_share(action: Callable[[], None]) -> tuple[float, float]:
    """Run ``action`` while a Python thread counts; return (action seconds, counting share)."""
    stop = threading.Event()
    counter = [0]

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            if n % 1000 == 0:
                counter[0] = n

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.3)
    a = counter[0]
    time.sleep(0.3)
    idle_rate = (counter[0] - a) / 0.3
    b = counter[0]
    t = time.perf_counter()
    action()
    dt = time.perf_counter() - t
    busy_rate = (counter[0] - b) / dt
    stop.set()
    th.join()
    return dt, busy_rate / idle_rate if idle_rate else 0.0


def bench_gil(report: Report, root: Path, pairs: int) -> None:
    print("4. journal work per row", flush=True)
    n = 2 * pairs
    # A fresh kernel per run: replaying the same intent ids would only measure DUPLICATE_INTENT.
    hot_us = min(run_loop(ExecutionKernel(max_slots=16), intents(pairs, 16)) for _ in range(3)) / n * 1e6

    kernel = ExecutionKernel(max_slots=16, kernel_id="gil", journal_capacity=5_000_000)
    kernel.set_journal_enabled(True)
    run_loop(kernel, intents(pairs, 16))
    rows = kernel.stats()["journal_queued"]
    t = time.perf_counter()
    blocks: list[JournalBlock] = []
    while True:
        # As the journal's drainer does by default: everything queued, one block per table.
        part = kernel.drain_journal_blocks(1_000_000)
        assert part is not None, "nobody else is inside the kernel"
        if not part:
            break
        blocks.extend(part)
    drain_us = (time.perf_counter() - t) / rows * 1e6
    t = time.perf_counter()
    encoded = [(block.table, block.encode()) for block in blocks]
    encode_us = (time.perf_counter() - t) / rows * 1e6

    journal = ClickHouseJournal(f"chdb://{root / 'journal'}", serve_sql=False)
    try:
        client = journal._connection.client

        def ingest() -> None:
            for table, data in encoded:
                names = [c for c, _ in TABLE_COLUMNS[table]]
                client.raw_insert(table, names, insert_block=data, fmt="Native")

        dt, share = _gil_share(ingest)
        stored = journal.query("SELECT count() FROM transitions WHERE kernel_id = 'gil'").rows[0][0]
        assert stored == sum(len(b) for b in blocks if b.table == "transitions")
    finally:
        journal.close()
    rows_per_intent = rows / n
    report.add(LABEL_HOT_US, hot_us, "us/intent", f"{hot_us:.2f}")
    report.add(LABEL_DRAIN_US, drain_us, "us/row", f"{drain_us:.3f}")
    report.add(LABEL_ENCODE_US, encode_us, "us/row", f"{encode_us:.3f}")
    report.add(LABEL_PREDICTED, 1 + rows_per_intent * drain_us / hot_us, "x")
    report.add(LABEL_RAW_INGEST, rows / dt, "rows/s", fmt_rate(rows / dt))
    report.add(LABEL_GIL_SHARE, share, "")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, figures not meaningful")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    # `samples` is the lag run's entry/exit pairs: each entry is waited for (a lag sample),
    # up to half a second for its row. --quick needs only every figure printed: four.
    trades, pairs, repeats, samples = (2_000, 2_000, 1, 4) if args.quick else (60_000, 50_000, 5, 400)
    print(f"bench_journal: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared machine)")
    report = Report()
    # One chDB directory per process: each part uses its own database-free journal dir in turn.
    for part in ("sustained", "overhead", "long", "lag", "gil"):
        root = Path(tempfile.mkdtemp(prefix=f"dita-bench-journal-{part}-"))
        try:
            if part == "sustained":
                bench_sustained(report, root, trades)
            elif part == "overhead":
                bench_overhead(report, root, pairs, repeats)
            elif part == "long":
                bench_long_burst(report, root, 4 * pairs, max(1, repeats // 2))
            elif part == "lag":
                bench_lag(report, root, samples, rate=200.0)
            else:
                bench_gil(report, root, pairs)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report.figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
