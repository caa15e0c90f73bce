"""`dita audit trace` and a resumed `dita rebalance` read the log through a kernel opened on a
copy of it. The copy's open is no restart of the kernel: it tells of no crash the log never had
(a cleanly stopped log's copy holds no clean-stop file of its own), skips no client order id,
and leaves the log's own files as they are, so the log's next open judges its last stop itself."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.rebalance import trace_source_run
from dita.rebalance.sent_before import orders_in_log

CRASH_SAID = "did not end in a clean stop"


def _log(wal: Path) -> None:
    """Two filled entries of run-7 by kernel rb, closed cleanly."""
    venue = MockVenueAdapter(seed=1, fill_rate=1.0)
    with ExecutionKernel(
        max_slots=4, kernel_id="rb", wal_dir=str(wal), venue=venue, seed_capital=1e6
    ) as kernel:
        for n in (1, 2):
            intent = KernelIntent(
                f"i{n}", f"t{n}", n, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0,
                metadata={"source_run": "run-7"}, timestamp=1.8e9 + n,
            )  # fmt: skip
            assert kernel.process_intent(intent).accepted


def _read_through_copies(wal: Path) -> None:
    _report, fills = trace_source_run(wal, "run-7")
    assert [f.intent_id for f in fills] == ["i1", "i2"]
    orders = orders_in_log(wal, "rb", 1, ["i1", "i2"])
    assert sorted(orders) == ["i1", "i2"] and all(o.fills for o in orders.values())


def test_a_cleanly_stopped_log_is_read_without_a_word_of_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wal = tmp_path / "wal"
    _log(wal)
    clean_stop = (wal / "clean-stop").read_text()
    with caplog.at_level(logging.WARNING, logger="dita"):
        _read_through_copies(wal)
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("dita")]
    # The log's own marker is untouched, and nothing was added to it.
    assert (wal / "clean-stop").read_text() == clean_stop
    assert not (wal / "synced-always").exists()
    with ExecutionKernel(kernel_id="rb", wal_dir=str(wal)) as reopened:
        info = reopened.wal_info()
        assert info is not None and info["recovery"]["order_ids_skipped_through"] is None


def test_the_trace_command_says_nothing_of_a_crash(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    _log(wal)
    done = subprocess.run(
        [sys.executable, "-m", "dita", "audit", "trace", "run-7", "--wal-dir", str(wal), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DITA_LOG_LEVEL": "INFO"},
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["fills"]) == 2
    assert CRASH_SAID not in done.stderr and "skipped" not in done.stderr, done.stderr


def test_a_log_that_did_not_stop_cleanly_is_still_judged_so_by_its_own_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wal = tmp_path / "wal"
    _log(wal)
    (wal / "clean-stop").unlink()  # as a crash leaves it
    with caplog.at_level(logging.WARNING, logger="dita"):
        _read_through_copies(wal)
    assert not [r.getMessage() for r in caplog.records if CRASH_SAID in r.getMessage()]
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="dita"),
        ExecutionKernel(kernel_id="rb", wal_dir=str(wal)) as reopened,
    ):
        info = reopened.wal_info()
        assert info is not None and info["recovery"]["order_ids_skipped_through"] is not None
    assert [r for r in caplog.records if CRASH_SAID in r.getMessage()]
