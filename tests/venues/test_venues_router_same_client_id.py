"""VenueRouter with one client id on two venues: an order placed by hand on each exchange under one
label, an earlier life's order under a client id the kernel uses again, orders listed with no
client id at all. The router knew orders by their client id alone, so the second venue's listing
moved the first one's order there, and the first one's end made it forget the second one's: a
cancel went to the venue that did not hold the order, which worked on, free to fill."""

from __future__ import annotations

from venue_helpers import make_order, reroute

from dita import ExecutionKernel, KernelIntent, VenueEvent, VenueOrder
from dita.venues import PaperVenue, VenueRouter


class _Streaming(PaperVenue):
    """A paper venue that hands the events its quotes make to ``poll_events`` (as an exchange's
    stream does) instead of to the caller of ``on_quote``."""

    def __init__(self, **settings: object) -> None:
        super().__init__(slippage_bps=0, **settings)  # type: ignore[arg-type]
        self.pending: list[VenueEvent] = []

    def quote(self, bid: float, ask: float, ts: float) -> None:
        self.pending.extend(self.on_quote("BTCUSDT", bid, ask, 5.0, 5.0, ts=ts))

    def poll_events(self) -> list[VenueEvent]:
        out, self.pending = self.pending, []
        return out


def _by_hand(venue: PaperVenue, client_order_id: str, price: float = 90.0) -> None:
    """An order the kernel did not send, resting at ``venue``."""
    (ack,) = venue.submit(make_order(client_order_id, order_type="LIMIT", price=price, size=3.0))
    assert ack.kind.name == "ORDER_ACK"


def _two_venues(default: str) -> tuple[_Streaming, _Streaming, VenueRouter]:
    va, vb = _Streaming(name="va"), _Streaming(name="vb")
    for venue in (va, vb):
        venue.quote(99.0, 100.0, ts=1.0)
    return va, vb, VenueRouter({"va": va, "vb": vb}, default=default)


def _rest(kernel: ExecutionKernel) -> VenueOrder:
    entry = KernelIntent(
        "i0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0,
        order_type="LIMIT", limit_price=95.0, timestamp=1.0,
    )  # fmt: skip
    outcome = kernel.process_intent(entry)
    assert outcome.accepted and outcome.order is not None
    return outcome.order


def _cancel(kernel: ExecutionKernel) -> None:
    kernel.process_intent(KernelIntent("c0", "t0", 0, "BTCUSDT", "LONG", "CANCEL", 0.0, 0.0, timestamp=2.0))


def test_reconciliation_cancels_each_venues_order_of_one_client_id_on_that_venue() -> None:
    """Both venues list an order labelled "hedge-1" that nobody manages. The second listing took
    the label for its venue: both cancels went there, the report named va's order canceled, and it
    worked on at va."""
    va, vb, router = _two_venues(default="vb")
    _by_hand(va, "hedge-1")
    _by_hand(vb, "hedge-1")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="one-label")
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert report.unknown_at_venue_cancel_failed == []
    assert sorted(o["venue_order_id"] for o in report.unknown_at_venue_canceled) == ["va-1", "vb-1"]
    assert (va.open_orders(), vb.open_orders()) == ([], [])


def test_reconciliation_cancels_an_order_listed_without_a_client_id_on_the_venue_listing_it() -> None:
    """Some exchanges give no client id to an order placed by hand: the router learnt nothing from
    its listing, and sent its cancel to the venue its asset is routed to, which never had it."""
    va, _vb, router = _two_venues(default="vb")
    _by_hand(va, "")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="no-label")
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert report.unknown_at_venue_cancel_failed == []
    assert [o["venue_order_id"] for o in report.unknown_at_venue_canceled] == ["va-1"]
    assert va.open_orders() == []


def test_another_venues_order_of_the_client_id_ending_keeps_the_kernels_order_where_it_is() -> None:
    """vb holds an order of an earlier life under the client id the kernel gave its order at va.
    Its end, polled through the router, made the router forget va's: after a reroute the kernel's
    cancel went to vb, and its order worked on at va."""
    va, vb, router = _two_venues(default="va")
    _by_hand(vb, "reused-1")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="reused")
    order = _rest(kernel)
    assert order.client_order_id == "reused-1"
    reroute(router, "BTCUSDT", "vb")
    vb.quote(88.0, 89.0, ts=2.0)  # vb's order fills
    assert [e.venue_client_id for e in router.poll_events()] == ["reused-1"]
    (working,) = kernel.open_orders()
    assert router.venue_name_holding(working) == "va"
    _cancel(kernel)
    assert va.open_orders() == [] and kernel.open_orders() == []
    assert kernel.slot_state(0).fsm_state.name == "IDLE"


def test_another_venues_listing_of_the_client_id_keeps_the_kernels_order_where_it_is() -> None:
    """vb lists an order of an earlier life under the client id of the kernel's order at va. The
    listing moved the kernel's order to vb, the last venue to list the id: after a reroute its
    cancel went to vb and canceled vb's order, and the kernel's worked on at va."""
    va, vb, router = _two_venues(default="va")
    _by_hand(vb, "relisted-1")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="relisted")
    order = _rest(kernel)
    listed = router.open_orders()  # as reconciliation does first
    assert [(o.client_order_id, o.venue_order_id) for o in listed] == [
        ("relisted-1", "va-1"),
        ("relisted-1", "vb-1"),
    ]
    reroute(router, "BTCUSDT", "vb")
    assert router.venue_name_holding(order) == "va"
    assert router.venue_name_holding(listed[1]) == "vb"  # its own cancel goes where it is
    _cancel(kernel)
    assert va.open_orders() == [] and kernel.slot_state(0).fsm_state.name == "IDLE"
    assert [o.venue_order_id for o in vb.open_orders()] == ["vb-1"]
