"""How the gateway answers: strict JSON, the raw ASGI JSON answer of its middleware, and the
event stream (server-sent events) of one subscriber."""

from __future__ import annotations

import contextvars
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
from fastapi.responses import JSONResponse, Response

from dita.gateway.events import Broadcaster, Subscriber, encode_json_bytes
from dita.gateway.metrics import GatewayMetrics

__all__ = ["EventStreamResponse", "SafeJSONResponse", "response_abandoned", "send_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SafeJSONResponse(JSONResponse):
    """JSON that stays strict when a kernel figure is NaN or infinite (they become null).

    A JSONResponse, so the schema documents each answer's JSON (of a plain Response it says
    "string")."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode_json_bytes(content)


async def send_json(
    send: Send, status: int, content: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """A JSON answer sent straight through ASGI, by a middleware that answers before the app."""
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


# Set (in the request's task) when a response ends unfinished on purpose: an event stream whose
# client is dropped for lagging or does not take the stream's end at a stop, or a request whose
# kernel call the stop gave up on. GatewayServer then leaves out uvicorn's "ASGI callable
# returned without completing response." error, which would read as a fault of the gateway.
response_abandoned: contextvars.ContextVar[bool] = contextvars.ContextVar("response_abandoned", default=False)

# Frames written to a client in one send: a burst of events goes out in one write.
_SSE_BATCH = 64


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
        # taken off the queue, each until the send that writes it returns. A send canceled
        # mid-way (a stop while the client's socket is full) leaves them for the end.
        unsent: deque[bytes] = deque([b"retry: 1000\n\n", *sub.replay])
        sub.replay = []

        async def write_owed() -> None:
            batch = list(itertools.islice(unsent, _SSE_BATCH))
            await send({"type": "http.response.body", "body": b"".join(batch), "more_body": True})
            for _ in batch:
                unsent.popleft()

        self.metrics.sse_clients.inc()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with anyio.create_task_group() as tg:

                async def pump() -> None:
                    while True:
                        if not unsent:
                            try:
                                unsent.append(await sub.next_frame(self.keepalive))
                            except TimeoutError:
                                unsent.append(b": keepalive\n\n")
                            sub.take_ready(unsent, _SSE_BATCH)  # an intent publishes several events at once
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
                        sub.take_ready(unsent, _SSE_BATCH)
                        await write_owed()
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    ended = True
            if not ended:
                response_abandoned.set(True)  # uvicorn closes the connection, nothing to log
        finally:
            self.broadcaster.unsubscribe(sub)
            self.metrics.sse_clients.dec()
