"""The kernel is called by one gateway lane at a time. An app served again while the call its
last lifespan's end gave up on still runs (a venue's submit not answered) made a new lane, and
two apps made for one kernel have one each: both lanes called the kernel at once (the second
then waited 10 s for the kernel and answered busy, and the app's own state, the polled venue
events, was taken from two threads). Now every lane over a kernel takes its turn."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from fastapi import FastAPI

from dita import ExecutionKernel
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from gateway.helpers import AUTH, ENTER_ONE, TOKEN, HeldVenue


class Watched(ExecutionKernel):
    """Counts the calls of the gateway's lanes under way at once (waiting for the kernel too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.overlap = threading.Event()

    def _watched(self, call: Any, *args: Any) -> Any:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
            if self.inside > 1:
                self.overlap.set()
        try:
            return call(*args)
        finally:
            with self.lock:
                self.inside -= 1

    def process_intent(self, intent: Any) -> Any:
        return self._watched(super().process_intent, intent)

    def slot_dict(self, slot_id: int) -> Any:
        return self._watched(super().slot_dict, slot_id)

    def control(self) -> Any:
        return self._watched(super().control)

    def free_slot_id(self) -> Any:
        return self._watched(super().free_slot_id)


async def _ask(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=30) as c:
        return await c.request(method, path, **kwargs)


def _settings() -> GatewaySettings:
    return GatewaySettings(token=TOKEN, max_slots=2, stop_grace_seconds=0.2, venue_poll_seconds=0.05)


async def _held_then(kernel: Watched, venue: HeldVenue, first: FastAPI, second: FastAPI) -> httpx.Response:
    """``first`` served, an ENTER held in the venue, its lifespan ended (giving the call up);
    then ``second`` served and asked for slot 1 while the call still runs."""
    async with first.router.lifespan_context(first):
        held = asyncio.ensure_future(_ask(first, "POST", "/v1/intents", json=ENTER_ONE, headers=AUTH))
        while not venue.inside.is_set():
            await asyncio.sleep(0.01)
    try:
        async with second.router.lifespan_context(second):
            read = asyncio.ensure_future(_ask(second, "GET", "/v1/slots/1"))
            # Long enough for the second lane's calls (its polling's, the read) to have begun.
            await asyncio.to_thread(kernel.overlap.wait, 0.5)
            venue.release.set()
            answer = await read
    finally:
        venue.release.set()
    await held
    return answer


def test_an_app_served_again_waits_for_the_call_its_last_end_gave_up_on() -> None:
    venue = HeldVenue()
    kernel = Watched(max_slots=2, venue=venue)
    app = create_app(kernel, _settings())
    try:
        answer = asyncio.run(_held_then(kernel, venue, app, app))
        assert answer.status_code == 200, answer.text
        assert kernel.most == 1, "the kernel was called from two lanes at once"
    finally:
        venue.release.set()
        kernel.close()


def test_two_apps_over_one_kernel_take_turns() -> None:
    venue = HeldVenue()
    kernel = Watched(max_slots=2, venue=venue)
    first, second = create_app(kernel, _settings()), create_app(kernel, _settings())
    try:
        answer = asyncio.run(_held_then(kernel, venue, first, second))
        assert answer.status_code == 200, answer.text
        assert kernel.most == 1, "the kernel was called from two lanes at once"
    finally:
        venue.release.set()
        kernel.close()
