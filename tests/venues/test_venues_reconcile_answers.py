"""Reconciliation against a venue whose answers misbehave: positions that name no asset."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dita import ExecutionKernel, KernelIntent, VenueEvent, VenueOrder, VenueOrderStatus
from dita.venues._events import answered


class ScriptedVenue:
    """Takes every order and answers nothing: the test plays the venue, its listing and its
    positions."""

    name = "scripted"

    def __init__(self) -> None:
        self.listed: list[VenueOrder] = []
        self.held: dict[Any, float] = {}

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[VenueOrder]:
        return list(self.listed)

    def positions(self) -> dict[Any, float]:
        return dict(self.held)


def limit_entry(kernel: ExecutionKernel, size: float = 2.0) -> VenueOrder:
    out = kernel.process_intent(
        KernelIntent(
            "i-1", "tr-1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, size,
            order_type="LIMIT", limit_price=99.0, timestamp=1.0,
        )
    )  # fmt: skip
    assert out.order is not None
    return out.order


def venue_event(order: VenueOrder, event_id: str, kind: str, **kw: Any) -> VenueEvent:
    return VenueEvent(
        event_id, order.trade_id, order.slot_id, kind,
        venue_order_id="v-1", venue_client_id=order.client_order_id,
        side=order.order_side, asset=order.asset, **kw,
    )  # fmt: skip


def test_positions_naming_no_asset_are_reported_with_the_events_already_applied() -> None:
    venue = ScriptedVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="no-asset")
    order = limit_entry(kernel)
    kernel.on_venue_event(venue_event(order, "ack", "ORDER_ACK"))
    venue.listed = [answered(order, "v-1", VenueOrderStatus.PARTIALLY_FILLED, 0.5, 98.0)]
    # A position whose symbol the adapter did not find: keyed None, beside the kernel's BTCUSDT.
    venue.held = {None: 0.5}

    report = kernel.reconcile_with_venue()

    # The fill booked before the positions were read is in the report, not lost with a TypeError.
    assert [(f["client_order_id"], f["qty"]) for f in report.missed_fills] == [(order.client_order_id, 0.5)]
    assert report.positions_unchecked == (
        "the venue's positions are malformed: an asset is None, not a str (its position 0.5)"
    )
    assert report.position_mismatches == [] and not report.clean
    assert kernel.slot_state(0).size == 0.5


def test_a_flat_position_naming_no_asset_is_left_out_as_before() -> None:
    """A flat entry keyed None was left out before the assets were compared: it still is, and
    the positions are checked."""
    venue = ScriptedVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="flat-none")
    order = limit_entry(kernel)
    kernel.on_venue_event(venue_event(order, "ack", "ORDER_ACK"))
    venue.listed = [answered(order, "v-1", VenueOrderStatus.PARTIALLY_FILLED, 0.5, 98.0)]
    venue.held = {None: 0.0, "BTCUSDT": 0.5}

    report = kernel.reconcile_with_venue()

    assert report.positions_unchecked == ""
    assert report.position_mismatches == []


def test_an_order_nobody_manages_listed_with_an_id_that_is_no_text_is_reported_with_what_was_done() -> None:
    """A listed order whose venue id is no text (a list, where an adapter kept the exchange's
    raw answer) broke the check of it against the kernel's venue ids with a TypeError, after the
    kernel's missed fill was booked: the fill stayed, its report was lost."""
    venue = ScriptedVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="raw-id")
    order = limit_entry(kernel)
    kernel.on_venue_event(venue_event(order, "ack", "ORDER_ACK"))
    stray = SimpleNamespace(
        client_order_id="by-hand-1", venue_order_id=["77"], asset="ETHUSDT", size=1.0, side="BUY"
    )
    venue.listed = [answered(order, "v-1", VenueOrderStatus.PARTIALLY_FILLED, 0.5, 98.0), stray]
    venue.held = {"BTCUSDT": 0.5}

    report = kernel.reconcile_with_venue(cancel_unknown=False, cancel_foreign_orders=True)

    assert [(f["client_order_id"], f["qty"]) for f in report.missed_fills] == [(order.client_order_id, 0.5)]
    assert [(o["client_order_id"], o["venue_order_id"]) for o in report.unknown_at_venue_left] == [
        ("by-hand-1", ["77"])
    ]
    assert report.position_mismatches == [] and kernel.slot_state(0).size == 0.5
