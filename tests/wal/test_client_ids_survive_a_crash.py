"""A process killed while the venue takes an order (SIGKILL, the OOM killer) keeps the log's
record of that order under every fsync policy: the records reach the operating system before
anything goes to the venue. A restart then never issues the order's client id again for
another order, whose reports by that id the venue would mix with the first's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crashed_log import Records
from dita import ExecutionKernel, KernelIntent, VenueEvent

# The child enters on slot 0 and, with `cancel`, then cancels that entry; the venue call named
# by argv[3] ends the process while the venue holds the order (its network call under way).
CHILD = textwrap.dedent(
    """
    import os, sys
    from dita import ExecutionKernel, KernelIntent
    at_venue, wal, die_in, fsync = sys.argv[1:5]

    class Venue:
        name = "v"
        def submit(self, order):
            return self.take("submit", order)
        def cancel(self, order):
            return self.take("cancel", order)
        def take(self, call, order):
            with open(at_venue, "a") as f:
                f.write(f"{call} {order.client_order_id}\\n")
            if call == die_in:
                os._exit(9)
            return []

    k = ExecutionKernel(max_slots=2, kernel_id="kb", venue=Venue(), wal_dir=wal, fsync=fsync)
    k.mark_price("BTC", 100.0, timestamp=1.0)
    k.wal_sync()
    k.process_intent(KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=2.0))
    k.process_intent(KernelIntent("c1", "t1", 0, "BTC", "LONG", "CANCEL", 100.0, 0.0, timestamp=3.0))
    """
)

POLICIES = ["batch", "none", "always"]


def _killed_inside(tmp_path: Path, call: str, fsync: str) -> tuple[list[str], Path]:
    """Runs the child until the venue's `call` kills it; returns the calls the venue took
    and the log's directory."""
    wal, at_venue = tmp_path / "wal", tmp_path / "venue.txt"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(at_venue), str(wal), call, fsync], capture_output=True, text=True
    )
    assert done.returncode == 9, done.stderr
    return at_venue.read_text().splitlines(), wal


@pytest.mark.parametrize("fsync", POLICIES)
def test_a_restart_after_a_crash_inside_submit_issues_a_new_client_id(tmp_path: Path, fsync: str) -> None:
    at_venue, wal = _killed_inside(tmp_path, "submit", fsync)
    assert at_venue == ["submit kb-1"]
    venue = Records()
    k = ExecutionKernel(wal_dir=str(wal), venue=venue)
    try:
        # The restart knows the order the venue got, on its slot.
        assert [o.client_order_id for o in k.open_orders()] == ["kb-1"]
        assert k.free_slot_id() == 1
        k.process_intent(KernelIntent("i2", "t2", 1, "BTC", "LONG", "ENTER", 100.0, 3.0, timestamp=3.0))
        # Past the ids a crash of the machine may have lost too: the log did not end cleanly,
        # and only a writer under "always" lost no record.
        skipped = k.wal_info()["recovery"]["order_ids_skipped_through"]  # type: ignore[index]
        if fsync == "always":
            assert [o.client_order_id for o in venue.sent] == ["kb-2"] and skipped is None
        else:
            assert [o.client_order_id for o in venue.sent] == [f"kb-{skipped + 1}"] and skipped > 1
    finally:
        k.close()


@pytest.mark.parametrize("fsync", POLICIES)
def test_the_first_orders_fill_after_a_crash_books_on_the_first_order(tmp_path: Path, fsync: str) -> None:
    _, wal = _killed_inside(tmp_path, "submit", fsync)
    venue = Records()
    k = ExecutionKernel(wal_dir=str(wal), venue=venue)
    try:
        k.process_intent(KernelIntent("i2", "t2", 1, "BTC", "LONG", "ENTER", 100.0, 3.0, timestamp=3.0))
        (second,) = venue.sent
        # The venue's report of the first order, filled while the process was down.
        old_fill = VenueEvent(
            "old-fill", "", 0, "FILL", status="FILLED", venue_client_id="kb-1", side="BUY", asset="BTC",
            price=100.0, size=1.0, filled_size=1.0, remaining_size=0.0, fill_id="old-trade-1", timestamp=4.0,
        )  # fmt: skip
        assert k.on_venue_event(old_fill).accepted
        assert (k.slot_state(0).size, k.slot_state(1).size) == (1.0, 0.0)
        # The second order still works, unfilled.
        (working,) = k.open_orders()
        assert (working.client_order_id, working.filled_size) == (second.client_order_id, 0.0)
    finally:
        k.close()


@pytest.mark.parametrize("fsync", POLICIES)
def test_a_restart_after_a_crash_inside_cancel_knows_the_cancel_was_asked(tmp_path: Path, fsync: str) -> None:
    at_venue, wal = _killed_inside(tmp_path, "cancel", fsync)
    assert at_venue == ["submit kb-1", "cancel kb-1"]
    k = ExecutionKernel(wal_dir=str(wal), venue=Records())
    try:
        (order,) = k.open_orders()
        assert (order.client_order_id, order.cancel_requested) == ("kb-1", True)
    finally:
        k.close()
