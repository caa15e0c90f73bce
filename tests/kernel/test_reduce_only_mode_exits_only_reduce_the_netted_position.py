"""REDUCE_ONLY lets an exit only reduce the asset's position netted at the venue: one that would
open or grow a position the other way is sized down to what reduces it, or refused naming why."""

from __future__ import annotations

from typing import Any

from kernel_helpers import intent

from dita import ExecutionKernel, VenueEvent


class _KeepsOrders:
    """Takes every order and answers nothing; keeps what was sent."""

    name = "keeps-orders"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def submit(self, order: Any) -> list[Any]:
        self.sent.append(order)
        return []

    def cancel(self, order: Any) -> list[Any]:
        return []


def _held(long: float, short: float) -> tuple[ExecutionKernel, _KeepsOrders]:
    """A kernel whose slot 0 holds ``long`` and slot 1 ``short`` of one asset, both filled."""
    venue = _KeepsOrders()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    for slot, side, size in ((0, "LONG", long), (1, "SHORT", short)):
        order = kernel.process_intent(intent("ENTER", slot, side=side, target_size=size)).order
        assert order is not None
        fill = VenueEvent(f"f{slot}", "", slot, "FILL", venue_client_id=order.client_order_id,
                          price=100.0, size=size, filled_size=size)  # fmt: skip
        assert kernel.on_venue_event(fill).accepted
    return kernel, venue


def _netted(kernel: ExecutionKernel, sent: Any) -> float:
    """The asset's position netted over the slots once ``sent`` fills."""
    held = sum(kernel.slot_state(s).size * (1 if kernel.slot_state(s).side.name == "LONG" else -1)
               for s in (0, 1))  # fmt: skip
    return float(held + (sent.size if sent.order_side.name == "BUY" else -sent.size))


def test_an_exit_that_would_grow_the_netted_position_is_refused_in_reduce_only_mode() -> None:
    kernel, venue = _held(long=2.0, short=1.0)
    kernel.update_control(mode="REDUCE_ONLY")
    out = kernel.process_intent(intent("EXIT", 1, target_size=1.0))
    assert not out.accepted
    assert out.diagnostic_code.name == "MODE_BLOCKED"
    assert out.details["mode"] == "REDUCE_ONLY"
    assert (out.details["field"], out.details["value"]) == ("size", 1.0)
    assert out.details["netted_room"] == 0.0
    assert "grow" in out.details["reason"]
    assert [o.slot_id for o in venue.sent] == [0, 1]  # the entries alone
    assert kernel.slot_state(1).size == 1.0


def test_an_exit_past_the_netted_position_goes_out_reduce_only_at_what_reduces_it() -> None:
    kernel, venue = _held(long=2.0, short=1.0)
    kernel.update_control(mode="REDUCE_ONLY")
    out = kernel.process_intent(intent("EXIT", 0))
    assert out.accepted, out.details
    sent = venue.sent[-1]
    assert (sent.slot_id, sent.order_side.name, sent.reduce_only) == (0, "SELL", True)
    assert _netted(kernel, sent) == 0.0
    assert out.details["reduce_only_size_from"] == kernel.slot_state(0).size


def test_outside_reduce_only_mode_such_an_exit_goes_out_as_asked() -> None:
    kernel, venue = _held(long=2.0, short=1.0)
    out = kernel.process_intent(intent("EXIT", 1, target_size=1.0))
    assert out.accepted, out.details
    sent = venue.sent[-1]
    assert (sent.slot_id, sent.order_side.name, sent.size, sent.reduce_only) == (1, "BUY", 1.0, False)
