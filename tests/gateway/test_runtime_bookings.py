"""What a runtime beside the gateway booked is published once the kernel can be read: a round
the kernel is busy for (its slots' or account's read) keeps the slots and the account for the
next round, which publishes them; nothing is told twice."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita.gateway.config import GatewaySettings
from dita.gateway.runtime_bookings import RuntimeBookings
from dita.gateway.state import GatewayState
from dita.runtime import TradingRuntime
from dita.venues._events import STUCK_AFTER
from kernel_faults import ReportsLater
from runtime.points import bar
from runtime.test_runtime_fills_by_venue_id import BuysOnce, CancelAnswerStatesItsFill, _bar, _started
from runtime.test_runtime_poll_kernel_errors import BuysThree
from runtime.test_runtime_venue_event_stuck import Refuses


def test_the_slots_and_account_a_busy_round_could_not_read_are_published_at_the_next() -> None:
    kernel = ExecutionKernel(max_slots=4, kernel_id="bookings-busy")
    kernel.set_seed_capital(1e6)
    state = GatewayState(kernel, GatewaySettings(token="t" * 32))
    published: list[tuple[str, dict[str, Any]]] = []
    state.publish = lambda event_type, data: published.append((event_type, data))  # type: ignore[method-assign]
    runtime = SimpleNamespace(
        stats={"fills": 0, "account_events": 0, "venue_poll_errors": 0, "venue_events_stuck": 0},
        taken_listeners=[],
        set_aside_listeners=[],
        intent_listeners=[],
        event_listeners=[],
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


@pytest.mark.parametrize("by", ["strategy", "freeze"])
def test_a_fill_booked_in_any_answer_is_counted_and_the_account_published(by: str) -> None:
    """A fill in the answer to an edge freeze's cancel (not a strategy's own intent) was noted
    as a slot only: no `account` event, and dita_gateway_fills_total missed it."""
    runtime, strategy, kernel, _ = _started(CancelAnswerStatesItsFill())
    state = GatewayState(kernel, GatewaySettings(token="t" * 32))
    published: list[str] = []
    state.publish = lambda event_type, data: published.append(event_type)  # type: ignore[method-assign]
    bookings = RuntimeBookings(runtime)
    try:
        if by == "freeze":
            kernel.set_risk_limits({"edge_freeze_threshold_bps": 0.0})
            runtime.report_edge("BTCUSDT", -5.0)
        else:
            assert strategy.cancel(0).accepted
        assert runtime.stats["fills"] == 1  # the cancel's answer booked the fill
        bookings.publish(state)
        assert "slot" in published and "account" in published
        assert state.metrics.registry.get_sample_value("dita_gateway_fills_total") == 1
    finally:
        kernel.close()


class _RejectsAtSubmit:
    name = "rejects"

    def submit(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [
            VenueEvent(
                f"rej-{coid}", order.trade_id, order.slot_id, "REJECT", status="REJECTED",
                venue_client_id=coid, asset=order.asset, side=order.order_side,
            )
        ]  # fmt: skip

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_a_venue_reject_in_the_answer_to_a_strategys_entry_is_counted() -> None:
    """As the same answer to an HTTP intent is, and the same REJECT polled."""
    kernel = ExecutionKernel(max_slots=2, venue=_RejectsAtSubmit(), kernel_id="rej-count")
    kernel.set_seed_capital(1e6)
    runtime = TradingRuntime(kernel)
    runtime.add_strategy(BuysOnce())
    state = GatewayState(kernel, GatewaySettings(token="t" * 32))
    state.publish = lambda event_type, data: None  # type: ignore[method-assign]
    bookings = RuntimeBookings(runtime)
    try:
        runtime.run([_bar(0)])
        bookings.publish(state)
        rejects = state.metrics.registry.get_sample_value(
            "dita_gateway_venue_rejects_total", {"kind": "REJECT"}
        )
        assert rejects == 1
    finally:
        kernel.close()


def test_an_event_the_runtime_sets_aside_is_published_once_as_set_aside_in_the_order_booked() -> None:
    """As the gateway's own poll publishes it: the kernel raised on the fill ``STUCK_AFTER`` polls
    in a row, and the page shows it waiting for reconciling, between the fills booked before and
    after it; the poll errors are counted as that poll counts them, each raise and the setting aside."""
    venue = ReportsLater()
    kernel = Refuses(max_slots=3, venue=venue, kernel_id="bookings-set-aside")
    kernel.refused = set()
    runtime = TradingRuntime(kernel)
    runtime.add_strategy(BuysThree(name="s"))
    state = GatewayState(kernel, GatewaySettings(token="t" * 32))
    published: list[tuple[str, dict[str, Any]]] = []
    state.publish = lambda event_type, data: published.append((event_type, data))  # type: ignore[method-assign]
    bookings = RuntimeBookings(runtime)
    try:
        runtime.on_bar(bar(0))  # three orders rest; their fills (fill-0, 1, 2) come from the next poll
        kernel.refused = {"fill-1"}
        for _ in range(STUCK_AFTER + 2):  # rounds after the setting aside tell it no more
            with contextlib.suppress(RuntimeError):
                runtime.poll_venues()
            bookings.publish(state)
        told = [
            (d["event_id"], d["accepted"], d["diagnostic_code"], d["fills"], d.get("error"))
            for kind, d in published
            if kind == "venue_event"
        ]
        assert told == [
            ("fill-0", True, "OK", 1, None),
            ("fill-1", False, "SET_ASIDE", 0, "RuntimeError: cannot book fill-1"),
            ("fill-2", True, "OK", 1, None),
        ]
        (aside,) = (d for kind, d in published if kind == "venue_event" and d["event_id"] == "fill-1")
        assert (aside["state"], aside["seq"], aside["slot_id"], aside["kind"]) == (None, None, 1, "FILL")
        errors = state.metrics.registry.get_sample_value("dita_gateway_venue_poll_errors_total")
        assert errors == STUCK_AFTER
    finally:
        kernel.close()
