"""benches/bench_journal.py runs end to end and prints every figure (speed is not judged here:
the script itself prints same-run ratios when run in full)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

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


def test_journal_interference_runs_every_variant_asked_for() -> None:
    done = subprocess.run(
        [sys.executable, str(INTERFERENCE), "--rounds", "1", "--pairs", "300", "--variants", "full,no-write"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    medians = [line.split() for line in done.stdout.splitlines() if line.startswith("  ") and "(n=3," in line]
    assert [m[0] for m in medians] == ["full", "no-write"]
    for m in medians:
        assert math.isfinite(float(m[1].rstrip("x"))) and float(m[1].rstrip("x")) > 0


def test_journal_interference_refuses_an_unknown_variant() -> None:
    done = subprocess.run(
        [sys.executable, str(INTERFERENCE), "--variants", "full,fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "fast" in done.stderr
