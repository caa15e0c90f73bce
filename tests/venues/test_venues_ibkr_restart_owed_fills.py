"""IbkrVenue after a restart: the orders that ended owing fills (awaited, or ended without TWS's
figure) are followed by reconciliation before it asks about them, so TWS's executions of them,
reported while the process was down, are booked, not left unresolved as of an order the venue
does not follow."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, commissions, entered, feed, until
from tws_server import TwsServer

from dita import ExecutionKernel, TradeStage
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def stopped(kernel: ExecutionKernel, venue: IbkrVenue) -> None:
    kernel.close()
    venue.close()
    del kernel
    gc.collect()


def test_an_execution_a_cancels_figure_counted_that_came_while_the_process_was_down_is_booked_after_a_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """TWS says the order Cancelled with 4 filled; the kernel books the end and awaits the 4.
    The execution comes while the process is down: reconciliation books it, and its commission
    settles it."""
    first_venue = make_venue()
    first = a_kernel(first_venue, tmp_path)
    coid = entered(first)
    with tws._lock:
        order = tws._order(coid, None)
        execution = tws._execute(order, 4.0, 190.0, 1.0)  # executed, its report not sent
        order.status = "Cancelled"
        tws._order_status(order)  # Cancelled, filled 4
    (end,) = feed(first, first_venue, 1)
    assert (end.kind.name, end.filled_size) == ("CANCEL_ACK", 4.0)
    assert first.slot_dict(0)["awaited_fill_qty"] == 4.0
    stopped(first, first_venue)

    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == []
    assert [(m["qty"], m["fill_id"]) for m in report.missed_fills] == [
        (pytest.approx(4.0), execution.exec_id)
    ]
    assert kernel.slot_state(0).size == pytest.approx(4.0)
    assert kernel.slot_dict(0)["awaited_fill_qty"] == 0.0
    for fee in commissions(venue, 1, timeout=3.0):
        kernel.on_account_event(fee)
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.0)


def test_an_execution_that_raced_a_cancel_and_came_while_the_process_was_down_is_booked_after_a_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """TWS says the order Cancelled with none filled, and the kernel ends it; an execution that
    raced the cancel is reported after it, while the process is down. After the restart TWS
    lists the execution under the order's orderRef and permId: reconciliation books it."""
    first_venue = make_venue()
    first = a_kernel(first_venue, tmp_path)
    coid = entered(first)
    with tws._lock:
        order = tws._order(coid, None)
        order.status = "Cancelled"
        tws._order_status(order)
    (end,) = feed(first, first_venue, 1)
    assert (end.kind.name, end.filled_size) == ("CANCEL_ACK", 0.0)
    assert first.slot_state(0).fsm_state == TradeStage.IDLE
    stopped(first, first_venue)

    with tws._lock:  # the execution that raced the cancel, reported while nobody listened
        execution = tws._execute(order, 3.0, 190.0, 1.0)
    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.ended_not_asked == 0
    assert [(m["qty"], m["fill_id"]) for m in report.missed_fills] == [
        (pytest.approx(3.0), execution.exec_id)
    ]
    assert until(venue.poll_events, 1, timeout=0.5) == []  # booked once
    assert kernel.slot_state(0).size == pytest.approx(3.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
