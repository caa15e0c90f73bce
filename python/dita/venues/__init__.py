"""Venues: where orders go. The kernel calls ``submit`` and ``cancel`` and feeds back what
they return; venues that report later (fills on a websocket, say) push events with
``kernel.on_venue_event``.

``MockVenueAdapter`` is native (Rust) so the kernel can call it without touching Python.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from dita._kernel import MockVenueAdapter, VenueEvent, VenueOrder

__all__ = ["MockVenueAdapter", "VenueAdapter", "VenueTimeout"]


class VenueTimeout(Exception):
    """A submit or cancel whose outcome is unknown. The kernel keeps the order in flight
    (ORDER_SENT / EXIT_SENT) until the venue says what happened; it never assumes a reject."""


@runtime_checkable
class VenueAdapter(Protocol):
    name: str

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        """Send ``order``; return what the venue said synchronously (may be empty)."""

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        """Ask the venue to cancel ``order``; return what it said synchronously."""

    def open_orders(self) -> list[VenueOrder]: ...

    def positions(self) -> dict[str, float]: ...


def describe(venue: Any) -> str:
    return getattr(venue, "name", type(venue).__name__)
