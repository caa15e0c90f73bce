"""A rebalance killed (SIGKILL) while an order is at the venue, and started again on the same
write-ahead log: the legs the kernel took are not sent again (one whose order ended with nothing
filled is, under its retry id), the rest are."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from killed_rebalance import TARGETS  # noqa: E402

# The trades the rebalance opens: its source_run and the version of its targets.
RUN = f"rebalance:run-killed:{hashlib.sha256(json.dumps(TARGETS).encode()).hexdigest()[:12]}"


def start(state: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("killed_rebalance.py")), str(state), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ledger(state: Path) -> list[str]:
    path = state / "ledger"
    return [json.loads(line)["trade_id"] for line in path.read_text().splitlines()] if path.exists() else []


def test_killed_mid_run_and_resumed_sends_nothing_twice(tmp_path: Path) -> None:
    first = start(tmp_path, "--hang-at", "2")
    deadline = time.monotonic() + 60
    while len(ledger(tmp_path)) < 2:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the second order never reached the venue"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)  # closes its pipes
    assert ledger(tmp_path) == [f"{RUN}:BTC", f"{RUN}:ETH"]

    resumed = start(tmp_path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    # ETH reached the dead venue only: its order died with it (reconciliation ends it as a lost
    # submit, nothing filled), so it is sent again, once, under its retry id.
    assert json.loads(out) == [
        ["BTC", "sent before"],
        ["ETH", "refused (earlier run)"],
        ["ETH", "sent"],
        ["SOL", "sent"],
    ]
    trades = ledger(tmp_path)
    assert trades == [f"{RUN}:BTC", f"{RUN}:ETH", f"{RUN}:ETH", f"{RUN}:SOL"]
    book = json.loads((tmp_path / "book.json").read_text())
    assert book["positions"] == {"BTC": 0.06, "ETH": 1.0, "SOL": 5.0}


def test_the_rebalance_command_syncs_each_intent_before_its_order_goes_out(tmp_path: Path) -> None:
    """Under a group commit, a run killed within its 10 ms (longer on a loaded host) lost the
    record of a leg whose order had reached the venue, and sent that leg again when rerun."""
    from dita.cli.rebalance import _kernel
    from dita.venues.paper import PaperVenue

    kernel, _reconciled = _kernel(PaperVenue(), tmp_path, "rb", 4, live=False)
    try:
        assert kernel.wal_info()["fsync"] == "always"
    finally:
        kernel.close()
