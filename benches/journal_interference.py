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

``--sched`` (Linux, root, ``perf`` with the kernel's sched tracepoints) also records every
context switch during the loops and prints, per variant, the share of the NORMAL loop the
strategy thread did not run: blocked (asleep; in this loop that is waiting for the GIL),
by the thread that woke it (the one handing the GIL back; a timer's wake-up names whatever
thread the interrupt found running), runnable but not yet running after that wake-up, and
preempted (by the thread that took its CPU). The rest of the overhead is the strategy
thread's own extra work (capture) and running slower beside the journal's (caches, memory).
perf itself takes CPU: overheads measured with ``--sched`` are not comparable with runs
without it.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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
        journal._connection.client.raw_insert = lambda *a, **kw: None
        journal._connection.client.insert = lambda *a, **kw: None
        journal._writer.existing_keys = lambda *a, **kw: set()  # type: ignore[method-assign]
    elif variant == "no-write":
        journal._writer.write_batch = lambda take: 0  # type: ignore[method-assign]  # none held
        journal._progress.record = lambda take: None  # type: ignore[method-assign]
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
            names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
            print(f"THREADS {json.dumps(names)}", flush=True)
            before = _threads()
            elapsed = run_loop(kernel, work)
            end = time.clock_gettime(time.CLOCK_MONOTONIC)
            after = _threads()
            print(f"WINDOW {end - elapsed:.6f} {end:.6f}", flush=True)
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
        shutil.rmtree(root, ignore_errors=True)  # up to 200 MB of chDB data a run


_SCHED_EVENT = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$")
_SWITCH = re.compile(r"prev_comm=(.*) prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+)")


def sched_breakdown(
    events: list[str], main_tid: int, names: dict[int, str], windows: list[tuple[float, float]]
) -> dict[str, Any]:
    """How the strategy thread (``main_tid``) lost time inside ``windows`` (CLOCK_MONOTONIC
    seconds), from ``perf script`` lines of sched_switch and sched_waking events: blocked
    (per thread that woke it; "?" when no wake-up was seen), runnable after the wake-up,
    preempted (per thread that ran). A switch-out inside a window counts up to the window's
    end. Raises ValueError when no line is a sched_switch this parser reads (another perf
    output format), rather than report that nothing was lost."""

    def name(tid: int, comm: str) -> str:
        return names.get(tid, comm)

    def window_end(t: float) -> float | None:
        return next((b for a, b in windows if a <= t <= b), None)

    blocked: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    preempted: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    out_at: float | None = None
    out_state = next_name = waker = ""
    woken_at: float | None = None
    switches = 0
    for line in events:
        m = _SCHED_EVENT.match(line)
        if m is None:
            continue
        comm, tid, t, event, rest = m.group(1), int(m.group(2)), float(m.group(3)), m.group(4), m.group(5)
        if event == "sched_waking" and out_at is not None and re.search(rf"\bpid={main_tid}\b", rest):
            woken_at, waker = t, name(tid, comm)
        elif event == "sched_switch" and (sw := _SWITCH.search(rest)):
            switches += 1
            prev, state, nxt = int(sw.group(2)), sw.group(3), int(sw.group(5))
            if prev == main_tid:
                out_at, out_state, next_name, woken_at = t, state, name(nxt, sw.group(4)), None
            elif nxt == main_tid and out_at is not None:
                if (end := window_end(out_at)) is not None:
                    back = min(t, end)
                    if out_state.startswith("R"):
                        preempted[next_name][0] += 1
                        preempted[next_name][1] += back - out_at
                    else:
                        woke = min(woken_at, end) if woken_at is not None else back
                        row = blocked[waker if woken_at is not None else "?"]
                        row[0] += 1
                        row[1] += woke - out_at
                        row[2] += back - woke
                out_at = None
    if events and not switches:
        raise ValueError("no sched_switch line in the perf script output could be read")
    return {
        "loop_s": sum(b - a for a, b in windows),
        "blocked": dict(blocked),
        "preempted": dict(preempted),
    }


def _traced(cmd: list[str], data: Path) -> list[str]:
    return ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-a", "-o", str(data),
            "-e", "sched:sched_switch", "-e", "sched:sched_waking", "--", *cmd]  # fmt: skip


def _perf_works() -> str | None:
    """None when ``perf`` can record sched tracepoints here, else why not."""
    if shutil.which("perf") is None:
        return "perf is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(_traced(["true"], Path(tmp) / "probe.data"), capture_output=True, text=True)
    if done.returncode != 0:
        return f"perf cannot record sched tracepoints: {done.stderr.strip()[-300:]}"
    return None


def _sched_of_run(stdout: str, data: Path) -> dict[str, Any]:
    names: dict[int, str] = {}
    windows: list[tuple[float, float]] = []
    for line in stdout.splitlines():
        if line.startswith("THREADS "):
            names.update({int(k): v for k, v in json.loads(line[8:]).items()})
        elif line.startswith("WINDOW "):
            _, a, b = line.split()
            windows.append((float(a), float(b)))
    main_tid = next((tid for tid, n in names.items() if n == "MainThread"), None)
    if main_tid is None or not windows:
        raise ValueError("the child printed no THREADS/WINDOW lines: nothing to break down")
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "comm,tid,cpu,time,event,trace"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sched_breakdown(script.splitlines(), main_tid, names, windows)


def _print_sched(variant: str, runs: list[dict[str, Any]]) -> None:
    loop = sum(r["loop_s"] for r in runs)
    blocked: collections.Counter[str] = collections.Counter()
    latency = 0.0
    count: collections.Counter[str] = collections.Counter()
    preempted: collections.Counter[str] = collections.Counter()
    for r in runs:
        for who, (n, asleep, late) in r["blocked"].items():
            blocked[who] += asleep
            count["blocked " + who] += n
            latency += late
        for who, (n, lost) in r["preempted"].items():
            preempted[who] += lost
            count["preempted " + who] += n

    def pct(x: float) -> str:
        return f"{100 * x / loop:.1f}%" if loop > 0 else "-"

    total = sum(blocked.values()) + latency + sum(preempted.values())
    print(f"  {variant:<10} strategy thread not running: {pct(total)} of {loop:.2f} s of NORMAL loops")
    print(f"    blocked, by the thread that woke it: {pct(sum(blocked.values()))}: " + ", ".join(
        f"{who} {pct(v)} ({count['blocked ' + who]}x)" for who, v in blocked.most_common(4)))  # fmt: skip
    print(f"    runnable after the wake-up: {pct(latency)}")
    print(f"    preempted, by the thread that ran: {pct(sum(preempted.values()))}: " + ", ".join(
        f"{who} {pct(v)} ({count['preempted ' + who]}x)" for who, v in preempted.most_common(4)))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {VARIANTS}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=100_000, help="ENTER/EXIT pairs per loop")
    parser.add_argument(
        "--sched", action="store_true", help="record context switches with perf and break the lost time down"
    )
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
    if args.sched and (why := _perf_works()) is not None:
        print(f"journal_interference --sched: {why}", file=sys.stderr)
        return 2
    print(
        f"journal_interference: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True
    )
    overheads: dict[str, list[float]] = {v: [] for v in variants}
    scheds: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rnd in range(args.rounds):
        for variant in variants:
            print(f"round {rnd + 1}/{args.rounds}: {variant}", flush=True)
            cmd = [sys.executable, __file__, "--child", variant, "--pairs", str(args.pairs)]
            with tempfile.TemporaryDirectory() as tmp:
                data = Path(tmp) / "sched.data"
                run = _traced(cmd, data) if args.sched else cmd
                out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
                if args.sched:
                    scheds[variant].append(_sched_of_run(out, data))
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
    if args.sched:
        print("(the loops above ran under perf record, which takes CPU itself)")
        print("where the strategy thread's time went in the NORMAL loops (perf sched tracepoints):")
        for variant, runs in scheds.items():
            _print_sched(variant, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
