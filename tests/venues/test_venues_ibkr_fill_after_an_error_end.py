"""IbkrVenue: TWS's error ending a part-filled order (201, 202) states no filled size, so an
execution that raced the end and comes after it is booked, not refused as an overfill."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("ib_async")

import test_venues_ibkr
from test_venues_ibkr import a_kernel, entered, feed, until
from tws_server import TwsServer

from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


@pytest.mark.parametrize(
    ("code", "message"),
    [(201, "Order rejected - reason:Insufficient margin"), (202, "Order Canceled - reason:")],
)
def test_an_execution_that_raced_an_error_ending_a_part_filled_order_is_booked(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], code: int, message: str
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.fill(coid, 4.0, 190.0)
    feed(kernel, venue, 1)
    tws.error(coid, code, message, ends=True)  # no status follows, as with TWS
    (ended,) = feed(kernel, venue, 1)
    assert ended.kind.name == "CANCEL_ACK"

    tws.fill(coid, 3.0, 190.0)  # executed at the exchange before the end
    (late,) = until(venue.poll_events, 1)
    assert (late.kind.name, late.size) == ("FILL", 3.0)
    assert kernel.on_venue_event(late).accepted
    assert kernel.slot_state(0).size == pytest.approx(7.0)
