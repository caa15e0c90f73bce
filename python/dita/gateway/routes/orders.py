"""The orders working at the venue: ``GET /v1/orders``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def list_orders(state: CurrentState) -> list[dict[str, Any]]:
    return await state.lane.run(lambda: [o.to_dict() for o in state.kernel.open_orders()])


def add_routes(app: FastAPI) -> None:
    app.add_api_route("/v1/orders", list_orders, methods=["GET"], summary="Orders working at the venue")
