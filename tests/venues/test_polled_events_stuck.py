"""``PolledEvents`` keeps an event the kernel raised on at the head of its queue, those after
it behind, to give it again first: right for a busy kernel, which takes it later. An event
the kernel (or ``before``) raises the same non-transient error on every time held every later
fill back for good, while the loop polled and logged on. Such an event is now set aside after
``STUCK_AFTER`` tries in a row (kept in ``stuck``, named at ERROR), and the fills after it
are booked."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, KernelOutcome, VenueEvent
from dita.venues._events import STUCK_AFTER, PolledEvents

BUSY = "kernel busy in another call for 10 s (is a thread stuck inside it?)"


class Refuses(ExecutionKernel):
    """Raises ``errors[event_id]`` on that event each time it is given, however often."""

    errors: dict[str, str]

    def on_venue_event(self, event: Any) -> Any:
        error = self.errors.get(getattr(event, "event_id", ""))
        if error is not None:
            raise RuntimeError(error)
        return super().on_venue_event(event)


def _fill(event_id: str) -> VenueEvent:
    return VenueEvent(event_id, "t1", 0, "FILL", venue_client_id="c1", price=100.0, size=0.1, filled_size=0.1)


def _kernel(errors: dict[str, str]) -> Refuses:
    kernel = Refuses(max_slots=1)
    kernel.errors = errors
    return kernel


class Taker:
    """Gives a ``PolledEvents`` its events and keeps what it reports."""

    def __init__(self, kernel: ExecutionKernel, polled: PolledEvents) -> None:
        self.kernel = kernel
        self.polled = polled
        self.applied: list[str] = []
        self.set_aside: list[tuple[str, str]] = []

    def take(self, events: list[VenueEvent], **kw: Any) -> None:
        def applied(event: VenueEvent, outcome: KernelOutcome) -> None:
            self.applied.append(event.event_id)

        def unfit(event: Any, exc: Exception) -> None:
            raise AssertionError(f"unfit {event!r}: {exc}")

        def aside(event: VenueEvent, exc: Exception) -> None:
            self.set_aside.append((event.event_id, str(exc)))

        self.polled.take(self.kernel, events, applied, unfit, set_aside=aside, **kw)


def test_an_event_the_kernel_raises_on_every_time_is_set_aside_and_the_fills_after_it_booked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = _kernel({"e2": "the kernel cannot book this one"})
    taker = Taker(kernel, PolledEvents())
    with caplog.at_level(logging.ERROR):
        for attempt in range(1, STUCK_AFTER):
            with pytest.raises(RuntimeError, match="cannot book"):
                taker.take([_fill("e1"), _fill("e2"), _fill("e3")] if attempt == 1 else [])
            assert [e.event_id for e in taker.polled.waiting] == ["e2", "e3"]  # kept, to try again
        assert taker.polled.stuck == []
        taker.take([_fill("e4")])  # the STUCK_AFTER-th try: set aside, the rest taken
    assert taker.applied == ["e1", "e3", "e4"]
    assert not taker.polled.waiting
    assert [(e.event_id, why) for e, why in taker.polled.stuck] == [
        ("e2", "RuntimeError: the kernel cannot book this one")
    ]
    assert taker.set_aside == [("e2", "the kernel cannot book this one")]
    (error,) = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert error.levelno == logging.ERROR
    assert "e2 (FILL, slot 0, order c1, 0.1 at 100)" in error.getMessage()
    assert "cannot book" in error.getMessage()
    assert "e2" in taker.polled.described_stuck()


def test_a_busy_kernel_is_waited_for_however_often_it_raises() -> None:
    kernel = _kernel({"e1": BUSY})
    taker = Taker(kernel, PolledEvents())
    for attempt in range(3 * STUCK_AFTER):
        with pytest.raises(RuntimeError, match="kernel busy"):
            taker.take([_fill("e1"), _fill("e2")] if attempt == 0 else [])
    assert [e.event_id for e in taker.polled.waiting] == ["e1", "e2"] and taker.polled.stuck == []
    kernel.errors = {}
    taker.take([])
    assert taker.applied == ["e1", "e2"]


def test_busy_tries_between_do_not_count_and_an_event_taken_at_last_starts_the_count_afresh() -> None:
    kernel = _kernel({"e1": "flaky"})
    taker = Taker(kernel, PolledEvents())
    for error in ["flaky", BUSY, BUSY, "flaky"] + [BUSY] * STUCK_AFTER:
        kernel.errors = {"e1": error}
        with pytest.raises(RuntimeError):
            taker.take([_fill("e1"), _fill("e2")] if not taker.polled.waiting else [])
    assert taker.polled.stuck == []  # two non-transient tries of STUCK_AFTER, the busy ones not counted
    kernel.errors = {}
    taker.take([])
    kernel.errors = {"e3": "flaky"}
    for _ in range(STUCK_AFTER - 1):
        with pytest.raises(RuntimeError):
            taker.take([_fill("e3")] if not taker.polled.waiting else [])
    assert taker.polled.stuck == [] and taker.applied == ["e1", "e2"]


def test_a_before_that_raises_on_one_event_every_time_sets_it_aside_too() -> None:
    kernel = _kernel({})
    taker = Taker(kernel, PolledEvents())

    def before(event: VenueEvent) -> None:
        if event.event_id == "e1":
            raise KeyError("a bug reading the order")

    for attempt in range(STUCK_AFTER - 1):
        with pytest.raises(KeyError):
            taker.take([_fill("e1"), _fill("e2")] if attempt == 0 else [], before=before)
    taker.take([], before=before)
    assert taker.applied == ["e2"]
    assert [e.event_id for e, _ in taker.polled.stuck] == ["e1"]


def test_without_a_set_aside_callback_it_is_still_set_aside_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The gateways call ``take`` without ``set_aside``."""
    kernel = _kernel({"e1": "never"})
    polled = PolledEvents()
    applied: list[str] = []
    for attempt in range(STUCK_AFTER):
        try:
            polled.take(
                kernel,
                [_fill("e1"), _fill("e2")] if attempt == 0 else [],
                lambda e, o: applied.append(e.event_id),
                lambda e, x: None,
            )
        except RuntimeError:
            assert attempt < STUCK_AFTER - 1
    assert applied == ["e2"] and len(polled.stuck) == 1
    assert any(r.levelno == logging.ERROR and "set aside" in r.getMessage() for r in caplog.records)
