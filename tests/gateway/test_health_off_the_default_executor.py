"""/healthz reads the kernel on a thread of its own, not on the event loop's default executor:
that pool is the embedder's too (``asyncio.to_thread``, ``loop.getaddrinfo``), and with it
busy the check waited its 2 s behind their work, then answered 503 `busy` saying the kernel was
held by another call when nothing held it: a load balancer took a healthy gateway out."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from dita import ExecutionKernel
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from gateway.helpers import TOKEN


def test_healthz_answers_ok_while_the_default_executor_is_busy() -> None:
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN, max_slots=2))
    release = threading.Event()

    async def run() -> tuple[httpx.Response, float]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
        # Other work of the process, on the default executor, that takes its time.
        held = [loop.run_in_executor(None, release.wait, 30) for _ in range(4)]
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                    began = time.monotonic()
                    health = await client.get("/healthz")
                    return health, time.monotonic() - began
        finally:
            release.set()
            await asyncio.gather(*held)

    try:
        health, took = asyncio.run(run())
    finally:
        release.set()
        kernel.close()
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert took < 1.5, f"/healthz took {took:.2f} s with the kernel free"
