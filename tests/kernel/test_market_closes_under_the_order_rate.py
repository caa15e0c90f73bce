"""The first MARKET close of a whole position since a fill changed it passes ``max_order_rate``
uncounted; once the venue ends it with nothing filled, the slot's next closes are judged and
counted, so a close rejected and sent again in a loop is held to the rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernel_helpers import SilentVenue, entered, intent

from dita import ExecutionKernel, VenueEvent
from dita.risk import RiskLimits


def held(**kw: Any) -> ExecutionKernel:
    """Slot 0 holds 1.0 bought at 100; orders are then limited to 2 a second."""
    kernel = ExecutionKernel(max_slots=2, venue=SilentVenue(), **kw)
    cid = entered(kernel, 0, target_size=1.0, timestamp=1.0)
    fill = VenueEvent("f1", "t0", 0, "FILL", venue_client_id=cid, venue_order_id="v1", price=100.0, size=1.0)
    assert kernel.on_venue_event(fill).accepted
    kernel.set_risk_limits(RiskLimits(max_order_rate=2).model_dump())
    return kernel


def closes_ended_unfilled(kernel: ExecutionKernel, kind: str, times: int = 20) -> int:
    """Sends slot 0's market close `times` within 0.2 s, the venue ending each with `kind`
    (nothing filled); how many went out before the kernel refused one."""
    sent = 0
    for n in range(times):
        out = kernel.process_intent(intent("EXIT", 0, order_type="MARKET", timestamp=100.0 + n * 0.01))
        if not out.accepted:
            assert dict(out.details)["rule"] == "max_order_rate", out.details
            break
        sent += 1
        order = kernel.slot_state(0).active_exit_order
        assert order is not None
        end = VenueEvent(f"{kind}{n}", "t0", 0, kind, venue_client_id=order.client_order_id, retry_after=2.0)
        kernel.on_venue_event(end)
        assert kernel.slot_state(0).active_exit_order is None and kernel.slot_state(0).size == 1.0
    return sent


def test_market_closes_the_venue_rejects_are_held_to_the_rate_after_the_first() -> None:
    assert closes_ended_unfilled(held(), "REJECT") == 3  # the exempt one, then 2 a second


def test_market_closes_the_venue_throttles_are_held_to_the_rate_after_the_first() -> None:
    assert closes_ended_unfilled(held(), "RATE_LIMITED") == 3


def test_a_fill_of_part_of_the_position_gives_its_next_market_close_the_exemption() -> None:
    kernel = held()
    assert closes_ended_unfilled(kernel, "EXPIRED") == 3
    part = kernel.process_intent(intent("EXIT", 0, order_type="MARKET", target_size=0.5, timestamp=101.5))
    assert part.accepted, part.details
    order = kernel.slot_state(0).active_exit_order
    assert order is not None
    fill = VenueEvent("pf", "t0", 0, "FILL", venue_client_id=order.client_order_id, price=100.0, size=0.5)
    assert kernel.on_venue_event(fill).accepted
    # The window holds the part exit and this entry: full. The close of the rest goes out.
    assert kernel.process_intent(intent("ENTER", 1, timestamp=101.5)).accepted
    out = kernel.process_intent(intent("EXIT", 0, order_type="MARKET", timestamp=101.5))
    assert out.accepted, out.details


def test_the_rate_after_rejected_market_closes_replays_as_it_ran(tmp_path: Path) -> None:
    kernel = held(kernel_id="rr", wal_dir=str(tmp_path))
    assert closes_ended_unfilled(kernel, "REJECT", times=3) == 3
    kernel.wal_checkpoint()
    assert closes_ended_unfilled(kernel, "REJECT", times=1) == 0
    seq, slots = kernel.seq, [s.to_dict() for s in kernel.state.slots]
    kernel.close()
    again = ExecutionKernel(max_slots=2, venue=SilentVenue(), kernel_id="rr", wal_dir=str(tmp_path))
    assert again.seq == seq and [s.to_dict() for s in again.state.slots] == slots
    # Slot 0's exemption spent and the window full in both: its next close is refused.
    out = again.process_intent(intent("EXIT", 0, order_type="MARKET", timestamp=100.5))
    assert not out.accepted and dict(out.details)["rule"] == "max_order_rate", out.details
    again.close()
