"""benches/bench_wal.py runs and prints every figure with its same-run ratio. No timing is
asserted: speed is judged by running the script itself (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benches" / "bench_wal.py"


def test_bench_wal_quick_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for label in ("no WAL", "WAL fsync=none", "WAL fsync=batch", "WAL fsync=always"):
        assert f"  {label} " in out and "overhead vs no WAL" in out, out
    assert "without checkpoints" in out and "with checkpoints" in out and "ratio with/without" in out
    assert "replayed    20,000 records" in out
    assert "kernel replay rate" in out
