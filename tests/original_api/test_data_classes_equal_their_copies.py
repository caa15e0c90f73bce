"""The data classes' `==` as the original's dataclasses compared: a copy of an unchanged slot
equals the slot (the live view too), a slot restored from its own dict equals it, and a NaN
field equals itself."""

from __future__ import annotations

import copy
from unittest import mock

import pytest

from dita import (
    ExecutionKernel,
    KernelIntent,
    KernelTransition,
    MockVenueAdapter,
    TradeSlot,
    TradeStage,
    VenueEvent,
)


def _kernel_with_entry(fill_rate: float = 0.0) -> ExecutionKernel:
    k = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=fill_rate))
    k.set_seed_capital(1_000_000.0)
    out = k.process_intent(
        KernelIntent(
            "i-1",
            "t-1",
            0,
            "BTCUSDT",
            "LONG",
            "ENTER",
            reference_price=60_000.0,
            target_size=0.1,
            order_type="LIMIT",
            limit_price=59_000.0,
        )
    )
    assert out.accepted, out
    return k


def test_a_copy_of_an_unchanged_slot_equals_its_live_view() -> None:
    k = _kernel_with_entry()
    try:
        before = copy.copy(k.slot(0))
        assert before == k.slot_state(0)
        assert k.slot(0) == before
        assert before == k.slot(0)
        assert hash(before) == hash(k.slot(0))
        assert k.slot(0) != copy.copy(k.slot(1))
        k.slot(0).metadata["stop"] = 58_000.0
        assert k.slot(0) != before
    finally:
        k.close()


def test_a_slot_loaded_from_its_own_dict_equals_it() -> None:
    k = _kernel_with_entry(fill_rate=1.0)
    k2 = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    try:
        saved = k.slot_state(0)
        k2.load_slots([saved.to_dict(), k.slot_state(1).to_dict()])
        restored = k2.slot_state(0)
        assert restored.to_dict() == saved.to_dict()
        assert restored == saved
        assert hash(restored) == hash(saved)
    finally:
        k.close()
        k2.close()


def test_a_slot_built_from_its_saved_fields_equals_it() -> None:
    k = _kernel_with_entry(fill_rate=1.0)
    try:
        slot = k.slot_state(0)
        saved = {f: v for f, v in slot.to_dict().items() if f != "committed_notional"}
        assert TradeSlot(**saved) == slot
        assert TradeSlot(**{**saved, "fees_paid": slot.fees_paid + 1.0}) != slot
    finally:
        k.close()


def test_each_data_class_leaves_another_type_s_equality_to_it() -> None:
    k = _kernel_with_entry()
    (order,) = k.open_orders()
    made = [
        TradeSlot(0),
        k.slot(0),
        order,
        VenueEvent("e-1", "t-1", 0, "FILL", price=1.0, size=1.0, timestamp=1.0),
        KernelIntent("i", "t", 0, "BTC", "LONG", "ENTER", reference_price=1.0, target_size=1.0),
        KernelTransition(1.0, "t", 0, "IDLE", "ORDER_REQUESTED", "ENTER"),
    ]
    for value in made:
        # A dataclass answers NotImplemented, so Python asks the other side: mock.ANY matches.
        assert value == mock.ANY, type(value).__name__
        assert not value != mock.ANY, type(value).__name__
        assert value != "something else", type(value).__name__


def test_an_event_holding_nan_equals_itself_and_its_copy() -> None:
    e = VenueEvent("e-1", "t-1", 0, "FILL", price=float("nan"), size=1.0, timestamp=1.0)
    assert e == e
    assert e == copy.copy(e)
    assert len({e, VenueEvent(**e.to_dict())}) == 1
    assert e != VenueEvent("e-1", "t-1", 0, "FILL", price=1.0, size=1.0, timestamp=1.0)


def test_an_intent_holding_nan_equals_its_copy() -> None:
    i = KernelIntent(
        "i",
        "t",
        0,
        "BTC",
        "LONG",
        "ENTER",
        reference_price=float("nan"),
        target_size=1.0,
        metadata={"stop": float("nan")},
    )
    assert i == copy.copy(i)
    assert i == KernelIntent(**i.to_dict())


def test_an_intent_made_again_from_its_dict_keeps_its_stage() -> None:
    # The guide's changed copy: KernelIntent(**{**intent.to_dict(), "intent_id": "retry"}).
    i = KernelIntent("i", "t", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, stage="ORDER_REQUESTED")
    retry = KernelIntent(**{**i.to_dict(), "intent_id": "retry"})
    assert retry.stage == i.stage == TradeStage.ORDER_REQUESTED
    assert KernelIntent(**i.to_dict()) == i


@pytest.mark.parametrize(
    "sides",
    [{"side": "LONG"}, {"side": "BUY"}, {"side": "SHORT", "order_side": "BUY"}, {}],
    ids=["trade_side", "order_side", "both", "none"],
)
def test_an_event_made_again_from_its_dict_keeps_its_payload_and_sides(sides: dict[str, str]) -> None:
    e = VenueEvent(
        "e-1", "t-1", 0, "FILL", venue_client_id="c", price=100.0, size=1.0, filled_size=1.0,
        timestamp=1.0, raw_payload={"venue": "x", "trade": 7}, **sides,  # type: ignore[arg-type]
    )  # fmt: skip
    saved = e.to_dict()
    assert saved["raw_payload"] == {"venue": "x", "trade": 7}
    again = VenueEvent(**saved)
    assert again == e and (again.side, again.order_side) == (e.side, e.order_side)


def test_an_event_given_two_trade_sides_is_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"invalid trade_side: SHORT \(side says LONG\)"):
        VenueEvent("e-1", "t-1", 0, "FILL", side="LONG", trade_side="SHORT")
