"""Liveness and a short status: ``GET /healthz``. It answers while the kernel is held by
another call (a health check's own timeout is a few seconds), and says ``busy`` then."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

from fastapi import FastAPI

from dita.gateway.models import error_answers
from dita.gateway.responses import SafeJSONResponse
from dita.gateway.state import CurrentState, GatewayState, HealthRead
from dita.venues._events import kernel_busy

__all__ = ["HEALTH_WAIT_S", "LANE_HELD_S", "add_routes"]

# How long /healthz waits for the kernel held by another call before it answers `busy`: a
# health check's own timeout is a few seconds, and the kernel's wait (10 s) longer than that.
HEALTH_WAIT_S = 2.0
# How long one call may hold the kernel's lane before /healthz answers `busy`: a venue's submit
# that does not answer holds every request that needs the kernel behind it. The kernel's own
# wait for a held kernel; a slow exchange's usual answer is well within it.
LANE_HELD_S = 10.0


def _read_health(state: GatewayState) -> HealthRead:
    """The kernel's mode, and whether it takes input: ``ok`` (reason None), ``failed`` (its
    log's error) or ``closed`` (closed or closing, or the gateway stopped: why)."""
    kernel = state.kernel
    mode = kernel.control().get("mode")
    info = kernel.wal_info()
    log_failure = info.get("poisoned") if info else None
    if log_failure:
        return mode, "failed", str(log_failure)
    closed = kernel.input_refused_reason()
    if closed is None and state.lane.ended == "stopped":
        closed = state.lane.stopped_reason  # the kernel takes input, but not through this gateway
    return mode, "ok" if closed is None else "closed", closed


def _shared_health_read(state: GatewayState) -> asyncio.Future[HealthRead]:
    """The read under way (off the event loop and the lane), or a new one: checks made while the
    kernel is held share it, rather than leaving a thread each waiting for the kernel."""
    loop = asyncio.get_running_loop()
    pending = state.health_read
    if pending is not None and not pending.done() and pending.get_loop() is loop:
        return pending
    read: asyncio.Future[HealthRead] = loop.create_future()
    read.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no warning

    def settle(result: HealthRead | None, failure: Exception | None) -> None:
        if read.done():
            return
        if failure is not None:
            read.set_exception(failure)
        else:
            read.set_result(result)  # type: ignore[arg-type]  # None only with a failure

    def run() -> None:
        result, failure = None, None
        try:
            result = _read_health(state)
        except Exception as exc:
            failure = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for it
            loop.call_soon_threadsafe(settle, result, failure)

    # A thread of its own, not the loop's default executor: that pool is the embedder's too
    # (asyncio.to_thread), and with it busy the check would wait behind their work and answer
    # `busy`, the kernel free. Not a daemon: the exit waits for its read (10 s at most), where a
    # daemon thread left inside the kernel would abort the process.
    threading.Thread(target=run, name="dita-gateway-health").start()
    state.health_read = read
    return read


async def healthz(state: CurrentState) -> Any:
    health: dict[str, Any] = {
        "status": "ok",
        "kernel_id": state.kernel_id,
        "max_slots": state.max_slots,
        "journal": state.journal_attached,
        "mode": None,
        "sse_clients": state.broadcaster.clients,
        "last_event_id": state.broadcaster.last_id,
    }
    try:
        mode, status, reason = await asyncio.wait_for(
            asyncio.shield(_shared_health_read(state)), HEALTH_WAIT_S
        )
    except (TimeoutError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not kernel_busy(exc):
            raise
        # Held by another call (a thread stuck inside it, say): the commands wait for it too.
        reason = f"the kernel is held by another call for over {HEALTH_WAIT_S:g} s"
        busy = {**health, "status": "busy", "reason": reason}
        return SafeJSONResponse(busy, status_code=503, headers={"Retry-After": "1"})
    health["mode"] = mode
    since = state.lane.call_started
    if status == "ok" and since is not None and time.monotonic() - since > LANE_HELD_S:
        # The kernel is free, but one call (a venue's submit that does not answer) holds the
        # lane, and every request that needs the kernel waits behind it: not "ok".
        reason = (
            f"one call has held the kernel's lane for over {LANE_HELD_S:g} s (a venue call not"
            " answered?): the requests that need the kernel wait behind it"
        )
        busy = {**health, "status": "busy", "reason": reason}
        return SafeJSONResponse(busy, status_code=503, headers={"Retry-After": "1"})
    if status == "ok":
        return health
    # A kernel that refuses every input cannot trade: not "ok", so it is taken out of service.
    return SafeJSONResponse({**health, "status": status, "reason": reason}, status_code=503)


_BUSY_OR_CLOSED = (
    "The kernel takes no more input: its write-ahead log failed (`status`"
    " `failed`, `reason` the log's error), or it is closed or closing, or the gateway stopped"
    " (its server's lifespan ended; `status` `closed`);"
    f" or it is held by another call for over {HEALTH_WAIT_S:g} s, or one call has held the"
    f" kernel's lane (the requests' turn) for over {LANE_HELD_S:g} s (`status` `busy`, with"
    " Retry-After)"
)


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        summary="Liveness and a short status",
        response_model=dict[str, Any],
        responses={**error_answers(422), 503: {"model": dict[str, Any], "description": _BUSY_OR_CLOSED}},
    )
