"""stdio tells a cancel the kernel took but the venue refused (CANCEL_REJECT) or throttled (the
cancel sent again of an order in doubt) as HTTP answers it: an ``order_update`` keeping the
order's status, with ``diagnostic`` ``CANCEL_REJECTED`` or ``RATE_LIMITED``, not as a cancel sent
and not answered yet, so no client waits for a CANCELED while the order works on."""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO, cast

from dita import ExecutionKernel, VenueEvent
from dita.gateway.stdio import run_stdio
from gateway.helpers import LimitsRest, ThrottlesCancels


def _session(kernel: ExecutionKernel, script: str) -> list[dict[str, Any]]:
    out = io.BytesIO()
    run_stdio(kernel, cast(BinaryIO, io.BytesIO(script.encode())), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _answers(events: list[dict[str, Any]], nth: int) -> list[dict[str, Any]]:
    """The order updates that answer the ``nth`` (from 0) CANCEL of the session: those right
    after its ``cancel_received``."""
    start = [i for i, e in enumerate(events) if e["type"] == "cancel_received"][nth] + 1
    end = next(i for i in range(start, len(events)) if events[i]["type"] != "order_update")
    return events[start:end]


class RefusesCancels(LimitsRest):
    """Rests limit orders and refuses every cancel, saying why: the order works on."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [VenueEvent(f"crj-{coid}", order.trade_id, order.slot_id, "CANCEL_REJECT",
                           venue_client_id=coid, reason="too late")]  # fmt: skip


def test_a_cancel_the_venue_refused_is_told_cancel_rejected_in_the_venues_words() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=RefusesCancels())
    events = _session(kernel, "ORDER BUY BTC 1 49000 r1\nCANCEL r1\nQUERY r1\n")
    (update,) = _answers(events, 0)
    assert (update["status"], update.get("diagnostic"), update.get("reason")) == (
        "ACKNOWLEDGED",
        "CANCEL_REJECTED",
        "too late",
    ), update
    assert kernel.slot_state(0).active_entry_order is not None  # it works on


def _queried(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if e["type"] == "query_received")["result"]


def test_query_after_a_cancel_the_venue_refused_keeps_its_diagnostic_and_words() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=RefusesCancels())
    record = _queried(_session(kernel, "ORDER BUY BTC 1 49000 r1\nCANCEL r1\nQUERY r1\n"))
    assert (record["status"], record["diagnostic"], record["reason"]) == (
        "ACKNOWLEDGED",
        "CANCEL_REJECTED",
        "too late",
    ), record


def test_query_after_the_throttled_cancel_sent_again_of_an_order_in_doubt_says_it_may_still_work() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=ThrottlesCancels())
    record = _queried(_session(kernel, "ORDER BUY BTC 1 49000 r1\nCANCEL r1\nCANCEL r1\nQUERY r1\n"))
    assert record["diagnostic"] == "RATE_LIMITED" and "may still work" in record["reason"], record


def test_the_throttled_cancel_sent_again_of_an_order_in_doubt_is_told_rate_limited() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=ThrottlesCancels())
    events = _session(kernel, "ORDER BUY BTC 1 49000 r1\nCANCEL r1\nCANCEL r1\nQUERY r1\n")
    assert kernel.slot_dict(0)["order_in_doubt"]  # the first cancel's throttle
    (update,) = _answers(events, 1)
    assert update.get("diagnostic") == "RATE_LIMITED", update
    assert update["status"] == "NEW" and "may still work" in update["reason"], update


def _fill(order: Any) -> VenueEvent:
    coid = order.client_order_id
    return VenueEvent(f"f-{coid}", order.trade_id, order.slot_id, "FILL", venue_client_id=coid,
                      price=49_000.0, size=order.size, filled_size=order.size)  # fmt: skip


class FillsThenRefusesTheCancel(LimitsRest):
    """Rests limit orders; answers a cancel with the fill that ended the order and the refusal."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [_fill(order), VenueEvent(f"crj-{coid}", order.trade_id, order.slot_id, "CANCEL_REJECT",
                                         venue_client_id=coid, reason="already filled")]  # fmt: skip


class FillsTheOrderInDoubt(ThrottlesCancels):
    """Throttles the first cancel (the order is then in doubt) and answers the one sent again
    with the fill that ended the order, and the throttle."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        throttle = super().cancel(order)
        return throttle if len(self.cancels) == 1 else [_fill(order), *throttle]


def test_a_cancel_answered_with_the_fill_that_ended_the_order_is_told_filled_not_refused() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=FillsThenRefusesTheCancel())
    events = _session(kernel, "ORDER BUY BTC 1 49000 r1\nCANCEL r1\n")
    start = next(i for i, e in enumerate(events) if e["type"] == "cancel_received")
    told = [e for e in events[start:] if e["type"] in ("fill", "order_update")]
    assert [(e["type"], e.get("status"), e.get("diagnostic")) for e in told] == [
        ("fill", None, None),
        ("order_update", "FILLED", None),
    ], told


def test_an_order_in_doubt_filled_in_its_throttled_cancels_answer_is_not_told_it_may_still_work() -> None:
    kernel = ExecutionKernel(max_slots=2, venue=FillsTheOrderInDoubt())
    events = _session(kernel, "ORDER BUY BTC 1 49000 r1\nCANCEL r1\nCANCEL r1\n")
    assert kernel.slot_dict(0)["size"] == 1.0  # the fill is booked: the order is over
    start = [i for i, e in enumerate(events) if e["type"] == "cancel_received"][1]
    updates = [e for e in events[start:] if e["type"] == "order_update"]
    assert [(e["status"], e.get("diagnostic")) for e in updates] == [("FILLED", None)], updates


class RefusesTheCancelSentAgain(ThrottlesCancels):
    """Throttles the first cancel (the order is then in doubt) and refuses the one sent again,
    saying why."""

    def cancel(self, order: Any) -> list[VenueEvent]:
        throttle = super().cancel(order)
        if len(self.cancels) == 1:
            return throttle
        coid = order.client_order_id
        return [VenueEvent(f"crj-{coid}", order.trade_id, order.slot_id, "CANCEL_REJECT",
                           venue_client_id=coid, reason="unknown order")]  # fmt: skip


def test_a_refusal_the_kernel_refused_is_told_without_the_venues_words_and_with_the_kernels() -> None:
    """The refusal of the cancel sent again of an order in doubt is an event of an order the
    kernel ended: it refuses it, and the venue's words are not in its answer."""
    kernel = ExecutionKernel(max_slots=2, venue=RefusesTheCancelSentAgain())
    events = _session(kernel, "ORDER BUY BTC 1 49000 r1\nCANCEL r1\nCANCEL r1\n")
    update = _answers(events, 1)[0]
    assert (update.get("diagnostic"), update.get("reason")) == (
        "CANCEL_REJECTED",
        "the venue refused the cancel",
    ), update
    assert "venue_refusals" in update["details"] and "order in doubt" in update["details"]["reason"], update
