"""benches/bench_backtest_memory.py runs and prints its figures and its same-run baseline (the
data's size); no memory or speed is asserted here (tests/runtime/test_backtest_chunks.py
bounds the replay's memory, traced)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benches" / "bench_backtest_memory.py"


def test_bench_backtest_memory_prints_both_runs_against_the_data_size() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "3000", "--old"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"bars: 3,000 one-minute bars, .*data \(the baseline\): [\d.]+ MB", out), out
    assert "chunked (65,536 rows a chunk):" in out and "whole columns as lists (--old):" in out
    memory = re.findall(r"extra peak RSS +[\d,.]+ MB = +[\d.]+x the data", out)
    speed = re.findall(r"replay [\d,]+ rows/s wall; end to end [\d,]+ rows/s wall, [\d,]+ rows/s cpu", out)
    assert len(memory) == len(speed) == 2, out
    assert re.search(r"chunks save -?[\d,.]+ MB .*speed \(CPU\) [\d.]+x", out), out


def test_bench_backtest_memory_refuses_no_rows() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "0"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2 and "--rows 0 must be at least 1" in proc.stderr
