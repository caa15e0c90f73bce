"""IbkrVenue: TWS's error 321 (a request it does not validate: its API in Read-Only mode, an
account it does not know) about a new order it never worked ends the order as a REJECT in TWS's
words, freeing the slot; about an order TWS works, it is a warning."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("ib_async")

import test_venues_ibkr
from test_venues_ibkr import a_kernel, entry, until
from tws_server import TwsServer

from dita import TradeStage, VenueEvent
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue

READ_ONLY = "Error validating request.-'cc' : cause - The API interface is currently in Read-Only mode."


def test_an_order_tws_refuses_with_321_before_working_it_ends_as_a_reject_freeing_the_slot(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=0.5)
    kernel = a_kernel(venue)
    tws.error_next = (321, READ_ONLY)
    out = kernel.process_intent(entry())
    events: list[VenueEvent] = list(out.emitted_events)
    if not events:
        for event in until(venue.poll_events, 1, timeout=5.0):
            assert kernel.on_venue_event(event).accepted
            events.append(event)
    assert [e.kind.name for e in events] == ["REJECT"]
    assert events[0].reason == f"ibkr: TWS error 321: {READ_ONLY}"
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE
    assert not venue.following()


def test_a_321_about_an_order_tws_works_leaves_it_working(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    tws.after_next = (321, READ_ONLY)
    out = kernel.process_intent(entry())
    assert [e.kind.name for e in out.emitted_events] == ["ORDER_ACK"]
    assert until(venue.poll_events, 1, timeout=0.5) == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert venue.following()
