"""The slots' state: ``GET /v1/slots`` (a page of them) and ``GET /v1/slots/{slot_id}``. (A
slot's cancel is an intent: ``intents``.)"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from pydantic import BeforeValidator

from dita.gateway.models import (
    LAST_EVENT_ID_HEADER,
    ErrorAnswer,
    SlotPath,
    error_answers,
    integer_id,
    read_answer,
)
from dita.gateway.responses import SafeJSONResponse
from dita.gateway.state import CurrentState

__all__ = ["SLOTS_PAGE", "SLOTS_PAGE_MOST", "add_routes"]

# Slots per answer of GET /v1/slots, by default and at most: a page is read on the kernel's lane
# (about 8 microseconds a slot) and encoded on the event loop, so neither waits long on it.
SLOTS_PAGE = 1_000
SLOTS_PAGE_MOST = 5_000

_LIST_NOTE = (
    "A page of slots in slot order: `limit` slots (default 1000, at most 5000) from `from_slot`"
    " (default 0). While slots remain, the `Link` header names the next page"
    ' (`</v1/slots?from_slot=1000&limit=1000>; rel="next"`); `/healthz` `max_slots` says how many'
    " there are. A `from_slot` at or beyond `max_slots` is a 404."
)


async def list_slots(
    state: CurrentState,
    request: Request,
    from_slot: Annotated[int, Query(ge=0, le=1_000_000), BeforeValidator(integer_id)] = 0,
    limit: Annotated[int, Query(ge=1, le=SLOTS_PAGE_MOST), BeforeValidator(integer_id)] = SLOTS_PAGE,
) -> SafeJSONResponse:
    state.check_slot_id(from_slot, "from_slot")
    end = min(from_slot + limit, state.max_slots)
    slots, last_event_id = await state.read(
        lambda: [state.kernel.slot_dict(i) for i in range(from_slot, end)]
    )
    headers = {LAST_EVENT_ID_HEADER: str(last_event_id)}
    if end < state.max_slots:
        path = request.scope.get("root_path", "") + "/v1/slots"
        headers["link"] = f'<{path}?from_slot={end}&limit={limit}>; rel="next"'
    # A response, not the list: FastAPI would walk every value of it on the event loop first.
    return SafeJSONResponse(slots, headers=headers)


async def get_slot(state: CurrentState, slot_id: SlotPath, response: Response) -> dict[str, Any]:
    slot, last_event_id = await state.read(lambda: state.slot_or_404(slot_id))
    response.headers[LAST_EVENT_ID_HEADER] = str(last_event_id)
    return slot


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/slots",
        list_slots,
        methods=["GET"],
        summary="A page of the slots' states",
        description=_LIST_NOTE,
        response_model=list[dict[str, Any]],
        responses={
            **read_answer(),
            404: {"model": ErrorAnswer, "description": "from_slot at or beyond max_slots"},
            **error_answers(422, 503),
        },
    )
    app.add_api_route(
        "/v1/slots/{slot_id}",
        get_slot,
        methods=["GET"],
        summary="One slot's state",
        responses={**read_answer(), **error_answers(404, 422, 503)},
    )
