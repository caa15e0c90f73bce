"""A local HTTP server that answers an exchange client with recorded payloads.

Each test scripts the answers it expects to be asked for, per method and path, from the
fixture files in ``fixtures/``; the server records every request (query and form or JSON body
parsed) so a test can check what the client sent. A request with no scripted answer gets a
400 in Binance's error shape and is listed in ``unexpected``. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to hold the answer back (longer than the client's timeout = a timed-out request).
    delay: float = 0.0
    repeat: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


def _body_params(body: str) -> dict[str, str]:
    """A request body's fields: a form's, or a JSON object's (Bybit, OKX), each value as text
    (JSON's own text for what is not a string)."""
    if body.lstrip().startswith("{"):
        fields = json.loads(body)
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    return dict(parse_qsl(body))


class RecordedExchange:
    def __init__(self, fixtures: Path = FIXTURES) -> None:
        self.fixtures = fixtures
        self.requests: list[Recorded] = []
        self.unexpected: list[str] = []
        self._answers: dict[tuple[str, str], deque[Answer]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = dict(parse_qsl(parts.query))
                params.update(_body_params(body))
                answer = server._take(self.command, parts.path, params, dict(self.headers.items()))
                if answer.delay:
                    server._closing.wait(answer.delay)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.body)))
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout scenario)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="recorded-exchange",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fixture(self, name: str) -> Any:
        return json.loads((self.fixtures / name).read_text())

    def script(
        self,
        method: str,
        path: str,
        fixture: str | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        repeat: bool = False,
        payload: Any = None,
        replace: bool = False,
    ) -> None:
        """Answer the next ``method path`` request with ``fixture`` (a file in fixtures/);
        ``replace``: instead of the answers scripted for it so far (a repeating one included)."""
        if fixture is not None:
            body = (self.fixtures / fixture).read_bytes()
        else:
            body = json.dumps(payload).encode()
        with self._lock:
            if replace:
                self._answers.pop((method, path), None)
            self._answers.setdefault((method, path), deque()).append(
                Answer(status, body, dict(headers or {}), delay, repeat)
            )

    def replace(self, method: str, path: str, payload: Any, *, status: int = 200) -> None:
        """Answer every later ``method path`` request with ``payload``, in place of whatever was
        scripted for it (the exchange changed what it says: a market's rules, say)."""
        answer = Answer(status, json.dumps(payload).encode(), repeat=True)
        with self._lock:
            self._answers[(method, path)] = deque([answer])

    def _take(self, method: str, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append(Recorded(method, path, params, headers))
            queue = self._answers.get((method, path))
            if queue:
                answer = queue[0]
                if not answer.repeat or len(queue) > 1:
                    queue.popleft()
                return answer
            self.unexpected.append(f"{method} {path}")
        error = {"code": -1000, "msg": f"no recorded answer for {method} {path}"}
        return Answer(400, json.dumps(error).encode())

    def calls(self, method: str, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def pending(self) -> list[str]:
        """Scripted answers nobody asked for (repeating ones excluded)."""
        with self._lock:
            return [f"{m} {p}" for (m, p), q in self._answers.items() for a in q if not a.repeat]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serving() -> Iterator[RecordedExchange]:
    """A recorded exchange for one test, closed after it; a request it had no answer for
    fails the test."""
    server = RecordedExchange()
    try:
        yield server
    finally:
        server.close()
    assert server.unexpected == [], f"requests with no recorded answer: {server.unexpected}"
