"""The HTTP gateway: a FastAPI app over one ExecutionKernel.

Reads are open; anything that changes the kernel needs ``Authorization: Bearer <token>``.
Kernel calls (and the venue calls inside them) run on one worker thread, the kernel's lane,
one at a time in the order the requests came, so the kernel never sees two of the gateway's
callers at once and the event loop keeps answering (``/healthz``, the event streams) while
the kernel is busy. A refused intent is a normal 200 answer with ``accepted: false`` and the
kernel's diagnostic: refusals are trading outcomes, not HTTP errors. docs/protocol.md
describes the API; docs/openapi.json is the served schema (a test keeps them equal).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import itertools
import json
import logging
import math
import secrets
import threading
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
)
from pydantic_core import PydanticCustomError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Router

from dita._kernel import (
    KernelCommandType,
    KernelDiagnosticCode,
    KernelEventKind,
    KernelIntent,
    KernelOutcome,
    KernelTransition,
    TradeSide,
    VenueEvent,
    WalError,
)
from dita._text import shortened
from dita.control import ControlChangeRefused
from dita.gateway.config import GatewaySettings
from dita.gateway.engine import (
    FILL_TRIGGERS,
    PolledEvents,
    applied_events,
    input_refused,
    input_stopped,
    kernel_busy,
)
from dita.gateway.events import Broadcaster, Subscriber, encode_json_bytes, unicode_text
from dita.gateway.metrics import GatewayMetrics
from dita.gateway.protocol import DuplicateKey, plain_number, unique_keys
from dita.kernel import ExecutionKernel
from dita.risk import KERNEL_MAX
from dita.venues import poll_once

__all__ = ["GatewayStopped", "SafeJSONResponse", "create_app", "response_abandoned"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MetaValue = str | int | float | bool | None
T = TypeVar("T")


class SafeJSONResponse(JSONResponse):
    """JSON that stays strict when a kernel figure is NaN or infinite (they become null).

    A JSONResponse, so the schema documents each answer's JSON (of a plain Response it says
    "string")."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode_json_bytes(content)


class GatewayStopped(RuntimeError):
    """A call for the kernel after the app's lifespan ended (its lane shut down): answered 503.
    The kernel is not closed: its embedder closes it, or serves the app again."""


# --- request bodies ----------------------------------------------------------------------

_FINITE = {"allow_inf_nan": False}


def _plain(value: Any) -> Any:
    # Numbers may come as JSON numbers or strings ("1.5", as many exchange APIs send them), but
    # lax parsing also reads true and false as 1 and 0: a typo would trade a size of 1; and
    # Python's spellings of a number ("1_000", " 2 "): a typo would trade 1000.
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not true or false")
    if isinstance(value, str) and not plain_number(value):
        raise PydanticCustomError(
            "number_parsing",
            "Input should be a number in ASCII digits (sign, fraction and exponent optional)",
        )
    return value


def _number(value: Any) -> Any:
    value = _plain(value)
    if (
        isinstance(value, str)
        and float(value) == 0.0
        and any(c in "123456789" for c in value.lower().split("e")[0])
    ):
        # Not 0 as written, but below the smallest float: read as 0.0 it was taken as no size or
        # no limit, and the error named 0.0, nothing the client sent.
        raise PydanticCustomError(
            "number_range",
            "Input should be 0 or a number a float can hold: this one is below its smallest, 5e-324",
        )
    if isinstance(value, int):
        # A JSON integer past float's range (4000 digits): not finite, as 1e309 is, not a
        # "valid number" error of its own.
        try:
            float(value)
        except OverflowError:
            raise PydanticCustomError("finite_number", "Input should be a finite number") from None
    return value


def _whole(value: Any) -> Any:
    # An id (slot_id, last_event_id) is a number of any spelling a number may have, with a
    # whole value: "1", 1.0, "1.0", "+1" and "1e0" are all 1; 1.5 and "1.5" are refused.
    value = _plain(value)
    if not isinstance(value, str):
        return value  # a JSON number: pydantic's int takes 1.0 and refuses 1.5 itself
    try:
        number = Decimal(value)
    except ArithmeticError:  # an exponent beyond Decimal's range: 1e9999999999999999999999
        raise PydanticCustomError(
            "number_range", "Input should be a number whose exponent a float can hold"
        ) from None
    if not number.is_finite():
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    if number.adjusted() > 18:
        return float(number)  # as that JSON number would be (not an int of a million digits)
    if number != number.to_integral_value():
        raise PydanticCustomError(
            "int_from_float", "Input should be a valid integer, got a number with a fractional part"
        )
    return int(number)


# The kernel refuses a NUL in ids only; an intent's free text goes on to the journal and the
# Hazelcast projection, whose readers a NUL breaks.
_NUL = "text must not hold a NUL character (\\x00)"


def _no_nul(text: str) -> str:
    """An intent's ``reason`` (ENTER, EXIT, CANCEL, a slot's cancel), refused with a NUL in it."""
    if "\0" in text:
        raise ValueError(f"reason {shortened(text, 64)!r}: {_NUL}")
    return text


Number = Annotated[float, BeforeValidator(_number)]
Reason = Annotated[str, AfterValidator(_no_nul)]
SlotId = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_whole)]
# The bounds first: after the validator pydantic leaves them out of the schema's keywords.
LegRatio = Annotated[float, Field(gt=0.0, le=1.0), BeforeValidator(_number)]
SlotPath = Annotated[int, Path(ge=0, le=1_000_000), BeforeValidator(_whole)]


class IntentRequest(BaseModel):
    """An ENTER, EXIT or CANCEL for one slot. Omitted fields of EXIT and CANCEL are taken from
    the slot (trade_id, asset, side); ENTER without slot_id takes the first free slot."""

    model_config = ConfigDict(extra="forbid", **_FINITE)  # type: ignore[typeddict-item]

    action: Literal["ENTER", "EXIT", "CANCEL"]
    slot_id: SlotId | None = None
    intent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    trade_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    asset: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._/:\-]+$")
    side: Literal["LONG", "SHORT"] | None = None
    # Prices and sizes: up to the kernel's own bound, as `dita stdio` takes them.
    reference_price: Number = Field(default=0.0, ge=0.0, le=KERNEL_MAX)
    target_size: Number = Field(default=0.0, ge=0.0, le=KERNEL_MAX)
    leverage: Number = Field(default=1.0, gt=0.0, le=1000.0)
    exit_leg_ratios: list[LegRatio] | None = Field(default=None, min_length=1, max_length=16)
    order_type: Literal["MARKET", "LIMIT"] = "MARKET"
    limit_price: Number = Field(default=0.0, ge=0.0, le=KERNEL_MAX)
    reason: Reason = Field(default="", max_length=256)
    metadata: dict[str, MetaValue] | None = Field(default=None, max_length=32)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, MetaValue] | None) -> dict[str, MetaValue] | None:
        for key, item in (value or {}).items():
            # Each error names the text at fault: the key, or the value under it.
            if "\0" in key:
                raise ValueError(f"metadata key {shortened(key, 64)!r}: {_NUL}")
            if len(key) > 64:
                raise ValueError(
                    f"metadata key {key[:64]!r}...: keys are at most 64 characters, got {len(key)}"
                )
            if isinstance(item, str) and len(item) > 256:
                raise ValueError(
                    f"metadata key {key!r}: value {item[:64]!r}... is {len(item)} characters, "
                    "strings are at most 256"
                )
            # JSON can escape a lone surrogate ("\ud800"); the kernel takes UTF-8 text only.
            if not _is_unicode(key):
                raise ValueError(f"metadata key {key!r}: text must not hold lone surrogates")
            if isinstance(item, str) and not _is_unicode(item):
                raise ValueError(f"metadata key {key!r}: value {item!r}: text must not hold lone surrogates")
            if isinstance(item, str) and "\0" in item:
                raise ValueError(f"metadata key {key!r}: value {shortened(item, 64)!r}: {_NUL}")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"metadata key {key!r}: numbers must be finite")
            if isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**63:
                raise ValueError(f"metadata key {key!r}: integers must fit in 64 bits, got {item}")
        return value


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    reason: Reason = Field(default="", max_length=256)


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["LIVE", "PAPER", "SHADOW", "REDUCE_ONLY", "HALTED"] | None = None
    verbosity: Literal["QUIET", "NORMAL", "DEBUG"] | None = None
    debug_clickhouse_enabled: StrictBool | None = None


class MarkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", **_FINITE)  # type: ignore[typeddict-item]

    asset: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._/:\-]+$")
    price: Number = Field(gt=0.0, le=KERNEL_MAX)


# --- error answers (documented in the schema, so a generated client knows them) ------------


class ErrorAnswer(BaseModel):
    """401 (token), 404 (slot out of range), 409 (no free slot, or a control entry no write can
    follow), 503 (too many event streams, the cluster's control plane away, the kernel busy in
    another call, or taking no more input: closed, or its write-ahead log failed; or the gateway
    stopped, its server's lifespan ended)."""

    detail: str


class TooLargeAnswer(BaseModel):
    """413: the body is over ``max_body_bytes``."""

    detail: str
    field: Literal["body"]


class TooSlowAnswer(BaseModel):
    """408: the body did not arrive in full within ``body_timeout_seconds``."""

    detail: str
    field: Literal["body"]


class ValidationProblem(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", field], ["path", ...], ["header", ...]')
    msg: str
    type: str
    input: Any = Field(default=None, description="The value refused (short copy; absent when not plain)")
    reason: str | None = Field(default=None, description="Why the body is not JSON (type json_invalid)")


class ValidationAnswer(BaseModel):
    """422: the request does not fit the schema; ``message`` names each field and value."""

    detail: list[ValidationProblem]
    message: str


def _answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    models: dict[int, tuple[type[BaseModel], str]] = {
        401: (ErrorAnswer, "Missing or wrong bearer token"),
        404: (ErrorAnswer, "slot_id out of range"),
        408: (TooSlowAnswer, "Body not received in full within body_timeout_seconds"),
        409: (ErrorAnswer, "ENTER without slot_id and no free slot"),
        413: (TooLargeAnswer, "Body over max_body_bytes"),
        422: (ValidationAnswer, "Request does not fit the schema"),
        503: (
            ErrorAnswer,
            "The kernel takes no more input (its write-ahead log failed, or it is closed), or is busy"
            " in another call (retryable, with Retry-After); `detail` says which",
        ),
    }
    return {code: {"model": models[code][0], "description": models[code][1]} for code in codes}


# A security scheme, not a plain header parameter: the schema then says the mutating endpoints
# take a bearer token (auto_error off: require_token's 401 names the header it wants).
_BEARER = HTTPBearer(auto_error=False, description="The gateway's token (setting `token`)")


# --- middleware --------------------------------------------------------------------------

_UNAUTHORIZED = "missing or wrong bearer token (header Authorization: Bearer <token>)"


def _token_ok(credentials: str, token: str) -> bool:
    return secrets.compare_digest(credentials.strip().encode(), token.encode())


def _bearer_credentials(authorization: str | None) -> str:
    """The credentials of ``Authorization: Bearer <credentials>`` as HTTPBearer reads them
    ("" for no header, another scheme or nothing after it)."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return ""
    return credentials


async def _send_json(
    send: Send, status: int, content: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = encode_json_bytes(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TokenGate:
    """Answers 401 to a request for a mutating route without the bearer token, before the
    body is parsed (``BodyLimit``, outside it, has read it up to the limit): FastAPI parses
    and validates a body before it runs any dependency, so a body that is not JSON got 422
    from a client without the token. ``protected`` says which
    routes need it (a full match only: a wrong method is still 405)."""

    def __init__(self, app: ASGIApp, token: str, protected: Callable[[], list[BaseRoute]]) -> None:
        self.app = app
        self.token = token
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(r.matches(scope)[0] == Match.FULL for r in self.protected()):
            credentials = _bearer_credentials(Headers(scope=scope).get("authorization"))
            if not _token_ok(credentials, self.token):
                await _send_json(send, 401, {"detail": _UNAUTHORIZED}, ((b"www-authenticate", b"Bearer"),))
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, and bodies that do not arrive in
    full within ``timeout`` seconds with 408, before the endpoint (or the token) sees them:
    a client that never finishes its body (slow-loris) held its connection for ever."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit:
                    await self._too_large(send, declared)
                    return
        # Read the whole body first (bounded in size and time), then replay it: the endpoint
        # never sees a body over the limit and no framework layer can turn the refusal into
        # another status.
        chunks: list[bytes] = []
        received = 0
        other: Message | None = None  # a message that is not body (the client went away)
        with anyio.move_on_after(self.timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    other = message
                    break
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.limit:
                    break
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            await self._too_slow(send, received)
        elif received > self.limit:
            await self._too_large(send, received)
        elif other is not None:
            await self.app(scope, _replay([], other, receive), send)
        else:
            await self.app(scope, _replay(chunks, None, receive), send)

    async def _too_large(self, send: Send, size: int) -> None:
        detail = f"request body is {size} bytes or more; the limit is {self.limit}"
        # Connection: close, as for 408: the rest of the body is not read, and a client
        # dripping it after the answer would otherwise hold the connection for ever.
        await _send_json(send, 413, {"detail": detail, "field": "body"}, ((b"connection", b"close"),))

    async def _too_slow(self, send: Send, size: int) -> None:
        detail = (
            f"request body not received in full within {self.timeout:g} s (body_timeout_seconds);"
            f" {size} bytes arrived"
        )
        # Connection: close, or the server would keep reading the rest of the body for ever.
        await _send_json(send, 408, {"detail": detail, "field": "body"}, ((b"connection", b"close"),))


def _replay(chunks: list[bytes], first: Message | None, then: Receive | None = None) -> Receive:
    """A receive() that hands out the buffered body once, then defers to the real one."""
    pending: list[Message] = (
        [first] if first is not None else [{"type": "http.request", "body": b"".join(chunks)}]
    )

    async def receive() -> Message:
        if pending:
            return pending.pop()
        if then is not None:
            return await then()
        await asyncio.Event().wait()  # nothing more will come; park like a real connection
        raise AssertionError("unreachable")

    return receive


# Methods a client may send are any token; only these become a label of their own, so made-up
# ones cannot add series (memory held for ever, a longer scrape) to the latency histogram.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestTimer:
    """Request latency by method and route template (the stream route is left out: it lasts
    for ever). Other methods are counted as ``OTHER``, unmatched paths as ``unmatched``.

    The outermost layer, so the answers given before routing (413, 401) are timed too; the
    route is then found here, as it is for routes that do not name themselves in the scope
    (``/openapi.json``)."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, router: Router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/v1/events":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            path = getattr(scope.get("route"), "path", None) or _route_path(self.router.routes, scope)
            method = scope.get("method", "")
            self.metrics.request_latency.labels(method if method in _METHODS else "OTHER", path).observe(
                time.perf_counter() - start
            )


def _route_path(routes: list[BaseRoute], scope: Scope) -> str:
    """The template of the route ``scope`` goes to: a full match, else one of the path only
    (a wrong method), else ``unmatched``."""
    partial = "unmatched"
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
        if match == Match.PARTIAL and partial == "unmatched":
            partial = str(getattr(route, "path", "unmatched"))
    return partial


# --- server-sent events ------------------------------------------------------------------

# Set (in the request's task) when an event stream ends without completing its response on
# purpose: a client dropped for lagging, or one that did not take the end of the stream at a
# stop. GatewayServer then leaves out uvicorn's "ASGI callable returned without completing
# response." error, which would read as a fault of the gateway.
response_abandoned: contextvars.ContextVar[bool] = contextvars.ContextVar("response_abandoned", default=False)


_SSE_BATCH = 64
# Venue answers that end an order unfilled: counted apart from the kernel's own refusals.
_VENUE_ENDS = (KernelEventKind.REJECT, KernelEventKind.EXPIRED)
_CONTROL_APPLY_S = 2.0  # how long PUT /v1/control waits for a cluster control plane to apply a change
# How often the gateway looks whether the kernel's control state changed by another way than PUT
# /v1/control (the cluster's control plane, an edge freeze), to send it as a `control` event.
_CONTROL_WATCH_S = 0.5
# How long /healthz waits for the kernel held by another call before it answers `busy`: a
# health check's own timeout is a few seconds, and the kernel's wait (10 s) longer than that.
_HEALTH_WAIT_S = 2.0
# How long one call may hold the kernel's lane before /healthz answers `busy`: a venue's submit
# that does not answer holds every request that needs the kernel behind it. The kernel's own
# wait for a held kernel; a slow exchange's usual answer is well within it.
_LANE_HELD_S = 10.0
# How long a call may hold the kernel's lane at the stop before the stop says it waits for it.
_LANE_STOP_QUIET_S = 0.2


class EventStreamResponse(Response):
    """Streams a subscriber's frames until the client leaves, is dropped for lagging, or the
    server stops (then the frames still owed to the client go out before the end)."""

    media_type = "text/event-stream"

    def __init__(self, broadcaster: Broadcaster, sub: Subscriber, keepalive: float, metrics: GatewayMetrics):
        # No Response.__init__: it would declare a Content-Length for the empty initial body.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        self.broadcaster = broadcaster
        self.sub = sub
        self.keepalive = keepalive
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = self.sub
        # What the stream owes its client and has not written yet: the replay, then the frames
        # taken off the queue, each until the send that writes it returns. Canceled mid-send (a
        # stop while the client's socket is full), they go out with the queue's rest at the end.
        unsent: deque[bytes] = deque([b"retry: 1000\n\n", *sub.replay])
        sub.replay = []

        async def write_owed() -> None:
            batch = list(itertools.islice(unsent, _SSE_BATCH))  # one write for a burst
            await send({"type": "http.response.body", "body": b"".join(batch), "more_body": True})
            for _ in batch:
                unsent.popleft()

        self.metrics.sse_clients.inc()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with anyio.create_task_group() as tg:

                async def pump() -> None:
                    queue = sub.queue
                    while True:
                        if not unsent:
                            try:
                                unsent.append(await asyncio.wait_for(queue.get(), timeout=self.keepalive))
                            except TimeoutError:
                                unsent.append(b": keepalive\n\n")
                            _take(queue, unsent)  # an intent publishes several events at once
                        await write_owed()

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                async def watch_stop() -> None:
                    # Dropped for lagging (stop even if pump() is stuck on a full socket), or
                    # the server is stopping.
                    await sub.stop.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(watch_disconnect)
                tg.start_soon(watch_stop)
                await pump()
            ended = False
            if not sub.dropped:
                # The events owed first, then the end of the response, so the server can close
                # the connection; a client that stopped reading gets a moment, not a say in when
                # the server stops (cut off, with no end: it can tell it missed the rest).
                with anyio.move_on_after(1.0):
                    while unsent or not sub.queue.empty():
                        _take(sub.queue, unsent)
                        await write_owed()
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    ended = True
            if not ended:
                response_abandoned.set(True)  # uvicorn closes the connection, nothing to log
        finally:
            self.broadcaster.unsubscribe(sub)
            self.metrics.sse_clients.dec()


def _take(queue: asyncio.Queue[bytes], frames: deque[bytes]) -> None:
    """Moves frames from ``queue`` to ``frames`` while it holds fewer than ``_SSE_BATCH``."""
    while not queue.empty() and len(frames) < _SSE_BATCH:
        frames.append(queue.get_nowait())


# --- the app -----------------------------------------------------------------------------

# Each kernel's turn, held by a gateway lane for each call it makes: two lanes over one kernel
# (an app served again while a call its last end gave up on still runs, or two apps made for one
# kernel) called it at once, the second waiting 10 s for the kernel, then answering busy.
_turns: dict[int, threading.Lock] = {}
_turns_lock = threading.Lock()


def _kernel_turn(kernel: Any) -> threading.Lock:
    with _turns_lock:
        turn = _turns.get(id(kernel))
        if turn is None:
            turn = _turns[id(kernel)] = threading.Lock()
            with contextlib.suppress(TypeError):  # not weakly referable: kept for the process
                weakref.finalize(kernel, _turns.pop, id(kernel), None)
        return turn


# How many ENTERs' slots, and intents' outcomes, the gateway remembers by their intent_id,
# for retries.
_PLACED_INTENTS = 10_000


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        # Starlette's json.loads keeps the last of two equal keys, acting on a value the client
        # may not have meant ("side" twice); stdio refuses them with the same check.
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), object_pairs_hook=unique_keys)
        return self._json


class _StrictJSONRoute(APIRoute):
    """A route whose JSON body may not give a key twice, at any depth (``unique_keys``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict


_RETRY_NOTE = (
    "Answers the kernel's outcome (a refusal is 200 with `accepted: false`). A retry under an"
    " `intent_id` the kernel took before is refused `DUPLICATE_INTENT`; for the last 10,000"
    " intents whose client gave an `intent_id`, `details.first_outcome` says what became of"
    " the first attempt (`accepted`, `diagnostic_code`, `state`, `slot_id`, `trade_id`,"
    " `venue_events`, `seq`): `RATE_LIMITED`, or a `REJECT` in `venue_events`, means nothing"
    " was placed (send it again under a new `intent_id`)."
)


def _first_outcome(
    outcome: KernelOutcome, applied: list[tuple[KernelTransition, VenueEvent]]
) -> dict[str, Any]:
    """What a retry refused as DUPLICATE_INTENT is told of its first attempt (details.first_outcome).
    Its venue events are those the kernel applied to the intent's slot: a reject the answer
    carried of an order the kernel does not know (or another slot's) says nothing of this one."""
    return {
        "accepted": outcome.accepted,
        "diagnostic_code": outcome.diagnostic_code.name,
        "state": outcome.state.name,
        "slot_id": outcome.slot_id,
        "trade_id": outcome.trade_id,
        "venue_events": [e.kind.name for t, e in applied if t.slot_id == outcome.slot_id],
        "seq": outcome.seq,
    }


def create_app(kernel: ExecutionKernel, settings: GatewaySettings | None = None) -> FastAPI:
    """Build the gateway for ``kernel``. Without a configured token a random one is made
    (``app.state.token``) so the mutating endpoints are never open by accident."""
    settings = settings or GatewaySettings()
    token = settings.token or secrets.token_urlsafe(24)
    metrics = GatewayMetrics(kernel)
    broadcaster = Broadcaster(
        history=settings.sse_history,
        client_buffer=settings.sse_client_buffer,
        on_drop=metrics.sse_dropped.inc,
    )
    page = resources.files("dita.gateway").joinpath("static/index.html").read_text(encoding="utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # `dita serve` runs without lifespan: GatewayServer starts the polling, and at its stop
        # closes the kernel. Here the kernel is the embedder's (made and passed in by them, closed
        # by them): the end stops what the app started, the polling and the lane's thread.
        app.state.open_lane()
        task = app.state.start_polling()
        try:
            yield
        finally:
            deadline = time.monotonic() + settings.stop_grace_seconds
            await app.state.stop_polling(task, deadline)
            await app.state.end_lane(deadline)

    app = FastAPI(
        lifespan=lifespan,
        title="dita gateway",
        version="1",
        description="HTTP API over one dita ExecutionKernel. Mutating endpoints need a bearer token.",
        docs_url=None,  # the bundled docs pages load scripts from a CDN; the schema is enough
        redoc_url=None,
        default_response_class=SafeJSONResponse,
    )
    app.router.route_class = _StrictJSONRoute  # before the routes: each is made of it
    app.state.kernel = kernel
    app.state.token = token
    app.state.broadcaster = broadcaster
    app.state.metrics = metrics
    app.state.settings = settings
    # Read once: each read of them waits for the kernel, and /healthz must not.
    kernel_id, max_slots = kernel.kernel_id, kernel.max_slots
    stopped_reason = (
        "the gateway stopped: its server's lifespan ended and its kernel lane is shut down (the"
        f" kernel {kernel_id!r} is not closed by it: its embedder's to close)"
    )

    # The kernel's lane: one thread makes every kernel call of the requests and the polling,
    # in the order they came (a worker per request would race its commands, and the kernel
    # refuses a second caller as busy after 10 s). Made on the event loop, a call stalled every
    # request while another thread held the kernel, or while a venue took its time to answer.
    lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dita-gateway-kernel")
    app.state.kernel_lane = lane
    turn = _kernel_turn(kernel)  # shared with every other lane over this kernel
    on_lane = threading.local()  # .loop: the event loop of the call the lane runs
    lane_call_since: list[float | None] = [None]  # when the call the lane runs began
    # Why the lane takes no more calls, [] while it takes them: "closed" once the stop queued the
    # kernel's close on it (close_kernel), "stopped" once the lifespan's end shut it down (end_lane).
    lane_ended: list[str] = []

    def open_lane() -> None:
        """A new lane at a lifespan's start, when an earlier lifespan's end shut the lane down
        (the app served again, as a TestClient per test does); the kernel still takes input."""
        nonlocal lane
        if lane_ended == ["stopped"]:
            lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dita-gateway-kernel")
            app.state.kernel_lane = lane
            lane_ended.clear()

    def lane_call(
        call: Callable[[], T], loop: asyncio.AbstractEventLoop, began: threading.Event | None = None
    ) -> Callable[[], T]:
        """``call`` as the lane runs it, in the kernel's turn (``began`` set once it has it)."""

        def run() -> T:
            with turn:
                if began is not None:
                    began.set()  # before the lane is marked held: a held lane is another call's
                on_lane.loop = loop
                lane_call_since[0] = time.monotonic()
                try:
                    return call()
                finally:
                    lane_call_since[0] = None
                    on_lane.loop = None

        return run

    def to_lane(call: Callable[[], T]) -> asyncio.Future[T]:
        """``call`` queued on the kernel's lane now, after the calls queued before it."""
        if lane_ended == ["stopped"]:
            raise GatewayStopped(stopped_reason)  # a 503 that says so, not a bare 500
        if lane_ended:
            # input_stopped() reads this as closed: a 503 that says so, not a bare 500.
            raise RuntimeError(f"kernel {kernel_id!r} is closed: the gateway stopped (its lane is shut down)")
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(lane, lane_call(call, loop))

    async def in_lane(call: Callable[[], T]) -> T:
        """``call``'s result, run on the kernel's lane after the calls queued before it."""
        try:
            return await to_lane(call)
        except asyncio.CancelledError:
            if lane_ended:
                # The stop gave up on the call ahead of this one, closed the request's connection
                # and ended the event loop: uvicorn's traceback of the cancel would read as a fault
                # (the stop's ERROR says what was not done).
                response_abandoned.set(True)
            raise

    def told_if_raised(what: str, future: Future[Any]) -> None:
        """Log the error of ``what``, queued on the lane at a stop that gave up on the call ahead
        of it, once it ran: its future is read by nobody, and the log said it would be done."""
        exc = None if future.cancelled() else future.exception()
        if exc is not None:
            log.error(
                "stopping: %s, once the call that held the kernel's lane returned, raised %s: %s",
                what,
                type(exc).__name__,
                shortened(str(exc), 300),
            )

    async def at_stop_in_lane(call: Callable[[], Any], deadline: float, before: str) -> Future[Any] | None:
        """``call`` queued on the lane at the stop: its future once it ran, or None when another
        call held the lane past ``deadline`` (monotonic; a warning named the one under way): it
        stays queued. A lane free at the deadline, or held by a call begun under 0.2 s before,
        still begins it (the stop's grace may have gone to the connections), up to 0.2 s past
        ``deadline`` (quick calls queued one after another held it for all of them). Once begun it is
        waited for to its end (a close that flushes a journal must not be cut short). Not an
        asyncio future: one the stop gave up on, set once the loop is closed, logged an error."""
        began = threading.Event()
        future = lane.submit(lane_call(call, asyncio.get_running_loop(), began))
        warned = False
        while True:
            since = lane_call_since[0]  # read before began: a call under way then is not this one
            if began.is_set():
                break
            now = time.monotonic()
            # Said before any give-up below: a loop slowed past the deadline (a loaded host) gave up
            # at its first look, and what the stop had waited for was never said.
            if not warned and since is not None and now - since > _LANE_STOP_QUIET_S:
                warned = True
                log.warning(
                    "stopping: waiting up to %.1f s more (stop_grace_seconds) for the call that has held"
                    " the kernel's lane for %.1f s (a venue's submit or cancel not answered?), before %s",
                    max(deadline - now, 0.0), now - since, before,
                )  # fmt: skip
            if since is not None and now >= deadline and now - since > _LANE_STOP_QUIET_S:
                break  # held past the deadline by a call that is no quick read about to return
            if now >= deadline + _LANE_STOP_QUIET_S:
                break  # quick calls queued one after another: each looked about to return
            await asyncio.sleep(0.01)
        if not began.is_set():
            future.add_done_callback(functools.partial(told_if_raised, before))
            return None
        while not future.done():
            await asyncio.sleep(0.01)
        return future

    # The slot and trade of each ENTER taken under an intent_id its client chose, newest
    # last: a retry without slot_id goes back to that slot while the trade holds it, so the
    # kernel's DUPLICATE_INTENT names where the intent went (and is no 409 when every slot is
    # busy by then). The oldest are forgotten first; a retry of one, or of a trade whose slot
    # was taken since, goes to a free slot, and the kernel still refuses it.
    placed: OrderedDict[str, tuple[int, str]] = OrderedDict()
    # What became of each intent taken under an intent_id its client chose, newest last: a
    # retry that the kernel refuses as DUPLICATE_INTENT carries it as details.first_outcome,
    # since the refusal alone cannot tell an order in the market from one the venue rate
    # limited or rejected (nothing placed: send it again under a new id).
    first_outcomes: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def placed_slot(intent_id: str | None) -> int | None:
        slot_id, trade_id = placed.get(intent_id, (None, None)) if intent_id else (None, None)
        if slot_id is None or kernel.slot_dict(slot_id).get("trade_id") != trade_id:
            return None
        return slot_id

    def send(event_type: str, data: dict[str, Any]) -> None:
        broadcaster.publish(event_type, data)
        metrics.sse_events.inc()

    def publish(event_type: str, data: dict[str, Any]) -> None:
        loop = getattr(on_lane, "loop", None)
        if loop is None:
            send(event_type, data)
            return
        # From the lane: the broadcaster's queues are the event loop's. In the lane's order, and
        # before the call's result wakes its request (which is scheduled after these).
        with contextlib.suppress(RuntimeError):  # the loop closed: no stream is left to tell
            loop.call_soon_threadsafe(send, event_type, data)

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        # TokenGate answers first (before the body is parsed); this declares the scheme in the
        # schema and stays as a second check.
        value = credentials.credentials if credentials is not None else ""
        if not _token_ok(value, token):
            raise HTTPException(status_code=401, detail=_UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(require_token)]

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if isinstance(exc.body, bytes):
            # FastAPI parses a body as JSON only under a JSON content type and otherwise
            # validates the raw text, which reads as "should be a valid dictionary" about a
            # body that may well be one (`curl -d` sends a form type): name the header instead.
            exc = _content_type_error(request.headers.get("content-type"))
        errors = [_clean_error(e) for e in exc.errors()]
        message = "; ".join(_describe(e) for e in errors)
        return SafeJSONResponse({"detail": errors, "message": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, DuplicateKey):
            # Its value given again, as stdio's INVALID_JSON names it (a list or object left out).
            error = {
                "loc": ("body", cause.key),
                "msg": str(cause),
                "type": "duplicate_key",
                "input": cause.value,
            }
            return await _invalid(request, RequestValidationError([error]))
        if exc.status_code == 400 and isinstance(cause, ValueError | RecursionError):
            # FastAPI answers a body json.loads() raised on past JSONDecodeError (not UTF-8,
            # nested too deeply, an integer too long) with a bare 400: it is a body that is
            # not JSON like any other.
            error = {"loc": ("body",), "msg": "JSON decode error", "type": "json_invalid"}
            return await _invalid(
                request, RequestValidationError([{**error, "ctx": {"error": _unreadable(cause)}}])
            )
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route on the path only:
            # GET for /v1/control, as if PUT were not there.
            allowed = {
                method
                for route in app.routes
                if route.matches(request.scope)[0] != Match.NONE
                for method in getattr(route, "methods", None) or ()
            }
            exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(sorted(allowed))})
        return await http_exception_handler(request, exc)

    def log_failure() -> str | None:
        """What failed the kernel's write-ahead log, after which it takes no more input; None
        while it takes input (or keeps no log)."""
        info = kernel.wal_info()
        poisoned = info.get("poisoned") if info else None
        return str(poisoned) if poisoned else None

    def closed_reason() -> str | None:
        """Why the kernel takes no more input, closed or closing; None while it takes input."""
        return kernel.input_refused_reason()

    @app.exception_handler(WalError)
    @app.exception_handler(OSError)
    async def _kernel_failed(request: Request, exc: Exception) -> Response:
        # Its log failed (WalError, or the OSError of the write that failed it): the kernel
        # refuses every input from then on, and a bare 500 told no client why. Whether an
        # OSError failed it is the kernel's to say (wal_info), asked off the event loop: held by
        # another thread, the kernel made every request, /healthz included, wait up to 10 s.
        try:
            refused = isinstance(exc, WalError) or await anyio.to_thread.run_sync(input_refused, kernel, exc)
        except RuntimeError as busy:  # held past its wait: whether the log failed is not known
            if not kernel_busy(busy):
                raise
            refused = False
        if not refused:
            raise exc
        detail = (
            f"the kernel takes no more input: its write-ahead log failed ({type(exc).__name__}:"
            f" {exc}); a new kernel on its wal_dir recovers from the log"
        )
        return SafeJSONResponse({"detail": detail}, status_code=503)

    @app.exception_handler(RuntimeError)
    async def _kernel_unavailable(request: Request, exc: Exception) -> Response:
        # The kernel busy in another thread's call past its wait, or closed (closing), or the
        # gateway stopped: a bare 500 told no client whether to send the request again.
        if isinstance(exc, GatewayStopped):
            detail = f"the gateway takes no more input: it stopped ({exc}); not retryable until served again"
            return SafeJSONResponse({"detail": detail}, status_code=503)
        if kernel_busy(exc):
            detail = (
                f"the kernel is busy in another call ({exc}); retryable: send the request again (an"
                " intent under the same intent_id: one the kernel took is refused DUPLICATE_INTENT)"
            )
            return SafeJSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})
        if input_stopped(kernel, exc):
            detail = (
                f"the kernel takes no more input: it is closed or closing ({exc}); not retryable on"
                " this gateway: a new kernel on its wal_dir takes it"
            )
            return SafeJSONResponse({"detail": detail}, status_code=503)
        raise exc

    def all_slots() -> list[dict[str, Any]]:
        # slot_dict(), not slots(): every answer and event gives a slot the same fields
        # (slots() leaves out kernel_id).
        return [kernel.slot_dict(i) for i in range(max_slots)]

    def slot_or_404(slot_id: int) -> dict[str, Any]:
        if not 0 <= slot_id < max_slots:
            raise HTTPException(
                404, f"slot_id {slot_id} is out of range: this kernel has slots 0..{max_slots - 1}"
            )
        return kernel.slot_dict(slot_id)

    def submit(intent: KernelIntent, client_chose_id: bool) -> dict[str, Any]:
        """Process ``intent``, count and publish it; returns the answer (the outcome's dict)."""
        start = time.perf_counter()
        outcome = kernel.process_intent(intent)
        metrics.intent_latency.observe(time.perf_counter() - start)
        metrics.intents.labels(intent.action.name, str(outcome.accepted).lower()).inc()
        if not outcome.accepted:
            metrics.rejects.labels(outcome.diagnostic_code.name).inc()
        # What the kernel applied, not every event of the venue's answer: a fill sent twice
        # or beyond its order was refused, and counting it reported a fill never booked.
        applied = applied_events(outcome)
        fills = 0
        for t, e in applied:
            if t.trigger in FILL_TRIGGERS:
                fills += 1
            elif e.kind in _VENUE_ENDS:
                metrics.venue_rejects.labels(e.kind.name).inc()
        if fills:
            metrics.fills.inc(fills)
        details = outcome.details
        first = first_outcomes.get(intent.intent_id) if client_chose_id else None
        if outcome.diagnostic_code == KernelDiagnosticCode.DUPLICATE_INTENT:
            if first is not None:
                details = {**details, "first_outcome": first}
        elif client_chose_id:
            first_outcomes[intent.intent_id] = _first_outcome(outcome, applied)
            first_outcomes.move_to_end(intent.intent_id)
            if len(first_outcomes) > _PLACED_INTENTS:
                first_outcomes.popitem(last=False)
        publish(
            "outcome",
            {
                "intent_id": intent.intent_id,
                "action": intent.action.name,
                "asset": intent.asset,
                "slot_id": intent.slot_id,
                "accepted": outcome.accepted,
                "diagnostic_code": outcome.diagnostic_code.name,
                "severity": outcome.severity.name,
                "state": outcome.state.name,
                "details": details,
                "fills": fills,
                "seq": outcome.seq,
            },
        )
        # The intent's slot, and every other slot the venue's answer moved (a fill of an order
        # resting there, reported with this one's): a page following the events stayed stale.
        touched = dict.fromkeys([intent.slot_id, *(t.slot_id for t in outcome.transitions)])
        try:
            for slot_id in touched:
                if 0 <= slot_id < max_slots:
                    publish("slot", kernel.slot_dict(slot_id))
            if fills:
                publish("account", kernel.account())
        except RuntimeError as exc:
            if not kernel_busy(exc):
                raise
            # The intent is taken: a 503 "send it again" made a retry without its intent_id a
            # second order. The answer stands; the streams hear the slots at their next change.
            log.warning(
                "intent %s taken, but the kernel was busy for its slot and account events: %s",
                intent.intent_id,
                exc,
            )
        answer = outcome.to_dict()
        answer["details"] = details
        return answer

    # --- what the venue reports later ------------------------------------------------------

    # Polled events the kernel raised on (busy), given to it first at the next poll; and, once
    # the kernel takes no more input, why: the venue is then polled no more.
    polled = PolledEvents()
    polling_ended: list[str] = []

    def tell(event: VenueEvent, **outcome: Any) -> None:
        """Publish a polled ``event`` as a ``venue_event``, with what became of it."""
        named = {"event_id": event.event_id, "kind": event.kind.name, "slot_id": event.slot_id}
        publish("venue_event", {**named, "trade_id": event.trade_id, **outcome})

    def take_polled(events: list[Any]) -> int:
        """Give the kernel the polled events waiting, then ``events``, and publish what they
        moved (what was applied before the kernel raised included); the fills booked."""
        fills = 0
        touched: dict[int, None] = {}

        def unfit(event: Any, exc: Exception) -> None:  # not a VenueEvent: the adapter's bug
            metrics.venue_poll_errors.inc()
            log.warning("venue poll gave what the kernel cannot take: %s", shortened(str(exc), 300))

        def applied(event: VenueEvent, outcome: KernelOutcome) -> None:
            nonlocal fills
            booked = sum(1 for t, _ in applied_events(outcome, [event]) if t.trigger in FILL_TRIGGERS)
            fills += booked
            if not outcome.accepted:
                log.warning(
                    "venue event %s (%s, slot %s) refused: %s %s",
                    event.event_id, event.kind.name, event.slot_id,
                    outcome.diagnostic_code.name, shortened(str(outcome.details), 300),
                )  # fmt: skip
            elif event.kind in _VENUE_ENDS:
                metrics.venue_rejects.labels(event.kind.name).inc()
            tell(
                event,
                accepted=outcome.accepted,
                diagnostic_code=outcome.diagnostic_code.name,
                state=outcome.state.name,
                fills=booked,
                seq=outcome.seq,
            )
            touched.update(dict.fromkeys(t.slot_id for t in outcome.transitions))

        def set_aside(event: VenueEvent, exc: Exception) -> None:
            # The kernel raised on it poll after poll (named at ERROR by PolledEvents): counted,
            # and told to the streams, so an operator sees a fill that waits for reconciling.
            metrics.venue_poll_errors.inc()
            error = shortened(f"{type(exc).__name__}: {exc}", 300)
            refused = {"accepted": False, "diagnostic_code": "SET_ASIDE", "state": None}
            tell(event, **refused, fills=0, seq=None, error=error)

        try:
            polled.take(kernel, events, applied, unfit, set_aside=set_aside)
        except Exception as exc:
            kernel_raised(exc)
        if fills:
            metrics.fills.inc(fills)
        for slot_id in touched:
            if 0 <= slot_id < max_slots:
                publish("slot", kernel.slot_dict(slot_id))
        if fills:
            publish("account", kernel.account())
        return fills

    def kernel_raised(exc: Exception) -> None:
        """The kernel raised on a polled event (``polled`` keeps it and those after it). Busy:
        they are given to it at the next poll. Taking no more input (closed, its log failed):
        they are named in the log, for reconciliation, and the venue is polled no more: the
        news it gave from then on could not be applied either, and would be lost."""
        metrics.venue_poll_errors.inc()
        failure = f"{type(exc).__name__}: {shortened(str(exc), 300)}"
        if input_stopped(kernel, exc):
            polling_ended.append(failure)
            log.error(
                "the kernel takes no more input (%s): the venue is polled no more; the venue events"
                " polled and not applied, to reconcile (a new kernel on its wal_dir runs"
                " reconcile_with_venue): %s",
                failure,
                polled.drop() or "none",
            )
            return
        log.log(
            logging.WARNING if kernel_busy(exc) else logging.ERROR,
            "taking a polled venue event raised %s: the %d not taken (it and those after it) are"
            " kept, given to the kernel first at the next poll (the venue asked for more once they are)",
            failure,
            len(polled.waiting),
        )

    poll_events = getattr(kernel.venue, "poll_events", None)

    # The control state the event stream last sent (or the page loaded at the start).
    published_control: dict[str, Any] = dict(kernel.control())

    def publish_control_if_changed() -> None:
        """Sends the kernel's control state as a `control` event when it changed by another way
        than PUT /v1/control: a HALTED set through the cluster (`dita control set`) or an edge
        freeze left the page showing the mode it loaded until reloaded."""
        control = kernel.control()
        if control != published_control:
            published_control.clear()
            published_control.update(control)
            publish("control", control)

    async def poll_venue() -> int:
        """One poll of a venue that reports later (``poll_events``: a resting order's fills, the
        outcome of a submit in doubt): asked on a worker thread, as a REST venue takes its time
        and the gateway (a halt) must not wait for it; what it gave applied and published here.
        Returns the fills booked; a poll that raises is logged and counted, the next one runs."""
        if poll_events is None or polling_ended:
            return 0
        fills = 0
        try:
            fills, ask = await in_lane(take_waiting)
            if not ask:
                return fills
            # A venue's fault (a raise, an answer that is not a list) must not stop the polling.
            given_up: list[bool] = []  # [True] once the stop gave this poll up
            polls_under_way.append(given_up)
            try:
                problem = await anyio.to_thread.run_sync(ask_venue, given_up)
            finally:
                polls_under_way.remove(given_up)
            if problem:
                metrics.venue_poll_errors.inc()
                log.warning("%s", shortened(problem, 300))
                return fills
            # Shielded: the stop's cancel must not drop the take from the lane's queue (a take
            # the stop gives up on, behind a submit that does not answer, is canceled with the
            # event loop; the events stay for the stop's last take, and its log).
            return fills + await asyncio.shield(in_lane(lambda: take_polled([])))
        except Exception as exc:  # nor a publish that raised
            metrics.venue_poll_errors.inc()
            log.warning("venue poll_events gave %s: %s", type(exc).__name__, shortened(str(exc), 300))
            return fills

    # The polls under way on a worker thread, each [] until the stop gives it up ([True]); the lock
    # orders a poll's answer with the stop's giving up.
    polls_under_way: list[list[bool]] = []
    poll_handoff = threading.Lock()

    def ask_venue(given_up: list[bool]) -> str:
        """One poll (on a worker thread): what the venue gave joins the events waiting, for the
        take after it, or for the stop's last take when the stop cancels the polling meanwhile
        (no lane call touches them until either); what went wrong, or "". Given up by the stop
        (past its grace), the answer is named at ERROR instead: the venue gave it once, and it
        went nowhere unseen."""
        events, problem = poll_once(poll_events)  # type: ignore[arg-type]  # polled only with one
        with poll_handoff:
            if not given_up:
                polled.waiting.extend(events)
                return problem
        if events:
            late = PolledEvents()
            late.waiting.extend(events)
            log.error(
                "a venue poll the stop gave up on (stop_grace_seconds) answered afterwards: not"
                " applied, to reconcile (a new kernel on its wal_dir runs reconcile_with_venue): %s",
                late.described(),
            )
        return problem

    def take_waiting() -> tuple[int, bool]:
        """Give the kernel the polled events it raised on last time (on the lane); the fills
        booked, and whether the venue may be asked for more: while the kernel still raises on
        them, the venue keeps its newer news (so they reach the kernel in the order it gave them)."""
        if not polled.waiting:
            return 0, True
        fills = take_polled([])
        return fills, not (polled.waiting or polling_ended)

    async def poll_forever(stop: asyncio.Event) -> None:
        next_poll = 0.0
        while not stop.is_set():
            if poll_events is not None and time.monotonic() >= next_poll:
                await poll_venue()
                next_poll = time.monotonic() + settings.venue_poll_seconds
            with contextlib.suppress(RuntimeError):  # the kernel busy past its wait: next round
                await in_lane(publish_control_if_changed)
            wait = _CONTROL_WATCH_S
            if poll_events is not None:
                wait = min(wait, max(0.0, next_poll - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    stops: dict[asyncio.Task[None], asyncio.Event] = {}

    def start_polling() -> asyncio.Task[None]:
        """The task polling the venue every ``venue_poll_seconds`` (a venue that reports later:
        ``poll_events``; the native mock answers every order at once) and sending the kernel's
        control state as a `control` event whenever it changed (every ``_CONTROL_WATCH_S``)."""
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(poll_forever(stop))
        stops[task] = stop
        return task

    async def stop_polling(task: asyncio.Task[None] | None, deadline: float | None = None) -> None:
        """End the polling before the kernel closes. A poll under way is waited for (until
        ``deadline``, monotonic; by default ``stop_grace_seconds`` from now) and its answer
        applied: canceled, the thread went on and what it returned was dropped, fills the venue
        reports only once (CcxtVenue) never booked."""
        if task is None:
            return
        stops.pop(task).set()
        if deadline is None:
            deadline = time.monotonic() + settings.stop_grace_seconds
        done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        if not done:
            with poll_handoff:
                asked = list(polls_under_way)
                for given_up in asked:
                    given_up.append(True)
            if asked:
                log.warning(
                    "stopping: the venue's poll did not answer within %g s (stop_grace_seconds): what"
                    " it gives later is not applied (named at ERROR, to reconcile, if it comes while"
                    " the process runs)",
                    settings.stop_grace_seconds,
                )
            task.cancel()
        # Within the same grace: a call on the lane that does not return (a venue's submit) held
        # the stop for ever. Given up on, the take stays queued, ahead of the kernel's close.
        await at_stop_in_lane(last_take, deadline, "giving the kernel the polled venue events a last time")

    def last_take() -> None:
        """At the stop (on the lane, after what the polling queued there): the polled events the
        kernel raised on (busy) given to it a last time before it closes, or named for reconciling."""
        if polled.waiting and not polling_ended:
            take_polled([])
        if polled.waiting:
            log.error(
                "the venue events polled and not applied (the kernel raised on them), to reconcile"
                " (a new kernel on its wal_dir runs reconcile_with_venue): %s",
                polled.drop(),
            )

    def polled_not_applied() -> str:
        """The polled venue events not applied yet, as a stop that gave up names them ("none")."""
        with contextlib.suppress(RuntimeError):  # the lane took them meanwhile
            return polled.described() or "none"
        return "none"

    async def close_kernel(timeout: float, deadline: float | None = None) -> bool:
        """Close the kernel on its lane (after the calls queued there) and shut the lane down, at
        the stop, once the requests are done: closed beside a call on the lane, the kernel waited
        10 s for that call's venue answer, then raised busy and skipped the close's sync. Waits for
        a call holding the lane until ``deadline`` (monotonic; by default ``timeout`` seconds from
        now: the stop's grace); False, logged with what was not synced, when it gave up."""
        if lane_ended == ["stopped"]:
            open_lane()  # after a lifespan's end: a lane of its own for the close
        if lane_ended:
            return True
        lane_ended.append("closed")
        if deadline is None:
            deadline = time.monotonic() + timeout
        closing = await at_stop_in_lane(kernel.close, deadline, "closing the kernel")
        lane.shutdown(wait=False)  # its thread ends once the calls queued are done
        if closing is None:
            owed = polled_not_applied()
            log.error(
                "stopping: the kernel %r is not closed: the call holding the kernel's lane did not"
                " return within the stop's %g s (stop_grace_seconds); not synced: the write-ahead"
                " log's newest inputs (under fsync batch or none), the journal's last rows and the"
                " projection's last state; not applied, to reconcile: the venue events polled, %s."
                " A new kernel on its wal_dir recovers what the log holds (and runs"
                " reconcile_with_venue); this one takes them and closes on the lane once that call"
                " returns, if the process still runs",
                kernel_id,
                timeout,
                owed,
            )
            return False
        await anyio.to_thread.run_sync(lane.shutdown)  # nothing is queued after the close: it ends now
        closing.result()  # the close's own error (a journal that failed to flush) is raised
        return True

    async def end_lane(deadline: float) -> bool:
        """At a lifespan's end: no more calls on the lane, and its thread ended once the calls
        queued there are done, the kernel left open (its embedder's to close). Waits for a call
        holding the lane until ``deadline`` (monotonic); False, logged, when it gave up: the
        thread then ends once that call and those behind it have returned."""
        if lane_ended:
            return True
        lane_ended.append("stopped")
        ended = await at_stop_in_lane(lambda: None, deadline, "shutting the kernel's lane down")
        lane.shutdown(wait=False)  # its thread ends once the calls queued are done
        if ended is None:
            owed = polled_not_applied()
            log.error(
                "stopping: the call holding the kernel's lane did not return within the stop's %g s"
                " (stop_grace_seconds): the lane's thread ends once it returns, after the calls"
                " queued behind it; not applied yet, to reconcile if the process ends before: the"
                " venue events polled, %s. The kernel %r is not closed by the gateway: a close"
                " made meanwhile waits for that call (10 s, then raises busy)",
                settings.stop_grace_seconds,
                owed,
                kernel_id,
            )
            return False
        await anyio.to_thread.run_sync(lane.shutdown)  # nothing is queued after it: it ends now
        return True

    app.state.poll_venue = poll_venue
    app.state.start_polling = start_polling
    app.state.stop_polling = stop_polling
    app.state.close_kernel = close_kernel
    app.state.open_lane = open_lane
    app.state.end_lane = end_lane

    # --- page and health -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def operator_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    def health_now() -> tuple[Any, str, str | None]:
        """The kernel's mode, and whether it takes input: ``ok`` (reason None), ``failed`` (its
        log's error) or ``closed`` (closed or closing, or the gateway stopped: why)."""
        mode = kernel.control().get("mode")
        failure = log_failure()
        if failure is not None:
            return mode, "failed", failure
        closed = closed_reason()
        if closed is None and lane_ended == ["stopped"]:
            closed = stopped_reason  # the kernel takes input, but not through this gateway
        return mode, "ok" if closed is None else "closed", closed

    # The read under way (off the event loop and the lane): checks made while the kernel is held
    # share it, rather than leaving a thread each waiting for the kernel.
    health_reads: list[asyncio.Future[tuple[Any, str, str | None]]] = []

    def health_read() -> asyncio.Future[tuple[Any, str, str | None]]:
        loop = asyncio.get_running_loop()
        if not health_reads or health_reads[0].done() or health_reads[0].get_loop() is not loop:
            read: asyncio.Future[tuple[Any, str, str | None]] = loop.create_future()
            read.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: no warning

            def settle(result: tuple[Any, str, str | None] | None, failure: Exception | None) -> None:
                if read.done():
                    return
                if failure is not None:
                    read.set_exception(failure)
                else:
                    read.set_result(result)  # type: ignore[arg-type]  # None only with a failure

            def run() -> None:
                result, failure = None, None
                try:
                    result = health_now()
                except Exception as exc:
                    failure = exc
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for it
                    loop.call_soon_threadsafe(settle, result, failure)

            # A thread of its own, not the loop's default executor: that pool is the embedder's
            # too (asyncio.to_thread), and with it busy the check waited behind their work and
            # answered `busy`, the kernel free. Not a daemon: the exit waits for its read (10 s
            # at most), where a daemon thread left inside the kernel aborted the process.
            threading.Thread(target=run, name="dita-gateway-health").start()
            health_reads[:] = [read]
        return health_reads[0]

    @app.get(
        "/healthz",
        summary="Liveness and a short status",
        response_model=dict[str, Any],
        responses={
            503: {
                "description": "The kernel takes no more input: its write-ahead log failed (`status`"
                " `failed`, `reason` the log's error), or it is closed or closing, or the gateway stopped"
                " (its server's lifespan ended; `status` `closed`);"
                f" or it is held by another call for over {_HEALTH_WAIT_S:g} s, or one call has held the"
                f" kernel's lane (the requests' turn) for over {_LANE_HELD_S:g} s (`status` `busy`, with"
                " Retry-After)"
            }
        },
    )
    async def healthz() -> Any:
        health: dict[str, Any] = {
            "status": "ok",
            "kernel_id": kernel_id,
            "max_slots": max_slots,
            "mode": None,
            "sse_clients": broadcaster.clients,
            "last_event_id": broadcaster.last_id,
        }
        try:
            mode, status, reason = await asyncio.wait_for(asyncio.shield(health_read()), _HEALTH_WAIT_S)
        except (TimeoutError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not kernel_busy(exc):
                raise
            # Held by another call (a thread stuck inside it, say): the commands wait for it too.
            reason = f"the kernel is held by another call for over {_HEALTH_WAIT_S:g} s"
            busy = {**health, "status": "busy", "reason": reason}
            return SafeJSONResponse(busy, status_code=503, headers={"Retry-After": "1"})
        health["mode"] = mode
        since = lane_call_since[0]
        if status == "ok" and since is not None and time.monotonic() - since > _LANE_HELD_S:
            # The kernel is free, but one call (a venue's submit that does not answer) holds the
            # lane, and every request that needs the kernel waits behind it: "ok" kept it in service.
            reason = (
                f"one call has held the kernel's lane for over {_LANE_HELD_S:g} s (a venue call not"
                " answered?): the requests that need the kernel wait behind it"
            )
            busy = {**health, "status": "busy", "reason": reason}
            return SafeJSONResponse(busy, status_code=503, headers={"Retry-After": "1"})
        if status == "ok":
            return health
        # "ok" while the kernel refused every input kept a gateway that cannot trade in service.
        return SafeJSONResponse({**health, "status": status, "reason": reason}, status_code=503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        # Off the event loop: the scrape reads the kernel's counters, which waits for the kernel.
        text = await anyio.to_thread.run_sync(generate_latest, metrics.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    # --- reads ---------------------------------------------------------------------------

    @app.get("/v1/slots", summary="Every slot's state")
    async def list_slots() -> list[dict[str, Any]]:
        return await in_lane(all_slots)

    @app.get("/v1/slots/{slot_id}", summary="One slot's state", responses=_answers(404, 422))
    async def get_slot(slot_id: SlotPath) -> dict[str, Any]:
        return await in_lane(lambda: slot_or_404(slot_id))

    @app.get("/v1/orders", summary="Orders working at the venue")
    async def list_orders() -> list[dict[str, Any]]:
        return await in_lane(lambda: [o.to_dict() for o in kernel.open_orders()])

    @app.get("/v1/account", summary="The K/E account and its reconciliation")
    async def get_account() -> dict[str, Any]:
        return await in_lane(kernel.account)

    @app.get("/v1/control", summary="Trading mode, journal verbosity, ClickHouse debug switch")
    async def get_control() -> dict[str, Any]:
        return await in_lane(kernel.control)

    # --- writes --------------------------------------------------------------------------

    @app.put(
        "/v1/control",
        dependencies=auth,
        summary="Change the control state (mode switch etc.)",
        responses={
            **_answers(401, 408, 413, 422),
            409: {
                "model": ErrorAnswer,
                "description": "An entry in the cluster's control plane holds a stamp no write can "
                "follow (set by hand), named; nothing changed",
            },
            503: {
                "model": ErrorAnswer,
                "description": "The cluster's control plane is away, nothing changed; or its write went "
                "out unconfirmed (a member not answering: it may still take effect); or the kernel "
                "refused the change (closing) or had not applied it within 2 s, the plane's entry stored; "
                "or the kernel takes no more input (its write-ahead log failed, or it is closed); or it "
                "is busy in another call (retryable, with Retry-After)",
            },
        },
    )
    async def put_control(change: ControlRequest) -> dict[str, Any]:
        fields = change.model_dump(exclude_none=True)
        if not fields:
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "give at least one of mode, verbosity, debug_clickhouse_enabled",
                  "type": "missing"}]
            )  # fmt: skip
        plane = getattr(kernel, "control_plane", None)
        if plane is not None:
            # A cluster plane writes over the network (off the event loop) and its listener
            # applies the change a moment later: wait for it, so the answer is what the kernel runs.
            try:
                await anyio.to_thread.run_sync(lambda: plane.set(kernel_id, **fields))
            except ControlChangeRefused as exc:  # stored, but this kernel (closing) refused it
                raise HTTPException(503, f"control change not applied: {exc}") from None
            except RuntimeError as exc:  # ControlPlaneUnavailable
                if getattr(exc, "sent", False):  # ControlWriteUnconfirmed: out, unanswered
                    raise HTTPException(503, f"control change not confirmed: {exc}") from None
                raise HTTPException(503, f"control plane unavailable, nothing changed: {exc}") from None
            except ValueError as exc:  # an entry in the cluster no write can follow, named
                raise HTTPException(409, f"control entry not written, nothing changed: {exc}") from None
            deadline = time.monotonic() + _CONTROL_APPLY_S
            control = await in_lane(kernel.control)
            while unapplied(fields, control) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                control = await in_lane(kernel.control)
            pending = unapplied(fields, control)
            if pending:
                # A 200 said the change was made: a HALTED taken for done while the kernel traded.
                running = {name: control.get(name) for name in pending}
                raise HTTPException(
                    503,
                    f"control change not applied: kernel {kernel_id!r} runs {running}, not"
                    f" {pending}, {_CONTROL_APPLY_S:g} s after the plane's entry was stored (it may"
                    " apply it later; GET /v1/control says what it runs)",
                )
            metrics.control_changes.inc()
            return await in_lane(announce_control)

        def change_here() -> dict[str, Any]:
            kernel.update_control(**fields, source="gateway")
            metrics.control_changes.inc()
            return announce_control()

        return await in_lane(change_here)

    def unapplied(fields: dict[str, Any], control: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in fields.items() if control.get(name) != value}

    def announce_control() -> dict[str, Any]:
        """The kernel's control state, sent as a `control` event (on the lane)."""
        control = kernel.control()
        published_control.update(control)
        publish("control", control)
        return control

    @app.post(
        "/v1/intents",
        dependencies=auth,
        summary="Submit an ENTER, EXIT or CANCEL intent",
        description=_RETRY_NOTE,
        responses=_answers(401, 404, 408, 409, 413, 422, 503),
    )
    async def post_intent(req: IntentRequest) -> dict[str, Any]:
        return await in_lane(lambda: place_intent(req))

    def place_intent(req: IntentRequest) -> dict[str, Any]:
        if req.action != "CANCEL" and req.order_type == "MARKET" and req.limit_price > 0.0:
            # The kernel sends a MARKET order at market whatever limit_price says: a buy capped
            # at 90 filled at 100 (order_type defaults to MARKET; stdio makes a priced order LIMIT).
            raise _field_error(
                "limit_price",
                f"limit_price is for LIMIT orders: this {req.action} is a MARKET order (order_type"
                f" {'given' if 'order_type' in req.model_fields_set else 'defaults to'} MARKET);"
                ' send order_type "LIMIT", or leave limit_price out',
                value=req.limit_price,
            )
        slot_id = req.slot_id
        if slot_id is None:
            if req.action != "ENTER":
                raise _field_error("slot_id", f"slot_id is required for {req.action}")
            slot_id = placed_slot(req.intent_id)
            first = first_outcomes.get(req.intent_id) if req.intent_id else None
            # Taken by the kernel, and the venue refused its order: rate limited (the outcome
            # unaccepted, with the venue's event) or rejected (accepted, a REJECT among them).
            venue_refused = first is not None and (
                (not first["accepted"] and bool(first["venue_events"])) or "REJECT" in first["venue_events"]
            )
            if slot_id is None and first is not None and venue_refused:
                # The slot reused since: the retry goes where the first went, to be refused
                # DUPLICATE_INTENT with first_outcome saying nothing was placed, not 409 when
                # every slot is busy by then. (An accepted one whose slot another trade holds
                # is a 409, as above; an intent the kernel refused was not taken.)
                slot_id = int(first["slot_id"])
            if slot_id is None:
                slot_id = kernel.free_slot()
            if slot_id is None:
                raise HTTPException(409, f"no free slot: all {max_slots} slots are busy")
        slot = slot_or_404(slot_id)
        intent_id = req.intent_id or uuid.uuid4().hex
        if req.action == "ENTER":
            if req.asset is None:
                raise _field_error("asset", "asset is required for ENTER")
            if req.side is None:
                raise _field_error("side", "side is required for ENTER (LONG or SHORT)")
            trade_id, asset = req.trade_id or intent_id, req.asset
            side = req.side
        else:
            trade_id = req.trade_id or str(slot.get("trade_id") or intent_id)
            asset = req.asset or str(slot.get("asset") or "")
            slot_side = str(slot.get("side") or "FLAT")
            if req.side is not None and slot_side in ("LONG", "SHORT") and req.side != slot_side:
                # The kernel closes the slot's own side whatever the intent says: an EXIT
                # meant for a LONG must not close a SHORT unseen (a wrong asset is refused too).
                raise _field_error(
                    "side",
                    f"side {req.side} is not the side of slot {slot_id}, which holds {slot_side};"
                    f" {req.action} takes the slot's side (leave side out)",
                    value=req.side,
                )
            slot_asset = str(slot.get("asset") or "")
            if req.action == "CANCEL" and req.asset is not None and slot_asset and req.asset != slot_asset:
                # The kernel refuses an EXIT's wrong asset but cancels the slot's order whatever
                # asset a CANCEL names: one meant for an ETHUSDT order took a BTCUSDT one off.
                raise _field_error(
                    "asset",
                    f"asset {req.asset} is not the asset of slot {slot_id}, which holds {slot_asset};"
                    " CANCEL takes the slot's asset (leave asset out)",
                    value=req.asset,
                )
            side = req.side or ("SHORT" if slot_side == "SHORT" else "LONG")
        intent = KernelIntent(
            intent_id=intent_id,
            trade_id=trade_id,
            slot_id=slot_id,
            asset=asset,
            side=TradeSide.parse(side),
            action=KernelCommandType.parse(req.action),
            reference_price=req.reference_price,
            target_size=req.target_size,
            leverage=req.leverage,
            exit_leg_ratios=req.exit_leg_ratios or (1.0,),
            order_type=req.order_type,
            limit_price=req.limit_price,
            reason=req.reason or "gateway",
            metadata=req.metadata,
        )
        answer = submit(intent, client_chose_id=req.intent_id is not None)
        if req.intent_id and req.action == "ENTER" and answer["accepted"]:
            placed[req.intent_id] = (slot_id, trade_id)
            if len(placed) > _PLACED_INTENTS:
                placed.popitem(last=False)
        return answer

    @app.post(
        "/v1/slots/{slot_id}/cancel",
        dependencies=auth,
        summary="Cancel the order working on a slot",
        description=_RETRY_NOTE,
        responses=_answers(401, 404, 408, 413, 422, 503),
    )
    async def cancel_slot(
        slot_id: SlotPath,
        req: Annotated[CancelRequest | None, Body()] = None,
    ) -> dict[str, Any]:
        return await in_lane(lambda: cancel_on(slot_id, req or CancelRequest()))

    def cancel_on(slot_id: int, req: CancelRequest) -> dict[str, Any]:
        slot = slot_or_404(slot_id)
        slot_side = str(slot.get("side") or "FLAT")
        intent = KernelIntent(
            intent_id=req.intent_id or uuid.uuid4().hex,
            trade_id=str(slot.get("trade_id") or "none"),
            slot_id=slot_id,
            asset=str(slot.get("asset") or ""),
            side=TradeSide.parse(slot_side if slot_side in ("LONG", "SHORT") else "LONG"),
            action=KernelCommandType.CANCEL,
            reference_price=0.0,
            target_size=0.0,
            reason=req.reason or "gateway cancel",
        )
        return submit(intent, client_chose_id=req.intent_id is not None)

    @app.post(
        "/v1/marks",
        dependencies=auth,
        summary="Set an asset's mark price (values open positions)",
        responses=_answers(401, 408, 413, 422, 503),
    )
    async def post_mark(req: MarkRequest) -> dict[str, Any]:
        return await in_lane(lambda: mark(req))

    def mark(req: MarkRequest) -> dict[str, Any]:
        # mark_price returns how many open slots it revalued, not a sequence number.
        slots_marked = kernel.mark_price(req.asset, req.price)
        account = kernel.account()
        publish("account", account)
        for slot in all_slots():
            if slot.get("asset") == req.asset and not slot.get("closed", False):
                publish("slot", slot)
        return {"asset": req.asset, "price": req.price, "slots_marked": slots_marked, "account": account}

    # --- events --------------------------------------------------------------------------

    @app.get(
        "/v1/events",
        summary="Server-sent events; reconnect with Last-Event-ID (or ?last_event_id=) to resume",
        response_class=Response,
        responses={
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **_answers(422),
            503: {
                "model": ErrorAnswer,
                "description": "sse_max_clients streams are open; retry after Retry-After seconds",
            },
        },
    )
    async def events(
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        last_event_id: Annotated[int | None, Query(ge=0), BeforeValidator(_whole)] = None,
    ) -> Response:
        resume = last_event_id
        if last_event_id_header is not None and last_event_id_header.strip():
            text = last_event_id_header.strip()
            try:
                # int() also reads "1_0" and other scripts' digits; the query's rule instead.
                resume = _whole(text)
                if not isinstance(resume, int):
                    raise ValueError(text)
            except (ValueError, PydanticCustomError):
                shown = last_event_id_header[:32]
                raise _field_error(
                    "Last-Event-ID",
                    f"Last-Event-ID must be an event id (integer), got {shown!r}",
                    where="header",
                ) from None
            if resume < 0:
                raise _field_error("Last-Event-ID", "Last-Event-ID must be >= 0", where="header")
        if broadcaster.clients >= settings.sse_max_clients:
            # Each client costs every publish (on the kernel's thread) a frame and holds a buffer.
            metrics.sse_refused.inc()
            raise HTTPException(
                503,
                f"too many event stream clients: the limit is {settings.sse_max_clients} (sse_max_clients)",
                headers={"Retry-After": "5"},
            )
        sub = broadcaster.subscribe(resume)
        return EventStreamResponse(broadcaster, sub, settings.sse_keepalive_seconds, metrics)

    protected: list[BaseRoute] = []

    def protected_routes() -> list[BaseRoute]:
        if not protected:
            protected.extend(
                r
                for r in app.router.routes
                if isinstance(r, APIRoute) and any(d.dependency is require_token for d in r.dependencies)
            )
        return protected

    # Outermost last: the timer, then the body limit (413 on any request), then the token.
    app.add_middleware(TokenGate, token=token, protected=protected_routes)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, timeout=settings.body_timeout_seconds)
    app.add_middleware(RequestTimer, metrics=metrics, router=app.router)
    return app


def _field_error(field: str, msg: str, where: str = "body", value: Any = None) -> RequestValidationError:
    error: dict[str, Any] = {"loc": (where, field), "msg": msg, "type": "value_error"}
    if value is not None:
        error["input"] = value
    return RequestValidationError([error])


def _content_type_error(content_type: str | None) -> RequestValidationError:
    msg = "the body must be sent as application/json"
    error: dict[str, Any] = {"loc": ("header", "Content-Type"), "type": "content_type"}
    if content_type is None:
        return RequestValidationError([{**error, "msg": f"{msg} (no Content-Type header was sent)"}])
    return RequestValidationError([{**error, "msg": msg, "input": content_type}])


def _unreadable(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (bad byte at offset {exc.start})"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]  # the int digit limit's message ends with a hint for Python code


def _describe(error: dict[str, Any]) -> str:
    loc = error["loc"]
    if error["type"] == "json_invalid":
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return f"body is not valid JSON{where}: {error.get('reason') or error['msg']}"
    field = ".".join(str(p) for p in loc[1:]) if len(loc) > 1 else str(loc[0]) if loc else "request"
    shown = ""
    if "input" in error and not isinstance(error["input"], dict):
        shown = " (got null)" if error["input"] is None else f" (got {error['input']!r})"
    return f"{field}: {error['msg']}{shown}"


def _clean_error(error: Any) -> dict[str, Any]:
    """A validation error in plain JSON: location, message, type and a short copy of the input
    (a long number as its text cut short; a lone surrogate as its escape, ``unicode_text``)."""
    out: dict[str, Any] = {
        "loc": [unicode_text(p) if isinstance(p, str) else p for p in error.get("loc", ())],
        "msg": unicode_text(str(error.get("msg", ""))),
        "type": str(error.get("type", "")),
    }
    if "input" in error and error.get("type") != "missing":  # a missing value's input is None
        value: Any = error["input"]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, int | float) and not isinstance(value, bool) and len(str(value)) > 64:
            value = shortened(str(value), 64)  # a 4000-digit integer
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # NaN or 1e999 in the body: as text, where JSON would write null
        if isinstance(value, str):
            out["input"] = unicode_text(value[:128])
        elif isinstance(value, int | float | bool) or value is None:
            out["input"] = value
    ctx = error.get("ctx") or {}
    if out["type"] == "json_invalid" and "error" in ctx:
        out["reason"] = str(ctx["error"])
    return out
