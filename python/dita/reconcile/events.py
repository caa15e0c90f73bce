"""The events reconciliation feeds the kernel, how its report names an order, and the kernel's
refusal of one of them."""

from __future__ import annotations

from typing import Any

from dita._kernel import KernelDiagnosticCode, VenueEvent, VenueOrder


class _Refused(Exception):
    """The kernel refused a reconciliation event: an outcome (nothing changed), so it leaves
    that order unresolved with the diagnostic rather than stopping the reconciliation."""

    def __init__(self, event_id: str, code: KernelDiagnosticCode, details: dict[str, Any]) -> None:
        super().__init__(f"reconciliation event {event_id} was refused: {code.name} {details}")
        self.code = code
        self.details = details
        # What became of the order at the venue after the refusal, when that was done too.
        self.then = ""

    def unresolved(self, item: dict[str, Any]) -> dict[str, Any]:
        reason = f"{self}; {self.then}" if self.then else str(self)
        return {**item, "reason": reason, "diagnostic_code": self.code.name, "details": self.details}


def _item(mine: VenueOrder) -> dict[str, Any]:
    """How the report names one of the kernel's orders."""
    return {"client_order_id": mine.client_order_id, "slot_id": mine.slot_id, "asset": mine.asset}


# The start of the ids of the events reconciliation makes (and of its fills' fill ids): they
# say what the venue holds, not what it answered an order.
EVENT_ID_PREFIX = "reconcile:"


def _venue_id(mine: VenueOrder, theirs: VenueOrder) -> str:
    """The venue id reconciliation's events name ``mine`` by: the kernel's, or the listing's
    while the kernel has none. A listing matched by client id or by the venue's form of the id
    (``listed_venue_order_id``: a market-qualified id for one an older log holds bare) may
    name it otherwise, and the kernel refuses an event under another venue id than its order
    carries."""
    return mine.venue_order_id or theirs.venue_order_id


def _event(order: VenueOrder, kind: str, seq: str, now: float, **kw: Any) -> VenueEvent:
    return VenueEvent(
        f"{EVENT_ID_PREFIX}{order.client_order_id}:{kind}:{seq}",
        order.trade_id,
        order.slot_id,
        kind,
        venue_order_id=kw.pop("venue_order_id", order.venue_order_id),
        venue_client_id=order.client_order_id,
        side=order.side,
        order_side=order.order_side,
        asset=order.asset,
        reason=kw.pop("reason", "reconciliation after restart"),
        metadata=kw.pop("metadata", {"source": "reconciliation"}),
        timestamp=now,
        **kw,
    )
