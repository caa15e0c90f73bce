"""`dita pnl --journal --at X` counts what happened at X, as the state file's `pnl --at` does
(``ts <= at``): the journal stores a time as its nearest microsecond, and the bound was cut to
the microsecond below, so a fill (or its settlement) at the very moment asked about was left
out when its time had a digit past the microseconds (a kernel's clock, ``time.time()``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import SilentVenue, pnl_rows

AT = 1_790_000_000.1234567  # stored as ...123457 µs; times 1e6 is ...123456.8


def test_pnl_at_the_moment_of_a_fill_counts_it_and_its_settlement(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'journal'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), journal=journal, kernel_id="edge")
    try:
        intent = KernelIntent("e0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 2.0, timestamp=AT - 1)
        order = kernel.process_intent(intent).order
        assert order is not None
        fill = VenueEvent(
            "f0", "t0", 0, "FILL", venue_client_id=order.client_order_id, asset="BTCUSDT",
            price=100.0, size=2.0, filled_size=2.0, fill_id="x1", timestamp=AT,
        )  # fmt: skip
        assert kernel.on_venue_event(fill).accepted
        settled = AccountEvent("s1", "FILL_SETTLED", asset="BTCUSDT", fill_id="x1", fee=0.5, timestamp=AT)
        assert kernel.on_account_event(settled).accepted
        journal.flush(30)
    finally:
        kernel.close()
        journal.close()
    assert kernel.account()["k_fees_paid"] == pytest.approx(0.5)
    (row,) = pnl_rows("--journal", dsn, "--kernel", "edge", "--at", repr(AT))
    assert (row["fills"], row["fees"]) == (1, pytest.approx(0.5))
