"""The strategy process's sign of life and the dead-man switch: ``POST /v1/heartbeat`` and
``GET /v1/dead-man``. A strategy that sends no intents for a while heartbeats, so the switch
(``dita.runtime.dead_man``) does not take its quiet for a dead process."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from dita.gateway.auth import require_token
from dita.gateway.models import error_answers
from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def post_heartbeat(state: CurrentState) -> dict[str, Any]:
    """Heard from the strategy now; the switch's status after it (null without a switch)."""
    switch = state.dead_man
    if switch is None:
        return {"dead_man": None}
    switch.heard_from_strategy()
    return {"dead_man": switch.status()}


async def get_dead_man(state: CurrentState) -> dict[str, Any]:
    switch = state.dead_man
    return {"dead_man": None if switch is None else switch.status()}


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/heartbeat",
        post_heartbeat,
        methods=["POST"],
        dependencies=[Depends(require_token)],
        summary="The strategy process is alive (for the dead-man switch)",
        responses=error_answers(401, 408, 413, 422),
    )
    app.add_api_route(
        "/v1/dead-man",
        get_dead_man,
        methods=["GET"],
        summary="The dead-man switch: limits, each source's silence, the trips",
        responses=error_answers(422),
    )
