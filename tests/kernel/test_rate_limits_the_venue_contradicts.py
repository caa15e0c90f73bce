"""A venue that answers RATE_LIMITED and then shows it holds the order after all, stamping its
order id on every event as the original kernel's adapters did: the order is never forgotten
while the venue may still show it. Its ack or fill puts it in doubt (CRITICAL, the slot sends
no other order until it is settled), and a rate limit is taken as the end of a submit only
when nothing shows the venue holds the order."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import (
    ExecutionKernel,
    KernelDiagnosticCode,
    KernelSeverity,
    TradeSide,
    TradeStage,
    VenueEvent,
    VenueOrder,
)


def said(order: Any, event_id: str, kind: str, **kw: Any) -> VenueEvent:
    """The venue's event about ``order``, stamped with its venue id ``v-<client id>``."""
    kw.setdefault("venue_order_id", "v-" + order.client_order_id)
    return VenueEvent(
        event_id, order.trade_id, order.slot_id, kind, venue_client_id=order.client_order_id,
        timestamp=1_700_000_100.0, **kw,
    )  # fmt: skip


def filled(order: Any, event_id: str, size: float) -> VenueEvent:
    left = order.size - size
    return said(order, event_id, "FILL", price=100.0, size=size, filled_size=size, remaining_size=left)


def kernel_sending(entry: bool, venue: Any = None) -> tuple[ExecutionKernel, Any]:
    """A kernel over a venue answering later, and its slot 0's entry sent, or (``entry``
    False) its exit of the 1 BTC the slot holds."""
    k = ExecutionKernel(max_slots=1, venue=venue or SilentVenue())
    k.set_seed_capital(10_000.0)
    o = k.process_intent(intent("ENTER", 0)).order
    if entry:
        return k, o
    k.on_venue_event(said(o, "a0", "ORDER_ACK"))
    k.on_venue_event(filled(o, "f0", 1.0))
    return k, k.process_intent(intent("EXIT", 0)).order


def sent_again(k: ExecutionKernel, entry: bool) -> Any:
    return k.process_intent(intent("ENTER", 0, trade_id="t-again") if entry else intent("EXIT", 0))


@pytest.mark.parametrize("entry", [True, False], ids=["entry", "exit"])
def test_an_ack_after_a_rate_limit_ended_the_order_puts_it_in_doubt(entry: bool) -> None:
    k, o = kernel_sending(entry)
    limited = k.on_venue_event(said(o, "r1", "RATE_LIMITED", retry_after=1.0))
    assert (limited.accepted, limited.diagnostic_code) == (False, KernelDiagnosticCode.RATE_LIMITED)
    ack = k.on_venue_event(said(o, "a1", "ORDER_ACK"))
    assert ack.accepted and ack.severity == KernelSeverity.CRITICAL, ack.details
    assert "RATE_LIMITED" in ack.details["order_kept"] and "slot_waits" in ack.details
    assert [d.client_order_id for d in k.orders_in_doubt()] == [o.client_order_id]
    again = sent_again(k, entry)
    assert (again.accepted, again.diagnostic_code) == (False, KernelDiagnosticCode.SLOT_BUSY), again.details
    # Its fills book as a kept order's: the position the venue holds is the kernel's.
    fill = k.on_venue_event(filled(o, "f1", 1.0))
    assert fill.accepted and fill.details["late_fill"], fill.details
    assert k.slot_state(0).size == (1.0 if entry else 0.0)
    assert k.orders_in_doubt() == []


@pytest.mark.parametrize("entry", [True, False], ids=["entry", "exit"])
def test_a_fill_after_a_rate_limit_ended_the_order_is_booked_leaving_the_rest_in_doubt(entry: bool) -> None:
    k, o = kernel_sending(entry)
    k.on_venue_event(said(o, "r1", "RATE_LIMITED", retry_after=1.0))
    fill = k.on_venue_event(filled(o, "f1", 0.4))
    assert fill.accepted and fill.severity == KernelSeverity.CRITICAL, fill.details
    assert k.slot_state(0).size == pytest.approx(0.4 if entry else 0.6)
    assert [d.client_order_id for d in k.orders_in_doubt()] == [o.client_order_id]
    assert sent_again(k, entry).diagnostic_code == KernelDiagnosticCode.SLOT_BUSY


def test_a_submit_answered_rate_limited_then_acknowledged_says_the_order_is_in_doubt() -> None:
    """The venue throttled, then took the order in the same answer: the intent is still
    refused RATE_LIMITED, but CRITICAL and saying the slot waits, not "send it again"."""

    class LimitedThenAcked(SilentVenue):
        def submit(self, order: Any) -> list[VenueEvent]:
            return [said(order, "s0", "RATE_LIMITED", retry_after=1.0), said(order, "s1", "ORDER_ACK")]

    k = ExecutionKernel(max_slots=1, venue=LimitedThenAcked())
    k.set_seed_capital(10_000.0)
    out = k.process_intent(intent("ENTER", 0))
    assert (out.accepted, out.diagnostic_code, out.severity) == (
        False, KernelDiagnosticCode.RATE_LIMITED, KernelSeverity.CRITICAL,
    ), out.details  # fmt: skip
    assert "slot_waits" in out.details and out.details["retry_after_ms"] == 1000.0
    assert len(k.orders_in_doubt()) == 1
    assert sent_again(k, True).diagnostic_code == KernelDiagnosticCode.SLOT_BUSY


@pytest.mark.parametrize("entry", [True, False], ids=["entry", "exit"])
def test_a_rate_limit_under_the_venue_id_of_an_order_asked_to_cancel_before_its_ack_puts_it_in_doubt(
    entry: bool,
) -> None:
    """The throttled request may be the submit or the cancel, whatever id the venue stamps on
    it: the order is in doubt, reconciled, rather than its slot left sent for good."""
    k, o = kernel_sending(entry)
    assert k.process_intent(intent("CANCEL", 0)).accepted
    out = k.on_venue_event(said(o, "r1", "RATE_LIMITED", retry_after=1.0))
    assert out.diagnostic_code == KernelDiagnosticCode.RATE_LIMITED and "slot_waits" in out.details
    assert k.slot_state(0).fsm_state not in (TradeStage.ORDER_SENT, TradeStage.EXIT_SENT)
    assert [d.client_order_id for d in k.orders_in_doubt()] == [o.client_order_id]


@pytest.mark.parametrize("stage", ["ENTRY_WORKING", "ORDER_SENT"])
def test_a_rate_limit_does_not_end_a_loaded_order_carrying_its_venue_id(stage: str) -> None:
    """A loaded entry (status NEW, as a loaded order defaults) carrying the venue's id, or
    working: the venue holds it, so a rate limit with no cancel asked ends nothing and its
    fill is booked."""
    k = ExecutionKernel(max_slots=1, venue=SilentVenue())
    k.set_seed_capital(10_000.0)
    order = VenueOrder(
        venue_client_id="c-loaded", venue_order_id="v-9", internal_trade_id="t0", side=TradeSide.LONG,
        intended_size=1.0, slot_id=0, asset="BTCUSDT", is_entry=True,
    )  # fmt: skip
    fields = {"trade_id": "t0", "asset": "BTCUSDT", "side": "LONG", "fsm_state": stage, "entry_price": 100.0}
    k.set_slot_fields(0, {**fields, "active_entry_order": order.to_dict()})
    ids = {"venue_client_id": "c-loaded", "venue_order_id": "v-9", "timestamp": 1_700_000_100.0}
    limited = k.on_venue_event(VenueEvent("r1", "t0", 0, "RATE_LIMITED", retry_after=1.0, **ids))
    assert limited.diagnostic_code == KernelDiagnosticCode.INVALID_TRANSITION, limited.details
    out = k.on_venue_event(
        VenueEvent("f1", "t0", 0, "FILL", price=100.0, size=1.0, filled_size=1.0, status="FILLED", **ids)
    )
    assert out.accepted and k.slot_state(0).size == 1.0, (out.diagnostic_code, out.details)


def test_a_throttled_exit_does_not_forget_an_earlier_exit_whose_fill_may_still_come() -> None:
    k, x1 = kernel_sending(False)
    k.on_venue_event(said(x1, "ax1", "ORDER_ACK"))
    k.on_venue_event(filled(x1, "fx1", 0.5))
    k.on_venue_event(said(x1, "cx1", "CANCEL_ACK", filled_size=0.0))  # no figure: a fill may race it
    x2 = k.process_intent(intent("EXIT", 0)).order
    limited = k.on_venue_event(said(x2, "r2", "RATE_LIMITED", retry_after=1.0, venue_order_id=""))
    assert (limited.accepted, limited.diagnostic_code) == (False, KernelDiagnosticCode.RATE_LIMITED)
    late = k.on_venue_event(
        said(x1, "fx1b", "FILL", price=100.0, size=0.2, filled_size=0.7, remaining_size=0.3)
    )
    assert late.accepted and late.details["late_fill"], late.details
    assert k.slot_state(0).size == pytest.approx(0.3)
