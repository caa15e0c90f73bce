"""The venue's end of an order that already ended, come again (an order-status poll, a
redelivered event). Slot 0's entry of 1 BTC filled 0.5 and was canceled: when the cancel ack
gave no figure (0, "cannot say"), an end stating 0.8 filled gives it, and the slot waits for
the 0.3 unbooked; when the cancel ack gave a figure, an end stating another changes nothing and
is CRITICAL; one stating what is booked or less stays a late event at INFO. A log of the run
rebuilds the same state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent, KernelOutcome, VenueEvent, VenueOrder


class Held:
    """Takes every order and answers nothing: its events come as separate inputs."""

    name = "held"

    def __init__(self) -> None:
        self.sent: list[VenueOrder] = []
        self.canceled: list[VenueOrder] = []

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.sent.append(order)
        return []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        self.canceled.append(order)
        return []


def _event(eid: str, o: VenueOrder, kind: str, **kw: Any) -> VenueEvent:
    return VenueEvent(
        eid, o.trade_id, o.slot_id, kind, venue_client_id=o.client_order_id, venue_order_id="va",
        side=o.order_side, asset="BTC", timestamp=5.0, **kw,
    )  # fmt: skip


def _half_filled_then_canceled(first_figure: float, **kw: Any) -> tuple[ExecutionKernel, VenueOrder]:
    venue = Held()
    k = ExecutionKernel(max_slots=1, venue=venue, seed_capital=10_000.0, kernel_id="late-end", **kw)
    k.process_intent(KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0))
    (order,) = venue.sent
    half = _event(
        "e1", order, "FILL", status="PARTIALLY_FILLED", price=100.0, size=0.5, filled_size=0.5,
        remaining_size=0.5, fill_id="fa1",
    )  # fmt: skip
    assert k.on_venue_event(half).accepted
    k.process_intent(KernelIntent("c1", "", 0, "BTC", "LONG", "CANCEL", 100.0, 0.0, timestamp=2.0))
    canceled = _event("e2", order, "CANCEL_ACK", status="CANCELED", filled_size=first_figure, size=1.0)
    assert k.on_venue_event(canceled).accepted
    assert k.slot_dict(0)["size"] == 0.5
    return k, order


STATUS = {"EXPIRED": "EXPIRED", "CANCEL_ACK": "CANCELED", "REJECT": "REJECTED"}


def _ended(k: ExecutionKernel, order: VenueOrder, eid: str, kind: str, filled: float) -> KernelOutcome:
    return k.on_venue_event(_event(eid, order, kind, status=STATUS[kind], filled_size=filled, size=1.0))


def _without_figure(k: ExecutionKernel) -> list[str]:
    return [o.client_order_id for o in k.orders_ended_without_figure()]


@pytest.mark.parametrize("kind", ["EXPIRED", "CANCEL_ACK", "REJECT"])
def test_an_end_stating_more_filled_after_one_without_a_figure_has_the_slot_await_the_rest(kind: str) -> None:
    k, order = _half_filled_then_canceled(0.0)
    assert _without_figure(k) == [order.client_order_id]
    out = _ended(k, order, "e3", kind, 0.8)
    assert out.accepted and out.severity.name == "WARNING", out
    assert out.details["unreported_qty"] == pytest.approx(0.3)
    assert out.details["venue_filled_size"] == 0.8
    assert out.details["awaited_fill_qty"] == pytest.approx(0.3)
    assert k.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.3)
    assert _without_figure(k) == []
    # The fill that raced the cancel is booked when it comes.
    raced = _event(
        "e4", order, "FILL", status="PARTIALLY_FILLED", price=100.0, size=0.3, filled_size=0.8,
        remaining_size=0.2, fill_id="fa2",
    )  # fmt: skip
    assert k.on_venue_event(raced).accepted
    assert k.slot_dict(0)["size"] == pytest.approx(0.8)
    assert k.slot_dict(0)["awaited_fill_qty"] == 0.0


@pytest.mark.parametrize("first_figure", [0.5, 0.6])
def test_an_end_contradicting_the_figure_an_earlier_end_gave_changes_nothing(first_figure: float) -> None:
    k, order = _half_filled_then_canceled(first_figure)
    before = k.snapshot()
    out = _ended(k, order, "e3", "EXPIRED", 0.8)
    assert not out.accepted and out.severity.name == "CRITICAL", out
    assert out.details["venue_filled_size"] == 0.8
    assert out.details["previous_final_filled_size"] == first_figure
    assert out.details["unreported_qty"] == pytest.approx(0.3)
    assert k.snapshot()["slots"] == before["slots"]
    assert k.slot_dict(0)["awaited_fill_qty"] == pytest.approx(first_figure - 0.5)


@pytest.mark.parametrize("figure", [0.0, 0.3, 0.5])
def test_an_end_again_stating_what_is_booked_or_less_is_a_late_event_at_info(figure: float) -> None:
    k, order = _half_filled_then_canceled(0.0)
    out = _ended(k, order, "e3", "EXPIRED", figure)
    assert not out.accepted and out.severity.name == "INFO", out
    assert out.diagnostic_code.name == "INVALID_TRANSITION"
    assert out.details["reason"] == "late event for an order that already ended"
    assert _without_figure(k) == [order.client_order_id]


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_log_of_an_end_giving_the_figure_late_rebuilds_the_same_state(
    tmp_path: Path, checkpoint: bool
) -> None:
    k, order = _half_filled_then_canceled(0.0, wal_dir=str(tmp_path), fsync="none")
    if checkpoint:
        k.wal_checkpoint()
    assert _ended(k, order, "e3", "EXPIRED", 0.8).accepted
    if checkpoint:
        k.wal_checkpoint()
    expected, seq = k.snapshot(), k.seq
    awaited = [o.client_order_id for o in k.awaited_orders()]
    k.close()
    del k
    again = ExecutionKernel(
        max_slots=1, venue=Held(), seed_capital=10_000.0, kernel_id="late-end", wal_dir=str(tmp_path)
    )
    assert again.seq == seq and again.snapshot() == expected
    assert again.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.3)
    assert [o.client_order_id for o in again.awaited_orders()] == awaited == [order.client_order_id]
    assert _without_figure(again) == []
    # The twin takes the raced fill as the kernel that ran would.
    raced = _event(
        "e4", order, "FILL", status="PARTIALLY_FILLED", price=100.0, size=0.3, filled_size=0.8,
        remaining_size=0.2, fill_id="fa2",
    )  # fmt: skip
    assert again.on_venue_event(raced).accepted
    assert again.slot_dict(0)["size"] == pytest.approx(0.8)
    again.close()


def _exit_half_canceled_then_second_exit(second_size: float) -> tuple[ExecutionKernel, Held, VenueOrder]:
    """Slot 0 long 1 BTC; its first exit filled 0.5 and canceled without a figure; a second
    exit for `second_size` acknowledged. Returns the kernel, the venue and the first exit."""
    venue = Held()
    k = ExecutionKernel(max_slots=1, venue=venue, seed_capital=10_000.0, kernel_id="late-exit")
    k.process_intent(KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0))
    all_of_it = _event(
        "e1", venue.sent[-1], "FILL", status="FILLED", price=100.0, size=1.0, filled_size=1.0,
        remaining_size=0.0, fill_id="fa1",
    )  # fmt: skip
    assert k.on_venue_event(all_of_it).accepted
    assert k.process_intent(
        KernelIntent("x1", "t1", 0, "BTC", "LONG", "EXIT", 100.0, 1.0, timestamp=2.0)
    ).accepted
    first = venue.sent[-1]
    half = _event(
        "e2", first, "FILL", status="PARTIALLY_FILLED", price=100.0, size=0.5, filled_size=0.5,
        remaining_size=0.5, fill_id="fa2",
    )  # fmt: skip
    assert k.on_venue_event(half).accepted
    k.process_intent(KernelIntent("c1", "", 0, "BTC", "LONG", "CANCEL", 100.0, 0.0, timestamp=3.0))
    assert k.on_venue_event(
        _event("e3", first, "CANCEL_ACK", status="CANCELED", filled_size=0.0, size=1.0)
    ).accepted
    exit2 = KernelIntent("x2", "t1", 0, "BTC", "LONG", "EXIT", 100.0, second_size, timestamp=4.0)
    assert k.process_intent(exit2).accepted
    assert venue.sent[-1].size == pytest.approx(second_size)
    return k, venue, first


@pytest.mark.parametrize(("second_size", "asked"), [(0.5, True), (0.2, False)])
def test_an_exits_late_figure_asks_a_second_exit_working_beyond_the_position_to_cancel(
    second_size: float, asked: bool
) -> None:
    k, venue, first = _exit_half_canceled_then_second_exit(second_size)
    second, before = venue.sent[-1], len(venue.canceled)
    out = k.on_venue_event(_event("e4", first, "EXPIRED", status="EXPIRED", filled_size=0.8, size=1.0))
    # The first exit sold 0.8 of the 1.0: 0.2 is held once its 0.3 comes.
    assert out.accepted and out.details["awaited_fill_qty"] == pytest.approx(0.3), out
    assert [o.client_order_id for o in venue.canceled[before:]] == ([second.client_order_id] if asked else [])
    if asked:
        assert out.transitions[-1].details["reason"] == "late_exit_fill", out


@pytest.mark.parametrize("checkpoint", [False, True])
def test_an_end_again_up_to_the_size_a_load_set_is_a_late_event_at_info(
    tmp_path: Path, checkpoint: bool
) -> None:
    k, order = _half_filled_then_canceled(0.0, wal_dir=str(tmp_path), fsync="none")
    (s,) = k.slots()
    assert k.load_slots([{**s, "size": 0.8, "initial_size": 0.8}]) == 1
    if checkpoint:
        k.wal_checkpoint()
        k.close()
        k = ExecutionKernel(
            max_slots=1, venue=Held(), seed_capital=10_000.0, kernel_id="late-end", wal_dir=str(tmp_path)
        )
    # The loaded 0.8 counts the fill that raced the cancel: nothing contradicts anything.
    out = _ended(k, order, "e3", "EXPIRED", 0.8)
    assert not out.accepted and out.severity.name == "INFO", out
    assert "previous_final_filled_size" not in out.details
    assert k.slot_dict(0)["awaited_fill_qty"] == 0.0
    # Above it, the venue's figure is the first the order gets: the slot waits for the rest.
    out = _ended(k, order, "e4", "EXPIRED", 0.9)
    assert out.accepted and out.severity.name == "WARNING", out
    assert k.slot_dict(0)["awaited_fill_qty"] == pytest.approx(0.1)
    k.close()
