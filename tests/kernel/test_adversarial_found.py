"""Defects found by adversarial testing (an honest venue whose reports arrive reordered or
resent). Each test states what docs/ promises; all are fixed and stay as regression
tests: the reconciliation case (its ids carry the kernel's seq) and the two fills that would
be booked twice (a working order's fills are booked by what its reports' running totals
cover, each once)."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, KernelDiagnosticCode, KernelSeverity, VenueEvent, VenueOrder

D = KernelDiagnosticCode


def fill(event_id: str, client_id: str, size: float, total: float, **kw: Any) -> VenueEvent:
    return VenueEvent(
        event_id,
        "",
        -1,
        "FILL",
        venue_client_id=client_id,
        price=100.0,
        size=size,
        filled_size=total,
        timestamp=1_700_000_100.0,
        **kw,
    )


def test_a_fill_a_cumulative_only_report_already_covered_is_a_duplicate() -> None:
    """docs/concepts/orders-and-fills.md: a total-only report stands for every fill up to its
    total, and a fill whose report lies where earlier reports cover is DUPLICATE_EVENT. The
    venue filled 0.2 (total 0.2) then 0.2 (total 0.4); the second report comes first
    with only its running total (size 0), so the kernel books the growth 0.0 -> 0.4, which
    includes the first fill. The first fill's own report then arrives: booked again, the slot
    would hold 0.6 against the venue's 0.4."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-size0")
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("e2", coid, 0.0, 0.4, fill_id="F2")).accepted
    before = kernel.snapshot()
    late = kernel.on_venue_event(fill("e1", coid, 0.2, 0.2, fill_id="F1"))
    assert late.diagnostic_code == D.DUPLICATE_EVENT
    assert late.details["reported_filled_size"] == pytest.approx(0.4)
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    assert kernel.snapshot() == before


def test_a_fill_resent_after_64_later_fills_of_its_order_is_a_duplicate() -> None:
    """docs/reference/venue-misbehaviour.md: "the same event twice (same `event_id`) | nothing
    changes | DUPLICATE_EVENT". The slot remembers the last 64 event and fill ids; after 70 fills of 1 (totals
    1..70) a venue replays the first one, identical (same event id, fill id and total 1.0).
    Its ids are forgotten, but its running total places it where the first report did:
    DUPLICATE_EVENT, not an earlier fill arriving late (71 against the venue's 70)."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-64")
    coid = entered(kernel, target_size=1000.0)
    for i in range(1, 71):
        assert kernel.on_venue_event(fill(f"e{i}", coid, 1.0, float(i), fill_id=f"F{i}")).accepted
    before = kernel.snapshot()
    replay = kernel.on_venue_event(fill("e1", coid, 1.0, 1.0, fill_id="F1"))
    assert replay.diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.snapshot() == before


def test_an_earlier_fill_arriving_late_within_the_stated_total_is_still_booked() -> None:
    """What counts is what the reports cover, not what was booked: fills 0.2 (total 0.2) and 0.2
    (total 0.4) whose reports come in reverse order are both booked, and a third report of
    the first fill under a new event id is then the duplicate."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-late")
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("e2", coid, 0.2, 0.4)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.2)
    late = kernel.on_venue_event(fill("e1", coid, 0.2, 0.2))
    assert late.accepted and late.diagnostic_code == D.OK
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    again = kernel.on_venue_event(fill("e1-resent", coid, 0.2, 0.2))
    assert again.diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.slot_state(0).size == pytest.approx(0.4)
    # Fills past the stated total (the venue's total grows) are booked as before.
    assert kernel.on_venue_event(fill("e3", coid, 0.3, 0.7)).accepted
    assert kernel.slot_state(0).size == pytest.approx(0.7)


class StatusVenue(SilentVenue):
    """A venue that can say what became of each order."""

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}

    def open_orders(self) -> list[VenueOrder]:
        return [
            o for o in self.orders.values() if o.status.name in ("NEW", "ACKNOWLEDGED", "PARTIALLY_FILLED")
        ]

    def order_status(self, client_order_id: str) -> VenueOrder | None:
        return self.orders.get(client_order_id)

    def positions(self) -> dict[str, float]:
        return {}


def test_a_second_reconciliation_books_what_the_venue_filled_since_the_first() -> None:
    """docs/concepts/reconciliation.md: "the venue filled more than the kernel
    knows | FILL event for the difference at the venue's price, with the venue's total as
    `filled_size`". The event ids are `reconcile:<order>:<kind>:<n>` with n counted from 0 on
    every call, so a second reconciliation (another restart, or an operator asking again) of
    an order the venue went on filling sends `reconcile:<order>:FILL:0` again: the kernel
    refuses it as DUPLICATE_EVENT, reconcile_with_venue raises RuntimeError, and the 0.3 the
    venue filled since is never booked."""
    venue = StatusVenue()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="adv-rc")
    coid = entered(kernel, order_type="LIMIT", limit_price=100.0)
    ack = VenueEvent("a1", "", -1, "ORDER_ACK", venue_client_id=coid, venue_order_id="V1", timestamp=1.0)
    assert kernel.on_venue_event(ack).accepted

    def at_venue(filled: float) -> VenueOrder:
        return VenueOrder(
            coid,
            0,
            "t0",
            "BTCUSDT",
            "BUY",
            "LIMIT",
            100.0,
            1.0,
            venue_order_id="V1",
            filled_size=filled,
            avg_fill_price=100.0,
            status="PARTIALLY_FILLED",
        )

    venue.orders[coid] = at_venue(0.3)
    assert kernel.reconcile_with_venue().missed_fills
    assert kernel.slot_state(0).size == pytest.approx(0.3)
    venue.orders[coid] = at_venue(0.6)
    report = kernel.reconcile_with_venue()  # raises RuntimeError: ... DUPLICATE_EVENT
    assert report.missed_fills and kernel.slot_state(0).size == pytest.approx(0.6)


def event(event_id: str, client_id: str, kind: str) -> VenueEvent:
    return VenueEvent(event_id, "", -1, kind, venue_client_id=client_id, timestamp=1_700_000_100.0)


def test_a_fill_its_orders_totals_counted_is_a_duplicate_after_a_fill_without_a_total() -> None:
    """A total-only report (0.4) counts fill A, whose own report is then refused as counted;
    fill B, reported without a running total, may be any fill the totals left uncovered. A's
    report resent still lies wholly in what the totals counted: a duplicate, not 0.4 booked
    twice (the slot at 1.0 against the venue's 0.6)."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-counted")
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("s1", coid, 0.0, 0.4)).accepted
    assert kernel.on_venue_event(fill("a1", coid, 0.4, 0.4, fill_id="A")).diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.on_venue_event(fill("b1", coid, 0.2, 0.0, fill_id="B")).accepted
    resent = kernel.on_venue_event(fill("a2", coid, 0.4, 0.4, fill_id="A"))
    assert resent.diagnostic_code == D.DUPLICATE_EVENT
    assert kernel.slot_state(0).size == pytest.approx(0.6)


def test_a_late_fill_of_a_cancelled_exit_leaves_the_leg_to_the_exit_sent_since() -> None:
    """docs/reference/venue-misbehaviour.md: a late exit fill completes its leg "if no other
    exit was sent since". Exit 1 (leg 0, 0.3) fills 0.2 and is cancelled; exit 2 goes out for
    the 0.1 left; exit 1's late 0.1 then completed the leg, and exit 2's fill completed it
    again: the trade two legs on, the next exit sending 0.6 where leg 1 leaves 0.2."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-legs")
    kernel.set_exchange_config({"lot_step": 0.1})
    entry = entered(kernel, exit_leg_ratios=(0.3, 0.3, 0.4))
    assert kernel.on_venue_event(fill("e1", entry, 1.0, 1.0, fill_id="E1")).accepted
    assert kernel.process_intent(intent("EXIT")).accepted
    first = kernel.slot_state(0).active_exit_order
    assert first is not None and first.size == pytest.approx(0.3)
    assert kernel.on_venue_event(fill("x1a", first.client_order_id, 0.2, 0.2, fill_id="X1a")).accepted
    assert kernel.process_intent(intent("CANCEL")).accepted
    assert kernel.on_venue_event(event("x1c", first.client_order_id, "CANCEL_ACK")).accepted
    assert kernel.process_intent(intent("EXIT")).accepted
    second = kernel.slot_state(0).active_exit_order
    assert second is not None and second.size == pytest.approx(0.1)
    late = kernel.on_venue_event(fill("x1b", first.client_order_id, 0.1, 0.3, fill_id="X1b"))
    assert late.accepted and late.details["late_fill"]
    assert kernel.on_venue_event(fill("x2a", second.client_order_id, 0.1, 0.1, fill_id="X2a")).accepted
    slot = kernel.slot_state(0)
    assert (slot.size, slot.active_leg_index) == (pytest.approx(0.6), 1)
    assert kernel.process_intent(intent("EXIT")).accepted
    after = kernel.slot_state(0).active_exit_order
    assert after is not None and after.size == pytest.approx(0.2)


def test_a_position_a_late_entry_fill_reopens_takes_the_latest_mark() -> None:
    """docs: "a slot whose position opens takes that mark at once". A late entry fill reopening a
    closed trade kept the mark of the position it held before (100 against 200): unrealized
    -50 and equity 9,950 where both are flat."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-mark")
    kernel.set_exchange_config({"taker_rate": 0.0, "maker_rate": 0.0})
    kernel.set_seed_capital(10_000.0)
    kernel.mark_price("BTCUSDT", 100.0, 1_700_000_100.0)
    entry = entered(kernel)
    assert kernel.on_venue_event(fill("f1", entry, 0.5, 0.5)).accepted
    assert kernel.process_intent(intent("CANCEL")).accepted
    assert kernel.on_venue_event(event("c1", entry, "CANCEL_ACK")).accepted
    assert kernel.process_intent(intent("EXIT")).accepted
    exit_ = kernel.slot_state(0).active_exit_order
    assert exit_ is not None
    assert kernel.on_venue_event(fill("x1", exit_.client_order_id, 0.5, 0.5)).accepted
    assert kernel.slot_state(0).fsm_state.name == "CLOSED"
    kernel.mark_price("BTCUSDT", 200.0, 1_700_000_101.0)
    late = VenueEvent(
        "f2", "", -1, "FILL", venue_client_id=entry, price=200.0, size=0.5, filled_size=1.0,
        timestamp=1_700_000_102.0,
    )  # fmt: skip
    assert kernel.on_venue_event(late).accepted
    slot = kernel.slot_state(0)
    assert (slot.fsm_state.name, slot.last_mark_price, slot.unrealized_pnl) == ("POSITION_OPEN", 200.0, 0.0)
    assert kernel.equity() == pytest.approx(10_000.0)


def test_the_kernels_own_slots_load_back_while_an_entry_with_a_base_asset_fee_works() -> None:
    """A fill of 0.5 whose commission the venue kept in the coin leaves the slot at 0.4995 and
    its entry at 0.5 filled: load_slots(slots()) refused the kernel's own slots, and with it
    every write through a slot view."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-basefee")
    coid = entered(kernel)
    paid = fill("f1", coid, 0.5, 0.5, fill_id="A", metadata={"base_fee_qty": 0.0005})
    assert kernel.on_venue_event(paid).accepted
    before = kernel.slots()
    assert kernel.load_slots(before) == 1
    assert kernel.slots() == before
    # A rebate paid in the coin is below the fill too: the slot holds less than twice it.
    assert kernel.load_slots([{**before[0], "size": 0.6, "initial_size": 0.6}]) == 1
    held_more = [{**before[0], "size": 1.1, "initial_size": 1.1}]
    with pytest.raises(ValueError, match=r"slots\[0\]\.active_entry_order\.filled_size"):
        kernel.load_slots(held_more)


def test_a_filled_orders_report_resent_naming_no_slot_is_a_duplicate() -> None:
    """docs/reference/venue-misbehaviour.md: a replayed report of an order that filled is
    DUPLICATE_EVENT when a slot remembers its event or fill id. An event naming no slot
    (slot_id -1) was looked for in none: the same event twice was UNKNOWN_ORDER, CRITICAL."""
    kernel = ExecutionKernel(max_slots=3, venue=SilentVenue(), kernel_id="adv-noslot")
    entered(kernel, 0)
    coid = entered(kernel, 2)
    assert kernel.on_venue_event(fill("e1", coid, 1.0, 1.0, fill_id="F1")).accepted
    before = kernel.snapshot()
    for resent in (fill("e1", coid, 1.0, 1.0, fill_id="F1"), fill("e2", coid, 1.0, 1.0, fill_id="F1")):
        out = kernel.on_venue_event(resent)
        assert (out.diagnostic_code, out.severity, out.slot_id) == (
            D.DUPLICATE_EVENT,
            KernelSeverity.INFO,
            2,
        ), out.details
    assert kernel.snapshot() == before


def test_the_last_fill_of_an_order_a_total_only_report_completed_is_a_duplicate() -> None:
    """A total-only report of 1.0 completes the order; the last fill's own report (0.4, total
    1.0) lies in what it booked: DUPLICATE_EVENT, not a fill of an ended order (CRITICAL)."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-last")
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("s1", coid, 0.0, 1.0)).accepted
    before = kernel.snapshot()
    last = kernel.on_venue_event(fill("b1", coid, 0.4, 1.0, fill_id="B"))
    assert (last.diagnostic_code, last.severity) == (D.DUPLICATE_EVENT, KernelSeverity.INFO), last.details
    assert kernel.snapshot() == before


def test_fills_a_total_only_report_completed_their_order_with_are_duplicates_when_reported_later() -> None:
    """A total-only report of 1.0 completes the order; its fills' own reports (0.6 at total 0.6,
    and 0.3 at total 0.9, naming no fill id) lie where it counted: DUPLICATE_EVENT,
    nothing moved. A fill above that total is money the slot does not show (CRITICAL)."""
    kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="adv-within")
    coid = entered(kernel)
    assert kernel.on_venue_event(fill("s1", coid, 0.0, 1.0)).accepted
    before = kernel.snapshot()
    for late in (fill("a1", coid, 0.6, 0.6, fill_id="A"), fill("c1", coid, 0.3, 0.9)):
        out = kernel.on_venue_event(late)
        assert (out.diagnostic_code, out.severity) == (D.DUPLICATE_EVENT, KernelSeverity.INFO), out.details
        assert out.details["reported_filled_size"] == pytest.approx(1.0)
    assert kernel.snapshot() == before
    over = kernel.on_venue_event(fill("d1", coid, 0.2, 1.2, fill_id="D"))
    assert (over.diagnostic_code, over.severity) == (D.UNKNOWN_ORDER, KernelSeverity.CRITICAL), over.details


def test_a_fill_naming_no_slot_is_looked_for_only_in_its_assets_slots() -> None:
    """An ended ETH order's fill naming no slot, whose fill id a BTC slot remembers, is no
    resend of that BTC fill: money moved that the slots do not show (CRITICAL). Its running
    total (1.5) is above the 1.0 its order filled at, which would count it otherwise."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="adv-asset")
    btc = entered(kernel, 0)
    eth = entered(kernel, 1, asset="ETHUSDT")
    assert kernel.on_venue_event(fill("b1", btc, 1.0, 1.0, fill_id="T1")).accepted
    assert kernel.on_venue_event(fill("e1", eth, 1.0, 1.0, fill_id="T2", asset="ETHUSDT")).accepted
    out = kernel.on_venue_event(fill("e9", eth, 0.5, 1.5, fill_id="T1", asset="ETHUSDT"))
    assert (out.diagnostic_code, out.severity) == (D.UNKNOWN_ORDER, KernelSeverity.CRITICAL), out.details
