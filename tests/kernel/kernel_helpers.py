"""Intent builder and test venues shared by the kernel tests (imported by module name:
pytest puts this directory on sys.path)."""

from __future__ import annotations

import itertools
from typing import Any

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter, TradeStage, VenueEvent, VenueOrder

_ids = itertools.count(1)


def intent(action: Any, slot: int = 0, **kw: Any) -> KernelIntent:
    """An intent with sensible defaults; every field can be overridden by keyword."""
    n = next(_ids)
    fields: dict[str, Any] = {
        "intent_id": f"i{n}",
        "trade_id": f"t{slot}",
        "slot_id": slot,
        "asset": "BTCUSDT",
        "side": "LONG",
        "action": action,
        "reference_price": 100.0,
        "target_size": 1.0 if str(action) == "ENTER" else 0.0,
        "timestamp": 1_700_000_000.0 + n,
    }
    fields.update(kw)
    return KernelIntent(**fields)


def entered(kernel: ExecutionKernel, slot: int = 0, **kw: Any) -> str:
    """The client order id of an ENTER on ``slot`` the kernel took and sent (its venue answers
    nothing yet); ``kw`` overrides the intent's fields."""
    out = kernel.process_intent(intent("ENTER", slot, **kw))
    assert out.accepted and out.state == TradeStage.ORDER_SENT, out.details
    order = kernel.slot_state(slot).active_entry_order
    assert order is not None
    return order.client_order_id


class SilentVenue:
    """Takes every order and answers nothing: the test plays the venue."""

    name = "silent"

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


class OverMock:
    """A Python venue over the native mock ``inner``: each method asks it, and a test venue
    changes only what it plays differently."""

    name = "over-mock"

    def __init__(self, inner: MockVenueAdapter) -> None:
        self.inner = inner

    def submit(self, order: VenueOrder) -> list[Any]:
        return self.inner.submit(order)

    def cancel(self, order: VenueOrder) -> list[Any]:
        return self.inner.cancel(order)

    def open_orders(self) -> list[VenueOrder]:
        return self.inner.open_orders()

    def positions(self) -> dict[str, float]:
        return self.inner.positions()

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return self.inner.order_status(client_order_id)


class TimesOut(OverMock):
    """Places the order at the inner venue (or not) and then times out, like a lost reply."""

    name = "times-out"

    def __init__(self, inner: MockVenueAdapter, *, reaches_venue: bool) -> None:
        super().__init__(inner)
        self.reaches_venue = reaches_venue

    def submit(self, order: VenueOrder) -> list[Any]:
        if self.reaches_venue:
            self.inner.submit(order)
        raise TimeoutError("no reply within 5 s")
