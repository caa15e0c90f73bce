"""A read of the kernel's state says which events it holds: `X-Last-Event-Id` is the id of the
last event published when the kernel was read, so a client following /v1/events keeps the
newer of a read and an event (the operator page does)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.helpers import AUTH, ENTER_ONE, LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
READS = ["/v1/slots", "/v1/slots/0", "/v1/account", "/v1/control"]


def _read_ids(live: LiveServer) -> dict[str, int]:
    return {path: int(live.client.get(path).headers["X-Last-Event-Id"]) for path in READS}


def test_a_read_carries_the_last_event_published_before_it(live: LiveServer) -> None:
    before = live.client.get("/healthz").json()["last_event_id"]
    assert _read_ids(live) == dict.fromkeys(READS, before)
    answer = live.client.post("/v1/intents", json={**ENTER_ONE, "slot_id": 0}, headers=AUTH)
    assert answer.json()["state"] == "POSITION_OPEN"
    # The ENTER's events (outcome, slot, account) are newer than the reads before it ...
    after = live.client.get("/healthz").json()["last_event_id"]
    assert after > before
    # ... and the reads after it hold them.
    assert _read_ids(live) == dict.fromkeys(READS, after)
    assert live.client.get("/v1/slots/0").json()["fsm_state"] == "POSITION_OPEN"


def test_the_schema_documents_the_header_on_each_read() -> None:
    paths = json.loads(DOC.read_text())["paths"]
    for path in ["/v1/slots", "/v1/slots/{slot_id}", "/v1/account", "/v1/control"]:
        headers = paths[path]["get"]["responses"]["200"]["headers"]
        assert headers["X-Last-Event-Id"]["schema"] == {"type": "integer"}, path
