"""The native mock venue reads its arguments before it takes itself: a number read there runs
Python (a Fraction's ``__float__``), where this thread or another may hand the kernel an
intent, which the kernel sends to that same mock. Such an intent is sent, never left taken and
unsent with a panic (PanicException "Already borrowed")."""

from __future__ import annotations

import sys
import threading
from fractions import Fraction
from typing import Any

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter


def test_an_intent_taken_while_the_mock_reads_a_fill_price_is_sent_to_it() -> None:
    mock = MockVenueAdapter(fill_rate=0.0)
    kernel = ExecutionKernel(max_slots=3, venue=mock)
    limit = KernelIntent("i-1", "t-1", 0, "BTC", "LONG", "ENTER", 100, 1, order_type="LIMIT", limit_price=100)
    resting = kernel.process_intent(limit)
    assert resting.order is not None
    seen: dict[str, Any] = {}

    class Price(Fraction):
        def __float__(self) -> float:
            try:
                seen["outcome"] = kernel.process_intent(
                    KernelIntent("i-2", "t-2", 1, "BTC", "LONG", "ENTER", 100.0, 1.0)
                )
            except BaseException as exc:  # a PanicException is no Exception
                seen["error"] = exc
            return 100.0

    fills = mock.fill_open_order(resting.order.client_order_id, Price(100))
    assert "error" not in seen, f"{type(seen['error']).__name__}: {seen['error']}"
    sent = seen["outcome"].order
    assert seen["outcome"].accepted and sent is not None
    assert mock.order_status(sent.client_order_id) is not None
    assert kernel.slot_state(1).fsm_state != "ORDER_SENT"
    for fill in fills:  # the resting order's fill, which the venue reports to the kernel
        kernel.on_venue_event(fill)
    at_venue = {o.client_order_id for o in mock.open_orders()}
    assert {o.client_order_id for o in kernel.open_orders()} == at_venue


def test_intents_while_another_thread_fills_at_a_fraction_are_all_sent() -> None:
    mock = MockVenueAdapter()
    kernel = ExecutionKernel(max_slots=3, venue=mock)
    stop = threading.Event()

    def filler() -> None:
        while not stop.is_set():
            try:
                mock.fill_open_order("no-such-order", Fraction(1, 3))
            except ValueError:
                pass

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=filler, daemon=True)
    thread.start()
    failure: BaseException | None = None
    try:
        for i in range(2000):
            try:
                for action in ("ENTER", "EXIT"):
                    intent = KernelIntent(f"{action}{i}", f"t{i}", 0, "BTCUSDT", "LONG", action, 100.0, 1.0)
                    kernel.process_intent(intent)
            except BaseException as exc:  # a PanicException is no Exception
                failure = exc
                break
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert failure is None, f"{type(failure).__name__}: {failure}; slot 0 {kernel.slot_state(0).fsm_state}"
    assert kernel.slot_state(0).fsm_state in ("IDLE", "CLOSED")
