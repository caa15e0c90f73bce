"""Reconciliation run again, after a second restart or on an operator's request, books what
the venue did since the last one: its events are new to the kernel's memory. And what a venue
filled of an order the kernel ended without that figure (a fill racing a cancel) is booked."""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from kernel_helpers import intent
from pydantic import BaseModel, ConfigDict

from dita import ExecutionKernel, TradeStage, VenueEvent, VenueOrder
from dita.reconcile import reconcile_with_venue
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from dita.venues import VenueUnavailable


class PartlyFills:
    """Acknowledges every order and reports nothing more; ``fill`` moves an order's filled
    size at the venue as if it happened while the kernel was away."""

    name = "partly"

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}

    def _copy(self, o: VenueOrder, filled: float, status: str) -> VenueOrder:
        return VenueOrder(
            o.client_order_id,
            o.slot_id,
            o.trade_id,
            o.asset,
            o.order_side,
            o.order_type,
            o.price,
            o.size,
            venue_order_id=f"v-{o.client_order_id}",
            filled_size=filled,
            avg_fill_price=o.price if filled else 0.0,
            status=status,
        )

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.orders[order.client_order_id] = self._copy(order, 0.0, "ACKNOWLEDGED")
        return [
            VenueEvent(
                f"ack-{order.client_order_id}",
                order.trade_id,
                order.slot_id,
                "ORDER_ACK",
                venue_order_id=f"v-{order.client_order_id}",
                venue_client_id=order.client_order_id,
                asset=order.asset,
                side=order.order_side,
            )
        ]

    def fill(self, coid: str, filled: float) -> None:
        self.orders[coid] = self._copy(self.orders[coid], filled, "PARTIALLY_FILLED")

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[VenueOrder]:
        return list(self.orders.values())

    def order_status(self, coid: str) -> VenueOrder | None:
        return self.orders.get(coid)

    def positions(self) -> dict[str, float]:
        return {o.asset: o.filled_size for o in self.orders.values() if o.filled_size}


def _open(wal: Path, venue: Any) -> ExecutionKernel:
    return ExecutionKernel(max_slots=2, venue=venue, kernel_id="rec2", wal_dir=str(wal), fsync="always")


def test_a_second_reconciliation_books_the_fills_since_the_first(tmp_path: Path) -> None:
    venue = PartlyFills()
    kernel = _open(tmp_path, venue)
    out = kernel.process_intent(intent("ENTER", 0, target_size=2.0, order_type="LIMIT", limit_price=99.0))
    coid = out.order.client_order_id
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    for filled in (0.5, 1.0, 1.5):
        venue.fill(coid, filled)  # while the process was down
        kernel.close()
        gc.collect()
        kernel = _open(tmp_path, venue)
        report = kernel.reconcile_with_venue()
        assert [f["qty"] for f in report.missed_fills] == [0.5], report
        assert kernel.slot_state(0).size == filled
        assert report.position_mismatches == []
    # And once more in the same process, without a restart.
    venue.fill(coid, 2.0)
    report = kernel.reconcile_with_venue()
    assert [f["qty"] for f in report.missed_fills] == [0.5], report
    assert kernel.slot_state(0).size == 2.0
    kernel.close()


def test_an_awaited_order_whose_cancel_is_not_confirmed_is_still_the_kernels_at_later_runs(
    tmp_path: Path,
) -> None:
    """The kernel's 2.0 buy booked 0.5; its cancel was acknowledged stating 0.8 (0.3 awaited)
    while the venue worked on. Reconciliation booked the 0.3, which settled the slot's wait,
    and the venue did not confirm its cancel: at the next run the order, awaited no more, was
    canceled as one nobody manages and the 0.2 it filled meanwhile never booked. It stays
    awaited until the venue says it is canceled, across restarts, and all it filled is booked."""
    venue = PartlyFills()
    kernel = _open(tmp_path, venue)
    coid = kernel.process_intent(
        intent("ENTER", 0, target_size=2.0, order_type="LIMIT", limit_price=99.0)
    ).order.client_order_id

    def said(kind: str, **kw: Any) -> VenueEvent:
        return VenueEvent(f"{kind}-1", "t0", 0, kind, venue_client_id=coid, venue_order_id=f"v-{coid}", **kw)

    assert kernel.on_venue_event(said("FILL", price=99.0, size=0.5, filled_size=0.5, fill_id="F1")).accepted
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    assert kernel.on_venue_event(said("CANCEL_ACK", filled_size=0.8)).accepted
    for filled in (0.8, 1.0):  # the venue works on, and its cancels go unanswered
        venue.fill(coid, filled)
        kernel.close()
        gc.collect()
        kernel = _open(tmp_path, venue)
        report = kernel.reconcile_with_venue()
        assert report.unknown_at_venue_cancel_sent == [] and report.unknown_at_venue_canceled == []
        assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
        (left,) = report.unresolved
        assert left["client_order_id"] == coid
        assert "booked once it says the order is canceled" in left["reason"]
    venue.orders[coid] = venue._copy(venue.orders[coid], 1.0, "CANCELED")
    report = kernel.reconcile_with_venue()
    assert [a["client_order_id"] for a in report.awaited_settled] == [coid] and report.unresolved == []
    assert [m["qty"] for m in report.missed_fills] == [pytest.approx(0.5)]
    assert kernel.awaited_orders() == [] and kernel.slot_state(0).size == pytest.approx(1.0)
    assert report.position_mismatches == []
    kernel.close()


class CancelAckedBare(PartlyFills):
    """Acknowledges a cancel without the filled size (as some exchanges answer one) and lists
    the order no more: what filled before the cancel shows only in its order status. Counts the
    lookups (``asked``)."""

    name = "bare-cancel"

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        mine = self.orders[coid]
        self.orders[coid] = self._copy(mine, mine.filled_size, "CANCELED")
        ack = VenueEvent(
            f"cx-{coid}",
            order.trade_id,
            order.slot_id,
            "CANCEL_ACK",
            venue_client_id=coid,
            asset=order.asset,
            side=order.order_side,
        )
        return [ack]

    def open_orders(self) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.status.name != "CANCELED"]

    def order_status(self, coid: str) -> VenueOrder | None:
        self.asked.append(coid)
        return self.orders.get(coid)

    def positions(self) -> dict[str, float]:
        net: dict[str, float] = {}
        for o in self.orders.values():
            net[o.asset] = net.get(o.asset, 0.0) + o.filled_size
        return net


def _entered_and_canceled(kernel: ExecutionKernel, venue: CancelAckedBare, slot: int, raced: float) -> str:
    """A LIMIT entry of 2 on ``slot``, filled ``raced`` at the venue (its report lost), then
    canceled, the ack saying nothing of the fill: the kernel ends it unfilled."""
    out = kernel.process_intent(intent("ENTER", slot, target_size=2.0, order_type="LIMIT", limit_price=99.0))
    coid = out.order.client_order_id
    if raced:
        venue.fill(coid, raced)
    assert kernel.process_intent(intent("CANCEL", slot)).accepted
    assert kernel.slot_state(slot).fsm_state == TradeStage.IDLE
    return str(coid)


def test_a_fill_that_raced_a_cancel_acknowledged_without_it_is_booked_after_a_restart(tmp_path: Path) -> None:
    """The kernel ended the order unfilled, as the cancel's ack said; the venue had filled 0.5
    of it, and that report was lost with the process. Only the positions showed it (a mismatch,
    nothing booked): the order is now asked about and its fill booked."""
    venue = CancelAckedBare()
    kernel = _open(tmp_path, venue)
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.5)
    assert [o.client_order_id for o in kernel.orders_ended_without_figure()] == [coid]
    assert kernel.awaited_orders() == []
    kernel.close()
    gc.collect()
    kernel = _open(tmp_path, venue)
    applied: list[VenueEvent] = []
    report = reconcile_with_venue(kernel, on_applied=lambda ev, _: applied.append(ev))
    # The venue's end again with its figure, then the fill, which leaves no rest of it open.
    assert [(e.kind.name, e.filled_size) for e in applied] == [("CANCEL_ACK", 0.5), ("FILL", 0.5)]
    assert (applied[1].status.name, applied[1].remaining_size) == ("CANCELED", 0.0)
    assert report.missed_fills == [
        {
            "client_order_id": coid,
            "slot_id": 0,
            "asset": "BTCUSDT",
            "ended_as": "CANCELED",
            "qty": 0.5,
            "price": 99.0,
        }
    ]
    assert report.position_mismatches == [] and report.unresolved == [] and venue.asked == [coid]
    s = kernel.slot_state(0)
    assert s.fsm_state == TradeStage.POSITION_OPEN and s.size == 0.5 and s.entry_price == 99.0
    # The venue's figure was told the kernel with the fill: the order is not asked about again,
    # and the venue's own report of that fill, arriving late, is not booked twice, with its
    # running total or without one.
    assert kernel.orders_ended_without_figure() == []
    for n, total in enumerate((0.5, 0.0)):
        late = VenueEvent(
            f"late-{n}", "t0", 0, "FILL", venue_client_id=coid, price=99.0, size=0.5, filled_size=total
        )
        assert not kernel.on_venue_event(late).accepted and kernel.slot_state(0).size == 0.5
    assert kernel.reconcile_with_venue().clean and venue.asked == [coid]
    kernel.close()
    gc.collect()
    kernel = _open(tmp_path, venue)
    assert kernel.slot_state(0).size == 0.5
    kernel.close()


def test_the_orders_ended_without_a_figure_are_asked_about_newest_first_up_to_the_bound() -> None:
    venue = CancelAckedBare()
    kernel = ExecutionKernel(max_slots=3, venue=venue, kernel_id="bound")
    coids = [_entered_and_canceled(kernel, venue, slot, raced=0.0) for slot in range(3)]
    report = kernel.reconcile_with_venue(ended_lookups=1)
    assert venue.asked == [coids[2]] and report.ended_not_asked == 2
    # A count, not a difference: kernel and venue agree on everything compared.
    assert report.clean and report.lines() == ["ended_not_asked: 2"]
    venue.asked.clear()
    assert kernel.reconcile_with_venue(ended_lookups=0).ended_not_asked == 3 and venue.asked == []
    assert kernel.reconcile_with_venue().ended_not_asked == 0 and sorted(venue.asked) == sorted(coids)
    # Settling only the orders in doubt (as a runtime does while it runs) asks about none.
    venue.asked.clear()
    assert kernel.reconcile_with_venue(only_in_doubt=True).ended_not_asked == 0 and venue.asked == []


class CannotBeAsked(CancelAckedBare):
    def order_status(self, coid: str) -> VenueOrder | None:
        raise VenueUnavailable(f"lookup of {coid!r} throttled")


class CannotLookUp(CancelAckedBare):
    order_status = None  # type: ignore[assignment]


class AnswersMalformed(CancelAckedBare):
    def order_status(self, coid: str) -> Any:
        o = self.orders[coid]
        return SimpleNamespace(
            status=o.status,
            size=o.size,
            filled_size=math.nan,
            avg_fill_price=99.0,
            price=99.0,
            venue_order_id="v",
        )


def test_an_ended_order_the_venue_cannot_tell_of_is_left_as_it_was() -> None:
    # Asking raised: counted as not asked (the kernel ended it, and a fill that raced the end
    # shows in the positions, compared all the same).
    venue: CancelAckedBare = CannotBeAsked()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="cannot")
    _entered_and_canceled(kernel, venue, 0, raced=0.5)
    seq = kernel.seq
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and report.ended_not_asked == 1
    assert report.position_mismatches[0]["difference"] == 0.5 and kernel.seq == seq
    # A venue that cannot look orders up is not asked, nor is the order reported unresolved.
    venue = CannotLookUp()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="no-lookup")
    _entered_and_canceled(kernel, venue, 0, raced=0.5)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and report.missed_fills == [] and len(report.position_mismatches) == 1
    # A malformed answer changes nothing and names the field.
    venue = AnswersMalformed()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="malformed")
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.5)
    seq = kernel.seq
    [left] = kernel.reconcile_with_venue().unresolved
    assert left["client_order_id"] == coid and left["details"]["field"] == "filled_size"
    assert kernel.seq == seq and kernel.slot_state(0).size == 0.0


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuysThenCancels(Strategy[NoParams]):
    """A limit buy on the first bar, its cancel on the second."""

    Params = NoParams

    def on_start(self) -> None:
        self.my_fills: list[Fill] = []

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset):
            assert self.buy(bar.asset, 2.0, price=bar.close, limit=99.0).accepted
        else:
            assert self.cancel(0).accepted

    def on_fill(self, fill: Fill) -> None:
        self.my_fills.append(fill)


def test_a_fill_that_raced_a_cancel_reaches_the_strategy_that_canceled() -> None:
    venue = CancelAckedBare()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="rt-raced")
    runtime = TradingRuntime(kernel)
    strategy = BuysThenCancels()
    runtime.add_strategy(strategy)
    runtime.start()
    bars = [Bar("BTCUSDT", 1_700_000_000.0 + 60 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0) for i in range(2)]
    runtime.run(bars[:1])
    [coid] = venue.orders
    venue.fill(coid, 0.5)  # its report lost
    runtime.run(bars[1:])
    assert not strategy.busy("BTCUSDT") and kernel.slot_state(0).fsm_state == TradeStage.IDLE
    report = runtime.reconcile_with_venue()
    assert [f["qty"] for f in report.missed_fills] == [0.5]
    # The trade is its strategy's again, with the position the venue holds.
    assert [(f.size, f.price) for f in strategy.my_fills] == [(0.5, 99.0)]
    assert strategy.position("BTCUSDT") == 0.5 and strategy.busy("BTCUSDT")


class AcksCancelButWorks(CancelAckedBare):
    """Acknowledges an order's first cancel without canceling it: the order works on, and
    fills. A later cancel cancels it (or, with ``refuses``, raises)."""

    def __init__(self, *, refuses: bool = False) -> None:
        super().__init__()
        self.acked: set[str] = set()
        self.refuses = refuses

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        if coid in self.acked:
            if self.refuses:
                raise VenueUnavailable("cancel throttled")
            return super().cancel(order)
        self.acked.add(coid)
        ack = VenueEvent(f"cx0-{coid}", order.trade_id, order.slot_id, "CANCEL_ACK", venue_client_id=coid)
        return [VenueEvent(**ack.to_dict() | {"asset": order.asset, "side": order.order_side})]


def test_an_order_ended_in_the_kernel_that_the_venue_works_on_is_booked_and_canceled() -> None:
    """Canceled as one nobody manages, such an order's fills would never be booked."""
    venue = AcksCancelButWorks()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="works-on")
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.0)
    venue.fill(coid, 0.5)  # after the kernel heard it canceled
    report = kernel.reconcile_with_venue()
    assert [(f["client_order_id"], f["qty"]) for f in report.missed_fills] == [(coid, 0.5)]
    assert [(e["client_order_id"], e["status"], e["canceled"]) for e in report.ended_at_venue] == [
        (coid, "CANCELED", True)
    ]
    assert report.unknown_at_venue_canceled == [] and report.position_mismatches == []
    assert venue.orders[coid].status.name == "CANCELED" and kernel.slot_state(0).size == 0.5
    assert kernel.orders_ended_without_figure() == []
    # Its cancel failing, the order is named with the reason: it may still fill.
    venue = AcksCancelButWorks(refuses=True)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="works-on-2")
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.0)
    venue.fill(coid, 0.5)
    report = kernel.reconcile_with_venue()
    [left] = report.unresolved
    assert left["client_order_id"] == coid and "its cancel failed" in left["reason"]
    assert "its cancel was acknowledged while it worked on" in left["reason"]
    assert report.missed_fills[0]["qty"] == 0.5 and report.unknown_at_venue_cancel_failed == []


class FillsBeforeTheCancel(AcksCancelButWorks):
    """Reconciliation's cancel lands after ``raced`` more of the order filled (reported later on
    the stream); the venue acknowledges it without a filled size, as HTX does (the ccxt adapter
    then says 0, "cannot say"). Its ``order_status`` raises once ``lookup_fails``."""

    def __init__(self, raced: float) -> None:
        super().__init__()
        self.raced = raced
        self.lookup_fails = False

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        if coid in self.acked:
            self.fill(coid, self.orders[coid].filled_size + self.raced)
        return super().cancel(order)

    def order_status(self, coid: str) -> VenueOrder | None:
        if self.lookup_fails and self.orders[coid].status.name == "CANCELED":
            raise VenueUnavailable("order status throttled")
        return super().order_status(coid)


@pytest.mark.parametrize("listed", [0.0, 0.5])
def test_a_fill_racing_the_cancel_of_an_ended_order_the_venue_works_on_is_booked(listed: float) -> None:
    """The kernel ended the order (its cancel acknowledged while it worked on); the venue lists
    it working, ``listed`` filled. Reconciliation's cancel is acknowledged without a figure:
    the order was ended with the listing's, read before the cancel, and the fill that raced the
    cancel, reported on the stream, was refused as an overfill and never asked about again. Its
    order status, asked once it is canceled, gives the final figure."""
    venue = FillsBeforeTheCancel(raced=0.5)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id=f"races-{int(listed * 10)}")
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.0)
    if listed:
        venue.fill(coid, listed)
    report = kernel.reconcile_with_venue()
    assert venue.orders[coid].status.name == "CANCELED" and venue.asked == [coid]
    assert [(e["client_order_id"], e["canceled"]) for e in report.ended_at_venue] == [(coid, True)]
    total = listed + 0.5
    late = VenueEvent(
        "late-1", "t0", 0, "FILL", venue_client_id=coid, price=99.0, size=0.5, filled_size=total, fill_id="T2"
    )
    out = kernel.on_venue_event(late)
    assert out.accepted, (out.diagnostic_code, out.details)
    assert kernel.slot_state(0).size == venue.positions()["BTCUSDT"] == total
    assert kernel.reconcile_with_venue().position_mismatches == []


def test_an_ended_order_canceled_without_a_figure_the_venue_cannot_give_is_left_unresolved() -> None:
    """Canceled at the venue without a figure, and its order status failing: the listing's
    figure is not taken for the end (a fill that raced the cancel would be refused). The order
    is named, ended as it was without the venue's figure, and the raced fill is booked when it
    comes; the next reconciliation asks again."""
    venue = FillsBeforeTheCancel(raced=0.5)
    venue.lookup_fails = True
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="races-unsaid")
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.0)
    venue.fill(coid, 0.5)
    report = kernel.reconcile_with_venue()
    [left] = report.unresolved
    assert left["client_order_id"] == coid and report.ended_at_venue == []
    assert "canceled there" in left["reason"] and "order status throttled" in left["reason"]
    assert [o.client_order_id for o in kernel.orders_ended_without_figure()] == [coid]
    late = VenueEvent(
        "late-1", "t0", 0, "FILL", venue_client_id=coid, price=99.0, size=0.5, filled_size=1.0, fill_id="T2"
    )
    assert kernel.on_venue_event(late).accepted and kernel.slot_state(0).size == 1.0
    venue.lookup_fails = False
    again = kernel.reconcile_with_venue()
    assert again.unresolved == [] and again.position_mismatches == []
    assert kernel.orders_ended_without_figure() == []


@pytest.mark.parametrize("clock", [None, "now"])
def test_a_clock_that_cannot_stamp_events_is_refused_before_the_venue_is_told_anything(clock: Any) -> None:
    """A ``clock`` was first called to stamp an event: for an order the kernel ended that the
    venue works on, that came after its cancel at the venue, and the TypeError then raised,
    naming nothing, lost the report of the cancel."""
    venue = AcksCancelButWorks()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="no-clock")
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.0)
    before, seq = kernel.snapshot(), kernel.seq
    with pytest.raises(TypeError, match=f"clock={clock!r} must be"):
        reconcile_with_venue(kernel, clock=clock)
    assert venue.orders[coid].status.name == "ACKNOWLEDGED" and venue.asked == []
    assert kernel.snapshot() == before and kernel.seq == seq


def test_an_ended_exit_the_venue_works_on_is_canceled_and_its_fill_booked() -> None:
    """Exit 1, ended in the kernel by a bare cancel ack, works on at the venue beside exit 2
    and fills there. Left working, unmanaged, beside exit 2, it could sell the position twice;
    it is canceled. Its fill is booked, though its slot works another exit (refused, the kernel
    would hold what the venue has sold); exit 2, working for more than is left, is asked to
    cancel."""
    venue = AcksCancelButWorks()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="exits")
    entry = kernel.process_intent(intent("ENTER", 0, target_size=2.0, order_type="LIMIT", limit_price=99.0))
    coid = entry.order.client_order_id
    filled = VenueEvent("f1", "t0", 0, "FILL", venue_client_id=coid, price=99.0, size=2.0, filled_size=2.0)
    assert kernel.on_venue_event(filled).accepted
    del venue.orders[coid]  # over at the venue
    first_exit = kernel.process_intent(intent("EXIT", 0, order_type="LIMIT", limit_price=120.0))
    exit1 = first_exit.order.client_order_id
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    second = kernel.process_intent(intent("EXIT", 0, order_type="LIMIT", limit_price=121.0))
    venue.fill(exit1, 0.5)
    report = kernel.reconcile_with_venue()
    assert venue.orders[exit1].status.name == "CANCELED"
    [missed] = report.missed_fills
    assert missed["client_order_id"] == exit1 and missed["qty"] == 0.5 and missed["price"] == 120.0
    exit2 = second.order.client_order_id
    assert exit2 in venue.acked
    # The venue acknowledged exit 2's cancel bare: the slot's kept exit is exit 2 now, and exit
    # 1's cancel at the venue is no longer the kernel's to confirm.
    assert [u["client_order_id"] for u in report.unresolved] == [exit1]
    slot = kernel.slot_state(0)
    assert slot.size == 1.5 and slot.fsm_state.name == "POSITION_OPEN"


def test_an_ended_order_the_venue_says_filled_short_is_booked_and_named_not_ended_short() -> None:
    """FILLED with 0.5 of 2 counted was taken for the order's figure: the venue's later report
    of the rest was refused (OVERFILL) and the report said nothing. As for a working order,
    what it counts is booked and the order named; the rest is booked when it comes."""
    venue = CancelAckedBare()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="short")
    coid = _entered_and_canceled(kernel, venue, 0, raced=0.0)
    venue.orders[coid] = venue._copy(venue.orders[coid], 0.5, "FILLED")
    report = kernel.reconcile_with_venue()
    [left] = report.unresolved
    assert left["client_order_id"] == coid and "FILLED with 0.5 of 2.0 filled" in left["reason"]
    assert report.missed_fills[0]["qty"] == 0.5 and kernel.slot_state(0).size == 0.5
    rest = VenueEvent("rest", "t0", 0, "FILL", venue_client_id=coid, price=99.0, size=1.5, filled_size=2.0)
    assert kernel.on_venue_event(rest).accepted and kernel.slot_state(0).size == 2.0


def test_a_numpy_bound_gives_a_report_that_can_be_said() -> None:
    """``ended_lookups`` is taken as a numpy int (``is_count``); the count of the orders beyond
    it was then numpy's too, after the events were applied: ``lines()`` raised TypeError (it
    took the count for a list) and ``to_dict()`` could not be written as JSON."""
    venue = CancelAckedBare()
    kernel = ExecutionKernel(max_slots=3, venue=venue, kernel_id="np-bound")
    for slot in range(3):
        _entered_and_canceled(kernel, venue, slot, raced=0.0)
    report = kernel.reconcile_with_venue(ended_lookups=np.int64(1))
    assert type(report.ended_not_asked) is int and report.ended_not_asked == 2
    assert report.lines() == ["ended_not_asked: 2"]
    assert json.loads(json.dumps(report.to_dict()))["ended_not_asked"] == 2


class ListsUnderTheHash(AcksCancelButWorks):
    """Lists the kernel's orders as a ccxt adapter does after a restart on OKX or Gate, whose
    rules refuse the kernel's client ids: under the hash each went out under, with no slot or
    trade, and (``qualified``) its venue id in another form than the kernel holds; it cancels
    the order so listed. Says the hash (``listed_client_order_id``) unless ``tells`` is False."""

    def __init__(self, *, qualified: bool, tells: bool) -> None:
        super().__init__()
        self.qualified = qualified
        if tells:
            self.listed_client_order_id = self._hashed

    def _hashed(self, order: VenueOrder) -> str:
        return f"h{order.client_order_id.replace('-', '')}"

    def open_orders(self) -> list[VenueOrder]:
        listed = []
        for o in super().open_orders():
            venue_order_id = f"{o.asset}:{o.venue_order_id}" if self.qualified else o.venue_order_id
            figures: dict[str, Any] = {"filled_size": o.filled_size, "avg_fill_price": o.avg_fill_price}
            mine = (self._hashed(o), 0, "", o.asset, o.order_side, o.order_type, o.price, o.size)
            listed.append(VenueOrder(*mine, venue_order_id=venue_order_id, status=o.status, **figures))
        return listed

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        by_hash = {self._hashed(o): o for o in self.orders.values()}
        return super().cancel(by_hash.get(order.client_order_id, order))


@pytest.mark.parametrize("known_by", ["its client id", "the id it went out under", "its venue id"])
def test_an_ended_order_the_venue_lists_is_reconciled_beyond_the_bound(known_by: str) -> None:
    """The bound is on lookups, each a request to the venue; an order the venue lists needs
    none. Yet the oldest order ended without a figure, beyond ``ended_lookups``, listed as
    working at the venue and filled there, was canceled as an order nobody manages: its fill
    was never booked (a position mismatch). Then "listed" was read as listed under the kernel's
    own client id; on OKX and Gate every order goes out hashed, and after a restart is listed
    under the hash. It is known by the id it went out under, or its venue id, as the pass over
    the orders nobody manages knows the kernel's."""
    by_hash = known_by == "the id it went out under"
    if known_by == "its client id":
        venue: AcksCancelButWorks = AcksCancelButWorks()
    else:
        venue = ListsUnderTheHash(qualified=by_hash, tells=by_hash)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=f"listed-beyond-{known_by.split()[-1]}")
    older = _entered_and_canceled(kernel, venue, 0, raced=0.0)
    newer = _entered_and_canceled(kernel, venue, 1, raced=0.0)
    venue.fill(older, 0.5)  # it works on at the venue, and fills
    venue.orders[newer] = venue._copy(venue.orders[newer], 0.0, "CANCELED")  # over there, unlisted
    report = kernel.reconcile_with_venue(ended_lookups=1)
    # The older is asked about only once canceled (its cancel's ack states no figure): a fill
    # may have raced that cancel. The newer is the one lookup within the bound.
    assert venue.asked == [older, newer] and report.ended_not_asked == 0
    assert report.unknown_at_venue_canceled == [] and report.position_mismatches == []
    assert [(f["client_order_id"], f["qty"]) for f in report.missed_fills] == [(older, 0.5)]
    assert [(e["client_order_id"], e["canceled"]) for e in report.ended_at_venue] == [(older, True)]
    assert venue.orders[older].status.name == "CANCELED" and kernel.slot_state(0).size == 0.5
