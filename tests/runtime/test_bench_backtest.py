"""benches/bench_backtest.py runs and prints its figures; no speed is asserted (the script
itself prints the same-run ratio). Both engines must have traded the same crossover."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benches" / "bench_backtest.py"


def test_bench_backtest_prints_figures_and_both_engines_agree() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--days", "2", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "bars: 2,880 one-minute bars" in out
    dita_fills = re.search(r"dita end to end: .*bars/s cpu\s+\((\d+) fills\)", out)
    assert dita_fills, out
    assert re.search(r"dita replay only:\s+[\d,]+ bars/s wall", out)
    if importlib.util.find_spec("nautilus_trader") is None:
        pytest.skip("nautilus_trader not installed: comparison skipped by the script")
    naut_fills = re.search(r"nautilus run\(\): .*\((\d+) fills\)", out)
    assert naut_fills, out
    # Same rule, same bars, same size: the two engines fill the same number of orders.
    assert int(dita_fills.group(1)) == int(naut_fills.group(1)) > 10
    assert re.search(r"ratio dita/nautilus: [\d.]+x wall, [\d.]+x cpu \((meets|MISSES) the 10x target\)", out)
