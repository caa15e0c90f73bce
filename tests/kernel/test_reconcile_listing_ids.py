"""Reconciliation with a venue listing two orders under the client id of one of the kernel's: an
order of an earlier life under a client id the kernel reused, beside the kernel's own. The listing
was indexed by client id, the last entry kept: the other order's fills were booked into the
kernel's, or the other order was neither canceled nor reported, and the report said clean."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel, VenueEvent, VenueOrder


class Lists:
    """A venue listing ``listed`` as its open orders; a cancel takes an order off the list."""

    name = "lists"

    def __init__(self) -> None:
        self.listed: list[VenueOrder] = []
        self.canceled: list[str] = []

    def submit(self, order: VenueOrder) -> list[Any]:
        return []

    def cancel(self, order: VenueOrder) -> list[Any]:
        self.canceled.append(order.venue_order_id)
        self.listed = [o for o in self.listed if o.venue_order_id != order.venue_order_id]
        return [
            VenueEvent(
                f"c-{order.venue_order_id}", "", -1, "CANCEL_ACK", venue_client_id=order.client_order_id
            )
        ]

    def open_orders(self) -> list[VenueOrder]:
        return list(self.listed)

    def positions(self) -> dict[str, float]:
        return {}

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return next((o for o in self.listed if o.client_order_id == client_order_id), None)


def listed(coid: str, venue_order_id: str, filled: float = 0.0) -> VenueOrder:
    """The venue's working 1.0 BTCUSDT limit buy at 100 under ``coid``, ``filled`` of it at 96."""
    status = "PARTIALLY_FILLED" if filled else "ACKNOWLEDGED"
    return VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "LIMIT", 100.0, 1.0,
        venue_order_id=venue_order_id, filled_size=filled, avg_fill_price=96.0 if filled else 0.0,
        status=status,
    )  # fmt: skip


def working(venue: Lists, kernel_id: str, acked: bool = True) -> tuple[ExecutionKernel, str]:
    """A kernel and the client id of its limit entry in slot 0, acknowledged as V1 unless not."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=kernel_id)
    order = kernel.process_intent(intent("ENTER", 0, order_type="LIMIT", limit_price=100.0)).order
    assert order is not None
    coid = order.client_order_id
    if acked:
        ack = VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1")
        assert kernel.on_venue_event(ack).applied
    return kernel, coid


@pytest.mark.parametrize("earlier_first", [True, False])
def test_an_earlier_lifes_order_under_the_kernels_client_id_is_not_taken_for_the_kernels(
    earlier_first: bool,
) -> None:
    """The venue lists the kernel's V1 and an earlier life's V0 (0.5 filled at 96) under one
    client id. Listed last, V0's fill was booked into the kernel's order; listed first, V0 was
    taken for the kernel's and left working, unreported."""
    venue = Lists()
    kernel, coid = working(venue, f"dup-{int(earlier_first)}")
    pair = [listed(coid, "V0", filled=0.5), listed(coid, "V1")]
    venue.listed = pair if earlier_first else pair[::-1]
    report = kernel.reconcile_with_venue(cancel_unknown=False)
    assert report.missed_fills == [] and report.unresolved == []
    assert [o["venue_order_id"] for o in report.unknown_at_venue_left] == ["V0"]
    report = kernel.reconcile_with_venue()
    assert [o["venue_order_id"] for o in report.unknown_at_venue_canceled] == ["V0"]
    assert venue.canceled == ["V0"]
    (mine,) = kernel.open_orders()
    assert (mine.venue_order_id, mine.filled_size) == ("V1", 0.0)
    assert kernel.slot_state(0).size == 0.0
    assert kernel.reconcile_with_venue().clean


def test_the_kernels_order_is_booked_from_its_own_entry_beside_an_earlier_lifes() -> None:
    """The kernel's V1 filled 0.25 at 96, the earlier life's V0 0.5: V1's fill is booked, V0's not."""
    venue = Lists()
    kernel, coid = working(venue, "dup-both")
    venue.listed = [listed(coid, "V1", filled=0.25), listed(coid, "V0", filled=0.5)]
    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [(0.25, 96.0)]
    assert [o["venue_order_id"] for o in report.unknown_at_venue_canceled] == ["V0"]
    assert kernel.slot_state(0).size == 0.25


def test_an_unacknowledged_order_beside_another_under_its_client_id_is_left_unresolved() -> None:
    """The kernel's order has no venue id yet and the venue lists two orders under its client id:
    which is the kernel's cannot be told. Nothing is acknowledged, booked or canceled; the order
    is named in ``unresolved``, with both venue ids."""
    venue = Lists()
    kernel, coid = working(venue, "dup-unacked", acked=False)
    venue.listed = [listed(coid, "V0", filled=0.5), listed(coid, "V1")]
    report = kernel.reconcile_with_venue()
    assert report.missed_fills == [] and report.acknowledged == [] and venue.canceled == []
    ((item,),) = [report.unresolved]
    assert item["client_order_id"] == coid and "V0" in item["reason"] and "V1" in item["reason"]
    assert kernel.slot_state(0).fsm_state.name == "ORDER_SENT" and not report.clean


def test_the_kernels_order_listed_without_its_client_id_beside_two_under_it_is_told_apart() -> None:
    """The venue lists the kernel's V1 without a client id, and two orders of earlier lives under
    the kernel's: V1's fill is booked, and the other two are canceled as orders nobody manages."""
    venue = Lists()
    kernel, coid = working(venue, "dup-by-venue-id")
    venue.listed = [listed(coid, "V0", filled=0.5), listed("", "V1", filled=0.25), listed(coid, "V2")]
    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [(0.25, 96.0)]
    assert sorted(o["venue_order_id"] for o in report.unknown_at_venue_canceled) == ["V0", "V2"]
    assert report.unresolved == [] and kernel.slot_state(0).size == 0.25


def test_one_order_listed_twice_in_the_venues_form_is_still_the_kernels() -> None:
    """A page read twice lists the kernel's one order twice, in the venue's form of its id: two
    copies taken for two orders, neither carrying the kernel's id, left it unresolved for good,
    its fill never booked."""
    venue = Lists()
    kernel, coid = working(venue, "dup-same-order")  # acked as V1
    copy = listed(coid, "own-V1", filled=0.25)  # the venue's own form of V1's id
    venue.listed = [copy, listed(coid, "own-V1", filled=0.25)]
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [], report.unresolved
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [(0.25, 96.0)]
    assert kernel.slot_state(0).size == 0.25


class TellsOthersApart(Lists):
    """Says by venue id which order listed alone under the kernel's client id is another (as
    IbkrVenue.is_other_order does by permId). Its order status answers from ``held`` (the
    kernel's orders over at the venue), and cannot say of the others (``down``)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, VenueOrder] = {}

    def is_other_order(self, mine: VenueOrder, theirs: VenueOrder) -> bool:
        return (
            bool(mine.venue_order_id and theirs.venue_order_id)
            and mine.venue_order_id != theirs.venue_order_id
        )

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        if client_order_id not in self.held:
            raise TimeoutError("status unknown: timed out")
        return self.held[client_order_id]


@pytest.mark.parametrize("kernels", ["works on", "awaits fills"])
def test_an_order_the_venue_calls_another_is_reported_whatever_the_kernels_of_its_id_does(
    kernels: str,
) -> None:
    """The kernel's V1 works on (its lookup fails) or awaits fills (ended with 0.4 counted, over
    at the venue); the venue lists an earlier life's V0 alone under its client id and says it is
    another. V0 was reported nowhere, as the kernel's client id was known: it is left in
    ``foreign_orders_left``, nothing of it booked."""
    venue = TellsOthersApart()
    kernel, coid = working(venue, f"other-{kernels.split()[0]}")
    booked = 0.0
    if kernels == "awaits fills":
        end = VenueEvent("c1", "t0", 0, "CANCEL_ACK", venue_client_id=coid, filled_size=0.4)
        assert kernel.on_venue_event(end).applied
        assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
        venue.held[coid] = VenueOrder(
            coid, 0, "t0", "BTCUSDT", "BUY", "LIMIT", 100.0, 1.0, venue_order_id="V1",
            filled_size=0.4, avg_fill_price=100.0, status="CANCELED",
        )  # fmt: skip
        booked = 0.4
    venue.listed = [listed(coid, "V0", filled=0.3)]
    report = kernel.reconcile_with_venue()
    assert [o["venue_order_id"] for o in report.foreign_orders_left] == ["V0"]
    assert report.unknown_at_venue_left == [] and report.unknown_at_venue_canceled == []
    assert venue.canceled == [] and kernel.slot_state(0).size == pytest.approx(booked)
