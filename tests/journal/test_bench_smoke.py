"""benches/bench_journal.py runs end to end and prints every figure (speed is not judged here:
the script itself prints same-run ratios when run in full)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benches" / "bench_journal.py"


def test_bench_journal_quick_prints_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    source = BENCH.read_text()
    lines = source.splitlines()
    labels = [line.split("=", 1)[1].strip().strip('"') for line in lines if line.startswith("LABEL_")]
    assert set(figures) == set(labels)
    for label, figure in figures.items():
        assert label in done.stdout
        assert math.isfinite(figure["value"]) and figure["value"] > 0, label


INTERFERENCE = BENCH.parent / "journal_interference.py"


def test_journal_interference_runs_every_variant_asked_for(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(INTERFERENCE), "--rounds", "1", "--pairs", "300", "--variants", "full,no-write"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    medians = [line.split() for line in done.stdout.splitlines() if line.startswith("  ") and "(n=3," in line]
    assert [m[0] for m in medians] == ["full", "no-write"]
    for m in medians:
        assert math.isfinite(float(m[1].rstrip("x"))) and float(m[1].rstrip("x")) > 0
    assert list(tmp_path.iterdir()) == []  # each child's journal is removed with it


def test_journal_interference_refuses_an_unknown_variant() -> None:
    done = subprocess.run(
        [sys.executable, str(INTERFERENCE), "--variants", "full,fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "fast" in done.stderr


def _interference_module() -> Any:
    spec = importlib.util.spec_from_file_location("journal_interference", INTERFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sched_breakdown_splits_the_strategy_threads_lost_time_by_thread() -> None:
    """`--sched` reads perf's sched_switch/sched_waking lines: time blocked until a thread woke
    the strategy thread (and the wait after that wake-up), and time preempted, per thread."""
    events = [
        # Blocked 300 us until the drainer wakes it, then 100 us until it runs.
        "  python  100 [000] 10.000000: sched:sched_switch: prev_comm=python prev_pid=100 "
        "prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120",
        "  python  201 [001] 10.000300: sched:sched_waking: comm=python pid=100 prio=120 target_cpu=000",
        # A wake-up of another thread whose pid starts the same is not the strategy's.
        "  python  202 [001] 10.000350: sched:sched_waking: comm=python pid=1000 prio=120 target_cpu=001",
        "  swapper/0  0 [000] 10.000400: sched:sched_switch: prev_comm=swapper/0 prev_pid=0 "
        "prev_prio=120 prev_state=R ==> next_comm=python next_pid=100 next_prio=120",
        # Preempted 2 ms by a chDB thread.
        "  python  100 [000] 10.100000: sched:sched_switch: prev_comm=python prev_pid=100 "
        "prev_prio=120 prev_state=R+ ==> next_comm=ThreadPool next_pid=300 next_prio=130",
        "  ThreadPool  300 [000] 10.102000: sched:sched_switch: prev_comm=ThreadPool prev_pid=300 "
        "prev_prio=130 prev_state=S ==> next_comm=python next_pid=100 next_prio=120",
        # Asleep in D with no wake-up seen: counted as blocked by "?".
        "  python  100 [000] 10.200000: sched:sched_switch: prev_comm=python prev_pid=100 "
        "prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120",
        "  swapper/0  0 [000] 10.200050: sched:sched_switch: prev_comm=swapper/0 prev_pid=0 "
        "prev_prio=120 prev_state=R ==> next_comm=python next_pid=100 next_prio=120",
        # Preempted across the loop's end: counted up to the end only.
        "  python  100 [000] 10.499000: sched:sched_switch: prev_comm=python prev_pid=100 "
        "prev_prio=120 prev_state=R ==> next_comm=Thread Pool next_pid=301 next_prio=130",
        "  Thread Pool  301 [000] 10.600000: sched:sched_switch: prev_comm=Thread Pool prev_pid=301 "
        "prev_prio=130 prev_state=S ==> next_comm=python next_pid=100 next_prio=120",
        # Outside the loop: not counted.
        "  python  100 [000] 11.000000: sched:sched_switch: prev_comm=python prev_pid=100 "
        "prev_prio=120 prev_state=R ==> next_comm=ThreadPool next_pid=300 next_prio=130",
        "  ThreadPool  300 [000] 11.500000: sched:sched_switch: prev_comm=ThreadPool prev_pid=300 "
        "prev_prio=130 prev_state=S ==> next_comm=python next_pid=100 next_prio=120",
        "not a sched line",
    ]
    names = {100: "MainThread", 201: "dita-journal-drainer", 202: "dita-journal-writer"}
    got = _interference_module().sched_breakdown(events, 100, names, [(9.5, 10.5)])
    assert got["loop_s"] == 1.0
    assert set(got["blocked"]) == {"dita-journal-drainer", "?"}
    n, asleep, late = got["blocked"]["dita-journal-drainer"]
    assert n == 1 and math.isclose(asleep, 0.0003, abs_tol=1e-9) and math.isclose(late, 0.0001, abs_tol=1e-9)
    n, asleep, late = got["blocked"]["?"]
    assert n == 1 and math.isclose(asleep, 0.00005, abs_tol=1e-9) and late == 0
    assert set(got["preempted"]) == {"ThreadPool", "Thread Pool"}
    n, lost = got["preempted"]["ThreadPool"]
    assert n == 1 and math.isclose(lost, 0.002, abs_tol=1e-9)
    n, lost = got["preempted"]["Thread Pool"]
    assert n == 1 and math.isclose(lost, 0.001, abs_tol=1e-9)


def test_sched_breakdown_refuses_output_it_cannot_read() -> None:
    """Another perf output format must not read as "the strategy thread lost nothing"."""
    other_format = [
        "  python  100 [000] 10.000000: sched:sched_switch: python:100 [120] S ==> swapper/0:0 [120]"
    ]
    with pytest.raises(ValueError, match="sched_switch"):
        _interference_module().sched_breakdown(other_format, 100, {}, [(9.5, 10.5)])
