"""`dita pnl --journal` charges each side of a venue self-trade (one fill id booked on two slots,
each side settled at its own fee) what its settlement charged, as the kernel's ``k_fees_paid``
does. It charged both fills the latest settlement naming the asset (0.12 for 0.02 and 0.06), or
the first naming none after them (0.04)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import SilentVenue, pnl_rows

T = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


def _fill(kernel: ExecutionKernel, slot: int, order: Any) -> None:
    fill = VenueEvent(
        f"f{slot}", f"t{slot}", slot, "FILL", venue_client_id=order.client_order_id, asset="BTCUSDT",
        price=100.0, size=1.0, filled_size=1.0, fill_id="x1", timestamp=T + 1,
    )  # fmt: skip
    assert kernel.on_venue_event(fill).accepted


@pytest.mark.parametrize("asset", ["BTCUSDT", ""])
def test_pnl_from_the_journal_charges_each_side_of_a_self_trade_its_own_fee(
    tmp_path: Path, asset: str
) -> None:
    """A long and a short of 1 at 100 fill against each other under trade "x1" at T+1; the
    maker side is settled at T+5 (0.02), the taker side at T+6 (0.06), the settlements naming
    the asset or none."""
    dsn = f"chdb://{tmp_path / 'journal'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), journal=journal, kernel_id="self")
    try:
        for slot, side in ((0, "LONG"), (1, "SHORT")):
            intent = KernelIntent(
                f"e{slot}", f"t{slot}", slot, "BTCUSDT", side, "ENTER", 100.0, 1.0, timestamp=T
            )
            _fill(kernel, slot, kernel.process_intent(intent).order)
        after_first = 0.0
        for i, fee in enumerate((0.02, 0.06)):
            settled = AccountEvent(
                f"s{i}", "FILL_SETTLED", asset=asset, fill_id="x1", fee=fee, timestamp=T + 5 + i
            )
            assert kernel.on_account_event(settled).accepted
            after_first = after_first or kernel.account()["k_fees_paid"]
        journal.flush(30)
    finally:
        kernel.close()
        journal.close()
    account = kernel.account()
    assert sorted(kernel.slot_state(s).fees_paid for s in (0, 1)) == pytest.approx([0.02, 0.06])
    assert account["k_fees_paid"] == pytest.approx(0.08)
    (row,) = pnl_rows("--journal", dsn)
    assert row["fees"] == pytest.approx(account["k_fees_paid"])
    assert row["net_pnl"] == pytest.approx(account["k_realized_pnl"] - account["k_fees_paid"])
    # Between the two settlements one side was charged 0.02, the other still its prediction.
    (early,) = pnl_rows("--journal", dsn, "--at", "2026-09-21T14:13:25.5Z")
    assert 0.02 < after_first and early["fees"] == pytest.approx(after_first)
