"""IbkrVenue after a restart, following a GTC order that part-filled on an earlier day: TWS lists
only the day's executions, so what the kernel booked is matched by each execution's cumulative
quantity (cumQty), not taken from the oldest of the day's."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, entry, feed, until
from tws_server import TwsServer

from dita import VenueOrder
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def part_filled_yesterday(tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path) -> str:
    """A GTC order of 10 the kernel of ``tmp_path`` sent and booked 4 of at 190, then closed;
    the next day, TWS no longer lists that execution. Its client order id."""
    first_venue = make_venue(time_in_force="GTC")
    first = a_kernel(first_venue, tmp_path)
    sent = first.process_intent(entry())
    assert sent.order is not None
    coid = sent.order.client_order_id
    tws.fill(coid, 4.0, 190.0)
    feed(first, first_venue, 1)
    first.close()
    first_venue.close()
    del first
    gc.collect()
    tws.book.executions.clear()  # the next day: the earlier day's executions are not listed
    return coid


def test_a_gtc_order_part_filled_on_an_earlier_day_reports_todays_fills_after_a_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    coid = part_filled_yesterday(tws, make_venue, tmp_path)
    venue = make_venue(time_in_force="GTC")
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and report.missed_fills == [], report
    assert kernel.slot_state(0).size == pytest.approx(4.0)

    tws.fill(coid, 3.0, 191.0)  # the day's first execution of the order
    (fill,) = feed(kernel, venue, 1)
    assert (fill.kind.name, fill.size, fill.filled_size) == ("FILL", 3.0, 7.0)
    assert kernel.slot_state(0).size == pytest.approx(7.0)
    tws.fill(coid, 3.0, 191.0)
    (rest,) = feed(kernel, venue, 1)
    assert (rest.size, rest.filled_size, rest.status.name) == (3.0, 10.0, "FILLED")
    assert not venue.following()


def test_an_execution_the_kernel_booked_part_of_before_a_restart_reports_the_rest(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """The kernel booked 4 of an execution of 6 (cumQty 6) before the restart: 2 are new."""
    venue = make_venue(time_in_force="GTC")
    order = VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 10.0)
    venue.submit(order)
    venue.close()
    tws.fill("k-1", 6.0, 190.0)

    after = make_venue(time_in_force="GTC")
    perm_id = next(iter(tws.book.orders.values())).perm_id
    booked = VenueOrder(
        "k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 10.0, venue_order_id=str(perm_id), filled_size=4.0
    )
    after.watch(booked)
    (fill,) = until(after.poll_events, 1, timeout=2.0)
    assert (fill.kind.name, fill.size, fill.filled_size) == ("FILL", 2.0, 6.0)


def test_a_gtc_order_part_filled_on_an_earlier_day_that_filled_while_down_reads_filled_after_a_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """TWS no longer lists the order (Filled) and lists only the day's execution of 6: its cumQty
    (10) and avgPrice say what the order filled, not the day's executions alone."""
    coid = part_filled_yesterday(tws, make_venue, tmp_path)
    tws.fill(coid, 6.0, 191.0)  # today, while the kernel is down: 10 of 10 filled
    venue = make_venue(time_in_force="GTC")
    kernel = a_kernel(venue, tmp_path)
    kernel.reconcile_with_venue()
    for _ in range(3):
        for event in until(venue.poll_events, 1, timeout=0.5):
            kernel.on_venue_event(event)
    answer = venue.order_status(coid)
    assert answer is not None
    assert (answer.status.name, answer.filled_size) == ("FILLED", 10.0), answer
    assert answer.avg_fill_price == pytest.approx((4 * 190.0 + 6 * 191.0) / 10)
    assert kernel.slot_state(0).size == pytest.approx(10.0)
