"""Reconciliation with a listing holding another order under the client id of the kernel's: an
order of an earlier life (or one placed by hand) under a client id the kernel reused, on another
venue of a router or beside the kernel's on one venue. The listing was indexed by client id
alone: the other order's fills were booked into the kernel's, or the other order was taken for
the kernel's and left working, unreported, while the report said clean."""

from __future__ import annotations

from typing import Any

from test_venues_router_same_client_id import _rest
from test_venues_router_same_client_id import _Streaming as StreamingPaper
from venue_helpers import make_order

from dita import ExecutionKernel
from dita.venues import VenueRouter


class _Streaming(StreamingPaper):
    """A streaming paper venue (test_venues_router_same_client_id's) whose quotes say their ask size."""

    def quote(self, bid: float, ask: float, ts: float, ask_size: float = 5.0) -> None:
        self.pending.extend(self.on_quote("BTCUSDT", bid, ask, 5.0, ask_size, ts=ts))


def _two_venues() -> tuple[_Streaming, _Streaming, VenueRouter]:
    va, vb = _Streaming(name="va"), _Streaming(name="vb")
    for venue in (va, vb):
        venue.quote(99.0, 100.0, ts=1.0)
    return va, vb, VenueRouter({"va": va, "vb": vb}, default="va")


def _by_hand(venue: _Streaming, client_order_id: str, filled: float = 0.0) -> None:
    """An order the kernel did not send (size 3, a BUY at 96) resting at ``venue``, ``filled`` of
    it at 96."""
    (ack,) = venue.submit(make_order(client_order_id, order_type="LIMIT", price=96.0, size=3.0))
    assert ack.kind.name == "ORDER_ACK"
    if filled:
        venue.quote(95.0, 96.0, ts=1.5, ask_size=filled)
        venue.quote(99.0, 100.0, ts=1.6)
        venue.poll_events()
    (listed,) = venue.open_orders()
    assert listed.filled_size == filled


def _ids(report_items: list[dict[str, Any]]) -> list[Any]:
    return sorted(o["venue_order_id"] for o in report_items)


def test_another_venues_fills_under_the_kernels_client_id_are_not_booked_into_its_order() -> None:
    """vb holds "relisted-1" with 0.5 filled at 96; the kernel rests its own "relisted-1" at va
    (va-1). vb's fill was booked into the kernel's order: a position the kernel does not hold."""
    va, vb, router = _two_venues()
    _by_hand(vb, "relisted-1", filled=0.5)
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="relisted")
    order = _rest(kernel)
    assert (order.client_order_id, kernel.open_orders()[0].venue_order_id) == ("relisted-1", "va-1")
    report = kernel.reconcile_with_venue()
    assert report.missed_fills == []
    assert _ids(report.unknown_at_venue_canceled) == ["vb-1"]
    (mine,) = kernel.open_orders()
    assert (mine.venue_order_id, mine.filled_size) == ("va-1", 0.0)
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"
    assert [o.venue_order_id for o in va.open_orders()] == ["va-1"] and vb.open_orders() == []


def test_another_venues_order_under_the_kernels_client_id_is_canceled_as_nobodys() -> None:
    """Without fills, vb's "relisted-1" was taken for the kernel's: not canceled, and the report
    said clean while it worked on at vb."""
    va, vb, router = _two_venues()
    _by_hand(vb, "relisted-1")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="relisted")
    _rest(kernel)
    report = kernel.reconcile_with_venue(cancel_unknown=False)
    assert not report.clean
    assert _ids(report.unknown_at_venue_left) == ["vb-1"]
    report = kernel.reconcile_with_venue()
    assert _ids(report.unknown_at_venue_canceled) == ["vb-1"]
    assert [o.venue_order_id for o in va.open_orders()] == ["va-1"] and vb.open_orders() == []
    assert kernel.reconcile_with_venue().clean
