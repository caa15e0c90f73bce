"""docs/reference/venue-misbehaviour.md, 'Events that contradict the kernel': an event whose
`side` contradicts its order changes nothing (UNKNOWN_ORDER naming `side`). VenueEvent takes
the trade's side (LONG/SHORT, the original kernel's VenueEvent.side) as `side` too: the order
side it says follows from whether the named order is the trade's entry or an exit."""

from __future__ import annotations

import pytest
from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, KernelDiagnosticCode, VenueEvent


def fill(event_id: str, client_id: str, side: str, size: float = 1.0) -> VenueEvent:
    return VenueEvent(
        event_id,
        "",
        -1,
        "FILL",
        venue_client_id=client_id,
        side=side,
        size=size,
        filled_size=size,
        price=100.0,
        status="FILLED",
        timestamp=1_700_000_100.0,
    )


def other(side: str) -> str:
    return "SHORT" if side == "LONG" else "LONG"


@pytest.mark.parametrize("trade_side", ["LONG", "SHORT"])
def test_an_entry_fill_stating_the_other_trade_side_is_refused_naming_side(trade_side: str) -> None:
    k = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="side")
    k.set_seed_capital(10_000.0)
    coid = entered(k, 0, side=trade_side)
    wrong = fill("f1", coid, other(trade_side))
    assert wrong.side is not None and wrong.side.name == other(trade_side)
    out = k.on_venue_event(wrong)
    assert out.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER, out.to_dict()
    assert out.details.get("field") == "side"
    assert k.slot_state(0).size == 0.0
    assert k.on_venue_event(fill("f2", coid, trade_side)).accepted  # its own trade's side
    assert k.slot_state(0).size == 1.0


@pytest.mark.parametrize("trade_side", ["LONG", "SHORT"])
def test_an_exit_fill_is_judged_by_its_trades_side_not_its_own_order_side(trade_side: str) -> None:
    k = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="side-exit")
    k.set_seed_capital(10_000.0)
    coid = entered(k, 0, side=trade_side)
    assert k.on_venue_event(fill("f1", coid, trade_side)).accepted
    assert k.process_intent(intent("EXIT", 0)).accepted
    exit_order = k.slot_state(0).active_exit_order
    assert exit_order is not None
    wrong = k.on_venue_event(fill("x1", exit_order.client_order_id, other(trade_side)))
    assert wrong.diagnostic_code == KernelDiagnosticCode.UNKNOWN_ORDER, wrong.to_dict()
    assert wrong.details.get("field") == "side" and k.slot_state(0).size == 1.0
    assert k.on_venue_event(fill("x2", exit_order.client_order_id, trade_side)).accepted
    assert k.slot_state(0).size == 0.0
