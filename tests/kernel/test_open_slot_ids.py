"""`open_slot_ids(asset=None)`: the slots holding a position, of one asset or of any, in slot
order, read without the others (what a mark revalues; with the working orders' slots, what a
flatten touches)."""

from __future__ import annotations

import pytest
from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, VenueEvent


def _filled(kernel: ExecutionKernel, slot: int, asset: str) -> None:
    coid = entered(kernel, slot, asset=asset)
    fill = VenueEvent(
        f"f{slot}", "", slot, "FILL", venue_client_id=coid, price=100.0, size=1.0, fill_id=f"F{slot}"
    )
    assert kernel.on_venue_event(fill).accepted


def test_open_slot_ids_are_the_slots_holding_a_position_of_the_asset_in_slot_order() -> None:
    kernel = ExecutionKernel(max_slots=6, venue=SilentVenue())
    for slot, asset in ((4, "ETHUSDT"), (1, "BTCUSDT"), (3, "BTCUSDT"), (0, "ETHUSDT")):
        _filled(kernel, slot, asset)
    entered(kernel, 5, asset="BTCUSDT")  # an entry working, no position yet
    assert kernel.open_slot_ids("BTCUSDT") == [1, 3]
    assert kernel.open_slot_ids() == [0, 1, 3, 4]
    assert kernel.open_slot_ids("SOLUSDT") == []
    exit_order = kernel.process_intent(intent("EXIT", 3)).order
    assert exit_order is not None
    closed = VenueEvent(
        "x3", "", 3, "FILL", venue_client_id=exit_order.client_order_id, price=101.0, size=1.0
    )
    assert kernel.on_venue_event(closed).accepted
    assert kernel.open_slot_ids("BTCUSDT") == [1]
    assert kernel.mark_price("BTCUSDT", 102.0) == len(kernel.open_slot_ids("BTCUSDT"))


def test_open_slot_ids_refuses_an_asset_that_is_no_text() -> None:
    kernel = ExecutionKernel(max_slots=1)
    with pytest.raises(TypeError, match="asset"):
        kernel.open_slot_ids(5)  # type: ignore[arg-type]
