"""A journal holds rows only of inputs the write-ahead log holds: a journal ahead of the log
(a write that failed, the last milliseconds before a crash under fsync="batch") refused the
kernel restarted on that log ("already has journal rows up to seq N ... ends at seq M"), and
its rows described inputs the restarted kernel never had."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from wal_workload import run_child

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter

CHILD = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[2])
    from dita import ExecutionKernel, MockVenueAdapter
    from dita.journal import InMemoryJournal
    from dita._kernel import WalError
    from wal_workload import fill_the_disk_at, trade_until_the_log_fails

    fill_the_disk_at(64 * 1024)
    journal = InMemoryJournal()
    k = ExecutionKernel(
        max_slots=2, kernel_id="follows", wal_dir=sys.argv[1], journal=journal, venue=MockVenueAdapter(seed=1)
    )
    failed, synced = trade_until_the_log_fails(k, sync_at=40)
    journal.flush()
    seqs = [r["seq"] for t in ("intents", "transitions", "fills") for r in journal.rows(t)]
    try:
        k.close()  # raises the log's failure, having released the log
    except WalError:
        pass
    # What a journal still draining the outbox after the close (a detach that timed out) takes.
    late = [row[0] for rows in k.drain_journal(1_000_000).values() for row in rows]
    print(json.dumps({
        "taken": k.seq, "synced": synced, "journal_max": max(seqs), "late_max": max(late, default=0),
        "failed": failed,
    }))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
def test_a_log_that_failed_leaves_no_journal_row_past_what_a_restart_recovers(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    run = run_child(CHILD, wal)
    assert "File too large" in run["failed"], run
    restarted = ExecutionKernel(wal_dir=str(wal))
    try:
        recovered = restarted.seq
    finally:
        restarted.close()
    assert run["taken"] > recovered, "inputs were lost with the failed write: the case under test"
    # The rows of the inputs synced before the failure are journaled; none past the log's end.
    assert run["synced"] <= run["journal_max"] <= recovered, (run, recovered)
    assert run["late_max"] <= recovered, "the outbox handed out rows the log lost once it was released"


def test_the_outbox_hands_out_the_rows_of_inputs_the_log_holds(tmp_path: Path) -> None:
    kernel = ExecutionKernel(
        max_slots=2, kernel_id="held", wal_dir=str(tmp_path / "wal"), venue=MockVenueAdapter(seed=1)
    )
    try:
        kernel.set_journal_enabled(True)
        enter = KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0)
        assert kernel.process_intent(enter).accepted
        through = kernel.journaled_through()
        assert through is not None and through <= kernel.seq
        first = [row[0] for rows in kernel.drain_journal(100_000).values() for row in rows]
        assert all(seq <= through for seq in first), (first, through)
        assert kernel.wal_sync() == kernel.seq == kernel.journaled_through()
        rest = [row[0] for rows in kernel.drain_journal(100_000).values() for row in rows]
        assert max(first + rest) == kernel.seq and not set(first) & set(rest)
    finally:
        kernel.close()
    # Without a log, every row goes out at once.
    plain = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(seed=1))
    plain.set_journal_enabled(True)
    assert plain.journaled_through() is None
    assert plain.process_intent(enter).accepted
    assert max(row[0] for rows in plain.drain_journal(100_000).values() for row in rows) == plain.seq
