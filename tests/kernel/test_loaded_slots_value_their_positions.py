"""A loaded slot's unrealized PnL is made again from its mark, entry and size (unmarked, at its
entry): a figure ``load_slots`` is given, or one a slot view's write of the mark, entry or size
leaves (the view loads every slot), does not stand in the account's equity until the next mark."""

from __future__ import annotations

import pytest
from kernel_helpers import SilentVenue, entered

from dita import ExecutionKernel, VenueEvent


@pytest.fixture
def kernel() -> ExecutionKernel:
    """Long 1 BTC from 100, marked at 105."""
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.set_seed_capital(10_000.0)
    coid = entered(k, target_size=1.0, reference_price=100.0)
    fill = VenueEvent(
        "e1", "t0", 0, "FILL", asset="BTCUSDT", price=100.0, venue_client_id=coid, size=1.0,
        filled_size=1.0, fee=0.1, fill_id="e1",
    )  # fmt: skip
    assert k.on_venue_event(fill).accepted
    k.mark_price("BTCUSDT", 105.0, 1_700_000_100.0)
    return k


def test_a_slot_view_written_keeps_unrealized_pnl_what_its_mark_says(kernel: ExecutionKernel) -> None:
    kernel.state.slots[0].last_mark_price = 120.0
    slot = kernel.slot_state(0)
    assert slot.last_mark_price == 120.0
    # Marked at 120, a long of 1 from 100 is 20 up, not the 5 of the old mark.
    assert slot.unrealized_pnl == pytest.approx(20.0)
    assert kernel.account()["unrealized_pnl"] == pytest.approx(20.0)
    kernel.state.slots[0].entry_price = 110.0
    assert kernel.slot_state(0).unrealized_pnl == pytest.approx(10.0)


def test_loaded_slots_carry_the_unrealized_pnl_their_marks_say(kernel: ExecutionKernel) -> None:
    slots = kernel.slots()
    slots[0]["unrealized_pnl"] = 1_000_000.0
    kernel.load_slots(slots)
    account = kernel.account()
    assert kernel.slot_state(0).unrealized_pnl == pytest.approx(5.0)
    assert account["unrealized_pnl"] == pytest.approx(5.0)
    assert account["equity"] == pytest.approx(10_000.0 - 0.1 + 5.0)
