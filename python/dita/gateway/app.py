"""The HTTP gateway: a FastAPI app over one ExecutionKernel.

Reads are open; anything that changes the kernel needs ``Authorization: Bearer <token>``.
Kernel calls (and the venue calls inside them) run on one worker thread, the kernel's lane,
one at a time in the order the requests came, so the kernel never sees two of the gateway's
callers at once and the event loop keeps answering (``/healthz``, the event streams) while
the kernel is busy. A refused intent is a normal 200 answer with ``accepted: false`` and the
kernel's diagnostic: refusals are trading outcomes, not HTTP errors. docs/reference/http-api.md
describes the API; docs/openapi.json is the served schema (a test keeps them equal).

``create_app`` wires the pieces: one ``GatewayState`` (``state``) holds the kernel, its lane
(``lane``), the settings, the metrics and the event broadcaster; each resource's routes are
in ``routes/``, each a ``strict.StrictRoute``; ``polling`` brings what the venue reports later;
``auth``, ``middleware`` and ``errors`` are the layers around the routes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI

from dita.gateway.auth import TokenGate
from dita.gateway.config import GatewaySettings
from dita.gateway.errors import install_error_handlers
from dita.gateway.lane import GatewayStopped
from dita.gateway.middleware import BodyLimit, DeclaredBodyLimit, HostGate, RequestTimer
from dita.gateway.polling import VenuePolling
from dita.gateway.responses import EventStreamResponse, SafeJSONResponse, response_abandoned
from dita.gateway.routes import RESOURCES
from dita.gateway.state import GatewayState
from dita.gateway.strict import StrictRoute
from dita.kernel import ExecutionKernel
from dita.runtime.dead_man import DeadManSwitch

__all__ = ["EventStreamResponse", "GatewayStopped", "SafeJSONResponse", "create_app", "response_abandoned"]


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # `dita serve` runs without lifespan: GatewayServer starts the polling, and at its stop
    # closes the kernel. Here the kernel is the embedder's (made and passed in by them, closed
    # by them): the end stops what the app started, the polling and the lane's thread.
    app.state.open_lane()
    task = app.state.start_polling()
    try:
        yield
    finally:
        deadline = time.monotonic() + app.state.settings.stop_grace_seconds
        await app.state.stop_polling(task, deadline)
        await app.state.end_lane(deadline)


def create_app(
    kernel: ExecutionKernel, settings: GatewaySettings | None = None, *, dead_man: DeadManSwitch | None = None
) -> FastAPI:
    """Build the gateway for ``kernel``. Without a configured token a random one is made
    (``app.state.token``) so the mutating endpoints are never open by accident. A ``dead_man``
    switch is checked on every round of the polling (``routes.heartbeat``)."""
    settings = settings or GatewaySettings()
    state = GatewayState(kernel, settings)
    state.dead_man = dead_man
    polling = VenuePolling(state)
    app = FastAPI(
        lifespan=_lifespan,
        title="dita gateway",
        version="1",
        description="HTTP API over one dita ExecutionKernel. Mutating endpoints need a bearer token.",
        docs_url=None,  # the bundled docs pages load scripts from a CDN; the schema is enough
        redoc_url=None,
        default_response_class=SafeJSONResponse,
    )
    app.router.route_class = StrictRoute  # before the routes: each is made of it
    app.state.gateway = state  # what the routes read (``CurrentState``)
    app.state.polling = polling
    # What `dita serve` (GatewayServer), the CLI and embedders reach through app.state.
    app.state.kernel = kernel
    app.state.token = state.token
    app.state.broadcaster = state.broadcaster
    app.state.metrics = state.metrics
    app.state.settings = settings
    app.state.poll_venue = polling.poll_venue
    app.state.start_polling = polling.start
    app.state.stop_polling = polling.stop
    app.state.close_kernel = state.close_kernel
    app.state.open_lane = state.lane.open
    app.state.end_lane = state.end_lane

    install_error_handlers(app)
    for resource in RESOURCES:
        resource.add_routes(app)
    # Outermost last: the Host check, the timer, the declared size (413 on any request), the
    # token (from the headers, so a client without it is not kept for a body), then the body.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, timeout=settings.body_timeout_seconds)
    app.add_middleware(TokenGate, token=state.token, router=app.router)
    app.add_middleware(DeclaredBodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestTimer, metrics=state.metrics, router=app.router)
    app.add_middleware(HostGate, served=settings.served_hosts())
    return app
