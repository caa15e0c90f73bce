"""Which reported event made each transition of an outcome (``applied_events``): among the
events of the transition's id and kind, a fill's is the one at the price and size the kernel
booked, else the one at that price, else the first; any other transition's is the first; and
an event makes one transition only. A venue that gives two events one id (a fill resent with
another size) has the kernel refuse one: paired with that one, the fill would be reported at a
price and size the kernel never booked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from dita._kernel import KernelOutcome, VenueEvent
from dita.outcome_events import applied_events


def fill(event_id: str, price: float, size: float) -> VenueEvent:
    return VenueEvent(event_id, "t1", 0, "FILL", "PARTIALLY_FILLED", price=price, size=size, filled_size=size)


def ack(event_id: str, reason: str = "") -> VenueEvent:
    return VenueEvent(event_id, "t1", 0, "ORDER_ACK", "ACKNOWLEDGED", reason=reason)


def outcome(*transitions: tuple[str, str, dict[str, Any]]) -> KernelOutcome:
    """An outcome of ``(trigger, event_id, details)`` transitions, carrying no event of its own."""
    made = [SimpleNamespace(trigger=t, event_id=e, details=d) for t, e, d in transitions]
    return cast(KernelOutcome, SimpleNamespace(transitions=tuple(made), emitted_events=()))


def booked(price: float, qty: float) -> dict[str, Any]:
    return {"fill_qty": qty, "fill_price": price, "filled_size": qty, "order_size": 1.0}


def made_by(out: KernelOutcome, events: list[VenueEvent]) -> list[VenueEvent]:
    return [event for _, event in applied_events(out, events)]


def test_a_fill_is_paired_with_the_event_at_its_booked_price_and_size() -> None:
    events = [fill("e1", 100.0, 0.5), fill("e1", 101.0, 0.5), fill("e1", 101.0, 0.3)]
    assert made_by(outcome(("FILL", "e1", booked(101.0, 0.3))), events) == [events[2]]


def test_a_fill_at_its_booked_price_in_another_size_is_paired_with_the_first_at_that_price() -> None:
    events = [fill("e1", 100.0, 0.5), fill("e1", 101.0, 0.5), fill("e1", 101.0, 0.4)]
    assert made_by(outcome(("FILL", "e1", booked(101.0, 0.3))), events) == [events[1]]


def test_a_fill_at_no_reported_price_is_paired_with_the_first_event_of_its_id() -> None:
    events = [fill("e0", 99.0, 0.3), fill("e1", 100.0, 0.5), fill("e1", 101.0, 0.5)]
    assert made_by(outcome(("FILL", "e1", booked(102.0, 0.3))), events) == [events[1]]


def test_a_transition_that_is_no_fill_is_paired_with_the_first_event_of_its_id_and_kind() -> None:
    events = [fill("e1", 100.0, 0.5), ack("e1", "first"), ack("e1", "second")]
    assert made_by(outcome(("ORDER_ACK", "e1", {})), events) == [events[1]]


def test_an_event_makes_one_transition_only() -> None:
    events = [fill("e1", 100.0, 0.5), fill("e1", 100.0, 0.5)]
    out = outcome(("FILL", "e1", booked(100.0, 0.5)), ("FILL", "e1", booked(100.0, 0.5)), ("FILL", "e1", {}))
    assert made_by(out, events) == events
