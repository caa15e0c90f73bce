"""The orders working at the venue: ``GET /v1/orders``, with the orders in doubt (rate limited
before their ack, with a cancel asked: they may still work there), marked ``in_doubt``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from dita.gateway.models import error_answers
from dita.gateway.responses import SafeJSONResponse
from dita.gateway.state import CurrentState, GatewayState

__all__ = ["add_routes"]


def _orders(state: GatewayState) -> list[dict[str, Any]]:
    """The working orders, then those in doubt, each marked ``in_doubt`` (on the lane)."""
    kernel = state.kernel
    orders = []
    for in_doubt, listed in ((False, kernel.open_orders()), (True, kernel.orders_in_doubt())):
        for order in listed:
            shown = order.to_dict()
            shown["in_doubt"] = in_doubt
            orders.append(shown)
    return orders


async def list_orders(state: CurrentState) -> SafeJSONResponse:
    orders = await state.lane.run(lambda: _orders(state))
    # A response, not the list: FastAPI would walk every value of it on the event loop first,
    # seconds for a book of 100,000 orders while /healthz and the event streams wait.
    return SafeJSONResponse(orders)


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/orders",
        list_orders,
        methods=["GET"],
        summary="Orders working at the venue, and those in doubt",
        description="Every working order, `in_doubt` false, then every order in doubt, `in_doubt`"
        " true: rate limited before the venue acknowledged it, with a cancel asked or acknowledged"
        " or filled after, its status unknown (its `status` is the kernel's last word, not the"
        " venue's): it may still work or fill at the venue. A cancel of its slot"
        " (`POST /v1/slots/{slot_id}/cancel`, flatten all) sends its cancel again.",
        response_model=list[dict[str, Any]],
        responses=error_answers(422, 503),
    )
