"""VenueRouter under venues that misbehave: a cancel refused as FILLED before the fill comes, an
order leaving the venue's list before its trades show, a submit's answer that breaks before its
ack. In each the router must keep the order's venue while the kernel still works the order."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from venue_helpers import make_order, reroute

from dita import ExecutionKernel, KernelIntent, VenueEvent, VenueOrder, VenueOrderStatus
from dita._kernel import KernelEventKind
from dita.venues import PaperVenue, VenueRouter, VenueUnavailable, order_venues
from dita.venues._events import OrderEvents, answered


class _TradesLag:
    """Rests each order. ``fill_quietly`` fills one at the exchange while its trade list lags: it
    leaves the open-orders list, and its fill reaches ``poll_events`` only once ``trades_show``.
    A cancel of such an order is refused saying it FILLED (as ``CcxtVenue``'s "already filled");
    of one it never had, refused naming the kernel's status. Records what it is asked."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events = OrderEvents(name)
        self.orders: dict[str, VenueOrder] = {}
        self.working: set[str] = set()
        self.owed: list[VenueEvent] = []
        self.pending: list[VenueEvent] = []
        self.cancels: list[str] = []
        self.watched: list[str] = []
        self.asked: list[str] = []

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        venue_order_id = self.events.venue_order_id()
        self.orders[order.client_order_id] = answered(
            order, venue_order_id, VenueOrderStatus.ACKNOWLEDGED, 0.0, 0.0
        )
        self.working.add(order.client_order_id)
        ack = self.events.make(
            order,
            KernelEventKind.ORDER_ACK,
            VenueOrderStatus.ACKNOWLEDGED,
            venue_order_id=venue_order_id,
            timestamp=order.created_at,
        )
        return [ack]

    def fill_quietly(self, client_order_id: str) -> None:
        order = self.orders[client_order_id]
        self.working.discard(client_order_id)
        self.orders[client_order_id] = answered(
            order, order.venue_order_id, VenueOrderStatus.FILLED, order.size, order.price
        )
        fill = self.events.make(
            order,
            KernelEventKind.FILL,
            VenueOrderStatus.FILLED,
            venue_order_id=order.venue_order_id,
            price=order.price,
            size=order.size,
            filled_size=order.size,
            fill_id=f"{order.venue_order_id}-f1",
            timestamp=order.created_at,
        )
        self.owed.append(fill)

    def trades_show(self) -> None:
        self.pending.extend(self.owed)
        self.owed = []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        coid = order.client_order_id
        self.cancels.append(coid)
        held = self.orders.get(coid)
        if held is not None and coid in self.working:
            self.working.discard(coid)
            self.orders[coid] = answered(held, held.venue_order_id, VenueOrderStatus.CANCELED, 0.0, 0.0)
            kind, status, filled, reason = KernelEventKind.CANCEL_ACK, VenueOrderStatus.CANCELED, 0.0, ""
        elif held is not None:
            kind, status, filled = KernelEventKind.CANCEL_REJECT, held.status, held.filled_size
            reason = "order already filled"
        else:
            kind, status, filled, reason = (
                KernelEventKind.CANCEL_REJECT, order.status, order.filled_size, "unknown order",
            )  # fmt: skip
        return [
            self.events.make(
                order,
                kind,
                status,
                venue_order_id=order.venue_order_id,
                filled_size=filled,
                reason=reason,
                timestamp=order.created_at,
            )
        ]

    def watch(self, order: VenueOrder) -> None:
        self.watched.append(order.client_order_id)

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        self.asked.append(client_order_id)
        found = self.orders.get(client_order_id)
        return found if found is None or asset is None or found.asset == asset else None

    def open_orders(self) -> list[VenueOrder]:
        return [self.orders[c] for c in sorted(self.working)]

    def positions(self) -> dict[str, float]:
        return {}

    def poll_events(self) -> list[VenueEvent]:
        out, self.pending = self.pending, []
        return out


def _resting(kernel: ExecutionKernel, slot: int = 0) -> VenueOrder:
    entry = KernelIntent(
        f"i{slot}", f"t{slot}", slot, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0,
        order_type="LIMIT", limit_price=95.0, timestamp=1.0,
    )  # fmt: skip
    outcome = kernel.process_intent(entry)
    assert outcome.accepted and outcome.order is not None
    return outcome.order


def test_router_keeps_the_venue_of_an_order_whose_cancel_was_refused_as_filled() -> None:
    """A cancel refused because the order FILLED says nothing has ended in the kernel: it keeps
    the order working until the fill itself comes (a CANCEL_REJECT changes no stage), and an
    exchange's trade list lags its order's status. Taking the refusal's FILLED for the order's end,
    the router forgot its venue: after a reroute its ``watch``, its next cancel and the question
    of its status went to the venue the asset is routed to now, which never had it."""
    va, vb = _TradesLag("va"), _TradesLag("vb")
    router = VenueRouter({"va": va, "vb": vb}, default="va")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="refused-as-filled")
    order = _resting(kernel)
    coid = order.client_order_id
    reroute(router, "BTCUSDT", "vb")  # new orders go to vb; this one is on va
    va.fill_quietly(coid)
    cancel = KernelIntent("c0", "t0", 0, "BTCUSDT", "LONG", "CANCEL", 0.0, 0.0, timestamp=2.0)
    out = kernel.process_intent(cancel)
    assert [(e.kind.name, e.status.name) for e in out.emitted_events] == [("CANCEL_REJECT", "FILLED")]
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"  # the fill is still owed
    (working,) = kernel.open_orders()

    assert router.venue_name_holding(working) == "va"
    router.watch(working)
    router.cancel(working)
    found = router.order_status(coid, "BTCUSDT")
    assert found is not None and found.status == VenueOrderStatus.FILLED
    assert (va.watched, va.cancels, va.asked) == ([coid], [coid, coid], [coid])
    assert (vb.watched, vb.cancels, vb.asked) == ([], [], [])

    va.trades_show()
    for event in router.poll_events():
        kernel.on_venue_event(event)
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN" and kernel.slot_state(0).size == 1.0
    assert router._orders.order_venue == {}  # the fill ended it: forgotten then


class _ListsTrades(_TradesLag):
    """Lists each order's trades with the fee the exchange charged, as ``CcxtVenue.trade_fills``
    does; records whom it was asked about."""

    FEE = 0.25

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.trades_asked: list[str] = []

    def trade_fills(self, order: VenueOrder, venue_order: VenueOrder) -> list[VenueEvent]:
        self.trades_asked.append(order.client_order_id)
        trades = [e for e in self.owed if e.venue_client_id == order.client_order_id]
        return [
            self.events.make(
                order,
                KernelEventKind.FILL,
                VenueOrderStatus.FILLED,
                venue_order_id=t.venue_order_id,
                price=t.price,
                size=t.size,
                filled_size=t.filled_size,
                fill_id=t.fill_id,
                fee=self.FEE,
                timestamp=t.timestamp,
            )
            for t in trades
        ]


def test_reconciliation_after_a_reroute_books_an_order_over_at_its_venue_from_that_venues_trades() -> None:
    """Asked its status, the venue holding an order says it filled: the router forgot the venue
    of the order then, and after a reroute asked the venue the asset is routed to now, which never
    had it, for the order's trades. The fill was booked from the status alone, with the kernel's
    predicted fee instead of the commission the exchange charged, and that venue told to follow
    an order it never had."""
    va, vb = _ListsTrades("va"), _ListsTrades("vb")
    router = VenueRouter({"va": va, "vb": vb}, default="va")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="over-after-reroute")
    _resting(kernel)
    (order,) = kernel.open_orders()
    coid = order.client_order_id
    reroute(router, "BTCUSDT", "vb")  # new orders go to vb; this one is on va
    va.fill_quietly(coid)  # filled while the process was away: not listed, its trades shown

    report = kernel.reconcile_with_venue()
    assert (va.trades_asked, vb.trades_asked) == ([coid], [])
    assert [f["fill_id"] for f in report.missed_fills] == [f"{order.venue_order_id}-f1"]
    assert kernel.slot_state(0).size == 1.0 and kernel.slot_state(0).fees_paid == _ListsTrades.FEE
    assert router.venue_name_holding(order) == "va" and vb.watched == []


def test_router_keeps_the_venue_of_an_order_that_left_its_venues_list_before_its_fill_came() -> None:
    """The router forgets an order its venue no longer lists (its end unseen, as on a paper
    venue fed bars directly), but an order leaves an exchange's list as it fills, before its
    trades show: the kernel still works it, and after a reroute its ``watch`` and its cancel went
    to the venue the asset is routed to now, which never had it."""
    va, vb = _TradesLag("va"), _TradesLag("vb")
    router = VenueRouter({"va": va, "vb": vb}, default="va")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="left-the-list")
    order = _resting(kernel)
    coid = order.client_order_id
    va.fill_quietly(coid)
    router._orders.forget_ended_orders()  # what a long run does each time the memory has doubled
    reroute(router, "BTCUSDT", "vb")
    (working,) = kernel.open_orders()
    assert router.venue_name_holding(working) == "va"
    router.watch(working)
    router.cancel(working)
    assert (va.watched, va.cancels, vb.watched, vb.cancels) == ([coid], [coid], [], [])
    va.trades_show()
    for event in router.poll_events():
        kernel.on_venue_event(event)
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN" and kernel.slot_state(0).size == 1.0
    assert router._orders.left_list == {}  # its end came through: nothing more to send there


def test_an_order_that_left_its_venues_list_keeps_its_venue_when_another_venue_lists_its_client_id() -> None:
    """vb lists an order of its own under the client id of the kernel's order, which left va's list
    before its trade showed: the listing took the client id for vb, so the kernel's cancel canceled
    vb's order and left the kernel's at va."""
    va, vb = _TradesLag("va"), _TradesLag("vb")
    router = VenueRouter({"va": va, "vb": vb}, default="va")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="left-then-listed")
    order = _resting(kernel)
    coid = order.client_order_id
    va.fill_quietly(coid)
    router._orders.forget_ended_orders()
    vb.submit(make_order(coid, order_type="LIMIT", price=90.0))
    router.open_orders()  # reconciliation lists the venues
    (working,) = kernel.open_orders()
    assert router.venue_name_holding(working) == "va"
    router.cancel(working)
    assert (va.cancels, vb.cancels, sorted(vb.working)) == ([coid], [], [coid])


class _NoLookup(_TradesLag):
    """Cannot look its orders up by client id (no ``order_status``)."""

    order_status = None


def test_reconciliation_ends_an_order_that_left_its_venues_list_once_that_venue_no_longer_has_it() -> None:
    """An order that left its venue's list keeps its venue in the router, yet asked its status
    the router asked every venue, as after a restart: one that cannot say (no ``order_status``,
    or unreachable) made the answer "unknown", so an order its own venue ended and purged unseen
    stayed working in the kernel, unresolved at every reconciliation."""
    va, vb = _TradesLag("va"), _NoLookup("vb")
    router = VenueRouter({"va": va, "vb": vb}, default="va")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="left-then-purged")
    coid = _resting(kernel).client_order_id
    va.working.discard(coid)
    del va.orders[coid]  # canceled unfilled at the exchange, unseen, and purged since
    router._orders.forget_ended_orders()  # what a long run does each time the memory has doubled

    report = kernel.reconcile_with_venue()
    assert [p["client_order_id"] for p in report.purged_at_venue] == [coid] and report.unresolved == []
    assert kernel.open_orders() == [] and va.asked == [coid]


def test_router_keeps_the_venues_of_the_newest_orders_that_left_their_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(order_venues, "_LEFT_LIST_KEPT", 2)
    va = _TradesLag("va")
    router = VenueRouter({"va": va}, default="va")
    for coid in ("o1", "o2", "o3", "o4"):
        router.submit(make_order(coid, order_type="LIMIT", price=95.0))
    va.fill_quietly("o1")
    router._orders.forget_ended_orders()
    for coid in ("o2", "o3", "o4"):
        va.fill_quietly(coid)
    router._orders.forget_ended_orders()
    assert router._orders.order_venue == {} and list(router._orders.left_list) == ["o3", "o4"]


class _AnswersRaw(_TradesLag):
    """Answers ``order_status`` with the exchange's raw order, its status as the exchange says it."""

    def __init__(self, name: str, status: Any) -> None:
        super().__init__(name)
        self.status = status

    def order_status(self, client_order_id: str, asset: str | None = None) -> Any:
        held = self.orders[client_order_id]
        return SimpleNamespace(
            client_order_id=client_order_id, venue_order_id=held.venue_order_id, status=self.status,
            size=held.size, filled_size=0.0, avg_fill_price=0.0, price=held.price, side="BUY",
        )  # fmt: skip


@pytest.mark.parametrize("status", ["closed", None])
def test_reconciliation_through_a_router_names_the_status_of_a_malformed_answer(status: Any) -> None:
    """An ``order_status`` answer whose status is no ``VenueOrderStatus`` is named by
    reconciliation, field and value, with nothing changed for its order. Through a router, the
    router read the status first and raised AttributeError, reported as a lookup that failed
    ("'str' object has no attribute 'name'"), naming neither."""
    va = _AnswersRaw("va", status)
    router = VenueRouter({"va": va}, default="va")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="raw-status")
    coid = _resting(kernel).client_order_id
    va.working.discard(coid)  # not listed: its status is asked

    (left,) = kernel.reconcile_with_venue().unresolved
    assert left["details"] == {"field": "status", "value": repr(status), "reason": "not a VenueOrderStatus"}
    assert [o.client_order_id for o in kernel.open_orders()] == [coid]


class _ListsRaw(_TradesLag):
    """Lists one entry that is not an order: its exchange's raw answer, or nothing in its place."""

    def __init__(self, name: str, entry: Any) -> None:
        super().__init__(name)
        self.entry = entry

    def open_orders(self) -> list[Any]:
        return [self.entry]


@pytest.mark.parametrize("entry", [None, {"clientOrderId": "x", "status": "NEW"}])
def test_reconciliation_through_a_router_names_a_listed_entry_that_is_not_an_order(entry: Any) -> None:
    """A listing holding something that is not an order stops reconciliation before anything
    changes, naming the entry. Through a router, the router read its client id first and raised
    AttributeError, which named neither the entry nor what it was."""
    router = VenueRouter({"va": _ListsRaw("va", entry)}, default="va")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="raw-listing")
    with pytest.raises(VenueUnavailable, match=re.escape(f"entry 0 is {entry!r}, not an order")):
        kernel.reconcile_with_venue()


class _AnswerBreaks(PaperVenue):
    """Places the order, then its answer breaks before the ack (a generator whose connection is
    reset while it is read, or an answer that is not a list), and lists its orders late."""

    def __init__(self, form: str, **settings: Any) -> None:
        super().__init__(**settings)
        self.form = form

    def submit(self, order: VenueOrder) -> Any:
        super().submit(order)
        if self.form == "dict":
            return {"status": "new"}

        def reset() -> Iterator[VenueEvent]:
            raise ConnectionError("connection reset while reading the answer")
            yield  # a generator

        return reset()

    def open_orders(self) -> list[VenueOrder]:
        return []


@pytest.mark.parametrize("form", ["raises before the ack", "dict"])
def test_router_keeps_a_submit_whose_answer_broke_before_the_ack_in_doubt(
    form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer that breaks before any event of the order leaves it in flight in the kernel, as a
    submit that raised does: the order may be at the venue, which lists it late. The router took
    it for an answer and at its next check forgot the venue of the order its list did not show;
    after a reroute its cancel went to the other venue, and it worked on, free to fill."""
    monkeypatch.setattr(order_venues, "_LEFT_LIST_KEPT", 0)  # no later order's end to keep it
    lossy, other = _AnswerBreaks(form, name="lossy"), PaperVenue(name="other")
    router = VenueRouter({"lossy": lossy, "other": other}, default="lossy")
    kernel = ExecutionKernel(max_slots=1, venue=router, kernel_id="broken-answer")
    order = _resting(kernel)
    assert kernel.slot_state(0).fsm_state.name == "ORDER_SENT"  # in flight
    assert router._orders.in_doubt == {order.client_order_id}
    router._orders.forget_ended_orders()
    reroute(router, "BTCUSDT", "other")
    assert router.venue_name_holding(order) == "lossy"
    (ack,) = router.cancel(order)
    assert ack.kind.name == "CANCEL_ACK" and PaperVenue.open_orders(lossy) == []


class _Answers(_TradesLag):
    """Places the order as ``_TradesLag`` does, answering ``answer()`` instead of its ack."""

    def __init__(self, name: str, answer: Any) -> None:
        super().__init__(name)
        self.answer = answer

    def submit(self, order: VenueOrder) -> Any:
        ack = super().submit(order)
        return ack if self.answer is None else self.answer()


@pytest.mark.parametrize(
    "answer",
    [None, list, lambda: iter([]), lambda: None],
    ids=["ack", "empty list", "generator that ends well", "none"],
)
def test_router_takes_a_whole_answer_to_a_submit_as_it_did(answer: Any) -> None:
    """A whole answer leaves nothing in doubt: an ack shows the venue has the order, and an empty
    one is the answer of a venue that reports later."""
    router = VenueRouter({"va": _Answers("va", answer)}, default="va")
    router.submit(make_order("o1", order_type="LIMIT", price=95.0))
    assert router._orders.in_doubt == set() and router._orders.order_venue == {"o1": "va"}


def _numbered(name: str) -> PaperVenue:
    """A paper venue numbering its orders from 1001, as an exchange does with its own counter."""
    venue = PaperVenue(name=name, slippage_bps=0)
    counter = itertools.count(1001)
    venue._events.venue_order_id = lambda: str(next(counter))  # type: ignore[method-assign]
    for asset in ("BTCUSDT", "ETHUSDT"):
        venue.on_quote(asset, 99.0, 100.0, 5.0, 5.0, ts=1.0)
    return venue


def _rest_on_each(kernel: ExecutionKernel) -> None:
    for slot, asset in enumerate(("BTCUSDT", "ETHUSDT")):
        entry = KernelIntent(f"i{slot}", f"t{slot}", slot, asset, "LONG", "ENTER", 100.0, 1.0,
                             order_type="LIMIT", limit_price=95.0, timestamp=2.0)  # fmt: skip
        assert kernel.process_intent(entry).accepted


def test_two_venues_working_orders_of_one_venue_order_id_are_named_at_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The kernel knows working orders by venue id alone: b's order of a's order's id is refused
    its ack and fills. The router cannot tell them apart for it, so it names them at ERROR."""
    a, b = _numbered("a"), _numbered("b")
    router = VenueRouter({"a": a, "b": b}, default="a", routes={"ETHUSDT": "b"})
    kernel = ExecutionKernel(max_slots=2, venue=router, kernel_id="ids")
    with caplog.at_level(logging.ERROR, "dita.venues.router"):
        _rest_on_each(kernel)
    assert [o.venue_order_id for o in a.open_orders() + b.open_orders()] == ["1001", "1001"]
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "venue 'b''s order 'ids-2' has the venue order id '1001' of venue 'a''s order 'ids-1'" in error
    assert "UNKNOWN_ORDER" in error


def test_a_venue_order_id_used_again_after_the_other_venues_order_ended_is_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = _numbered("a"), _numbered("b")
    router = VenueRouter({"a": a, "b": b}, default="a", routes={"ETHUSDT": "b"})
    kernel = ExecutionKernel(max_slots=2, venue=router, kernel_id="ids-ended")
    first = KernelIntent("i0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=2.0)
    assert kernel.process_intent(first).accepted and kernel.slot_state(0).size == 1.0  # a's 1001 filled
    with caplog.at_level(logging.ERROR, "dita.venues.router"):
        second = KernelIntent("i1", "t1", 1, "ETHUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=2.0)
        assert kernel.process_intent(second).accepted and kernel.slot_state(1).size == 1.0  # b's 1001
    assert caplog.records == []
