"""A targets file restored byte for byte after a newer version was rebalanced to (the newer one a
mistake): it is rebalanced to again, planned afresh under ids of its own, so the account is back
on its targets, not left on the newer file's with its old plan's legs read "sent before"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from paper_account import paper_venue
from test_rebalance_watch import version, wait_for

from dita import ExecutionKernel
from dita.rebalance import parse_targets, rebalance

ROOT = Path(__file__).resolve().parents[2]


def targets(run: str, quantity: float):  # type: ignore[no-untyped-def]
    body = {"source_run": run, "generated_at": "2026-11-28T09:00:00Z"}
    body["targets"] = [{"symbol": "BTC", "quantity": quantity}]  # type: ignore[assignment]
    return parse_targets(json.dumps(body).encode(), ".json", f"{run}.json")


@pytest.mark.parametrize("a_finished", [True, False])
def test_a_file_restored_after_a_newer_one_is_rebalanced_to_again(tmp_path: Path, a_finished: bool) -> None:
    """Version A (0.1 BTC), then B (0.3), then A again; A's run killed before its report or not,
    its plan is not taken up once B's was written after it."""
    venue = paper_venue(100_000.0, {})
    a, b = targets("run-a", 0.1), targets("run-b", 0.3)
    with ExecutionKernel(venue=venue, kernel_id="rb", wal_dir=str(tmp_path / "wal"), max_slots=8) as kernel:
        first = rebalance(kernel, a, state_dir=tmp_path, quote_currency="USDT")
        if not a_finished:
            assert first.report_path is not None
            first.report_path.unlink()  # killed before its report
        rebalance(kernel, b, state_dir=tmp_path, quote_currency="USDT")
        restored = rebalance(kernel, a, state_dir=tmp_path, quote_currency="USDT")
    version_a = a.content_hash[:12]
    assert not restored.resumed
    # Oldest trade first: A's own 0.1, then 0.1 of B's 0.2.
    assert [(r.leg.intent_id, r.status, r.filled) for r in restored.results] == [
        (f"rebalance:run-a:{version_a}-2:BTC:sell-exit-0", "sent", pytest.approx(0.1)),
        (f"rebalance:run-a:{version_a}-2:BTC:sell-exit-1", "sent", pytest.approx(0.1)),
    ]
    assert venue.positions() == {"BTC": pytest.approx(0.1)}


def test_a_watched_file_restored_to_an_earlier_version_is_rebalanced_to_again(tmp_path: Path) -> None:
    targets_file, book, state = tmp_path / "t.json", tmp_path / "book.json", tmp_path / "state"
    version(targets_file, "run-1", 0.1)
    first = targets_file.read_bytes()
    command = [sys.executable, "-m", "dita", "rebalance", "--targets", str(targets_file)]
    command += ["--state-dir", str(state), "--paper-book", str(book), "--price", "BTC=50000"]
    command += ["--balance", "20000", "--watch", "--watch-every", "0.2"]
    printed = tmp_path / "out"
    with printed.open("w") as stdout:
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT / "python"), "PYTHONUNBUFFERED": "1"},
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )

    def reports() -> int:
        return printed.read_text().count("report: ")

    try:
        wait_for(lambda: reports() == 1, "the first version was not rebalanced to", proc)
        version(targets_file, "run-2", 0.25)
        wait_for(lambda: reports() == 2, "the second version was not rebalanced to", proc)
        tmp = targets_file.with_suffix(".tmp")
        tmp.write_bytes(first)
        tmp.replace(targets_file)  # the first version restored, byte for byte
        wait_for(lambda: reports() == 3, "the restored version was not rebalanced to", proc)
        time.sleep(1.0)  # a few looks more: the restored version is not rebalanced to twice
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert reports() == 3
    assert json.loads(book.read_text())["positions"] == {"BTC": pytest.approx(0.1)}
