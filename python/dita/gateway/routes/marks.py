"""Mark prices: ``POST /v1/marks`` sets an asset's mark, which values its open positions."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from dita.gateway.auth import require_token
from dita.gateway.models import MarkRequest, error_answers
from dita.gateway.state import CurrentState, GatewayState

__all__ = ["add_routes"]


async def post_mark(state: CurrentState, req: MarkRequest) -> dict[str, Any]:
    return await state.lane.run(lambda: _set_mark(state, req))


def _set_mark(state: GatewayState, req: MarkRequest) -> dict[str, Any]:
    slots_marked, names = state.asset_marks.mark(req.asset, req.price)
    account = state.kernel.account()
    state.publish("account", account)
    for name in names:
        for slot_id in state.kernel.open_slot_ids(name):  # the slots it revalued
            state.publish("slot", state.kernel.slot_dict(slot_id))
    return {"asset": req.asset, "price": req.price, "slots_marked": slots_marked, "account": account}


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/marks",
        post_mark,
        methods=["POST"],
        dependencies=[Depends(require_token)],
        summary="Set an asset's mark price (values open positions)",
        responses=error_answers(401, 408, 413, 422, 503),
    )
