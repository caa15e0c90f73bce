"""The uvicorn server of ``dita serve``, with the stop a trading gateway needs: the event
streams ended, a client that does not read given up after a grace, the kernel closed.

The gateway's tests serve with it too, so they stop as ``dita serve`` does."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import time
from types import FrameType
from typing import Any, Self

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from dita._signals import unread_dropped
from dita.gateway.responses import response_abandoned

__all__ = ["GatewayServer"]

_NOT_COMPLETED = "ASGI callable returned without completing response."
_RAISED = "Exception in ASGI application\n"


def _not_abandoned_on_purpose(record: logging.LogRecord) -> bool:
    """Leaves out uvicorn's error for a response the gateway gave up on purpose: an event
    stream ended unfinished (a client dropped for lagging, or one that did not take the
    stream's end at a stop), whose connection uvicorn closes, as it should; or a request whose
    kernel call the stop gave up on (a venue call not answered), canceled with the event loop,
    its traceback of CancelledError read as the gateway's fault (the stop's ERROR says what it
    did not do)."""
    if not response_abandoned.get():
        return True
    canceled = record.msg == _RAISED and isinstance(
        (record.exc_info or (None, None))[1], asyncio.CancelledError
    )
    return not (record.msg == _NOT_COMPLETED or canceled)


class _HeaderDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 connection with a deadline on each request's headers, counted from
    the connection's start or from when it is ready for its next request (the previous
    response and request both done): a client that opens a connection and never finishes a
    request (slow-loris, bytes dribbled to keep it open) held it, and a file descriptor, until
    it went away. Past the deadline a request begun gets 408 and the connection closes; an idle
    connection just closes (uvicorn's keep-alive timeout closes one idle after a response
    sooner). The body has its own deadline (BodyLimit)."""

    header_timeout = 10.0  # set per server by _header_deadline()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._headers_due: asyncio.TimerHandle | None = None
        self._await_headers()

    def _await_headers(self) -> None:
        """Arms the deadline when the connection waits for a request's headers and has none."""
        if (
            self._headers_due is None
            and self.conn.their_state is h11.IDLE
            and not self.transport.is_closing()
        ):
            self._headers_due = self.loop.call_later(self.header_timeout, self._headers_late)

    def _headers_in(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            # Also the next request after a body that ended after its response (a 413 on
            # Content-Length answers before the body comes): uvicorn starts the next cycle
            # here, not in on_response_complete.
            self._await_headers()
        else:  # the request line and headers are in (or the connection failed or closed)
            self._headers_in()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request already parsed has its headers in; a new one gets the deadline.
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_in()
        super().connection_lost(exc)

    def _headers_late(self) -> None:
        self._headers_due = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        begun, _ = self.conn.trailing_data  # the start of a request h11 holds unparsed
        if begun:
            detail = (
                f"request headers not received in full within {self.header_timeout:g} s "
                "(header_timeout_seconds)"
            )
            body = (json.dumps({"detail": detail, "field": "headers"}) + "\n").encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
        self.transport.close()


def _header_deadline(seconds: float) -> type[H11Protocol]:
    """The protocol class uvicorn makes each connection with, for a server's deadline."""
    return type("HeaderDeadline", (_HeaderDeadline,), {"header_timeout": float(seconds)})


class GatewayServer(uvicorn.Server):
    """Serves ``app`` (made by ``create_app`` for ``kernel``) on ``host:port``; on stop, waits
    at most ``grace`` seconds in all: for a poll of the venue under way, for the connections
    still open (then closed), and for a call holding the app's kernel lane, before the kernel
    closes on that lane (a close once begun is waited for to its end).
    ``max_connections``: uvicorn's ``limit_concurrency``, beyond which a request gets 503
    (not a connection reset when the process runs out of file descriptors);
    ``header_timeout``: how long a request's line and headers may take (then 408)."""

    def __init__(
        self,
        app: Any,
        kernel: Any,
        grace: float,
        host: str,
        port: int,
        max_connections: int | None = None,
        header_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                lifespan="off",
                http=_header_deadline(header_timeout),
                # uvicorn refuses a request once the open connections, its own included, reach
                # the limit: one more lets max_connections connections in, not one fewer.
                limit_concurrency=None if max_connections is None else max_connections + 1,
            )
        )
        logger = logging.getLogger("uvicorn.error")
        if _not_abandoned_on_purpose not in logger.filters:
            logger.addFilter(_not_abandoned_on_purpose)
        self.app = app
        self.kernel = kernel
        self.grace = grace
        self.aborted = 0
        # Whether the stop closed the kernel: None before it tried, False when a call held the
        # kernel's lane past the grace (the kernel then closes on the lane once that call returns).
        self.kernel_closed: bool | None = None
        self.stop_step = ""  # what the stop does now, as a signal during it is told
        self.program = "dita serve"  # who says so

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        stopping = self.should_exit
        super().handle_exit(sig, frame)  # a second Ctrl-C only ends the wait for the connections
        if stopping:
            # Said, or a stop that seems stuck gets killed, its journal rows and log unsynced.
            # os.write: the handler may run while the main thread is inside a print to stderr.
            with unread_dropped():
                os.write(2, f"{self.stopping_already()}\n".encode())

    def stopping_already(self) -> str:
        """What a signal during the stop is told: the step under way and the stop's limits."""
        step = f" ({self.stop_step})" if self.stop_step else ""
        return f"{self.program}: stopping already{step}; a signal does not cut it short: {self.own_stop()}"

    def own_stop(self) -> str:
        """The gateway's own stop and its limit, as a signal during the stop is told."""
        return (
            f"it waits at most {self.grace:g} s (stop_grace_seconds) in all for the requests and venue"
            " calls under way, then closes the kernel to its end (the journal's last rows, the"
            " projection, the log's sync: a kill -9 would leave them unsynced)"
        )

    @classmethod
    def for_settings(cls, app: Any, kernel: Any, settings: Any) -> Self:
        """The server ``dita serve`` runs for its ``GatewaySettings``."""
        return cls(
            app,
            kernel,
            settings.stop_grace_seconds,
            settings.host,
            settings.port,
            settings.max_connections,
            settings.header_timeout_seconds,
        )

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Served without lifespan: the venue's polling (create_app) is started here.
        self._polling = self.app.state.start_polling()

    def stop_taking_requests(self, sockets: list[socket.socket] | None = None) -> None:
        """No new connection, nor a new request on those open, as uvicorn's own stop does it;
        the requests under way finish. Called again it changes nothing, so a stop with work of
        its own before this one (``dita live`` ends its strategies) calls it first."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # an idle one closes; one under way closes after its answer

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # One grace for the whole stop: a wait per step (the poll, the connections, the lane) would
        # make it three graces, past what a supervisor allows before it kills the process.
        deadline = time.monotonic() + self.grace
        self.stop_step = "waiting for the venue's poll and the requests under way"
        # Before waiting for the poll below: an ENTER taken meanwhile would leave its order at the venue.
        self.stop_taking_requests(sockets)
        # A poll under way is applied (and published) first; none is applied to a closed kernel.
        await self.app.state.stop_polling(getattr(self, "_polling", None), deadline)
        # uvicorn waits for every response to finish, and an event stream never does.
        self.app.state.broadcaster.close()
        # It also waits for every connection to close, and one whose client stopped reading
        # (its last bytes never taken) or never finished its request never does: what is left
        # of the grace, then given up.
        give_up = asyncio.get_running_loop().call_later(max(0.0, deadline - time.monotonic()), self._give_up)
        try:
            await super().shutdown(sockets)
        finally:
            give_up.cancel()
        if self.aborted:
            with unread_dropped():  # the kernel's close comes after
                print(
                    f"{self.program}: closed {self.aborted} connection(s) still open {self.grace:g} s"
                    " after the stop (a request or response not finished)",
                    file=sys.stderr,
                    flush=True,
                )
        # uvicorn then re-raises the signal it caught, which ends the process before any
        # `finally` runs: close the kernel (journal rows, projection, log) here, on its lane
        # after the call under way there (a venue's submit), waited for until the deadline.
        self.stop_step = "closing the kernel"
        self.kernel_closed = await self.app.state.close_kernel(self.grace, deadline)

    def _give_up(self) -> None:
        self.force_exit = True  # what a second Ctrl-C does: stop waiting for connections
        # Closed here, not once the stop returns: on Python 3.12 and later (without uvloop)
        # the stop also awaits asyncio's Server.wait_closed(), which waits for them.
        stuck = list(self.server_state.connections)
        self.aborted = len(stuck)
        for connection in stuck:
            connection.transport.abort()
