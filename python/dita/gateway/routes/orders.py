"""The orders working at the venue: ``GET /v1/orders``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from dita.gateway.models import error_answers
from dita.gateway.responses import SafeJSONResponse
from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def list_orders(state: CurrentState) -> SafeJSONResponse:
    orders = await state.lane.run(lambda: [o.to_dict() for o in state.kernel.open_orders()])
    # A response, not the list: FastAPI would walk every value of it on the event loop first,
    # seconds for a book of 100,000 orders while /healthz and the event streams wait.
    return SafeJSONResponse(orders)


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/orders",
        list_orders,
        methods=["GET"],
        summary="Orders working at the venue",
        response_model=list[dict[str, Any]],
        responses=error_answers(422),
    )
