"""Venues: where orders go. The kernel calls ``submit`` and ``cancel`` and feeds back what
they return; venues that report later (fills on a websocket, say) push events with
``kernel.on_venue_event``.

``MockVenueAdapter`` is native (Rust) so the kernel can call it without touching Python.
The Python venues are ``ShadowVenue`` (nothing leaves the process), ``PaperVenue`` (fills
from quotes or bars) and ``CcxtVenue`` (live exchanges through ccxt); ``VenueRouter`` maps
venue names to adapters and routes orders by asset. See docs/concepts/venues.md.
"""

from __future__ import annotations

from dita._kernel import MockVenueAdapter
from dita.venues.ccxt import CcxtVenue, TopOfBook
from dita.venues.paper import PaperVenue
from dita.venues.protocol import (
    POLL_SECONDS,
    UnknownVenueError,
    VenueAdapter,
    VenueEventStream,
    VenueMarketInfo,
    VenueTimeout,
    VenueUnavailable,
    describe,
    order_lookup,
    order_status_asset,
    poll_once,
    venue_following,
)
from dita.venues.router import VenueRouter
from dita.venues.shadow import ShadowVenue

__all__ = [
    "POLL_SECONDS",
    "CcxtVenue",
    "MockVenueAdapter",
    "PaperVenue",
    "ShadowVenue",
    "TopOfBook",
    "UnknownVenueError",
    "VenueAdapter",
    "VenueEventStream",
    "VenueMarketInfo",
    "VenueRouter",
    "VenueTimeout",
    "VenueUnavailable",
    "describe",
    "order_lookup",
    "order_status_asset",
    "poll_once",
    "venue_following",
]
