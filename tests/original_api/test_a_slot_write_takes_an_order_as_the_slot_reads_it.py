"""A slot reads its working orders as ``VenueOrder``s, and a ``TradeSlot(...)`` or a view's field
assignment takes one back: so do ``set_slot_fields``, ``load_slots`` and
``reconcile_from_slots``, and a value that is no order is refused naming its type and value."""

from __future__ import annotations

import pytest
from original_style import HandDrivenVenue, at, original_intent

from dita import ExecutionKernel, TradeSide, TradeStage, VenueOrder


def _exit_order(status: str = "ACKNOWLEDGED") -> VenueOrder:
    return VenueOrder(
        venue_client_id="by-hand-1", venue_order_id="v-by-hand-1", internal_trade_id="trade-0",
        side=TradeSide.LONG, intended_size=1.0, slot_id=0, asset="BTCUSDT", status=status,
        is_entry=False,
    )  # fmt: skip


def _open_position() -> ExecutionKernel:
    venue = HandDrivenVenue()
    k = ExecutionKernel(max_slots=2, venue=venue)
    k.set_seed_capital(10_000.0)
    k.process_intent(original_intent("ENTER", 0, at(0)))
    k.on_venue_event(venue.fill(next(iter(venue.orders)), 1.0, 100.0))
    return k


def test_set_slot_fields_takes_a_venue_order_with_the_stage_it_agrees_with() -> None:
    with _open_position() as k:
        order = _exit_order()
        k.set_slot_fields(0, {"active_exit_order": order, "fsm_state": "EXIT_WORKING"})
        assert k.slot(0).active_exit_order == order
        assert k.slot(0).fsm_state == TradeStage.EXIT_WORKING


def test_load_slots_takes_a_slot_dict_holding_a_venue_order() -> None:
    with _open_position() as k:
        saved = [{key: v for key, v in k.slot(i).to_dict().items() if key != "kernel_id"} for i in (0, 1)]
        order = _exit_order()
        saved[0] = {**saved[0], "active_exit_order": order, "fsm_state": "EXIT_WORKING"}
        assert k.load_slots(saved) == 1
        assert k.slot(0).active_exit_order == order


@pytest.mark.parametrize(("value", "shown"), [(5, "int 5"), ("order-1", "str 'order-1'")])
def test_a_slot_write_of_what_is_no_order_names_its_type_and_value(value: object, shown: str) -> None:
    with _open_position() as k:
        before = k.slot(0).to_dict()
        with pytest.raises(
            TypeError, match=f"active_exit_order must be a VenueOrder, a dict or None, got {shown}"
        ):
            k.set_slot_fields(0, {"active_exit_order": value, "fsm_state": "EXIT_WORKING"})
        assert k.slot(0).to_dict() == before
