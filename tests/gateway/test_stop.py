"""The stop of ``dita serve`` (GatewayServer.shutdown) and the kernel's lane: the kernel is
closed on the lane once the call under way there has returned, the stop waits for that call
for a bounded time and says what it waits for (and what it did not sync when it gives up),
and the lane's thread is not left behind."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import httpx
import pytest

from dita import ExecutionKernel
from dita.cli.gateway import _close_after_stop
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from gateway.helpers import (
    AUTH,
    ENTER_ONE,
    TOKEN,
    FillsLater,
    HeldVenue,
    enter_in_thread,
    start_server,
    wait_until,
)

LANE = "dita-gateway-kernel"


def _lane_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(LANE) and t.is_alive()]


def test_the_stop_shuts_the_kernels_lane_down() -> None:
    """The lane's thread was never shut down: each stop of a gateway served in the process left
    a thread behind (one per app), and the kernel was closed on the event loop beside it."""
    before = set(_lane_threads())
    live = start_server(max_slots=2)
    kernel = live.app.state.kernel
    res = live.client.post("/v1/intents", json=ENTER_ONE, headers=AUTH)
    assert res.status_code == 200 and res.json()["accepted"] is True
    assert set(_lane_threads()) - before, "the lane's thread runs while the gateway serves"
    live.stop()
    assert kernel.input_refused_reason() is not None and "is closed" in kernel.input_refused_reason()
    assert not set(_lane_threads()) - before, "the lane's thread is left behind after the stop"


def test_a_call_the_lane_holds_at_the_stop_is_waited_for_and_then_the_kernel_closes() -> None:
    """A venue's submit under way on the lane at the stop, answered within the grace: the stop
    waits for it (the intent answered), then closes the kernel on the lane."""
    before = set(_lane_threads())
    venue = HeldVenue()
    live = start_server(max_slots=2, venue=lambda: venue, stop_grace_seconds=30)
    kernel = live.app.state.kernel
    sender, answers = enter_in_thread(live)
    stopping = threading.Thread(target=live.stop, daemon=True)
    try:
        assert venue.inside.wait(10)
        stopping.start()
        wait_until(lambda: live.server.should_exit)
    finally:
        venue.release.set()
        sender.join(30)
        stopping.join(30)
    assert not stopping.is_alive()
    assert isinstance(answers["enter"], httpx.Response), answers["enter"]
    assert answers["enter"].status_code == 200 and answers["enter"].json()["accepted"] is True
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    assert "is closed" in (kernel.input_refused_reason() or "")
    assert not set(_lane_threads()) - before


def test_a_stop_gives_up_on_a_lane_call_that_does_not_return_and_says_what_was_not_synced(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A venue's submit that does not answer holds the lane: the stop waits
    ``stop_grace_seconds`` for it, saying what it waits for, then gives up saying what it did
    not sync (the kernel not closed); the kernel closes on the lane once the call returns, and
    the lane's thread then ends. Waiting behind it without end (the polling's last take, then
    the close, queued after it), `dita serve` would not stop at all, and nothing say why."""
    caplog.set_level(logging.WARNING, logger="dita.gateway")
    before = set(_lane_threads())
    venue = HeldVenue()
    live = start_server(max_slots=2, venue=lambda: venue, stop_grace_seconds=0.2)
    kernel = live.app.state.kernel
    sender, _ = enter_in_thread(live)
    stopped = threading.Event()

    def stop() -> None:
        try:
            live.stop()  # asserts that the server's thread ended (within 10 s)
        except AssertionError:
            return
        stopped.set()

    stopping = threading.Thread(target=stop, daemon=True)
    closed_after: list[str] = []
    try:
        assert venue.inside.wait(10)
        stopping.start()
        stopping.join(30)
        stopped_while_held = stopped.is_set() and not venue.release.is_set()
        # `dita serve`'s close after the stop: it waited 10 s for the call, then raised the
        # kernel's busy error as a traceback. It leaves the close to the lane now.
        if stopped_while_held:
            assert live.server.kernel_closed is False
            _close_after_stop(live.server, kernel)
            closed_after.append(kernel.input_refused_reason() or "")
            assert not venue.release.is_set(), "the close after the stop waited for the venue call"
    finally:
        venue.release.set()
        sender.join(30)
        stopping.join(30)
    assert stopped_while_held, "the stop waited for a venue call that does not return"
    assert closed_after == [""], closed_after  # not closed (nor closing) beside the lane's call
    assert "a venue call holds the kernel" in capsys.readouterr().err
    said = [r for r in caplog.records if r.name.startswith("dita.gateway")]
    waits = [r.getMessage() for r in said if r.levelno == logging.WARNING and "lane" in r.getMessage()]
    assert waits and "stop_grace_seconds" in waits[-1], [r.getMessage() for r in said]
    gave_up = [r.getMessage() for r in said if r.levelno == logging.ERROR and "not closed" in r.getMessage()]
    assert gave_up, [r.getMessage() for r in said]
    for what in ("write-ahead log", "journal", "projection", "lane"):
        assert what in gave_up[0], gave_up[0]
    # The call returned: its answer applied, then the kernel closed on the lane, which ends.
    wait_until(lambda: "is closed" in (kernel.input_refused_reason() or ""))
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    wait_until(lambda: not set(_lane_threads()) - before)


class _WriteFails(ExecutionKernel):
    """A kernel whose mark raises an OSError (a write that failed), and whose next wal_info()
    (asked whether that error failed its log) waits for ``release`` (5 s at most), as a kernel
    another thread holds makes it wait (up to 10 s)."""

    asked = threading.Event()
    release = threading.Event()
    hold_next = False
    order: list[str] = []

    def mark_price(self, asset: str, price: float, timestamp: float | None = None) -> int:
        type(self).hold_next = True
        raise OSError(28, "No space left on device")

    def wal_info(self) -> dict[str, Any] | None:
        if type(self).hold_next:
            type(self).hold_next = False
            type(self).asked.set()
            type(self).release.wait(5)
            type(self).order.append("wal_info returned")
        return super().wal_info()


def test_the_answer_to_a_failed_write_does_not_hold_the_event_loop_for_the_kernel() -> None:
    """The answer to an OSError of a kernel call asks the kernel (wal_info) whether its log
    failed off the event loop: asked on it while another thread holds the kernel, every
    request, /healthz and the event streams, would wait up to the kernel's 10 s."""
    _WriteFails.asked.clear()
    _WriteFails.release.clear()
    kernel = _WriteFails(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    order = _WriteFails.order
    order.clear()

    async def run() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            mark = asyncio.ensure_future(
                c.post("/v1/marks", json={"asset": "BTC", "price": 100}, headers=AUTH)
            )
            while not _WriteFails.asked.is_set() and not mark.done():
                await asyncio.sleep(0.01)
            health = await c.get("/healthz")
            order.append("healthz answered")
            _WriteFails.release.set()
            return await mark, health

    try:
        mark, health = asyncio.run(run())
    finally:
        _WriteFails.release.set()
        kernel.close()
    assert order == ["healthz answered", "wal_info returned"]
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert mark.status_code == 500  # an OSError that did not fail the log: the server's own error


def test_fills_polled_behind_a_lane_call_the_stop_gives_up_on_are_named_and_not_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The venue's poll gave a fill while a submit that does not answer held the lane, and the
    stop gave up on that call: the stop's error names the fill's take, queued behind it, for
    reconciliation, and the lane's last take before the close books it once the call returns.
    Canceled with the event loop, a fill the venue reports once would never be booked (even
    once the call returns) and nothing name it."""
    caplog.set_level(logging.WARNING, logger="dita.gateway")
    venue = FillsLater(answer_held=False)
    live = start_server(max_slots=2, venue=lambda: venue, venue_poll_seconds=0.02, stop_grace_seconds=0.3)
    kernel = live.app.state.kernel
    stopped = threading.Event()

    def stop() -> None:
        try:
            live.stop()
        except AssertionError:
            return
        stopped.set()

    stopping = threading.Thread(target=stop, daemon=True)
    sender: threading.Thread | None = None
    try:
        first = live.client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)
        assert first.json()["state"] == "ENTRY_WORKING"
        assert venue.asked.wait(10)  # the poll with slot 0's fill waits for the venue
        sender, _ = enter_in_thread(live, {**ENTER_ONE, "slot_id": 1})
        assert venue.inside.wait(10)  # slot 1's submit holds the lane
        venue.answer.set()
        assert venue.answered.wait(10)  # the fill, to be taken behind the submit
        stopping.start()
        stopping.join(30)
        stopped_while_held = stopped.is_set() and not venue.release.is_set()
    finally:
        venue.answer.set()
        venue.release.set()
        if sender is not None:
            sender.join(30)
        stopping.join(30)
    assert stopped_while_held, "the stop waited for a venue call that does not return"
    fill_id = venue.fill_ids[0]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("not closed" in e and fill_id in e for e in errors), errors
    # The call returned: the fill taken on the lane before the close.
    wait_until(lambda: "is closed" in (kernel.input_refused_reason() or ""))
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"


class _SlowClose(ExecutionKernel):
    """A kernel whose close takes 1 s (a journal flushing its last rows over the network)."""

    closed_in_full: list[bool] = []

    def close(self) -> None:
        time.sleep(1.0)
        super().close()
        type(self).closed_in_full.append(True)


def test_a_close_longer_than_the_grace_is_not_cut_short(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The grace bounds the wait for the call before the close on the lane, not the close: one
    that takes longer (a journal's flush) is waited for, not reported as not done while it runs
    and then cut off by the signal uvicorn raises again."""
    caplog.set_level(logging.WARNING, logger="dita.gateway")
    monkeypatch.setattr("gateway.helpers.ExecutionKernel", _SlowClose)
    _SlowClose.closed_in_full.clear()
    # A grace well under the close's 1 s, yet no scheduling hiccup under load for the close to begin.
    live = start_server(max_slots=2, stop_grace_seconds=0.5)
    assert live.client.post("/v1/intents", json=ENTER_ONE, headers=AUTH).json()["accepted"] is True
    live.stop()
    assert _SlowClose.closed_in_full == [True], "the stop ended before the kernel's close did"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_a_request_after_the_stop_closed_the_kernel_is_told_it_is_closed() -> None:
    """A request that reaches the kernel's lane after the stop shut it down (its body or a
    cluster plane's write finished late) got a bare 500 ("cannot schedule new futures after
    shutdown", a traceback in the log): now the 503 of a closed kernel, which says so."""
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN))

    async def run() -> httpx.Response:
        assert await app.state.close_kernel(5.0) is True
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await c.post("/v1/intents", json=ENTER_ONE, headers=AUTH)

    answer = asyncio.run(run())
    assert "is closed" in (kernel.input_refused_reason() or "")
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"].startswith("the kernel takes no more input: it is closed or closing")


class _CloseFails(ExecutionKernel):
    """A kernel whose close raises once it has closed (a journal that failed to flush its rows)."""

    def close(self) -> None:
        super().close()
        raise RuntimeError("the journal's last rows were not written")


def test_a_close_on_the_lane_after_the_stop_gave_up_that_fails_is_told(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The stop gave up on a call holding the lane, saying the kernel closes on the lane once
    that call returns; a close that then raised was kept in a future nobody read: the operator,
    told it would close, never heard that it failed. Its error is logged now."""
    caplog.set_level(logging.WARNING, logger="dita.gateway")
    monkeypatch.setattr("gateway.helpers.ExecutionKernel", _CloseFails)
    before = set(_lane_threads())
    venue = HeldVenue()
    live = start_server(max_slots=2, venue=lambda: venue, stop_grace_seconds=0.2)
    kernel = live.app.state.kernel
    sender, _ = enter_in_thread(live)
    stopping = threading.Thread(target=live.stop, daemon=True)
    try:
        assert venue.inside.wait(10)
        stopping.start()
        wait_until(lambda: live.server.kernel_closed is False)
    finally:
        venue.release.set()
        sender.join(30)
        stopping.join(30)
    wait_until(lambda: not set(_lane_threads()) - before)
    assert "is closed" in (kernel.input_refused_reason() or "")
    told = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("the journal's last rows were not written" in m for m in told), told


class _Records(logging.Handler):
    """Keeps the records of the loggers it is added to (uvicorn's do not reach caplog's root)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_stop_that_gives_up_on_a_lane_call_logs_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """The request whose venue call the stop gave up on is canceled with the event loop, and
    the give-up says one thing, the ERROR naming what was not synced, not uvicorn's `Exception
    in ASGI application` with a CancelledError traceback, as if the gateway had failed."""
    caplog.set_level(logging.WARNING)
    venue = HeldVenue()
    live = start_server(max_slots=2, venue=lambda: venue, stop_grace_seconds=0.2)
    uvicorn_said = _Records()
    uvicorn_log = logging.getLogger("uvicorn.error")  # after the server's start: its config resets handlers
    uvicorn_log.addHandler(uvicorn_said)
    sender, answers = enter_in_thread(live)
    stopping = threading.Thread(target=live.stop, daemon=True)
    try:
        assert venue.inside.wait(10)
        stopping.start()
        stopping.join(30)
        assert not stopping.is_alive()
        assert live.server.kernel_closed is False
    finally:
        venue.release.set()
        sender.join(30)
        stopping.join(30)
        uvicorn_log.removeHandler(uvicorn_said)
    assert isinstance(answers["enter"], httpx.HTTPError)  # the connection closed at the give-up
    loud = [r for r in uvicorn_said.records if r.levelno >= logging.WARNING]
    assert not loud, [(r.getMessage(), r.exc_info and r.exc_info[0]) for r in loud]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "is not closed" in errors[0], errors
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


def test_a_stop_waits_at_most_its_grace_in_all() -> None:
    """The stop waited up to ``stop_grace_seconds`` for the polling's last take, then as long
    for the connection of the request held in the venue, then as long again for the kernel's
    close behind that request: three graces, where a supervisor allowed one (and killed it)."""
    venue = HeldVenue()
    grace = 1.5
    live = start_server(max_slots=2, venue=lambda: venue, stop_grace_seconds=grace)
    sender, _ = enter_in_thread(live)
    stopping = threading.Thread(target=live.stop, daemon=True)
    try:
        assert venue.inside.wait(10)
        began = time.monotonic()
        stopping.start()
        stopping.join(30)
        took = time.monotonic() - began
        assert not stopping.is_alive()
    finally:
        venue.release.set()
        sender.join(30)
        stopping.join(30)
    # One grace and uvicorn's polls (1.6 s measured), below the second grace a stop that waited
    # twice would take: a loaded host has the rest.
    assert took < 2 * grace, f"the stop took {took:.2f} s; its grace is {grace} s"
    assert live.server.kernel_closed is False


def test_a_poll_the_stop_gave_up_on_that_answers_later_is_named(caplog: pytest.LogCaptureFixture) -> None:
    """A venue's poll still under way when the stop's grace runs out is given up, and the stop
    says so; a late answer is named at ERROR, for reconciliation, since a fill the venue
    reports once would otherwise go nowhere: not booked, not named."""
    caplog.set_level(logging.WARNING, logger="dita.gateway")
    venue = FillsLater()
    live = start_server(max_slots=2, venue=lambda: venue, venue_poll_seconds=0.02, stop_grace_seconds=0.3)
    kernel = live.app.state.kernel
    try:
        first = live.client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)
        assert first.json()["state"] == "ENTRY_WORKING"
        assert venue.asked.wait(10)  # the poll with slot 0's fill waits for the venue
        live.stop()
        assert live.server.kernel_closed is True
        gave_up = [r.getMessage() for r in caplog.records if "poll" in r.getMessage()]
        assert gave_up and "stop_grace_seconds" in gave_up[0], [r.getMessage() for r in caplog.records]
    finally:
        venue.answer.set()
    fill_id = venue.fill_ids[0]

    def naming_it() -> list[str]:
        return [
            r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and fill_id in r.getMessage()
        ]

    named = wait_until(naming_it)
    assert "reconcile" in named[0], named
    assert kernel.slot_state(0).fsm_state.name == "ENTRY_WORKING"  # closed before the fill came


class _SlowSubmits:
    """Answers each submit after 0.1 s: a venue that is slow, not stuck."""

    def __init__(self) -> None:
        self.submits = 0

    def submit(self, order: Any) -> list[Any]:
        self.submits += 1
        time.sleep(0.1)
        return []

    def cancel(self, order: Any) -> list[Any]:
        return []


def test_a_queue_of_quick_lane_calls_does_not_hold_the_stop_past_its_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Calls queued on the lane, each quicker than the 0.2 s a call held past the deadline is let
    finish: the stop waited for them all (20 of 0.1 s, ten times a grace of 0.2 s), as each one
    just begun looked like the last, past the one grace in all it takes."""
    caplog.set_level(logging.ERROR, logger="dita.gateway")
    venue = _SlowSubmits()
    kernel = ExecutionKernel(max_slots=20, venue=venue, kernel_id="quick-calls")
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=20, stop_grace_seconds=0.2))

    async def scenario() -> tuple[float, bool, list[httpx.Response]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            sends = [
                asyncio.create_task(
                    client.post("/v1/intents", json={**ENTER_ONE, "asset": f"A{i}"}, headers=AUTH)
                )
                for i in range(20)
            ]
            while venue.submits < 1:
                await asyncio.sleep(0.005)
            began = time.monotonic()
            closed = await app.state.close_kernel(0.2)
            took = time.monotonic() - began
            return took, closed, await asyncio.gather(*sends)

    took, closed, answers = asyncio.run(scenario())
    # The grace and one call let finish (0.4 s measured); waiting for the queue takes 1.9 s.
    assert took < 1.2, f"the stop took {took:.2f} s for a grace of 0.2 s"
    assert not closed and "is not closed" in caplog.text
    assert all(a.status_code == 200 for a in answers)  # the calls queued still ran, then the close
    wait_until(lambda: "is closed" in (kernel.input_refused_reason() or ""))
