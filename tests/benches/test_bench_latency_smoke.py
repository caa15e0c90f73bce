"""benches/bench_latency.py runs both phases and prints every figure. No timing is asserted:
the script itself judges the figures against their targets (``make bench``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benches" / "bench_latency.py"


def test_a_short_run_prints_both_phases_and_the_ratio(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--seconds",
            "0.3",
            "--rate",
            "2000",
            "--no-hazelcast",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for label in ("kernel alone  :", "full stack    :", "ratio p99.9 full stack / kernel alone:"):
        assert label in done.stdout, done.stdout
    figures = json.loads(out.read_text())
    for phase in ("kernel alone", "full stack"):
        assert figures[phase]["intents"] == 600
        assert 0 < figures[phase]["p50"] <= figures[phase]["p9999"] <= figures[phase]["max"]
        assert figures[phase]["kernel_stats"]["intent_latency_count"] >= 600
    assert figures["hazelcast"] is False
