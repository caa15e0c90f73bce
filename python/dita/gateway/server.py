"""The uvicorn server of ``dita serve``, with the stop a trading gateway needs: the event
streams ended, a client that does not read given up after a grace, the kernel closed.

The gateway's tests serve with it too, so they stop as ``dita serve`` does."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import uvicorn

__all__ = ["GatewayServer"]

_NOT_COMPLETED = "ASGI callable returned without completing response."


def _not_abandoned_on_purpose(record: logging.LogRecord) -> bool:
    """Leaves out uvicorn's error for an event stream the gateway ended unfinished on purpose
    (a client dropped for lagging, or one that did not take the stream's end at a stop):
    uvicorn closes the connection, as it should, and nothing is wrong with the gateway."""
    from dita.gateway.app import response_abandoned

    return not (record.msg == _NOT_COMPLETED and response_abandoned.get())


class GatewayServer(uvicorn.Server):
    """Serves ``app`` (made by ``create_app`` for ``kernel``) on ``host:port``; on stop,
    closes the connections still open ``grace`` seconds later, then the kernel.
    ``max_connections``: uvicorn's ``limit_concurrency``, beyond which a request gets 503
    (not a connection reset when the process runs out of file descriptors)."""

    def __init__(
        self, app: Any, kernel: Any, grace: float, host: str, port: int, max_connections: int | None = None
    ) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                lifespan="off",
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

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits for every response to finish, and an event stream never does.
        self.app.state.broadcaster.close()
        # It also waits for every connection to close, and one whose client stopped reading
        # (its last bytes never taken) or never finished its request never does: a grace,
        # then given up.
        give_up = asyncio.get_running_loop().call_later(self.grace, self._give_up)
        try:
            await super().shutdown(sockets)
        finally:
            give_up.cancel()
        if self.aborted:
            print(
                f"dita serve: closed {self.aborted} connection(s) still open {self.grace:g} s after "
                "the stop (a request or response not finished)",
                file=sys.stderr,
                flush=True,
            )
        # uvicorn then re-raises the signal it caught, which ends the process before any
        # `finally` runs: close the kernel (journal rows, projection, log) here.
        self.kernel.close()

    def _give_up(self) -> None:
        self.force_exit = True  # what a second Ctrl-C does: stop waiting for connections
        # Closed here, not once the stop returns: on Python 3.12 and later (without uvloop)
        # the stop also awaits asyncio's Server.wait_closed(), which waits for them.
        stuck = list(self.server_state.connections)
        self.aborted = len(stuck)
        for connection in stuck:
            connection.transport.abort()
