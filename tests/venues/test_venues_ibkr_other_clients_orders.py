"""IbkrVenue hearing other API clients' orders (TWS tells a master client, or client 0, of
them): order ids are per client, so another client's order carrying our order's id is not ours."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, cancel_intent, entered, entry, until
from tws_server import TwsServer

from dita import TradeStage
from dita.venues import VenueUnavailable
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def test_a_cancel_of_another_clients_order_with_the_same_order_id_does_not_end_ours(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert [e.kind.name for e in sent.emitted_events] == ["ORDER_ACK"]
    (ours,) = tws.book.orders.values()
    other = replace(
        ours, perm_id=ours.perm_id + 1000, client_id=ours.client_id + 1, action="SELL", quantity=1.0,
        limit_price=200.0, order_ref="someone-else",
    )  # fmt: skip
    tws.tell(other)
    other.status = "Cancelled"
    tws.tell(other)
    assert until(venue.poll_events, 1, timeout=1.0) == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    tws.cancel_at_tws(ours.order_ref)  # ours ends as ever
    assert [e.kind.name for e in until(venue.poll_events, 1, timeout=2.0)] == ["CANCEL_ACK"]


def test_a_cancel_refused_for_an_order_another_client_id_placed_names_both_client_ids(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """The kernel restarts on client id 2, TWS's master client id, over the order client id 1
    placed: TWS lists it working, and only client 1 (or TWS's master client id, through its own
    order id of it, which TWS does not give) can cancel it. The refusal says so, not that TWS lists
    no such order."""
    tws.master_client_id = 2  # TWS lists every client's open orders to it
    first_venue = make_venue(client_id=1)
    first = a_kernel(first_venue, tmp_path)
    coid = entered(first)
    first.close()
    first_venue.close()
    del first
    gc.collect()

    venue = make_venue(client_id=2)
    kernel = a_kernel(venue, tmp_path)
    kernel.reconcile_with_venue()
    assert [o.client_order_id for o in venue.open_orders()] == [coid]
    (perm_id,) = [o.perm_id for o in tws.book.orders.values()]

    out = kernel.process_intent(cancel_intent())
    (refused,) = out.emitted_events
    assert refused.kind.name == "CANCEL_REJECT"
    assert refused.reason == (
        f"ibkr: TWS lists the order (permId {perm_id}) working under client id 1, which placed it,"
        " and this venue is client id 2: only client id 1 (or TWS's master API client id) can cancel it"
    )
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_a_restart_on_another_client_id_leaves_the_order_tws_still_works_unresolved(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """TWS lists client id 2 only its own open orders: the order client id 1 placed, which TWS
    works on, is not heard of, nor is it among TWS's completed orders, and its permId alone does
    not end it."""
    first_venue = make_venue(client_id=1)
    first = a_kernel(first_venue, tmp_path)
    coid = entered(first)
    first.close()
    first_venue.close()
    del first
    gc.collect()

    venue = make_venue(client_id=2)
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert [o.status for o in tws.book.orders.values()] == ["Submitted"]  # TWS works it on
    assert report.ended_at_venue == []
    assert [u["client_order_id"] for u in report.unresolved] == [coid]
    assert [o.client_order_id for o in kernel.open_orders()] == [coid]
    with pytest.raises(VenueUnavailable, match=r"no completed order of the day is it\. .* another client id"):
        venue.order_status(coid)


def test_a_restart_on_another_client_id_books_no_fill_of_the_order_tws_filled_meanwhile(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    """TWS lists client id 2 neither the open orders nor the executions client id 1's orders
    have: the order filled while the process was down is among the completed orders, with no
    price of its fill, so it stays unresolved, its fill not booked at a guess."""
    first_venue = make_venue(client_id=1)
    first = a_kernel(first_venue, tmp_path)
    coid = entered(first)
    first.close()
    first_venue.close()
    del first
    gc.collect()
    tws.fill(coid, 10.0, 189.5)

    venue = make_venue(client_id=2)
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.missed_fills == [] and report.ended_at_venue == []
    assert [u["client_order_id"] for u in report.unresolved] == [coid]
    assert kernel.slot_state(0).size == 0.0
    with pytest.raises(VenueUnavailable, match="with 10 filled, the kernel booked 0"):
        venue.order_status(coid)
