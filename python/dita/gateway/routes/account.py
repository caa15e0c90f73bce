"""The K/E account and its reconciliation: ``GET /v1/account``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response

from dita.gateway.models import LAST_EVENT_ID_HEADER, error_answers, read_answer
from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def get_account(state: CurrentState, response: Response) -> dict[str, Any]:
    account, last_event_id = await state.read(state.kernel.account)
    response.headers[LAST_EVENT_ID_HEADER] = str(last_event_id)
    return account


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/account",
        get_account,
        methods=["GET"],
        summary="The K/E account and its reconciliation",
        responses={**read_answer(), **error_answers(422, 503)},
    )
