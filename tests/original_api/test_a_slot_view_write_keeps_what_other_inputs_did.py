"""A field written through a slot's view changes that field of that slot alone, in one step of
the kernel's: a fill another thread books while the view writes is kept (not undone, its event
id left remembered, so the venue's resend would be refused and the fill lost), no other slot's
position is valued again, and the log replays to the same state."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from original_style import HandDrivenVenue, at, original_intent

from dita import ExecutionKernel, KernelDiagnosticCode, TradeStage


class FillLandsMidWrite(ExecutionKernel):
    """A kernel whose venue's stream thread books a fill at the first read of all the slots
    after it is set (``pending``), as a ccxt stream or IBKR thread would, on its own thread."""

    pending: Any = None

    def slots(self) -> list[dict[str, Any]]:
        read = super().slots()
        self.book_pending()
        return read

    def book_pending(self) -> None:
        event, self.pending = self.pending, None
        if event is not None:
            t = threading.Thread(target=lambda: self.on_venue_event(event))
            t.start()
            t.join()


def open_and_working(kernel: ExecutionKernel, venue: HandDrivenVenue) -> Any:
    """Slot 0 holds a position; slot 1's limit entry works. Returns the fill of slot 1's entry."""
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    kernel.on_venue_event(venue.fill(kernel.slot(0).active_entry_order.venue_client_id, 1.0, 100.0))
    kernel.process_intent(original_intent("ENTER", 1, at(1), order_type="LIMIT", limit_price=99.0))
    return venue.fill(kernel.slot(1).active_entry_order.venue_client_id, 1.0, 99.0)


def test_a_fill_booked_by_another_thread_while_a_view_writes_is_kept() -> None:
    venue = HandDrivenVenue()
    kernel = FillLandsMidWrite(max_slots=2, venue=venue)
    fill = open_and_working(kernel, venue)
    kernel.pending = fill
    kernel.slot(0).close_reason = "note: stop moved"
    kernel.book_pending()  # a write that reads no slots in Python: the fill lands right after it
    s0, s1 = kernel.slot_state(0), kernel.slot_state(1)
    assert s0.close_reason == "note: stop moved"
    assert (s1.fsm_state, s1.size) == (TradeStage.POSITION_OPEN, 1.0)
    assert kernel.on_venue_event(fill).diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT
    kernel.close()


def test_a_view_write_on_one_slot_leaves_another_slots_valuation() -> None:
    """Slot 0, never marked, holds half its position after a limit exit filled half at 110: the
    kernel values it at that fill (unrealized 5.0), which no slot field says."""
    venue = HandDrivenVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    kernel.on_venue_event(venue.fill(kernel.slot(0).active_entry_order.venue_client_id, 1.0, 100.0))
    kernel.process_intent(
        original_intent("EXIT", 0, at(1), order_type="LIMIT", limit_price=110.0, target_size=1.0)
    )
    kernel.on_venue_event(venue.fill(kernel.slot(0).active_exit_order.venue_client_id, 0.5, 110.0))
    before = (kernel.slot_state(0).unrealized_pnl, kernel.equity())
    assert before[0] == 5.0
    kernel.slot(1).close_reason = "unrelated note"
    assert (kernel.slot_state(0).unrealized_pnl, kernel.equity()) == before
    kernel.close()


def test_a_view_write_keeps_the_working_exits_reason_of_another_slot() -> None:
    venue = HandDrivenVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    kernel.on_venue_event(venue.fill(kernel.slot(0).active_entry_order.venue_client_id, 1.0, 100.0))
    kernel.process_intent(
        original_intent("EXIT", 0, at(1), target_size=1.0, order_type="LIMIT", limit_price=110.0, reason="tp")
    )
    kernel.slot(1).close_reason = "unrelated note"
    kernel.on_venue_event(venue.fill(kernel.slot(0).active_exit_order.venue_client_id, 1.0, 110.0))
    assert kernel.slot_state(0).close_reason == "tp"
    kernel.close()


def test_a_log_holding_view_writes_replays_to_the_same_state(tmp_path: Path) -> None:
    venue = HandDrivenVenue()
    made = {"max_slots": 2, "kernel_id": "view-writes", "wal_dir": str(tmp_path), "wal_checkpoint_every": 0}
    kernel = ExecutionKernel(venue=venue, **made)
    fill = open_and_working(kernel, venue)
    kernel.slot(0).close_reason = "note"
    kernel.on_venue_event(fill)
    kernel.slot(1).last_mark_price = 101.0
    kernel.slot(0).trade_id = "renamed"
    kernel.slot(1).consume_exit_leg()
    expected, seq = kernel.snapshot(), kernel.seq
    kernel.wal_sync()
    del kernel  # not closed: no checkpoint, the next kernel replays every record
    again = ExecutionKernel(venue=HandDrivenVenue(), **made)
    info = again.wal_info()
    assert info is not None and info["recovery"]["replayed_records"] == seq
    assert again.snapshot() == expected
    assert again.on_venue_event(fill).diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT
    again.close()


def test_a_view_write_keeps_what_a_long_trade_remembers_of_its_fills(tmp_path: Path) -> None:
    """A trade filled in more parts than its slot's ring holds remembers the first beyond it:
    a view write (and its replay) keeps that memory, so the first fill resent is refused."""
    venue = HandDrivenVenue()
    made = {"max_slots": 1, "kernel_id": "long-trade", "wal_dir": str(tmp_path), "wal_checkpoint_every": 0}
    kernel = ExecutionKernel(venue=venue, **made)
    kernel.process_intent(
        original_intent("ENTER", 0, at(0), order_type="LIMIT", limit_price=99.0, target_size=100.0)
    )
    cid = kernel.slot(0).active_entry_order.venue_client_id
    fills = [venue.fill(cid, 0.5, 99.0) for _ in range(100)]
    for f in fills:
        assert kernel.on_venue_event(f).accepted
    kernel.slot(0).close_reason = "note"
    assert kernel.on_venue_event(fills[0]).diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT
    kernel.wal_sync()
    del kernel
    again = ExecutionKernel(venue=HandDrivenVenue(), **made)
    assert again.slot_state(0).size == 50.0
    assert again.on_venue_event(fills[0]).diagnostic_code == KernelDiagnosticCode.DUPLICATE_EVENT
    again.close()


class FillLandsAfterSlotRead(ExecutionKernel):
    """A venue stream thread books ``pending`` right after the next read of one slot, as
    tests/original_api/test_a_slot_view_write_keeps_what_other_inputs_did.py does for slots()."""

    pending: Any = None

    def slot_state(self, slot_id: int) -> Any:
        read = super().slot_state(slot_id)
        event, self.pending = self.pending, None
        if event is not None:
            act = event if callable(event) else lambda: self.on_venue_event(event)
            t = threading.Thread(target=act)
            t.start()
            t.join()
        return read


def test_consume_exit_leg_racing_an_exit_fill_counts_both_legs() -> None:
    """An exit fill completing the active leg (which advances the leg itself) between
    consume_exit_leg's read and its write: both legs count, as either order one after the other
    gives. (Review /work/review126.)"""
    venue = HandDrivenVenue()
    k = FillLandsAfterSlotRead(max_slots=1, venue=venue)
    k.process_intent(original_intent("ENTER", 0, at(0), exit_leg_ratios=(0.4, 0.3, 0.3)))
    k.on_venue_event(venue.fill(k.slot(0).active_entry_order.venue_client_id, 1.0, 100.0))
    k.process_intent(original_intent("EXIT", 0, at(1), order_type="LIMIT", limit_price=110.0))
    exit_order = k.slot_state(0).active_exit_order
    assert exit_order is not None and abs(exit_order.size - 0.4) < 1e-9
    view = k.slot(0)
    k.pending = venue.fill(exit_order.venue_client_id, 0.4, 110.0)
    view.consume_exit_leg()
    s = k.slot_state(0)
    assert s.fsm_state == TradeStage.POSITION_OPEN and abs(s.size - 0.6) < 1e-9
    assert s.active_leg_index == 2
    k.close()


def test_consume_exit_leg_never_lands_on_the_next_trade() -> None:
    """Trade A closes and trade B enters the slot between consume_exit_leg's read (for A) and
    its write: B's first leg is not counted done (its next leg exit would send the whole
    position), and the consume raises, nothing changed."""
    venue = HandDrivenVenue()
    k = FillLandsAfterSlotRead(max_slots=1, venue=venue)
    k.process_intent(original_intent("ENTER", 0, at(0), trade_id="A", exit_leg_ratios=(0.5, 0.5)))
    k.on_venue_event(venue.fill(k.slot(0).active_entry_order.venue_client_id, 1.0, 100.0))
    k.process_intent(original_intent("EXIT", 0, at(1), trade_id="A", target_size=1.0))
    close_a = venue.fill(k.slot_state(0).active_exit_order.venue_client_id, 1.0, 101.0)

    def a_closes_and_b_enters() -> None:
        k.on_venue_event(close_a)
        k.process_intent(original_intent("ENTER", 0, at(2), trade_id="B", exit_leg_ratios=(0.5, 0.5)))
        k.on_venue_event(venue.fill(k.slot_state(0).active_entry_order.venue_client_id, 1.0, 100.0))

    view = k.slot(0)
    k.pending = a_closes_and_b_enters
    with pytest.raises(RuntimeError, match=r"held trade 'A' .* it now holds trade 'B'"):
        view.consume_exit_leg()
    s = k.slot_state(0)
    assert (s.trade_id, s.size) == ("B", 1.0)
    assert s.active_leg_index == 0, "trade B's first leg counted done by a consume read for A"
    k.close()


def test_metadata_or_assign_keeps_another_threads_change_made_meanwhile(monkeypatch: Any) -> None:
    """``view.metadata |= {"stop": 95.0}`` writes through in ``__ior__``, then assigns the dict
    back: another thread setting stop=96 and tp=120 in between keeps both (the assignment back
    writes nothing), as either order one after the other would."""
    from dita.slot_views import SlotView

    k = ExecutionKernel(max_slots=1, venue=HandDrivenVenue())
    k.process_intent(original_intent("ENTER", 0, at(0), metadata={"strategy": "s"}))

    def other_thread() -> None:
        m = k.slot(0).metadata
        m["stop"] = 96.0
        m["tp"] = 120.0

    assign = SlotView.__setattr__
    ran = []

    def assign_after_other_thread(view: Any, name: str, value: Any) -> None:
        if name == "metadata" and not ran:
            ran.append(1)
            t = threading.Thread(target=other_thread)  # between __ior__ and the assignment back
            t.start()
            t.join()
        assign(view, name, value)

    monkeypatch.setattr(SlotView, "__setattr__", assign_after_other_thread)
    view = k.slot(0)
    view.metadata |= {"stop": 95.0}
    assert ran
    meta = k.slot_state(0).metadata
    assert meta.get("tp") == 120.0, meta
    k.close()


def test_consume_exit_leg_on_a_closed_kernel_says_closed() -> None:
    """The kernel's own refusal is raised at once, not retried as a leg that moved."""
    venue = HandDrivenVenue()
    k = ExecutionKernel(max_slots=1, venue=venue)
    k.process_intent(original_intent("ENTER", 0, at(0), exit_leg_ratios=(0.5, 0.5)))
    k.on_venue_event(venue.fill(k.slot(0).active_entry_order.venue_client_id, 1.0, 100.0))
    view = k.slot(0)
    k.close()
    with pytest.raises(RuntimeError, match="closed"):
        view.consume_exit_leg()
