"""`dita paper` with a journal and a log that failed: the rows of inputs the log lost are held
back from the journal on purpose (7579ad4), and the end of the run said "N journal rows were
not written to <journal> (last error: none)", a journal failure that was none."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from wal_workload import run_child

CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[2])
    from dita import ExecutionKernel, MockVenueAdapter
    from dita.cli.paper import _close_kernel
    from dita.journal import JournalStats
    from wal_workload import fill_the_disk_at, trade_until_the_log_fails

    class Target:
        display = "chdb:///nowhere"

    class Journal:  # a journal that wrote every row it was handed
        target = Target()

        def flush(self, timeout=None):
            pass

        def stats(self):
            return JournalStats()

    fill_the_disk_at(64 * 1024)
    k = ExecutionKernel(max_slots=2, kernel_id="past", wal_dir=sys.argv[1], venue=MockVenueAdapter(seed=1))
    k.set_journal_enabled(True)
    trade_until_the_log_fails(k)
    k.drain_journal(10**7)  # what the journal took: the rows of inputs the log holds
    held = k.stats()["journal_queued"]
    problems = []
    _close_kernel(k, Journal(), problems)
    print(json.dumps({"held": held, "problems": problems}))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_rows_of_inputs_a_failed_log_lost_are_not_called_unwritten(tmp_path: Path) -> None:
    run = run_child(CHILD, tmp_path / "wal")
    assert run["held"] > 0, run
    assert not any("were not written to" in p for p in run["problems"]), run
    assert any(
        f"{run['held']:,} journal rows of inputs the failed write-ahead log did not keep" in p
        for p in run["problems"]
    ), run
