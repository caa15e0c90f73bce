"""Venues that misbehave: fills resent, reordered or reported only in a running total, ids
learned out of order or claimed twice, events that contradict their order. Each case is fed
by hand through a venue that answers nothing by itself."""

from __future__ import annotations

import math
from typing import Any

import pytest
from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, KernelDiagnosticCode, KernelSeverity, TradeStage, VenueEvent

D = KernelDiagnosticCode


@pytest.fixture
def kernel() -> ExecutionKernel:
    k = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="misbehave")
    k.set_seed_capital(10_000.0)
    return k


def event(kind: str, event_id: str, client_id: str = "", trade_id: str = "", **kw: Any) -> VenueEvent:
    return VenueEvent(
        event_id, trade_id, -1, kind, venue_client_id=client_id, timestamp=1_700_000_100.0, **kw
    )


def fill(
    event_id: str, client_id: str, size: float, total: float = 0.0, price: float = 100.0, **kw: Any
) -> VenueEvent:
    """A fill stating PARTIALLY_FILLED unless told: the kernel completes an order by its sizes,
    and a FILLED short of the order's size at the running total booked ends it."""
    kw.setdefault("status", "PARTIALLY_FILLED")
    return event("FILL", event_id, client_id, price=price, size=size, filled_size=total, **kw)


def exit_order_id(kernel: ExecutionKernel, slot: int = 0, **kw: Any) -> str:
    out = kernel.process_intent(intent("EXIT", slot, **kw))
    assert out.accepted, out.details
    order = kernel.slot_state(slot).active_exit_order
    assert order is not None
    return order.client_order_id


def test_a_fill_resent_under_a_new_event_id_is_known_by_its_running_total(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 0.5, total=0.5)).accepted
    before = kernel.snapshot()
    again = kernel.on_venue_event(fill("f1-resent", coid, 0.5, total=0.5))
    assert again.diagnostic_code == D.DUPLICATE_EVENT and not again.accepted
    assert kernel.snapshot() == before
    assert kernel.slot_state(0).size == pytest.approx(0.5)


def test_a_fill_resent_without_its_fill_id_after_the_order_stopped_being_followed_is_known(
    kernel: ExecutionKernel,
) -> None:
    """A fill booked with its fill id, then a fill without a running total (the order is no
    longer followed by its reports' intervals), then the first fill resent without its id:
    booked again, it would be a position the venue does not hold."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 0.2, total=0.2, fill_id="a")).accepted
    assert kernel.on_venue_event(fill("f2", coid, 0.3, fill_id="b")).accepted  # no running total
    before = kernel.snapshot()
    again = kernel.on_venue_event(fill("f1-resent", coid, 0.2, total=0.2))
    assert again.diagnostic_code == D.DUPLICATE_EVENT and not again.accepted
    assert kernel.snapshot() == before
    assert kernel.slot_state(0).size == pytest.approx(0.5)
    # A fill the venue did make still counts.
    assert kernel.on_venue_event(fill("f3", coid, 0.1, total=0.6)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.6)


def test_a_fill_without_an_id_stating_an_id_d_fills_total_with_another_size_is_booked(
    kernel: ExecutionKernel,
) -> None:
    """A venue stamping each report with the order's total when it sends it: fill a (0.2,
    with id) states 0.6 where the kernel knew 0, and b (0.4, no id) then states 0.6 too. Not
    a resend of a, whose size differs: b is booked (the key the kernel remembers a by holds
    its size)."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f0", coid, 0.1)).accepted  # no total: not followed
    assert kernel.on_venue_event(fill("f1", coid, 0.2, total=0.6, fill_id="a")).accepted
    b = kernel.on_venue_event(fill("f2", coid, 0.3, total=0.6))
    assert b.accepted, b.details
    assert kernel.slot_state(0).size == pytest.approx(0.6)


def test_a_fill_resent_with_an_id_after_its_report_without_one_is_known(kernel: ExecutionKernel) -> None:
    """On an order no longer followed, a fill reported without an id (0.3 at total 0.6) and
    then with one (an order stream without trade ids, then the trade stream) is booked once.
    One of another size at that total (a venue stamping its reports with the order's total as
    it sends them) is another fill, and is booked."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f0", coid, 0.1)).accepted  # no total: not followed
    assert kernel.on_venue_event(fill("f1", coid, 0.3, total=0.6)).accepted
    before = kernel.snapshot()
    again = kernel.on_venue_event(fill("f1-trade", coid, 0.3, total=0.6, fill_id="T1"))
    assert again.diagnostic_code == D.DUPLICATE_EVENT and not again.accepted
    assert kernel.snapshot() == before
    other = kernel.on_venue_event(fill("f2-trade", coid, 0.2, total=0.6, fill_id="T2"))
    assert other.accepted, other.details
    assert kernel.slot_state(0).size == pytest.approx(0.6)


def test_a_status_report_after_an_orders_last_fill_books_nothing_and_is_not_critical(
    kernel: ExecutionKernel,
) -> None:
    """A venue's order update after the last fill (no size of its own, the order's total):
    as UNKNOWN_ORDER, CRITICAL, it would tell an operator money moved that the slots do not
    show. Another total than the order's is still loud."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0)).accepted
    before = kernel.snapshot()
    status = VenueEvent("s1", "t0", 0, "FILL", venue_client_id=coid, price=100.0, filled_size=1.0)
    out = kernel.on_venue_event(status)
    assert out.diagnostic_code == D.DUPLICATE_EVENT and out.severity == KernelSeverity.INFO
    assert "filled completely" in out.details["reason"] and kernel.snapshot() == before
    more = VenueEvent("s2", "t0", 0, "FILL", venue_client_id=coid, price=100.0, filled_size=1.2)
    assert kernel.on_venue_event(more).severity == KernelSeverity.CRITICAL


def test_a_status_report_at_the_total_a_venue_summed_books_nothing(kernel: ExecutionKernel) -> None:
    """A venue summing its fills states 0.1 + 0.2 (0.30000000000000004) for an order of 0.3,
    and its status report after the last fill says that figure again: it matched the order's
    size only bit for bit, so it was still CRITICAL."""
    out = kernel.process_intent(intent("ENTER", 0, target_size=0.3))
    coid = out.order.client_order_id
    assert kernel.on_venue_event(fill("f1", coid, 0.1, total=0.1)).accepted
    assert kernel.on_venue_event(fill("f2", coid, 0.2, total=0.1 + 0.2)).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    status = VenueEvent("s1", "t0", 0, "FILL", venue_client_id=coid, price=100.0, filled_size=0.1 + 0.2)
    out = kernel.on_venue_event(status)
    assert out.diagnostic_code == D.DUPLICATE_EVENT and out.severity == KernelSeverity.INFO


def test_an_id_d_fill_resent_without_its_id_on_a_followed_order_is_known_by_its_interval(
    kernel: ExecutionKernel,
) -> None:
    """While the order is followed, its reports' intervals know the resend."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 0.2, total=0.2, fill_id="a")).accepted
    again = kernel.on_venue_event(fill("f1-resent", coid, 0.2, total=0.2))
    assert again.diagnostic_code == D.DUPLICATE_EVENT and again.severity == KernelSeverity.WARNING
    assert again.details["reported_filled_size"] == pytest.approx(0.2)
    assert kernel.slot_state(0).size == pytest.approx(0.2)


def test_a_running_total_above_the_orders_size_is_an_overfill_the_venue_reports(
    kernel: ExecutionKernel,
) -> None:
    """The fill fits what the order has left and is booked; the total it states does not fit
    the order at all. It said WARNING with 1.1 unreported, of an order with 0.9 left."""
    coid = entered(kernel)
    out = kernel.on_venue_event(fill("f1", coid, 0.1, total=1.2))
    assert out.accepted and out.severity == KernelSeverity.CRITICAL
    assert out.details["venue_filled_size"] == pytest.approx(1.2)
    assert out.details["unreported_qty"] == pytest.approx(0.9)
    assert out.details["order_size"] == pytest.approx(1.0) and "overfill" in str(out.details["reason"])
    assert kernel.slot_state(0).size == pytest.approx(0.1)
    # A total ahead but within the order stays a WARNING: a fill still on its way.
    other = entered(kernel, 1)
    out = kernel.on_venue_event(fill("g1", other, 0.1, total=0.5))
    assert out.accepted and out.severity == KernelSeverity.WARNING
    assert out.details["unreported_qty"] == pytest.approx(0.4) and "reason" not in out.details
    # The end says as much, in one reason: what is owed is what the order had left.
    kernel.process_intent(intent("CANCEL", 0))
    ended = kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=1.2))
    assert ended.details["unreported_qty"] == pytest.approx(0.9)
    assert ended.details["venue_filled_size"] == pytest.approx(1.2)
    reason = str(ended.details["reason"])
    assert "more filled than the order's size" in reason and "applied when its fill comes" in reason


def test_a_late_fills_running_total_above_the_orders_size_is_an_overfill_the_venue_reports(
    kernel: ExecutionKernel,
) -> None:
    """As for a working order's: the late fill fits what the ended order had left and is
    booked, but the total it states does not fit the order (it said WARNING, late_fill only)."""
    coid = entered(kernel)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", coid)).accepted
    assert kernel.on_venue_event(fill("f1", coid, 0.2, total=0.2)).accepted
    kernel.process_intent(intent("CANCEL", 0))
    assert kernel.on_venue_event(event("CANCEL_ACK", "c1", coid)).accepted
    late = kernel.on_venue_event(fill("f2", coid, 0.3, total=1.2))
    assert late.accepted and late.severity == KernelSeverity.CRITICAL
    assert late.details["late_fill"] is True and late.details["venue_filled_size"] == pytest.approx(1.2)
    assert late.details["order_size"] == pytest.approx(1.0) and "overfill" in str(late.details["reason"])
    assert kernel.slot_state(0).size == pytest.approx(0.5)
    # Within the order's size it stays the late fill's WARNING, and a total ahead of what is
    # booked says what is missing, as a working order's fill does.
    other = entered(kernel, 1)
    assert kernel.on_venue_event(event("ORDER_ACK", "a2", other)).accepted
    assert kernel.on_venue_event(fill("g1", other, 0.2, total=0.2)).accepted
    kernel.process_intent(intent("CANCEL", 1))
    assert kernel.on_venue_event(event("CANCEL_ACK", "c2", other)).accepted
    ahead = kernel.on_venue_event(fill("g2", other, 0.3, total=0.9))
    assert ahead.accepted and ahead.severity == KernelSeverity.WARNING and "reason" not in ahead.details
    assert ahead.details["unreported_qty"] == pytest.approx(0.4)
    assert ahead.details["venue_filled_size"] == pytest.approx(0.9)


def test_a_buy_limit_filled_above_its_limit_is_booked_and_critical(kernel: ExecutionKernel) -> None:
    coid = entered(kernel, target_size=1.0, order_type="LIMIT", limit_price=100.0)
    out = kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0, price=150.0))
    assert out.accepted and out.severity == KernelSeverity.CRITICAL, out.details
    assert out.details["price"] == 150.0 and out.details["limit_price"] == 100.0
    assert out.details["client_order_id"] == coid and "reconcile" in str(out.details["reason"])
    assert kernel.slot_state(0).entry_price == 150.0


def test_a_sell_limit_exit_filled_below_its_limit_is_booked_and_critical(kernel: ExecutionKernel) -> None:
    coid = entered(kernel, target_size=1.0)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0)).accepted
    ex = exit_order_id(kernel, trade_id="t0", order_type="LIMIT", limit_price=110.0)
    out = kernel.on_venue_event(fill("f2", ex, 1.0, total=1.0, price=90.0))
    assert out.accepted and out.severity == KernelSeverity.CRITICAL, out.details
    assert out.details["price"] == 90.0 and out.details["limit_price"] == 110.0
    assert out.details["client_order_id"] == ex
    assert kernel.slot_state(0).realized_pnl == pytest.approx(-10.0)


def test_a_late_fill_of_a_limit_order_past_its_limit_is_critical(kernel: ExecutionKernel) -> None:
    coid = entered(kernel, target_size=1.0, order_type="LIMIT", limit_price=100.0)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", coid)).accepted
    kernel.process_intent(intent("CANCEL", 0))
    assert kernel.on_venue_event(event("CANCEL_ACK", "c1", coid)).accepted
    late = kernel.on_venue_event(fill("f1", coid, 0.5, total=0.5, price=120.0))
    assert late.accepted and late.severity == KernelSeverity.CRITICAL, late.details
    assert late.details["late_fill"] is True and late.details["limit_price"] == 100.0


def test_a_limit_fill_at_or_better_than_its_limit_is_not_flagged(kernel: ExecutionKernel) -> None:
    coid = entered(kernel, target_size=1.0, order_type="LIMIT", limit_price=100.0)
    out = kernel.on_venue_event(fill("f1", coid, 0.5, total=0.5, price=99.0))
    assert out.severity == KernelSeverity.INFO and "limit_price" not in out.details, out.details
    out = kernel.on_venue_event(fill("f2", coid, 0.5, total=1.0, price=100.0))
    assert out.severity == KernelSeverity.INFO and "limit_price" not in out.details, out.details


def test_a_report_partly_booked_already_is_charged_the_fee_of_its_new_part(kernel: ExecutionKernel) -> None:
    """A report overlapping an earlier one books its new part, and pays that part's share of
    its fee: the earlier report paid for the rest, which is not charged again."""
    coid = entered(kernel)
    first = kernel.on_venue_event(fill("f1", coid, 0.4, total=0.4, fee=0.04))
    assert first.accepted and "fee_charged" not in first.details
    wider = kernel.on_venue_event(fill("f2", coid, 1.0, total=1.0, fee=0.1))
    assert wider.accepted and kernel.slot_state(0).size == pytest.approx(1.0)
    assert wider.details["fee_charged"] == pytest.approx(0.06)
    assert wider.details["reported_fee"] == 0.1 and wider.details["booked_qty"] == pytest.approx(0.6)
    assert kernel.slot_state(0).fees_paid == pytest.approx(0.1)
    assert kernel.account()["k_fees_paid"] == pytest.approx(0.1)


def test_a_filled_position_counts_towards_the_notional_cap_at_its_entry_price(
    kernel: ExecutionKernel,
) -> None:
    """Filled at 110 on a reference of 100, the position commits 110, as it does after a reload
    of the slots: at 100 until a reload, a restart would change what the cap sees."""
    kernel.set_risk_limits({"max_notional_per_asset": 205.0})
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0, price=110.0)).accepted
    out = kernel.process_intent(intent("ENTER", 1))
    assert out.diagnostic_code == D.RISK_REJECTED
    assert out.details["rule"] == "max_notional_per_asset" and out.details["value"] == pytest.approx(210.0)


def test_a_short_marked_at_its_entry_shows_an_unrealized_pnl_of_zero_not_minus_zero(
    kernel: ExecutionKernel,
) -> None:
    # -1 times a zero move is -0.0: printed "-0.0", and sorted before 0.0 by the projection's SQL.
    assert kernel.process_intent(intent("ENTER", 0, side="SHORT")).accepted
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    assert kernel.on_venue_event(fill("f1", order.client_order_id, 1.0)).accepted
    kernel.mark_price(order.asset, 100.0)
    shown = [kernel.slot_state(0).unrealized_pnl, kernel.slot_dict(0)["unrealized_pnl"]]
    shown.append(kernel.snapshot()["slots"][0]["unrealized_pnl"])
    assert [str(v) for v in shown] == ["0.0"] * 3


def test_a_slot_shows_the_notional_it_commits_to_the_caps(kernel: ExecutionKernel) -> None:
    """What each slot counts towards the notional caps, read-only: the working entry at its
    reference, then the position at its fill price. Loading the slots recomputes it."""
    kernel.set_risk_limits({"max_notional_per_asset": 205.0})
    coid = entered(kernel)
    assert kernel.slot_dict(0)["committed_notional"] == pytest.approx(100.0)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0, price=110.0)).accepted
    assert kernel.slot_state(0).committed_notional == pytest.approx(110.0)
    assert kernel.slot_state(0).to_dict()["committed_notional"] == pytest.approx(110.0)
    assert [s["committed_notional"] for s in kernel.snapshot()["slots"]] == [pytest.approx(110.0), 0.0]
    slots = kernel.slots()
    slots[0]["committed_notional"] = 1.0  # not read: the kernel computes it from the slot
    kernel.reconcile_from_slots(slots)
    assert kernel.slots()[0]["committed_notional"] == pytest.approx(110.0)
    out = kernel.process_intent(intent("ENTER", 1))
    assert out.diagnostic_code == D.RISK_REJECTED and out.details["value"] == pytest.approx(210.0)


def test_fills_arriving_out_of_order_all_count(kernel: ExecutionKernel) -> None:
    """A running total below what is known is an earlier fill arriving late, not a resend."""
    coid = entered(kernel)
    late_second = kernel.on_venue_event(fill("f2", coid, 0.3, total=0.5))
    assert late_second.accepted and late_second.severity == KernelSeverity.WARNING
    assert late_second.details["unreported_qty"] == pytest.approx(0.2)
    first = kernel.on_venue_event(fill("f1", coid, 0.2, total=0.2))
    assert first.accepted and first.severity == KernelSeverity.INFO
    assert kernel.slot_state(0).size == pytest.approx(0.5)
    last = kernel.on_venue_event(fill("f3", coid, 0.5, total=1.0))
    assert last.accepted and last.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(1.0)


def test_a_fill_before_the_ack_teaches_the_kernel_the_venue_id(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 0.4, venue_order_id="V1")).accepted
    late_ack = kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1"))
    assert late_ack.diagnostic_code == D.INVALID_TRANSITION
    by_venue_id = kernel.on_venue_event(fill("f2", "", 0.6, venue_order_id="V1"))
    assert by_venue_id.accepted and by_venue_id.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(1.0)


@pytest.mark.parametrize("leg", ["entry", "exit"])
def test_an_ack_after_a_part_fill_teaches_the_venue_id(kernel: ExecutionKernel, leg: str) -> None:
    """The venue reordered its reports: a fill naming the order by its client id alone moved it
    to working, then came its ack with the venue's id. The ack teaches the id: refused, the
    order's rest, reported by that id alone, would be UNKNOWN_ORDER, a fill lost. The stage
    stays as the fill left it."""
    coid = entered(kernel)
    working = TradeStage.ENTRY_WORKING
    if leg == "exit":
        assert kernel.on_venue_event(fill("entry-fill", coid, 1.0, total=1.0)).accepted
        coid, working = exit_order_id(kernel), TradeStage.EXIT_WORKING
    assert kernel.on_venue_event(fill("f1", coid, 0.4, total=0.4)).state == working
    ack = kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1"))
    assert ack.accepted and ack.diagnostic_code == D.OK and ack.severity == KernelSeverity.INFO
    assert ack.state == working and not ack.transitions
    assert ack.details["late_ack"] is True and ack.details["venue_order_id"] == "V1"
    slot = kernel.slot_state(0)
    order = slot.active_exit_order if leg == "exit" else slot.active_entry_order
    assert order is not None and order.venue_order_id == "V1" and slot.fsm_state == working
    rest = kernel.on_venue_event(fill("f2", "", 0.6, total=1.0, venue_order_id="V1"))
    assert rest.accepted, rest.details
    assert kernel.slot_state(0).size == pytest.approx(0.0 if leg == "exit" else 1.0)


def test_a_fill_saying_its_order_is_over_short_ends_it_and_a_late_ack_for_less_cuts_one(
    kernel: ExecutionKernel,
) -> None:
    """A market entry the exchange closed at 0.6 of 1 (thin liquidity), saying so in its fill
    (FILLED, nothing remaining, the running total booked), ends there (WARNING, ended_short),
    rather than work on for good with its slot taking no EXIT; the slot exits what filled;
    a fill of it after all is a late fill, booked. And a late ack (after a fill) stating less
    than the order's size cuts it, as an ack in order does: at what filled, it completes."""
    coid = entered(kernel)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1")).accepted
    out = kernel.on_venue_event(fill("f1", coid, 0.6, total=0.6, status="FILLED", remaining_size=0.0))
    assert out.accepted and out.severity == KernelSeverity.WARNING
    assert out.details["ended_short"] is True and out.details["order_size"] == pytest.approx(1.0)
    assert out.details["filled_size"] == pytest.approx(0.6)
    assert [t.trigger for t in out.transitions] == ["PARTIAL_FILL", "EXPIRED"]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.active_entry_order is None
    assert slot.size == pytest.approx(0.6) and kernel.awaited_orders() == []
    late = kernel.on_venue_event(fill("f2", coid, 0.1, total=0.7))
    assert late.accepted and late.details["late_fill"] is True
    assert kernel.slot_state(0).size == pytest.approx(0.7)
    out = kernel.process_intent(intent("EXIT", 0))
    assert out.accepted and out.order is not None and out.order.size == pytest.approx(0.7)
    # The same fill stating PARTIALLY_FILLED (or what remains) leaves the order working.
    other = entered(kernel, 1)
    assert kernel.on_venue_event(fill("g1", other, 0.6, total=0.6, remaining_size=0.4)).accepted
    assert kernel.slot_state(1).fsm_state == TradeStage.ENTRY_WORKING
    # Its ack, after that fill, states 0.6: the order is that size, filled.
    ack = kernel.on_venue_event(event("ORDER_ACK", "a2", other, venue_order_id="V2", size=0.6))
    assert ack.accepted and ack.details["late_ack"] is True and ack.severity == KernelSeverity.WARNING
    assert ack.details["acked_size"] == pytest.approx(0.6)
    assert [t.trigger for t in ack.transitions] == ["FILL"]
    slot = kernel.slot_state(1)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.active_entry_order is None


def test_an_ack_claiming_another_orders_venue_id_is_refused(kernel: ExecutionKernel) -> None:
    first, second = entered(kernel, 0), entered(kernel, 1)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", first, venue_order_id="X")).accepted
    before = kernel.snapshot()
    twin = kernel.on_venue_event(event("ORDER_ACK", "a2", second, venue_order_id="X"))
    assert twin.diagnostic_code == D.UNKNOWN_ORDER and twin.severity == KernelSeverity.CRITICAL
    assert twin.details["other_slot_id"] == 0
    assert kernel.snapshot() == before
    assert kernel.on_venue_event(fill("f1", "", 1.0, venue_order_id="X")).accepted
    assert kernel.slot_state(0).size == 1.0 and kernel.slot_state(1).size == 0.0


def test_a_venue_id_the_venue_replaced_no_longer_routes_events(kernel: ExecutionKernel) -> None:
    """A loaded order carrying venue id V1, acknowledged as V2: events naming V1 once panicked
    (the index still sent them to the slot after the order was gone)."""
    coid = entered(kernel)
    saved = [dict(s) for s in kernel.slots()]
    saved[0]["active_entry_order"] = {**saved[0]["active_entry_order"], "venue_order_id": "V1"}
    kernel.reconcile_from_slots(saved)
    assert kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V2")).accepted
    while_working = kernel.on_venue_event(fill("f0", "", 0.5, venue_order_id="V1"))
    assert while_working.diagnostic_code == D.UNKNOWN_ORDER
    assert kernel.on_venue_event(fill("f1", coid, 1.0)).state == TradeStage.POSITION_OPEN
    coid2 = entered(kernel, 1)  # the next order must not be reached through V1 either
    before = kernel.snapshot()
    for n, kind in enumerate(["FILL", "CANCEL_ACK", "CANCEL_REJECT", "ORDER_ACK"]):
        out = kernel.on_venue_event(event(kind, f"stale-{n}", venue_order_id="V1", price=100.0, size=0.5))
        assert out.diagnostic_code == D.UNKNOWN_ORDER and not out.accepted, kind
    assert kernel.snapshot() == before
    assert kernel.on_venue_event(event("ORDER_ACK", "a2", coid2, venue_order_id="V1")).accepted


def test_an_order_ending_with_more_filled_than_reported_is_said_and_the_missing_fill_counts(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(event("ORDER_ACK", "a1", coid))
    kernel.on_venue_event(fill("f1", coid, 0.5))
    ended = kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.8))
    assert ended.accepted and ended.state == TradeStage.POSITION_OPEN
    assert ended.severity == KernelSeverity.WARNING
    assert ended.details["unreported_qty"] == pytest.approx(0.3)
    assert "applied when it comes" in ended.details["reason"]
    missing = kernel.on_venue_event(fill("f2", coid, 0.3, total=0.8))
    assert missing.accepted and missing.details["late_fill"] is True
    assert kernel.slot_state(0).size == pytest.approx(0.8)
    quiet = kernel.on_venue_event(event("CANCEL_ACK", "c2", entered(kernel, 1), filled_size=0.0))
    assert quiet.accepted and quiet.severity == KernelSeverity.INFO


def test_a_fill_after_its_entrys_cancel_ack_opens_the_position(kernel: ExecutionKernel) -> None:
    """The venue acknowledged the cancel, then reported the fill that beat it: the money
    moved, so the position opens, with its fee, and the trade goes on normally."""
    coid = entered(kernel)
    kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1"))
    kernel.process_intent(intent("CANCEL", 0))
    canceled = kernel.on_venue_event(event("CANCEL_ACK", "c1", coid))
    assert canceled.state == TradeStage.IDLE and kernel.slot_state(0).side.name == "FLAT"
    late = kernel.on_venue_event(fill("f1", "", 1.0, venue_order_id="V1"))
    assert late.accepted and late.state == TradeStage.POSITION_OPEN
    assert late.severity == KernelSeverity.WARNING and late.details["client_order_id"] == coid
    (move,) = late.transitions
    assert (move.prev_state, move.next_state, move.trigger) == (
        TradeStage.IDLE,
        TradeStage.POSITION_OPEN,
        "LATE_FILL",
    )
    slot = kernel.slot_state(0)
    assert (slot.size, slot.entry_price, slot.side.name, slot.trade_id) == (1.0, 100.0, "LONG", "t0")
    assert slot.fees_paid > 0 and kernel.snapshot()["account"]["k_fees_paid"] == slot.fees_paid
    assert kernel.free_slot_id() == 1
    closed = kernel.on_venue_event(fill("x1", exit_order_id(kernel), 1.0, price=101.0))
    assert closed.state == TradeStage.CLOSED
    assert kernel.slot_state(0).realized_pnl == pytest.approx(1.0)


def test_a_fill_after_a_part_filled_entry_ended_adds_to_the_position(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.4))
    kernel.on_venue_event(event("EXPIRED", "x1", coid))
    late = kernel.on_venue_event(fill("f2", coid, 0.6, price=110.0))
    assert late.accepted and late.state == TradeStage.POSITION_OPEN
    slot = kernel.slot_state(0)
    assert slot.size == pytest.approx(1.0) and slot.entry_price == pytest.approx(106.0)
    assert kernel.on_venue_event(fill("f2", coid, 0.6)).diagnostic_code == D.DUPLICATE_EVENT
    over = kernel.on_venue_event(fill("f3", coid, 0.1))
    assert over.diagnostic_code == D.OVERFILL and kernel.slot_state(0).size == pytest.approx(1.0)
    again = kernel.on_venue_event(event("CANCEL_ACK", "c9", coid))
    assert again.diagnostic_code == D.INVALID_TRANSITION and again.severity == KernelSeverity.INFO


def test_a_fill_after_its_exits_cancel_ack_takes_from_the_position_and_may_close(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 1.0))
    xid = exit_order_id(kernel)
    kernel.on_venue_event(fill("x1", xid, 0.3, price=102.0))
    assert kernel.on_venue_event(event("CANCEL_ACK", "c1", xid)).state == TradeStage.POSITION_OPEN
    part = kernel.on_venue_event(fill("x2", xid, 0.2, price=102.0))
    assert part.accepted and part.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(0.5)
    rest = kernel.on_venue_event(fill("x3", xid, 0.5, price=102.0))
    assert rest.accepted and rest.state == TradeStage.CLOSED
    slot = kernel.slot_state(0)
    assert slot.closed and slot.size == 0.0 and slot.realized_pnl == pytest.approx(2.0)
    assert kernel.snapshot()["account"]["open_positions"] == 0 and kernel.free_slot_id() == 0


def test_a_late_fill_the_slot_cannot_take_is_refused_loudly_and_changes_nothing(
    kernel: ExecutionKernel,
) -> None:
    # An exit's late fill larger than the position (within its order: another exit took half).
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 1.0))
    first = exit_order_id(kernel)
    kernel.on_venue_event(event("CANCEL_ACK", "c1", first))
    second = exit_order_id(kernel, target_size=0.5)
    assert kernel.on_venue_event(fill("x2", second, 0.5)).accepted
    before = kernel.snapshot()
    out = kernel.on_venue_event(fill("x1", first, 0.8))
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.severity == KernelSeverity.CRITICAL
    assert "larger than the position" in out.details["reason"]
    assert kernel.snapshot() == before
    # An entry's late fill once the slot holds another trade.
    other = entered(kernel, 1)
    kernel.on_venue_event(event("REJECT", "r1", other))
    kernel.process_intent(intent("ENTER", 1, trade_id="t-next"))
    before = kernel.snapshot()
    out = kernel.on_venue_event(fill("f9", other, 1.0))
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.severity == KernelSeverity.CRITICAL
    assert "already ended" in out.details["reason"]  # the new trade forgot the old orders
    assert kernel.snapshot() == before


def test_a_late_fill_of_an_exit_while_another_exit_works_books_once(kernel: ExecutionKernel) -> None:
    """The canceled exit's fill is booked at once (the venue did sell), the other exit left as
    it went out; refused (UNKNOWN_ORDER), the slot would hold what the venue has sold. Sent
    again, it is a duplicate."""
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 1.0))
    first = exit_order_id(kernel)
    kernel.on_venue_event(event("CANCEL_ACK", "c1", first))
    second = exit_order_id(kernel, target_size=0.2)
    late = fill("x1", first, 0.05)
    out = kernel.on_venue_event(late)
    assert out.accepted and out.details["late_fill"] is True and out.state == TradeStage.EXIT_SENT
    assert kernel.slot_state(0).size == pytest.approx(0.95)
    assert kernel.slot_state(0).active_exit_order.client_order_id == second
    assert kernel.on_venue_event(fill("x2", second, 0.2)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.75)
    assert kernel.on_venue_event(late).diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.slot_state(0).size == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("field", "value"),
    [("trade_id", "someone-else"), ("asset", "ETHUSDT"), ("side", "SELL")],
)
def test_an_event_contradicting_its_order_changes_nothing(
    kernel: ExecutionKernel, field: str, value: str
) -> None:
    coid = entered(kernel)
    before = kernel.snapshot()
    out = kernel.on_venue_event(fill("f1", coid, 1.0, **{field: value}))
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.severity == KernelSeverity.ERROR
    assert out.details["field"] == field and out.details["value"] == value
    assert kernel.snapshot() == before
    matching = kernel.on_venue_event(fill("f2", coid, 1.0, trade_id="t0", asset="BTCUSDT", side="BUY"))
    assert matching.accepted and kernel.slot_state(0).size == 1.0


def test_a_refused_answer_in_a_venues_reply_does_not_change_the_reported_stage() -> None:
    class StrayAnswer(SilentVenue):
        def submit(self, order: Any) -> list[VenueEvent]:
            ack = event("ORDER_ACK", "a1", order.client_order_id)
            stray = VenueEvent(
                "s1", "", order.slot_id, "FILL", venue_client_id="an-old-order", price=100.0, size=1.0
            )
            return [ack, stray]

    kernel = ExecutionKernel(max_slots=2, venue=StrayAnswer(), kernel_id="stray")
    out = kernel.process_intent(intent("ENTER", 0))
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert out.state == TradeStage.ENTRY_WORKING
    assert out.details["venue_event_refused"] == "UNKNOWN_ORDER"


@pytest.mark.parametrize("fault", ["not an event", "raises part-way"])
def test_a_venue_answer_broken_part_way_keeps_the_events_before_the_fault(fault: str) -> None:
    """The intent was taken and the venue did fill: the fill counts, the fault is reported in
    the outcome, and the caller gets its outcome instead of an exception."""

    class BrokenAnswer(SilentVenue):
        def submit(self, order: Any) -> Any:
            done = fill("f1", order.client_order_id, order.size, total=order.size)
            if fault == "not an event":
                return [done, None]

            def answer() -> Any:
                yield done
                raise RuntimeError("socket closed")

            return answer()

    kernel = ExecutionKernel(max_slots=2, venue=BrokenAnswer(), kernel_id="broken")
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and out.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == 1.0
    assert out.severity == KernelSeverity.ERROR
    expected = "got NoneType" if fault == "not an event" else "raised part-way: RuntimeError: socket closed"
    assert expected in out.details["venue_answer_error"]


def test_a_submit_raising_a_type_error_returns_the_outcome_with_the_order_in_flight() -> None:
    """A TypeError from inside an adapter (its HTTP library choking on an odd answer, say) is
    no proof the order stayed home: the intent was taken and the order is in flight, so the
    caller gets the outcome saying so, as for any other raise. Raised, it read as "nothing
    happened" and a strategy retrying on another slot sent the order twice."""

    class Choking(SilentVenue):
        def submit(self, order: Any) -> list[VenueEvent]:
            raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'")

    kernel = ExecutionKernel(max_slots=1, venue=Choking())
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and out.state == TradeStage.ORDER_SENT
    assert out.severity == KernelSeverity.ERROR
    assert out.details["submit_outcome"] == "unknown"
    assert out.details["venue_error"].startswith("TypeError: unsupported operand")
    assert [o.client_order_id for o in kernel.open_orders()] == [out.order.client_order_id]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_ctrl_c_inside_a_venue_call_stops_the_caller_with_the_order_in_flight(stop: type) -> None:
    """Ctrl-C (or SIGTERM made one, or sys.exit) while a submit blocks on the network is the
    person stopping the program: it goes on up, not into the outcome's details while the
    strategy trades on. The order is in flight, as after any raise."""

    class Blocked(SilentVenue):
        def submit(self, order: Any) -> list[VenueEvent]:
            raise stop()

    kernel = ExecutionKernel(max_slots=1, venue=Blocked())
    with pytest.raises(stop):
        kernel.process_intent(intent("ENTER", 0))
    assert kernel.slot(0).fsm_state == TradeStage.ORDER_SENT
    assert len(kernel.open_orders()) == 1


def test_a_cancel_raising_a_type_error_does_not_keep_the_other_cancels_from_the_venue() -> None:
    """An edge freeze cancels every working order; one cancel raising must not leave the
    others working at the venue, each marked as asked to cancel in the kernel."""

    class Choking(SilentVenue):
        def __init__(self) -> None:
            self.cancels: list[str] = []

        def cancel(self, order: Any) -> list[VenueEvent]:
            self.cancels.append(order.client_order_id)
            raise TypeError("'NoneType' object is not subscriptable")

    venue = Choking()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 0.0})
    for slot in (0, 1):
        kernel.process_intent(intent("ENTER", slot))
    out = kernel.on_edge_update("BTCUSDT", -5.0)
    assert sorted(venue.cancels) == sorted(o.client_order_id for o in kernel.open_orders())
    assert len(venue.cancels) == 2
    assert out.details["cancel_outcome"] == "unknown" and "TypeError" in out.details["venue_error"]


@pytest.mark.parametrize(
    ("answer", "named"),
    [({"status": "NEW"}, "got dict"), ("NEW", "got str"), (7, "got int")],
)
def test_an_answer_that_is_not_a_list_is_named_as_what_it_is(answer: Any, named: str) -> None:
    """A dict iterates as its keys: the fault read "got str", naming what the venue never sent."""

    class Wrong(SilentVenue):
        def submit(self, order: Any) -> Any:
            return answer

    out = ExecutionKernel(max_slots=1, venue=Wrong()).process_intent(intent("ENTER", 0))
    assert out.accepted and out.state == TradeStage.ORDER_SENT
    error = out.details["venue_answer_error"]
    assert error == f"venue submit() must return a list of VenueEvent objects, {named}"


def test_an_answer_of_one_event_outside_a_list_is_applied_and_named() -> None:
    """The venue said what happened; its fill must not be dropped for the missing list (the
    fault read "must return VenueEvent objects, got VenueEvent")."""

    class Bare(SilentVenue):
        def submit(self, order: Any) -> Any:
            return fill("f1", order.client_order_id, order.size, total=order.size)

    kernel = ExecutionKernel(max_slots=1, venue=Bare())
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and out.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == 1.0
    assert out.severity == KernelSeverity.ERROR
    assert out.details["venue_answer_error"] == (
        "venue submit() must return a list of VenueEvent objects, got one VenueEvent (applied)"
    )


def test_an_exit_whose_running_total_equals_the_entrys_still_closes(kernel: ExecutionKernel) -> None:
    """Totals repeat across a trade's orders (an exit of 1 reaches the entry's 1): a fill is
    known by its order and its total together."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0)).state == TradeStage.POSITION_OPEN
    closed = kernel.on_venue_event(fill("x1", exit_order_id(kernel), 1.0, total=1.0, side="SELL"))
    assert closed.accepted and closed.state == TradeStage.CLOSED


def _on_slot_0(kind: str, event_id: str, client_id: str, **kw: Any) -> VenueEvent:
    return VenueEvent(event_id, "", 0, kind, venue_client_id=client_id, timestamp=1_700_000_100.0, **kw)


def _entry_filled(kernel: ExecutionKernel) -> str:
    """The client id of slot 0's entry of 1.0 (trade t0), filled whole and ended."""
    coid = entered(kernel)
    filled = _on_slot_0("FILL", "e1", coid, price=100.0, size=1.0, filled_size=1.0)
    assert kernel.on_venue_event(filled).accepted
    return coid


def test_an_ack_after_its_entry_filled_is_refused_naming_the_slots_stage_and_trade(
    kernel: ExecutionKernel,
) -> None:
    coid = _entry_filled(kernel)
    out = kernel.on_venue_event(_on_slot_0("ORDER_ACK", "e2", coid, venue_order_id="v1", size=1.0))
    assert out.diagnostic_code == D.INVALID_TRANSITION
    assert (out.slot_id, out.state, out.trade_id) == (0, TradeStage.POSITION_OPEN, "t0")


def test_a_fill_past_a_filled_orders_total_is_critical_naming_the_slots_stage_and_trade(
    kernel: ExecutionKernel,
) -> None:
    coid = _entry_filled(kernel)
    out = kernel.on_venue_event(_on_slot_0("FILL", "e9", coid, price=100.0, size=0.5, filled_size=1.5))
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.severity == KernelSeverity.CRITICAL
    assert (out.slot_id, out.state, out.trade_id) == (0, TradeStage.POSITION_OPEN, "t0")
    assert kernel.slot_state(0).size == 1.0


def test_a_fill_of_an_earlier_trade_is_refused_even_under_the_same_trade_id(kernel: ExecutionKernel) -> None:
    """Trade ids need not be unique: a new ENTER forgets the slot's ended orders, so a fill the
    venue resends for the last trade cannot open a phantom position in the new one."""
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.4, fill_id="F1"))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid))
    xid = exit_order_id(kernel)
    assert kernel.on_venue_event(fill("x1", xid, 0.4)).state == TradeStage.CLOSED
    again = entered(kernel)  # the same trade id, "t0"
    kernel.on_venue_event(fill("f2", again, 1.0))
    before = kernel.snapshot()
    resent = kernel.on_venue_event(fill("f1-resent", coid, 0.4, fill_id="F1"))
    assert resent.diagnostic_code == D.UNKNOWN_ORDER and resent.severity == KernelSeverity.CRITICAL
    assert kernel.snapshot() == before


def test_a_resent_late_fill_is_known_after_the_slots_fill_memory_moved_on(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.4, fill_id="F1"))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid))
    for n in range(70):  # more exit fills than the slot remembers, on the same trade
        xid = exit_order_id(kernel, target_size=0.002)
        kernel.on_venue_event(fill(f"x{n}", xid, 0.002, fill_id=f"X{n}"))
    before = kernel.snapshot()
    resent = kernel.on_venue_event(fill("f1-resent", coid, 0.4, fill_id="F1"))
    assert resent.diagnostic_code == D.DUPLICATE_EVENT and not resent.accepted
    assert kernel.snapshot() == before


def test_a_late_fill_goes_no_further_than_the_venue_said_had_filled_at_the_end(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.5, fill_id="F1"))
    ended = kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.5))
    assert ended.severity == KernelSeverity.INFO  # nothing unreported
    before = kernel.snapshot()
    # The same fill reported again by another channel (or one a reconciliation booked).
    booked = kernel.on_venue_event(fill("exec-F1", coid, 0.5, total=0.5, fill_id="exec-1"))
    assert booked.diagnostic_code == D.DUPLICATE_EVENT and booked.severity == KernelSeverity.WARNING
    assert booked.details["venue_final_filled_size"] == 0.5
    assert kernel.snapshot() == before
    # With 0.2 unreported at the end, 0.2 more may come, not 0.3.
    other = entered(kernel, 1)
    kernel.on_venue_event(fill("g1", other, 0.3))
    kernel.on_venue_event(event("EXPIRED", "e1", other, filled_size=0.5))
    too_much = kernel.on_venue_event(fill("g2", other, 0.3))
    assert too_much.diagnostic_code == D.OVERFILL and too_much.severity == KernelSeverity.CRITICAL
    assert kernel.on_venue_event(fill("g3", other, 0.2)).accepted
    assert kernel.slot_state(1).size == pytest.approx(0.5)


def test_an_order_that_never_traded_does_not_push_out_the_entry_kept_for_a_late_fill(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.4))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid))
    xid = exit_order_id(kernel)
    kernel.on_venue_event(event("RATE_LIMITED", "r1", xid, retry_after=1.0))
    xid = exit_order_id(kernel)
    kernel.on_venue_event(event("CANCEL_ACK", "c2", xid))  # an exit kept beside the entry
    late = kernel.on_venue_event(fill("f2", coid, 0.6))
    assert late.accepted and late.details["late_fill"] is True
    assert kernel.slot_state(0).size == pytest.approx(1.0)


@pytest.mark.parametrize("taken_by", ["ack", "part_fill"])
def test_a_rate_limit_on_an_order_the_venue_holds_is_its_cancel_throttled(
    kernel: ExecutionKernel, taken_by: str
) -> None:
    """Once the venue acknowledged the order (or filled part of it), a rate limit cannot
    take it back: the throttled request was its cancel, and the order keeps working."""
    coid = entered(kernel)
    if taken_by == "ack":
        kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1"))
        stage = TradeStage.ENTRY_WORKING
    else:
        kernel.on_venue_event(fill("f1", coid, 0.4))
        stage = TradeStage.ENTRY_WORKING
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    assert kernel.slot_state(0).active_entry_order.cancel_requested  # type: ignore[union-attr]
    throttled = kernel.on_venue_event(event("RATE_LIMITED", "r1", coid, retry_after=1.5))
    assert not throttled.accepted and throttled.diagnostic_code == D.RATE_LIMITED
    assert throttled.severity == KernelSeverity.WARNING and throttled.details["retry_after"] == 1.5
    assert throttled.details["client_order_id"] == coid and "still works" in throttled.details["order_kept"]
    slot = kernel.slot_state(0)
    assert slot.fsm_state == stage and slot.active_entry_order is not None
    assert not slot.active_entry_order.cancel_requested  # the cancel may be asked again
    assert kernel.on_venue_event(event("RATE_LIMITED", "r1", coid)).diagnostic_code == D.DUPLICATE_EVENT
    # The order's fills still book: nothing of it was forgotten.
    done = kernel.on_venue_event(fill("f2", coid, 1.0 if taken_by == "ack" else 0.6))
    assert done.accepted and done.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(1.0)


def test_a_rate_limit_on_an_order_the_venue_holds_with_no_cancel_asked_changes_nothing(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1"))
    before = kernel.snapshot()
    out = kernel.on_venue_event(event("RATE_LIMITED", "r1", coid, retry_after=1.0))
    assert not out.accepted and out.diagnostic_code == D.INVALID_TRANSITION
    assert out.details["client_order_id"] == coid and "no cancel asked" in out.details["reason"]
    assert kernel.snapshot() == before


def test_an_intent_whose_answer_carries_an_unasked_rate_limit_stands() -> None:
    class AckThenThrottle(SilentVenue):
        def submit(self, order: Any) -> list[VenueEvent]:
            cid = order.client_order_id
            ack = event("ORDER_ACK", f"a-{cid}", cid, venue_order_id=f"V-{cid}")
            return [ack, event("RATE_LIMITED", f"r-{cid}", cid, retry_after=1.0)]

    k = ExecutionKernel(max_slots=1, venue=AckThenThrottle(), kernel_id="throttle")
    k.set_seed_capital(10_000.0)
    out = k.process_intent(intent("ENTER", 0))
    assert out.accepted and out.state == TradeStage.ENTRY_WORKING
    assert out.details["venue_event_refused"] == "INVALID_TRANSITION"
    assert k.slot_state(0).active_entry_order is not None


def test_a_rate_limit_on_a_sent_order_the_venue_never_took_ends_it(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    out = kernel.on_venue_event(event("RATE_LIMITED", "r1", coid, retry_after=2.0))
    assert out.diagnostic_code == D.RATE_LIMITED and out.state == TradeStage.IDLE
    assert kernel.slot_state(0).active_entry_order is None and kernel.free_slot_id() == 0


def test_a_rate_limit_before_the_ack_of_an_order_asked_to_cancel_keeps_it_for_its_fills(
    kernel: ExecutionKernel,
) -> None:
    """With a cancel asked before the venue acknowledged the order, a rate limit may be the
    submit's or the cancel's: the order may be working at the venue, so it is kept for late
    fills. Ended as a throttled submit and forgotten, its fill would be UNKNOWN_ORDER
    (CRITICAL) and the position the venue holds missing from the kernel."""
    coid = entered(kernel)
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    out = kernel.on_venue_event(event("RATE_LIMITED", "r1", coid, retry_after=1.0))
    assert out.diagnostic_code == D.RATE_LIMITED and out.state == TradeStage.IDLE
    assert "cancel" in out.details["order_kept"]
    # The order may still work at the venue, so its slot is not offered for a new
    # trade (which would forget it) until its status is known.
    assert kernel.free_slot_id() == 1 and [o.client_order_id for o in kernel.orders_in_doubt()] == [coid]
    # The venue's ack then teaches the kept order its venue id: refused as a late event, a
    # fill naming the order by that id alone would be UNKNOWN_ORDER.
    ack = kernel.on_venue_event(event("ORDER_ACK", "a1", coid, venue_order_id="V1"))
    assert ack.accepted and ack.details["late_ack"] is True and ack.details["venue_order_id"] == "V1"
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE
    assert kernel.orders_in_doubt() != []  # an ack says it works: it may fill yet
    busy = kernel.process_intent(intent("ENTER", 0, trade_id="t-new"))
    assert busy.diagnostic_code == D.SLOT_BUSY and busy.details["client_order_id"] == coid
    assert kernel.slot_dict(0)["order_in_doubt"] == coid and kernel.free_slot_id() == 1
    late = kernel.on_venue_event(fill("f1", "", 1.0, venue_order_id="V1"))
    assert late.accepted and late.details["late_fill"] is True, late.details
    assert kernel.slot_state(0).size == pytest.approx(1.0)
    assert kernel.orders_in_doubt() == []  # filled completely, it is over


def test_an_exit_rate_limited_before_its_ack_with_a_cancel_asked_blocks_a_second_exit(
    kernel: ExecutionKernel,
) -> None:
    """The exit may still work at the venue (the throttled request may have been its
    cancel). A second exit beside it would sell the position twice: the first's fill would
    come as UNKNOWN_ORDER (CRITICAL, the stage could not take it), and the second close the
    slot while the venue holds the opposite side. So the slot takes no second exit (nor
    entry) until the first's status is known; its late fills book as they come."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0)).accepted
    xid = exit_order_id(kernel)
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    out = kernel.on_venue_event(event("RATE_LIMITED", "r1", xid, retry_after=1.0))
    assert (
        out.state == TradeStage.POSITION_OPEN and "may still work at the venue" in out.details["slot_waits"]
    )
    before = kernel.snapshot()
    second = kernel.process_intent(intent("EXIT", 0))
    assert not second.accepted and second.diagnostic_code == D.SLOT_BUSY
    assert second.details["client_order_id"] == xid and second.details["awaited_fill_qty"] == 0.0
    assert "reconcile_with_venue" in second.details["reason"]
    assert (second.details["field"], second.details["value"]) == ("slot_id", 0)
    assert kernel.snapshot() == before and kernel.slot_dict(0)["awaited_fill_qty"] == 0.0
    part = kernel.on_venue_event(fill("x1", xid, 0.4, total=0.4))
    assert part.accepted and part.details["late_fill"] is True
    assert kernel.process_intent(intent("EXIT", 0)).diagnostic_code == D.SLOT_BUSY  # it works on
    done = kernel.on_venue_event(fill("x2", xid, 0.6, total=1.0))
    assert done.accepted and done.state == TradeStage.CLOSED and kernel.slot_state(0).size == 0.0
    assert kernel.orders_in_doubt() == [] and kernel.free_slot_id() == 0


@pytest.mark.parametrize("end", ["EXPIRED", "CANCEL_ACK", "REJECT"])
def test_the_venues_end_of_an_exit_in_doubt_ends_the_doubt(kernel: ExecutionKernel, end: str) -> None:
    """The exit in doubt worked at the venue, filled 0.4 and its rest expired (an IOC order),
    or was canceled: the venue's end ends the doubt, where refused as a late event (INFO) it
    would leave the slot blocked until someone reconciles. Its figure bounds late fills."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0)).accepted
    xid = exit_order_id(kernel)
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    kernel.on_venue_event(event("RATE_LIMITED", "r1", xid, retry_after=1.0))
    assert kernel.on_venue_event(fill("x1", xid, 0.4, total=0.4)).accepted
    ended = kernel.on_venue_event(event(end, "x-end", xid, filled_size=0.4))
    assert ended.accepted and ended.severity == KernelSeverity.WARNING, ended.details
    assert ended.details["client_order_id"] == xid and "in doubt" in ended.details["reason"]
    assert kernel.orders_in_doubt() == [] and kernel.slot_state(0).size == pytest.approx(0.6)
    assert kernel.on_venue_event(fill("x2", xid, 0.1, total=0.5)).diagnostic_code == D.OVERFILL
    assert kernel.process_intent(intent("EXIT", 0)).accepted


class CancelAnswering(SilentVenue):
    """Takes every order silently and answers each cancel after the first with ``answer`` (a
    kind, or an exception to raise), recording what it was asked to cancel."""

    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.canceled: list[str] = []

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.canceled.append(order.client_order_id)
        n = len(self.canceled)
        if n == 1:
            return []
        if isinstance(self.answer, Exception):
            raise self.answer
        return [event(self.answer, f"cancel-answer-{n}", order.client_order_id, reason="as told")]


@pytest.mark.parametrize(
    ("answer", "settled"),
    [("CANCEL_ACK", True), ("CANCEL_REJECT", False), (TimeoutError("no answer"), False)],
)
def test_a_cancel_on_a_slot_whose_entry_is_in_doubt_asks_the_venue_again(
    answer: str | Exception, settled: bool
) -> None:
    """The throttled request may have been the entry's cancel, the order working at the
    venue: refused as INVALID_TRANSITION ("no working order to cancel"), a CANCEL would leave
    a strategy no way to stop it. So the cancel is sent again; the venue's ack ends the doubt,
    and a reject or a raise leaves it to a reconciliation."""
    venue = CancelAnswering(answer)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="cancel-doubt")
    kernel.set_seed_capital(10_000.0)
    coid = entered(kernel)
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    assert venue.canceled == [coid]
    kernel.on_venue_event(event("RATE_LIMITED", "r1", coid, retry_after=1.0))
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [coid]
    # It may fill: the caps count it, so an entry of 100 beside it breaks a cap of 150.
    kernel.set_risk_limits({"max_notional_total": 150.0})
    capped = kernel.process_intent(intent("ENTER", 1))
    assert capped.diagnostic_code == D.RISK_REJECTED and capped.details["value"] == pytest.approx(200.0)
    out = kernel.process_intent(intent("CANCEL", 0))
    raised = isinstance(answer, Exception)
    assert out.accepted and out.severity == (KernelSeverity.ERROR if raised else KernelSeverity.WARNING)
    assert out.details["client_order_id"] == coid and out.details["order_in_doubt"] is True
    assert venue.canceled == [coid, coid]
    doubts = [o.client_order_id for o in kernel.orders_in_doubt()]
    assert doubts == ([] if settled else [coid]), out.details
    assert (kernel.free_slot_id() == 0) is settled
    if answer == "CANCEL_REJECT":  # the venue may never have had it, or it filled: unknown
        assert out.details["venue_event_refused"] == "INVALID_TRANSITION"
        assert "still unknown" in out.details["reason"]
    # Counted on once the doubt ended: the ack states no filled size, and a fill may have raced it.
    beside = kernel.process_intent(intent("ENTER", 1))
    assert beside.details["value"] == pytest.approx(200.0), beside.details
    ended = [o.client_order_id for o in kernel.orders_ended_without_figure()]
    assert ended == ([coid] if settled else [])
    if raised:
        assert out.details["cancel_outcome"] == "unknown" and "no answer" in out.details["venue_error"]


def test_an_entry_in_doubt_whose_late_fill_opened_the_position_takes_an_exit(
    kernel: ExecutionKernel,
) -> None:
    """Exiting what the entry's late fill opened reduces risk, as with an entry owed a fill;
    the entry stays in doubt (it may fill more) and no new entry is taken beside it."""
    coid = entered(kernel)
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    kernel.on_venue_event(event("RATE_LIMITED", "r1", coid, retry_after=1.0))
    late = kernel.on_venue_event(fill("f1", coid, 0.3, total=0.3, venue_order_id="V1"))
    assert late.accepted and late.details["late_fill"] is True, late.details
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [coid]
    out = kernel.process_intent(intent("EXIT", 0))
    assert out.accepted, out.details
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.size == pytest.approx(0.3)
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [coid]
    busy = kernel.process_intent(intent("ENTER", 0, trade_id="t-new"))
    assert busy.diagnostic_code == D.SLOT_BUSY and busy.details["client_order_id"] == coid


def test_a_rate_limit_stating_a_fill_is_a_throttled_cancel_of_an_order_that_works_on(
    kernel: ExecutionKernel,
) -> None:
    """A rate limit stating 0.4 filled shows the venue holds the order, so the throttled
    request was its cancel and the order works on. Ended all the same, the 0.4 taken as the
    most it could fill, its next real fill would be OVERFILL, CRITICAL."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 1.0, total=1.0)).accepted
    xid = exit_order_id(kernel)
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    out = kernel.on_venue_event(event("RATE_LIMITED", "r1", xid, retry_after=1.0, filled_size=0.4))
    assert out.diagnostic_code == D.RATE_LIMITED and "still works" in out.details["order_kept"]
    assert kernel.slot_state(0).active_exit_order is not None and kernel.orders_in_doubt() == []
    assert kernel.on_venue_event(fill("x1", xid, 0.4, total=0.4)).accepted
    assert kernel.on_venue_event(fill("x2", xid, 0.3, total=0.7)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.3)


def test_a_late_fill_teaches_the_kernel_the_venue_id(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid))
    assert kernel.on_venue_event(fill("f1", coid, 0.4, venue_order_id="V1")).accepted
    by_venue_id = kernel.on_venue_event(fill("f2", "", 0.6, venue_order_id="V1"))
    assert by_venue_id.accepted and kernel.slot_state(0).size == pytest.approx(1.0)


def test_a_venue_id_two_ended_orders_claim_routes_to_neither(kernel: ExecutionKernel) -> None:
    first = entered(kernel, 1)
    kernel.on_venue_event(event("ORDER_ACK", "a1", first, venue_order_id="V"))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", first))
    second = entered(kernel, 0)
    kernel.on_venue_event(event("ORDER_ACK", "a2", second, venue_order_id="V"))
    kernel.on_venue_event(event("CANCEL_ACK", "c2", second))
    before = kernel.snapshot()
    out = kernel.on_venue_event(fill("f1", "", 1.0, venue_order_id="V"))
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.severity == KernelSeverity.CRITICAL
    assert kernel.snapshot() == before
    assert kernel.on_venue_event(fill("f2", second, 1.0, venue_order_id="V")).accepted
    assert (kernel.slot_state(0).size, kernel.slot_state(1).size) == (1.0, 0.0)


def test_the_kernels_own_client_id_routes_a_fill_before_a_venue_id(kernel: ExecutionKernel) -> None:
    ended = entered(kernel, 0)
    kernel.on_venue_event(event("CANCEL_ACK", "c1", ended))
    working = entered(kernel, 1)
    kernel.on_venue_event(event("ORDER_ACK", "a1", working, venue_order_id="V"))
    out = kernel.on_venue_event(fill("f1", ended, 1.0, venue_order_id="V"))
    assert out.diagnostic_code == D.UNKNOWN_ORDER  # V is the working order's: not learned
    assert (kernel.slot_state(0).size, kernel.slot_state(1).size) == (0.0, 0.0)
    assert kernel.on_venue_event(fill("f2", ended, 1.0)).accepted
    assert (kernel.slot_state(0).size, kernel.slot_state(1).size) == (1.0, 0.0)


def test_a_late_fill_completing_an_exit_leg_advances_the_leg_as_a_timely_one_would(
    kernel: ExecutionKernel,
) -> None:
    out = kernel.process_intent(intent("ENTER", 0, exit_leg_ratios=(0.2, 0.3, 0.5)))
    order = kernel.slot_state(0).active_entry_order
    assert out.accepted and order is not None
    kernel.on_venue_event(fill("f1", order.client_order_id, 1.0))
    xid = exit_order_id(kernel)
    kernel.on_venue_event(fill("x1", xid, 0.1))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", xid))
    assert kernel.on_venue_event(fill("x2", xid, 0.1)).accepted
    assert kernel.slot_state(0).active_leg_index == 1
    exit_order_id(kernel)
    second_leg = kernel.slot_state(0).active_exit_order
    assert second_leg is not None and second_leg.size == pytest.approx(0.3)


def leg_exit_part_filled(kernel: ExecutionKernel) -> None:
    """Slot 0 holds 1 with legs of 0.5 and 0.5; its first leg exit filled 0.2 and expired."""
    out = kernel.process_intent(intent("ENTER", 0, exit_leg_ratios=(0.5, 0.5)))
    order = kernel.slot_state(0).active_entry_order
    assert out.accepted and order is not None
    kernel.on_venue_event(fill("f1", order.client_order_id, 1.0))
    xid = exit_order_id(kernel)
    kernel.on_venue_event(fill("x1", xid, 0.2))
    assert kernel.on_venue_event(event("EXPIRED", "e1", xid, filled_size=0.2)).accepted


def test_a_leg_exit_that_ended_part_filled_is_sent_again_for_what_is_left_of_its_leg(
    kernel: ExecutionKernel,
) -> None:
    leg_exit_part_filled(kernel)
    assert kernel.slot_dict(0)["leg_taken"] == pytest.approx(0.2)
    assert kernel.slot(0).active_leg_index == 0
    out = kernel.process_intent(intent("EXIT", 0))
    assert out.accepted and out.details["leg_taken"] == pytest.approx(0.2)
    again = kernel.slot_state(0).active_exit_order
    # The leg's 0.5 less the 0.2 it took: sent whole again, the leg took 0.7.
    assert again is not None and again.size == pytest.approx(0.3)
    kernel.on_venue_event(fill("x2", again.client_order_id, 0.3))
    assert (kernel.slot(0).active_leg_index, kernel.slot(0).leg_taken) == (1, 0.0)


def test_a_slot_loaded_by_reconcile_from_slots_keeps_what_exits_took_of_its_leg(tmp_path: Any) -> None:
    first = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="legs")
    leg_exit_part_filled(first)
    saved = first.slots()
    # A restart without the log loads the saved slots, and its own log keeps them so.
    wal = str(tmp_path / "wal")
    loaded = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="legs-2", wal_dir=wal)
    loaded.reconcile_from_slots(saved)
    assert loaded.slot_dict(0)["leg_taken"] == pytest.approx(0.2)
    loaded.close()
    live = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="legs-3")
    live.reconcile_from_slots(saved)
    reopened = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="legs-2", wal_dir=wal)
    for k in (live, reopened):
        assert k.slots() == saved
        exit_order_id(k)
        again = k.slot_state(0).active_exit_order
        # The rest of the leg: its whole share again (0.5) took 0.7 for the leg.
        assert again is not None and again.size == pytest.approx(0.3)


def test_a_slot_saved_without_leg_taken_loads_with_nothing_taken(kernel: ExecutionKernel) -> None:
    leg_exit_part_filled(kernel)
    slots = kernel.slots()
    del slots[0]["leg_taken"]  # as a saved slot without the field holds it
    kernel.reconcile_from_slots(slots)
    assert kernel.slot(0).leg_taken == 0.0
    exit_order_id(kernel)
    again = kernel.slot_state(0).active_exit_order
    assert again is not None and again.size == pytest.approx(0.5)


def test_a_loaded_leg_taken_of_minus_zero_shows_as_its_log_recovers_it(tmp_path: Any) -> None:
    wal = str(tmp_path / "wal")
    live = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="negzero", wal_dir=wal)
    slots = live.slots()
    slots[0]["leg_taken"] = -0.0
    live.reconcile_from_slots(slots)
    shown_live = live.slot_dict(0)["leg_taken"]
    live.close()
    reopened = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="negzero", wal_dir=wal)
    # Its record leaves out what is 0, so the log recovers 0.0: live showed -0.0.
    assert math.copysign(1.0, shown_live) == math.copysign(1.0, reopened.slot_dict(0)["leg_taken"]) == 1.0


@pytest.mark.parametrize(
    ("value", "says"),
    [(-0.1, "-0.1"), (float("nan"), "NaN"), (float("inf"), "inf"), ("0.2", "'0.2'"), (True, "True")],
)
def test_a_bad_leg_taken_is_refused_naming_it_and_changes_nothing(
    kernel: ExecutionKernel, value: Any, says: str
) -> None:
    leg_exit_part_filled(kernel)
    before = kernel.snapshot()
    slots = kernel.slots()
    slots[0]["leg_taken"] = value
    with pytest.raises((ValueError, TypeError), match=r"slots\[0\]\.leg_taken") as raised:
        kernel.reconcile_from_slots(slots)
    assert says in str(raised.value)
    assert kernel.snapshot() == before


def test_a_venue_id_several_orders_carried_names_none_of_them() -> None:
    k = ExecutionKernel(max_slots=3, venue=SilentVenue(), kernel_id="ambiguous")
    coids = []
    for slot in range(3):  # the venue reuses V for each order once the one before is over
        coid = entered(k, slot)
        k.on_venue_event(event("ORDER_ACK", f"a{slot}", coid, venue_order_id="V"))
        k.on_venue_event(event("CANCEL_ACK", f"c{slot}", coid))
        coids.append(coid)
    before = k.snapshot()
    out = k.on_venue_event(fill("f1", "", 1.0, venue_order_id="V"))
    assert out.diagnostic_code == D.UNKNOWN_ORDER and k.snapshot() == before
    # New trades on two of the slots forget their ended orders, but those orders carried V
    # too: a fill naming only V may still be theirs, resent. By its client id it routes.
    for slot in (0, 1):
        k.process_intent(intent("ENTER", slot, trade_id=f"next{slot}"))
    assert k.on_venue_event(fill("f2", "", 1.0, venue_order_id="V")).diagnostic_code == D.UNKNOWN_ORDER
    assert k.on_venue_event(fill("f3", coids[2], 1.0, venue_order_id="V")).accepted
    assert k.slot_state(2).size == 1.0


def test_an_end_reporting_less_than_booked_is_said_and_bounds_nothing(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.4, fill_id="F1"))
    ended = kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.25))
    assert ended.accepted and ended.severity == KernelSeverity.WARNING
    assert ended.details["venue_filled_size"] == 0.25
    # A consistent end bounds late fills; one whose own running total goes past it is money
    # the venue's end did not count: loud.
    other = entered(kernel, 1)
    kernel.on_venue_event(fill("g1", other, 0.4, fill_id="G1"))
    kernel.on_venue_event(event("CANCEL_ACK", "c2", other, filled_size=0.4))
    before = kernel.snapshot()
    beyond = kernel.on_venue_event(fill("g2", other, 0.3, total=0.7, fill_id="G2"))
    assert beyond.diagnostic_code == D.OVERFILL and beyond.severity == KernelSeverity.CRITICAL
    assert kernel.snapshot() == before


def test_a_late_entry_fill_after_an_exit_leg_keeps_the_legs_of_what_was_entered(
    kernel: ExecutionKernel,
) -> None:
    kernel.process_intent(intent("ENTER", 0, exit_leg_ratios=(0.25, 0.25, 0.5)))
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    kernel.on_venue_event(fill("f1", order.client_order_id, 0.5))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", order.client_order_id))
    first_leg = exit_order_id(kernel)
    kernel.on_venue_event(fill("x1", first_leg, 0.125))
    assert kernel.on_venue_event(fill("f2", order.client_order_id, 0.5)).accepted
    slot = kernel.slot_state(0)
    assert slot.initial_size == pytest.approx(1.0) and slot.size == pytest.approx(0.875)
    exit_order_id(kernel)
    second_leg = kernel.slot_state(0).active_exit_order
    assert second_leg is not None and second_leg.size == pytest.approx(0.25)


def test_a_slot_a_late_entry_fill_opened_after_its_last_leg_gives_the_share_its_leg_exit_closes(
    kernel: ExecutionKernel,
) -> None:
    """Every leg done, the slot holds 0.5 of the 1.0 entered: a leg exit closes all of it, and
    next_exit_ratio() says 0.5, where None said nothing was left to exit."""
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("f1", coid, 0.5, total=0.5)).accepted
    assert kernel.process_intent(intent("CANCEL", 0)).accepted
    assert kernel.on_venue_event(event("CANCEL_ACK", "c1", coid)).accepted
    leg = exit_order_id(kernel)
    assert kernel.on_venue_event(fill("x1", leg, 0.5, total=0.5)).state == TradeStage.CLOSED
    assert kernel.on_venue_event(fill("f2", coid, 0.5, total=1.0)).accepted
    slot = kernel.slot_state(0)
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == 0.5
    assert slot.active_leg_index == len(slot.exit_leg_ratios) == 1
    assert slot.next_exit_ratio() == 0.5 and kernel.slot(0).next_exit_ratio() == 0.5
    assert kernel.slot(0).consume_exit_leg() is None  # no leg left to count as done
    exit_order_id(kernel)
    order = kernel.slot_state(0).active_exit_order
    assert order is not None and order.size == slot.next_exit_ratio() * slot.initial_size


def test_a_venue_id_a_filled_order_shared_with_an_ended_one_names_neither(kernel: ExecutionKernel) -> None:
    ended = entered(kernel, 0)
    kernel.on_venue_event(event("ORDER_ACK", "a1", ended, venue_order_id="V"))
    kernel.on_venue_event(fill("f1", ended, 0.4))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", ended))
    filled = entered(kernel, 1)  # the venue reuses V
    kernel.on_venue_event(event("ORDER_ACK", "a2", filled, venue_order_id="V"))
    kernel.on_venue_event(fill("f2", filled, 1.0, total=1.0))
    before = kernel.snapshot()
    resent = kernel.on_venue_event(fill("f2-again", "", 0.0, total=1.0, venue_order_id="V"))
    assert resent.diagnostic_code == D.UNKNOWN_ORDER and resent.severity == KernelSeverity.CRITICAL
    assert kernel.snapshot() == before


def test_a_venue_id_a_finished_order_carried_names_no_order_kept_later(kernel: ExecutionKernel) -> None:
    """The same as when the ended order came first: which order ended first must not matter."""
    filled = entered(kernel, 1)
    kernel.on_venue_event(event("ORDER_ACK", "a1", filled, venue_order_id="V"))
    kernel.on_venue_event(fill("f1", filled, 1.0, total=1.0, fill_id="F1"))
    ended = entered(kernel, 0)  # the venue reuses V
    kernel.on_venue_event(event("ORDER_ACK", "a2", ended, venue_order_id="V"))
    kernel.on_venue_event(fill("f2", ended, 0.4))
    kernel.on_venue_event(event("CANCEL_ACK", "c2", ended))
    before = kernel.snapshot()
    by_venue_id = kernel.on_venue_event(fill("f1-again", "", 0.0, total=1.0, venue_order_id="V"))
    assert by_venue_id.diagnostic_code == D.UNKNOWN_ORDER and by_venue_id.severity == KernelSeverity.CRITICAL
    # Naming the filled order by the kernel's own id, the venue id does not reroute it either:
    # stating the total that order filled at, it books nothing on its own slot.
    named = kernel.on_venue_event(fill("f1-named", filled, 1.0, total=1.0, venue_order_id="V", fill_id="F9"))
    assert (named.diagnostic_code, named.slot_id) == (D.DUPLICATE_EVENT, 1), named.details
    assert kernel.snapshot() == before
    assert kernel.on_venue_event(fill("f3", ended, 0.6)).accepted  # by its own client id


def test_an_order_a_reconciliation_filled_is_kept_beside_the_exit_that_raced_its_cancel(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 1.0))
    raced = exit_order_id(kernel, target_size=0.25)
    kernel.on_venue_event(fill("x1", raced, 0.1))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", raced))
    reconciled = exit_order_id(kernel, target_size=0.25)
    booked = kernel.on_venue_event(
        VenueEvent(
            "r1", "", -1, "FILL", venue_client_id=reconciled, price=100.0, size=0.25, filled_size=0.25,
            fill_id="reconcile:r1", metadata={"source": "reconciliation"},
        )
    )  # fmt: skip
    assert booked.accepted and kernel.slot_state(0).size == pytest.approx(0.65)
    late = kernel.on_venue_event(fill("x2", raced, 0.05))
    assert late.accepted and late.details["late_fill"] is True
    assert kernel.slot_state(0).size == pytest.approx(0.6)
    # The venue's own report of the reconciled fill is known; anything more is an overfill.
    report = kernel.on_venue_event(fill("x3", reconciled, 0.25, total=0.25, fill_id="X3"))
    assert report.diagnostic_code == D.DUPLICATE_EVENT
    dust = kernel.on_venue_event(fill("x4", reconciled, 2e-9))
    assert dust.diagnostic_code == D.OVERFILL and kernel.slot_state(0).active_leg_index == 1


def test_reloading_the_kernels_own_slots_keeps_what_it_knew_of_ended_and_reconciled_orders(
    kernel: ExecutionKernel,
) -> None:
    ended = entered(kernel, 0)
    kernel.on_venue_event(fill("f1", ended, 0.4))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", ended))
    working = entered(kernel, 1)
    kernel.on_venue_event(
        VenueEvent(
            "r1", "", -1, "FILL", venue_client_id=working, price=100.0, size=0.5, filled_size=0.5,
            fill_id="reconcile:r1", metadata={"source": "reconciliation"},
        )
    )  # fmt: skip
    kernel.reconcile_from_slots(kernel.slots())
    report = kernel.on_venue_event(fill("w1", working, 0.5, total=0.5, fill_id="W1"))
    assert report.diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.on_venue_event(fill("f2", ended, 0.6)).accepted
    assert (kernel.slot_state(0).size, kernel.slot_state(1).size) == (pytest.approx(1.0), 0.5)


def test_a_slot_waiting_for_a_fill_the_venue_reported_takes_no_new_order(kernel: ExecutionKernel) -> None:
    """Cancel and re-enter while the fill that raced the cancel is still on its way: the
    cancel's answer said how much filled, so the slot waits for it instead of forgetting the
    order (or re-pricing an exit on a position the venue no longer holds)."""
    coid = entered(kernel)
    kernel.process_intent(intent("CANCEL", 0))
    ended = kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.4))
    assert ended.state == TradeStage.IDLE and ended.details["unreported_qty"] == pytest.approx(0.4)
    assert kernel.free_slot_id() == 1  # slot 0 is not offered
    assert [o.client_order_id for o in kernel.awaited_orders()] == [coid]
    # Operators see the wait where they see the slot (slots(), snapshot(), the projections).
    assert kernel.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.4)
    assert [s["awaited_fill_qty"] for s in kernel.snapshot()["slots"]] == [pytest.approx(0.4), 0.0]
    before = kernel.snapshot()
    refused = kernel.process_intent(intent("ENTER", 0, trade_id="t-next"))
    assert refused.diagnostic_code == D.SLOT_BUSY and refused.details["awaited_fill_qty"] == pytest.approx(
        0.4
    )
    assert kernel.snapshot() == before
    assert kernel.on_venue_event(fill("f1", coid, 0.4)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.4) and kernel.awaited_orders() == []
    assert kernel.slot_dict(0)["awaited_fill_qty"] == 0.0
    # An exit owed blocks a new exit; an entry owed does not (exiting reduces risk).
    xid = exit_order_id(kernel, target_size=0.1)
    kernel.on_venue_event(event("CANCEL_ACK", "c2", xid, filled_size=0.1))
    busy = kernel.process_intent(intent("EXIT", 0))
    assert busy.diagnostic_code == D.SLOT_BUSY and busy.details["awaited_fill_qty"] == pytest.approx(0.1)
    assert kernel.slots()[0]["awaited_fill_qty"] == pytest.approx(0.1)
    assert kernel.on_venue_event(fill("x1", xid, 0.1)).accepted
    other = entered(kernel, 1)
    kernel.on_venue_event(fill("g1", other, 0.2))
    kernel.on_venue_event(event("CANCEL_ACK", "c3", other, filled_size=0.5))
    assert kernel.process_intent(intent("EXIT", 1)).accepted


def test_an_end_counting_more_than_the_order_waits_for_no_more_than_the_order(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    ended = kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=1.2))
    assert ended.severity == KernelSeverity.WARNING and ended.details["venue_filled_size"] == 1.2
    assert kernel.on_venue_event(fill("f1", coid, 1.0)).accepted
    assert kernel.awaited_orders() == [] and kernel.process_intent(intent("EXIT", 0)).accepted


def test_reloading_slots_keeps_every_slots_wait_for_a_reported_fill(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.4))
    kernel.reconcile_from_slots(kernel.slots())  # e.g. an operator correcting another slot
    assert kernel.free_slot_id() == 1
    late = kernel.on_venue_event(fill("f1", coid, 0.4))
    assert late.accepted and kernel.slot_state(0).size == pytest.approx(0.4)


def test_a_fill_of_a_filled_order_resent_to_its_slot_is_a_duplicate(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 1.0, fill_id="F1"))
    before = kernel.snapshot()
    again = VenueEvent(
        "f1-replayed", "", 0, "FILL", venue_client_id=coid, price=100.0, size=1.0, fill_id="F1"
    )
    out = kernel.on_venue_event(again)
    assert out.diagnostic_code == D.DUPLICATE_EVENT and out.severity == KernelSeverity.INFO
    assert kernel.snapshot() == before


def test_an_owed_entry_fill_reopens_a_trade_an_exit_closed_meanwhile(kernel: ExecutionKernel) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.2))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.5))
    xid = exit_order_id(kernel)  # an entry owed does not block an exit
    assert kernel.on_venue_event(fill("x1", xid, 0.2, price=101.0)).state == TradeStage.CLOSED
    assert kernel.free_slot_id() == 1  # closed, but a fill of its entry is owed
    late = kernel.on_venue_event(fill("f2", coid, 0.3))
    assert late.accepted and late.state == TradeStage.POSITION_OPEN
    slot = kernel.slot_state(0)
    assert slot.size == pytest.approx(0.3) and not slot.closed and slot.realized_pnl == pytest.approx(0.2)
    assert kernel.awaited_orders() == [] and kernel.process_intent(intent("EXIT", 0)).accepted


def test_reloading_a_slot_with_another_size_counts_the_awaited_fill_as_included(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.4))
    slots = kernel.slots()
    slots[0] = {**slots[0], "size": 0.4, "initial_size": 0.4, "entry_price": 100.0, "side": "LONG"}
    slots[0]["fsm_state"] = "POSITION_OPEN"
    kernel.reconcile_from_slots(slots)  # the operator loads what the venue holds
    assert kernel.awaited_orders() == []
    late = kernel.on_venue_event(fill("f1", coid, 0.4))
    assert late.diagnostic_code == D.DUPLICATE_EVENT and kernel.slot_state(0).size == pytest.approx(0.4)


def test_a_fill_whose_running_total_passes_the_end_does_not_fill_the_gap_it_left(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.2, total=0.2))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid, filled_size=0.4))
    before = kernel.snapshot()
    beyond = kernel.on_venue_event(fill("f3", coid, 0.1, total=0.5))
    assert beyond.diagnostic_code == D.OVERFILL and beyond.severity == KernelSeverity.CRITICAL
    assert kernel.snapshot() == before
    for n, total in ((2, 0.3), (3, 0.4)):  # the owed fills, as the venue reports them
        assert kernel.on_venue_event(fill(f"f{n}-owed", coid, 0.1, total=total)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.4) and kernel.awaited_orders() == []


def test_reloading_a_slot_with_another_size_bounds_an_order_ended_without_a_figure(
    kernel: ExecutionKernel,
) -> None:
    coid = entered(kernel)
    kernel.on_venue_event(fill("f1", coid, 0.2))
    kernel.on_venue_event(event("CANCEL_ACK", "c1", coid))  # no filled size given
    slots = kernel.slots()
    slots[0] = {**slots[0], "size": 0.5, "initial_size": 0.5}
    kernel.reconcile_from_slots(slots)  # the venue's position, the in-flight 0.3 included
    late = kernel.on_venue_event(fill("f2", coid, 0.3))
    assert not late.accepted and kernel.slot_state(0).size == pytest.approx(0.5)


class AnswersTwice:
    """Answers a submit with its ack, its fill, and that fill again under a new event id
    (``resends`` times; or, with ``throttle``, with a rate limit instead)."""

    name = "answers-twice"

    def __init__(self, *, throttle: bool = False, resends: int = 1) -> None:
        self.throttle, self.resends = throttle, resends

    def submit(self, order: Any) -> list[VenueEvent]:
        def said(event_id: str, kind: str, **kw: Any) -> VenueEvent:
            return VenueEvent(
                event_id, order.trade_id, order.slot_id, kind, venue_client_id=order.client_order_id,
                asset=order.asset, side=order.order_side, **kw,
            )  # fmt: skip

        if self.throttle:
            return [said("r1", "RATE_LIMITED", retry_after=1.0)]
        fill = {"price": 100.0, "size": order.size, "filled_size": order.size, "fill_id": "F1"}
        again = [said(f"f{n + 2}", "FILL", **fill) for n in range(self.resends)]
        return [said("a1", "ORDER_ACK"), said("f1", "FILL", **fill), *again]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_the_outcomes_events_are_those_the_kernel_took_from_the_venues_answer() -> None:
    """A fill resent in the same answer is refused and changes nothing; among the outcome's
    events it was routed on to a strategy (a runtime, the gateway's stream) as a second fill."""
    kernel = ExecutionKernel(max_slots=1, venue=AnswersTwice())
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and kernel.slot_state(0).size == 1.0
    assert [e.event_id for e in out.emitted_events] == ["a1", "f1"]
    assert out.details["venue_event_refused"] == "DUPLICATE_EVENT"
    assert out.details["venue_events_refused"] == 1
    resent = VenueEvent("f3", out.trade_id, 0, "FILL", venue_client_id=out.order.client_order_id,
                        price=100.0, size=1.0, filled_size=1.0, fill_id="F1")  # fmt: skip
    refused = kernel.on_venue_event(resent)
    assert (refused.accepted, refused.applied) == (False, False)
    # Two refused in one answer: the details named the last only, and the first left no trace.
    kernel = ExecutionKernel(max_slots=1, venue=AnswersTwice(resends=2))
    out = kernel.process_intent(intent("ENTER", 0))
    assert [e.event_id for e in out.emitted_events] == ["a1", "f1"]
    assert out.details["venue_event_refused"] == "DUPLICATE_EVENT" and out.details["value"] == "F1"
    assert out.details["venue_events_refused"] == 2
    # A rate limit, refused yet ending the order, is among them.
    kernel = ExecutionKernel(max_slots=1, venue=AnswersTwice(throttle=True))
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.diagnostic_code == D.RATE_LIMITED and [e.event_id for e in out.emitted_events] == ["r1"]
    assert (out.accepted, out.applied) == (False, True)
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE
