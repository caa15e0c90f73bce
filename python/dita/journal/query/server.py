"""The journal owner's query socket: :class:`QueryServer` serves read-only SQL on an embedded
journal directory's Unix socket, one JSON request and one JSON answer a line;
:func:`query_via_socket` asks it from another process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar

from dita.journal.dsn import JournalTarget
from dita.journal.priority import lower_thread_priority
from dita.journal.query import QueryResult, execute, open_read_only_client
from dita.journal.query.guard import ReadOnlyViolation, check_read_only
from dita.journal.query.parameters import _wire_parameters

__all__ = ["QueryServer", "ServerClosed", "is_wait_seconds", "query_via_socket"]

# The package's logger: a query's socket is part of dita.journal.query's logging.
log = logging.getLogger(__package__)


_MAX_REQUEST_BYTES = 1 << 20


def _refused_peer(connection: socket.socket) -> str | None:
    """Why the process on the other end of ``connection`` may not query, or None.

    Only the owner's uid and root may. An abstract socket (a journal path too long for a
    socket file) has no file permissions at all, and a socket file's depend on the umask,
    so the peer's credentials decide, for every kind."""
    if not hasattr(socket, "SO_PEERCRED"):  # not Linux: no abstract sockets, only files
        return None
    # struct ucred: pid_t (signed), uid_t and gid_t (unsigned: a uid may pass 2**31).
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
    _, uid, _ = struct.unpack("iII", creds)
    owner = os.geteuid()
    if uid in (owner, 0):
        return None
    return f"the journal's query socket answers its owner (uid {owner}) and root only, not uid {uid}"


class _Handler(socketserver.StreamRequestHandler):
    server: _SocketServer

    def handle(self) -> None:
        refused = _refused_peer(self.connection)
        if refused is not None:
            log.warning("refused a query on %r: %s", self.server.owner.address, refused)
            self._answer({"error": refused, "kind": "permission"})
            return
        # One byte more than the limit: a request of exactly the limit still ends in its newline.
        line = self.rfile.readline(_MAX_REQUEST_BYTES + 1)
        if len(line) > _MAX_REQUEST_BYTES and not line.endswith(b"\n"):
            # Read to its end: answered while still sending, the client would see a broken
            # pipe instead of this.
            size = len(line) + self._skip_line()
            error = (
                f"the request is {size:,} bytes, over the {_MAX_REQUEST_BYTES:,}-byte limit of the "
                "journal's query socket: shorten the query or its parameters"
            )
            self._answer({"error": error, "kind": "too_large"})
            return
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("sql"), str):
                raise ValueError("request must be a JSON object with an 'sql' string")
            params = request.get("parameters") or {}
            if not isinstance(params, dict):
                raise ValueError("'parameters' must be a JSON object")
            database = request.get("database")
            if not isinstance(database, str):
                raise ValueError("request must name its 'database'")
            owner = self.server.owner
            lower_thread_priority(owner.nice)  # started by the serving thread: already is
            # A caller that goes away meanwhile (Ctrl-C) does not stop the query: it runs to its
            # end, at most max_execution_time, unless close() stops it.
            res = owner.run(database, request["sql"], params, served=True)
            lower_thread_priority(owner.nice)  # again, as chDB may have reset it
            reply: dict[str, Any] = {
                "columns": res.columns,
                "types": res.types,
                "truncated": res.truncated,
                "rows": res.rows,
            }
        except ReadOnlyViolation as exc:
            reply = {"error": str(exc), "kind": "read_only"}
        except LookupError as exc:
            reply = {"error": str(exc), "kind": "lookup"}
        except Exception as exc:  # reported to the operator; the server keeps serving
            reply = {"error": str(exc), "kind": type(exc).__name__}
        self._answer(reply)

    def _answer(self, reply: dict[str, Any]) -> None:
        """Send ``reply`` as one line, a slice of its rows at a time (:func:`_reply_pieces`). A
        caller that went away (Ctrl-C on `dita journal sql`) has nobody to tell: one line in the
        owner's log, not a socketserver traceback."""
        try:
            for piece in _reply_pieces(reply):
                self.wfile.write(piece)
        except OSError as exc:  # BrokenPipeError, ConnectionResetError: the caller has gone
            log.info(
                "a journal query's caller on %r went away before its answer (%s)",
                self.server.owner.address,
                exc,
            )

    def _skip_line(self) -> int:
        """Read the rest of the request line; returns its bytes, the newline left out."""
        size = 0
        while chunk := self.rfile.readline(1 << 16):
            if chunk.endswith(b"\n"):
                return size + len(chunk) - 1
            size += len(chunk)
        return size


REPLY_SLICE_ROWS = 1000
"""Rows of a query's answer turned into JSON at a time on the owner's socket."""


def _reply_pieces(reply: dict[str, Any]) -> Iterator[bytes]:
    """``reply`` as the line ``json.dumps(reply)`` and a newline, in pieces: what comes before its
    rows, then :data:`REPLY_SLICE_ROWS` rows a piece. json.dumps holds the GIL for the whole of
    what it is given (an 82 MiB answer stood the owner's strategy thread still for 446 ms);
    between pieces, and while each is sent, the owner's other threads run."""
    rows = reply.get("rows")
    if not isinstance(rows, list):  # an error
        yield json.dumps(reply).encode() + b"\n"
        return
    head = json.dumps({k: v for k, v in reply.items() if k != "rows"})
    yield (head[:-1] + (', "rows": [' if len(reply) > 1 else '"rows": [')).encode()
    for start in range(0, len(rows), REPLY_SLICE_ROWS):
        part = json.dumps(rows[start : start + REPLY_SLICE_ROWS])[1:-1]
        yield (", " + part if start else part).encode()
    yield b"]}\n"


class _SocketServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    owner: QueryServer


class ServerClosed(RuntimeError):
    """The query server was closed (its last journal let go of it) before the query ran."""


class QueryServer:
    """Serves read-only SQL on an embedded journal directory's Unix socket, to processes of
    its own uid and root only.

    One per directory and process (chDB hosts one engine per process, so every journal on
    that directory in this process shares it): :meth:`acquire` and :meth:`release` count
    the journals using it. Each database gets its own read-only client.
    """

    _registry: ClassVar[dict[str, QueryServer]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def acquire(cls, target: JournalTarget, nice: int | None = None) -> QueryServer:
        """The directory's server, started by the first journal (with its ``nice``)."""
        with cls._registry_lock:
            server = cls._registry.get(target.socket_address)
            if server is None:
                server = cls(target, nice)
                cls._registry[server.address] = server
            server._users += 1
            return server

    def release(self, timeout: float = 30.0) -> None:
        """One journal less; the last one closes the server (see :meth:`close`)."""
        with self._registry_lock:
            self._users -= 1
            if self._users > 0:
                return
            self._registry.pop(self.address, None)
        self.close(timeout)

    def __init__(self, target: JournalTarget, nice: int | None = None) -> None:
        self.target = target
        # Operators' queries yield the CPU to the strategy like the journal's writing does:
        # the serving thread (and the thread per request it starts, which inherits its nice
        # value) and chDB's threads for the query.
        self.nice = nice
        self.address = target.socket_address
        self._users = 0
        self._clients: dict[tuple[str, bool], Any] = {}
        self._client_locks: dict[tuple[str, bool], threading.Lock] = {}
        # A client's queries carry its label (log_comment), by which close() stops one.
        self._labels: dict[tuple[str, bool], str] = {}
        self._running: dict[tuple[str, bool], str] = {}  # the SQL a client runs now
        # Clients close() stopped a query of, left to whoever next holds their lock to close.
        self._abandoned: dict[tuple[str, bool], Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        if not self.address.startswith("\0"):
            # A socket file left by a crashed owner: the chDB lock we hold proves it is stale.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
        self._server = _SocketServer(self.address, _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._serve, name="dita-journal-sql", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        lower_thread_priority(self.nice)
        self._server.serve_forever(poll_interval=0.2)

    def run(self, database: str, sql: str, parameters: dict[str, Any], served: bool = False) -> QueryResult:
        """``served``: for a client on the socket, on one of this server's threads; then chDB
        runs it at the server's nice value. Otherwise (the owner's own ``journal.query()``, on
        the caller's thread) priorities are left alone: chDB may reset a thread it ran a
        niced query on to nice 0, and the caller's thread is not ours to change."""
        check_read_only(sql)
        key = (database, served)
        with self._lock:
            if self._closed:  # a client opened now would keep the engine open for good
                raise ServerClosed(f"the query server of {self.address!r} is closed")
            in_use = self._client_locks.setdefault(key, threading.Lock())
        # Each client runs one query at a time, under its own lock: the owner's queries (attach's
        # seq check, a WAL fill's gap_start) do not wait for an operator's, up to 120 s long.
        with in_use:
            with self._lock:
                closed = self._closed
                client = self._clients.get(key)
            if closed:
                self._close_abandoned(key)
                raise ServerClosed(f"the query server of {self.address!r} is closed")
            if client is None:
                nice = self.nice if served else None
                label = f"dita-journal-sql {uuid.uuid4().hex}"
                client = open_read_only_client(replace(self.target, database=database), nice, label)
                with self._lock:
                    if self._closed:  # closed while this one opened: it would stay open
                        client.close()
                        raise ServerClosed(f"the query server of {self.address!r} is closed")
                    self._clients[key] = client
                    self._labels[key] = label
            with self._lock:
                self._running[key] = sql
            try:
                return execute(client, sql, parameters)
            except Exception as exc:
                with self._lock:
                    stopped = key in self._abandoned
                if stopped:  # not ServerClosed: the journal's own query would run it again
                    raise RuntimeError(
                        f"the journal's owner closed its query server on {self.address!r} while the "
                        "query ran, and stopped it"
                    ) from exc
                raise
            finally:
                with self._lock:
                    del self._running[key]
                self._close_abandoned(key)

    def _close_abandoned(self, key: tuple[str, bool]) -> None:
        """Close the client of ``key`` if close() left it to this thread, which holds its lock."""
        with self._lock:
            client = self._abandoned.pop(key, None)
        if client is not None:
            client.close()

    def close(self, timeout: float = 30.0) -> None:
        """Stop serving and close the clients. A query still running ``timeout`` seconds on is
        stopped (``KILL QUERY``) and logged; its thread closes its client when it ends."""
        deadline = time.monotonic() + timeout
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if not self.address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
        with self._lock:
            self._closed = True
            clients = list(self._clients.items())
            self._clients.clear()
        for key, client in clients:
            in_use = self._client_locks[key]
            if in_use.acquire(timeout=max(0.0, deadline - time.monotonic())):  # its query ends first
                try:
                    client.close()
                finally:
                    in_use.release()
                continue
            with self._lock:
                self._abandoned[key] = client
                sql = self._running.get(key, "")
            self._stop_query(key, sql, timeout)
            # Its query may have ended between the wait and the mark, its thread not seeing the mark.
            if in_use.acquire(blocking=False):
                try:
                    self._close_abandoned(key)
                finally:
                    in_use.release()

    def _stop_query(self, key: tuple[str, bool], sql: str, timeout: float) -> None:
        """Stop the query a client runs, found by its label (chDB runs it under an id of its own)."""
        database, served = key
        whose = "an operator's query" if served else "a query of the journal's"
        log.warning(
            "closing the journal's query server on %r: stopping %s on database %r still running after "
            "%g s: %s",
            self.address,
            whose,
            database,
            timeout,
            sql,
        )
        try:
            killer = self.target.connect(settings={"readonly": 1})
            try:
                # The label is ours (hex digits): safe to quote as it is.
                killer.query(f"KILL QUERY WHERE Settings['log_comment'] = '{self._labels[key]}' ASYNC")
            finally:
                killer.close()
        except Exception as exc:  # the query then runs to its end, at most max_execution_time
            log.warning("could not stop the query on %r: %s", self.address, exc)


def is_wait_seconds(value: object, *, zero: bool = False) -> bool:
    """Whether ``value`` is a number of seconds a thread can wait for: a real number (not a
    bool), above 0 (from 0 with ``zero``), at most ``threading.TIMEOUT_MAX`` (a longer or
    infinite wait makes the wait itself raise)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (0 <= value if zero else 0 < value) and value <= threading.TIMEOUT_MAX


def query_via_socket(
    address: str,
    database: str,
    sql: str,
    parameters: dict[str, Any] | None = None,
    timeout: float = 130.0,
) -> QueryResult:
    """Ask a journal owner for ``sql``. Raises ConnectionError when no owner listens,
    PermissionError when it does not answer this process's uid."""
    if not is_wait_seconds(timeout):
        raise ValueError(
            f"query_via_socket timeout must be a positive number of seconds up to "
            f"{threading.TIMEOUT_MAX:g}, got {timeout!r}"
        )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(address)
        except (FileNotFoundError, NotADirectoryError, ConnectionRefusedError) as exc:
            raise ConnectionError(f"no journal owner listens on {address!r}") from exc
        request = {"sql": sql, "parameters": _wire_parameters(sql, parameters or {}), "database": database}
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            # The owner may answer and close before reading a word (it refuses this uid at
            # once): its answer is still there to read, and says why. The send raced it.
            pass
        with sock.makefile("rb") as f:
            line = f.readline()
    finally:
        sock.close()
    if not line:
        raise ConnectionError(f"the journal owner on {address!r} closed the connection without an answer")
    reply = json.loads(line)
    if "error" in reply:
        if reply.get("kind") == "read_only":
            raise ReadOnlyViolation(reply["error"])
        if reply.get("kind") == "lookup":
            raise LookupError(reply["error"])
        if reply.get("kind") == "permission":
            raise PermissionError(reply["error"])
        raise RuntimeError(reply["error"])
    return QueryResult(
        columns=reply["columns"],
        types=reply["types"],
        rows=reply["rows"],
        truncated=bool(reply.get("truncated", False)),
    )
