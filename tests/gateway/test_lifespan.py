"""The app's lifespan (``create_app`` served by plain uvicorn, any ASGI server, or Starlette's
TestClient as a context manager): its end shuts the app's kernel lane down and leaves the kernel,
which is its embedder's, open; a request after it is a clean 503; served again, it runs again."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # Starlette asks for httpx2; the client works with httpx as it is
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from dita import ExecutionKernel
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from gateway.helpers import AUTH, ENTER_ONE, TOKEN, HeldVenue, wait_until

LANE = "dita-gateway-kernel"
STOPPED = "the gateway takes no more input: it stopped"


def _lane_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(LANE) and t.is_alive()}


def _with_test_client(app: FastAPI, use: Callable[[httpx.Client], None]) -> None:
    with TestClient(app, base_url="http://localhost") as client:
        use(client)


def _with_uvicorn(app: FastAPI, use: Callable[[httpx.Client], None]) -> None:
    """Serves ``app`` with uvicorn's own server, its lifespan on, for the time of ``use``."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="plain-uvicorn", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive())
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            use(client)
    finally:
        server.should_exit = True
        thread.join(15)
    assert not thread.is_alive(), "uvicorn did not stop"


SERVED = {"testclient": _with_test_client, "uvicorn": _with_uvicorn}


async def _ask(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        return await c.request(method, path, **kwargs)


@pytest.mark.parametrize("served", sorted(SERVED))
def test_the_lifespans_end_shuts_the_lane_down_and_leaves_the_kernel_open(served: str) -> None:
    """The lifespan's end stops the lane's thread too (left behind, there would be one per
    app served, a request after the end still made on it): a request is a 503 saying the
    gateway stopped (as after `dita serve`'s stop, not a 500), /healthz says `closed`, and the
    kernel, made and passed in by its embedder, is not closed: it is theirs."""
    before = _lane_threads()
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=2))

    def use(client: httpx.Client) -> None:
        res = client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)
        assert res.status_code == 200 and res.json()["accepted"] is True, res.text
        assert _lane_threads() - before, "the lane's thread runs while the app is served"

    try:
        SERVED[served](app, use)
        assert not _lane_threads() - before, "the lane's thread is left behind after the lifespan's end"
        assert kernel.input_refused_reason() is None, "the lifespan closed its embedder's kernel"
        assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
        after = asyncio.run(_ask(app, "POST", "/v1/intents", json={**ENTER_ONE, "slot_id": 1}, headers=AUTH))
        assert after.status_code == 503, after.text
        assert after.json()["detail"].startswith(STOPPED), after.text
        assert "Retry-After" not in after.headers
        assert kernel.slot_state(1).fsm_state.name == "IDLE"
        health = asyncio.run(_ask(app, "GET", "/healthz"))
        assert health.status_code == 503 and health.json()["status"] == "closed", health.text
        assert health.json()["reason"].startswith("the gateway stopped"), health.text
        assert not _lane_threads() - before, "a request after the end started a lane thread"
    finally:
        kernel.close()


def test_an_app_served_again_runs_again() -> None:
    """A second lifespan (a test suite entering TestClient(app) in each test) serves as the
    first did: the lane is made again at its start, and shut down again at its end."""
    before = _lane_threads()
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=2))
    try:
        for slot_id in (0, 1):
            with TestClient(app, base_url="http://localhost") as client:
                res = client.post("/v1/intents", json={**ENTER_ONE, "slot_id": slot_id}, headers=AUTH)
                assert res.status_code == 200 and res.json()["accepted"] is True, res.text
                assert client.get("/healthz").json()["status"] == "ok"
            assert not _lane_threads() - before
        assert [kernel.slot_state(i).fsm_state.name for i in (0, 1)] == ["POSITION_OPEN"] * 2
    finally:
        kernel.close()


def test_the_kernel_closed_after_the_lifespan_by_close_kernel(caplog: pytest.LogCaptureFixture) -> None:
    """``app.state.close_kernel`` (what `dita serve` calls) still closes the kernel after the
    lifespan ended, on a lane of its own that then ends, not on the lane shut down."""
    caplog.set_level(logging.WARNING, logger="dita.gateway")
    before = _lane_threads()
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=2))

    async def run() -> bool:
        async with app.router.lifespan_context(app):
            pass
        return bool(await app.state.close_kernel(5.0))

    try:
        assert asyncio.run(run()) is True
        assert "is closed" in (kernel.input_refused_reason() or "")
        assert not _lane_threads() - before
        after = asyncio.run(_ask(app, "POST", "/v1/intents", json=ENTER_ONE, headers=AUTH))
        assert after.status_code == 503, after.text
        assert after.json()["detail"].startswith("the kernel takes no more input: it is closed or closing")
    finally:
        kernel.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_the_lifespans_end_gives_up_on_a_lane_call_that_does_not_return(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A venue's submit that does not answer holds the lane at the lifespan's end: the end
    waits ``stop_grace_seconds`` for it (not for ever, not the grace once per step), says so at
    ERROR, and the lane's thread ends once the call returns; the kernel stays open."""
    caplog.set_level(logging.WARNING, logger="dita.gateway")
    before = _lane_threads()
    venue = HeldVenue()
    kernel = ExecutionKernel(max_slots=2, venue=venue)
    grace = 1.0
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=2, stop_grace_seconds=grace))

    async def run() -> tuple[float, httpx.Response]:
        async with app.router.lifespan_context(app):
            enter = asyncio.ensure_future(_ask(app, "POST", "/v1/intents", json=ENTER_ONE, headers=AUTH))
            while not venue.inside.is_set():
                await asyncio.sleep(0.01)
            began = time.monotonic()
        ended_in = time.monotonic() - began
        venue.release.set()
        return ended_in, await enter

    try:
        ended_in, answer = asyncio.run(run())
    finally:
        venue.release.set()
    try:
        # One grace, not one a step: a second would reach 2 s; a loaded host has the rest.
        assert ended_in < 2 * grace, f"the lifespan's end took {ended_in:.2f} s, its grace is {grace} s"
        assert answer.status_code == 200 and answer.json()["accepted"] is True, answer.text
        wait_until(lambda: not _lane_threads() - before)
        assert kernel.input_refused_reason() is None
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "stop_grace_seconds" in errors[0] and "lane" in errors[0], errors
    finally:
        kernel.close()


def test_plain_uvicorn_with_a_graceful_timeout_stops_with_an_event_stream_open() -> None:
    """uvicorn waits for every connection to close before the lifespan's end, and an event stream
    does not end by itself: served as docs/reference/http-api.md says, `timeout_graceful_shutdown`
    given, the stop cuts the stream off and runs the lifespan's end (the lane's thread stops)."""
    before = _lane_threads()
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=2, stop_grace_seconds=1.0))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=1.0
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="plain-uvicorn", daemon=True)
    opened, ended = threading.Event(), threading.Event()

    def follow(port: int) -> None:
        url = f"http://127.0.0.1:{port}/v1/events"
        try:
            with httpx.Client(timeout=None) as c, c.stream("GET", url) as res:
                opened.set()
                for _ in res.iter_lines():
                    pass
        except httpx.RemoteProtocolError:
            pass  # the stream cut off unfinished
        ended.set()

    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive())
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        threading.Thread(target=follow, args=(port,), daemon=True).start()
        assert opened.wait(5)
        wait_until(lambda: _lane_threads() - before)
        server.should_exit = True  # what Ctrl-C does
        thread.join(8)
        assert not thread.is_alive(), "uvicorn did not stop with an event stream open"
        assert ended.wait(5), "the event stream was not ended"
        assert _lane_threads() - before == set(), "the lifespan's end did not run"
    finally:
        server.force_exit = True
        thread.join(5)
        kernel.close()
