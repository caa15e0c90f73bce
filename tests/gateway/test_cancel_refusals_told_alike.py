"""A cancel the venue refused (CANCEL_REJECT) or throttled is answered `accepted: false`,
`CANCEL_REJECTED` or `RATE_LIMITED`; its retry's `details.first_outcome`, its `outcome` event and
`dita_gateway_rejects_total` say the same, so nobody takes an order that still works for cancelled."""

from __future__ import annotations

from typing import Any

import httpx

from dita import VenueEvent
from gateway.helpers import (
    AUTH,
    LimitsRest,
    LiveServer,
    ThrottlesCancels,
    order_in_doubt,
    read_sse,
    serving_an_order_in_doubt,
    start_server,
)

LIMIT_ENTRY = {
    "action": "ENTER",
    "asset": "BTCUSDT",
    "side": "LONG",
    "target_size": 0.5,
    "reference_price": 50_000.0,
    "order_type": "LIMIT",
    "limit_price": 49_000.0,
    "slot_id": 0,
}


class RefusesCancels(LimitsRest):
    """Rests limit orders and refuses every cancel: the order works on."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [VenueEvent(f"crj-{coid}", order.trade_id, order.slot_id, "CANCEL_REJECT",
                           venue_client_id=coid, reason="too late")]  # fmt: skip


class ThrottlesTwoCancels(ThrottlesCancels):
    """Rate limits the first two cancels (the entry's, then the one sent again of the entry in
    doubt) and acknowledges the next ones."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        if len(self.cancels) < 2:
            return super().cancel(order)
        coid = order.client_order_id
        self.cancels.append(coid)
        return [VenueEvent(f"ca-{coid}-{len(self.cancels)}", order.trade_id, order.slot_id, "CANCEL_ACK",
                           venue_client_id=coid)]  # fmt: skip


def _outcome_events(live: LiveServer, after: int, count: int) -> list[dict[str, Any]]:
    """The first ``count`` ``outcome`` events after event id ``after``."""
    path = f"/v1/events?last_event_id={after}"
    with httpx.Client(base_url=live.url, timeout=5) as s, s.stream("GET", path) as res:
        events = read_sse(res.iter_lines(), count, skip=("slot", "account", "control", "venue_event"))
    return [e.data for e in events]


def _rejects(live: LiveServer, code: str) -> float:
    prefix = f'dita_gateway_rejects_total{{diagnostic="{code}"}}'
    lines = [ln for ln in live.client.get("/metrics").text.splitlines() if ln.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


def _told(answer: dict[str, Any]) -> tuple[bool, str]:
    return answer["accepted"], answer["diagnostic_code"]


def test_a_cancel_the_venue_refused_is_told_refused_to_its_retry_its_event_and_the_metrics() -> None:
    live = start_server(max_slots=2, venue=RefusesCancels)
    try:
        c = live.client
        assert c.post("/v1/intents", json=LIMIT_ENTRY, headers=AUTH).json()["accepted"] is True
        last = c.get("/healthz").json()["last_event_id"]
        before = _rejects(live, "CANCEL_REJECTED")
        cancel = {"action": "CANCEL", "slot_id": 0, "intent_id": "d1"}
        first = c.post("/v1/intents", json=cancel, headers=AUTH).json()
        assert _told(first) == (False, "CANCEL_REJECTED"), first
        (event,) = _outcome_events(live, last, 1)
        assert (event["intent_id"], *_told(event)) == ("d1", False, "CANCEL_REJECTED"), event
        assert event["details"]["reason"] == "the venue refused the cancel: too late", event
        assert _rejects(live, "CANCEL_REJECTED") == before + 1
        retry = c.post("/v1/intents", json=cancel, headers=AUTH).json()
        assert retry["diagnostic_code"] == "DUPLICATE_INTENT", retry
        told = retry["details"]["first_outcome"]
        assert _told(told) == (False, "CANCEL_REJECTED"), told
        assert told["venue_events"] == ["CANCEL_REJECT"], told
    finally:
        live.stop()


def test_a_slots_cancel_throttled_again_is_told_throttled_to_its_retry_its_event_and_the_metrics() -> None:
    with serving_an_order_in_doubt() as (live, _venue, _coid):
        c = live.client
        last = c.get("/healthz").json()["last_event_id"]
        before = _rejects(live, "RATE_LIMITED")
        first = c.post("/v1/slots/0/cancel", json={"intent_id": "c9"}, headers=AUTH).json()
        assert _told(first) == (False, "RATE_LIMITED"), first
        (event,) = _outcome_events(live, last, 1)
        assert (event["intent_id"], *_told(event)) == ("c9", False, "RATE_LIMITED"), event
        assert event["details"] == first["details"], event
        assert _rejects(live, "RATE_LIMITED") == before + 1
        retry = c.post("/v1/slots/0/cancel", json={"intent_id": "c9"}, headers=AUTH).json()
        assert _told(retry["details"]["first_outcome"]) == (False, "RATE_LIMITED"), retry


def test_flattens_cancel_throttled_again_is_published_and_counted_as_refused() -> None:
    with serving_an_order_in_doubt() as (live, _venue, _coid):
        c = live.client
        last = c.get("/healthz").json()["last_event_id"]
        before = _rejects(live, "RATE_LIMITED")
        out = c.post("/v1/flatten", json={"confirm": True}, headers=AUTH).json()
        (step,) = out["steps"]
        assert _told(step) == (False, "RATE_LIMITED"), step
        (event,) = _outcome_events(live, last, 1)
        assert (event["action"], *_told(event)) == ("CANCEL", False, "RATE_LIMITED"), event
        assert _rejects(live, "RATE_LIMITED") == before + 1


def test_a_throttled_cancels_retry_after_the_slot_moved_on_is_told_its_first_outcome() -> None:
    """The kernel took the cancel sent again of an order in doubt, which the venue throttled
    (answered accepted: false): once the slot holds another trade, its retry under the same
    intent_id is DUPLICATE_INTENT with its first outcome, not a 409 saying nothing was sent."""
    venue = ThrottlesTwoCancels()
    live = start_server(max_slots=1, venue=lambda: venue)
    try:
        c = live.client
        order_in_doubt(c)
        body = {"intent_id": "c9", "trade_id": c.get("/v1/slots/0").json()["trade_id"]}
        first = c.post("/v1/slots/0/cancel", json=body, headers=AUTH).json()
        assert _told(first) == (False, "RATE_LIMITED"), first
        assert c.post("/v1/slots/0/cancel", headers=AUTH).json()["accepted"] is True
        assert c.post("/v1/intents", json=LIMIT_ENTRY, headers=AUTH).json()["accepted"] is True
        cancels = len(venue.cancels)
        retry = c.post("/v1/slots/0/cancel", json=body, headers=AUTH)
        assert retry.status_code == 200, retry.text
        out = retry.json()
        assert out["diagnostic_code"] == "DUPLICATE_INTENT", out
        assert _told(out["details"]["first_outcome"]) == (False, "RATE_LIMITED"), out
        assert len(venue.cancels) == cancels  # the newer trade's order is left alone
    finally:
        live.stop()


class FillsThenRefusesTheCancel(LimitsRest):
    """Rests limit orders; answers a cancel with the fill that ended the order and the refusal."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        fill = VenueEvent(f"f-{coid}", order.trade_id, order.slot_id, "FILL", venue_client_id=coid,
                          price=49_000.0, size=order.size, filled_size=order.size)  # fmt: skip
        return [fill, VenueEvent(f"crj-{coid}", order.trade_id, order.slot_id, "CANCEL_REJECT",
                                 venue_client_id=coid, reason="already filled")]  # fmt: skip


def test_a_cancel_answered_with_the_fill_that_ended_the_order_is_answered_as_the_fill() -> None:
    live = start_server(max_slots=2, venue=FillsThenRefusesTheCancel)
    try:
        c = live.client
        assert c.post("/v1/intents", json=LIMIT_ENTRY, headers=AUTH).json()["accepted"] is True
        cancel = {"action": "CANCEL", "slot_id": 0, "intent_id": "f1"}
        answer = c.post("/v1/intents", json=cancel, headers=AUTH).json()
        assert (*_told(answer), answer["state"]) == (True, "OK", "POSITION_OPEN"), answer
        assert "FILL" in [t["trigger"] for t in answer["transitions"]], answer
    finally:
        live.stop()
