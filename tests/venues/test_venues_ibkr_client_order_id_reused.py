"""IbkrVenue when a kernel id runs again without its log: its orders are numbered from k-1 again,
and TWS lists the day's executions and the earlier run's working orders under the same orderRefs.
What TWS says under an orderRef is the kernel's order only when it is the order TWS gave it: by
its permId once known, else by this client's order id (a send before TWS's first answer)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, dropped, entry, feed, until
from tws_server import TwsServer, Working

from dita import TradeStage, VenueOrder, VenueOrderStatus
from dita.venues import VenueTimeout, VenueUnavailable
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def order_k1(venue_order_id: str = "") -> VenueOrder:
    """The first order of kernel ``k`` (10 AAPL at 190), as each run without its log sends it."""
    return VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 10.0, venue_order_id=venue_order_id)


def earlier_run(tws: TwsServer, make_venue: Callable[..., IbkrVenue], filled: float) -> Working:
    """A run of kernel ``k`` earlier in the day: its k-1 sent, ``filled`` of it filled at 190 by
    TWS, and the run over. Its order at TWS."""
    venue = make_venue()
    venue.submit(order_k1())
    if filled:
        tws.fill("k-1", filled, 190.0)
    venue.close()
    (earlier,) = tws.book.orders.values()
    return earlier


def latest(tws: TwsServer) -> Working:
    """The order TWS took last."""
    return tws.book.orders[max(tws.book.orders)]


def test_an_earlier_runs_execution_under_the_same_client_order_id_is_not_booked_for_the_new_order(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    earlier = earlier_run(tws, make_venue, filled=10.0)
    venue = make_venue()
    kernel = a_kernel(venue)  # no log: its first order is k-1 again
    sent = kernel.process_intent(entry())
    assert sent.order is not None and sent.order.client_order_id == "k-1"
    new = latest(tws)
    events = [*sent.emitted_events, *until(venue.poll_events, 1, timeout=0.5)]
    assert [(e.kind.name, e.venue_order_id) for e in events] == [("ORDER_ACK", str(new.perm_id))]
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    (execution,) = tws.book.executions
    said = (
        f"TWS's execution {execution.exec_id} of 10 under orderRef 'k-1' is of TWS's order permId"
        f" {earlier.perm_id}, client {earlier.client_id} order id {earlier.order_id}, not of the"
        " kernel's order 'k-1' ("
    )
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and said in r.getMessage()]
    assert len(warned) == 1, caplog.text  # once, though TWS lists it with every reading
    assert f"client {new.client_id} order id {new.order_id}): not booked" in warned[0].getMessage()

    mine = tws.fill("k-1", 4.0, 189.5, order_id=new.order_id)  # the new order's own is booked
    (fill,) = feed(kernel, venue, 1)
    assert (fill.kind.name, fill.fill_id, fill.size) == ("FILL", mine, 4.0)
    assert kernel.slot_state(0).size == pytest.approx(4.0)


def test_an_execution_of_the_new_order_before_tws_first_status_of_it_is_booked(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """Before TWS's first status the order's permId is not known: its execution is matched by
    this client's order id, and the earlier run's under the same orderRef is not."""
    earlier_run(tws, make_venue, filled=10.0)
    venue = make_venue(answer_wait_s=0.1)
    kernel = a_kernel(venue)
    tws.hold_next = True  # TWS takes the order and says nothing of it yet
    sent = kernel.process_intent(entry())
    new = latest(tws)
    mine = tws.fill("k-1", 4.0, 189.5, order_id=new.order_id)  # its execution, then its status
    events = [*sent.emitted_events, *until(venue.poll_events, 2, timeout=2.0)]
    assert [(e.kind.name, e.fill_id, e.venue_order_id) for e in events] == [
        ("ORDER_ACK", "", str(new.perm_id)),
        ("FILL", mine, str(new.perm_id)),
    ]
    for event in events:
        assert kernel.on_venue_event(event).accepted, event
    assert kernel.slot_state(0).size == pytest.approx(4.0)


def test_order_status_counts_only_the_executions_of_the_order_tws_gave_it(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """The new k-1, canceled at TWS unfilled, filled nothing: reconciliation, which books what
    ``order_status`` counts as missed fills, would book the earlier k-1's 10 shares."""
    earlier_run(tws, make_venue, filled=10.0)
    venue = make_venue()
    venue.submit(order_k1())
    new = latest(tws)
    tws.cancel_at_tws("k-1", order_id=new.order_id)
    assert [(e.kind.name, e.filled_size) for e in until(venue.poll_events, 1)] == [("CANCEL_ACK", 0.0)]
    status = venue.order_status("k-1")
    assert status is not None
    assert (status.status, status.filled_size, status.venue_order_id) == (
        VenueOrderStatus.CANCELED, 0.0, str(new.perm_id),
    )  # fmt: skip


def test_order_status_does_not_take_an_earlier_runs_working_order_for_the_new_one(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    earlier = earlier_run(tws, make_venue, filled=0.0)  # works on at TWS
    venue = make_venue()
    venue.submit(order_k1())
    new = latest(tws)
    tws.fill("k-1", 10.0, 189.5, order_id=new.order_id)
    assert [e.kind.name for e in until(venue.poll_events, 1)] == ["FILL"]
    status = venue.order_status("k-1")
    assert status is not None
    assert (status.status, status.filled_size, status.venue_order_id) == (
        VenueOrderStatus.FILLED, 10.0, str(new.perm_id),
    )  # fmt: skip
    assert earlier.status == "Submitted"


def test_an_earlier_runs_working_order_under_the_same_client_order_id_neither_acks_nor_ends_the_new_one(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    earlier = earlier_run(tws, make_venue, filled=0.0)  # works on at TWS, listed at the connect
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    new = latest(tws)
    assert [(e.kind.name, e.venue_order_id) for e in sent.emitted_events] == [("ORDER_ACK", str(new.perm_id))]
    tws.cancel_at_tws("k-1", order_id=earlier.order_id)  # an operator cancels the earlier one
    assert until(venue.poll_events, 1, timeout=1.0) == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    tws.cancel_at_tws("k-1", order_id=new.order_id)  # the new one ends as ever
    assert [e.kind.name for e in feed(kernel, venue, 1)] == ["CANCEL_ACK"]


def test_a_cancel_after_a_restart_goes_to_the_order_of_the_kernels_venue_order_id(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """A kernel with its log follows its k-1 (venue order id its permId) after a restart, while an
    earlier run's k-1, without a log, works on at TWS: a cancel names TWS's order id of the first."""
    earlier = earlier_run(tws, make_venue, filled=0.0)
    venue = make_venue()
    venue.submit(order_k1())
    venue.close()
    new = latest(tws)

    after = make_venue()
    (ended,) = after.cancel(order_k1(venue_order_id=str(new.perm_id)))
    assert (ended.kind.name, ended.venue_order_id) == ("CANCEL_ACK", str(new.perm_id))
    assert (new.status, earlier.status) == ("Cancelled", "Submitted")


def test_a_reconnect_ends_the_new_order_tws_no_longer_lists_though_it_lists_an_earlier_runs_of_its_id(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    earlier_run(tws, make_venue, filled=0.0)  # works on at TWS
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert [e.kind.name for e in sent.emitted_events] == ["ORDER_ACK"]
    new = latest(tws)
    dropped(tws, venue)
    tws.cancel_at_tws("k-1", order_id=new.order_id)  # nobody connected: told to no one
    # The poll reconnects; TWS lists the earlier k-1 working, not the new one.
    assert [e.kind.name for e in feed(kernel, venue, 1)] == ["CANCEL_ACK"]
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE


def taken(tws: TwsServer, orders: int) -> Working:
    """The order TWS took last, once it holds ``orders`` (a send the client's loop did not
    confirm reaches TWS a moment later)."""
    deadline = time.monotonic() + 3.0
    while len(tws.book.orders) < orders and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(tws.book.orders) == orders
    return latest(tws)


def settles(done: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert done()


def test_the_own_execution_of_a_timed_out_submit_is_booked_beside_an_earlier_runs_working_order_of_its_id(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """The send's order id is reserved before it goes out: a submit whose answer the client's
    loop did not give is matched by it, not by its orderRef, which the earlier k-1 shares."""
    earlier = earlier_run(tws, make_venue, filled=0.0)  # works on at TWS
    venue = make_venue()
    real_call = venue._conn.call

    def loop_late(fn: Any, *args: Any, **kw: Any) -> Any:
        answer = real_call(fn, *args, **kw)
        if getattr(fn, "__name__", "") == "placeOrder":
            raise TimeoutError  # sent, but the loop's answer came too late
        return answer

    venue._conn.call = loop_late  # type: ignore[method-assign]
    with pytest.raises(VenueTimeout):
        venue.submit(order_k1())
    venue._conn.call = real_call  # type: ignore[method-assign]
    new = taken(tws, 2)
    assert [(e.kind.name, e.venue_order_id) for e in until(venue.poll_events, 1)] == [
        ("ORDER_ACK", str(new.perm_id))
    ]
    mine = tws.fill("k-1", 4.0, 189.5, order_id=new.order_id)
    assert [(e.kind.name, e.fill_id, e.size) for e in until(venue.poll_events, 1)] == [("FILL", mine, 4.0)]
    tws.cancel_at_tws("k-1", order_id=earlier.order_id)  # the earlier one's end ends nothing
    assert until(venue.poll_events, 1, timeout=0.5) == []


def test_an_order_followed_without_a_venue_order_id_is_not_canceled_when_tws_lists_two_under_its_id(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """A run that sent k-1 and stopped before TWS's answer was logged leaves its kernel an order
    without a venue order id; TWS also lists an earlier run's k-1: which is the kernel's cannot be
    told by the orderRef, and neither is canceled for it."""
    earlier = earlier_run(tws, make_venue, filled=0.0)
    second = make_venue()
    second.submit(order_k1())
    second.close()
    new = latest(tws)

    venue = make_venue()
    venue.watch(order_k1())
    (refused,) = venue.cancel(order_k1())
    assert refused.kind.name == "CANCEL_REJECT"
    assert "TWS tells of 2 orders under orderRef 'k-1'" in refused.reason, refused.reason
    assert (earlier.status, new.status) == ("Submitted", "Submitted")


def test_open_orders_lists_an_earlier_runs_order_beside_the_kernels_under_no_client_order_id(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """Listed under k-1, reconciliation would take it for the kernel's k-1 once that one is over
    at TWS, and book its fills."""
    earlier = earlier_run(tws, make_venue, filled=3.0)  # works on at TWS
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    new = latest(tws)
    listed = sorted((o.client_order_id, o.venue_order_id, o.slot_id, o.trade_id) for o in venue.open_orders())
    assert listed == [("", str(earlier.perm_id), 0, ""), ("k-1", str(new.perm_id), 0, sent.order.trade_id)]


def test_reconciliation_books_no_fill_of_an_earlier_runs_order_once_the_kernels_of_its_id_ended_unheard(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    earlier = earlier_run(tws, make_venue, filled=3.0)  # works on at TWS, 3 filled
    venue = make_venue()
    kernel = a_kernel(venue)
    kernel.process_intent(entry())
    new = latest(tws)
    tws.cancel_at_tws("k-1", order_id=new.order_id)  # not yet polled: the kernel works it on
    report = kernel.reconcile_with_venue()
    assert report.missed_fills == [], report
    assert [(o["client_order_id"], o["status"]) for o in report.ended_at_venue] == [("k-1", "CANCELED")], (
        report
    )
    assert (kernel.slot_state(0).fsm_state, kernel.slot_state(0).size) == (TradeStage.IDLE, 0.0)
    # Another's order to reconciliation: left working unless told to cancel others' orders.
    assert [(o["client_order_id"], o["venue_order_id"]) for o in report.foreign_orders_left] == [
        ("", str(earlier.perm_id))
    ]
    assert earlier.status == "Submitted"


def test_a_cancel_of_an_earlier_runs_order_listed_under_no_client_order_id_cancels_it(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """As reconciliation cancels an order of another's (``cancel_foreign_orders``)."""
    earlier = earlier_run(tws, make_venue, filled=0.0)
    venue = make_venue()
    venue.submit(order_k1())
    new = latest(tws)
    (other,) = [o for o in venue.open_orders() if not o.client_order_id]
    (ended,) = venue.cancel(other)
    assert (ended.kind.name, ended.venue_order_id) == ("CANCEL_ACK", str(earlier.perm_id))
    assert (earlier.status, new.status) == ("Cancelled", "Submitted")


def test_a_cancel_naming_another_permid_than_the_kernels_order_of_its_client_order_id_cancels_that_order(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """Reconciliation cancels an earlier run's order listed under k-1 (after a restart, before the
    venue follows the kernel's k-1) as one nobody manages: the venue's k-1 is not it."""
    earlier = earlier_run(tws, make_venue, filled=0.0)
    venue = make_venue()
    venue.submit(order_k1())
    new = latest(tws)
    assert venue.cancel(order_k1(venue_order_id=str(earlier.perm_id))) == []  # not the kernel's: not followed
    settles(lambda: earlier.status == "Cancelled")
    assert new.status == "Submitted"
    assert until(venue.poll_events, 1, timeout=0.5) == []


def test_the_venue_tells_reconciliation_an_order_listed_under_the_kernels_id_with_another_permid_is_another(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    mine = order_k1(venue_order_id="1700000002")
    assert venue.is_other_order(mine, order_k1(venue_order_id="1700000001"))
    assert not venue.is_other_order(mine, order_k1(venue_order_id="1700000002"))
    assert not venue.is_other_order(order_k1(), order_k1(venue_order_id="1700000001"))  # cannot tell


def test_reconciliation_leaves_an_order_without_a_venue_order_id_unresolved_when_tws_lists_two_under_its_id(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """Neither of TWS's orders under k-1 can be told for the kernel's k-1, sent and not answered
    before a restart: none is booked, canceled or taken for lost."""
    earlier_run(tws, make_venue, filled=3.0)
    second = make_venue()
    second.submit(order_k1())
    second.close()

    venue = make_venue()
    venue.watch(order_k1())
    with pytest.raises(VenueUnavailable, match="TWS tells of 2 orders under orderRef 'k-1'"):
        venue.order_status("k-1")
    assert sorted(o.client_order_id for o in venue.open_orders()) == ["k-1", "k-1"]


def test_reconciliation_after_a_restart_reports_an_earlier_runs_order_of_a_reused_id_as_another(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """An earlier run without a log left k-1 working at TWS, 3 filled; the kernel, now with its
    log, sent its own k-1, which TWS cancelled unfilled while the process was down. After the
    restart TWS lists only the earlier k-1 under that orderRef, before the venue follows the
    kernel's: reconciliation asks the venue (``is_other_order``, by permId), books nothing of it
    and reports it left working as another's."""
    earlier = earlier_run(tws, make_venue, filled=3.0)
    first_venue = make_venue()
    first = a_kernel(first_venue, tmp_path)
    sent = first.process_intent(entry())
    assert sent.order is not None and sent.order.client_order_id == "k-1"
    new = latest(tws)
    first.close()
    first_venue.close()
    del first
    gc.collect()
    tws.cancel_at_tws("k-1", order_id=new.order_id)

    kernel = a_kernel(make_venue(), tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.missed_fills == [], report
    assert kernel.slot_state(0).size == 0.0
    assert [item["venue_order_id"] for item in report.foreign_orders_left] == [str(earlier.perm_id)]
    assert earlier.status == "Submitted"  # left working: not the kernel's to cancel
