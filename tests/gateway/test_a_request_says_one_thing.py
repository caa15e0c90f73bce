"""A request says one thing or is refused: a query parameter or the Last-Event-ID header given
twice, a query parameter the route does not take, and a body sent to a route that takes none
are each a 422 naming it, and change nothing. Taken, the gateway guessed: it read the last of
two query values (the first of two headers), and dropped the rest unseen, so `?dry_run=1` on
an intent placed the order and a heartbeat's or a GET's body was ignored."""

from __future__ import annotations

from typing import Any

import pytest

from dita.runtime.dead_man import DeadManSettings, DeadManSwitch
from gateway.helpers import AUTH, ENTER_ONE, LiveServer, start_server


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        ("/v1/slots?from_slot=1&from_slot=2", "from_slot", "('1', '2')"),
        ("/v1/slots?limit=1&from_slot=0&limit=2", "limit", "('1', '2')"),
        ("/v1/events?last_event_id=1&last_event_id=1", "last_event_id", "('1', '1')"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_naming_it_and_its_values(
    shared: LiveServer, path: str, name: str, values: str
) -> None:
    res = shared.client.get(path)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert (error["loc"], error["type"]) == (["query", name], "repeated")
    assert res.json()["message"] == f"{name}: given 2 times {values}; give it once"


def test_the_last_event_id_header_given_twice_is_refused_naming_it(shared: LiveServer) -> None:
    headers = [("last-event-id", "5"), ("last-event-id", "7")]
    res = shared.client.get("/v1/events", headers=headers)
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]
    assert res.json()["message"] == "Last-Event-ID: given 2 times ('5', '7'); give it once"


def test_a_query_parameter_a_route_does_not_take_is_refused_and_nothing_is_sent(live: LiveServer) -> None:
    c = live.client
    res = c.post("/v1/intents?dry_run=1", json=ENTER_ONE, headers=AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert (error["loc"], error["input"]) == (["query", "dry_run"], "1")
    assert "POST /v1/intents takes no query parameter 'dry_run'; it takes none" in error["msg"]
    assert {s["fsm_state"] for s in c.get("/v1/slots").json()} == {"IDLE"}  # nothing sent
    typo = c.get("/v1/slots?from=2")
    assert typo.status_code == 422 and "it takes from_slot, limit" in typo.json()["message"], typo.text
    # The operator page and the scrape are no API: a link's or a tool's parameter is no input.
    assert c.get("/?utm_source=x").status_code == 200
    assert c.get("/metrics?x=1").status_code == 200
    assert c.get("/v1/slots?from_slot=1&limit=1").json()[0]["slot_id"] == 1


def test_a_body_sent_to_a_route_that_takes_none_is_refused_but_a_heartbeat_is_heard_whatever_it_carries() -> (
    None
):
    """A beat says the strategy is alive whatever its body: refused, the beats of a live strategy
    that sends one (its name, a time) tripped the dead-man switch."""
    clock = _Clock()
    settings = DeadManSettings(strategy_silence_s=30)
    live = start_server(max_slots=1, dead_man=lambda kernel: DeadManSwitch(kernel, settings, clock=clock))
    try:
        c = live.client
        halt = c.request("GET", "/v1/control", json={"mode": "HALTED"})
        assert halt.status_code == 422 and halt.json()["detail"][0]["loc"] == ["body", "mode"], halt.text
        assert halt.json()["message"].startswith("mode: GET /v1/control takes no body")
        mode = c.get("/v1/control").json()["mode"]
        sent_with: list[dict[str, Any]] = [
            {},
            {"json": {}},
            {"content": b"null", "headers": {"content-type": "application/json"}},
            {"json": {"strategy": "s1", "ts": 1}},
            {"json": "alive"},
            {"json": [1]},
        ]
        for sent in sent_with:
            clock.now += 20
            res = c.post("/v1/heartbeat", headers={**AUTH, **sent.pop("headers", {})}, **sent)
            assert res.status_code == 200, res.text
            assert res.json()["dead_man"]["silent_s"]["strategy"] == 0.0
        assert c.get("/v1/control").json()["mode"] == mode  # 120 s in all: the switch never tripped
    finally:
        live.stop()
