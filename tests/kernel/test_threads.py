"""Other threads can use a kernel while it waits on a venue, and venues may call back in."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel, KernelDiagnosticCode, TradeStage, VenueEvent, VenueOrder


class SlowVenue:
    """Holds every submit for a while without the GIL, as a network call would."""

    name = "slow"

    def __init__(self, pause: float = 0.3) -> None:
        self.inside = threading.Event()
        self.pause = pause

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.inside.set()
        time.sleep(self.pause)
        return [
            VenueEvent(
                "a" + order.client_order_id,
                order.trade_id,
                order.slot_id,
                "ORDER_ACK",
                venue_client_id=order.client_order_id,
            ),
            VenueEvent(
                "f" + order.client_order_id,
                order.trade_id,
                order.slot_id,
                "FILL",
                price=order.price,
                size=order.size,
                venue_client_id=order.client_order_id,
            ),
        ]

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def test_reads_and_control_changes_work_while_a_venue_call_is_in_flight() -> None:
    venue = SlowVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="threads")
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []

    def operator() -> None:
        try:
            venue.inside.wait(5)
            seen["kernel_id"] = kernel.kernel_id
            seen["slot"] = kernel.slot_dict(0)["fsm_state"]
            seen["account"] = kernel.account()["open_positions"]
            kernel.projection_changes()
            seen["control"] = kernel.update_control(mode="HALTED", source="operator")["mode"]
        except BaseException as e:  # the test reports whatever went wrong
            errors.append(e)

    t = threading.Thread(target=operator)
    t.start()
    out = kernel.process_intent(intent("ENTER", 0))
    t.join(10)
    assert errors == []
    # The operator saw the order in flight and halted the kernel while the venue worked.
    assert seen == {"kernel_id": "threads", "slot": "ORDER_SENT", "account": 0, "control": "HALTED"}
    assert out.accepted and out.state == TradeStage.POSITION_OPEN
    assert kernel.process_intent(intent("ENTER", 1)).diagnostic_code == KernelDiagnosticCode.MODE_BLOCKED


def test_a_venue_may_report_back_into_the_kernel_from_submit() -> None:
    holder: list[ExecutionKernel] = []

    class CallbackVenue:
        name = "callback"

        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            ack = VenueEvent(
                "ack-1", order.trade_id, order.slot_id, "ORDER_ACK", venue_client_id=order.client_order_id
            )
            holder[0].on_venue_event(ack)  # e.g. a websocket handler running on this thread
            return []

        def cancel(self, order: VenueOrder) -> list[VenueEvent]:
            return []

    holder.append(ExecutionKernel(max_slots=1, venue=CallbackVenue()))
    holder[0].process_intent(intent("ENTER", 0))
    assert holder[0].slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_a_venue_reporting_on_its_own_thread_books_every_fill_once() -> None:
    """The way streaming adapters are written: submit queues the order and returns nothing,
    a websocket thread reports the ack and fills with on_venue_event, often before submit
    has returned, while the strategy thread keeps entering and exiting."""
    import queue

    class StreamingVenue:
        name = "stream"

        def __init__(self) -> None:
            self.sent: queue.Queue[VenueOrder | None] = queue.Queue()
            self.kernel: ExecutionKernel | None = None
            self.refused: list[str] = []

        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            self.sent.put(order)
            return []

        def cancel(self, order: VenueOrder) -> list[VenueEvent]:
            return []

        def websocket(self) -> None:
            assert self.kernel is not None
            while (order := self.sent.get()) is not None:
                cid = order.client_order_id
                trade, slot = order.trade_id, order.slot_id
                reports = [VenueEvent("a" + cid, trade, slot, "ORDER_ACK", venue_client_id=cid)]
                for n, total in ((1, order.size / 2), (2, order.size)):
                    reports.append(
                        VenueEvent(
                            f"f{n}{cid}", trade, slot, "FILL", venue_client_id=cid,
                            price=order.reference_price, size=order.size / 2, filled_size=total,
                        )
                    )  # fmt: skip
                for report in reports:
                    out = self.kernel.on_venue_event(report)
                    if not out.accepted:
                        self.refused.append(out.diagnostic_code.name)

    venue = StreamingVenue()
    kernel = ExecutionKernel(max_slots=3, venue=venue, kernel_id="stream")
    venue.kernel = kernel
    ws = threading.Thread(target=venue.websocket)
    ws.start()

    def wait_for(slot: int, stage: TradeStage) -> None:
        deadline = time.monotonic() + 10
        while kernel.slot_state(slot).fsm_state != stage:
            assert time.monotonic() < deadline, kernel.slot_dict(slot)
            time.sleep(0.0005)

    try:
        for trade in range(30):
            for action, stage in (("ENTER", TradeStage.POSITION_OPEN), ("EXIT", TradeStage.CLOSED)):
                for slot in range(3):
                    trade_id = f"t{trade}-{slot}"
                    out = kernel.process_intent(intent(action, slot, trade_id=trade_id))
                    assert out.accepted, out.details
                for slot in range(3):
                    wait_for(slot, stage)
    finally:
        venue.sent.put(None)
        ws.join(10)
    assert venue.refused == []
    assert kernel.account()["open_positions"] == 0 and kernel.awaited_orders() == []
    stats = kernel.stats()
    assert (stats["fills"], stats["venue_events"], stats["venue_events_refused"]) == (360, 540, 0)
    assert [kernel.slot_state(slot).initial_size for slot in range(3)] == [1.0, 1.0, 1.0]


def test_a_fill_a_venue_both_reports_from_submit_and_returns_is_booked_once() -> None:
    """A common slip: the adapter feeds its events to on_venue_event inside submit and also
    returns them. The returned copies are known (DUPLICATE_EVENT, said in the outcome)."""
    holder: list[ExecutionKernel] = []

    class BothWays:
        name = "both"

        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            cid = order.client_order_id
            events = [
                VenueEvent("a" + cid, order.trade_id, order.slot_id, "ORDER_ACK", venue_client_id=cid),
                VenueEvent(
                    "f" + cid, order.trade_id, order.slot_id, "FILL", venue_client_id=cid,
                    price=order.reference_price, size=order.size, filled_size=order.size,
                ),
            ]  # fmt: skip
            for ev in events:
                assert holder[0].on_venue_event(ev).accepted
            return events

        def cancel(self, order: VenueOrder) -> list[VenueEvent]:
            return []

    holder.append(ExecutionKernel(max_slots=1, venue=BothWays()))
    kernel = holder[0]
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.accepted and out.details["venue_event_refused"] == "DUPLICATE_EVENT"
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == 1.0 and kernel.stats()["fills"] == 1


def test_close_gets_in_while_another_thread_keeps_trading() -> None:
    """close() waited for a moment with no venue call under way, and a strategy thread calling
    the kernel again as soon as each venue call ended never gave it one: close() raised "kernel
    busy" after 10 s having closed nothing (journal, projection and log left open), and the
    strategy traded on. Input stops first, then the call under way ends."""
    # Each order filled after a network round trip, without the GIL.
    kernel = ExecutionKernel(max_slots=1, venue=SlowVenue(pause=0.002), kernel_id="busy-close")
    trading, stop = threading.Event(), threading.Event()
    ended: list[BaseException] = []

    def strategy() -> None:
        try:
            n = 0
            while not stop.is_set():  # a daemon thread left inside a venue call aborts the exit
                for action in ("ENTER", "EXIT"):
                    assert kernel.process_intent(intent(action, trade_id=f"t{n}")).accepted
                trading.set()
                n += 1
        except RuntimeError as exc:
            ended.append(exc)

    trader = threading.Thread(target=strategy, daemon=True)
    trader.start()
    closing_errors: list[BaseException] = []

    def close() -> None:
        try:
            kernel.close()
        except BaseException as exc:
            closing_errors.append(exc)

    closer = threading.Thread(target=close, daemon=True)
    try:
        assert trading.wait(10)
        closer.start()
        closer.join(15)
    finally:
        stop.set()
        trader.join(10)
    assert not closer.is_alive() and not trader.is_alive()
    assert closing_errors == [], closing_errors  # before: "kernel busy in another call for 10 s"
    assert len(ended) == 1 and "is closed" in str(ended[0])


def test_a_venue_answer_waits_for_a_kernel_held_past_the_busy_limit() -> None:
    """The venue answered a submit with its ack and fill while another thread held the kernel
    for over 10 s (here a garbage-collector pass inside a read, which runs Python code): the
    answer was dropped with "kernel busy", the order working at the venue and filled there,
    the slot left ORDER_SENT and the fill never booked."""
    import gc

    venue = SlowVenue(pause=0.0)
    answered = threading.Event()
    holding = threading.Event()

    class Held:
        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            events = venue.submit(order)
            answered.set()
            assert holding.wait(5), "the reader never took the kernel"
            return events

        def cancel(self, order: VenueOrder) -> list[VenueEvent]:
            return []

    kernel = ExecutionKernel(max_slots=1, venue=Held(), kernel_id="held")

    def hold(phase: str, info: dict[str, Any]) -> None:
        # Inside the reader's slot_dict, which holds the kernel while it builds dicts.
        if phase == "start" and threading.current_thread() is reader and not holding.is_set():
            holding.set()
            time.sleep(10.5)

    def read() -> None:
        answered.wait(5)
        threshold = gc.get_threshold()
        gc.set_threshold(1)
        gc.callbacks.append(hold)
        try:
            kept = []  # kept, so the reads' dicts count towards the next collection
            for _ in range(1000):  # a few reads, until one's allocations start a collection
                kept.append(kernel.slot_dict(0))
                if holding.is_set():
                    break
        finally:
            gc.callbacks.remove(hold)
            gc.set_threshold(*threshold)

    reader = threading.Thread(target=read)
    reader.start()
    out = kernel.process_intent(intent("ENTER", 0))
    reader.join(30)
    assert holding.is_set()
    assert out.accepted and out.state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == 1.0


def _stuck_in_a_submit(kernel_id: str, release: threading.Event) -> tuple[ExecutionKernel, threading.Thread]:
    """A kernel whose ENTER, sent on the returned thread, is inside its venue's submit until
    ``release`` is set (a minute at most)."""

    class StuckVenue(SlowVenue):
        def submit(self, order: VenueOrder) -> list[VenueEvent]:
            self.inside.set()
            release.wait(60)
            return super().submit(order)

    venue = StuckVenue(pause=0.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=kernel_id)
    strategy = threading.Thread(target=kernel.process_intent, args=(intent("ENTER", 0),))
    strategy.start()
    assert venue.inside.wait(10)
    return kernel, strategy


def test_a_close_that_gives_up_waiting_for_a_venue_call_leaves_the_kernel_taking_input() -> None:
    """close() stops input, then waits for the venue call under way; given up after 10 s it
    raises "kernel busy" having changed nothing (docs/concepts/venues.md), so the kernel takes
    input as before, not refusing every input as "closed" though it was not closed."""
    release = threading.Event()
    kernel, strategy = _stuck_in_a_submit("stuck-close", release)
    try:
        with pytest.raises(RuntimeError, match="busy"):
            kernel.close()
    finally:
        release.set()
        strategy.join(10)
    assert kernel.input_refused_reason() is None
    assert kernel.process_intent(intent("ENTER", 1, trade_id="t2")).accepted
    kernel.close()


def test_two_closes_that_both_give_up_leave_the_kernel_taking_input() -> None:
    """Two close() calls overlapping, both giving up "busy": input stays refused until the
    second gives up too, then the kernel takes input as before."""
    release = threading.Event()
    kernel, strategy = _stuck_in_a_submit("two-stuck-closes", release)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            kernel.close()
        except RuntimeError as exc:
            errors.append(exc)

    first, second = threading.Thread(target=close), threading.Thread(target=close)
    try:
        first.start()
        time.sleep(3)
        second.start()
        first.join(30)
        assert second.is_alive()
        # The second close still waits: input stays refused.
        assert kernel.input_refused_reason() is not None
        second.join(30)
    finally:
        release.set()
        strategy.join(10)
    assert len(errors) == 2 and all("busy" in str(e) for e in errors), errors
    assert kernel.input_refused_reason() is None, kernel.input_refused_reason()
    assert kernel.process_intent(intent("ENTER", 1, trade_id="t2")).accepted
    kernel.close()
