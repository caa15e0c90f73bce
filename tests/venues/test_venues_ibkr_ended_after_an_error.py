"""IbkrVenue: an order TWS works on after an error ib_async takes for its end (10349, a refused
cancel: ib_async marks it Cancelled) is read by TWS's own last status, so TWS's later end
reaches the kernel and ``order_status`` says it works meanwhile; an error after TWS's last
status that ends the order (201, one dita does not know) is what the order's end says."""

from __future__ import annotations

import time
from collections.abc import Callable

import test_venues_ibkr
from test_venues_ibkr import ROUTED, a_kernel, cancel_intent, entry, until
from tws_server import TwsServer

from dita import ExecutionKernel, KernelIntent, TradeStage, VenueOrder
from dita.venues.ibkr import IbkrVenue
from dita.venues.ibkr.connection import OrderHeard

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue

TIF_PRESET = (10349, "Order TIF was set to DAY based on order preset.")
NOT_CANCELLABLE = (161, "Cancel attempted when order is not in a cancellable state. Order permId ={perm_id}")


def _heard(venue: IbkrVenue, coid: str, what: Callable[[OrderHeard], bool]) -> None:
    """Wait until ib_async has read what TWS sent of the order of ``coid``: ``what`` holds of it
    (a loaded host reads TWS's messages well after TWS sent them)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(o.order_ref == coid and what(o) for o in venue._conn.heard().orders):
            return
        time.sleep(0.01)
    raise AssertionError(f"TWS's messages of {coid} not heard: {venue._conn.heard().orders}")


def _entered_after_a_10349(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> tuple[IbkrVenue, ExecutionKernel, str]:
    """A kernel's entry TWS acknowledged with the 10349 warning after it: its venue, kernel and
    client order id."""
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    tws.after_next = TIF_PRESET
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    assert [e.kind.name for e in sent.emitted_events] == ["ORDER_ACK"]
    return venue, kernel, sent.order.client_order_id


def test_an_order_tws_cancels_after_a_10349_warning_ends_in_the_kernel(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue, _kernel, coid = _entered_after_a_10349(tws, make_venue)
    tws.cancel_at_tws(coid)  # a DAY order canceled at the close
    events = until(venue.poll_events, 1, timeout=30.0)
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
    events = until(venue.poll_events, 1, timeout=30.0)
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
    _heard(venue, "k-1", lambda o: o.error_code == TIF_PRESET[0])  # the warning came
    status = venue.order_status("k-1")
    assert status is not None and status.status.name == "ACKNOWLEDGED", status
    tws.cancel_at_tws("k-1")
    _heard(venue, "k-1", lambda o: o.status_told == "Cancelled")
    status = venue.order_status("k-1")
    assert status is not None and status.status.name == "CANCELED", status


def test_an_order_tws_ends_with_an_unknown_error_after_a_10349_warning_ends_when_tws_no_longer_lists_it(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """TWS ends the order with an error dita does not know and sends no status; ib_async, which
    marked it Cancelled on the 10349, logs nothing: TWS's listing leaves it out, and TWS's status
    from before the error (Submitted) does not say otherwise."""
    venue, kernel, coid = _entered_after_a_10349(tws, make_venue)
    tws.error(coid, *ROUTED, ends=True)
    events = until(venue.poll_events, 1, timeout=30.0)
    for event in events:
        kernel.on_venue_event(event)
    assert [e.kind.name for e in events] == ["CANCEL_ACK"]
    assert kernel.slot_state(0).fsm_state != TradeStage.ENTRY_WORKING


def test_order_status_of_an_order_tws_ended_with_an_unknown_error_after_a_10349_warning_says_canceled(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue, _kernel, coid = _entered_after_a_10349(tws, make_venue)
    tws.error(coid, *ROUTED, ends=True)
    _heard(venue, coid, lambda o: o.error_code == ROUTED[0])
    until(venue.poll_events, 1, timeout=30.0)  # TWS's listing leaves the order out
    answer = venue.order_status(coid)
    assert answer is not None and answer.status.name == "CANCELED", answer


def test_a_cancel_refused_after_tws_ended_an_order_that_had_a_10349_warning_ends_it_in_the_kernel(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """TWS ends the order (a DAY order at the close), then refuses a cancel of it that crossed
    the end, both heard before the next poll: TWS's own last status, Cancelled, ends it. The
    refusal is sent by the server directly, so that both come before the poll."""
    venue, kernel, coid = _entered_after_a_10349(tws, make_venue)
    tws.cancel_at_tws(coid)
    order_id = next(o.order_id for o in tws.book.orders.values() if o.order_ref == coid)
    tws._error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
    _heard(venue, coid, lambda o: o.status_told == "Cancelled" and o.error_code == 10147)
    events = until(venue.poll_events, 1, timeout=30.0)
    for event in events:
        kernel.on_venue_event(event)
    assert [e.kind.name for e in events] == ["CANCEL_ACK"]
    assert kernel.slot_state(0).fsm_state != TradeStage.ENTRY_WORKING
    assert not venue.following()


def test_a_margin_rejection_followed_by_tws_cancelled_status_keeps_the_rejections_reason(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """TWS's 201 and its Cancelled status after it heard in one poll: the end says why."""
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    coid = sent.order.client_order_id
    tws.error(coid, 201, "Order rejected - reason:Insufficient margin", ends=True)
    tws.cancel_at_tws(coid)
    _heard(venue, coid, lambda o: o.status_told == "Cancelled")  # the error came before it
    (ended,) = until(venue.poll_events, 1, timeout=30.0)
    assert ended.kind.name == "CANCEL_ACK"
    assert ended.reason == "ibkr: TWS error 201: Order rejected - reason:Insufficient margin"


def test_an_order_tws_leaves_out_of_its_listing_ends_though_a_warning_after_its_error_left_it_working(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """A warning after the error that put the order in question has ib_async mark it working
    again (ValidationError), and TWS's last status was Submitted: TWS's listing, which leaves it
    out, says it ended."""
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    coid = sent.order.client_order_id
    tws.error(coid, *ROUTED, ends=True)
    tws.error(coid, 399, "Order message: Warning: your order will not be placed at the exchange", ends=False)
    events = until(venue.poll_events, 1, timeout=30.0)
    assert [e.kind.name for e in events] == ["CANCEL_ACK"]
    assert events[0].reason.startswith("ibkr: TWS error 10311"), events[0].reason


def test_a_rejection_of_an_order_tws_never_acknowledged_followed_by_its_cancelled_status_is_a_reject(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=0.2)
    tws.hold_next = True  # TWS books it, but says nothing of it
    assert venue.submit(VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 5.0)) == []
    tws.error("k-1", 201, "Order rejected - reason:Insufficient margin", ends=True)
    tws.cancel_at_tws("k-1")
    _heard(venue, "k-1", lambda o: o.status_told == "Cancelled")  # the error came before it
    (ended,) = until(venue.poll_events, 1, timeout=30.0)
    assert (ended.kind.name, ended.filled_size) == ("REJECT", 0.0)
    assert ended.reason == "ibkr: TWS error 201: Order rejected - reason:Insufficient margin"
