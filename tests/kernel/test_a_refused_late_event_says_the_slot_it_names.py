"""docs/concepts/slots-and-stages.md#diagnostics: a refused venue event's slot_id, state and
trade_id are those of the slot of the order it names while the kernel holds that order, else
of the slot the event names; an order that finished is remembered by its ids alone, so an
event naming it and no slot says IDLE and its own trade."""

from __future__ import annotations

import pytest
from kernel_helpers import SilentVenue, entered

from dita import ExecutionKernel, KernelDiagnosticCode, TradeStage, VenueEvent


@pytest.mark.parametrize("kind", ["ORDER_ACK", "CANCEL_REJECT"])
@pytest.mark.parametrize(
    ("slot_id", "says"), [(0, (0, TradeStage.POSITION_OPEN, "t0")), (-1, (-1, TradeStage.IDLE, "t-stated"))]
)
def test_a_late_event_naming_a_filled_entry_says_the_slot_it_names(
    kind: str, slot_id: int, says: tuple[int, TradeStage, str]
) -> None:
    k = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="slot")
    k.set_seed_capital(10_000.0)
    coid = entered(k, 0)
    done = VenueEvent(
        "f1",
        "",
        -1,
        "FILL",
        venue_client_id=coid,
        size=1.0,
        filled_size=1.0,
        price=100.0,
        status="FILLED",
        timestamp=1_700_000_100.0,
    )
    assert k.on_venue_event(done).accepted
    late = k.on_venue_event(
        VenueEvent(
            "late",
            "t-stated",
            slot_id,
            kind,
            venue_client_id=coid,
            venue_order_id="V1",
            timestamp=1_700_000_101.0,
        )
    )
    assert late.diagnostic_code == KernelDiagnosticCode.INVALID_TRANSITION
    assert (late.slot_id, late.state, late.trade_id) == says
