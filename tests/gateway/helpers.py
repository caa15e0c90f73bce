"""Gateway test helpers: a real uvicorn server on a loopback port, in a thread; SSE and stdio clients.

The kernel and the app are built inside the server thread, so the kernel only ever sees
that thread; tests talk to it over HTTP like any client.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from dita import VenueEvent
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from dita.gateway.server import GatewayServer
from dita.kernel import ExecutionKernel

TOKEN = "test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}
ARTIFACTS = Path(__file__).parent / "artifacts"
# The operator page's browser tests' Chromium. Debian names it chromium, Ubuntu chromium-browser
# (as `make chromium` accepts).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Running as root in a container: no sandbox; and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ENTER_ONE = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": 100}


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=10.0)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the gateway test server did not stop within 10 s"


def start_server(
    max_slots: int = 4,
    venue: Callable[[], Any] | None = None,
    journal: Callable[[], Any] | None = None,
    setup: Callable[[ExecutionKernel], None] | None = None,
    dead_man: Callable[[ExecutionKernel], Any] | None = None,
    port: int = 0,
    **settings: Any,
) -> LiveServer:
    """``venue`` and ``journal`` build the kernel's venue (default: the kernel's own mock) and
    journal (default: none) inside the server thread; ``setup`` is given the kernel there, and
    ``dead_man`` builds the gateway's dead-man switch over it. ``port``: 0 for any free one, or
    the port of a server stopped before (a restart)."""
    box: dict[str, Any] = {}
    ready = threading.Event()

    def run() -> None:
        kernel = ExecutionKernel(
            max_slots=max_slots,
            venue=venue() if venue is not None else None,
            journal=journal() if journal is not None else None,
        )
        if setup is not None:
            setup(kernel)
        gateway_settings = GatewaySettings(token=TOKEN, max_slots=max_slots, **settings)
        app = create_app(kernel, gateway_settings, dead_man=dead_man(kernel) if dead_man else None)
        # `dita serve`'s own server, so a test's stop is the real one (event streams ended).
        server = GatewayServer.for_settings(app, kernel, gateway_settings.model_copy(update={"port": port}))
        box["server"], box["app"] = server, app

        async def serve() -> None:
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
            ready.set()
            await task

        try:
            asyncio.run(serve())
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="gateway-test-server", daemon=True)
    thread.start()
    ready.wait(timeout=20)
    server: uvicorn.Server = box["server"]
    assert server.started, "gateway test server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    return LiveServer(url=f"http://127.0.0.1:{port}", server=server, thread=thread, app=box["app"])


def enter(client: httpx.Client, asset: str = "BTCUSDT", side: str = "LONG", **extra: Any) -> dict[str, Any]:
    body = {"action": "ENTER", "asset": asset, "side": side, "target_size": 0.5, "reference_price": 50_000.0}
    body.update(extra)
    res = client.post("/v1/intents", json=body, headers=AUTH)
    assert res.status_code == 200, res.text
    out: dict[str, Any] = res.json()
    return out


# --- server-sent events ------------------------------------------------------------------


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: dict[str, Any]


def read_sse(lines: Iterator[str], count: int, *, skip: tuple[str, ...] = ()) -> list[SseEvent]:
    """Read ``count`` events (not counting types in ``skip``) from an SSE line iterator."""
    out: list[SseEvent] = []
    eid: int | None = None
    etype = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                ev = SseEvent(eid, etype, json.loads("\n".join(data)))
                if ev.event not in skip:
                    out.append(ev)
                    if len(out) >= count:
                        return out
            eid, etype, data = None, "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            eid = int(value)
        elif name == "event":
            etype = value
        elif name == "data":
            data.append(value)
    raise AssertionError(f"stream ended after {len(out)} of {count} events")


# --- stdio -------------------------------------------------------------------------------

DITA = [sys.executable, "-c", "from dita.cli import main; main()"]
# The `dita` program with SIGINT and SIGTERM blocked on its main thread, so that the OS hands them
# to another one: the main thread's wait is not interrupted, as when a signal lands just before
# the wait starts, and only the handler's wake-up can end it.
DITA_SIGNALLED_ELSEWHERE = [
    sys.executable,
    "-c",
    "import signal, threading, time; threading.Thread(target=time.sleep, args=(600,), daemon=True).start(); "
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}); "
    "from dita.cli import main; main()",
]


def run_stdio(
    script: str | bytes, *args: str, timeout: float = 120.0
) -> tuple[list[dict[str, Any]], int, str]:
    """Run ``dita stdio`` on ``script``; returns (events, exit status, stderr)."""
    data = script.encode() if isinstance(script, str) else script
    cmd = [*DITA, "stdio", *args]
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout, check=False)
    events = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    return events, proc.returncode, proc.stderr.decode()


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy (never a timing assertion: it
    only bounds how long a test waits for something that must happen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# --- venues --------------------------------------------------------------------------------


class OneIdVenue:
    """Acknowledges each order and, under the same event id, rejects it: the kernel applies
    the ack and refuses the reject as a duplicate."""

    def submit(self, order: Any) -> list[VenueEvent]:
        return [
            VenueEvent("e-1", order.trade_id, order.slot_id, kind, venue_client_id=order.client_order_id)
            for kind in ("ORDER_ACK", "REJECT")
        ]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


class HeldVenue:
    """Acknowledges and fills each order once ``release`` is set: an exchange that does not
    answer a submit until then (60 s at most)."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

    def submit(self, order: Any) -> list[VenueEvent]:
        self.inside.set()
        self.release.wait(60)
        fill = {"price": order.reference_price, "size": order.size, "filled_size": order.size}
        return [
            VenueEvent(f"ack-{order.client_order_id}", order.trade_id, order.slot_id, "ORDER_ACK",
                       venue_client_id=order.client_order_id),
            VenueEvent(f"fill-{order.client_order_id}", order.trade_id, order.slot_id, "FILL",
                       venue_client_id=order.client_order_id, **fill),
        ]  # fmt: skip

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def enter_in_thread(
    live: LiveServer, body: dict[str, Any] | None = None
) -> tuple[threading.Thread, dict[str, Any]]:
    """POST an ENTER from a thread; its answer (or the error of a connection closed without
    one) lands in the dict as ``enter``."""
    answers: dict[str, Any] = {}

    def enter() -> None:
        with httpx.Client(base_url=live.url, timeout=90) as c:
            try:
                answers["enter"] = c.post("/v1/intents", json=body or ENTER_ONE, headers=AUTH)
            except httpx.HTTPError as exc:
                answers["enter"] = exc

    sender = threading.Thread(target=enter, daemon=True)
    sender.start()
    return sender, answers


class FillsLater:
    """Acknowledges each order, its fill owed to the next poll; a poll with a fill owed waits
    for ``answer``, and the submit of slot 1's order for ``release`` (60 s at most): a slow
    exchange, which then answers it as any other (``answer_held``), or one that never does
    (its answer is lost: an empty list). ``fill_ids``: the fills owed, in order."""

    def __init__(self, answer_held: bool = True) -> None:
        self.answer_held = answer_held
        self.owed: list[VenueEvent] = []
        self.fill_ids: list[str] = []
        self.asked, self.answer, self.answered = threading.Event(), threading.Event(), threading.Event()
        self.inside, self.release = threading.Event(), threading.Event()

    def submit(self, order: Any) -> list[VenueEvent]:
        if order.slot_id == 1:
            self.inside.set()
            self.release.wait(60)
            if not self.answer_held:
                return []
        fill = {"price": order.reference_price, "size": order.size, "filled_size": order.size}
        self.owed.append(VenueEvent(f"fill-{order.client_order_id}", order.trade_id, order.slot_id, "FILL",
                                    venue_client_id=order.client_order_id, **fill))  # fmt: skip
        self.fill_ids.append(self.owed[-1].event_id)
        return [VenueEvent(f"ack-{order.client_order_id}", order.trade_id, order.slot_id, "ORDER_ACK",
                           venue_client_id=order.client_order_id)]  # fmt: skip

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def poll_events(self) -> list[VenueEvent]:
        if self.owed:
            self.asked.set()
            self.answer.wait(30)
        owed, self.owed = self.owed, []
        if owed:
            self.answered.set()
        return owed


class LimitsRest:
    """Fills a market order at once at its reference price; a limit order rests until
    cancelled. Each order's reduce_only flag is kept, by client order id."""

    def __init__(self) -> None:
        self.reduce_only: dict[str, bool] = {}

    def rests(self, order: Any) -> bool:
        return str(order.order_type).upper().endswith("LIMIT")

    def submit(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        self.reduce_only[coid] = bool(order.reduce_only)
        ack = VenueEvent(f"ack-{coid}", order.trade_id, order.slot_id, "ORDER_ACK", venue_client_id=coid)
        if self.rests(order):
            return [ack]
        fill = VenueEvent(f"fill-{coid}", order.trade_id, order.slot_id, "FILL", venue_client_id=coid,
                          price=order.reference_price, size=order.size, filled_size=order.size)  # fmt: skip
        return [ack, fill]

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [VenueEvent(f"cxl-{coid}", order.trade_id, order.slot_id, "CANCEL_ACK", venue_client_id=coid)]


class ExitsRest(LimitsRest):
    """Fills an entry at once at its reference price; an exit (reduce-only) rests until
    cancelled, whatever its type."""

    def rests(self, order: Any) -> bool:
        return bool(order.reduce_only)


class ThrottlesCancels:
    """Takes an order without answering (its ack is late) and rate limits every cancel: an
    entry cancelled before its ack is then in doubt (it may still work at the venue). The
    cancels asked are kept, by client order id."""

    def __init__(self) -> None:
        self.cancels: list[str] = []

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        self.cancels.append(coid)
        return [VenueEvent(f"rl-{coid}-{len(self.cancels)}", order.trade_id, order.slot_id, "RATE_LIMITED",
                           venue_client_id=coid, retry_after=1.0)]  # fmt: skip


def order_in_doubt(client: httpx.Client) -> str:
    """Rests a limit entry on slot 0 of a gateway over ``ThrottlesCancels`` and asks its cancel,
    which the venue throttles: the entry is then in doubt. Returns its client order id."""
    body = {"action": "ENTER", "asset": "BTCUSDT", "side": "LONG", "target_size": 0.5,
            "reference_price": 50_000.0, "order_type": "LIMIT", "limit_price": 49_000.0}  # fmt: skip
    assert client.post("/v1/intents", json=body, headers=AUTH).json()["accepted"] is True
    cancel = client.post("/v1/slots/0/cancel", headers=AUTH).json()
    assert cancel["diagnostic_code"] == "RATE_LIMITED", cancel
    slot = client.get("/v1/slots/0").json()
    assert slot["order_in_doubt"] and slot["active_entry_order"] is None, slot
    return str(slot["order_in_doubt"])


@contextmanager
def serving_an_order_in_doubt() -> Iterator[tuple[LiveServer, ThrottlesCancels, str]]:
    """A gateway of 2 slots over ``ThrottlesCancels`` with an entry in doubt on slot 0
    (``order_in_doubt``): the server, its venue and the entry's client order id."""
    venue = ThrottlesCancels()
    live = start_server(max_slots=2, venue=lambda: venue)
    try:
        yield live, venue, order_in_doubt(live.client)
    finally:
        live.stop()
