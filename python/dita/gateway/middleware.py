"""The layers every request passes before its route: the Host check, the body's size and time
limits, and the latency histogram. (The token's layer is in ``auth``.)"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time

import anyio
from starlette.routing import BaseRoute, Match, Router

from dita.gateway.metrics import GatewayMetrics
from dita.gateway.responses import ASGIApp, Message, Receive, Scope, Send, send_json

__all__ = ["BodyLimit", "DeclaredBodyLimit", "HostGate", "RequestTimer", "host_header_name"]


class HostGate:
    """Answers 421 to a request whose Host header names a host not served (``served``; None:
    any): a page on another name rebound to this address (DNS rebinding) would otherwise read
    the account and the event stream, which need no token. A Host that is no host[:port] is
    refused whatever is served: its name would be a guess at what the client meant."""

    def __init__(self, app: ASGIApp, served: frozenset[str] | None) -> None:
        self.app = app
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            values = [v.decode("latin-1") for n, v in scope.get("headers", []) if n == b"host"]
            refused = self._refused(values)
            if refused is not None:
                await send_json(send, 421, {"detail": refused})
                return
        await self.app(scope, receive, send)

    def _refused(self, values: list[str]) -> str | None:
        """Why a request with these Host headers is not served; None when it is."""
        if len(values) == 1:
            name = host_header_name(values[0])
            if name is None:
                return (
                    f"Host {values[0]!r} is malformed: a Host header is a name or an address with an"
                    " optional port of 1 to 5 digits (host, host:port, [IPv6]:port)"
                )
            if self.served is None or name in self.served:
                return None
            shown = f"Host {values[0]!r}"
        elif self.served is None:
            return None
        else:
            shown = "more than one Host header" if values else "no Host header"
        return (
            f"{shown} is not served here: this gateway answers {', '.join(sorted(self.served))} "
            "(setting allowed_hosts)"
        )


# A Host header's value: a name or IPv4 address, or an IPv6 address in brackets, each with an
# optional port; a bare IPv6 address (no port) is read too.
_HOST_HEADER = re.compile(
    r"(?:(?P<name>[A-Za-z0-9._-]+)|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?"
)
_IPV6_TEXT = re.compile(r"[0-9A-Fa-f:.]+")


def host_header_name(value: str) -> str | None:
    """The host a Host header names, lower case (an IPv6 address without its brackets), or None
    when the value is no host[:port]: spaces, control characters, an empty or non-numeric port,
    a port past 65535, a second port."""
    match = _HOST_HEADER.fullmatch(value)
    if match is None:
        return _bare_ipv6(value)
    port, ipv6 = match["port"], match["ipv6"]
    if port is not None and int(port) > 65535:
        return None
    if ipv6 is not None:
        return _bare_ipv6(ipv6)
    return match["name"].lower()


def _bare_ipv6(text: str) -> str | None:
    """``text`` in lower case when it is an IPv6 address (as written: allowed_hosts is too), with
    no zone (``%eth0``: any text may follow it)."""
    if _IPV6_TEXT.fullmatch(text) is None:
        return None
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return text.lower()


class DeclaredBodyLimit:
    """Refuses a request whose Content-Length is over ``limit`` bytes with 413, from its headers,
    before the token is checked (``BodyLimit`` counts the bytes of a body without one)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"content-length":
                    try:
                        declared = int(value)
                    except ValueError:
                        declared = -1
                    if declared > self.limit:
                        await _body_too_large(send, declared, self.limit)
                        return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, and bodies that do not arrive in
    full within ``timeout`` seconds with 408, before the endpoint sees them: a client that never
    finishes its body (slow-loris) would hold its connection for ever. Inside the token's check,
    which answers from the headers: a client without the token waits for no body deadline."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
            await _body_too_large(send, received, self.limit)
        elif other is not None:
            await self.app(scope, _replay([], other, receive), send)
        else:
            await self.app(scope, _replay(chunks, None, receive), send)

    async def _too_slow(self, send: Send, size: int) -> None:
        detail = (
            f"request body not received in full within {self.timeout:g} s (body_timeout_seconds);"
            f" {size} bytes arrived"
        )
        # Connection: close, or the server would keep reading the rest of the body for ever.
        await send_json(send, 408, {"detail": detail, "field": "body"}, ((b"connection", b"close"),))


async def _body_too_large(send: Send, size: int, limit: int) -> None:
    detail = f"request body is {size} bytes or more; the limit is {limit}"
    # Connection: close, as for 408: the rest of the body is not read, and a client
    # dripping it after the answer would otherwise hold the connection for ever.
    await send_json(send, 413, {"detail": detail, "field": "body"}, ((b"connection", b"close"),))


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

    Outside every layer but the Host check (a 421 is not timed), so the other answers given
    before routing (413, 401) are timed too; the route is then found here, as it is for routes
    that do not name themselves in the scope (``/openapi.json``)."""

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
