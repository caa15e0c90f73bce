"""A kernel that raises on the venue events a test names, as the kernel does when busy in
another thread's call, closed or its log failed; and a venue that reports each order's fill
from the next poll, once. Shared by the gateways' tests and the runtime's: a venue hands each
event over once (CcxtVenue), so none the kernel raised on may be lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dita import ExecutionKernel, VenueEvent
from dita._kernel import WalError

# The kernel's own words when another thread's call held it past its wait.
BUSY = "kernel busy in another call for 10 s (is a thread stuck inside it?)"


def busy(kernel: ExecutionKernel) -> None:
    raise RuntimeError(BUSY)


def closing(kernel: ExecutionKernel) -> None:
    kernel.stop_input()  # the kernel itself then refuses the event: it is closed


def log_failed(kernel: ExecutionKernel) -> None:
    raise WalError("the kernel refuses input because its write-ahead log failed (disk full)")


class FaultyKernel(ExecutionKernel):
    """A kernel that meets, on the venue and account events named in ``faults`` (once each), the fault
    given: one that raises as the kernel does when busy, or one that makes the kernel itself
    refuse the event."""

    faults: dict[str, Callable[[ExecutionKernel], None]]

    def on_venue_event(self, event: Any) -> Any:
        fault = self.faults.pop(getattr(event, "event_id", ""), None)
        if fault is not None:
            fault(self)
        return super().on_venue_event(event)

    def on_account_event(self, event: Any) -> Any:
        fault = self.faults.pop(getattr(event, "event_id", ""), None)
        if fault is not None:
            fault(self)
        return super().on_account_event(event)


class ReportsLater:
    """Acknowledges each order; its fill is reported by the next poll only (named
    ``fill-<slot>``), as a REST venue reports a resting order's fills, each once."""

    name = "later"

    def __init__(self) -> None:
        self.owed: list[VenueEvent] = []
        self.polls = 0

    def submit(self, order: Any) -> list[VenueEvent]:
        def event(kind: str, event_id: str, **fields: Any) -> VenueEvent:
            return VenueEvent(
                event_id, order.trade_id, order.slot_id, kind, venue_client_id=order.client_order_id, **fields
            )

        price = order.price or order.reference_price
        whole = {"price": price, "size": order.size, "filled_size": order.size}
        self.owed.append(event("FILL", f"fill-{order.slot_id}", **whole))
        return [event("ORDER_ACK", f"ack-{order.client_order_id}")]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        self.polls += 1
        owed, self.owed = self.owed, []
        return owed
