"""Where the journal's NORMAL overhead comes from: the same loop as bench_journal's figure 2,
journaling off against NORMAL, with parts of the journal's work switched off.

Variants (``--variants``, default all):

- ``full``: the journal as configured by default (its threads and chDB's at nice 10);
- ``plain``: ``nice=None``, every thread at the strategy's priority;
- ``no-insert``: the writer encodes its blocks but chDB never gets them;
- ``no-write``: the writer takes batches and drops them (only the drainer works).

Each variant runs in a process of its own (chDB takes its settings when its directory is
opened), ``--rounds`` times in turn with the others, three loops each; it prints every
overhead, the median per variant, and for each loop the strategy thread's context switches
and the CPU time of the busiest threads (from /proc, Linux). A diagnosis, not a target:
``python benches/journal_interference.py`` takes about five minutes.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

VARIANTS = ("full", "plain", "no-insert", "no-write")


def _threads() -> dict[tuple[str, str], int]:
    """CPU ticks per (thread id, name); the main thread as MAIN, plus its context switches."""
    out: dict[tuple[str, str], int] = {}
    main = str(os.getpid())
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except FileNotFoundError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if tid == main:
            name = "MAIN"
            status = Path(f"/proc/self/task/{tid}/status").read_text()
            for key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                out[("switches", key)] = int(re.search(rf"^{key}:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
        out[(tid, name)] = int(fields[11]) + int(fields[12])
    return out


def child(variant: str, pairs: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_journal import intents, run_loop
    from dita import ExecutionKernel
    from dita.journal.clickhouse import ClickHouseJournal

    root = Path(tempfile.mkdtemp(prefix="dita-interference-"))
    options: dict[str, Any] = {"nice": None} if variant == "plain" else {}
    journal = ClickHouseJournal(f"chdb://{root / 'j'}", serve_sql=False, **options)
    if variant == "no-insert":
        journal._client.raw_insert = lambda *a, **kw: None
        journal._client.insert = lambda *a, **kw: None
        journal._existing_keys = lambda *a, **kw: set()  # type: ignore[method-assign]
    elif variant == "no-write":
        journal._write_take = lambda take: None  # type: ignore[method-assign]
        journal._record_progress = lambda take: None  # type: ignore[method-assign]
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        for r in range(3):
            off = (
                2 * pairs / run_loop(ExecutionKernel(max_slots=16, kernel_id=f"off-{r}"), intents(pairs, 16))
            )
            kernel = ExecutionKernel(max_slots=16, kernel_id=f"on-{r}", journal_capacity=5_000_000)
            kernel.update_control(verbosity="NORMAL", source="bench")
            journal.attach(kernel)
            work = intents(pairs, 16)
            gc.collect()  # run_loop collects too: done here, its collection is short
            before = _threads()
            elapsed = run_loop(kernel, work)
            after = _threads()
            journal.flush(600)
            journal.detach(kernel)
            cpu: collections.Counter[str] = collections.Counter()
            for key, value in after.items():
                if key[0] != "switches" and key in before:  # threads alive for the whole loop
                    cpu[key[1]] += value - before[key]
            switches = {k[1]: after[k] - before[k] for k in after if k[0] == "switches"}
            busiest = ", ".join(f"{name} {v * 1000 // ticks} ms" for name, v in cpu.most_common(5) if v)
            print(
                f"RESULT {variant} {off / (2 * pairs / elapsed):.3f} loop {elapsed:.3f}s; switches "
                f"{switches.get('voluntary_ctxt_switches', 0)} waiting, "
                f"{switches.get('nonvoluntary_ctxt_switches', 0)} preempted; CPU {busiest}",
                flush=True,
            )
    finally:
        journal.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {VARIANTS}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=100_000, help="ENTER/EXIT pairs per loop")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.pairs)
        return 0
    if not sys.platform.startswith("linux"):
        print("journal_interference reads /proc: Linux only", file=sys.stderr)
        return 2
    variants = [v for v in args.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or args.rounds < 1 or args.pairs < 1:
        parser.error(f"--variants from {VARIANTS} (got {bad}), --rounds and --pairs at least 1")
    print(
        f"journal_interference: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True
    )
    overheads: dict[str, list[float]] = {v: [] for v in variants}
    for rnd in range(args.rounds):
        for variant in variants:
            print(f"round {rnd + 1}/{args.rounds}: {variant}", flush=True)
            cmd = [sys.executable, __file__, "--child", variant, "--pairs", str(args.pairs)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                if line.startswith("RESULT "):
                    _, name, ratio, rest = line.split(" ", 3)
                    overheads[name].append(float(ratio))
                    print(f"  overhead off/NORMAL {float(ratio):.2f}x, {rest}", flush=True)
    print("median overhead off/NORMAL per variant (all loops):")
    for variant, values in overheads.items():
        print(
            f"  {variant:<10} {statistics.median(values):.2f}x"
            f"  (n={len(values)}, {min(values):.2f}-{max(values):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
