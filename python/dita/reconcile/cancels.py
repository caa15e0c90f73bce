"""Cancels at the venue: reading the venue's answer to a cancel, and cancelling an order the kernel
ended while the venue works it."""

from __future__ import annotations

from typing import Any

from dita._kernel import VenueEvent, VenueOrder
from dita.reconcile.answers import _finite


def _cancel_refused(answer: Any) -> str:
    """Why a venue's answer to a cancel does not show the order canceled (a CANCEL_REJECT, a
    REJECT or a rate limit, and no CANCEL_ACK or EXPIRED beside it); "" when it was, or when
    the venue answers later (no events). An answer that raised part-way or holds an item that is
    not an event says nothing for certain, so the order may still work: that is the reason."""
    try:
        events = list(answer or ())
    except Exception as exc:
        return f"the venue's answer to the cancel broke off: {type(exc).__name__}: {exc}"
    for event in events:
        if not isinstance(event, VenueEvent):
            return f"the venue's answer to the cancel is malformed: it holds {event!r}, not a VenueEvent"
    kinds = {ev.kind.name: ev for ev in events}
    if "CANCEL_ACK" in kinds or "EXPIRED" in kinds:
        return ""
    for kind in ("CANCEL_REJECT", "REJECT", "RATE_LIMITED"):
        if kind in kinds:
            why = kinds[kind].reason
            return f"the venue answered the cancel with {kind}" + (f": {why}" if why else "")
    return ""


def _cancel_at_venue(venue: Any, theirs: VenueOrder, how: str) -> tuple[float | None, str, list[VenueEvent]]:
    """Cancels at the venue an order the kernel ended while it works there (``how`` it came to:
    its cancel throttled before the ack, say): the filled size the venue's cancel (or its
    listing) states, or None and why the order may still work (the cancel raised or was
    refused, or the venue did not say it is canceled); and the fills the cancel's answer
    reports (a venue reports there what filled since it last said, and not again)."""
    prefix = f"the order works at the venue, though the kernel ended it ({how})"
    try:
        answer = list(venue.cancel(theirs) or ())
    except Exception as exc:
        return None, f"{prefix}; its cancel failed: {type(exc).__name__}: {exc}", []
    why_not = _cancel_refused(answer)
    # The fills come with a refusal too (the order filled before the cancel reached it), but
    # only from an answer whose every item is an event (else nothing in it is certain).
    certain = all(isinstance(ev, VenueEvent) for ev in answer)
    fills = [ev for ev in answer if ev.kind.name == "FILL"] if certain else []
    if why_not:
        return None, f"{prefix}; {why_not}", fills
    ends = [ev for ev in answer if ev.kind.name in ("CANCEL_ACK", "EXPIRED")]
    if not ends:
        return None, f"{prefix}; its cancel was sent, and the venue has not said it is canceled yet", fills
    return _highest_filled(theirs, [*ends, *fills]), "", fills


def _highest_filled(theirs: VenueOrder, events: list[VenueEvent]) -> float:
    """The highest filled size the venue states of an order: its listing's, or one of
    ``events`` (a cancel's answer, which may be newer), those that are numbers."""
    figures = [theirs.filled_size, *(ev.filled_size for ev in events)]
    return max(f for f in figures if _finite(f))
