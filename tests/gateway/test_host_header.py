"""The gateway serves only the Host names it is configured for: a page on another name, rebound
to 127.0.0.1 (DNS rebinding), would otherwise read the account and the event stream, which need
no token. Every route answers a foreign Host with 421 and changes nothing."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from dita import ExecutionKernel
from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings, SettingsError, host_name, load_settings
from gateway.helpers import AUTH, ENTER_ONE, TOKEN, LiveServer


def _answer(app: Any, method: str, path: str, host: str | None, **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            headers = {**AUTH, **({"host": host} if host is not None else {})}
            return await client.request(method, path, headers=headers, **kwargs)

    return asyncio.run(call())


def _routes(app: Any) -> list[tuple[str, str]]:
    """Every route of ``app`` (the schema's included), as a method and a path to request."""
    routes = [("GET", "/openapi.json")]
    for route in app.routes:
        if isinstance(route, APIRoute):
            path = route.path.replace("{slot_id}", "0")
            routes.extend((method, path) for method in sorted(route.methods))
    return routes


def test_every_route_answers_a_foreign_host_with_421_and_changes_nothing() -> None:
    kernel = ExecutionKernel(max_slots=2)
    app = create_app(kernel, GatewaySettings(token=TOKEN))
    routes = _routes(app)
    assert ("GET", "/v1/account") in routes and ("POST", "/v1/intents") in routes
    assert ("GET", "/v1/events") in routes and ("PUT", "/v1/control") in routes
    seq = kernel.seq
    for method, path in routes:
        body = {"json": ENTER_ONE} if method in ("POST", "PUT") else {}
        answer = _answer(app, method, path, "attacker.example", **body)
        assert answer.status_code == 421, (method, path, answer.text)
        assert "Host 'attacker.example' is not served here" in answer.json()["detail"]
        assert "allowed_hosts" in answer.json()["detail"]
    assert kernel.seq == seq  # nothing reached the kernel
    kernel.close()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8080", "LOCALHOST:1", "[::1]:8080", "::1"])
def test_the_loopback_names_are_served_with_any_port(host: str) -> None:
    app = create_app(ExecutionKernel(max_slots=1), GatewaySettings(token=TOKEN))
    assert _answer(app, "GET", "/v1/account", host).status_code == 200


def test_no_host_header_or_two_are_refused() -> None:
    app = create_app(ExecutionKernel(max_slots=1), GatewaySettings(token=TOKEN))
    scope_answers = _raw(app, [])
    assert scope_answers[0] == 421 and "no Host header" in scope_answers[1]
    scope_answers = _raw(app, [(b"host", b"localhost"), (b"host", b"attacker.example")])
    assert scope_answers[0] == 421 and "more than one Host header" in scope_answers[1]


_MALFORMED = [
    b"exa mple", b"localhost:8080:extra", b"host:port:extra", b"localhost:", b"localhost:abc",
    b"localhost:+80", b"localhost:99999", b"localhost\x01", b"local\thost", b"localhost\x00",
    b"[::1]junk", b"[::1]:8080:1", b"[::1]:", b"[::1", b"::1%eth0", b"", b"localhost\xe9",
]  # fmt: skip


@pytest.mark.parametrize("allowed", [None, "*"])
@pytest.mark.parametrize("host", _MALFORMED)
def test_a_malformed_host_header_is_refused_naming_it(host: bytes, allowed: str | None) -> None:
    """A Host that is no host[:port] (a space, a control character, an empty, signed or
    non-numeric port, a second port) names no host: read as a guess at one, "localhost:abc"
    passed as localhost. Refused with 421 naming it, served names or any ('*') alike."""
    kernel = ExecutionKernel(max_slots=1)
    app = create_app(kernel, GatewaySettings(token=TOKEN, allowed_hosts=allowed))
    status, body = _raw(app, [(b"host", host)])
    assert status == 421, body
    assert json.loads(body)["detail"].startswith(f"Host {host.decode('latin-1')!r} is malformed: ")
    status, _ = _raw(app, [(b"host", b"localhost:8080")])
    assert status == 200
    kernel.close()


def _raw(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """The status and body ``app`` answers a GET /v1/account carrying exactly ``headers``."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.0", "method": "GET",
        "scheme": "http", "path": "/v1/account", "raw_path": b"/v1/account", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body.decode()


def test_the_configured_names_are_served_and_the_defaults_no_longer() -> None:
    settings = GatewaySettings(token=TOKEN, allowed_hosts="Dita.internal, 10.0.0.5")
    app = create_app(ExecutionKernel(max_slots=1), settings)
    assert _answer(app, "GET", "/v1/account", "dita.internal:8080").status_code == 200
    assert _answer(app, "GET", "/v1/account", "10.0.0.5").status_code == 200
    assert _answer(app, "GET", "/v1/account", "localhost").status_code == 421


def test_the_host_listened_on_is_served_unless_it_is_every_interface() -> None:
    assert "192.168.1.7" in (GatewaySettings(host="192.168.1.7").served_hosts() or ())
    assert GatewaySettings(host="0.0.0.0").served_hosts() == frozenset({"localhost", "127.0.0.1", "::1"})
    assert GatewaySettings(allowed_hosts=["*"]).served_hosts() is None


def test_a_star_serves_any_host() -> None:
    app = create_app(ExecutionKernel(max_slots=1), GatewaySettings(token=TOKEN, allowed_hosts="*"))
    assert _answer(app, "GET", "/v1/account", "anything.example").status_code == 200


@pytest.mark.parametrize("value", ["", "a b", "a/b", "user@host", ","])
def test_a_bad_allowed_hosts_is_refused_naming_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DITA_GATEWAY_ALLOWED_HOSTS", value)
    with pytest.raises(SettingsError, match="DITA_GATEWAY_ALLOWED_HOSTS: must name hosts"):
        load_settings()


def test_host_name_drops_the_port_and_the_brackets() -> None:
    assert host_name("Example.COM:8080") == "example.com"
    assert host_name("[::1]:8080") == "::1"
    assert host_name("::1") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1"


def test_a_served_gateway_refuses_a_rebound_name_over_the_wire(shared: LiveServer) -> None:
    port = int(shared.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"GET /v1/account HTTP/1.1\r\nHost: attacker.example:" + str(port).encode() + b"\r\n\r\n"
        )
        answer = conn.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 421")
    assert shared.client.get("/v1/account").status_code == 200


@pytest.mark.parametrize("value", ["dita.internal:8080", "[::1]:8080"])
def test_an_allowed_host_with_a_port_is_refused_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DITA_GATEWAY_ALLOWED_HOSTS", value)
    with pytest.raises(SettingsError, match="without a port"):
        load_settings()


def test_a_bracketed_ipv6_entry_is_served() -> None:
    assert GatewaySettings(allowed_hosts="[::1]").served_hosts() == frozenset({"::1"})
