"""bench_risk.py runs and prints every figure (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benches" / "bench_risk.py"


def test_quick_run_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for label in ("rules off", "all rules on", "overhead (off / on)", "target <= 1.1x"):
        assert label in done.stdout


def test_bad_arguments_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--orders", "1"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "--orders" in done.stderr
