"""A kernel restarted on its write-ahead log refills the journal rows the crash lost."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from kernel_helpers import intent

from dita import AccountEvent, ExecutionKernel, InMemoryJournal, MockVenueAdapter


def workload(kernel: ExecutionKernel, part: int) -> None:
    for n in range(part * 10, part * 10 + 10):
        slot = n % 3
        kernel.process_intent(
            intent("ENTER", slot, intent_id=f"e{n}", trade_id=f"t{n}", timestamp=1000.0 + n)
        )
        kernel.process_intent(intent("EXIT", slot, intent_id=f"x{n}", trade_id="", timestamp=1000.5 + n))
    kernel.on_account_event(AccountEvent(f"fund{part}", "FUNDING_FEE", amount=-0.25, timestamp=2000.0 + part))


def keyed(journal: InMemoryJournal) -> dict[tuple[str, int, int], dict[str, Any]]:
    tables = ("intents", "transitions", "fills", "account_events", "control_changes", "venue_events")
    return {(t, r["seq"], r["sub"]): r for t in tables for r in journal.rows(t)}


def test_restart_on_the_log_fills_the_journal_gap(tmp_path: Path) -> None:
    reference = InMemoryJournal()
    ref = ExecutionKernel(max_slots=3, venue=MockVenueAdapter(seed=5), journal=reference, kernel_id="jr")
    for part in (0, 1):
        workload(ref, part)

    before_crash = InMemoryJournal()
    held = [
        ExecutionKernel(
            max_slots=3,
            venue=MockVenueAdapter(seed=5),
            journal=before_crash,
            kernel_id="jr",
            wal_dir=str(tmp_path),
            fsync="always",
        )
    ]
    workload(held[0], 0)
    written = keyed(before_crash)  # what reached the journal before the crash
    workload(held[0], 1)  # these rows were still in the outbox when the process died
    held.clear()
    del before_crash  # the journal's writer dies with the process too
    gc.collect()

    after_restart = InMemoryJournal()
    restarted = ExecutionKernel(venue=MockVenueAdapter(seed=5), journal=after_restart, wal_dir=str(tmp_path))
    assert restarted.kernel_id == "jr"
    refilled = keyed(after_restart)
    expected = keyed(reference)
    assert len(refilled) > len(expected) // 2
    combined = {**written, **refilled}
    assert combined.keys() == expected.keys()
    assert combined == expected
