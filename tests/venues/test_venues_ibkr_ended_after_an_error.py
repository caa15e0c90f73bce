"""IbkrVenue: an order TWS works on after an error ib_async takes for its end (10349, a refused
cancel: ib_async marks it Cancelled) is read by TWS's own last status, so TWS's later end
reaches the kernel and ``order_status`` says it works meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable

import test_venues_ibkr
from test_venues_ibkr import a_kernel, cancel_intent, entry, until
from tws_server import TwsServer

from dita import KernelIntent, TradeStage, VenueOrder
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue

TIF_PRESET = (10349, "Order TIF was set to DAY based on order preset.")
NOT_CANCELLABLE = (161, "Cancel attempted when order is not in a cancellable state. Order permId ={perm_id}")


def test_an_order_tws_cancels_after_a_10349_warning_ends_in_the_kernel(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    tws.after_next = TIF_PRESET
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    assert [e.kind.name for e in sent.emitted_events] == ["ORDER_ACK"]
    tws.cancel_at_tws(sent.order.client_order_id)  # a DAY order canceled at the close
    events = until(venue.poll_events, 1, timeout=3.0)
    assert [e.kind.name for e in events] == ["CANCEL_ACK"]


def test_an_order_tws_cancels_after_refusing_a_cancel_ends_in_the_kernel_and_frees_its_slot(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    tws.refuse_cancels = True
    tws.cancel_refusal = NOT_CANCELLABLE
    (refused,) = kernel.process_intent(cancel_intent()).emitted_events
    assert refused.kind.name == "CANCEL_REJECT"
    tws.refuse_cancels = False
    tws.cancel_refusal = (10147, "OrderId {order_id} that needs to be cancelled is not found.")
    tws.cancel_at_tws(sent.order.client_order_id)
    events = until(venue.poll_events, 1, timeout=3.0)
    assert [e.kind.name for e in events] == ["CANCEL_ACK"]
    for event in events:
        assert kernel.on_venue_event(event).accepted
    again = KernelIntent("c2", "tr-1", 0, "AAPL", "LONG", "CANCEL", 0.0, 0.0, timestamp=time.time())
    kernel.process_intent(again)
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE


def test_order_status_of_an_order_working_after_a_10349_warning_says_working(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    tws.after_next = TIF_PRESET
    (ack,) = venue.submit(VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 5.0))
    assert ack.kind.name == "ORDER_ACK"
    time.sleep(0.3)  # the warning comes
    status = venue.order_status("k-1")
    assert status is not None and status.status.name == "ACKNOWLEDGED", status
    tws.cancel_at_tws("k-1")
    time.sleep(0.3)
    status = venue.order_status("k-1")
    assert status is not None and status.status.name == "CANCELED", status
