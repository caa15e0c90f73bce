"""Other threads can use a kernel while it waits on a venue, and venues may call back in."""

from __future__ import annotations

import threading
import time
from typing import Any

from kernel_helpers import intent

from dita import ExecutionKernel, KernelDiagnosticCode, TradeStage, VenueEvent, VenueOrder


class SlowVenue:
    """Holds every submit for a while without the GIL, as a network call would."""

    name = "slow"

    def __init__(self) -> None:
        self.inside = threading.Event()

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.inside.set()
        time.sleep(0.3)
        return [
            VenueEvent(
                "a" + order.client_order_id,
                order.trade_id,
                order.slot_id,
                "ORDER_ACK",
                venue_client_id=order.client_order_id,
            ),
            VenueEvent(
                "f" + order.client_order_id,
                order.trade_id,
                order.slot_id,
                "FILL",
                price=order.price,
                size=order.size,
                venue_client_id=order.client_order_id,
            ),
        ]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def test_reads_and_control_changes_work_while_a_venue_call_is_in_flight() -> None:
    venue = SlowVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="threads")
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []

    def operator() -> None:
        try:
            venue.inside.wait(5)
            seen["kernel_id"] = kernel.kernel_id
            seen["slot"] = kernel.slot_dict(0)["fsm_state"]
            seen["account"] = kernel.account()["open_positions"]
            kernel.drain_dirty()
            seen["control"] = kernel.update_control(mode="HALTED", source="operator")["mode"]
        except BaseException as e:  # the test reports whatever went wrong
            errors.append(e)

    t = threading.Thread(target=operator)
    t.start()
    out = kernel.process_intent(intent("ENTER", 0))
    t.join(10)
    assert errors == []
    # The operator saw the order in flight and halted the kernel while the venue worked.
    assert seen == {"kernel_id": "threads", "slot": "ORDER_SENT", "account": 0, "control": "HALTED"}
    assert out.accepted and out.state == TradeStage.POSITION_OPEN
    assert kernel.process_intent(intent("ENTER", 1)).diagnostic_code == KernelDiagnosticCode.MODE_BLOCKED


def test_a_venue_may_report_back_into_the_kernel_from_submit() -> None:
    holder: list[ExecutionKernel] = []

    class CallbackVenue:
        name = "callback"

        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            ack = VenueEvent(
                "ack-1", order.trade_id, order.slot_id, "ORDER_ACK", venue_client_id=order.client_order_id
            )
            holder[0].on_venue_event(ack)  # e.g. a websocket handler running on this thread
            return []

        def cancel(self, order: VenueOrder) -> list[VenueEvent]:
            return []

    holder.append(ExecutionKernel(max_slots=1, venue=CallbackVenue()))
    holder[0].process_intent(intent("ENTER", 0))
    assert holder[0].slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
