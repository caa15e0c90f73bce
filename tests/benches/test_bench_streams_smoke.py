"""bench_streams.py runs against the local Binance and prints every figure (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benches" / "bench_streams.py"


def test_quick_run_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for label in (
        "streamed, polled on arrival",
        "REST-polled every 0.5 s (2 fills, baseline)",
        "p50 REST-polled / streamed on arrival",
        "REST-polled (baseline)",
        "streamed ",
        "formula: polled 5 x 4 x 60/0.5 = 2400",
    ):
        assert label in done.stdout, done.stdout
    # The polled weight is exact: 5 order queries of weight 4 a poll, two polls a second.
    polled = next(line for line in done.stdout.splitlines() if "REST-polled (baseline)" in line)
    assert polled.split()[2] == "2400", polled


def test_bad_arguments_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--orders", "0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "--orders" in done.stderr
