"""What the gateways do when the kernel raises on a polled venue event (busy in another
thread's call, closed, its log failed), and how the HTTP gateway answers a kernel that raises
so on a request. A venue hands each event over once (CcxtVenue): none may be lost."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, BinaryIO, cast

import httpx
import pytest

from dita import AccountEvent, ExecutionKernel, KernelIntent
from dita._kernel import WalError
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from dita.gateway.stdio import run_stdio
from dita.venues.account_events import take_account_events
from gateway.helpers import AUTH, TOKEN
from kernel_faults import BUSY, FaultyKernel, ReportsLater, busy, closing, log_failed


def _kernel(slots: int) -> tuple[FaultyKernel, ReportsLater]:
    venue = ReportsLater()
    kernel = FaultyKernel(max_slots=slots, venue=venue)
    kernel.faults = {}
    return kernel, venue


def _enter(kernel: ExecutionKernel, slot_id: int) -> None:
    intent = KernelIntent(f"i{slot_id}", f"t{slot_id}", slot_id, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
    assert kernel.process_intent(intent).state.name == "ENTRY_WORKING"


def _stages(kernel: ExecutionKernel) -> list[str]:
    return [kernel.slot_state(i).fsm_state.name for i in range(kernel.max_slots)]


def _recording(app: Any) -> list[tuple[str, Any]]:
    sent: list[tuple[str, Any]] = []
    publish = app.state.gateway.publish

    def recording(event_type: str, data: dict[str, Any]) -> None:
        sent.append(
            (event_type, data.get("event_id") if event_type == "venue_event" else data.get("slot_id"))
        )
        publish(event_type, data)

    app.state.gateway.publish = recording
    return sent


def test_http_events_the_busy_kernel_did_not_take_are_applied_at_the_next_poll_in_order() -> None:
    """The kernel busy on the second of three polled fills: the rest waits, and the next poll
    gives it to the kernel first, before the venue's newer news; while the kernel is still
    busy the venue is not asked again (its news waits there, in order). Cut short, the poll
    would lose both (the venue reports each once), and the first one's slot and account would
    never be published."""
    kernel, venue = _kernel(4)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    sent = _recording(app)
    for slot_id in range(3):
        _enter(kernel, slot_id)
    kernel.faults = {"fill-1": busy}
    try:
        assert asyncio.run(app.state.poll_venue()) == 1
        assert _stages(kernel) == ["POSITION_OPEN", "ENTRY_WORKING", "ENTRY_WORKING", "IDLE"]
        assert sent == [("venue_event", "fill-0"), ("slot", 0), ("account", None)]
        sent.clear()

        _enter(kernel, 3)  # newer news, reported by the next poll of the venue
        kernel.faults = {"fill-1": busy}  # still busy: nothing applied, the venue not asked
        assert asyncio.run(app.state.poll_venue()) == 0
        assert venue.polls == 1 and sent == []

        assert asyncio.run(app.state.poll_venue()) == 3
        assert venue.polls == 2
        assert [s for s in sent if s[0] == "venue_event"] == [
            ("venue_event", "fill-1"), ("venue_event", "fill-2"), ("venue_event", "fill-3")
        ]  # fmt: skip
        assert _stages(kernel) == ["POSITION_OPEN"] * 4
        assert {s for s in sent if s[0] == "slot"} == {("slot", 1), ("slot", 2), ("slot", 3)}
    finally:
        kernel.close()


def test_http_events_the_busy_kernel_did_not_take_are_applied_at_the_stop() -> None:
    """The stop's last word on the events kept: given to the kernel before it closes, not
    left behind with the polling task."""
    kernel, venue = _kernel(3)
    app = create_app(kernel, GatewaySettings(token=TOKEN, venue_poll_seconds=3600))
    for slot_id in range(3):
        _enter(kernel, slot_id)
    kernel.faults = {"fill-1": busy}

    async def serve() -> None:
        task = app.state.start_polling()
        while venue.polls == 0:  # the first poll is made at once; the next in an hour
            await asyncio.sleep(0.01)
        await app.state.stop_polling(task)

    try:
        asyncio.run(serve())
        assert venue.polls == 1
        assert _stages(kernel) == ["POSITION_OPEN"] * 3
    finally:
        kernel.close()


@pytest.mark.parametrize("fault", [closing, log_failed])
def test_http_a_kernel_that_takes_no_more_input_stops_the_polling_and_names_what_it_missed(
    fault: Callable[[ExecutionKernel], None], caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel closed (or whose log failed) on the second of three polled fills: the poll was
    cut short, the first fill's slot never published, the other two lost without a word naming
    them, and the next polls took more fills from the venue only to lose them too."""
    kernel, venue = _kernel(3)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    sent = _recording(app)
    for slot_id in range(3):
        _enter(kernel, slot_id)
    kernel.faults = {"fill-1": fault}
    try:
        with caplog.at_level(logging.ERROR, logger="dita"):
            assert asyncio.run(app.state.poll_venue()) == 1
        assert sent == [("venue_event", "fill-0"), ("slot", 0), ("account", None)]
        (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert "takes no more input" in record.getMessage()
        assert "fill-1" in record.getMessage() and "fill-2" in record.getMessage()
        assert asyncio.run(app.state.poll_venue()) == 0
        assert venue.polls == 1  # polled no more: what it gives could not be applied
    finally:
        try:
            kernel.close()
        except WalError:
            pass


def _session(kernel: ExecutionKernel, script: str, status: int = 0) -> list[dict[str, Any]]:
    out = io.BytesIO()
    assert run_stdio(kernel, cast(BinaryIO, io.BytesIO(script.encode())), out) == status
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_stdio_events_the_busy_kernel_did_not_take_are_applied_at_the_next_poll() -> None:
    """The kernel busy on the second of three polled fills: the third was never given to it,
    both fills were lost, and the stop canceled the two orders the venue had filled."""
    kernel, _ = _kernel(3)
    kernel.faults = {"fill-1": busy}
    events = _session(kernel, "ORDER BUY BTC 1 100 a0\nORDER BUY ETH 1 100 a1\nORDER BUY SOL 1 100 a2\n")
    (error,) = [e for e in events if e["type"] == "error"]
    assert error["code"] == "ENGINE_ERROR" and BUSY in error["message"]
    last = {e["client_id"]: e["status"] for e in events if e["type"] == "order_update"}
    assert last == {"a0": "FILLED", "a1": "FILLED", "a2": "FILLED"}
    assert _stages(kernel) == ["POSITION_OPEN"] * 3


def test_stdio_a_kernel_whose_log_failed_on_a_poll_names_the_events_it_missed() -> None:
    """The client was told the WalError alone: the two fills the venue had reported, and the
    kernel never took, were named nowhere."""
    kernel, _ = _kernel(3)
    kernel.faults = {"fill-1": log_failed}
    script = "ORDER BUY BTC 1 100 a0\nORDER BUY ETH 1 100 a1\nORDER BUY SOL 1 100 a2\n"
    events = _session(kernel, script, status=1)  # the kernel failed: status 1
    errors = [e["message"] for e in events if e["type"] == "error"]
    assert any("fill-1" in m and "fill-2" in m and "not applied" in m for m in errors), errors
    assert events[-1]["type"] == "engine_stopped" and events[-1]["reason"] == "kernel_failed"


def _answer(app: Any, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://localhost"
        ) as c:
            return await c.request(method, path, json=body, headers=AUTH)

    return asyncio.run(call())


ENTER_ONE = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": 100}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("PUT", "/v1/control", {"mode": "HALTED"}), ("POST", "/v1/intents", ENTER_ONE),
     ("POST", "/v1/marks", {"asset": "BTC", "price": 100})],
)  # fmt: skip
def test_http_a_closed_kernel_is_a_503_saying_it_takes_no_more_input(
    method: str, path: str, body: dict[str, Any]
) -> None:
    """Without a control plane, a control change (or an intent, a mark) the closing kernel
    refused was a bare 500 Internal Server Error: the client could not tell why."""
    kernel = ExecutionKernel(max_slots=1)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    kernel.stop_input()
    try:
        res = _answer(app, method, path, body)
    finally:
        kernel.close()
    assert res.status_code == 503, res.text
    detail = res.json()["detail"]
    assert detail.startswith("the kernel takes no more input: it is closed"), detail
    assert "not retryable" in detail


class BusyKernel(ExecutionKernel):
    """Raises as the kernel does while another thread's call holds it past its wait."""

    def process_intent(self, intent: Any) -> Any:
        raise RuntimeError(BUSY)

    def update_control(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(BUSY)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("PUT", "/v1/control", {"mode": "HALTED"}), ("POST", "/v1/intents", ENTER_ONE)],
)
def test_http_a_busy_kernel_is_a_503_saying_to_retry(method: str, path: str, body: dict[str, Any]) -> None:
    kernel = BusyKernel(max_slots=1)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    try:
        res = _answer(app, method, path, body)
    finally:
        kernel.close()
    assert res.status_code == 503, res.text
    assert res.headers.get("retry-after") == "1"
    detail = res.json()["detail"]
    assert detail.startswith("the kernel is busy in another call"), detail
    assert BUSY in detail and "retryable" in detail


def test_http_another_runtime_error_stays_a_server_error() -> None:
    """Only the kernel's own refusals are a 503: a bug elsewhere is not dressed as one."""

    class Buggy(ExecutionKernel):
        def process_intent(self, intent: Any) -> Any:
            raise RuntimeError("something else went wrong")

    kernel = Buggy(max_slots=1)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    try:
        res = _answer(app, "POST", "/v1/intents", ENTER_ONE)
    finally:
        kernel.close()
    assert res.status_code == 500


def test_http_an_event_the_kernel_raises_on_poll_after_poll_is_set_aside_and_told() -> None:
    """An event the kernel raised on every time (not busy, not closed) held the venue's later
    fills back for good, the venue never asked again. Now, the third time in a row, it is set
    aside: counted as a poll error, told to the streams (``SET_ASIDE`` with the error), and the
    fills after it are applied."""
    kernel, venue = _kernel(3)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    published: list[dict[str, Any]] = []
    publish = app.state.gateway.publish

    def recording(event_type: str, data: dict[str, Any]) -> None:
        if event_type == "venue_event":
            published.append(data)
        publish(event_type, data)

    app.state.gateway.publish = recording

    def broken(kernel: ExecutionKernel) -> None:
        raise RuntimeError("cannot book fill-1")

    for slot_id in range(3):
        _enter(kernel, slot_id)
    errors_before = app.state.metrics.venue_poll_errors._value.get()
    try:
        for _ in range(3):
            kernel.faults = {"fill-1": broken}
            asyncio.run(app.state.poll_venue())
        # Not asked while the kernel raised on its news; once it was set aside, asked again.
        assert venue.polls == 2
        assert _stages(kernel) == ["POSITION_OPEN", "ENTRY_WORKING", "POSITION_OPEN"]
        told = {d["event_id"]: d for d in published}
        assert told["fill-1"]["diagnostic_code"] == "SET_ASIDE"
        assert told["fill-1"]["accepted"] is False and "cannot book fill-1" in told["fill-1"]["error"]
        assert told["fill-2"]["accepted"] is True
        assert app.state.metrics.venue_poll_errors._value.get() >= errors_before + 1
    finally:
        kernel.close()


class _CannotBook(FaultyKernel):
    """Raises (not busy, not closed) on every hand-over of the venue event ``fill-1``."""

    def on_venue_event(self, event: Any) -> Any:
        if getattr(event, "event_id", "") == "fill-1":
            raise RuntimeError("cannot book fill-1")
        return super().on_venue_event(event)


def test_stdio_an_event_the_kernel_raises_on_poll_after_poll_is_set_aside_and_told() -> None:
    """The third poll in a row the kernel raised on a fill, the event was set aside (logged on
    stderr) and the session went on without a word to the client: after two ENGINE_ERRORs
    about it, silence read as the fill taken, when it waits for reconciling."""
    kernel = _CannotBook(max_slots=3, venue=ReportsLater())
    kernel.faults = {}
    try:
        events = _session(kernel, "ORDER BUY BTC 1 100 a0\nORDER BUY ETH 1 100 a1\n")
    finally:
        kernel.close()
    messages = [e["message"] for e in events if e["type"] == "error" and e["code"] == "ENGINE_ERROR"]
    told = [m for m in messages if "set aside" in m]
    assert len(told) == 1 and "fill-1" in told[0] and "cannot book fill-1" in told[0], messages
    assert "reconcile" in told[0]


def test_http_a_venue_s_account_events_are_given_to_the_kernel_after_its_poll_and_published() -> None:
    kernel, venue = _kernel(1)
    reported = [AccountEvent("bal-1", "ACCOUNT_UPDATE", asset="USDT", available_margin=250.0, timestamp=5.0)]
    venue.account_events = lambda: [reported.pop()] if reported else []  # type: ignore[attr-defined]
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    sent = _recording(app)
    assert asyncio.run(app.state.poll_venue()) == 0
    assert kernel.account()["e_available_margin"] == 250.0
    assert sent == [("account", None)]
    sent.clear()
    assert asyncio.run(app.state.poll_venue()) == 0  # nothing new: nothing published
    assert sent == []


def test_http_account_events_the_busy_kernel_did_not_take_are_given_first_at_the_next_poll() -> None:
    """The kernel busy on the second of two streamed account events (a deposit, then a funding
    payment): the payment waits and is booked at the next poll, before the venue's newer news.
    Dropped, it would never be booked: the stream reports each once."""
    kernel, venue = _kernel(1)
    kernel.faults = {"fee-1": busy}
    reported = [
        [AccountEvent("bal-1", "ACCOUNT_UPDATE", asset="USDT", wallet_balance=1000.0, timestamp=5.0),
         AccountEvent("fee-1", "FUNDING_FEE", asset="USDT", amount=-2.5, timestamp=6.0)],
        [AccountEvent("bal-2", "ACCOUNT_UPDATE", asset="USDT", available_margin=900.0, timestamp=7.0)],
    ]  # fmt: skip
    venue.account_events = lambda: reported.pop(0) if reported else []  # type: ignore[attr-defined]
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    asyncio.run(app.state.poll_venue())
    assert [e.event_id for e in app.state.gateway.account_waiting] == ["fee-1"]
    assert kernel.account()["k_funding_net"] == 0.0
    asyncio.run(app.state.poll_venue())
    assert not app.state.gateway.account_waiting
    account = kernel.account()
    assert account["k_funding_net"] == -2.5 and account["e_available_margin"] == 900.0
    assert account["event_seq"] == 3


def test_account_events_are_dropped_and_named_when_the_kernel_takes_no_more_input(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel, venue = _kernel(1)
    kernel.faults = {"fee-1": closing}
    venue.account_events = lambda: [  # type: ignore[attr-defined]
        AccountEvent("fee-1", "FUNDING_FEE", asset="USDT", amount=-2.5, timestamp=6.0)
    ]
    waiting: deque[AccountEvent] = deque()
    with caplog.at_level(logging.ERROR):
        taken = take_account_events(kernel, venue, waiting)
    assert not waiting and taken.given == 0 and "closed" in taken.problem
    assert any("not booked (1)" in r.getMessage() and "fee-1" in r.getMessage() for r in caplog.records)


def test_stdio_a_venue_s_account_events_are_given_to_the_kernel_and_a_bad_one_told() -> None:
    kernel, venue = _kernel(1)
    reported: list[Any] = [
        {"available_margin": 1.0},  # not an AccountEvent: told, the good one still given
        AccountEvent("bal-1", "ACCOUNT_UPDATE", asset="USDT", available_margin=75.0, timestamp=5.0),
    ]
    venue.account_events = lambda: [reported.pop(), reported.pop()] if reported else []  # type: ignore[attr-defined]
    events = _session(kernel, "ORDER BUY BTC 1 100 a0\n")
    errors = [e["message"] for e in events if e["type"] == "error"]
    assert any("gave a dict (skipped), not an AccountEvent" in m for m in errors), errors
    assert kernel.account()["e_available_margin"] == 75.0
