"""What a kernel outcome did, as a strategy and a gateway client hear it: the venue events it
applied, each paired with the transition it made (``applied_events``), and each fill at the size
and fee the kernel booked of it (``booked_fill``, ``booked_events``). Read off the hot path, from
an outcome already returned; ``dita.kernel`` exports these names too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dita._kernel import KernelEventKind, KernelOutcome, KernelTransition, VenueEvent

__all__ = ["FILL_TRIGGERS", "applied_events", "booked_events", "booked_fill", "event_with"]

# The triggers of a transition a fill made: a fill books one, whether it completes its order
# or not, or comes after its order ended.
FILL_TRIGGERS = ("FILL", "PARTIAL_FILL", "LATE_FILL")


_ENDED_BY_A_FILL = ("EXPIRED", "CANCEL_ACK")  # how a fill ending its order short ends it


def _paired(
    outcome: KernelOutcome, events: Sequence[VenueEvent]
) -> list[tuple[KernelTransition, int, dict[str, Any]]]:
    """Each transition of ``outcome`` a venue event made, with the index in ``events`` of the
    event that made it and, for a fill, the transition's details (what it booked), oldest
    first."""
    # Paired by id, kind and, for a fill, price then size: a venue that gives two events one id
    # (an ack and a reject, a fill resent with another size) has the kernel refuse one, and
    # pairing by id alone would report a reject of an order the kernel works. A refused fill's
    # id stays free (beyond its order, then within it): pairing by price alone would report the
    # refused one, its fee and fill id.
    used: set[int] = set()
    paired: list[tuple[KernelTransition, int, dict[str, Any]]] = []
    # Read once: each read of a native event's field makes a new Python object.
    ids_and_kinds = [(e.event_id, e.kind.name) for e in events]
    for t in outcome.transitions:
        event_id = t.event_id
        if not event_id:
            continue
        trigger = t.trigger
        fill = trigger in FILL_TRIGGERS
        kind = "FILL" if fill else trigger
        # A throttled cancel (a rate limit on an order the venue holds) moves the order as a
        # refused cancel does, under the rate limit's id: unpaired, its reason would go untold.
        kinds = (kind, "RATE_LIMITED") if kind == "CANCEL_REJECT" else (kind,)
        booked = dict(t.details) if fill else {}
        i = _made_by(events, ids_and_kinds, used, event_id, kinds, booked if fill else None)
        if i is None and kind in _ENDED_BY_A_FILL and paired and paired[-1][0].event_id == event_id:
            # A fill that says its order is over short of its size ends it with a
            # transition of its own: made by that fill, which is not applied twice by it.
            last = paired[-1][1]
            if ids_and_kinds[last][1] == "FILL":
                paired.append((t, last, booked))
            continue
        if i is not None:
            used.add(i)
            paired.append((t, i, booked))
    return paired


def _made_by(
    events: Sequence[VenueEvent],
    ids_and_kinds: Sequence[tuple[str, str]],
    used: set[int],
    event_id: str,
    kinds: tuple[str, ...],
    booked: Mapping[str, Any] | None,
) -> int | None:
    """The index of the event not ``used`` yet that made a transition of ``event_id`` and one of
    ``kinds``: for a fill (``booked``, its details), the first of them at the booked price and
    size, else the first at that price, else the first; None when there is none."""
    first = priced = None
    for i, (id_, kind_of) in enumerate(ids_and_kinds):
        if i in used or id_ != event_id or kind_of not in kinds:
            continue
        if booked is None:
            return i  # not a fill: its price and size tell nothing
        if first is None:
            first = i
        event = events[i]
        if event.price != booked.get("fill_price"):
            continue
        if event.filled_size == booked.get("filled_size") or event.size == booked.get("fill_qty"):
            return i
        if priced is None:
            priced = i
    return priced if priced is not None else first


def applied_events(
    outcome: KernelOutcome, reported: Sequence[VenueEvent] | None = None
) -> list[tuple[KernelTransition, VenueEvent]]:
    """The venue events ``outcome`` applied, each with the transition it made, oldest first;
    ``reported``: the events ``outcome`` answers (a polled one), besides those it carries.

    ``reported`` may hold events the kernel refused (a fill sent twice or beyond its order, one
    with a NaN price, an event for an order it does not know; an answer's refused events are
    left out of the outcome's own): they moved nothing, so they are neither a fill nor an
    order's end to report."""
    events = [*(reported or ()), *outcome.emitted_events]
    return [(t, events[i]) for t, i, _ in _paired(outcome, events)]


def booked_fill(event: VenueEvent, booked: Mapping[str, Any]) -> tuple[float, float | None]:
    """The size and fee the kernel booked of fill ``event``, ``booked`` being the details of
    the transition it made: its ``fill_qty``, and the fee the kernel charged of a report booked
    in part (its ``fee_charged``, said only of those), else the event's own ``fee`` (None when
    the venue stated none). What a strategy and a gateway client hear of a fill, alike.

    A fill snapped to what its order had left, or a reconciliation's, books less than reported
    yet is charged its whole fee: no earlier report paid a part of it."""
    qty = booked.get("fill_qty")
    charged = booked.get("fee_charged")
    return (
        qty if isinstance(qty, float) else event.size,
        charged if isinstance(charged, float) else event.fee,
    )


def event_with(event: VenueEvent, changes: Mapping[str, Any]) -> VenueEvent:
    """``event`` made again with ``changes`` (its constructor's arguments; ``side`` the order's,
    as its ``to_dict()`` says it), keeping the trade's side and the venue's payload it carries."""
    made = {**event.to_dict(), **changes}
    made["order_side"] = made.pop("side")
    return VenueEvent(**made)


def booked_events(outcome: KernelOutcome, reported: Sequence[VenueEvent] = ()) -> list[VenueEvent]:
    """``reported`` and then the events ``outcome`` carries, each fill at the size and fee the
    kernel booked of it (``booked_fill``). A venue stating only its running total (``size``
    0), or resending a fill merged with the next, books other than the event says: heard as
    sent, a strategy summing its fills would hold what the kernel does not, and pay the overlap
    of a report booked in part twice."""
    events = [*reported, *outcome.emitted_events]
    if not any(e.kind == KernelEventKind.FILL for e in events):
        return events  # the transitions are not read (each read builds them anew)
    for _, i, booked_as in _paired(outcome, events):
        event = events[i]
        size, fee = booked_fill(event, booked_as)
        if size != event.size or "fee_charged" in booked_as:
            events[i] = event_with(event, {"size": size, "fee": fee})
    return events
