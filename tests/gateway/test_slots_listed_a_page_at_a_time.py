"""GET /v1/slots answers a page of slots, never every slot at once: with max_slots 100,000 the
whole list was about 51 MB, built and encoded on the event loop for seconds while intents,
/healthz and the event streams waited. The reads stay open (no token), as every read is."""

from __future__ import annotations

import re

from gateway.helpers import LiveServer, start_server


def _next_page(link: str | None) -> str | None:
    if link is None:
        return None
    match = re.fullmatch(r'<(/v1/slots\?from_slot=\d+&limit=\d+)>; rel="next"', link)
    assert match is not None, link
    return match[1]


def test_a_kernel_of_many_slots_is_listed_a_page_at_a_time() -> None:
    live = start_server(max_slots=2_500)
    try:
        c = live.client
        first = c.get("/v1/slots")
        assert first.status_code == 200 and "authorization" not in first.request.headers
        assert [s["slot_id"] for s in first.json()] == list(range(1_000))  # the default page
        listed, path = first.json(), _next_page(first.headers.get("link"))
        assert path == "/v1/slots?from_slot=1000&limit=1000"
        while path is not None:
            page = c.get(path)
            listed += page.json()
            path = _next_page(page.headers.get("link"))
        assert [s["slot_id"] for s in listed] == list(range(2_500))
        assert {s["fsm_state"] for s in listed} == {"IDLE"}
        whole = c.get("/v1/slots", params={"from_slot": 0, "limit": 5_000})
        assert len(whole.json()) == 2_500 and "link" not in whole.headers
        tail = c.get("/v1/slots", params={"from_slot": 2_498, "limit": 1})
        assert [s["slot_id"] for s in tail.json()] == [2_498]
        assert tail.headers["link"] == '</v1/slots?from_slot=2499&limit=1>; rel="next"'
    finally:
        live.stop()


def test_a_page_past_its_bounds_is_refused_naming_the_parameter(shared: LiveServer) -> None:
    c = shared.client
    for params, field, value in (
        ({"limit": 5_001}, "limit", "5001"),
        ({"limit": 0}, "limit", "0"),
        ({"limit": "1.0"}, "limit", "1.0"),
        ({"from_slot": -1}, "from_slot", "-1"),
        ({"from_slot": "0.99999999999999999999"}, "from_slot", "0.99999999999999999999"),
        ({"from_slot": 1_000_001}, "from_slot", "1000001"),
    ):
        res = c.get("/v1/slots", params=params)
        assert res.status_code == 422, (params, res.text)
        (error,) = res.json()["detail"]
        assert error["loc"] == ["query", field] and str(error["input"]) == value, error
    beyond = c.get("/v1/slots", params={"from_slot": 4})
    assert beyond.status_code == 404
    assert beyond.json()["detail"] == "from_slot 4 is out of range: this kernel has slots 0..3"
    assert [s["slot_id"] for s in c.get("/v1/slots").json()] == [0, 1, 2, 3]
