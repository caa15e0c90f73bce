"""IbkrVenue: a fill reconciliation books of an IBKR order is its execution (``trade_fills``),
under its execId, so TWS's commission report of it settles the fill the kernel holds: the
kernel's fees are TWS's commissions, not the predicted fee of a fill booked from the order's
figures under an id of reconciliation's own."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, commissions, entered, entry, feed, until
from tws_server import TwsServer

from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def heard(venue: IbkrVenue, what: Callable[[], bool]) -> None:
    """Wait until ib_async read what TWS sent (``what``), no poll in between."""
    deadline = time.monotonic() + 10
    while not what() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert what()


def test_a_fill_made_while_the_process_was_down_and_booked_by_reconciliation_is_settled_at_twss_commission(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    first_venue = make_venue()
    first = a_kernel(first_venue, tmp_path)
    sent = first.process_intent(entry())
    assert sent.order is not None
    coid = sent.order.client_order_id
    tws.fill(coid, 4.0, 190.0, commission=1.0)
    feed(first, first_venue, 1)
    for fee in commissions(first_venue, 1):
        assert first.on_account_event(fee).accepted
    first.close()
    first_venue.close()
    del first
    gc.collect()

    made_meanwhile = tws.fill(coid, 3.0, 189.0, commission=0.75)
    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["fill_id"]) for m in report.missed_fills] == [(pytest.approx(3.0), made_meanwhile)]
    assert until(venue.poll_events, 1, timeout=0.5) == []  # booked by reconciliation, not again
    for fee in commissions(venue, 2, timeout=3.0):
        kernel.on_account_event(fee)
    assert kernel.slot_state(0).size == pytest.approx(7.0)
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.75)


def test_a_fill_read_before_a_reconciliation_is_booked_by_it_under_its_execution_at_twss_commission(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    exec_id = tws.fill(coid, 4.0, 190.0, commission=1.0)
    heard(venue, lambda: len(venue._conn.heard().fills) == 1)  # read by ib_async, not polled
    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["fill_id"]) for m in report.missed_fills] == [(pytest.approx(4.0), exec_id)]
    assert until(venue.poll_events, 1, timeout=0.5) == []
    (fee,) = commissions(venue, 1, timeout=3.0)
    assert kernel.on_account_event(fee).accepted
    assert kernel.slot_state(0).size == pytest.approx(4.0)
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.0)


def test_a_fill_whose_status_came_before_its_execution_is_booked_by_reconciliation_under_its_execution(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """TWS sends orderStatus (filled 4) before execDetails, as it commonly does; a reconciliation
    between the two asks TWS's executions and books the execution, which its commission settles."""
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    with tws._lock:
        order = tws._order(coid, None)
        execution = tws._execute(order, 4.0, 190.0, 2.5)
        tws._order_status(order)  # the status first, its execution not sent yet
    heard(venue, lambda: any(o.filled == 4.0 for o in venue._conn.heard().orders))
    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["fill_id"]) for m in report.missed_fills] == [
        (pytest.approx(4.0), execution.exec_id)
    ]
    with tws._lock:  # then the execution and its commission, sent as TWS sends them
        tws._execution(execution, -1)
        tws._commission(execution)
    for event in until(venue.poll_events, 1, timeout=0.5):
        kernel.on_venue_event(event)
    for fee in commissions(venue, 1, timeout=3.0):
        kernel.on_account_event(fee)
    assert kernel.slot_state(0).size == pytest.approx(4.0)
    assert kernel.slot_state(0).fees_paid == pytest.approx(2.5)
