"""Reconciliation against a venue whose answers contradict the kernel's orders or themselves: an
answer about another order, a listing holding what is not an order, a working order listed with
less than its size. Nothing is booked from such an answer, and the report keeps what was done."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kernel_helpers import intent
from test_reconcile import EndedOrders, FilledWhileUnheard, InDoubt, acked, canceled_half_filled

from dita import ExecutionKernel, TradeStage, VenueEvent, VenueOrder, VenueOrderStatus
from dita.venues import VenueUnavailable


def held(coid: str, **kw: Any) -> VenueOrder:
    """The venue's record of a 1.0 BTCUSDT buy under ``coid``: canceled after filling half at
    100, unless ``kw`` says otherwise."""
    fields: dict[str, Any] = {
        "venue_order_id": "V1", "filled_size": 0.5, "avg_fill_price": 100.0, "status": "CANCELED",
    }  # fmt: skip
    fields.update(kw)
    asset, side, price = fields.pop("asset", "BTCUSDT"), fields.pop("side", "BUY"), fields.pop("price", 100.0)
    size = fields.pop("size", 1.0)
    return VenueOrder(coid, 0, "t0", asset, side, "MARKET", price, size, **fields)


class AnswersAboutAnother(EndedOrders):
    """Its ``order_status`` answers about the order it holds under ``answer_for``'s key."""

    def __init__(self) -> None:
        super().__init__()
        self.answer_for: dict[str, str] = {}

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return self.orders.get(self.answer_for.get(client_order_id, client_order_id))


def test_an_answer_about_another_order_books_nothing_into_the_kernels_order() -> None:
    """Asked about the kernel's BTCUSDT buy, the venue answered with another order (its client
    id, venue id, asset and side): its fill was booked into the kernel's order, a long opened at
    the other order's price. The order is left as it was, named with the field and the value."""
    venue = AnswersAboutAnother()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="another")
    fine = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    asked = kernel.process_intent(intent("ENTER", 1)).order.client_order_id
    canceled_half_filled(venue, fine)
    venue.orders["someone-else"] = held(
        "someone-else", venue_order_id="VB", asset="ETHUSDT", side="SELL", price=3000.0,
        filled_size=1.0, avg_fill_price=3000.0, status="FILLED",
    )  # fmt: skip
    venue.answer_for[asked] = "someone-else"
    before = kernel.slot_dict(1)
    report = kernel.reconcile_with_venue()
    assert kernel.slot_dict(1) == before and kernel.slot_state(1).fsm_state == TradeStage.ORDER_SENT
    (left,) = report.unresolved
    assert left["client_order_id"] == asked and left["details"]["field"] == "client_order_id"
    assert left["details"]["value"] == "'someone-else'"
    assert "client_order_id='someone-else'" in left["reason"] and "nothing was changed" in left["reason"]
    assert [m["client_order_id"] for m in report.missed_fills] == [fine]
    assert kernel.slot_state(0).size == 0.5


@pytest.mark.parametrize("side", ["SELL", "sell"])
def test_an_answer_under_the_kernels_client_id_for_the_other_side_books_nothing(side: str) -> None:
    """The venue's record under the kernel's client id is a sell (an order of an earlier life
    under an id the kernel reused, its log lost): its fill was booked into the kernel's buy."""
    venue = EndedOrders()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="reused")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    venue.orders[coid] = held(coid)
    venue.orders[coid] = SimpleNamespace(**{**venue.orders[coid].to_dict(), "side": side})  # type: ignore[assignment]
    venue.orders[coid].status = VenueOrderStatus.CANCELED  # type: ignore[attr-defined]
    before = kernel.slot_dict(0)
    report = kernel.reconcile_with_venue()
    assert kernel.slot_dict(0) == before and report.missed_fills == [] and report.events_applied == 0
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and left["details"]["field"] == "side"
    assert left["details"]["value"] == repr(side) and "nothing was changed" in left["reason"]


def test_a_listed_order_of_another_market_under_the_kernels_client_id_books_nothing() -> None:
    """The venue lists one order under the kernel's client id: an ETHUSDT buy of an earlier life
    (a kernel id reused, its log lost), half filled at 3000. Its fill was booked into the
    kernel's BTCUSDT slot at 3000. The kernel's order is left as it was, named with the field."""
    venue = FilledWhileUnheard()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="other-market")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    venue.orders[coid] = held(
        coid, asset="ETHUSDT", price=3000.0, avg_fill_price=3000.0, status="PARTIALLY_FILLED"
    )
    before = kernel.slot_dict(0)
    report = kernel.reconcile_with_venue(cancel_unknown=False)
    assert kernel.slot_dict(0) == before and report.missed_fills == [] and report.events_applied == 0
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and left["details"]["field"] == "asset"
    assert left["details"]["value"] == "'ETHUSDT'" and "'BTCUSDT'" in left["reason"]


def test_an_answer_naming_the_kernels_asset_as_the_venue_names_it_is_the_kernels() -> None:
    """A ccxt venue restarted lists the kernel's ``BTC/USDT`` order under its market id
    (``position_asset``): the kernel's order, booked."""

    class ByMarketId(FilledWhileUnheard):
        def position_asset(self, asset: str) -> str:
            return asset.replace("/", "")

    venue = ByMarketId()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="market-id")
    coid = kernel.process_intent(intent("ENTER", 0, asset="BTC/USDT")).order.client_order_id
    venue.orders[coid] = held(coid, asset="BTCUSDT", status="PARTIALLY_FILLED")
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and [m["qty"] for m in report.missed_fills] == [0.5]
    assert kernel.slot_state(0).size == 0.5


def test_an_answer_under_another_client_id_with_the_kernels_venue_id_is_the_kernels() -> None:
    """Listed under a client id of the venue's own yet with the venue id the kernel holds: the
    kernel's order, booked."""
    venue = EndedOrders()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="by-venue-id")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    kernel.on_venue_event(VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="VA"))
    venue.orders[coid] = held("venue-own-id", venue_order_id="VA")
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and [m["qty"] for m in report.missed_fills] == [0.5]


def test_an_answer_under_the_venue_id_the_kernel_holds_in_the_venues_form_is_the_kernels() -> None:
    """The venue names the kernel's order by a form of its id of its own (``listed_venue_order_id``,
    ccxt's market-qualified id): it is the kernel's order, booked."""

    class Qualifies(EndedOrders):
        def listed_venue_order_id(self, order: VenueOrder) -> str:
            return f"BTCUSDT:{order.venue_order_id}"

    venue = Qualifies()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="qualified")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    kernel.on_venue_event(VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="VA"))
    venue.orders[coid] = held(coid, venue_order_id="BTCUSDT:VA")
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and [m["qty"] for m in report.missed_fills] == [0.5]
    assert kernel.slot_state(0).size == 0.5


class Lists(FilledWhileUnheard):
    """Lists the kernel's orders as it holds them, and ``extra`` after them."""

    def __init__(self, extra: list[Any]) -> None:
        super().__init__()
        self.extra = extra
        self.canceled: list[Any] = []

    def open_orders(self) -> list[Any]:
        return [*self.orders.values(), *self.extra]

    def cancel(self, order: Any) -> list[Any]:
        self.canceled.append(order)
        return acked(order)


def working_half_filled(venue: Lists, kernel: ExecutionKernel) -> str:
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    venue.orders[coid] = held(coid, status="PARTIALLY_FILLED")
    return coid


def test_a_listed_order_whose_client_id_is_no_text_is_one_nobody_manages() -> None:
    """A list as a client id (an adapter keeping the exchange's raw answer) raised a TypeError
    (unhashable) before anything was done: no order of the venue's was reconciled. It names no
    order of the kernel's: it is one nobody manages, and the kernel's orders are reconciled."""
    stray = SimpleNamespace(
        client_order_id=["x-1"], venue_order_id="77", asset="ETHUSDT", size=1.0, side="BUY"
    )
    venue = Lists([stray])
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="list-id")
    coid = working_half_filled(venue, kernel)
    report = kernel.reconcile_with_venue(cancel_unknown=False, cancel_foreign_orders=True)
    assert [m["client_order_id"] for m in report.missed_fills] == [coid]
    assert [(o["client_order_id"], o["venue_order_id"]) for o in report.unknown_at_venue_left] == [
        (["x-1"], "77")
    ]


def test_a_listed_order_nobody_manages_missing_a_field_is_reported_with_what_was_done() -> None:
    """An order nobody manages listed without a side (or asset, or size) raised AttributeError
    where it was reported, after the kernel's missed fill was booked: the fill stayed, its
    report was lost. It is reported with what it lacks as None, and its cancel is asked."""
    stray = SimpleNamespace(client_order_id="by-hand-1", venue_order_id="77")
    venue = Lists([stray])
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="no-side")
    coid = working_half_filled(venue, kernel)
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert [m["client_order_id"] for m in report.missed_fills] == [coid]
    assert report.unknown_at_venue_canceled == [
        {
            "client_order_id": "by-hand-1", "venue_order_id": "77", "asset": None, "size": None,
            "side": None, "filled_size": None, "avg_fill_price": None,
        }
    ]  # fmt: skip
    assert venue.canceled == [stray] and kernel.slot_state(0).size == 0.5


@pytest.mark.parametrize("entry", [None, 5, {"client_order_id": "x"}])
def test_a_listing_holding_what_is_not_an_order_is_refused_naming_it_before_anything_changes(
    entry: Any,
) -> None:
    venue = Lists([entry])
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="not-an-order")
    working_half_filled(venue, kernel)
    before = kernel.slot_dict(0)
    with pytest.raises(VenueUnavailable) as raised:
        kernel.reconcile_with_venue()
    said = str(raised.value)
    assert "nothing changed" in said and f"entry 1 is {entry!r}" in said and "client_order_id" in said
    assert kernel.slot_dict(0) == before and venue.canceled == []


@pytest.mark.parametrize("status", ["PARTIALLY_FILLED", "ACKNOWLEDGED"])
def test_an_order_the_venue_says_works_is_not_ended_for_a_size_its_listing_gives_short(status: str) -> None:
    """The venue lists the kernel's 1.0 buy as working with 0.5 filled, its size 0.5 (an adapter
    giving what is left as the size). Reconciliation's fill said FILLED with nothing left, and
    the kernel ended the order short of its size, silently: at the next reconciliation the order
    the venue works was canceled. The fill is booked; the order works on for its rest."""
    venue = FilledWhileUnheard()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=f"short-{status}")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    venue.orders[coid] = held(coid, size=0.5, status=status)
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [0.5]
    s = kernel.slot_state(0)
    assert s.fsm_state == TradeStage.ENTRY_WORKING and s.size == 0.5
    assert s.active_entry_order is not None and s.active_entry_order.client_order_id == coid
    assert kernel.orders_ended_without_figure() == []
    rest = VenueEvent(
        "f2", "t0", 0, "FILL", venue_client_id=coid, price=100.0, size=0.5, filled_size=1.0, fill_id="F2"
    )
    assert kernel.on_venue_event(rest).accepted and kernel.slot_state(0).size == 1.0


class Counted(ExecutionKernel):
    """Counts how often reconciliation reads the kernel's whole list of awaited orders."""

    reads = 0

    def awaited_orders(self) -> list[VenueOrder]:
        type(self).reads += 1
        return super().awaited_orders()


@pytest.mark.parametrize("slots", [20, 80])
def test_awaited_orders_a_venue_still_works_cost_no_read_of_every_slot_each(slots: int) -> None:
    """Each awaited order the venue still works read the kernel's every awaited order (and every
    order ended without a figure) to tell the venue the order as booked, at a venue that follows
    no orders (no ``watch``) too: reconciliation grew with the square of the slots."""
    venue = InDoubt()
    Counted.reads = 0
    kernel = Counted(max_slots=slots, venue=venue, kernel_id=f"cost-{slots}")
    for i in range(slots):
        coid = kernel.process_intent(intent("ENTER", i, trade_id=f"t{i}")).order.client_order_id
        end = VenueEvent(f"c{i}", f"t{i}", i, "CANCEL_ACK", venue_client_id=coid, filled_size=0.4)
        kernel.on_venue_event(end)
        venue.orders[coid] = VenueOrder(
            coid, i, f"t{i}", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
            filled_size=0.4, avg_fill_price=100.0, status=VenueOrderStatus.PARTIALLY_FILLED,
        )  # fmt: skip
    venue.reconciling = True
    Counted.reads = 0
    report = kernel.reconcile_with_venue()
    assert len(report.awaited_settled) == slots and kernel.awaited_orders() == []
    assert Counted.reads <= 3
