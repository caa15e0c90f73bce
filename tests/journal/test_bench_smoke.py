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
