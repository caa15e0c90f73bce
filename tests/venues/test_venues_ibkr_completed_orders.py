"""IbkrVenue after a restart over an order TWS no longer works: TWS's completed orders of the day
state how it ended, where its open orders (a client's own only) and executions say nothing."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, entered, until
from tws_server import TwsServer

from dita import ExecutionKernel, TradeStage
from dita.venues import VenueUnavailable
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def _down_with_an_entry(make_venue: Callable[..., IbkrVenue], tmp_path: Path, client_id: int = 1) -> str:
    """A kernel's entry TWS works, then the process stopped: the entry's client order id."""
    venue = make_venue(client_id=client_id)
    kernel = a_kernel(venue, tmp_path)
    coid = entered(kernel)
    kernel.close()
    venue.close()
    del kernel
    gc.collect()
    return coid


def _restarted(
    make_venue: Callable[..., IbkrVenue], tmp_path: Path, client_id: int = 1
) -> tuple[IbkrVenue, ExecutionKernel]:
    venue = make_venue(client_id=client_id)
    return venue, a_kernel(venue, tmp_path)


def test_a_day_order_canceled_while_the_process_was_down_ends_canceled_at_the_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    coid = _down_with_an_entry(make_venue, tmp_path)
    tws.cancel_at_tws(coid)  # the close ends the DAY order, unfilled: nobody connected hears it
    venue, kernel = _restarted(make_venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [], report
    assert [o["client_order_id"] for o in report.ended_at_venue] == [coid], report
    assert kernel.open_orders() == [] and kernel.slot_state(0).fsm_state == TradeStage.IDLE
    assert until(venue.poll_events, 1, timeout=0.3) == []


@pytest.mark.parametrize("status", ["Inactive", "ApiCancelled"])
def test_an_order_tws_deactivated_while_the_process_was_down_ends_canceled_at_the_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path, status: str
) -> None:
    coid = _down_with_an_entry(make_venue, tmp_path)
    tws.cancel_at_tws(coid, status)
    venue, kernel = _restarted(make_venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [], report
    assert kernel.open_orders() == [] and kernel.slot_state(0).fsm_state == TradeStage.IDLE
    ended = venue.order_status(coid)
    assert ended is not None and (ended.status.name, ended.filled_size) == ("CANCELED", 0.0)


def test_an_order_filled_while_the_process_was_down_books_its_fill_at_the_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    coid = _down_with_an_entry(make_venue, tmp_path)
    tws.fill(coid, 10.0, 189.5)
    _venue, kernel = _restarted(make_venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [], report
    assert [m["qty"] for m in report.missed_fills] == [pytest.approx(10.0)], report
    assert kernel.open_orders() == [] and kernel.slot_state(0).size == pytest.approx(10.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN


def test_an_order_completed_with_more_filled_than_booked_and_no_execution_stays_unresolved(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """TWS lists only the day's executions: a GTC order that filled on an earlier day states its
    filled quantity among the completed orders, but no price."""
    coid = _down_with_an_entry(make_venue, tmp_path)
    tws.fill(coid, 4.0, 189.5)
    tws.book.executions.clear()  # an earlier day's
    tws.cancel_at_tws(coid)
    venue, kernel = _restarted(make_venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert [u["client_order_id"] for u in report.unresolved] == [coid], report
    assert [o.client_order_id for o in kernel.open_orders()] == [coid]
    with pytest.raises(VenueUnavailable, match="with 4 filled, the kernel booked 0"):
        venue.order_status(coid)
