"""A cancel through ccxt that Binance answers 503 -1001 ("execution status unknown") without
carrying it out, the order found still working: ``cancel`` raises ``VenueTimeout`` (the kernel
keeps the cancel asked), and once the order still works ``unknown_order_grace_s`` after it, a
poll reports a CANCEL_REJECT. The kernel clears the cancel request, so a flatten cancels the
order again: an order left ``cancel_requested`` with nothing more to report (it is
unchanged) would be skipped by a flatten, and could fill later. Should the exchange carry that
cancel out later still, the order's end is the cancel's: a CANCEL_ACK, as for any cancel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from binance_streams import BinanceStreamServer, streaming
from venue_helpers import ManualClock, limit_entry

from dita import ExecutionKernel, KernelIntent, KernelOutcome, TradeStage, VenueEvent, VenueOrderStatus
from dita.gateway.flatten import flatten_plan
from dita.venues import CcxtVenue

GRACE_S = 30.0
UNKNOWN = (503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."})


@pytest.fixture
def server() -> Iterator[BinanceStreamServer]:
    with streaming() as exchange:
        yield exchange


def venue_on(server: BinanceStreamServer, clock: ManualClock, user_stream: bool) -> CcxtVenue:
    venue = CcxtVenue(
        clock=clock, sleep=clock.sleep, exchange="binance", market_type="spot", base_url=server.url,
        api_key_env="DITA_TEST_BINANCE_KEY", secret_env="DITA_TEST_BINANCE_SECRET", markets=["BTCUSDT"],
        timeout_ms=2000, rate_limit_ms=1, resolve_delay_ms=0, unknown_order_grace_s=GRACE_S,
        user_stream=user_stream, user_stream_heartbeat_s=5.0, user_stream_backoff_s=0.02,
        user_stream_rest_sweep_s=3600.0,
    )  # fmt: skip
    venue.load_markets()
    if user_stream:
        deadline = time.monotonic() + 10.0
        while venue.stream_status().state == "down":  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the user stream did not subscribe"
            time.sleep(0.01)
    return venue


@contextmanager
def entry_working(
    server: BinanceStreamServer, user_stream: bool
) -> Iterator[tuple[ExecutionKernel, CcxtVenue, ManualClock]]:
    """A kernel whose limit entry works at the exchange, its venue's first poll taken (the
    stream reconciled by REST: up); both closed after the block."""
    clock = ManualClock()
    venue = venue_on(server, clock, user_stream)
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    try:
        kernel.set_seed_capital(1e7)
        assert kernel.process_intent(limit_entry(clock())).accepted
        poll(kernel, venue)
        yield kernel, venue, clock
    finally:
        kernel.close()
        venue.close()


def cancel_entry(kernel: ExecutionKernel, clock: ManualClock, intent_id: str = "i2") -> KernelOutcome:
    cancel = KernelIntent(intent_id, "tr-1", 0, "BTCUSDT", "LONG", "CANCEL", 90000.0, 0.0, timestamp=clock())
    return kernel.process_intent(cancel)


def poll_until(
    kernel: ExecutionKernel, venue: CcxtVenue, *kinds: str
) -> list[tuple[VenueEvent, KernelOutcome]]:
    """The venue's events up to one of ``kinds``, each with the kernel's outcome of it (the
    stream's frames come on their own thread)."""
    seen: list[tuple[VenueEvent, KernelOutcome]] = []
    deadline = time.monotonic() + 10.0
    while not any(event.kind.name in kinds for event, _ in seen):
        assert time.monotonic() < deadline, f"none of {kinds} came: {[e.kind.name for e, _ in seen]}"
        for event in venue.poll_events():
            outcome = kernel.on_venue_event(event)
            assert outcome.accepted, event
            seen.append((event, outcome))
        time.sleep(0.01)
    return seen


def poll(kernel: ExecutionKernel, venue: CcxtVenue) -> list[str]:
    kinds = []
    for event in venue.poll_events():
        assert kernel.on_venue_event(event).accepted, event
        kinds.append(event.kind.name)
    return kinds


def cancel_asked(kernel: ExecutionKernel) -> bool:
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    return bool(order.cancel_requested)


@pytest.mark.parametrize("user_stream", [False, True])
def test_a_cancel_in_doubt_left_working_is_reported_not_carried_out_and_a_flatten_cancels_again(
    server: BinanceStreamServer, binance_keys: None, user_stream: bool
) -> None:
    with entry_working(server, user_stream) as (kernel, venue, clock):
        server.cancels_failing.append(UNKNOWN)
        out = cancel_entry(kernel, clock)
        assert out.details["cancel_outcome"] == "unknown" and "VenueTimeout" in out.details["venue_error"]
        a_cancel_left_unanswered_is_reported_not_carried_out_after_the_grace(kernel, venue, clock)
        slots = [kernel.slot_dict(0)]
        assert flatten_plan(kernel, slots).to_dict()["cancel_slots"] == [0]

        out = cancel_entry(kernel, clock, "i3")
        assert [e.kind.name for e in out.emitted_events] == ["CANCEL_ACK"], out.to_dict()
        (order,) = server.orders.values()
        assert order.status == "CANCELED"


@pytest.mark.parametrize("user_stream", [False, True])
def test_a_cancel_reported_not_carried_out_that_the_exchange_carries_out_late_ends_as_a_cancel(
    server: BinanceStreamServer, binance_keys: None, user_stream: bool
) -> None:
    """The cancel went out and its answer never came: the exchange may carry it out however late.
    Reported as an EXPIRED nobody asked for, the order would end in the kernel's books otherwise
    than a cancel does (EXPIRED, counted among the venue's rejects); its end is the cancel's."""
    with entry_working(server, user_stream) as (kernel, venue, clock):
        server.cancels_failing.append(UNKNOWN)
        assert cancel_entry(kernel, clock).details["cancel_outcome"] == "unknown"
        clock.advance(GRACE_S)
        assert poll(kernel, venue) == ["CANCEL_REJECT"] and not cancel_asked(kernel)

        (order,) = server.orders.values()
        server.fill(order.client_id, 0.008)
        assert [e.kind.name for e, _ in poll_until(kernel, venue, "FILL")] == ["FILL"]
        server.cancel(order.client_id)
        ((end, outcome),) = poll_until(kernel, venue, "CANCEL_ACK", "EXPIRED")
        assert end.kind.name == "CANCEL_ACK", end.reason
        assert end.status == VenueOrderStatus.CANCELED and end.filled_size == pytest.approx(0.008)
        (transition,) = outcome.to_dict()["transitions"]
        assert (transition["trigger"], transition["next_state"]) == ("CANCEL_ACK", "POSITION_OPEN")
        slot = kernel.slot_state(0)
        assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.size == pytest.approx(0.008)
        assert slot.active_entry_order is None and not venue.following()


def a_cancel_left_unanswered_is_reported_not_carried_out_after_the_grace(
    kernel: ExecutionKernel, venue: CcxtVenue, clock: ManualClock
) -> None:
    """The kernel keeps the cancel asked while the grace runs (the exchange may still carry it
    out: nothing is said), then takes the CANCEL_REJECT."""
    assert cancel_asked(kernel) and venue.following()
    clock.advance(GRACE_S / 2)
    assert poll(kernel, venue) == [] and cancel_asked(kernel)
    clock.advance(GRACE_S / 2)
    assert poll(kernel, venue) == ["CANCEL_REJECT"] and not cancel_asked(kernel)
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


@pytest.mark.parametrize("user_stream", [False, True])
def test_a_cancel_answered_with_the_order_still_working_is_reported_not_carried_out_after_the_grace(
    server: BinanceStreamServer, binance_keys: None, user_stream: bool
) -> None:
    """A cancel the exchange answers before carrying it out (its answer saying the order still
    works): its end may come later, or never. Nothing was reported, the order not being over:
    the kernel kept the cancel asked for good, and a flatten skipped the order."""
    with entry_working(server, user_stream) as (kernel, venue, clock):
        (order,) = server.orders.values()
        server.cancels_failing.append((200, server._order_answer(order)))
        assert list(cancel_entry(kernel, clock).emitted_events) == []
        a_cancel_left_unanswered_is_reported_not_carried_out_after_the_grace(kernel, venue, clock)


def test_a_cancel_that_breaks_in_ccxt_s_code_is_followed_as_one_in_doubt(
    server: BinanceStreamServer, binance_keys: None
) -> None:
    """ccxt's code can raise a KeyError reading an answer it did not expect, the cancel maybe
    carried out. Only ccxt's errors counted as an unknown outcome: the KeyError went up to the
    kernel, which kept the cancel asked, and nothing ever said the cancel was not carried out."""
    with entry_working(server, user_stream=False) as (kernel, venue, clock):

        def cancel_order(*args: object) -> dict[str, object]:
            raise KeyError("status")

        venue._exchange.cancel_order = cancel_order
        out = cancel_entry(kernel, clock)
        assert out.details["cancel_outcome"] == "unknown", out.to_dict()
        assert "VenueTimeout" in out.details["venue_error"] and "KeyError" in out.details["venue_error"]
        a_cancel_left_unanswered_is_reported_not_carried_out_after_the_grace(kernel, venue, clock)
