"""docs/openapi.json is the schema the server serves, and the server honours it under fuzzing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from dita.gateway.app import create_app
from dita.gateway.config import GatewaySettings
from dita.kernel import ExecutionKernel
from gateway.helpers import AUTH, TOKEN, LiveServer, start_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_docs_schema_matches_the_served_one(live: LiveServer) -> None:
    served = live.client.get("/openapi.json").json()
    documented = json.loads(DOC.read_text())
    assert documented == served, "stale: run `dita serve --openapi-out docs/openapi.json`"


def test_schema_covers_every_route(live: LiveServer) -> None:
    paths = json.loads(DOC.read_text())["paths"]
    assert set(paths) == {
        "/healthz",
        "/v1/slots",
        "/v1/slots/{slot_id}",
        "/v1/orders",
        "/v1/account",
        "/v1/control",
        "/v1/heartbeat",
        "/v1/dead-man",
        "/v1/intents",
        "/v1/slots/{slot_id}/cancel",
        "/v1/slots/{slot_id}/exit",
        "/v1/flatten",
        "/v1/marks",
        "/v1/events",
    }
    assert set(paths["/v1/control"]) == {"get", "put"}
    assert set(paths["/v1/flatten"]) == {"get", "post"}


def test_schemathesis_finds_no_server_errors(live: LiveServer) -> None:
    """Generated requests, valid and invalid, against every operation: never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_dict(live.client.get("/openapi.json").json())
    # The event stream never ends by itself; it has tests of its own (test_http.py).
    schema = schema.exclude(path="/v1/events")
    failures: list[str] = []
    calls = unauthorized = 0
    auth = {"authorization": f"Bearer {TOKEN}"}

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                nonlocal calls, unauthorized
                calls += 1
                response = case.call(base_url=live.url, headers=auth, timeout=10)
                if response.status_code >= 500:
                    where = f"{case.method} {case.formatted_path}"
                    failures.append(f"{where}: {response.status_code} {response.text[:200]}")
                unauthorized += response.status_code == 401

            try:
                check()
            except Unsatisfiable:
                # An operation without parameters or body has no invalid form to generate.
                assert mode == GenerationMode.NEGATIVE
            # Negative cases may break the bearer scheme the schema declares, on purpose.
            assert unauthorized == 0 or mode == GenerationMode.NEGATIVE, "the token was not sent"
            unauthorized = 0
    assert calls > 100
    assert failures == []


def test_json_answers_are_documented_as_json_not_strings(live: LiveServer) -> None:
    """Every JSON endpoint answers an object or a list, and the schema must say so: a client
    generated from a schema of strings would parse nothing."""
    paths = live.client.get("/openapi.json").json()["paths"]
    kinds = {
        ("get", "/healthz"): "object",
        ("get", "/v1/slots"): "array",
        ("get", "/v1/slots/{slot_id}"): "object",
        ("get", "/v1/orders"): "array",
        ("get", "/v1/account"): "object",
        ("get", "/v1/control"): "object",
        ("put", "/v1/control"): "object",
        ("post", "/v1/intents"): "object",
        ("post", "/v1/slots/{slot_id}/cancel"): "object",
        ("post", "/v1/marks"): "object",
    }
    for (method, path), kind in kinds.items():
        content = paths[path][method]["responses"]["200"]["content"]
        assert content["application/json"]["schema"]["type"] == kind, (method, path)
    for path in ("/healthz", "/v1/slots", "/v1/slots/0", "/v1/orders", "/v1/account", "/v1/control"):
        answer = live.client.get(path)
        assert answer.headers["content-type"] == "application/json", path
        assert isinstance(answer.json(), list if path in ("/v1/slots", "/v1/orders") else dict), path


def test_every_status_the_server_answers_is_documented_with_its_body() -> None:
    """A client generated from the schema knew only 200 and 422: the 401, 404, 409, 413 and
    503 answers the server gives (docs/reference/http-api.md) were missing, and the 422 body's
    ``message`` too."""
    import jsonschema_rs

    doc = json.loads(DOC.read_text())
    srv = start_server(max_slots=1, max_body_bytes=1024)
    try:
        c = srv.client
        big = b'{"reason": "' + b"x" * 2000 + b'"}'
        json_auth = {**AUTH, "content-type": "application/json"}
        enter = {"action": "ENTER", "asset": "BTC", "side": "LONG", "reference_price": 100, "target_size": 1}
        other_trade = {"json": {"trade_id": "t"}, "headers": AUTH}
        calls: list[tuple[str, str, str, dict[str, Any]]] = [
            ("get", "/v1/slots/{slot_id}", "/v1/slots/7", {}),
            ("get", "/v1/slots/{slot_id}", "/v1/slots/x", {}),
            ("put", "/v1/control", "/v1/control", {"json": {"mode": "HALTED"}}),
            ("put", "/v1/control", "/v1/control", {"json": {"mode": "PAPER"}, "headers": AUTH}),
            ("put", "/v1/control", "/v1/control", {"content": big, "headers": json_auth}),
            ("post", "/v1/intents", "/v1/intents", {"json": enter}),
            ("post", "/v1/intents", "/v1/intents", {"json": {**enter, "slot_id": 7}, "headers": AUTH}),
            ("post", "/v1/intents", "/v1/intents", {"json": enter, "headers": AUTH}),
            ("post", "/v1/intents", "/v1/intents", {"json": enter, "headers": AUTH}),  # no free slot
            ("post", "/v1/intents", "/v1/intents", {"content": big, "headers": json_auth}),
            ("post", "/v1/intents", "/v1/intents", {"json": {"action": "X"}, "headers": AUTH}),
            ("post", "/v1/slots/{slot_id}/cancel", "/v1/slots/0/cancel", {}),
            ("post", "/v1/slots/{slot_id}/cancel", "/v1/slots/7/cancel", {"headers": AUTH}),
            (
                "post",
                "/v1/slots/{slot_id}/cancel",
                "/v1/slots/0/cancel",
                {"content": big, "headers": json_auth},
            ),
            # Meant for a trade slot 0 does not hold.
            ("post", "/v1/slots/{slot_id}/cancel", "/v1/slots/0/cancel", other_trade),
            ("post", "/v1/slots/{slot_id}/exit", "/v1/slots/0/exit", other_trade),
            ("post", "/v1/marks", "/v1/marks", {"json": {"asset": "BTC", "price": 1}}),
            ("post", "/v1/marks", "/v1/marks", {"content": big, "headers": json_auth}),
            ("post", "/v1/marks", "/v1/marks", {"json": {"asset": "BTC"}, "headers": AUTH}),
        ]
        seen: set[tuple[str, str, int]] = set()
        for method, template, path, kwargs in calls:
            res = c.request(method.upper(), path, **kwargs)
            seen.add((method, path, res.status_code))
            documented = doc["paths"][template][method]["responses"]
            assert str(res.status_code) in documented, (method, path, res.status_code, res.text)
            schema = documented[str(res.status_code)]["content"]["application/json"]["schema"]
            validator = jsonschema_rs.validator_for({**schema, "components": doc["components"]})
            assert validator.is_valid(res.json()), (method, path, res.status_code, res.text)
        statuses = {status for _, _, status in seen}
        assert statuses == {200, 401, 404, 409, 413, 422}, seen
    finally:
        srv.stop()
    events = doc["paths"]["/v1/events"]["get"]["responses"]
    assert "503" in events and "application/json" in events["503"]["content"]
    assert "503" in doc["paths"]["/v1/control"]["put"]["responses"]  # the cluster's control plane away
    assert "message" in doc["components"]["schemas"]["ValidationAnswer"]["required"]


def test_the_schema_bounds_exit_leg_ratios_as_the_server_does() -> None:
    """The schema took any number as a leg ratio; the server refuses 0 and anything over 1."""
    ratios = json.loads(DOC.read_text())["components"]["schemas"]["IntentRequest"]["properties"]
    items = ratios["exit_leg_ratios"]["anyOf"][0]["items"]
    assert items["exclusiveMinimum"] == 0 and items["maximum"] == 1


def test_the_mutating_endpoints_declare_bearer_auth() -> None:
    """The token was an optional `authorization` header parameter: a generated client made it
    optional per call and knew nothing of a bearer scheme, while every mutation without it is
    a 401."""
    doc = json.loads(DOC.read_text())
    schemes = doc["components"]["securitySchemes"]
    assert [s["type"] for s in schemes.values()] == ["http"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    mutating = {("put", "/v1/control"), ("post", "/v1/intents"), ("post", "/v1/slots/{slot_id}/cancel"),
                ("post", "/v1/slots/{slot_id}/exit"), ("post", "/v1/flatten"),
                ("post", "/v1/marks"), ("post", "/v1/heartbeat")}  # fmt: skip
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            names = [p["name"].lower() for p in op.get("parameters", [])]
            assert "authorization" not in names, (method, path)
            assert bool(op.get("security")) == ((method, path) in mutating), (method, path)


async def _ask(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        return await c.request(method, path, **kwargs)


async def _body_never_done() -> AsyncIterator[bytes]:
    yield b"{"
    await asyncio.sleep(5)


def test_every_route_lists_what_any_request_and_a_stopped_gateway_are_answered() -> None:
    """The layers before the routes answer any request 421 (a Host not served), 413 (a
    Content-Length over max_body_bytes) and 408 (a body too slow), reads too; and every read of
    the kernel answers 503 once the gateway stopped. Each route's schema lists each answer it
    gives, with its body."""
    import jsonschema_rs

    doc = json.loads(DOC.read_text())
    kernel = ExecutionKernel(max_slots=2)
    settings = GatewaySettings(token=TOKEN, max_slots=2, max_body_bytes=1024, body_timeout_seconds=0.1)
    app = create_app(kernel, settings)
    operations = [(m, p) for p, ops in doc["paths"].items() for m in ops]
    answers: list[tuple[str, str, int, Any]] = []

    async def ask(method: str, template: str, **kwargs: Any) -> None:
        res = await _ask(app, method.upper(), template.replace("{slot_id}", "0"), **kwargs)
        answers.append((method, template, res.status_code, res.json()))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            for method, template in operations:
                await ask(method, template, headers={"host": "attacker.example"})
                await ask(method, template, headers={"content-length": "5000"}, content=b"x" * 5000)
                await ask(
                    method, template, headers={"content-type": "application/json"}, content=_body_never_done()
                )
        for method, template in operations:
            if method == "get" and template != "/v1/events":  # a stream, which needs no kernel
                await ask(method, template)

    try:
        asyncio.run(run())
    finally:
        kernel.close()
    statuses = {(method, template, status) for method, template, status, _ in answers}
    assert {s for _, _, s in statuses} == {200, 401, 408, 413, 421, 503}, statuses
    assert ("get", "/v1/account", 503) in statuses
    for method, template, status, body in answers:
        documented = doc["paths"][template][method]["responses"]
        assert str(status) in documented, (method, template, status, body)
        if status != 200:
            schema = documented[str(status)]["content"]["application/json"]["schema"]
            validator = jsonschema_rs.validator_for({**schema, "components": doc["components"]})
            assert validator.is_valid(body), (method, template, status, body)
