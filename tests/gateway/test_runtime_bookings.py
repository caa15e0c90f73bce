"""What a runtime beside the gateway booked is published once the kernel can be read: a round
the kernel is busy for (its slots' or account's read) keeps the slots and the account for the
next round, which publishes them; nothing is told twice."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.gateway.config import GatewaySettings
from dita.gateway.runtime_bookings import RuntimeBookings
from dita.gateway.state import GatewayState


def test_the_slots_and_account_a_busy_round_could_not_read_are_published_at_the_next() -> None:
    kernel = ExecutionKernel(max_slots=4, kernel_id="bookings-busy")
    kernel.set_seed_capital(1e6)
    state = GatewayState(kernel, GatewaySettings(token="t" * 32))
    published: list[tuple[str, dict[str, Any]]] = []
    state.publish = lambda event_type, data: published.append((event_type, data))  # type: ignore[method-assign]
    runtime = SimpleNamespace(
        stats={"account_events": 0}, taken_listeners=[], intent_listeners=[], event_listeners=[]
    )
    bookings = RuntimeBookings(runtime)  # type: ignore[arg-type]
    (routed,) = runtime.event_listeners
    routed(VenueEvent("cx-1", "t-1", 2, "CANCEL_ACK", status="CANCELED"))
    runtime.stats["account_events"] = 1  # the runtime gave the kernel the account's news
    publish_slots = state.publish_slots

    def busy(slot_ids: dict[int, None]) -> None:
        raise RuntimeError("kernel busy: another call holds it (waited 10 s)")

    state.publish_slots = busy  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="busy"):
        bookings.publish(state)
    assert published == []
    state.publish_slots = publish_slots  # type: ignore[method-assign]
    bookings.publish(state)
    assert [(kind, d.get("slot_id")) for kind, d in published] == [("slot", 2), ("account", None)]
    bookings.publish(state)
    assert len(published) == 2  # nothing new booked: nothing told again
