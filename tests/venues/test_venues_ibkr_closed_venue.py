"""IbkrVenue after close(): a submit is refused with nothing sent, and the other calls raise
VenueUnavailable, each naming the closed venue (not asyncio's closed event loop)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("ib_async")

import test_venues_ibkr
from tws_server import TwsServer

from dita import VenueOrder
from dita.venues import VenueUnavailable
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def test_a_closed_venue_refuses_a_submit_with_nothing_sent_saying_it_is_closed(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    venue.close()
    order = VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 1.0)
    (refused,) = venue.submit(order)
    assert refused.kind.name == "REJECT"
    assert "nothing sent" in refused.reason and "the venue is closed" in refused.reason
    assert tws.book.orders == {}
    for call in (venue.poll_events, venue.positions, venue.open_orders, lambda: venue.cancel(order)):
        with pytest.raises(VenueUnavailable, match="ibkr: the venue is closed"):
            call()
    assert venue.account_events() == []
