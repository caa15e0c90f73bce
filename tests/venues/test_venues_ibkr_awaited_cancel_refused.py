"""IbkrVenue: an order of 10 the kernel was told ended with 4 filled (none of it booked) still
works at TWS after a restart. Reconciliation's cancel is refused, yet its answer carries the
execution of 4 (the restarted adapter was told the order with nothing booked): the order stays
the kernel's, awaited, and once TWS cancels it a reconciliation books all it filled."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, entry, until
from tws_server import TwsServer

from dita import VenueEvent
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def test_an_awaited_order_whose_cancel_tws_refuses_stays_awaited_and_is_booked_in_full_once_canceled(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    first_venue = make_venue(time_in_force="GTC")
    first = a_kernel(first_venue, tmp_path)
    sent = first.process_intent(entry())
    assert sent.order is not None
    coid = sent.order.client_order_id
    tws.fill(coid, 4.0, 190.0, reported=False)
    ended = VenueEvent("c1", "tr-1", 0, "CANCEL_ACK", venue_client_id=coid, filled_size=4.0)
    assert first.on_venue_event(ended).accepted
    first.close()
    first_venue.close()
    del first
    gc.collect()

    tws.refuse_cancels = True
    tws.cancel_refusal = (100, "Max rate of messages per second has been exceeded: order {order_id}")
    venue = make_venue(time_in_force="GTC")
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    # Not canceled: TWS may work it on, so it stays the kernel's, and nothing of it is booked.
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    assert kernel.slot_state(0).size == pytest.approx(0.0)
    assert [u["client_order_id"] for u in report.unresolved] == [coid]
    assert report.missed_fills == []

    tws.fill(coid, 3.0, 191.0)
    for event in until(venue.poll_events, 1, timeout=2.0):
        kernel.on_venue_event(event)  # beyond the end's 4: refused, booked once the order is over
    tws.refuse_cancels = False
    again = kernel.reconcile_with_venue()
    assert kernel.awaited_orders() == []
    assert kernel.slot_state(0).size == pytest.approx(7.0)
    assert sum(m["qty"] for m in again.missed_fills) == pytest.approx(7.0)
