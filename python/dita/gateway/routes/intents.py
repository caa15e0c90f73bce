"""Intents: ``POST /v1/intents`` (ENTER, EXIT, CANCEL) and ``POST /v1/slots/{slot_id}/cancel``.

Each runs on the kernel's lane; the answer is the kernel's outcome (a refusal is a 200 with
``accepted: false``), and the outcome, the slots it moved and the account go to the event
streams. For intents whose client chose the ``intent_id``, the gateway remembers the slot of
each ENTER and what became of each intent, so a retry is told what the first attempt did.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError

from dita._kernel import (
    KernelCommandType,
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    KernelTransition,
    TradeSide,
    VenueEvent,
)
from dita.gateway.auth import require_token
from dita.gateway.cancel_answers import cancel_answer
from dita.gateway.errors import expect_trade, field_error
from dita.gateway.models import (
    OTHER_TRADE_NOTE,
    CancelRequest,
    IntentRequest,
    OtherTradeAnswer,
    SlotPath,
    error_answers,
)
from dita.gateway.polling import VENUE_ENDS
from dita.gateway.protocol import asset_name
from dita.gateway.state import REMEMBERED_INTENTS, CurrentState, GatewayState
from dita.kernel import FILL_TRIGGERS, applied_events
from dita.venues._events import kernel_busy

__all__ = ["add_routes", "submit"]

# The HTTP gateway logs under one name, that of the module embedders serve: dita.gateway.app.
log = logging.getLogger("dita.gateway.app")

_RETRY_NOTE = (
    "Answers the kernel's outcome (a refusal is 200 with `accepted: false`). A retry under an"
    " `intent_id` the kernel took before is refused `DUPLICATE_INTENT`; for the last 10,000"
    " intents whose client gave an `intent_id`, `details.first_outcome` says what became of"
    " the first attempt (`accepted`, `diagnostic_code`, `state`, `slot_id`, `trade_id`,"
    " `venue_events`, `seq`): `RATE_LIMITED`, or a `REJECT` in `venue_events`, means nothing"
    " was placed (send it again under a new `intent_id`), unless the venue took the order after"
    " its rate limit: the slot then shows it as `order_in_doubt` and takes no new order until it"
    " is reconciled (the first answer said so: CRITICAL, `details.slot_waits`)."
)

_CANCEL_NOTE = (
    " A cancel the venue refused (`CANCEL_REJECT` in its answer) or throttled (`RATE_LIMITED`,"
    " also when the kernel refuses that event for an order in doubt, listed in"
    " `details.venue_refusals`) is answered `accepted: false`, `diagnostic_code`"
    " `CANCEL_REJECTED` or `RATE_LIMITED`, `details.reason` saying so: the order may still work."
)


async def post_intent(state: CurrentState, req: IntentRequest) -> dict[str, Any]:
    unused = req.fields_without_meaning()
    if unused:
        raise RequestValidationError([_without_meaning(req.action, *field) for field in unused])
    return await state.lane.run(lambda: _place_intent(state, req))


def _without_meaning(action: str, name: str, value: Any, why: str) -> dict[str, Any]:
    """The 422 error of field ``name``, given ``value``, which ``action`` does not act on."""
    # A list is no plain input, which answers leave out: its message names it instead.
    shown = f": {value}" if isinstance(value, list) else ""
    return {
        "loc": ("body", name),
        "msg": f"has no meaning for {action} ({why}){shown}; leave {name} out",
        "type": "value_error",
        "input": value,
    }


async def cancel_slot(
    state: CurrentState,
    slot_id: SlotPath,
    req: Annotated[CancelRequest | None, Body()] = None,
) -> dict[str, Any]:
    return await state.lane.run(lambda: _cancel_on(state, slot_id, req or CancelRequest()))


def _place_intent(state: GatewayState, req: IntentRequest) -> dict[str, Any]:
    if req.action != "CANCEL" and req.order_type == "MARKET" and req.limit_price > 0.0:
        # A buy meant to be capped at 90 would fill at 100 (order_type defaults to MARKET; stdio
        # makes a priced order LIMIT). The kernel refuses it as INVALID_INTENT too; the body is
        # answered 422 here, as its other field errors are, and never reaches the kernel's log.
        raise field_error(
            "limit_price",
            f"limit_price is for LIMIT orders: this {req.action} is a MARKET order (order_type"
            f" {'given' if 'order_type' in req.model_fields_set else 'defaults to'} MARKET);"
            ' send order_type "LIMIT", or leave limit_price out',
            value=req.limit_price,
        )
    slot_id = req.slot_id if req.slot_id is not None else _slot_for(state, req)
    slot = state.slot_or_404(slot_id)
    intent_id = req.intent_id or uuid.uuid4().hex
    if req.action == "ENTER":
        if req.asset is None:
            raise field_error("asset", "asset is required for ENTER")
        if req.side is None:
            raise field_error("side", "side is required for ENTER (LONG or SHORT)")
        trade_id, asset = req.trade_id or intent_id, req.asset
        side = req.side
    else:
        trade_id = req.trade_id or str(slot.get("trade_id") or intent_id)
        slot_asset = str(slot.get("asset") or "")
        # The slot's own spelling: one entered in lower case before names were upper-cased
        # over HTTP (a log from then) is still its asset.
        asset = slot_asset or req.asset or ""
        slot_side = str(slot.get("side") or "FLAT")
        if req.side is not None and slot_side in ("LONG", "SHORT") and req.side != slot_side:
            # The kernel closes the slot's own side whatever the intent says: an EXIT meant for
            # a LONG must not close a SHORT unseen (a wrong asset is refused too).
            raise field_error(
                "side",
                f"side {req.side} is not the side of slot {slot_id}, which holds {slot_side};"
                f" {req.action} takes the slot's side (leave side out)",
                value=req.side,
            )
        if req.asset is not None and slot_asset and req.asset != asset_name(slot_asset):
            # The kernel cancels the slot's order whatever asset a CANCEL names: one meant for an
            # ETHUSDT order would take a BTCUSDT one off. An EXIT's is answered alike.
            raise field_error(
                "asset",
                f"asset {req.asset} is not the asset of slot {slot_id}, which holds {slot_asset};"
                f" {req.action} takes the slot's asset (leave asset out)",
                value=req.asset,
            )
        side = req.side or ("SHORT" if slot_side == "SHORT" else "LONG")
    intent = KernelIntent(
        intent_id=intent_id,
        trade_id=trade_id,
        slot_id=slot_id,
        asset=asset,
        side=TradeSide.parse(side),
        action=KernelCommandType.parse(req.action),
        reference_price=req.reference_price,
        target_size=req.target_size,
        leverage=req.leverage,
        exit_leg_ratios=req.exit_leg_ratios or (1.0,),
        order_type=req.order_type,
        limit_price=req.limit_price,
        reason=req.reason or "gateway",
        metadata=req.metadata,
    )
    answer = submit(state, intent, client_chose_id=req.intent_id is not None)
    if req.intent_id and req.action == "ENTER" and answer["accepted"]:
        state.entered_slots[req.intent_id] = (slot_id, trade_id)
        if len(state.entered_slots) > REMEMBERED_INTENTS:
            state.entered_slots.popitem(last=False)
    return answer


def _slot_for(state: GatewayState, req: IntentRequest) -> int:
    """The slot of an intent without ``slot_id`` (an ENTER): where a retry's first attempt
    went, else the first free slot."""
    if req.action != "ENTER":
        raise field_error("slot_id", f"slot_id is required for {req.action}")
    slot_id = _entered_slot(state, req.intent_id)
    first = state.first_outcomes.get(req.intent_id) if req.intent_id else None
    # Taken by the kernel, and the venue refused its order: rate limited (the outcome
    # unaccepted, with the venue's event) or rejected (accepted, a REJECT among them).
    venue_refused = first is not None and (
        (not first["accepted"] and bool(first["venue_events"])) or "REJECT" in first["venue_events"]
    )
    if slot_id is None and first is not None and venue_refused:
        # The slot reused since: the retry goes where the first went, to be refused
        # DUPLICATE_INTENT with first_outcome saying nothing was placed, not 409 when every
        # slot is busy by then. (An accepted one whose slot another trade holds is a 409, as
        # below; an intent the kernel refused was not taken.)
        slot_id = int(first["slot_id"])
    if slot_id is None:
        slot_id = state.kernel.free_slot_id()
    if slot_id is None:
        raise HTTPException(409, f"no free slot: all {state.max_slots} slots are busy")
    return slot_id


def _entered_slot(state: GatewayState, intent_id: str | None) -> int | None:
    """The slot an ENTER under ``intent_id`` went to, while its trade still holds it. A retry of
    one forgotten, or of a trade whose slot was taken since, goes to a free slot, and the kernel
    still refuses it."""
    slot_id, trade_id = state.entered_slots.get(intent_id, (None, None)) if intent_id else (None, None)
    if slot_id is None or state.kernel.slot_dict(slot_id).get("trade_id") != trade_id:
        return None
    return slot_id


def _cancel_on(state: GatewayState, slot_id: int, req: CancelRequest) -> dict[str, Any]:
    slot = state.slot_or_404(slot_id)
    expect_trade(state, slot, req.trade_id, req.intent_id)
    slot_side = str(slot.get("side") or "FLAT")
    intent = KernelIntent(
        intent_id=req.intent_id or uuid.uuid4().hex,
        trade_id=str(slot.get("trade_id") or "none"),
        slot_id=slot_id,
        asset=str(slot.get("asset") or ""),
        side=TradeSide.parse(slot_side if slot_side in ("LONG", "SHORT") else "LONG"),
        action=KernelCommandType.CANCEL,
        reference_price=0.0,
        target_size=0.0,
        reason=req.reason or "gateway cancel",
    )
    return submit(state, intent, client_chose_id=req.intent_id is not None)


def submit(state: GatewayState, intent: KernelIntent, client_chose_id: bool) -> dict[str, Any]:
    """Process ``intent`` (on the lane), count, remember and publish it; returns the answer (the
    outcome's dict, a CANCEL's as ``cancel_answer`` makes it)."""
    kernel, metrics = state.kernel, state.metrics
    start = time.perf_counter()
    outcome = kernel.process_intent(intent)
    metrics.intent_latency.observe(time.perf_counter() - start)
    # A cancel the venue refused or throttled is counted, remembered and published as it is
    # answered: a retry or a page following the stream must not take a working order for cancelled.
    answer = outcome.to_dict()
    if intent.action == KernelCommandType.CANCEL:
        answer = cancel_answer(answer)
    accepted, code = bool(answer["accepted"]), str(answer["diagnostic_code"])
    metrics.intents.labels(intent.action.name, str(accepted).lower()).inc()
    if not accepted:
        metrics.rejects.labels(code).inc()
    # What the kernel applied, not every event of the venue's answer: a fill sent twice or
    # beyond its order is refused, and counting it would report a fill never booked.
    applied = applied_events(outcome)
    fills = 0
    for t, e in applied:
        if t.trigger in FILL_TRIGGERS:
            fills += 1
        elif e.kind in VENUE_ENDS:
            metrics.venue_rejects.labels(e.kind.name).inc()
    if fills:
        metrics.fills.inc(fills)
    answer["details"] = _remember_outcome(state, intent, outcome, answer, applied, client_chose_id)
    state.publish(
        "outcome",
        {
            "intent_id": intent.intent_id,
            "action": intent.action.name,
            "asset": intent.asset,
            "slot_id": intent.slot_id,
            "accepted": accepted,
            "diagnostic_code": code,
            "severity": outcome.severity.name,
            "state": outcome.state.name,
            "details": answer["details"],
            "fills": fills,
            "seq": outcome.seq,
        },
    )
    # The intent's slot, and every other slot the venue's answer moved (a fill of an order
    # resting there, reported with this one's): a page following the events stays current.
    try:
        state.publish_slots(dict.fromkeys([intent.slot_id, *(t.slot_id for t in outcome.transitions)]))
        if fills:
            state.publish("account", kernel.account())
    except RuntimeError as exc:
        if not kernel_busy(exc):
            raise
        # The intent is taken: a 503 "send it again" would make a retry without its intent_id a
        # second order. The answer stands; the streams hear the slots at their next change.
        log.warning(
            "intent %s taken, but the kernel was busy for its slot and account events: %s",
            intent.intent_id,
            exc,
        )
    return answer


def _remember_outcome(
    state: GatewayState,
    intent: KernelIntent,
    outcome: KernelOutcome,
    answer: dict[str, Any],
    applied: list[tuple[KernelTransition, VenueEvent]],
    client_chose_id: bool,
) -> dict[str, Any]:
    """The answer's details, with the first attempt's outcome when the kernel refused a retry
    as DUPLICATE_INTENT; an intent under a client's id taken for the first time is remembered."""
    details: dict[str, Any] = answer["details"]
    first = state.first_outcomes.get(intent.intent_id) if client_chose_id else None
    if outcome.diagnostic_code == KernelDiagnosticCode.DUPLICATE_INTENT:
        if first is not None:
            details = {**details, "first_outcome": first}
    elif client_chose_id:
        state.first_outcomes[intent.intent_id] = _first_outcome(outcome, answer, applied)
        state.first_outcomes.move_to_end(intent.intent_id)
        if len(state.first_outcomes) > REMEMBERED_INTENTS:
            state.first_outcomes.popitem(last=False)
    return details


def _first_outcome(
    outcome: KernelOutcome, answer: dict[str, Any], applied: list[tuple[KernelTransition, VenueEvent]]
) -> dict[str, Any]:
    """What a retry refused as DUPLICATE_INTENT is told of its first attempt (details.first_outcome):
    whether it was accepted and its diagnostic as its answer said. Its venue events are those the
    kernel applied to the intent's slot: a reject the answer carried of an order the kernel does
    not know (or another slot's) says nothing of this one."""
    return {
        "accepted": answer["accepted"],
        "diagnostic_code": answer["diagnostic_code"],
        "state": outcome.state.name,
        "slot_id": outcome.slot_id,
        "trade_id": outcome.trade_id,
        "venue_events": [e.kind.name for t, e in applied if t.slot_id == outcome.slot_id],
        "seq": outcome.seq,
    }


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/intents",
        post_intent,
        methods=["POST"],
        dependencies=[Depends(require_token)],
        summary="Submit an ENTER, EXIT or CANCEL intent",
        description=_RETRY_NOTE + _CANCEL_NOTE,
        responses=error_answers(401, 404, 408, 409, 413, 422, 503),
    )
    app.add_api_route(
        "/v1/slots/{slot_id}/cancel",
        cancel_slot,
        methods=["POST"],
        dependencies=[Depends(require_token)],
        summary="Cancel the order working on a slot",
        description=_RETRY_NOTE + _CANCEL_NOTE,
        responses={
            **error_answers(401, 404, 408, 413, 422, 503),
            409: {"model": OtherTradeAnswer, "description": OTHER_TRADE_NOTE},
        },
    )
