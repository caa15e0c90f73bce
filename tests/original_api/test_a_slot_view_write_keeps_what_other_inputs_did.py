"""A field written through a slot's view changes that field of that slot alone, in one step of
the kernel's: a fill another thread books while the view writes is kept (not undone, its event
id left remembered, so the venue's resend would be refused and the fill lost), no other slot's
position is valued again, and the log replays to the same state."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

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
