"""Closing the book: ``POST /v1/slots/{slot_id}/exit`` (a slot's position closed at market),
``GET /v1/flatten`` (what flatten all would do now) and ``POST /v1/flatten`` (do it).

Flatten all halts the kernel first, so no entry slips in while it closes (the kernel takes
EXIT and CANCEL in HALTED), then, in one call on the kernel's lane, cancels every working
order and order in doubt, and closes every position with a reduce-only market order. Its
answer says what it did to each slot and, for what the kernel refused, why (the kernel's
diagnostic); a cancel the venue refused or throttled is no order cancelled (``submit`` answers
it as ``cancel_answer`` makes it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException

from dita.gateway.auth import require_token
from dita.gateway.errors import expect_trade, field_error
from dita.gateway.flatten import cancel_intent, exit_intent, exit_price, flatten_plan, working_order
from dita.gateway.models import (
    OTHER_TRADE_NOTE,
    ExitRequest,
    FlattenRequest,
    OtherTradeAnswer,
    SlotPath,
    error_answers,
)
from dita.gateway.responses import SafeJSONResponse
from dita.gateway.routes.control import change_control
from dita.gateway.routes.intents import submit
from dita.gateway.state import CurrentState, GatewayState

__all__ = ["add_routes"]

_EXIT_NOTE = (
    "Closes the slot's whole position with a reduce-only market order, sized and checked at"
    " `reference_price` (default: the slot's mark, else its entry price). Answers the kernel's"
    " outcome (422 naming `reference_price` when the slot knows no price and none is given):"
    " a refusal is 200 with `accepted: false` and the kernel's diagnostic (a slot with"
    " no position is `NO_POSITION`; one whose entry still works is `INVALID_TRANSITION`: cancel"
    " it first)."
)
_FLATTEN_NOTE = (
    "Sets the mode HALTED (so nothing enters meanwhile), then cancels every working order"
    " (a market exit already working for what the kernel sends to close the whole position, its"
    " size rounded down to the lot step, no cancel asked, is left to close it; an exit leg or an"
    " exit of part is cancelled), sends again the cancel of every"
    " order in doubt (it may still work at the venue), and closes every position with a"
    " reduce-only market order of its whole size. `steps` says what was done to each"
    " slot, with the kernel's outcome; `refused` counts the steps refused (their"
    " `diagnostic_code` and `details` say why): by the kernel, or a cancel the venue refused"
    " (`CANCEL_REJECTED`) or throttled (`RATE_LIMITED`), which `orders_cancelled` leaves out."
    " When the mode change itself is not made (a cluster control plane away), the book is"
    " closed all the same and `halted` is false,"
    " `mode_error` saying why. Needs `confirm: true`."
)


async def exit_slot(
    state: CurrentState,
    slot_id: SlotPath,
    req: Annotated[ExitRequest | None, Body()] = None,
) -> dict[str, Any]:
    req = req or ExitRequest()

    def place() -> dict[str, Any]:
        slot = state.slot_or_404(slot_id)
        expect_trade(state, slot, req.trade_id, req.intent_id)
        price = req.reference_price if req.reference_price is not None else exit_price(slot)
        if price <= 0.0:
            raise field_error(
                "reference_price",
                f"slot {slot_id} ({slot.get('fsm_state')}, side {slot.get('side')}) has no mark,"
                " no entry price and no working order to price a market exit at: give reference_price",
                value=None,
            )
        intent = exit_intent(slot, req.intent_id, req.reason or "gateway exit", price)
        return submit(state, intent, client_chose_id=req.intent_id is not None)

    return await state.lane.run(place)


async def get_flatten_plan(state: CurrentState) -> SafeJSONResponse:
    plan = await state.lane.run(lambda: flatten_plan(state.kernel, state.engaged_slots()))
    return SafeJSONResponse(plan.to_dict())


async def flatten(state: CurrentState, req: FlattenRequest) -> SafeJSONResponse:
    answer: dict[str, Any] = {"halted": True, "mode_error": None}
    try:
        control = await change_control(state, {"mode": "HALTED"})
    except HTTPException as exc:
        # The book is closed all the same: the operator asked to be out of the market.
        answer.update(halted=False, mode_error=str(exc.detail))
        control = await state.lane.run(state.kernel.control)
    steps = await state.lane.run(lambda: _close_the_book(state, req.reason or "gateway flatten"))
    answer.update(
        mode=str(control.get("mode")),
        orders_cancelled=sum(1 for s in steps if s["action"] == "CANCEL" and s["accepted"]),
        exits_placed=sum(1 for s in steps if s["action"] == "EXIT" and s["accepted"]),
        refused=sum(1 for s in steps if not s["accepted"]),
        steps=steps,
    )
    # A response, not the dict: FastAPI would walk a step per slot on the event loop first.
    return SafeJSONResponse(answer)


def _close_the_book(state: GatewayState, reason: str) -> list[dict[str, Any]]:
    """The cancels, then the exits (on the lane): the venue may have filled an order before its
    cancel reached it (the cancel's answer brings the fill), so each slot cancelled is read
    again for a position to close, with those the plan found holding one."""
    plan = flatten_plan(state.kernel, state.engaged_slots())
    steps: list[dict[str, Any]] = []
    for slot_id in plan.cancels:
        slot = state.kernel.slot_dict(slot_id)
        if working_order(slot) is not None or slot.get("order_in_doubt"):
            answer = submit(state, cancel_intent(slot, None, reason), False)
            steps.append(_step("CANCEL", slot, answer))
    for slot_id in sorted({*plan.exits, *plan.cancels}):
        slot = state.kernel.slot_dict(slot_id)
        if float(slot.get("size") or 0.0) > 0.0:
            steps.append(_step("EXIT", slot, submit(state, exit_intent(slot, None, reason), False)))
    return steps


def _step(action: str, slot: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "slot_id": slot["slot_id"],
        "action": action,
        "asset": slot.get("asset") or "",
        "side": slot.get("side") or "FLAT",
        "size": slot.get("size") or 0.0,
        "accepted": answer["accepted"],
        "diagnostic_code": answer["diagnostic_code"],
        "state": answer["state"],
        "details": answer["details"],
    }


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/slots/{slot_id}/exit",
        exit_slot,
        methods=["POST"],
        dependencies=[Depends(require_token)],
        summary="Close a slot's position at market",
        description=_EXIT_NOTE,
        responses={
            **error_answers(401, 404, 408, 413, 422, 503),
            409: {"model": OtherTradeAnswer, "description": OTHER_TRADE_NOTE},
        },
    )
    app.add_api_route(
        "/v1/flatten",
        get_flatten_plan,
        methods=["GET"],
        summary="What flatten all would do now",
        response_model=dict[str, Any],
        responses=error_answers(422, 503),
        description="The slots whose working order, or order in doubt, flatten all would cancel"
        " (`cancel_slots`), whose position it would close (`exit_slots`), and those whose market"
        " exit already closes the whole position (`closing_slots`), with the counts"
        " `working_orders` and `positions`.",
    )
    app.add_api_route(
        "/v1/flatten",
        flatten,
        methods=["POST"],
        dependencies=[Depends(require_token)],
        summary="Flatten all: halt, cancel every working order, close every position",
        response_model=dict[str, Any],
        description=_FLATTEN_NOTE,
        responses=error_answers(401, 408, 413, 422, 503),
    )
