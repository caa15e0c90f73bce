"""``VenueRouter.route()`` keeps an asset on its venue while the kernel keeps an ended entry of
it for a late fill (ended without the venue's figure): that fill opens the trade on the old
venue, and new trades of the asset would go to another one the kernel nets as the same."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent, VenueEvent
from dita.venues import VenueRouter


class _KeepsOrders:
    """Takes every order and answers nothing: the test plays the venue."""

    def __init__(self, name: str) -> None:
        self.name = name

    def submit(self, order: Any) -> list[Any]:
        return []

    def cancel(self, order: Any) -> list[Any]:
        return []


def _intent(n: int, action: str, **kw: Any) -> KernelIntent:
    return KernelIntent(f"i{n}", "A", 0, "BTCUSDT", "LONG", action, 100.0, 1.0 if action == "ENTER" else 0.0,
                        timestamp=1_700_000_000.0 + n, **kw)  # fmt: skip


def test_route_refuses_to_move_an_asset_while_an_entry_ended_without_a_figure_may_still_fill() -> None:
    router = VenueRouter({"x": _KeepsOrders("x"), "y": _KeepsOrders("y")}, default="x")  # type: ignore[dict-item]
    kernel = ExecutionKernel(max_slots=1, venue=router)
    entry = kernel.process_intent(_intent(1, "ENTER", order_type="LIMIT", limit_price=99.0))
    assert entry.order is not None
    cid = entry.order.client_order_id
    assert kernel.process_intent(_intent(2, "CANCEL")).accepted
    assert kernel.on_venue_event(VenueEvent("x1", "", 0, "CANCEL_ACK", venue_client_id=cid)).accepted
    assert kernel.open_orders() == [] and kernel.open_slot_ids() == []
    assert [o.client_order_id for o in kernel.orders_ended_without_figure()] == [cid]
    with pytest.raises(ValueError, match=r"asset 'BTCUSDT' to venue 'y': venue 'x' holds trade\(s\) 'A'"):
        router.route("BTCUSDT", "y")
    assert router.venue_name_for("BTCUSDT") == "x"
