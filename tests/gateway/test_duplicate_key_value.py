"""A JSON body giving a key twice is a 422 naming the key and the value it was given again, as
every other 422 names the value refused (and as stdio's INVALID_JSON does): it named the key
only, so a client could not tell from the error which of its two values the gateway saw."""

from __future__ import annotations

from gateway.helpers import AUTH, LiveServer

JSON_AUTH = {**AUTH, "content-type": "application/json"}


def test_a_key_given_twice_is_422_naming_the_key_and_its_second_value(live: LiveServer) -> None:
    c = live.client
    twice = ('{"action":"ENTER","asset":"BTCUSDT","side":"SHORT","side":"LONG",'
             '"reference_price":100,"target_size":1}')  # fmt: skip
    res = c.post("/v1/intents", content=twice, headers=JSON_AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert (error["loc"], error["type"], error.get("input")) == (["body", "side"], "duplicate_key", "LONG")
    assert res.json()["message"] == "side: the key 'side' is given more than once (got 'LONG')"
    res = c.put("/v1/control", content='{"mode":"HALTED","mode":null}', headers=JSON_AUTH)
    assert res.status_code == 422, res.text
    assert res.json()["detail"][0]["loc"] == ["body", "mode"] and res.json()["detail"][0]["input"] is None
    assert res.json()["message"].endswith("(got null)")
    assert {s["fsm_state"] for s in c.get("/v1/slots").json()} == {"IDLE"}  # nothing entered


def test_a_key_given_twice_inside_metadata_is_named_at_its_path(live: LiveServer) -> None:
    """A key twice inside ``metadata`` (or deeper, in a list) is named where it is, not as the
    intent's own field of that name, which the client gave once."""
    c = live.client
    twice = ('{"action":"ENTER","asset":"BTCUSDT","side":"LONG","reference_price":100,"target_size":1,'
             '"metadata":{"side":1,"legs":[{"side":2},{"side":3,"side":4}]}}')  # fmt: skip
    res = c.post("/v1/intents", content=twice, headers=JSON_AUTH)
    assert res.status_code == 422, res.text
    (error,) = res.json()["detail"]
    assert (error["loc"], error["input"]) == (["body", "metadata", "legs", 1, "side"], 4), error
    assert res.json()["message"] == "metadata.legs.1.side: the key 'side' is given more than once (got 4)"
    res = c.post("/v1/intents", content='{"metadata":{"side":1,"side":2}}', headers=JSON_AUTH)
    assert res.json()["detail"][0]["loc"] == ["body", "metadata", "side"], res.text
    assert c.get("/v1/slots/0").json()["fsm_state"] == "IDLE"  # nothing entered
