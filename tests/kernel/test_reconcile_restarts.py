"""Reconciliation run again, after a second restart or on an operator's request, books what
the venue did since the last one: its events are new to the kernel's memory."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from kernel_helpers import intent

from dita import ExecutionKernel, TradeStage, VenueEvent, VenueOrder


class PartlyFills:
    """Acknowledges every order and reports nothing more; ``fill`` moves an order's filled
    size at the venue as if it happened while the kernel was away."""

    name = "partly"

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}

    def _copy(self, o: VenueOrder, filled: float, status: str) -> VenueOrder:
        return VenueOrder(
            o.client_order_id,
            o.slot_id,
            o.trade_id,
            o.asset,
            o.side,
            o.order_type,
            o.price,
            o.size,
            venue_order_id=f"v-{o.client_order_id}",
            filled_size=filled,
            avg_fill_price=o.price if filled else 0.0,
            status=status,
        )

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.orders[order.client_order_id] = self._copy(order, 0.0, "ACKNOWLEDGED")
        return [
            VenueEvent(
                f"ack-{order.client_order_id}",
                order.trade_id,
                order.slot_id,
                "ORDER_ACK",
                venue_order_id=f"v-{order.client_order_id}",
                venue_client_id=order.client_order_id,
                asset=order.asset,
                side=order.side,
            )
        ]

    def fill(self, coid: str, filled: float) -> None:
        self.orders[coid] = self._copy(self.orders[coid], filled, "PARTIALLY_FILLED")

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[VenueOrder]:
        return list(self.orders.values())

    def order_status(self, coid: str) -> VenueOrder | None:
        return self.orders.get(coid)

    def positions(self) -> dict[str, float]:
        return {o.asset: o.filled_size for o in self.orders.values() if o.filled_size}


def _open(wal: Path, venue: Any) -> ExecutionKernel:
    return ExecutionKernel(max_slots=2, venue=venue, kernel_id="rec2", wal_dir=str(wal), fsync="always")


def test_a_second_reconciliation_books_the_fills_since_the_first(tmp_path: Path) -> None:
    venue = PartlyFills()
    kernel = _open(tmp_path, venue)
    out = kernel.process_intent(intent("ENTER", 0, target_size=2.0, order_type="LIMIT", limit_price=99.0))
    coid = out.order.client_order_id
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    for filled in (0.5, 1.0, 1.5):
        venue.fill(coid, filled)  # while the process was down
        kernel.close()
        gc.collect()
        kernel = _open(tmp_path, venue)
        report = kernel.reconcile_with_venue()
        assert [f["qty"] for f in report.missed_fills] == [0.5], report
        assert kernel.slot_state(0).size == filled
        assert report.position_mismatches == []
    # And once more in the same process, without a restart.
    venue.fill(coid, 2.0)
    report = kernel.reconcile_with_venue()
    assert [f["qty"] for f in report.missed_fills] == [0.5], report
    assert kernel.slot_state(0).size == 2.0
    kernel.close()
