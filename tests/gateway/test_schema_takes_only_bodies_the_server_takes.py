"""docs/openapi.json (the schema the server serves) describes no body the server refuses: a
client generated from it, or a contract test, sends what the schema takes. `PUT /v1/control`
takes at least one field, none of them null; `POST /v1/flatten` takes `confirm` true only.
Each body the schema refuses is a 422 naming the field and the value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from gateway.helpers import AUTH, LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _takes(method: str, path: str, body: Any) -> bool:
    doc = json.loads(DOC.read_text())
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return bool(jsonschema_rs.validator_for({**schema, "components": doc["components"]}).is_valid(body))


@pytest.mark.parametrize(
    ("method", "path", "body", "said"),
    [
        ("put", "/v1/control", {}, "give at least one of mode, verbosity, debug_clickhouse_enabled"),
        ("put", "/v1/control", {"mode": None}, "mode: Input should not be null"),
        ("put", "/v1/control", {"verbosity": None}, "verbosity: Input should not be null"),
        (
            "put",
            "/v1/control",
            {"debug_clickhouse_enabled": None},
            "debug_clickhouse_enabled: Input should not be null",
        ),
        ("post", "/v1/flatten", {"confirm": False}, "confirm: confirm must be true"),
        ("post", "/v1/flatten", {"confirm": 1}, "confirm: confirm must be true"),
        ("post", "/v1/flatten", {"confirm": None}, "confirm: confirm must be true"),
    ],
)
def test_a_body_the_schema_refuses_is_a_422_naming_it(
    shared: LiveServer, method: str, path: str, body: Any, said: str
) -> None:
    assert not _takes(method, path, body), f"the schema takes {method.upper()} {path} {body}"
    control = shared.client.get("/v1/control").json()
    answer = shared.client.request(method.upper(), path, json=body, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert said in answer.json()["message"]
    if body:
        assert f"(got {json.dumps(next(iter(body.values())))}" in answer.json()["message"]
    assert shared.client.get("/v1/control").json() == control


@pytest.mark.parametrize(
    "body", [{"mode": "live"}, {"verbosity": "DEBUG", "debug_clickhouse_enabled": False}]
)
def test_a_control_body_the_schema_takes_is_applied(live: LiveServer, body: dict[str, Any]) -> None:
    assert _takes("put", "/v1/control", {k: v.upper() if isinstance(v, str) else v for k, v in body.items()})
    answer = live.client.put("/v1/control", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    for name, value in body.items():
        assert answer.json()[name] == (value.upper() if isinstance(value, str) else value)
