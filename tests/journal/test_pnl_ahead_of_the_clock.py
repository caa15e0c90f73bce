"""`dita pnl --journal` for all of time, without `--at`, counts every fill the kernel booked:
one stamped past the host's clock (a venue clock ahead of it, replay data) too, as the kernel
counts it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dita import AccountEvent, VenueEvent
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import pnl_rows, silent_entries


def test_pnl_all_counts_a_fill_and_its_settlement_stamped_ahead_of_the_clock(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'j'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    try:
        kernel, coids = silent_entries(journal, "ahead-1", 2)
        ahead = time.time() + 3600
        for slot, ts in ((0, time.time() - 3600), (1, ahead)):
            fill = VenueEvent(
                f"f{slot}", f"t{slot}", slot, "FILL", status="FILLED", venue_client_id=coids[slot],
                side="BUY", asset="BTCUSDT", price=100.0, size=1.0, filled_size=1.0, fill_id=f"x{slot}",
                timestamp=ts,
            )  # fmt: skip
            assert kernel.on_venue_event(fill).accepted
        settled = AccountEvent("s1", "FILL_SETTLED", asset="BTCUSDT", fill_id="x1", fee=0.25, timestamp=ahead)
        assert kernel.on_account_event(settled).accepted
        fees = kernel.account()["k_fees_paid"]
        kernel.close()
    finally:
        journal.close()
    (row,) = pnl_rows("--journal", dsn)
    assert (row["fills"], row["fees"]) == (2, pytest.approx(fees))
    # --at bounds it: the fill ahead of that moment is not counted.
    (row,) = pnl_rows("--journal", dsn, "--at", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()))
    assert row["fills"] == 1
