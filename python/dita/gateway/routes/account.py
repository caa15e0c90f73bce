"""The K/E account and its reconciliation: ``GET /v1/account``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from dita.gateway.models import error_answers
from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def get_account(state: CurrentState) -> dict[str, Any]:
    return await state.lane.run(state.kernel.account)


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/account",
        get_account,
        methods=["GET"],
        summary="The K/E account and its reconciliation",
        responses=error_answers(422, 503),
    )
