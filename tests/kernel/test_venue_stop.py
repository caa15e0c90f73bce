"""Ctrl-C or sys.exit inside a venue call: the program stops, and the kernel it leaves is whole
(the intent logged, the venue call ended, close() and recovery fine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import SilentVenue, intent

from dita import ExecutionKernel, TradeStage, VenueEvent


def _fill(order: Any) -> VenueEvent:
    return VenueEvent(
        "f1",
        "",
        -1,
        "FILL",
        venue_client_id=order.client_order_id,
        price=100.0,
        size=order.size,
        filled_size=order.size,
        timestamp=1_700_000_100.0,
    )


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_stop_inside_submit_leaves_the_intent_logged_and_the_kernel_closable(
    tmp_path: Path, stop: type
) -> None:
    class Blocked(SilentVenue):
        def submit(self, order: Any) -> list[VenueEvent]:
            raise stop()

    kernel = ExecutionKernel(max_slots=1, venue=Blocked(), kernel_id="stop", wal_dir=str(tmp_path))
    with pytest.raises(stop):
        kernel.process_intent(intent("ENTER", 0))
    expected, seq = kernel.snapshot(), kernel.seq
    kernel.close()
    again = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="stop", wal_dir=str(tmp_path))
    assert again.seq == seq and again.snapshot() == expected
    assert again.slot(0).fsm_state == TradeStage.ORDER_SENT


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_stop_while_the_answer_is_read_stops_the_caller_with_what_came_applied(
    tmp_path: Path, stop: type
) -> None:
    """An adapter answering with a generator does its I/O as it is read: Ctrl-C there is the
    program being stopped as much as inside submit itself, not a broken answer to note in the
    outcome's details while the strategy trades on."""

    class Streaming(SilentVenue):
        def submit(self, order: Any) -> Any:
            def answer() -> Any:
                yield _fill(order)
                raise stop()

            return answer()

    kernel = ExecutionKernel(max_slots=1, venue=Streaming(), kernel_id="stop", wal_dir=str(tmp_path))
    with pytest.raises(stop):
        kernel.process_intent(intent("ENTER", 0))
    # The fill the venue did report is applied and logged, as for any broken answer.
    assert kernel.slot(0).fsm_state == TradeStage.POSITION_OPEN
    expected, seq = kernel.snapshot(), kernel.seq
    kernel.close()
    again = ExecutionKernel(max_slots=1, venue=SilentVenue(), kernel_id="stop", wal_dir=str(tmp_path))
    assert again.seq == seq and again.snapshot() == expected


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_stop_inside_one_cancel_still_sends_the_others_then_stops(stop: type) -> None:
    """An edge freeze cancels every working order, each marked as asked to cancel. Ctrl-C in
    the first cancel must not leave the rest live at the venue (a later freeze skips orders
    already asked): they are sent, then the stop goes on up."""

    class Stopping(SilentVenue):
        def __init__(self) -> None:
            self.cancels: list[str] = []

        def cancel(self, order: Any) -> list[VenueEvent]:
            self.cancels.append(order.client_order_id)
            if len(self.cancels) == 1:
                raise stop()
            return []

    venue = Stopping()
    kernel = ExecutionKernel(max_slots=3, venue=venue)
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 0.0})
    for slot in (0, 1, 2):
        kernel.process_intent(intent("ENTER", slot))
    with pytest.raises(stop):
        kernel.on_edge_update("BTCUSDT", -5.0)
    assert sorted(venue.cancels) == sorted(o.client_order_id for o in kernel.open_orders())
    assert len(venue.cancels) == 3
