"""The slots' state: ``GET /v1/slots`` and ``GET /v1/slots/{slot_id}``. (A slot's cancel is an
intent: ``intents``.)"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from dita.gateway.models import SlotPath, error_answers
from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def list_slots(state: CurrentState) -> list[dict[str, Any]]:
    return await state.lane.run(state.all_slots)


async def get_slot(state: CurrentState, slot_id: SlotPath) -> dict[str, Any]:
    return await state.lane.run(lambda: state.slot_or_404(slot_id))


def add_routes(app: FastAPI) -> None:
    app.add_api_route("/v1/slots", list_slots, methods=["GET"], summary="Every slot's state")
    app.add_api_route(
        "/v1/slots/{slot_id}",
        get_slot,
        methods=["GET"],
        summary="One slot's state",
        responses=error_answers(404, 422),
    )
