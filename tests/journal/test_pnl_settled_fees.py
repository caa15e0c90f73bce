"""`dita pnl --journal` counts a fill's fee as the kernel does: what a FILL_SETTLED charged it
once one settled it (the exchange's fee), the kernel's prediction until then. It summed the
fills' predictions, so its fees and net differed from the account's ``k_fees_paid`` and K."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent
from dita.journal.clickhouse import ClickHouseJournal
from journal.helpers import SilentVenue, pnl_rows

T = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC


def _fill(kernel: ExecutionKernel, event_id: str, order: Any, price: float, fill_id: str, at: float) -> None:
    fill = VenueEvent(
        event_id, "t0", 0, "FILL", venue_client_id=order.client_order_id, asset="BTCUSDT",
        price=price, size=2.0, filled_size=2.0, fill_id=fill_id, timestamp=at,
    )  # fmt: skip
    assert kernel.on_venue_event(fill).accepted


def _settle(kernel: ExecutionKernel, event_id: str, fill_id: str, fee: float, at: float, asset: str) -> None:
    out = kernel.on_account_event(
        AccountEvent(event_id, "FILL_SETTLED", asset=asset, fill_id=fill_id, fee=fee, timestamp=at)
    )
    assert out.accepted, out


def _settled_trade(journal: ClickHouseJournal) -> ExecutionKernel:
    """Kernel "settled": a long of 2 entered at 100 at T (fill x1, predicted 0.1) settled at
    T+10 for 0.5; its exit at 110 (fill x2) at T+30, whose settlement (0.3) came at T+25, before
    it, and is held for it: the fill's row holds 0.3 already."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), journal=journal, kernel_id="settled")
    order = kernel.process_intent(
        KernelIntent("e0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 2.0, timestamp=T)
    ).order
    _fill(kernel, "f0", order, 100.0, "x1", T)
    _settle(kernel, "s1", "x1", 0.5, T + 10, "BTCUSDT")
    _settle(kernel, "s2", "x2", 0.3, T + 25, "BTCUSDT")
    order = kernel.process_intent(
        KernelIntent("x0", "t0", 0, "BTCUSDT", "LONG", "EXIT", 110.0, 2.0, timestamp=T + 20)
    ).order
    _fill(kernel, "f1", order, 110.0, "x2", T + 30)
    account = kernel.account()
    assert (account["k_fees_paid"], account["k_realized_pnl"]) == (pytest.approx(0.8), pytest.approx(20.0))
    return kernel


def _asset_less(journal: ClickHouseJournal) -> ExecutionKernel:
    """Kernel "bare": a long of 2 at 100 at T (fill x1 too, predicted 0.1), settled at T+10 by a
    FILL_SETTLED naming no asset for 0.2."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), journal=journal, kernel_id="bare")
    order = kernel.process_intent(
        KernelIntent("e0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 2.0, timestamp=T)
    ).order
    _fill(kernel, "f0", order, 100.0, "x1", T)
    _settle(kernel, "s1", "x1", 0.2, T + 10, "")
    account = kernel.account()
    assert account["k_fees_paid"] == pytest.approx(0.2)
    return kernel


def test_pnl_from_the_journal_counts_the_fee_a_settlement_charged(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'journal'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    kernels = []
    try:
        kernels = [_settled_trade(journal), _asset_less(journal)]
        journal.flush(30)
    finally:
        for kernel in kernels:
            kernel.close()
        journal.close()
    accounts = {k.kernel_id: k.account() for k in kernels}
    rows = {r["kernel_id"]: r for r in pnl_rows("--journal", dsn)}
    assert set(rows) == set(accounts)
    for kernel_id, account in accounts.items():
        row = rows[kernel_id]
        assert row["fees"] == pytest.approx(account["k_fees_paid"]), kernel_id
        assert row["realized_pnl"] == pytest.approx(account["k_realized_pnl"]), kernel_id
        assert row["net_pnl"] == pytest.approx(
            account["k_realized_pnl"] - account["k_fees_paid"] + account["k_funding_net"]
        ), kernel_id
    # Up to a moment before the entry's settlement the kernel had charged its prediction; after
    # it, the settled fee. The exit, later, is not in either.
    at = {"2026-09-21T14:13:25Z": 0.1, "2026-09-21T14:13:35Z": 0.5}
    for when, fees in at.items():
        (row,) = pnl_rows("--journal", dsn, "--kernel", "settled", "--at", when)
        assert (row["fills"], row["fees"]) == (1, pytest.approx(fees)), when


def test_pnl_charges_each_fill_of_one_id_the_settlement_naming_no_asset_that_settled_it(
    tmp_path: Path,
) -> None:
    """Venues number trades per market: BTC's "123" is settled by a FILL_SETTLED naming no asset
    while it waits alone (20.0), ETH's "123", booked after, by another (2.0). `pnl --journal`
    charged both fills the latest settlement of the id: fees 4.0 where the account paid 22.0."""
    dsn = f"chdb://{tmp_path / 'journal'}"
    journal = ClickHouseJournal(dsn, max_delay=0.02, close_timeout=20)
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), journal=journal, kernel_id="ids")
    try:
        for slot, asset, price, fee in ((0, "BTCUSDT", 50_000.0, 20.0), (1, "ETHUSDT", 3_000.0, 2.0)):
            order = kernel.process_intent(
                KernelIntent(f"e{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", price, 1.0, timestamp=T)
            ).order
            fill = VenueEvent(
                f"f{slot}", f"t{slot}", slot, "FILL", venue_client_id=order.client_order_id, asset=asset,
                price=price, size=1.0, filled_size=1.0, fill_id="123", timestamp=T + slot,
            )  # fmt: skip
            assert kernel.on_venue_event(fill).accepted
            before = kernel.account()["k_fees_paid"]  # ETH's fill at its prediction
            _settle(kernel, f"s{slot}", "123", fee, T + 10 + slot, "")
        journal.flush(30)
    finally:
        kernel.close()
        journal.close()
    account = kernel.account()
    assert account["k_fees_paid"] == pytest.approx(22.0)
    (row,) = pnl_rows("--journal", dsn, "--kernel", "ids")
    assert (row["fills"], row["fees"]) == (2, pytest.approx(account["k_fees_paid"]))
    # By T+10.5 only BTC's settlement had come: ETH's fill was charged its prediction.
    (early,) = pnl_rows("--journal", dsn, "--kernel", "ids", "--at", "2026-09-21T14:13:30.5Z")
    assert 20.0 < before < 22.0 and early["fees"] == pytest.approx(before)
