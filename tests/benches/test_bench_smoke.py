"""The benchmark scripts run and print every figure. No timing is asserted here: speed is
judged by running the scripts themselves (``make bench``), which print same-run ratios."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHES = Path(__file__).resolve().parents[2] / "benches"
BENCH_KERNEL = BENCHES / "bench_kernel.py"

# Written out rather than imported from the script so a renamed or dropped figure fails here.
FIGURE_LABELS = (
    "dita orders/s, prebuilt intents (headline)",
    "dita orders/s, intents built in loop",
    "dita orders/s, one process_intents batch",
    "ratio batch / prebuilt one by one",
    "dita orders/s, one batch of columns",
    "ratio columns batch / intents built in loop",
    "NautilusTrader orders/s",
    "ratio dita/NautilusTrader, prebuilt (headline)",
    "ratio dita/NautilusTrader, built in loop",
    "per-order cost, max_slots=10",
    "per-order cost, max_slots=10000",
    "ratio cost max_slots=10000 / max_slots=10",
    "ratio cost max_slots=10000 / 10, slot 0 only",
    "RSS growth over the memory run",
)
NAUTILUS_INSTALLED = importlib.util.find_spec("nautilus_trader") is not None


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH_KERNEL), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def figure_line(stdout: str, label: str) -> str:
    lines = [line for line in stdout.splitlines() if line.split(":", 1)[0].rstrip() == label]
    assert len(lines) == 1, f"expected one line for {label!r} in:\n{stdout}"
    return lines[0]


def test_quick_run_prints_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = run_bench("--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for label in FIGURE_LABELS:
        figure_line(proc.stdout, label)

    figures = json.loads(out.read_text())
    assert figures["quick"] is True
    for key in (
        "orders_per_second_prebuilt",
        "orders_per_second_in_loop",
        "orders_per_second_batch",
        "ratio_batch_to_prebuilt",
        "cost_us_small",
        "cost_us_large",
        "cost_ratio",
        "cost_ratio_slot0",
    ):
        assert math.isfinite(figures[key]) and figures[key] > 0, (key, figures[key])
    assert math.isfinite(figures["rss_growth_mb"])

    nautilus = figure_line(proc.stdout, "NautilusTrader orders/s")
    if NAUTILUS_INSTALLED:
        assert figures["nautilus_orders_per_second"] > 0
        assert "all 300 filled" in nautilus
        assert figures["ratio_vs_nautilus_prebuilt"] > 0
    else:
        assert "comparison skipped" in nautilus
        assert figures["nautilus_orders_per_second"] is None


def test_skipped_comparison_says_so() -> None:
    proc = run_bench("--quick", "--skip-nautilus")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for label in ("NautilusTrader orders/s", "ratio dita/NautilusTrader, prebuilt (headline)"):
        assert "comparison skipped" in figure_line(proc.stdout, label)


def test_bad_order_count_is_refused_naming_the_value() -> None:
    proc = run_bench("--quick", "--nautilus-orders", "0")
    assert proc.returncode == 2
    assert "--nautilus-orders must be at least 1, got 0" in proc.stderr
    assert "orders/s" not in proc.stdout


@pytest.fixture(scope="module")
def nautilus_baseline() -> ModuleType:
    pytest.importorskip("nautilus_trader")
    sys.path.insert(0, str(BENCHES))
    try:
        import nautilus_baseline as module
    finally:
        sys.path.remove(str(BENCHES))
    return module


def reference_crossover_orders(closes: list[float], fast: int, slow: int) -> int:
    """Orders of the long/flat crossover, counted by hand with plain sums."""
    above = None
    long = False
    orders = 0
    for i in range(slow - 1, len(closes)):
        now = sum(closes[i - fast + 1 : i + 1]) / fast > sum(closes[i - slow + 1 : i + 1]) / slow
        if above is not None and now != above and now != long:
            orders += 1
            long = now
        above = now
    return orders


def test_nautilus_crossover_trades_like_the_reference(nautilus_baseline: ModuleType) -> None:
    # A sawtooth of closes crosses many times, so a wrong rule shows as a wrong count.
    closes = [100.0 + 5.0 * math.sin(i / 7.0) + 0.01 * i for i in range(400)]
    bars = {
        "ts": [1_700_000_000 + 60 * i for i in range(len(closes))],
        "open": closes,
        "high": [c + 0.5 for c in closes],
        "low": [c - 0.5 for c in closes],
        "close": closes,
        "volume": [1.0] * len(closes),
    }
    expected = reference_crossover_orders(closes, 5, 20)
    assert expected >= 6
    run = nautilus_baseline.run_nautilus_bars(bars, fast=5, slow=20)
    assert run.items == len(closes)
    assert run.fills == expected


def test_nautilus_order_flow_fills_every_order(nautilus_baseline: ModuleType) -> None:
    run = nautilus_baseline.run_nautilus_orders(50)
    assert (run.items, run.fills) == (50, 50)


def test_nautilus_baseline_refuses_bad_input(nautilus_baseline: ModuleType) -> None:
    with pytest.raises(ValueError, match="n_orders must be at least 1, got 0"):
        nautilus_baseline.run_nautilus_orders(0)
    with pytest.raises(ValueError, match=r"need 0 < fast < slow, got fast=30 slow=10"):
        nautilus_baseline.run_nautilus_bars([], fast=30, slow=10)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['volume'\]"):
        nautilus_baseline.run_nautilus_bars({"ts": [0], "open": [1], "high": [1], "low": [1], "close": [1]})
