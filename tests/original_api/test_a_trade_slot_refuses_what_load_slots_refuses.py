"""`TradeSlot(slot_id, **fields)` checks each field by the rule `load_slots` checks it by: a
slot the kernel would refuse to load is not built, so none raises later on a read of its time."""

from __future__ import annotations

import math

import pytest

from dita import ExecutionKernel, TradeSlot

OPEN = dict(
    trade_id="t",
    asset="BTC",
    side="LONG",
    entry_price=100.0,
    size=1.0,
    initial_size=1.0,
    entry_time=10.0,
    fsm_state="POSITION_OPEN",
)

BAD = [
    ("entry_time", 1.7e12),  # milliseconds: past the year 9999 as seconds
    ("last_event_time", math.nan),
    ("entry_time", -5.0),
    ("entry_price", math.nan),
    ("size", -1.0),
    ("fees_paid", math.inf),
    ("mark_price", -3.0),
    ("leverage", math.inf),
    ("exit_leg_ratios", [0.5, 0.7]),
    ("asset", " "),  # an id of only whitespace, which an ENTER refuses
    ("trade_id", "\t\n"),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v}" for f, v in BAD])
def test_a_trade_slot_refuses_a_field_load_slots_refuses(field: str, value: object) -> None:
    fields = {**OPEN, field: value}
    k = ExecutionKernel(max_slots=1)
    try:
        with pytest.raises(ValueError, match=field):
            k.load_slots([{**TradeSlot(0).to_dict(), **fields}])
    finally:
        k.close()
    with pytest.raises(ValueError, match=rf"^invalid {field}: "):
        TradeSlot(0, **fields)


def test_a_trade_slot_refuses_a_working_order_s_bad_number() -> None:
    order = dict(
        client_order_id="c-1",
        venue_order_id="",
        trade_id="t",
        asset="BTC",
        side="BUY",
        order_type="LIMIT",
        price=math.nan,
        reference_price=100.0,
        size=1.0,
        filled_size=0.0,
        avg_fill_price=0.0,
        status="NEW",
        reduce_only=False,
        cancel_requested=False,
        created_at=10.0,
    )
    fields = {**OPEN, "fsm_state": "ENTRY_WORKING", "active_entry_order": order}
    with pytest.raises(ValueError, match=r"active_entry_order\.price: NaN"):
        TradeSlot(0, **fields)


def test_a_trade_slot_whose_fields_do_not_fit_together_is_built_and_refused_on_loading() -> None:
    # Each field on its own is good; a position in an IDLE slot is the loading's to judge.
    slot = TradeSlot(0, **{**OPEN, "fsm_state": "IDLE"})
    assert slot.entry_time_s == 10.0
    k = ExecutionKernel(max_slots=1)
    try:
        with pytest.raises(ValueError, match="fsm_state"):
            k.load_slots([slot])
    finally:
        k.close()
