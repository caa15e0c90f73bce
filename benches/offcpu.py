"""What a thread waited for while off the CPU: its context switches recorded by Linux ``perf``
(each with its kernel and user stack, and when it left and came back), and the slow calls'
off-CPU time split by cause. Used by ``latency_stalls.py`` when its CONFIG has ``perf``.

Needs ``perf`` on the PATH and leave to record (root, or ``kernel.perf_event_paranoid`` <= 1).
The times are CLOCK_MONOTONIC, the clock of ``time.perf_counter_ns`` on Linux.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Each cause with what its stack shows, the first that matches naming the switch.
CAUSES = (
    ("the GIL handed to another Python thread", re.compile(r"\b(drop_gil|take_gil)\b")),
    ("the allocator's lock", re.compile(r"__lll_lock_wait_private")),
    ("a lock or condition inside the kernel", re.compile(r"futex_wait(?s:.*)dita_kernel")),
    ("I/O or a page fault", re.compile(r"\b(io_schedule|exc_page_fault|balance_dirty_pages)\b")),
    ("preempted inside the kernel's call", re.compile(r"^preempt(?s:.*)dita_kernel")),
    ("preempted in Python", re.compile(r"^preempt")),
)
_EVENT = re.compile(r"\s*([\d.]+):\s+(PERF_RECORD_SWITCH (IN|OUT)( preempt)?|context-switches:)")


@dataclass(frozen=True)
class OffCpu:
    """One spell off the CPU: when it began and ended (ns), and why, from its stack."""

    start: int
    end: int
    cause: str


def available() -> str | None:
    """Why perf cannot record here, or None when it can."""
    if shutil.which("perf") is None:
        return "no perf on the PATH"
    paranoid = Path("/proc/sys/kernel/perf_event_paranoid")
    if os.geteuid() != 0 and paranoid.exists() and int(paranoid.read_text()) > 1:
        return "kernel.perf_event_paranoid is over 1 and this is not root"
    return None


@contextlib.contextmanager
def switches_of(tid: int) -> Iterator[list[OffCpu]]:
    """Records thread ``tid``'s context switches for the block; the list yielded is filled with
    its spells off the CPU when the block ends."""
    spells: list[OffCpu] = []
    with tempfile.TemporaryDirectory(prefix="dita-offcpu-") as tmp:
        data = f"{tmp}/perf.data"
        record = subprocess.Popen(
            ["perf", "record", "-q", "-e", "context-switches", "--call-graph", "dwarf,16384",
             "--switch-events", "-k", "CLOCK_MONOTONIC", "-t", str(tid), "-o", data],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.0)  # perf attaches before the block's first call
        try:
            yield spells
        finally:
            record.send_signal(signal.SIGINT)
            record.wait()
        script = subprocess.run(
            ["perf", "script", "-i", data, "--show-switch-events", "-F", "time,event,ip,sym", "--ns"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        spells.extend(_spells(script.stdout.splitlines()))


def _spells(lines: list[str]) -> Iterator[OffCpu]:
    """The spells off the CPU in ``perf script``'s output: a switch's sample (its stack) comes
    just before its OUT record, and the IN record after it ends the spell."""
    stack: list[str] = []
    out: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        m = _EVENT.match(lines[i])
        i += 1
        if not m:
            continue
        at = round(float(m.group(1)) * 1e9)
        if m.group(2).startswith("context"):
            stack = []
            while i < len(lines) and lines[i].strip():
                stack.append(lines[i].strip())
                i += 1
        elif m.group(3) == "OUT":
            out = (at, ("preempt\n" if m.group(4) else "wait\n") + "\n".join(stack))
        elif out is not None:
            yield OffCpu(out[0], at, _cause(out[1]))
            out = None


def _cause(stack: str) -> str:
    for cause, pattern in CAUSES:
        if pattern.search(stack):
            return cause
    return "waiting, stack not recorded" if stack.startswith("wait") else "other"


def causes(spells: list[OffCpu], starts: np.ndarray, walls: np.ndarray) -> dict[str, float]:
    """The calls' (``starts``, ``walls``, ns) time off the CPU, in ms, by cause."""
    spells = sorted(spells, key=lambda s: s.start)
    begins = [s.start for s in spells]
    by_cause: dict[str, float] = {}
    for start, wall in zip(starts.tolist(), walls.tolist(), strict=True):
        end = start + wall
        k = max(bisect.bisect_left(begins, start) - 1, 0)
        while k < len(spells) and spells[k].start < end:
            overlap = min(spells[k].end, end) - max(spells[k].start, start)
            if overlap > 0:
                by_cause[spells[k].cause] = by_cause.get(spells[k].cause, 0.0) + overlap / 1e6
            k += 1
    return dict(sorted(by_cause.items(), key=lambda kv: -kv[1]))
