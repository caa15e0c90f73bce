"""Reconciliation with the venue: orders and fills the kernel never saw become explicit events."""

from __future__ import annotations

import copy
import gc
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kernel_helpers import OverMock, TimesOut, intent

from dita import (
    ExecutionKernel,
    KernelDiagnosticCode,
    MockVenueAdapter,
    TradeStage,
    VenueEvent,
    VenueOrder,
    VenueOrderStatus,
)
from dita.reconcile import ReconciliationReport
from dita.venues import PaperVenue, VenueTimeout, VenueUnavailable
from dita.venues._events import answered


def open_kernel(wal: Path, venue: Any) -> ExecutionKernel:
    return ExecutionKernel(max_slots=4, venue=venue, kernel_id="rec", wal_dir=str(wal), fsync="always")


def release(holder: list[ExecutionKernel]) -> None:
    """Drops the only reference to a kernel, as a process exit would, freeing its log."""
    holder.pop().close()
    gc.collect()


def test_a_fill_that_happened_while_down_is_recovered_and_logged(tmp_path: Path) -> None:
    venue = MockVenueAdapter(fill_rate=0.0)
    held = [open_kernel(tmp_path, venue)]
    out = held[0].process_intent(intent("ENTER", 0, target_size=2.0, order_type="LIMIT", limit_price=99.0))
    coid = out.order.client_order_id
    # The venue fills the order, but the process is gone before it hears about it.
    venue.fill_open_order(coid, 98.5)
    release(held)
    kernel = open_kernel(tmp_path, venue)
    assert kernel.slot(0).fsm_state == TradeStage.ENTRY_WORKING
    report = kernel.reconcile_with_venue()
    assert [f["client_order_id"] for f in report.missed_fills] == [coid]
    assert report.missed_fills[0]["qty"] == 2.0 and report.missed_fills[0]["price"] == 98.5
    assert report.position_mismatches == [] and not report.clean
    s = kernel.slot_state(0)  # a copy: a live SlotView would keep the kernel (and its log) open
    assert s.fsm_state == TradeStage.POSITION_OPEN and s.size == 2.0 and s.entry_price == 98.5
    # The resolution went through the log: a second restart needs no reconciliation.
    held = [kernel]
    del kernel
    release(held)
    kernel = open_kernel(tmp_path, venue)
    assert kernel.slot(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.reconcile_with_venue().clean


def test_the_report_reads_as_one_line_per_order_for_a_person(tmp_path: Path) -> None:
    venue = MockVenueAdapter(fill_rate=0.0)
    kernel = open_kernel(tmp_path, venue)
    out = kernel.process_intent(intent("ENTER", 0, target_size=2.0, order_type="LIMIT", limit_price=99.0))
    coid = out.order.client_order_id
    venue.fill_open_order(coid, 98.5)
    venue.submit(VenueOrder("someone-else-1", 0, "t?", "BTCUSDT", "BUY", "LIMIT", 90.0, 1.0))
    report = kernel.reconcile_with_venue(cancel_unknown=False)
    assert report.lines() == [
        f"missed_fills: {coid} (slot 0, BTCUSDT): qty 2.0, price 98.5",
        "foreign_orders_left: someone-else-1 (BTCUSDT): venue_order_id "
        + (report.foreign_orders_left[0]["venue_order_id"] or "''")
        + ", size 1.0, side BUY, filled_size 0.0, avg_fill_price 0.0",
    ]
    assert report.lines(skip=("missed_fills",)) == report.lines()[1:]
    # A venue's text with a line break stays on its line.
    told = ReconciliationReport(unresolved=[{"client_order_id": "k-1", "reason": "HTTP 502\n<html>"}])
    assert told.lines() == ["unresolved: k-1: reason 'HTTP 502\\n<html>'"]
    assert kernel.reconcile_with_venue(cancel_unknown=False).lines() == report.lines()[1:]


def test_orders_only_the_venue_knows_are_canceled_or_reported(tmp_path: Path) -> None:
    """An order under a client id this kernel issued ("rec-<n>") that it has no record of is
    canceled; another's (a second bot's) is left alone unless ``cancel_foreign_orders``."""
    venue = MockVenueAdapter(fill_rate=0.0)
    kernel = open_kernel(tmp_path, venue)
    venue.submit(VenueOrder("rec-41", 0, "t?", "BTCUSDT", "BUY", "LIMIT", 90.0, 1.0))
    venue.submit(VenueOrder("someone-else-1", 0, "t?", "BTCUSDT", "BUY", "LIMIT", 90.0, 1.0))
    report = kernel.reconcile_with_venue(cancel_unknown=False)
    assert [o["client_order_id"] for o in report.unknown_at_venue_left] == ["rec-41"]
    assert [o["client_order_id"] for o in report.foreign_orders_left] == ["someone-else-1"]
    assert len(venue.open_orders()) == 2
    report = kernel.reconcile_with_venue()
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["rec-41"]
    assert [o["client_order_id"] for o in report.foreign_orders_left] == ["someone-else-1"]
    assert report.clean is False
    assert [o.client_order_id for o in venue.open_orders()] == ["someone-else-1"]
    report = kernel.reconcile_with_venue()
    assert report.clean and report.foreign_orders_left  # another's order is no disagreement
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["someone-else-1"]
    assert venue.open_orders() == []


@pytest.mark.parametrize("cancel_unknown", [True, False])
def test_an_order_nobody_manages_is_reported_with_what_it_filled(cancel_unknown: bool) -> None:
    """The kernel's own order, its log tail lost, filled 1.5 of 2.0 at the venue: a position the
    kernel never booked. Its item said only its size, so the 1.5 in ``position_mismatches`` came
    from nowhere the report named."""
    venue = FilledWhileUnheard()
    venue.orders["lost-9"] = VenueOrder(
        "lost-9", 0, "", "BTCUSDT", "BUY", "LIMIT", 99.0, 2.0,
        venue_order_id="V9", filled_size=1.5, avg_fill_price=98.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="lost")
    report = kernel.reconcile_with_venue(cancel_unknown=cancel_unknown)
    # Its cancel is answered with nothing yet: sent, not confirmed.
    (item,) = report.unknown_at_venue_cancel_sent if cancel_unknown else report.unknown_at_venue_left
    assert (item["client_order_id"], item["size"]) == ("lost-9", 2.0)
    assert (item["filled_size"], item["avg_fill_price"]) == (1.5, 98.0)


def test_a_timed_out_submit_that_reached_the_venue_is_acknowledged_and_filled(tmp_path: Path) -> None:
    venue = TimesOut(MockVenueAdapter(), reaches_venue=True)
    kernel = open_kernel(tmp_path, venue)
    out = kernel.process_intent(intent("ENTER", 1, target_size=3.0))
    assert out.state == TradeStage.ORDER_SENT and out.details["submit_outcome"] == "unknown"
    report = kernel.reconcile_with_venue()
    assert [a["client_order_id"] for a in report.acknowledged] == [out.order.client_order_id]
    assert report.missed_fills[0]["qty"] == 3.0
    assert kernel.slot(1).fsm_state == TradeStage.POSITION_OPEN
    assert report.position_mismatches == []


def test_a_timed_out_submit_that_never_arrived_ends_and_frees_the_slot(tmp_path: Path) -> None:
    venue = TimesOut(MockVenueAdapter(), reaches_venue=False)
    kernel = open_kernel(tmp_path, venue)
    out = kernel.process_intent(intent("ENTER", 2))
    assert out.state == TradeStage.ORDER_SENT
    report = kernel.reconcile_with_venue()
    assert [x["client_order_id"] for x in report.lost_submits] == [out.order.client_order_id]
    assert kernel.slot(2).fsm_state == TradeStage.IDLE and kernel.free_slot_id() == 0


def test_position_differences_are_reported_not_guessed(tmp_path: Path) -> None:
    venue = MockVenueAdapter()
    kernel = open_kernel(tmp_path, venue)
    kernel.process_intent(intent("ENTER", 0, target_size=1.0))
    venue.submit(VenueOrder("manual-1", 0, "manual", "BTCUSDT", "BUY", "MARKET", 100.0, 0.5))
    report = kernel.reconcile_with_venue()
    assert report.position_mismatches == [
        {"asset": "BTCUSDT", "venue": 1.5, "kernel": 1.0, "difference": 0.5}
    ]
    assert kernel.slot(0).size == 1.0  # the kernel's own books are not rewritten from a guess


def test_an_order_canceled_at_the_venue_while_away_ends_in_the_kernel(tmp_path: Path) -> None:
    venue = MockVenueAdapter(fill_rate=0.0)
    kernel = open_kernel(tmp_path, venue)
    out = kernel.process_intent(intent("ENTER", 3, target_size=2.0, order_type="LIMIT", limit_price=99.0))
    coid = out.order.client_order_id
    venue.cancel(out.order)  # canceled at the venue; the kernel never heard
    report = kernel.reconcile_with_venue()
    assert [e["client_order_id"] for e in report.ended_at_venue] == [coid]
    assert report.ended_at_venue[0]["status"] == "CANCELED"
    assert kernel.slot_state(3).fsm_state == TradeStage.IDLE
    assert kernel.reconcile_with_venue().clean


class CanceledWhileDown:
    """A venue that filled half of the kernel's order and then canceled the rest while the
    process was down, and still has the fill's execution report queued for the stream."""

    name = "canceled-while-down"

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}

    def submit(self, order: VenueOrder) -> list[Any]:
        return []

    def cancel(self, order: VenueOrder) -> list[Any]:
        return []

    def open_orders(self) -> list[VenueOrder]:
        return []

    def positions(self) -> dict[str, float]:
        return {"BTCUSDT": 0.5}

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return self.orders.get(client_order_id)


def canceled_half_filled(venue: Any, coid: str, slot: int = 0, venue_order_id: str = "V1") -> None:
    """The venue holds the entry ``coid`` of ``slot`` as canceled after filling 0.5 of it at 100."""
    venue.orders[coid] = VenueOrder(
        coid, slot, f"t{slot}", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
        venue_order_id=venue_order_id, filled_size=0.5, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip


def test_the_venues_report_of_a_fill_reconciliation_booked_is_not_booked_again(tmp_path: Path) -> None:
    venue = CanceledWhileDown()
    held = [open_kernel(tmp_path, venue)]
    coid = held[0].process_intent(intent("ENTER", 0)).order.client_order_id
    canceled_half_filled(venue, coid)
    release(held)
    kernel = open_kernel(tmp_path, venue)
    report = kernel.reconcile_with_venue()
    assert report.missed_fills[0]["qty"] == 0.5 and report.ended_at_venue
    assert kernel.slot_state(0).size == 0.5 and report.position_mismatches == []
    queued = VenueEvent(
        "exec-1", "t0", 0, "FILL", venue_client_id=coid, venue_order_id="V1",
        price=100.0, size=0.5, filled_size=0.5, fill_id="F1",
    )  # fmt: skip
    out = kernel.on_venue_event(queued)
    assert out.diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT and not out.accepted
    assert kernel.slot_state(0).size == 0.5
    kernel.close()


class FilledWhileUnheard(CanceledWhileDown):
    """The venue filled half of a working order; the kernel has not heard of it yet."""

    def open_orders(self) -> list[VenueOrder]:
        return list(self.orders.values())


def test_a_fill_reconciliation_booked_is_known_whatever_the_order_does_next(tmp_path: Path) -> None:
    """Reconciliation books the venue's fills up to their total under its own fill id; the
    venue's own report may still come, under its id, before or after the order ends."""
    for report_after_cancel, filled in ((False, 0.5), (True, 0.5), (False, 1.0)):
        venue = FilledWhileUnheard()
        kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=f"rw{int(report_after_cancel)}")
        coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
        kernel.on_venue_event(
            VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1")
        )
        venue.orders[coid] = VenueOrder(
            coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
            venue_order_id="V1", filled_size=filled, avg_fill_price=100.0,
            status="PARTIALLY_FILLED" if filled < 1.0 else "FILLED",
        )  # fmt: skip
        assert kernel.reconcile_with_venue().missed_fills[0]["qty"] == filled
        if report_after_cancel:  # an end that does not say how much filled
            kernel.on_venue_event(VenueEvent("c1", "t0", 0, "CANCEL_ACK", venue_client_id=coid))
        report = VenueEvent(
            "exec-1", "t0", 0, "FILL", venue_client_id=coid, venue_order_id="V1",
            price=100.0, size=filled, filled_size=filled, fill_id="F1",
        )  # fmt: skip
        out = kernel.on_venue_event(report)
        assert out.diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT, (report_after_cancel, filled)
        assert out.severity.name == "WARNING" and kernel.slot_state(0).size == filled
        if filled == 1.0:
            continue  # the order is full: nothing more can fill
        # A fill past what reconciliation booked is new money.
        more = VenueEvent(
            "exec-2", "t0", 0, "FILL", venue_client_id=coid, price=100.0, size=0.2, filled_size=0.7
        )
        assert kernel.on_venue_event(more).accepted and kernel.slot_state(0).size == pytest.approx(0.7)


class EndedOrders(CanceledWhileDown):
    """Knows the status of orders that ended (what reconciliation asks about a waited order)."""


def awaiting(venue: Any, kernel_id: str) -> tuple[ExecutionKernel, str]:
    """A kernel whose entry in slot 0 ended with the venue counting 0.4 filled that it never
    sent: the slot waits for that fill. The kernel and the order's client id."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=kernel_id)
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    kernel.on_venue_event(VenueEvent("c1", "t0", 0, "CANCEL_ACK", venue_client_id=coid, filled_size=0.4))
    return kernel, coid


def test_reconciliation_books_or_settles_what_a_slot_waits_for(tmp_path: Path) -> None:
    """An order ended with the venue counting 0.4 filled that it never sent: the venue's
    order status books the fill (or, saying nothing filled, settles the wait)."""
    for venue_filled in (0.4, 0.0, 0.6):  # as the end said, nothing after all, more than it said
        venue = EndedOrders()
        kernel, coid = awaiting(venue, f"aw{int(venue_filled * 10)}")
        assert kernel.free_slot_id() == 1
        venue.orders[coid] = VenueOrder(
            coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
            filled_size=venue_filled, avg_fill_price=100.0, status="CANCELED",
        )  # fmt: skip
        report = kernel.reconcile_with_venue()
        assert [a["client_order_id"] for a in report.awaited_settled] == [coid]
        assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == venue_filled
        assert kernel.free_slot_id() == (1 if venue_filled else 0)


def test_reconciliation_books_what_a_slot_waits_for_by_its_reports_stated_total(tmp_path: Path) -> None:
    """An order whose one fill report (0.1) stated a running total of 0.4 ended without a
    figure: the slot waits for the 0.3 on its way, and the venue's order status
    books it."""
    venue = EndedOrders()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="stated")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    report = VenueEvent("f1", "t0", 0, "FILL", venue_client_id=coid, price=100.0, size=0.1, filled_size=0.4)
    assert kernel.on_venue_event(report).accepted
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    ended = kernel.on_venue_event(VenueEvent("c1", "t0", 0, "CANCEL_ACK", venue_client_id=coid))
    assert ended.severity.name == "WARNING"
    assert ended.details["reported_filled_size"] == pytest.approx(0.4)
    assert ended.details["unreported_qty"] == pytest.approx(0.3)
    assert kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.3)
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
        filled_size=0.4, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip
    settled = kernel.reconcile_with_venue()
    assert [a["client_order_id"] for a in settled.awaited_settled] == [coid]
    assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(0.4)


@pytest.mark.parametrize("answer", ["ack", "none", "refused"])
def test_an_awaited_order_the_venue_says_still_works_is_canceled(answer: str) -> None:
    """An order ended for the kernel (a CANCEL_ACK counting 0.4) that the venue lists as
    working was reported unresolved and left working, and its 0.4 unbooked: a fill past the
    0.4 its slot waits for would have been refused as an overfill. The order is canceled, and
    what the listing counts booked once the venue says it is canceled; a cancel the venue does
    not confirm is named, and the order stays awaited (booked, its wait settled, it would be
    taken for one nobody manages at the next reconciliation, its later fills never booked)."""
    venue = InDoubt(cancel=answer)
    kernel, coid = awaiting(venue, f"aw-working-{answer}")
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
        filled_size=0.4, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    venue.reconciling = True
    report = kernel.reconcile_with_venue()
    item = {"client_order_id": coid, "slot_id": 0, "asset": "BTCUSDT"}
    assert venue.canceled == [coid] and report.unknown_at_venue_canceled == []
    if answer == "ack":
        assert report.missed_fills == [{**item, "qty": pytest.approx(0.4), "price": 100.0}]
        assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(0.4)
        assert report.awaited_settled == [{**item, "venue_filled_size": pytest.approx(0.4), "canceled": True}]
        assert report.unresolved == []
    else:
        assert report.missed_fills == [] and report.awaited_settled == [] and not report.clean
        assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
        why = "not said it is canceled yet" if answer == "none" else "CANCEL_REJECT: too many requests"
        assert [u["client_order_id"] for u in report.unresolved] == [coid]
        assert why in report.unresolved[0]["reason"]
        assert "booked once it says the order is canceled" in report.unresolved[0]["reason"]
        venue.orders[coid] = answered(venue.orders[coid], "", VenueOrderStatus.CANCELED, 0.4, 100.0)
        again = kernel.reconcile_with_venue()
        assert [m["qty"] for m in again.missed_fills] == [pytest.approx(0.4)]
        assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(0.4)


@pytest.mark.parametrize("cancel_filled", [0.0, 0.2])
def test_an_awaited_order_listed_with_less_filled_is_canceled_without_lowering_its_figure(
    cancel_filled: float,
) -> None:
    """The venue's cancel ack counted 0.4 filled; its listing, stale, still shows the order
    working with nothing filled, and its answer to reconciliation's cancel counts less. That
    figure was taken for the order's end: the slot's wait for the 0.4 was settled at less, and
    the fill the venue had reported was never booked. The order is canceled all the same, and
    named; the slot waits on."""
    venue = InDoubt(cancel_filled=cancel_filled)
    kernel, coid = awaiting(venue, f"aw-stale-{cancel_filled}")
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, filled_size=0.0, status="ACKNOWLEDGED"
    )
    venue.reconciling = True
    report = kernel.reconcile_with_venue()
    assert venue.canceled == [coid] and report.awaited_settled == [] and not report.clean
    assert "below the 0.4 it stated when the order ended" in report.unresolved[0]["reason"]
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    assert kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.4) and kernel.free_slot_id() == 1


def test_an_awaited_exit_beside_an_awaited_entry_is_ended_with_the_venues_figure() -> None:
    """Both of a slot's orders wait: the entry's cancel ack counted 0.8 (0.5 booked), the exit's
    0.2 (0.1 booked). The venue still works the exit, which filled 0.1 more before the cancel
    reached it, as the cancel's answer says (0.3). The floor for the exit's figure was read as
    what is booked plus the slot's wait, the entry's 0.3 with it (0.5): the venue's 0.3 was
    refused as below a 0.5 it never stated, the order named unresolved, and the exit's 0.3 never
    taken, so the venue's report of the fill was refused as an overfill, never booked. The
    entry, over at the venue, is settled first; the exit's floor is then its own 0.2."""
    venue = InDoubt(cancel_filled=0.3)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="aw-both")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    fill = VenueEvent(
        "f1",
        "t0",
        0,
        "FILL",
        "PARTIALLY_FILLED",
        venue_client_id=coid,
        price=100.0,
        size=0.5,
        filled_size=0.5,
    )
    assert kernel.on_venue_event(fill).accepted and kernel.process_intent(intent("CANCEL", 0)).accepted
    kernel.on_venue_event(VenueEvent("c1", "t0", 0, "CANCEL_ACK", venue_client_id=coid, filled_size=0.8))
    xid = kernel.process_intent(intent("EXIT", 0)).order.client_order_id
    fill = VenueEvent(
        "f2", "t0", 0, "FILL", "PARTIALLY_FILLED", venue_client_id=xid, price=101.0, size=0.1, filled_size=0.1
    )
    assert kernel.on_venue_event(fill).accepted and kernel.process_intent(intent("CANCEL", 0)).accepted
    kernel.on_venue_event(VenueEvent("c2", "t0", 0, "CANCEL_ACK", venue_client_id=xid, filled_size=0.2))
    assert kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.4)
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
        filled_size=0.8, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip
    venue.orders[xid] = VenueOrder(
        xid, 0, "t0", "BTCUSDT", "SELL", "MARKET", 100.0, 0.5,
        filled_size=0.2, avg_fill_price=101.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    venue.reconciling = True
    report = kernel.reconcile_with_venue()
    assert venue.canceled == [xid] and report.unresolved == []
    entry, exit_ = ({"client_order_id": c, "slot_id": 0, "asset": "BTCUSDT"} for c in (coid, xid))
    assert report.awaited_settled == [
        {**entry, "venue_filled_size": 0.8},
        {**exit_, "venue_filled_size": 0.3, "canceled": True},
    ]
    assert kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.1)  # the exit's fill on its way
    late = VenueEvent("f3", "t0", 0, "FILL", venue_client_id=xid, price=101.0, size=0.1, filled_size=0.3)
    assert kernel.on_venue_event(late).accepted
    assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(0.5)


class InDoubt(EndedOrders):
    """Holds the kernel's exit as the test says (or not at all), and cancels it when asked:
    with a CANCEL_ACK stating ``cancel_filled`` (after the ``answer_fills``), or by refusing,
    by answering nothing, or by raising."""

    def __init__(self, cancel: str = "ack", cancel_filled: float | None = None) -> None:
        super().__init__()
        self.cancel_answer, self.cancel_filled = cancel, cancel_filled
        self.answer_fills: list[VenueEvent] = []
        self.canceled: list[str] = []
        self.reconciling = False  # the kernel's own cancel (before) goes unanswered

    def positions(self) -> dict[str, float]:
        return {}

    def open_orders(self) -> list[VenueOrder]:
        return [
            o for o in self.orders.values() if o.status.name in ("NEW", "ACKNOWLEDGED", "PARTIALLY_FILLED")
        ]

    def cancel(self, order: VenueOrder) -> list[Any]:
        if not self.reconciling:
            return []
        self.canceled.append(order.client_order_id)
        if self.cancel_answer == "raise":
            raise TimeoutError("cancel timed out")
        if self.cancel_answer == "none":
            return []
        kind = "CANCEL_ACK" if self.cancel_answer == "ack" else "CANCEL_REJECT"
        filled = order.filled_size if self.cancel_filled is None else self.cancel_filled
        why = "" if kind == "CANCEL_ACK" else "too many requests"
        coid = order.client_order_id
        held = self.orders.get(coid)
        if kind == "CANCEL_ACK" and held is not None:
            # Canceled there: its order status says so from then on, with its figure.
            done = max(held.filled_size, filled)
            status = VenueOrderStatus.CANCELED
            self.orders[coid] = answered(held, held.venue_order_id, status, done, held.avg_fill_price)
        return [
            *self.answer_fills,
            VenueEvent(
                "vc",
                order.trade_id,
                order.slot_id,
                kind,
                venue_client_id=coid,
                filled_size=filled,
                reason=why,
            ),
        ]


class FollowsOrders(InDoubt):
    """A venue that follows orders (``watch``, as CcxtVenue and IbkrVenue): what it was last told
    is booked of each, which its stream then does not report again."""

    def __init__(self, cancel: str) -> None:
        super().__init__(cancel=cancel)
        self.told_booked: dict[str, float] = {}

    def watch(self, order: VenueOrder) -> None:
        self.told_booked[order.client_order_id] = order.filled_size


@pytest.mark.parametrize("answer", ["ack", "none", "refused"])
def test_the_venue_is_told_an_awaited_orders_listed_fill_only_once_it_is_booked(answer: str) -> None:
    """The awaited order is listed working with 0.4 filled, booked once its cancel is confirmed.
    The venue was told the 0.4 booked before the cancel: with the cancel not confirmed, nothing
    booked it, and a venue that follows orders would not report those shares (IBKR's stream)."""
    venue = FollowsOrders(answer)
    kernel, coid = awaiting(venue, f"aw-told-{answer}")
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, venue_order_id="V1",
        filled_size=0.4, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    venue.reconciling = True
    refused = kernel.stats()["venue_events_refused"]
    kernel.reconcile_with_venue()
    booked = kernel.slot_state(0).size
    assert booked == pytest.approx(0.4 if answer == "ack" else 0.0)
    assert venue.told_booked[coid] == pytest.approx(booked)
    assert kernel.stats()["venue_events_refused"] == refused


class FillsBeforeReconciliationsCancel(InDoubt):
    """Refuses reconciliation's cancel: the order's last 0.6 filled first (running total 1.0),
    reported in the answer (``in_answer``) or not; its order status says FILLED from then on."""

    def __init__(self, in_answer: bool) -> None:
        super().__init__(cancel="refused")
        self.in_answer = in_answer

    def cancel(self, order: VenueOrder) -> list[Any]:
        coid = order.client_order_id
        self.canceled.append(coid)
        self.orders[coid] = answered(self.orders[coid], "V1", VenueOrderStatus.FILLED, 1.0, 100.0)
        refusal = VenueEvent("vr", "t0", 0, "CANCEL_REJECT", venue_client_id=coid, reason="order filled")
        if not self.in_answer:
            return [refusal]
        fill = VenueEvent(
            "vf", "t0", 0, "FILL", venue_client_id=coid, fill_id="T2", price=100.0, size=0.6,
            filled_size=1.0, status="FILLED",
        )  # fmt: skip
        return [fill, refusal]


@pytest.mark.parametrize("in_answer", [True, False])
def test_an_awaited_order_that_fills_before_reconciliations_cancel_is_booked_in_full(in_answer: bool) -> None:
    """The kernel ended the order with 0.4 counted; the venue lists it working with 0.4 filled,
    and refuses reconciliation's cancel: the rest filled first. The order was reported settled
    with nothing booked (the answer's 0.6 refused as an overfill against the end's 0.4). It is
    ended with the venue's figure, then the listed 0.4 and the answer's 0.6 are booked; without
    the fill in the answer, the 0.6 is awaited."""
    venue = FillsBeforeReconciliationsCancel(in_answer)
    kernel, coid = awaiting(venue, f"aw-filled-first-{in_answer}")
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, venue_order_id="V1",
        filled_size=0.4, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    report = kernel.reconcile_with_venue()
    item = {"client_order_id": coid, "slot_id": 0, "asset": "BTCUSDT"}
    assert venue.canceled == [coid] and report.unresolved == []
    assert report.awaited_settled == [{**item, "venue_filled_size": pytest.approx(1.0)}]
    assert [m["qty"] for m in report.missed_fills] == pytest.approx([0.4, 0.6] if in_answer else [0.4])
    assert kernel.slot_state(0).size == pytest.approx(1.0 if in_answer else 0.4)
    if not in_answer:
        assert kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.6)
        late = VenueEvent("vf", "t0", 0, "FILL", venue_client_id=coid, price=100.0, size=0.6, filled_size=1.0)
        assert kernel.on_venue_event(late).accepted
    assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(1.0)


class TellsItsExecutionUnconfirmed(InDoubt):
    """Answers reconciliation's cancel with no CANCEL_ACK yet (IbkrVenue's when TWS does not
    answer in ``answer_wait_s``), the order's execution of 0.4 in it the first time (a restarted
    adapter told the order with nothing booked reports it)."""

    def __init__(self) -> None:
        super().__init__(cancel="none")
        self.told = False

    def cancel(self, order: VenueOrder) -> list[Any]:
        if not self.reconciling:
            return []
        self.canceled.append(order.client_order_id)
        if self.told:
            return []
        self.told = True
        execution = VenueEvent(
            "ex1", "t0", 0, "FILL", venue_client_id=order.client_order_id, venue_order_id="V1",
            fill_id="E1", price=100.0, size=0.4, filled_size=0.4, status="PARTIALLY_FILLED",
            remaining_size=0.6,
        )  # fmt: skip
        return [execution]


def test_an_awaited_orders_fill_in_an_unconfirmed_cancels_answer_is_booked_once_the_venue_ends_it() -> None:
    """The awaited order is listed working with 0.4 filled; its cancel is not confirmed, its
    answer carrying that 0.4. Booked, it would settle the slot's wait while the venue works the
    order on, which the next reconciliation would take for one nobody manages, its later 0.3
    never booked. It stays awaited, and once the venue says it is canceled, all 0.7 is booked."""
    venue = TellsItsExecutionUnconfirmed()
    kernel, coid = awaiting(venue, "aw-unconfirmed-fill")
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "LIMIT", 100.0, 1.0, venue_order_id="V1",
        filled_size=0.4, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    venue.reconciling = True
    first = kernel.reconcile_with_venue()
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    assert kernel.slot_state(0).size == pytest.approx(0.0) and first.missed_fills == []
    [left] = first.unresolved
    assert left["reason"].endswith("what the venue lists filled is booked once it says the order is canceled")

    venue.orders[coid] = answered(venue.orders[coid], "V1", VenueOrderStatus.CANCELED, 0.7, 100.0)
    second = kernel.reconcile_with_venue()
    assert [a["client_order_id"] for a in second.awaited_settled] == [coid]
    assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(0.7)


def test_the_stream_execution_of_an_order_whose_cancel_is_unconfirmed_is_booked_once_it_is_over() -> None:
    """As the docs say: while the cancel is unconfirmed, the venue's next execution on the stream
    runs beyond the figure the order was ended with, and is refused as an overfill; the
    reconciliation after the venue says the order is canceled books all 0.7."""
    venue = TellsItsExecutionUnconfirmed()
    kernel, coid = awaiting(venue, "aw-unconfirmed-stream")
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "LIMIT", 100.0, 1.0, venue_order_id="V1",
        filled_size=0.4, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    venue.reconciling = True
    kernel.reconcile_with_venue()
    streamed = VenueEvent(
        "ex2", "t0", 0, "FILL", venue_client_id=coid, venue_order_id="V1", fill_id="E2",
        price=100.0, size=0.3, filled_size=0.7, status="PARTIALLY_FILLED", remaining_size=0.3,
    )  # fmt: skip
    out = kernel.on_venue_event(streamed)
    assert not out.accepted and out.diagnostic_code == KernelDiagnosticCode.OVERFILL
    venue.orders[coid] = answered(venue.orders[coid], "V1", VenueOrderStatus.CANCELED, 0.7, 100.0)
    kernel.reconcile_with_venue()
    assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(0.7)


def exit_in_doubt(venue: Any, kernel_id: str) -> tuple[ExecutionKernel, str]:
    """A kernel holding 1.0 in slot 0 whose exit was rate limited before the venue
    acknowledged it, with a cancel asked: the exit may still work at the venue. The kernel
    and the exit's client id."""
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=kernel_id)
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    kernel.on_venue_event(VenueEvent("f1", "t0", 0, "FILL", venue_client_id=coid, price=100.0, size=1.0))
    xid = kernel.process_intent(intent("EXIT", 0)).order.client_order_id
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    out = kernel.on_venue_event(
        VenueEvent("r1", "t0", 0, "RATE_LIMITED", venue_client_id=xid, retry_after=1.0)
    )
    assert out.state == TradeStage.POSITION_OPEN and "may still work" in out.details["slot_waits"]
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [xid]
    refused = kernel.process_intent(intent("EXIT", 0))
    assert (
        refused.diagnostic_code == KernelDiagnosticCode.SLOT_BUSY
        and refused.details["client_order_id"] == xid
    )
    venue.reconciling = True
    return kernel, xid


def exit_as_held(venue: InDoubt, xid: str, status: str, filled: float) -> None:
    venue.orders[xid] = VenueOrder(
        xid, 0, "t0", "BTCUSDT", "SELL", "MARKET", 100.0, 1.0,
        venue_order_id="VX", filled_size=filled, avg_fill_price=101.0 if filled else 0.0, status=status,
    )  # fmt: skip


def test_an_exit_in_doubt_the_venue_never_took_is_ended_and_the_slot_exits_again() -> None:
    """The rate limit was the exit's submit: the venue has no such order. Reconciliation
    ends it unfilled (a REJECT), and the position can be exited again."""
    venue = InDoubt()
    kernel, xid = exit_in_doubt(venue, "doubt-none")
    report = kernel.reconcile_with_venue()
    assert report.awaited_settled == [
        {"client_order_id": xid, "slot_id": 0, "asset": "BTCUSDT", "venue_filled_size": 0.0}
    ]
    assert venue.canceled == [] and kernel.orders_in_doubt() == [] and kernel.awaited_orders() == []
    assert kernel.slot_state(0).size == 1.0
    assert kernel.process_intent(intent("EXIT", 0)).accepted


def test_an_exit_in_doubt_that_filled_is_not_taken_for_a_submit_the_venue_never_took() -> None:
    """A late part fill (0.6, with the exit's venue id) leaves the exit in doubt: the venue took
    it. Its order status then says no such order (purged once over; TWS past the day's
    executions). It was rejected as a submit the venue never took, its slot freed, and the rest
    of its fill, reported late, refused as an overfill. It is ended as purged (its figure
    unknown), named, and the rest is booked when it comes."""
    venue = InDoubt()
    kernel, xid = exit_in_doubt(venue, "doubt-filled-gone")
    fill = VenueEvent(
        "xf1", "t0", 0, "FILL", "PARTIALLY_FILLED", venue_client_id=xid, price=101.0, size=0.6,
        filled_size=0.6, remaining_size=0.4, fill_id="X1", venue_order_id="VX",
    )  # fmt: skip
    assert kernel.on_venue_event(fill).accepted
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [xid]
    report = kernel.reconcile_with_venue()
    assert report.awaited_settled == [] and venue.canceled == []
    [purged] = report.purged_at_venue
    assert purged["client_order_id"] == xid and purged["ended_as"] == "CANCELED"
    assert "venue order id VX" in purged["reason"] and "a fill may be missing" in purged["reason"]
    assert report.unresolved == [] and kernel.orders_in_doubt() == []
    late = VenueEvent(
        "xf2", "t0", 0, "FILL", venue_client_id=xid, price=101.0, size=0.4, filled_size=1.0,
        fill_id="X2", venue_order_id="VX",
    )  # fmt: skip
    out = kernel.on_venue_event(late)
    assert out.accepted, (out.diagnostic_code, out.details)
    assert kernel.orders_in_doubt() == [] and kernel.slot_state(0).fsm_state == TradeStage.CLOSED


def test_an_exit_in_doubt_the_venue_took_and_purged_frees_its_slot() -> None:
    """The exit's venue id came with a late ack; the venue then has no record of it (HTX and
    Binance drop canceled unfilled orders from lookups). Nothing more can come of asking: it is
    ended as purged, and the position can be exited again, not refused SLOT_BUSY for good."""
    venue = InDoubt()
    kernel, xid = exit_in_doubt(venue, "doubt-purged")
    ack = VenueEvent("xa", "t0", 0, "ORDER_ACK", venue_client_id=xid, venue_order_id="VX")
    assert kernel.on_venue_event(ack).accepted
    assert [o.venue_order_id for o in kernel.orders_in_doubt()] == ["VX"]
    first, again = kernel.reconcile_with_venue(), kernel.reconcile_with_venue()
    [purged] = first.purged_at_venue
    assert purged["client_order_id"] == xid and purged["venue_order_id"] == "VX"
    assert first.unresolved == [] and again.unresolved == [] and again.purged_at_venue == []
    assert kernel.orders_in_doubt() == [] and kernel.awaited_orders() == []
    assert kernel.process_intent(intent("EXIT", 0)).accepted


@pytest.mark.parametrize("filled", [0.0, 0.4])
def test_an_exit_in_doubt_working_at_the_venue_is_canceled_and_its_fill_booked(filled: float) -> None:
    """The rate limit was the exit's cancel: the venue works the order. Reconciliation
    cancels it, books what it filled, and the slot takes an exit again."""
    venue = InDoubt()
    kernel, xid = exit_in_doubt(venue, f"doubt-works-{filled}")
    exit_as_held(venue, xid, "PARTIALLY_FILLED" if filled else "ACKNOWLEDGED", filled)
    report = kernel.reconcile_with_venue()
    assert venue.canceled == [xid] and report.unknown_at_venue_canceled == []
    (settled,) = report.awaited_settled
    assert settled["canceled"] is True and settled["venue_filled_size"] == filled
    assert [m["qty"] for m in report.missed_fills] == ([filled] if filled else [])
    assert kernel.orders_in_doubt() == [] and kernel.awaited_orders() == []
    assert kernel.slot_state(0).size == pytest.approx(1.0 - filled)
    assert kernel.process_intent(intent("EXIT", 0)).accepted


class FillsBeforeItsCancel(InDoubt):
    """Fills 0.2 more of the exit before reconciliation's cancel lands (reported later on the
    stream), and acknowledges the cancel without a filled size ("cannot say")."""

    def __init__(self) -> None:
        super().__init__(cancel_filled=0.0)

    def cancel(self, order: VenueOrder) -> list[Any]:
        held = self.orders[order.client_order_id]
        raced = held.filled_size + 0.2
        self.orders[held.client_order_id] = answered(
            held, held.venue_order_id, VenueOrderStatus.PARTIALLY_FILLED, raced, held.avg_fill_price
        )
        return super().cancel(order)


def test_a_fill_racing_the_cancel_of_an_exit_in_doubt_is_booked() -> None:
    """The exit in doubt works at the venue, listed 0.4 sold; 0.2 more sells before
    reconciliation's cancel, acknowledged without a figure. The exit was ended with the
    listing's 0.4, and the 0.2, reported on the stream, refused as an overfill: the kernel held
    0.2 more than the venue. Its order status, asked once it is canceled, says 0.6: the slot
    waits for the 0.2, booked when it comes."""
    venue = FillsBeforeItsCancel()
    kernel, xid = exit_in_doubt(venue, "doubt-raced")
    exit_as_held(venue, xid, "PARTIALLY_FILLED", 0.4)
    report = kernel.reconcile_with_venue()
    assert venue.canceled == [xid] and report.unresolved == []
    [settled] = report.awaited_settled
    assert settled["venue_filled_size"] == pytest.approx(0.6) and settled["canceled"] is True
    late = VenueEvent(
        "vf2", "t0", 0, "FILL", venue_client_id=xid, fill_id="T2", price=102.0, size=0.2, filled_size=0.6
    )
    out = kernel.on_venue_event(late)
    assert out.accepted, (out.diagnostic_code, out.details)
    assert kernel.slot_state(0).size == pytest.approx(0.4) and kernel.awaited_orders() == []


class InDoubtNoLookup(InDoubt):
    """Cannot look orders up by client id (``order_status`` is optional in the protocol)."""

    order_status = None


@pytest.mark.parametrize("listed", [0.0, 0.4])
def test_an_exit_in_doubt_canceled_without_a_figure_at_a_venue_without_lookup_ends_with_the_listings(
    listed: float,
) -> None:
    """The exit in doubt works at a venue that cannot look orders up, listed ``listed`` sold;
    reconciliation's cancel is acknowledged stating 0. No later run can ask (the order is no
    longer listed), so it was named unresolved for good and EXIT refused SLOT_BUSY. The
    listing's figure, the only one that venue has, ends it."""
    venue = InDoubtNoLookup(cancel_filled=0.0)
    kernel, xid = exit_in_doubt(venue, f"doubt-nolookup-{int(listed * 10)}")
    exit_as_held(venue, xid, "PARTIALLY_FILLED" if listed else "ACKNOWLEDGED", listed)
    report = kernel.reconcile_with_venue()
    assert venue.canceled == [xid] and report.unresolved == []
    [settled] = report.awaited_settled
    assert settled["venue_filled_size"] == listed and settled["canceled"] is True
    assert kernel.orders_in_doubt() == [] and kernel.awaited_orders() == []
    assert kernel.slot_state(0).size == pytest.approx(1.0 - listed)
    assert kernel.process_intent(intent("EXIT", 0)).accepted


def test_an_exit_in_doubt_the_venue_filled_is_booked() -> None:
    venue = InDoubt()
    kernel, xid = exit_in_doubt(venue, "doubt-filled")
    exit_as_held(venue, xid, "FILLED", 1.0)
    report = kernel.reconcile_with_venue()
    assert venue.canceled == [] and [m["qty"] for m in report.missed_fills] == [1.0]
    assert kernel.orders_in_doubt() == [] and kernel.slot_state(0).fsm_state == TradeStage.CLOSED


def late_exit_fill(xid: str, status: str | None, remaining: float = 0.0) -> VenueEvent:
    """A late fill of 0.6 of exit ``xid`` at 101, stating the running total 0.6 and ``status``."""
    return VenueEvent(
        "xf1", "t0", 0, "FILL", status, venue_client_id=xid, price=101.0, size=0.6, filled_size=0.6,
        remaining_size=remaining, fill_id="X1",
    )  # fmt: skip


def test_an_exit_in_doubt_the_venue_says_is_over_short_takes_a_new_exit() -> None:
    """Its late fill says FILLED, nothing remaining, at the running total booked: the exit
    works at the venue no more, so the doubt ends there and the slot takes a new EXIT at once,
    with no fill completing the exit and no reconciliation to wait for."""
    kernel, xid = exit_in_doubt(InDoubt(), "doubt-over-short")
    out = kernel.on_venue_event(late_exit_fill(xid, "FILLED"))
    assert out.accepted and out.details["late_fill"] is True
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    assert kernel.orders_in_doubt() == [] and kernel.slot_dict(0)["order_in_doubt"] == ""
    assert kernel.process_intent(intent("EXIT", 0)).order.size == pytest.approx(0.4)


@pytest.mark.parametrize(("status", "remaining"), [(None, 0.0), ("PARTIALLY_FILLED", 0.0), ("FILLED", 0.4)])
def test_a_late_part_fill_leaves_an_exit_in_doubt(status: str | None, remaining: float) -> None:
    """Made without a status, a part fill of the order takes PARTIALLY_FILLED from its sizes
    (not FILLED, though the order is kept after it ended); stating what remains, it is no end."""
    kernel, xid = exit_in_doubt(InDoubt(), f"doubt-part-{status}-{remaining}")
    assert kernel.on_venue_event(late_exit_fill(xid, status, remaining)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [xid]
    assert kernel.process_intent(intent("EXIT", 0)).diagnostic_code == KernelDiagnosticCode.SLOT_BUSY


@pytest.mark.parametrize("answer", ["refused", "none"])
def test_an_exit_in_doubt_whose_cancel_is_not_confirmed_keeps_its_slot_waiting(answer: str) -> None:
    """Refused, or sent with no answer yet: the exit may still fill, so the slot still takes
    no second exit, and the report says why."""
    venue = InDoubt(cancel=answer)
    kernel, xid = exit_in_doubt(venue, f"doubt-{answer}")
    exit_as_held(venue, xid, "ACKNOWLEDGED", 0.0)
    before = kernel.snapshot()
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == xid and "the kernel ended it" in left["reason"]
    assert ("CANCEL_REJECT: too many requests" if answer == "refused" else "not said it is canceled") in left[
        "reason"
    ]
    assert kernel.snapshot() == before and [o.client_order_id for o in kernel.orders_in_doubt()] == [xid]
    assert kernel.process_intent(intent("EXIT", 0)).diagnostic_code == KernelDiagnosticCode.SLOT_BUSY


def test_an_exit_in_doubt_canceled_with_more_filled_than_listed_waits_for_the_rest() -> None:
    """The cancel's answer counts 0.6 filled where the listing said 0.4: the 0.4 is booked,
    and the slot waits for the 0.2 as for any end stating more than was sent."""
    venue = InDoubt(cancel_filled=0.6)
    kernel, xid = exit_in_doubt(venue, "doubt-more")
    exit_as_held(venue, xid, "PARTIALLY_FILLED", 0.4)
    report = kernel.reconcile_with_venue()
    assert report.awaited_settled[0]["venue_filled_size"] == 0.6 and report.missed_fills[0]["qty"] == 0.4
    assert kernel.orders_in_doubt() == [] and kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.2)
    assert kernel.process_intent(intent("EXIT", 0)).diagnostic_code == KernelDiagnosticCode.SLOT_BUSY


def fill_t2(xid: str, size: float, total: float) -> VenueEvent:
    """The venue's fill T2 of exit ``xid`` at 102, as its cancel's answer reports it."""
    return VenueEvent(
        "vf2", "t0", 0, "FILL", venue_client_id=xid, fill_id="T2", price=102.0, size=size, filled_size=total
    )


def test_the_fills_an_exit_in_doubts_cancel_reports_are_booked() -> None:
    """A venue reports in its cancel's answer what filled since it last said (a ccxt adapter
    does, and not again): the answer was read for its figure only, the fill lost and the
    slot left waiting for it."""
    venue = InDoubt()
    kernel, xid = exit_in_doubt(venue, "doubt-answer-fill")
    exit_as_held(venue, xid, "PARTIALLY_FILLED", 0.4)
    venue.answer_fills = [fill_t2(xid, 0.2, total=0.6)]
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [0.4, 0.2] and report.unresolved == []
    assert report.awaited_settled[0]["venue_filled_size"] == 0.6
    assert kernel.slot_state(0).size == pytest.approx(0.4) and kernel.slot_dict(0)["awaited_fill_qty"] == 0.0
    assert kernel.orders_in_doubt() == [] and kernel.process_intent(intent("EXIT", 0)).accepted


def test_what_an_exit_in_doubt_filled_is_booked_though_its_cancel_fails() -> None:
    """Its late fills count whatever its cancel does: the listing's 0.4 was left unbooked
    when the cancel raised, a position the venue no longer holds."""
    venue = InDoubt(cancel="raise")
    kernel, xid = exit_in_doubt(venue, "doubt-cancel-raises")
    exit_as_held(venue, xid, "PARTIALLY_FILLED", 0.4)
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [0.4]
    (left,) = report.unresolved
    assert "TimeoutError: cancel timed out" in left["reason"]
    assert kernel.slot_state(0).size == pytest.approx(0.6) and kernel.orders_in_doubt() != []


def test_the_fills_a_refused_cancel_of_an_exit_in_doubt_reports_are_booked() -> None:
    """The exit filled before the cancel reached it: the venue answers with its last fill and
    a CANCEL_REJECT ("already filled"), reporting that fill only there. The fills were read
    from an answer that canceled only, so this one was lost."""
    venue = InDoubt(cancel="refused")
    kernel, xid = exit_in_doubt(venue, "doubt-filled-first")
    exit_as_held(venue, xid, "PARTIALLY_FILLED", 0.4)
    venue.answer_fills = [fill_t2(xid, 0.6, total=1.0)]
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [0.4, 0.6]
    assert kernel.slot_state(0).size == 0.0 and kernel.orders_in_doubt() == []
    assert [(a["client_order_id"], a["venue_filled_size"]) for a in report.awaited_settled] == [(xid, 1.0)]
    assert not any(u.get("client_order_id") == xid for u in report.unresolved)


def test_settling_only_the_orders_in_doubt_leaves_the_working_orders_alone() -> None:
    """A venue that lists a just-sent order late would have it ended as a lost submit: a
    runtime settling an order in doubt on its own must touch nothing else."""
    venue = InDoubt()
    kernel, xid = exit_in_doubt(venue, "doubt-only")
    working = kernel.process_intent(intent("ENTER", 1, trade_id="t1")).order.client_order_id
    report = kernel.reconcile_with_venue(only_in_doubt=True)
    assert [a["client_order_id"] for a in report.awaited_settled] == [xid]
    assert report.lost_submits == [] and kernel.slot_state(1).active_entry_order.client_order_id == working
    assert report.position_mismatches == [] and "not compared" in report.positions_unchecked
    assert not report.clean  # it compared nothing else: no word of agreement
    assert kernel.reconcile_with_venue().lost_submits[0]["client_order_id"] == working  # a full one does


class CannotAsk(CanceledWhileDown):
    """Knows some orders; asking about the others fails, as an unreachable exchange does."""

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        if client_order_id in self.orders:
            return self.orders[client_order_id]
        raise ConnectionError(f"no answer about {client_order_id}")


def test_an_order_the_venue_cannot_be_asked_about_is_left_unresolved_and_the_rest_done(
    tmp_path: Path,
) -> None:
    """A failed lookup is not "no such order": ending the order as a lost submit would drop an
    order that may be working, and raising half-way would leave the others half-reconciled."""
    venue = CannotAsk()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="cannot-ask")
    asked = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    known = kernel.process_intent(intent("ENTER", 1)).order.client_order_id
    canceled_half_filled(venue, known, slot=1, venue_order_id="V2")
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == asked and f"no answer about {asked}" in left["reason"]
    assert report.lost_submits == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
    assert [e["client_order_id"] for e in report.ended_at_venue] == [known]
    assert kernel.slot_state(1).size == 0.5


def test_an_awaited_order_the_venue_cannot_be_asked_about_is_left_unresolved(tmp_path: Path) -> None:
    venue = CannotAsk()
    kernel, coid = awaiting(venue, "aw-cannot-ask")
    before = kernel.snapshot()
    report = kernel.reconcile_with_venue()
    assert f"no answer about {coid}" in report.unresolved[0]["reason"] and kernel.snapshot() == before
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]


class AskedInItsMarket(CanceledWhileDown):
    """Takes the order's asset (the protocol's ``order_status(client_order_id, asset=None)``),
    and records each question."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, str | None]] = []

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        self.asked.append((client_order_id, asset))
        found = self.orders.get(client_order_id)
        return found if found is not None and found.asset == asset else None


class AskedByKeyword(AskedInItsMarket):
    """Takes the asset by keyword only."""

    def order_status(self, client_order_id: str, *, asset: str | None = None) -> VenueOrder | None:  # type: ignore[override]
        return super().order_status(client_order_id, asset)


@pytest.mark.parametrize("venue_type", [AskedInItsMarket, AskedByKeyword])
def test_order_status_is_asked_in_the_orders_market(venue_type: type[AskedInItsMarket]) -> None:
    """The kernel knows each order's asset: a venue that takes it asks that market only (a ccxt
    venue asked every market it trades after a restart, thousands on Binance), working and
    awaited orders alike."""
    venue = venue_type()
    kernel, awaited = awaiting(venue, "in-its-market")
    working = kernel.process_intent(intent("ENTER", 1, asset="ETHUSDT")).order.client_order_id
    venue.orders[awaited] = VenueOrder(
        awaited, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0,
        filled_size=0.4, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip
    venue.orders[working] = VenueOrder(
        working, 1, "t1", "ETHUSDT", "BUY", "MARKET", 100.0, 1.0,
        venue_order_id="V2", filled_size=0.5, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip
    report = kernel.reconcile_with_venue()
    assert sorted(venue.asked) == sorted([(working, "ETHUSDT"), (awaited, "BTCUSDT")])
    assert [e["client_order_id"] for e in report.ended_at_venue] == [working]
    assert [a["client_order_id"] for a in report.awaited_settled] == [awaited]
    assert report.lost_submits == [] and report.unresolved == []


def test_an_adapter_whose_order_status_takes_only_the_client_id_is_asked_as_before() -> None:
    """A third-party adapter whose ``order_status`` takes the client id alone is called without
    the asset, and reconciles."""
    venue = CanceledWhileDown()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="client-id-only")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    canceled_half_filled(venue, coid)
    report = kernel.reconcile_with_venue()
    assert [e["client_order_id"] for e in report.ended_at_venue] == [coid]
    assert report.unresolved == [] and kernel.slot_state(0).size == 0.5


class RaisesTypeError(CanceledWhileDown):
    """An adapter whose own code breaks with a TypeError, taking the asset or not."""

    def __init__(self, takes_asset: bool) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []
        if takes_asset:
            self.order_status = self._with_asset  # type: ignore[method-assign]

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        self.calls.append((client_order_id,))
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    def _with_asset(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        self.calls.append((client_order_id, asset))
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


@pytest.mark.parametrize("takes_asset", [True, False])
def test_a_type_error_inside_order_status_is_the_adapters_own_not_retried(takes_asset: bool) -> None:
    """Whether to give the asset is read from the adapter's signature, not guessed from a
    TypeError: one raised inside the adapter is its failure to answer (the order stays, its
    reason named), and the call is not repeated in another form."""
    venue = RaisesTypeError(takes_asset)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="type-error")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    before, seq = kernel.snapshot(), kernel.seq
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "TypeError: unsupported operand" in left["reason"]
    assert venue.calls == [(coid, "BTCUSDT") if takes_asset else (coid,)]
    assert report.lost_submits == [] and kernel.snapshot() == before and kernel.seq == seq


class PositionsUnreadable(CanceledWhileDown):
    """Answers about orders, then throttles the positions query at the end."""

    def __init__(self) -> None:
        super().__init__()
        self.positions_fail = True

    def positions(self) -> dict[str, float]:
        if self.positions_fail:
            raise RuntimeError("fetch_positions throttled: retry in 2.000s")
        return super().positions()


def test_positions_that_cannot_be_read_land_in_the_report_with_what_was_done(tmp_path: Path) -> None:
    """By the positions query the events are applied (and logged): raising there lost the
    report of what was done, so the failure is reported beside it instead."""
    venue = PositionsUnreadable()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="pos-unreadable")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    canceled_half_filled(venue, coid)
    report = kernel.reconcile_with_venue()
    assert report.missed_fills[0]["qty"] == 0.5 and report.ended_at_venue and report.events_applied == 3
    assert "RuntimeError: fetch_positions throttled" in report.positions_unchecked
    assert report.position_mismatches == [] and not report.clean
    assert report.to_dict()["positions_unchecked"] == report.positions_unchecked
    assert kernel.slot_state(0).size == 0.5
    venue.positions_fail = False
    again = kernel.reconcile_with_venue()
    assert again.clean and again.positions_unchecked == ""


class CancelTimesOut(CanceledWhileDown):
    """Holds two orders nobody manages; the cancel of one times out, as a ccxt cancel can."""

    def __init__(self) -> None:
        super().__init__()
        self.strays = [
            VenueOrder("stray-1", 0, "t?", "BTCUSDT", "BUY", "LIMIT", 90.0, 1.0, venue_order_id="S1"),
            VenueOrder("stray-2", 0, "t?", "BTCUSDT", "SELL", "LIMIT", 110.0, 2.0, venue_order_id="S2"),
        ]
        self.canceled: list[str] = []

    def open_orders(self) -> list[VenueOrder]:
        return list(self.strays)

    def cancel(self, order: VenueOrder) -> list[Any]:
        if order.client_order_id == "stray-1":
            raise VenueTimeout("cancel of 'stray-1' timed out and the order is still working")
        self.canceled.append(order.client_order_id)
        return acked(order)


def acked(order: Any) -> list[VenueEvent]:
    """The venue's CANCEL_ACK of ``order``, an order nobody manages (listed with any fields)."""
    coid = getattr(order, "client_order_id", None)
    return [
        VenueEvent(
            f"c-{id(order)}", "", -1, "CANCEL_ACK", venue_client_id=coid if isinstance(coid, str) else ""
        )
    ]


def test_a_failed_cancel_of_an_unknown_order_lands_in_the_report_and_the_rest_are_canceled(
    tmp_path: Path,
) -> None:
    """By the unknown orders the kernel's events are applied (and logged): a cancel that
    raised there lost the report of them and left the other unknown orders alone."""
    venue = CancelTimesOut()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="cancel-fails")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    canceled_half_filled(venue, coid)
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert report.missed_fills[0]["qty"] == 0.5 and report.events_applied == 3
    (failed,) = report.unknown_at_venue_cancel_failed
    assert failed["client_order_id"] == "stray-1"
    assert "VenueTimeout: cancel of 'stray-1' timed out" in failed["reason"]
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["stray-2"]
    assert venue.canceled == ["stray-2"]
    assert report.positions_unchecked == "" and report.position_mismatches == [] and not report.clean
    assert report.to_dict()["unknown_at_venue_cancel_failed"] == [failed]


class HandPlaced(CancelTimesOut):
    """Holds two orders placed by hand at an exchange that gives them no client id."""

    def __init__(self) -> None:
        super().__init__()
        self.strays = [
            VenueOrder("", 0, "", "BTCUSDT", "BUY", "LIMIT", 90.0, 1.0, venue_order_id="S1"),
            VenueOrder("", 0, "", "BTCUSDT", "SELL", "LIMIT", 110.0, 2.0, venue_order_id="S2"),
        ]

    def cancel(self, order: VenueOrder) -> list[Any]:
        self.canceled.append(order.venue_order_id)
        return acked(order)


@pytest.mark.parametrize("cancel_unknown", [True, False])
def test_every_unknown_order_without_a_client_id_is_canceled_or_reported(cancel_unknown: bool) -> None:
    """Taken by their (empty) client id, all but the last such order went unseen: left
    working at the venue, managed by nobody, and not in the report."""
    venue = HandPlaced()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="hand-placed")
    report = kernel.reconcile_with_venue(cancel_unknown=cancel_unknown, cancel_foreign_orders=True)
    listed = report.unknown_at_venue_canceled if cancel_unknown else report.unknown_at_venue_left
    assert [(o["venue_order_id"], o["side"], o["size"]) for o in listed] == [
        ("S1", "BUY", 1.0),
        ("S2", "SELL", 2.0),
    ]
    assert venue.canceled == (["S1", "S2"] if cancel_unknown else [])


class CancelRefused(CancelTimesOut):
    """Answers the cancel of one unknown order with CANCEL_REJECT (it filled meanwhile, or the
    venue throttles), as a ccxt cancel does instead of raising, and acknowledges the other's."""

    def cancel(self, order: VenueOrder) -> list[Any]:
        kind = "CANCEL_REJECT" if order.client_order_id == "stray-1" else "CANCEL_ACK"
        self.canceled.append(order.client_order_id)
        reason = "order already filled" if kind == "CANCEL_REJECT" else ""
        return [VenueEvent(f"c-{order.client_order_id}", "", -1, kind, venue_client_id=order.client_order_id,
                           reason=reason)]  # fmt: skip


class ListsAPageTwice(CancelTimesOut):
    """Lists each order nobody manages twice (a page read twice), each time as a new copy;
    refuses the cancel of an order it canceled already, as an exchange does."""

    def open_orders(self) -> list[VenueOrder]:
        return [*self.strays, *(copy.copy(o) for o in self.strays)]

    def cancel(self, order: VenueOrder) -> list[Any]:
        kind = "CANCEL_REJECT" if order.client_order_id in self.canceled else "CANCEL_ACK"
        self.canceled.append(order.client_order_id)
        return [VenueEvent(f"c-{len(self.canceled)}", "", -1, kind, venue_client_id=order.client_order_id)]


@pytest.mark.parametrize("cancel_unknown", [True, False])
def test_an_order_nobody_manages_listed_twice_is_canceled_and_reported_once(cancel_unknown: bool) -> None:
    """The listing read for the kernel's orders takes one order listed twice for one entry; the
    pass over the orders nobody manages walked it raw: each was canceled twice, and reported
    both canceled and failed (the venue refusing the second cancel)."""
    venue = ListsAPageTwice()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="twice")
    report = kernel.reconcile_with_venue(cancel_unknown=cancel_unknown, cancel_foreign_orders=True)
    strays = ["stray-1", "stray-2"]
    assert venue.canceled == (strays if cancel_unknown else [])
    done = report.unknown_at_venue_canceled if cancel_unknown else report.unknown_at_venue_left
    assert [o["client_order_id"] for o in done] == strays
    assert report.unknown_at_venue_cancel_failed == []


def test_an_unknown_order_whose_cancel_the_venue_refuses_is_not_reported_canceled() -> None:
    venue = CancelRefused()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="cancel-refused")
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    (failed,) = report.unknown_at_venue_cancel_failed
    assert failed["client_order_id"] == "stray-1"
    assert failed["reason"] == "the venue answered the cancel with CANCEL_REJECT: order already filled"
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["stray-2"]
    assert not report.clean


class KeepsUnknown(CancelTimesOut):
    """Lists an order under a client id this kernel issued (its log lost it); its cancel is
    sent and answered with nothing (IBKR's when TWS does not answer in time), and not done."""

    def __init__(self) -> None:
        super().__init__()
        self.strays = [
            VenueOrder("k6-7", 0, "", "BTCUSDT", "BUY", "LIMIT", 99.0, 1.0, venue_order_id="V7",
                       status="ACKNOWLEDGED")
        ]  # fmt: skip

    def cancel(self, order: VenueOrder) -> list[Any]:
        self.canceled.append(order.client_order_id)
        return []


def test_an_unknown_orders_cancel_the_venue_did_not_confirm_is_not_reported_canceled() -> None:
    """An empty answer to the cancel was taken for success: the order, still working at the
    venue, was reported canceled. Without a CANCEL_ACK or EXPIRED it may work on, and fill:
    it is reported as a cancel sent, not confirmed, and not as a failed one."""
    venue = KeepsUnknown()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k6")
    report = kernel.reconcile_with_venue()
    assert venue.canceled == ["k6-7"] and report.unknown_at_venue_canceled == []
    assert [o["client_order_id"] for o in report.unknown_at_venue_cancel_sent] == ["k6-7"]
    assert report.unknown_at_venue_cancel_failed == []
    assert not report.clean


def test_an_unknown_orders_cancel_a_paper_venue_carries_out_late_is_not_reported_failed() -> None:
    """A paper venue with latency answers a cancel with nothing and carries it out once the
    latency passed: the cancel was reported failed, though the venue canceled the order."""
    venue = PaperVenue(latency_ms=100)
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.0)
    stray = VenueOrder("k8-7", 0, "", "BTCUSDT", "BUY", "LIMIT", 98.0, 1.0, reference_price=98.0)
    venue.submit(stray)  # the kernel's own, its log lost
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.2)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k8")
    report = kernel.reconcile_with_venue()
    assert [o["client_order_id"] for o in report.unknown_at_venue_cancel_sent] == ["k8-7"]
    assert report.unknown_at_venue_cancel_failed == [] and report.unknown_at_venue_canceled == []
    venue.on_quote("BTCUSDT", 99.0, 100.0, 5.0, 5.0, ts=1.4)  # the cancel lands
    assert venue.open_orders() == [] and kernel.reconcile_with_venue().clean


class OverfilledAtVenue(CanceledWhileDown):
    """Says one order filled beyond the kernel's size for it (the kernel refuses that fill) and
    the other filled half and was canceled; both are listed as open, as a venue that lags would."""

    def open_orders(self) -> list[VenueOrder]:
        return list(self.orders.values())


def test_a_refused_reconciliation_event_leaves_its_order_unresolved_and_the_rest_done(
    tmp_path: Path,
) -> None:
    """The kernel refuses what the venue says of one order (a fill beyond its size): that order
    stays as it is, unresolved with the kernel's diagnostic, and is not canceled as unknown;
    the other order, whose slot the refusal does not touch, is still reconciled."""
    venue = OverfilledAtVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="refused")
    over = kernel.process_intent(intent("ENTER", 0)).order
    fine = kernel.process_intent(intent("ENTER", 1)).order
    venue.orders[over.client_order_id] = VenueOrder(
        over.client_order_id, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, over.size * 2,
        venue_order_id="V1", filled_size=over.size * 1.5, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    venue.orders[fine.client_order_id] = VenueOrder(
        fine.client_order_id, 1, "t1", "BTCUSDT", "BUY", "MARKET", 100.0, fine.size,
        venue_order_id="V2", filled_size=fine.size / 2, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == over.client_order_id and left["diagnostic_code"] == "OVERFILL"
    assert "was refused: OVERFILL" in left["reason"] and left["details"]["fill_qty"] == over.size * 1.5
    assert kernel.slot_state(0).size == 0.0 and kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert [m["client_order_id"] for m in report.missed_fills] == [fine.client_order_id]
    assert [e["client_order_id"] for e in report.ended_at_venue] == [fine.client_order_id]
    assert kernel.slot_state(1).size == pytest.approx(fine.size / 2)
    assert report.unknown_at_venue_canceled == [] and not report.clean


def test_a_refused_event_for_an_awaited_order_leaves_its_wait_and_names_the_diagnostic(
    tmp_path: Path,
) -> None:
    venue = EndedOrders()
    kernel, coid = awaiting(venue, "aw-refused")
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 2.0,
        filled_size=1.5, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["diagnostic_code"] == "OVERFILL" and "was refused: OVERFILL" in left["reason"]
    assert report.awaited_settled == [] and kernel.slot_state(0).size == 0.0
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]


class CannotList(CanceledWhileDown):
    name = "cannot-list"

    def open_orders(self) -> list[VenueOrder]:
        raise ConnectionError("connection refused")


def test_open_orders_that_cannot_be_listed_stop_reconciliation_naming_venue_and_cause(
    tmp_path: Path,
) -> None:
    venue = CannotList()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="cannot-list")
    kernel.process_intent(intent("ENTER", 0))
    before = kernel.snapshot()
    with pytest.raises(VenueUnavailable, match=r"cannot-list.*ConnectionError: connection refused"):
        kernel.reconcile_with_venue()
    assert kernel.snapshot() == before


@pytest.mark.parametrize("venue_filled", [0.0, 0.4])
def test_an_order_the_venue_says_filled_short_of_its_size_is_left_unresolved(venue_filled: float) -> None:
    """An exchange may report an order closed without its filled size (or with less than the
    order): the venue says the order is over, the kernel's order works on. Nothing is guessed
    (what the venue counts is booked), but the report must not call the two in agreement."""
    venue = EndedOrders()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=f"short{int(venue_filled * 10)}")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    kernel.on_venue_event(VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1"))
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, venue_order_id="V1",
        filled_size=venue_filled, avg_fill_price=100.0 if venue_filled else 0.0, status="FILLED",
    )  # fmt: skip
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and not report.clean
    assert f"FILLED with {venue_filled!r} of 1.0 filled" in left["reason"]
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert kernel.slot_state(0).size == venue_filled


class HoldsALot(EndedOrders):
    """Holds 1.0 BTCUSDT: a lot of the kernel's order."""

    def positions(self) -> dict[str, float]:
        return {"BTCUSDT": 1.0}


def cut_to_its_lot(venue: Any, coid: str) -> None:
    """The venue holds the kernel's 1.05 buy ``coid`` as a 1.0 order (cut to its lot), FILLED."""
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, venue_order_id="V1",
        filled_size=1.0, avg_fill_price=100.0, status="FILLED",
    )  # fmt: skip


def test_an_order_the_venue_filled_cut_to_its_lot_is_settled_at_every_reconciliation() -> None:
    """The first reconciliation books the 1.0 and ends the order, held to the venue's size; every
    later one asked about it again (ended without a figure) and judged it by the kernel's 1.05:
    ``unresolved``, FILLED short, though nothing changed at the venue."""
    venue = HoldsALot()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="lot-again")
    coid = kernel.process_intent(intent("ENTER", 0, target_size=1.05)).order.client_order_id
    cut_to_its_lot(venue, coid)
    first = kernel.reconcile_with_venue()
    assert first.unresolved == [] and [m["qty"] for m in first.missed_fills] == [1.0]
    for _ in range(2):
        again = kernel.reconcile_with_venue()
        assert again.clean and again.missed_fills == [], again.lines()
    assert kernel.slot_state(0).size == 1.0 and kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN


def test_an_order_the_venue_filled_cut_to_its_lot_all_booked_is_ended_with_its_figure() -> None:
    """Its fill reached the kernel (1.0 of its 1.05): the venue says FILLED, 1.0 of its 1.0. It was
    named FILLED short and worked on in the kernel; it ends with the venue's figure."""
    venue = HoldsALot()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="lot-booked")
    coid = kernel.process_intent(intent("ENTER", 0, target_size=1.05)).order.client_order_id
    fill = VenueEvent(
        "f1", "t0", 0, "FILL", venue_client_id=coid, venue_order_id="V1", price=100.0, size=1.0,
        filled_size=1.0, fill_id="F1", status="PARTIALLY_FILLED",
    )  # fmt: skip
    assert kernel.on_venue_event(fill).accepted
    cut_to_its_lot(venue, coid)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and report.missed_fills == []
    assert [(e["client_order_id"], e["status"]) for e in report.ended_at_venue] == [(coid, "FILLED")]
    assert kernel.open_orders() == [] and kernel.slot_state(0).size == 1.0
    assert kernel.reconcile_with_venue().clean


def malformed(order: VenueOrder, **figures: Any) -> SimpleNamespace:
    """The venue's answer about ``order`` as a Python adapter may build it (not a native
    ``VenueOrder``, which validates itself): canceled after filling half, unless ``figures``
    say otherwise."""
    fields: dict[str, Any] = {
        "client_order_id": order.client_order_id, "venue_order_id": "VX", "slot_id": order.slot_id,
        "trade_id": order.trade_id, "asset": order.asset, "side": order.order_side, "price": 100.0,
        "size": order.size, "filled_size": order.size / 2, "avg_fill_price": 100.0,
        "status": VenueOrderStatus.CANCELED,
    }  # fmt: skip
    return SimpleNamespace(**{**fields, **figures})


BAD_FIGURES = [
    ("filled_size", None),
    ("filled_size", "0.5"),
    ("filled_size", math.nan),
    ("filled_size", -1.0),
    ("avg_fill_price", math.inf),
    ("status", "CANCELED"),
    ("status", None),
    ("venue_order_id", ["VX"]),
    # Text the kernel refuses as an id: raised where the order's first event was built, with
    # the other orders' events applied and the report lost.
    ("venue_order_id", "V\x00"),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIGURES)
def test_a_malformed_venue_answer_changes_nothing_for_its_order_and_the_rest_is_reconciled(
    field: str, value: Any
) -> None:
    """Checked before the first event: raising mid-run (a None or text figure) left the orders
    before it reconciled and the rest not, with no report; a NaN or negative figure left the
    order acknowledged and then refused; a status that is not one booked the fill and said
    nothing. Now that one order is left as it was, named with the field and the value."""
    venue = EndedOrders()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="malformed")
    fine = kernel.process_intent(intent("ENTER", 0)).order
    bad = kernel.process_intent(intent("ENTER", 1)).order
    canceled_half_filled(venue, fine.client_order_id)
    venue.orders[bad.client_order_id] = malformed(bad, **{field: value})  # type: ignore[assignment]
    before = kernel.slot_dict(1)
    report = kernel.reconcile_with_venue()
    assert kernel.slot_dict(1) == before and kernel.slot_state(1).fsm_state == TradeStage.ORDER_SENT
    (left,) = report.unresolved
    assert left["client_order_id"] == bad.client_order_id
    assert left["details"]["field"] == field and left["details"]["value"] == repr(value)
    assert f"{field}={value!r}" in left["reason"] and "nothing was changed" in left["reason"]
    assert [m["client_order_id"] for m in report.missed_fills] == [fine.client_order_id]
    assert [e["client_order_id"] for e in report.ended_at_venue] == [fine.client_order_id]
    assert kernel.slot_state(0).size == 0.5 and report.events_applied == 3


@pytest.mark.parametrize("order_type", ["MARKET", "LIMIT"])
def test_a_missed_fill_the_venue_gives_no_price_for_is_not_booked_at_the_kernels_reference(
    order_type: str,
) -> None:
    """The venue counts half the order filled with no average and no order price (0: ccxt's market
    order whose answer has no average or cost). The fill was booked at the intent's reference
    price, a guess reported as the venue's. It is malformed: nothing is applied for the order."""
    venue = EndedOrders()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=f"no-price-{order_type}")
    fields = {"order_type": order_type, "limit_price": 101.0} if order_type == "LIMIT" else {}
    bad = kernel.process_intent(intent("ENTER", 0, reference_price=97.0, **fields)).order
    venue.orders[bad.client_order_id] = malformed(bad, avg_fill_price=0.0, price=0.0)  # type: ignore[assignment]
    before = kernel.slot_dict(0)
    report = kernel.reconcile_with_venue()
    assert kernel.slot_dict(0) == before and report.missed_fills == [] and report.events_applied == 0
    (left,) = report.unresolved
    assert left["client_order_id"] == bad.client_order_id and left["details"]["field"] == "avg_fill_price"
    assert "0.5 filled without a price" in left["reason"]


class TradesPriceIt(FilledWhileUnheard):
    """States an order 0.5 filled with no average and no order price (a market order whose
    answer has neither), and lists its trades (``trade_fills``, as CcxtVenue): ``traded`` of it
    at 101."""

    def __init__(self, traded: float) -> None:
        super().__init__()
        self.traded = traded

    def trade_fills(self, order: VenueOrder, venue_order: VenueOrder) -> list[VenueEvent]:
        fill = VenueEvent(
            "tr1", order.trade_id, order.slot_id, "FILL", venue_client_id=order.client_order_id,
            venue_order_id="V1", fill_id="T1", price=101.0, size=self.traded, filled_size=self.traded,
            status="PARTIALLY_FILLED", remaining_size=1.0 - self.traded,
        )  # fmt: skip
        return [fill]


@pytest.mark.parametrize("traded", [0.5, 0.3])
def test_a_missed_fill_without_the_orders_price_is_booked_as_far_as_its_trades_price_it(
    traded: float,
) -> None:
    """The order's status states 0.5 filled and no price; its trades state ``traded`` at 101.
    The fill was named malformed (avg_fill_price) before the trades were asked, and none of it
    booked. What the trades price is booked; only the rest, without a price, is named."""
    venue = TradesPriceIt(traded)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=f"trades-price-{traded}")
    coid = kernel.process_intent(intent("ENTER", 0, reference_price=97.0)).order.client_order_id
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 0.0, 1.0, venue_order_id="V1",
        filled_size=0.5, avg_fill_price=0.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    report = kernel.reconcile_with_venue()
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [(pytest.approx(traded), 101.0)]
    assert kernel.slot_state(0).size == pytest.approx(traded)
    if traded == 0.5:
        assert report.unresolved == []
        return
    (left,) = report.unresolved
    assert left["details"]["field"] == "avg_fill_price" and "0.2" in left["details"]["reason"]
    assert "its trades' fills (0.3) are booked, the rest is not" in left["reason"]


class TradesOverTheStream(FilledWhileUnheard):
    """Lists an order's trades (``trade_fills``, as CcxtVenue): ``trades``, each its size, the
    running total it brings the order to and its price."""

    def __init__(self, trades: list[tuple[float, float, float]]) -> None:
        super().__init__()
        self.trades = trades

    def trade_fills(self, order: VenueOrder, venue_order: VenueOrder) -> list[VenueEvent]:
        return [
            VenueEvent(
                f"tr{i}", order.trade_id, order.slot_id, "FILL", venue_client_id=order.client_order_id,
                venue_order_id="V1", fill_id=f"T{i}", price=price, size=size, filled_size=total,
            )
            for i, (size, total, price) in enumerate(self.trades)
        ]  # fmt: skip


def streamed_then_listed(
    trades: list[tuple[float, float, float]], listed: float, kernel_id: str
) -> ExecutionKernel:
    """A kernel whose entry the stream filled 0.2 at 100 under its own fill id, the venue
    listing it ``listed`` filled at an average of 100 and its ``trades``."""
    venue = TradesOverTheStream(trades)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=kernel_id)
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    kernel.on_venue_event(VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1"))
    streamed = VenueEvent(
        "s1", "t0", 0, "FILL", venue_client_id=coid, venue_order_id="V1", fill_id="S1",
        price=100.0, size=0.2, filled_size=0.2,
    )  # fmt: skip
    assert kernel.on_venue_event(streamed).accepted
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, venue_order_id="V1",
        filled_size=listed, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    return kernel


def test_trades_the_kernel_books_in_part_are_reported_as_booked() -> None:
    """The trades split the listed 0.5 as 0.3 then 0.2 (running totals); the kernel, holding
    the stream's 0.2, books 0.1 of the first. The report listed 0.3 + 0.2 missed."""
    kernel = streamed_then_listed([(0.3, 0.3, 100.0), (0.2, 0.5, 100.0)], 0.5, "trades-in-part")
    report = kernel.reconcile_with_venue()
    assert kernel.slot_state(0).size == pytest.approx(0.5)
    assert [(m["qty"], m["fill_id"]) for m in report.missed_fills] == [
        (pytest.approx(0.1), "T0"),
        (pytest.approx(0.2), "T1"),
    ]


def test_the_rest_of_trades_booked_in_part_is_booked_at_what_the_listing_leaves() -> None:
    """Listed 0.6 at an average of 100 (cost 60); the trades list 0.3 at 101, of which the kernel,
    holding the stream's 0.2, books 0.1. The trades were counted at 0.3 costing 30.3, so the rest
    was sent as 0.1 at 97 (the kernel booking 0.3 of it by its running total): the slot held 0.6
    at 98.67, not the venue's 100."""
    kernel = streamed_then_listed([(0.3, 0.3, 101.0)], 0.6, "trades-rest")
    report = kernel.reconcile_with_venue()
    state = kernel.slot_state(0)
    assert state.size == pytest.approx(0.6) and state.entry_price == pytest.approx(100.0)
    assert [m["qty"] for m in report.missed_fills] == [pytest.approx(0.1), pytest.approx(0.3)]
    assert report.missed_fills[1]["price"] == pytest.approx((60.0 - 20.0 - 10.1) / 0.3)
    assert report.unresolved == []


class TradesPartlyAnswersTheRest(InDoubt):
    """Lists 0.3 of an awaited order's listed 0.4 as a trade at 101 (``trade_fills``, as
    CcxtVenue), its answer stating no price (a market order); the cancel's answer reports the
    0.4 again under another trade id, priced (running total 0.4), then its CANCEL_ACK."""

    def trade_fills(self, order: VenueOrder, venue_order: VenueOrder) -> list[VenueEvent]:
        fill = VenueEvent(
            "tr1", order.trade_id, order.slot_id, "FILL", venue_client_id=order.client_order_id,
            venue_order_id="V1", fill_id="T1", price=101.0, size=0.3, filled_size=0.3,
        )  # fmt: skip
        return [fill]


def _listed_unpriced_then_answered(
    name: str, cancel_filled: float, answer_fill: tuple[str, float, float]
) -> tuple[ExecutionKernel, str, Any]:
    """An awaited order listed 0.4 filled with no price, its trades pricing 0.3 (T1 at 101), and
    reconciliation's cancel answered with a fill (its id, size and running total) at 100 and
    ended at ``cancel_filled``: the kernel, the order's client id and the report."""
    venue = TradesPartlyAnswersTheRest("ack", cancel_filled=cancel_filled)
    kernel, coid = awaiting(venue, name)
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "MARKET", 0.0, 1.0, venue_order_id="V1",
        filled_size=0.4, avg_fill_price=0.0, status="PARTIALLY_FILLED",
    )  # fmt: skip
    fill_id, size, filled_size = answer_fill
    venue.answer_fills = [
        VenueEvent(
            "va", "t0", 0, "FILL", venue_client_id=coid, fill_id=fill_id, price=100.0, size=size,
            filled_size=filled_size, venue_order_id="V1",
        )
    ]  # fmt: skip
    venue.reconciling = True
    return kernel, coid, kernel.reconcile_with_venue()


def test_a_cancels_answer_booking_the_rest_its_trades_leave_unpriced_is_reported_as_booked() -> None:
    """The trades book 0.3 and the answer's fill repeats the listing's 0.4 under another id: the
    kernel books 0.1 of it (to its running total 0.4), and the report says 0.3 and 0.1, with no
    rest named unbooked, which an operator booking it by hand would hold twice."""
    kernel, coid, report = _listed_unpriced_then_answered("aw-trades-partly", 0.4, ("E-other", 0.4, 0.4))
    assert kernel.slot_state(0).size == pytest.approx(0.4) and kernel.awaited_orders() == []
    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [
        (pytest.approx(0.3), 101.0),
        (pytest.approx(0.1), 100.0),
    ]
    assert report.unresolved == []
    assert [a["client_order_id"] for a in report.awaited_settled] == [coid]


def test_a_fill_racing_the_cancel_beyond_the_listing_leaves_its_unpriced_rest_named() -> None:
    """The trades book 0.3 of the listed 0.4; the answer reports a fill of 0.1 that raced the
    cancel (running total 0.5) and ends the order at 0.5, so the kernel holds 0.4 and awaits 0.1.
    The listing's rest without a price is named unresolved, and the order is not settled."""
    kernel, coid, report = _listed_unpriced_then_answered("aw-trades-raced", 0.5, ("E-race", 0.1, 0.5))
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    (left,) = report.unresolved
    assert left["details"]["field"] == "avg_fill_price" and report.awaited_settled == []
    assert "the order was ended with the venue's figure" in left["reason"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filled_size", None),
        ("filled_size", "0.5"),
        ("avg_fill_price", math.inf),
        ("status", "CANCELED"),
        ("venue_order_id", "V\x00"),
    ],
)
def test_a_malformed_answer_about_an_awaited_order_leaves_its_wait_as_it_was(field: str, value: Any) -> None:
    """A figure that is not a number or a status that is not one raised out of the reconciliation
    (after the other orders' events); an unusable price settled the wait at the venue's figure,
    then had its fill refused. (A NaN or negative filled size was already refused unapplied.)"""
    venue = EndedOrders()
    kernel, coid = awaiting(venue, "aw-malformed")
    (order,) = kernel.awaited_orders()
    venue.orders[coid] = malformed(order, **{field: value})  # type: ignore[assignment]
    before = kernel.slot_dict(0)
    report = kernel.reconcile_with_venue()
    assert kernel.slot_dict(0) == before and report.awaited_settled == []
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and left["details"]["field"] == field
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]


class CancelAnswersBroken(CancelTimesOut):
    """Answers the cancels of unknown orders badly: with an item that is not an event, with an
    answer that raises after its ack (as a router hands one on), and well for the last one,
    which it lists as a Python adapter may (a plain side)."""

    def __init__(self) -> None:
        super().__init__()
        self.strays.append(
            SimpleNamespace(
                client_order_id="stray-3", venue_order_id="S3", asset="BTCUSDT", side="SELL", size=3.0
            )
        )  # type: ignore[arg-type]

    def cancel(self, order: VenueOrder) -> Any:
        coid = order.client_order_id
        self.canceled.append(coid)
        ack = VenueEvent(f"c-{coid}", "", -1, "CANCEL_ACK", venue_client_id=coid)
        if coid == "stray-1":
            return [None]
        if coid == "stray-2":
            return self.ack_then_fail(ack)
        return [ack]

    @staticmethod
    def ack_then_fail(ack: VenueEvent) -> Iterator[VenueEvent]:
        yield ack
        raise ConnectionError("connection reset mid-answer")


def test_a_malformed_cancel_answer_for_an_unknown_order_lands_in_the_report_and_the_rest_go_on() -> None:
    """By the unknown orders the kernel's events are applied (and logged): an answer item that
    is not an event raised AttributeError there, losing the report of them and leaving the
    other unknown orders alone. Such an answer does not show the order canceled."""
    venue = CancelAnswersBroken()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="cancel-malformed")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    canceled_half_filled(venue, coid)
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert report.missed_fills[0]["qty"] == 0.5 and report.events_applied == 3
    assert venue.canceled == ["stray-1", "stray-2", "stray-3"]
    failed = {f["client_order_id"]: f["reason"] for f in report.unknown_at_venue_cancel_failed}
    assert failed == {
        "stray-1": "the venue's answer to the cancel is malformed: it holds None, not a VenueEvent",
        "stray-2": "the venue's answer to the cancel broke off: ConnectionError: connection reset mid-answer",
    }
    assert report.unknown_at_venue_canceled == [
        {
            "client_order_id": "stray-3",
            "venue_order_id": "S3",
            "asset": "BTCUSDT",
            "size": 3.0,
            "side": "SELL",
            "filled_size": None,
            "avg_fill_price": None,
        }
    ]
    assert report.positions_unchecked == "" and report.position_mismatches == [] and not report.clean


class PositionsMalformed(CanceledWhileDown):
    """Answers about orders, then gives positions a Python adapter may get wrong."""

    def __init__(self, positions: Any) -> None:
        super().__init__()
        self.answer = positions

    def positions(self) -> Any:
        return self.answer


@pytest.mark.parametrize(
    ("positions", "unchecked"),
    [
        ({"BTCUSDT": None}, "the venue's positions are malformed: 'BTCUSDT' is None, not a finite number"),
        ({"BTCUSDT": math.nan}, "the venue's positions are malformed: 'BTCUSDT' is nan, not a finite number"),
        (None, "the venue's positions could not be read: TypeError: "),
    ],
)
def test_malformed_positions_land_in_the_report_with_what_was_done(positions: Any, unchecked: str) -> None:
    """By the positions every event is applied (and logged): a figure that is not a number (or
    no dict at all) raised there and lost the report of them, and a NaN was read as no
    position, so a flat kernel was called in agreement and an open one compared with 0."""
    venue = PositionsMalformed(positions)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="pos-malformed")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    canceled_half_filled(venue, coid)
    report = kernel.reconcile_with_venue()
    assert report.missed_fills[0]["qty"] == 0.5 and report.events_applied == 3
    assert report.positions_unchecked.startswith(unchecked)
    assert report.position_mismatches == [] and not report.clean


class Follows(OverMock):
    """The mock (orders rest), with a ``watch`` that records what it is told to follow, or
    refuses to."""

    name = "follows"

    def __init__(self, *, refuse: bool = False) -> None:
        super().__init__(MockVenueAdapter(fill_rate=0.0))
        self.refuse = refuse
        self.watched: list[str] = []

    def watch(self, order: VenueOrder) -> None:
        if self.refuse:
            raise ValueError(f"cannot follow {order.client_order_id!r}")
        self.watched.append(order.client_order_id)


@pytest.mark.parametrize("behind_router", [False, True])
def test_the_venue_is_told_to_follow_every_order_the_kernel_still_works(behind_router: bool) -> None:
    """A venue that learns of fills by asking (a restarted ccxt adapter) has no record of the
    orders sent before the restart; without being told of them their fills waited for the
    next reconciliation. Through a router, the venue holding the order is told."""
    from dita.venues import VenueRouter

    follows = Follows()
    venue: Any = VenueRouter({"follows": follows}, default="follows") if behind_router else follows
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="follow")
    out = kernel.process_intent(intent("ENTER", 0, order_type="LIMIT", limit_price=99.0))
    assert out.accepted and kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    report = kernel.reconcile_with_venue()
    assert follows.watched == [out.order.client_order_id]
    assert report.unwatched == [] and report.clean


def test_an_order_the_venue_cannot_follow_is_reported_and_nothing_changes() -> None:
    venue = Follows(refuse=True)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="follow")
    out = kernel.process_intent(intent("ENTER", 1, order_type="LIMIT", limit_price=99.0))
    seq = kernel.seq
    report = kernel.reconcile_with_venue()
    coid = out.order.client_order_id
    assert report.unwatched == [
        {
            "client_order_id": coid,
            "slot_id": 1,
            "asset": "BTCUSDT",
            "reason": f"the venue cannot follow it: ValueError: cannot follow {coid!r}",
        }
    ]
    assert not report.clean and report.events_applied == 0 and kernel.seq == seq
    assert kernel.slot_state(1).fsm_state == TradeStage.ENTRY_WORKING


class CancelLost:
    """A venue that lists the kernel's order as working and whose cancel never arrives: the
    call timed out (or the process died right after asking)."""

    name = "cancel-lost"

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}

    def submit(self, order: VenueOrder) -> list[Any]:
        return []

    def cancel(self, order: VenueOrder) -> list[Any]:
        raise VenueTimeout("no answer to the cancel", client_order_id=order.client_order_id)

    def open_orders(self) -> list[VenueOrder]:
        return list(self.orders.values())

    def positions(self) -> dict[str, float]:
        return {}

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return self.orders.get(client_order_id)


def test_an_order_whose_cancel_the_venue_never_took_is_not_reported_in_agreement(tmp_path: Path) -> None:
    """The kernel asked to cancel (a strategy, or the edge freeze cancelling every working
    order) and the cancel was lost: the venue still works the order, which may fill. The report
    called kernel and venue in agreement; it now names the order, and changes nothing."""
    venue = CancelLost()
    held = [open_kernel(tmp_path, venue)]
    out = held[0].process_intent(intent("ENTER", 0, order_type="LIMIT", limit_price=99.0))
    coid = out.order.client_order_id
    held[0].on_venue_event(VenueEvent("a1", "t0", 0, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1"))
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "LIMIT", 99.0, 1.0, venue_order_id="V1", status="ACKNOWLEDGED"
    )
    assert held[0].process_intent(intent("CANCEL", 0)).details["cancel_outcome"] == "unknown"
    release(held)
    kernel = open_kernel(tmp_path, venue)
    assert kernel.slot_state(0).active_entry_order.cancel_requested
    before = kernel.snapshot()
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and not report.clean
    assert "cancel" in left["reason"] and "ACKNOWLEDGED" in left["reason"]
    assert kernel.snapshot() == before
    # Once the venue has taken the cancel, the order ends as before.
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "LIMIT", 99.0, 1.0, venue_order_id="V1", status="CANCELED"
    )
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and [e["client_order_id"] for e in report.ended_at_venue] == [coid]
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE


class ListsLazily(CancelTimesOut):
    """Hands its open orders back as a generator, as an adapter reading pages may."""

    def open_orders(self) -> Any:
        return (order for order in self.strays)

    def cancel(self, order: VenueOrder) -> list[Any]:
        self.canceled.append(order.client_order_id)
        return acked(order)


def test_open_orders_given_as_a_generator_are_each_reconciled() -> None:
    """The listing was indexed first, which spent a generator: the orders nobody manages were
    never seen, left working at the venue, and the report read clean."""
    venue = ListsLazily()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="lazily")
    report = kernel.reconcile_with_venue(cancel_foreign_orders=True)
    assert [o["client_order_id"] for o in report.unknown_at_venue_canceled] == ["stray-1", "stray-2"]
    assert venue.canceled == ["stray-1", "stray-2"] and not report.clean


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("cancel_unknown", "no"),
        ("cancel_unknown", None),
        ("only_in_doubt", "false"),
        ("on_applied", "print"),
        ("ended_lookups", -1),
        ("ended_lookups", True),
        ("ended_lookups", "3"),
        ("ended_lookups", 2.0),
    ],
)
def test_arguments_of_the_wrong_type_are_refused_before_anything_changes(argument: str, value: Any) -> None:
    """``cancel_unknown="no"`` was read as true and canceled the orders it was told to leave;
    an ``on_applied`` that cannot be called raised once the first event was applied, losing
    the report and leaving the other orders unreconciled."""
    from dita.reconcile import reconcile_with_venue

    venue = CancelTimesOut()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="wrong-types")
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    canceled_half_filled(venue, coid)
    before, seq = kernel.snapshot(), kernel.seq
    with pytest.raises(TypeError, match=f"{argument}={value!r} must be"):
        reconcile_with_venue(kernel, **{argument: value})
    assert kernel.snapshot() == before and kernel.seq == seq and venue.canceled == []


class SentHashed(CanceledWhileDown):
    """Sends the kernel's client ids hashed (as ccxt does one its exchange refuses) and, after a
    restart, lists the kernel's order under the hash; asking about it fails (throttled) until
    ``throttled`` is cleared."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: dict[str, VenueOrder] = {}
        self.canceled: list[str] = []
        self.throttled = True

    def listed_client_order_id(self, order: VenueOrder) -> str:
        return f"h-{order.client_order_id}"

    def submit(self, order: VenueOrder) -> list[Any]:
        self.listed[order.client_order_id] = VenueOrder(
            self.listed_client_order_id(order), 0, "", order.asset, "BUY", "MARKET", 100.0, order.size,
            venue_order_id="X1", filled_size=0.5, avg_fill_price=100.0, status="PARTIALLY_FILLED",
        )  # fmt: skip
        raise VenueTimeout("no answer to the submit", client_order_id=order.client_order_id)

    def cancel(self, order: VenueOrder) -> list[Any]:
        self.canceled.append(order.client_order_id)
        return []

    def open_orders(self) -> list[VenueOrder]:
        return list(self.listed.values())

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        if self.throttled:
            raise VenueUnavailable(f"lookup of {client_order_id!r} throttled")
        o = self.listed[client_order_id]
        return VenueOrder(
            client_order_id, 0, "", o.asset, "BUY", "MARKET", 100.0, o.size,
            venue_order_id="X1", filled_size=0.5, avg_fill_price=100.0, status="PARTIALLY_FILLED",
        )  # fmt: skip


@pytest.mark.parametrize("behind_router", [False, True])
def test_an_order_never_acknowledged_listed_under_the_id_it_went_out_under_is_not_canceled(
    behind_router: bool,
) -> None:
    """With no venue id to be matched by and its lookup failing, the kernel's order listed
    under its hashed client id was taken for one nobody manages, and canceled. Known by the id
    it went out under (through a router, the venue holding it names that id), it is left
    unresolved until the venue can be asked, and then its fill is booked."""
    from dita.venues import VenueRouter

    sent_hashed = SentHashed()
    venue: Any = VenueRouter({"hashed": sent_hashed}, default="hashed") if behind_router else sent_hashed
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="hashed")
    out = kernel.process_intent(intent("ENTER", 0))
    coid = out.order.client_order_id
    assert out.details["submit_outcome"] == "unknown"
    report = kernel.reconcile_with_venue()
    assert sent_hashed.canceled == [] and report.unknown_at_venue_canceled == []
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "throttled" in left["reason"]
    assert report.events_applied == 0 and kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT

    sent_hashed.throttled = False
    report = kernel.reconcile_with_venue()
    assert sent_hashed.canceled == [] and report.unknown_at_venue_canceled == []
    assert [(m["client_order_id"], m["qty"]) for m in report.missed_fills] == [(coid, 0.5)]
    assert report.unresolved == [] and report.position_mismatches == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING and kernel.slot_state(0).size == 0.5


class StreamsWhileAsked(CanceledWhileDown):
    """A venue whose stream, fed to the kernel by another thread, reports a fill while the venue
    is asked about the order (``order_status`` is a request, seconds on a slow exchange)."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel: ExecutionKernel | None = None
        self.live: VenueEvent | None = None

    def positions(self) -> dict[str, float]:
        return {"BTCUSDT": 1.0}

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        if self.live is not None and self.kernel is not None:
            assert self.kernel.on_venue_event(self.live).accepted
            self.live = None
        return self.orders.get(client_order_id)


def test_a_fill_the_venue_reports_while_it_is_asked_is_not_booked_again_at_the_whole_orders_price() -> None:
    """The missed fill was reckoned from the kernel's order as it was before the venue was asked:
    a fill its stream reported meanwhile (0.6 at 99, of the 1.0 at 100 on average the venue
    counts) was part of the 1.0 reported missed, and the 0.4 the kernel took of it was priced at
    the whole order's average, 100, not the 101.5 the rest cost: the entry booked at 99.4."""
    venue = StreamsWhileAsked()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="streams")
    venue.kernel = kernel
    limit_entry = intent("ENTER", 0, target_size=2.0, order_type="LIMIT", limit_price=101.0)
    order = kernel.process_intent(limit_entry).order
    coid = order.client_order_id

    def event(event_id: str, kind: str, **kw: Any) -> VenueEvent:
        return VenueEvent(
            event_id, "t0", 0, kind, venue_order_id="V1", venue_client_id=coid,
            side=order.order_side, asset=order.asset, **kw,
        )  # fmt: skip

    assert kernel.on_venue_event(event("ack", "ORDER_ACK")).accepted
    venue.live = event(
        "f1", "FILL", status="PARTIALLY_FILLED", price=99.0, size=0.6, filled_size=0.6, fill_id="F1"
    )
    venue.orders[coid] = VenueOrder(
        coid, 0, "t0", "BTCUSDT", "BUY", "LIMIT", 101.0, 2.0,
        venue_order_id="V1", filled_size=1.0, avg_fill_price=100.0, status="CANCELED",
    )  # fmt: skip

    report = kernel.reconcile_with_venue()

    assert [(m["qty"], m["price"]) for m in report.missed_fills] == [
        (pytest.approx(0.4), pytest.approx(101.5))
    ]
    slot = kernel.slot_state(0)
    assert slot.size == pytest.approx(1.0) and slot.entry_price == pytest.approx(100.0)
    assert report.unresolved == [] and report.position_mismatches == []
