"""An id (a slot's in a body or a path, an event's to resume from) is an integer as written: a
JSON integer or its digits as text. JSON reads a number with a fraction or an exponent as a
float, and 0.99999999999999999999 becomes 1.0: taken, it would act on a slot never named."""

from __future__ import annotations

import pytest

from gateway.helpers import AUTH, LiveServer

JSON_AUTH = {**AUTH, "content-type": "application/json"}


@pytest.mark.parametrize("sent", ["0.99999999999999999999", "1.0", "1e0", "1.0000000000000001"])
def test_a_float_slot_id_is_refused_naming_it_and_nothing_changes(shared: LiveServer, sent: str) -> None:
    c = shared.client
    before = c.get("/v1/slots/1").json()
    enter = '"asset":"BTCUSDT","side":"LONG","target_size":1,"reference_price":100'
    for action in ("ENTER", "CANCEL"):
        body = f'{{"action":"{action}",{enter},"slot_id":{sent}}}'
        res = c.post("/v1/intents", content=body, headers=JSON_AUTH)
        assert res.status_code == 422, res.text
        (error,) = res.json()["detail"]
        assert error["loc"] == ["body", "slot_id"] and error["input"] == 1.0, error
        assert res.json()["message"].startswith("slot_id: Input should be a JSON integer")
        assert res.json()["message"].endswith("(got 1.0)")
    assert c.get("/v1/slots/1").json() == before
    assert {s["fsm_state"] for s in c.get("/v1/slots").json()} == {"IDLE"}


@pytest.mark.parametrize("spelling", ["1", '"1"', '"+1"', '"01"'])
def test_an_integer_slot_id_names_that_slot_in_a_body_and_a_path(shared: LiveServer, spelling: str) -> None:
    body = f'{{"action":"CANCEL","slot_id":{spelling}}}'
    res = shared.client.post("/v1/intents", content=body, headers=JSON_AUTH)
    assert res.status_code == 200 and res.json()["slot_id"] == 1, res.text
    path = spelling.strip('"')
    assert shared.client.get(f"/v1/slots/{path}").json()["slot_id"] == 1


def test_an_id_with_a_fraction_or_exponent_or_too_large_is_refused(shared: LiveServer) -> None:
    """Every spelling but digits is a 422 naming the id; digits past the schema's bound a 422,
    past max_slots a 404."""
    c = shared.client
    refused = [("1.5", 422), ('"1.5"', 422), ('"1.0"', 422), ('"1e0"', 422), ('"1e3"', 422),
               ('"inf"', 422), ('"1_0"', 422), ('" 1"', 422), ('"\\u0661"', 422), ("true", 422),
               ("1000", 404), ("1000001", 422), ('"1000001"', 422), ('"%s"' % ("9" * 5000), 422),
               ('"1e9999999999999999999999999999"', 422)]  # fmt: skip
    for spelling, status in refused:
        body = f'{{"action":"CANCEL","slot_id":{spelling}}}'
        res = c.post("/v1/intents", content=body, headers=JSON_AUTH)
        assert res.status_code == status, (spelling[:40], res.text)
        if status == 422:
            assert res.json()["detail"][0]["loc"] == ["body", "slot_id"], res.text
    for path, status in (("1.0", 422), ("1e0", 422), ("1.5", 422), ("1000", 404), ("1e9999", 422)):
        assert c.get(f"/v1/slots/{path}").status_code == status, path
    for value in ("1.0", "1e3", "1e9999999999999999999999999999"):
        res = c.get(f"/v1/events?last_event_id={value}")
        assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["query", "last_event_id"]
        res = c.get("/v1/events", headers={"last-event-id": value})
        assert res.status_code == 422 and value[:32] in res.json()["message"], res.text


@pytest.mark.parametrize("sent", ["-1", "-0000000000000000000000007"])
def test_a_negative_event_id_to_resume_from_is_refused_naming_it(shared: LiveServer, sent: str) -> None:
    """The header's refusal said "must be >= 0" without the value, where the query's names it."""
    res = shared.client.get("/v1/events", headers={"last-event-id": sent})
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert (error["loc"], error["input"]) == (["header", "Last-Event-ID"], sent), error
    assert res.json()["message"] == f"Last-Event-ID: Last-Event-ID must be >= 0 (got {sent!r})"
