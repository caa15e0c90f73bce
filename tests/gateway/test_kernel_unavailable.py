"""The HTTP gateway over a kernel that cannot take a command now: closed (it never will again),
held by another thread's call, or inside a slow venue call. A health check must say so, and
the gateway must keep answering meanwhile: its event loop is not the kernel's to hold."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from dita import ExecutionKernel
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from gateway.helpers import (
    AUTH,
    ENTER_ONE,
    TOKEN,
    FillsLater,
    HeldVenue,
    LiveServer,
    enter_in_thread,
    start_server,
    wait_until,
)


def _get(app: Any, path: str) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await c.get(path)

    return asyncio.run(run())


@pytest.mark.parametrize("how", ["close", "stop_input"])
def test_healthz_says_a_closed_kernel_is_closed(how: str) -> None:
    """/healthz said `"status": "ok"` (200) for a kernel closed under the gateway, which then
    answered 503 to every command: a health check and a load balancer kept it in service."""
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    assert _get(app, "/healthz").json()["status"] == "ok"
    getattr(kernel, how)()
    health = _get(app, "/healthz")
    assert health.status_code == 503, health.text
    body = health.json()
    assert body["status"] == "closed" and body["kernel_id"] == kernel.kernel_id
    assert "takes no more input" in body["reason"]
    kernel.close()


def test_healthz_of_an_open_kernel_gives_it_no_input(tmp_path: Path) -> None:
    """Asking whether the kernel takes input is a read: nothing logged, nothing changed."""
    kernel = ExecutionKernel(max_slots=2, wal_dir=str(tmp_path / "wal"), fsync="always")
    try:
        app = create_app(kernel, GatewaySettings(token=TOKEN))
        before = (kernel.seq, kernel.wal_info()["last_seq"], kernel.account())  # type: ignore[index]
        for _ in range(3):
            health = _get(app, "/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        assert (kernel.seq, kernel.wal_info()["last_seq"], kernel.account()) == before  # type: ignore[index]
    finally:
        kernel.close()


def holding_the_kernel(
    kernel: ExecutionKernel, held: threading.Event, release: threading.Event
) -> threading.Thread:
    """A thread that holds ``kernel`` until ``release``, as a thread stuck inside a kernel call
    does: a collector pass started inside its update_control, which builds the control's dict
    with the kernel taken, waits in a collector callback."""

    def hold(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and threading.current_thread() is holder and not held.is_set():
            held.set()
            release.wait(30)

    def update() -> None:
        threshold = gc.get_threshold()
        gc.set_threshold(1)
        gc.callbacks.append(hold)
        try:
            kept = []  # kept, so the answers' dicts count towards the next collection
            for _ in range(1000):
                kept.append(kernel.update_control(verbosity="NORMAL"))
                if held.is_set():
                    break
        finally:
            gc.callbacks.remove(hold)
            gc.set_threshold(*threshold)

    holder = threading.Thread(target=update, daemon=True)
    return holder


def kernel_is_held(kernel: ExecutionKernel) -> bool:
    """Whether a read of ``kernel`` from another thread waits (for a call holding it). The read
    gets 2 s: a loaded host may start its thread late, and a free kernel taken for held fails
    the test."""
    read = threading.Event()
    threading.Thread(target=lambda: (kernel.seq, read.set()), daemon=True).start()
    return not read.wait(2.0)


@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="from 3.12 a collector pass started in Rust code runs once Python code runs again, "
    "after the kernel is let go: the thread holds nothing",
)
def test_healthz_answers_while_another_thread_holds_the_kernel() -> None:
    """A held kernel holds up only the calls that need it; /healthz answers that it is busy.
    Made on the event loop, one request's call would stall every other request while another
    thread holds the kernel (up to its 10 s wait), /healthz included, so a health check would
    time out (or, on a stuck thread, every request would)."""
    live = start_server(max_slots=2)
    kernel: ExecutionKernel = live.app.state.kernel
    answers: dict[str, httpx.Response] = {}

    def read_account() -> None:
        with httpx.Client(base_url=live.url, timeout=30) as c:
            answers["account"] = c.get("/v1/account")

    reader = threading.Thread(target=read_account, daemon=True)
    # The collector pass may begin outside the kernel call (another thread's allocations count
    # too): the kernel is probed, and the hold made again until it is inside.
    for _ in range(10):
        held, release = threading.Event(), threading.Event()
        holder = holding_the_kernel(kernel, held, release)
        holder.start()
        assert held.wait(10)
        if kernel_is_held(kernel):
            break
        release.set()
        holder.join(30)
    else:
        pytest.fail("the holder never held the kernel in 10 tries")
    try:
        reader.start()  # its kernel call waits for the holder
        health = live.client.get("/healthz")
        assert reader.is_alive() and "account" not in answers  # answered while the call waits
        assert health.status_code == 503, health.text
        assert health.json()["status"] == "busy" and "Retry-After" in health.headers
        assert live.client.get("/").status_code == 200
    finally:
        release.set()
        holder.join(30)
        reader.join(30)
        live.stop()
    assert answers["account"].status_code == 200  # taken once the holder let go


def test_a_slow_venue_submit_does_not_stall_the_gateway() -> None:
    """The venue's submit ran inside the intent's kernel call, on the event loop: an exchange
    slow to answer an order stalled every request meanwhile, /healthz and the event streams
    included. Now only the commands after it wait (in order); the rest is answered."""
    venue = HeldVenue()
    live: LiveServer = start_server(max_slots=2, venue=lambda: venue)
    try:
        sender, answers = enter_in_thread(live)
        assert venue.inside.wait(10)
        health = live.client.get("/healthz")
        assert sender.is_alive() and "enter" not in answers  # answered while the order is out
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    finally:
        venue.release.set()
        sender.join(30)
        live.stop()
    assert answers["enter"].status_code == 200 and answers["enter"].json()["accepted"] is True


def test_fills_polled_at_the_stop_behind_a_slow_submit_are_booked() -> None:
    """The venue's poll gave a fill while a slow submit held the kernel's lane; the stop's
    grace ran out with the fill queued behind it, and canceling the polling dropped it from
    the queue: a fill the venue reports once, never booked and never named. (The submit answers
    after the grace, so its request's connection is closed unanswered: the stop waits one grace.)"""
    venue = FillsLater()
    live = start_server(max_slots=2, venue=lambda: venue, venue_poll_seconds=0.02, stop_grace_seconds=0.5)
    kernel: ExecutionKernel = live.app.state.kernel
    sender: threading.Thread | None = None
    stopping = threading.Thread(target=live.stop, daemon=True)
    try:
        first = live.client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)
        assert first.json()["state"] == "ENTRY_WORKING"
        assert venue.asked.wait(10)  # the poll with slot 0's fill waits for the venue
        sender, _ = enter_in_thread(live, {**ENTER_ONE, "slot_id": 1})
        assert venue.inside.wait(10)  # slot 1's submit holds the lane
        venue.answer.set()
        assert venue.answered.wait(10)
        time.sleep(0.2)  # the poll's fill is queued on the lane, behind the submit
        stopping.start()
        # The stop ends past its grace (0.5 s) with the submit still out: the polling is over
        # before the submit returns, so no later poll brings slot 1's fill.
        stopping.join(30)
    finally:
        venue.answer.set()
        venue.release.set()
        if sender is not None:
            sender.join(30)
        if stopping.ident is None:
            live.stop()
        stopping.join(30)
    assert not stopping.is_alive()
    # The submit returned: its ack (its fill owed to a poll that no longer comes), then the
    # polled fill, taken on the lane before the close.
    wait_until(lambda: "is closed" in (kernel.input_refused_reason() or ""))
    assert kernel.slot_state(1).fsm_state.name == "ENTRY_WORKING"
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"


def test_healthz_says_busy_while_one_call_holds_the_kernels_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """A venue's submit that does not answer holds the kernel's lane, and every request that
    needs the kernel waits behind it (each client timing out), while /healthz answered 200
    `ok`: a load balancer kept the stuck gateway in service and no operator was told. (Before
    the lane, /healthz itself hung, which a health check does see.) A call on the lane for
    over the lane's limit (10 s; none in this test) is a 503 `busy`."""
    monkeypatch.setattr("dita.gateway.routes.health.LANE_HELD_S", 0.0)
    venue = HeldVenue()
    live = start_server(max_slots=2, venue=lambda: venue)
    try:
        sender, answers = enter_in_thread(live)
        assert venue.inside.wait(10)
        health = live.client.get("/healthz")
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == "busy" and "Retry-After" in health.headers
        assert "lane" in body["reason"]
    finally:
        venue.release.set()
        sender.join(30)
    try:
        assert answers["enter"].status_code == 200
        after = live.client.get("/healthz")  # the call done: nothing holds the lane
        assert after.status_code == 200 and after.json()["status"] == "ok", after.text
    finally:
        live.stop()


class _BusyAfterIntent(ExecutionKernel):
    """A kernel that takes the intent, then is held by another thread's call when the gateway
    reads the slot to publish it (a projection or journal thread reading it, say)."""

    busy_reads = 0
    busy_after_intent = False

    def process_intent(self, intent: Any) -> Any:
        outcome = super().process_intent(intent)
        if self.busy_after_intent:
            self.busy_reads = 1
        return outcome

    def slot_dict(self, slot_id: int) -> dict[str, Any]:
        if self.busy_reads:
            self.busy_reads -= 1
            raise RuntimeError("kernel busy in another call for 10 s (is a thread stuck inside it?)")
        return super().slot_dict(slot_id)


def test_an_intent_the_kernel_took_is_answered_though_the_kernel_is_busy_after_it() -> None:
    """The kernel took the ENTER (its order placed), then the slot read for the `slot` event met
    the kernel busy: the answer is the outcome, the slot event skipped. A 503 "retryable: send
    the request again" would have a retry without its intent_id place a second order."""
    kernel = _BusyAfterIntent(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN))

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            kernel.busy_after_intent = True
            return await c.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)

    try:
        answer = asyncio.run(run())
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] is True
        assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
        assert kernel.stats()["orders_submitted"] == 1, "one order placed"
    finally:
        kernel.close()
