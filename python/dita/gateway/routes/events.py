"""The event stream: ``GET /v1/events``, server-sent events of outcomes, slots, the account,
the control state and venue events; a client that reconnects with ``Last-Event-ID`` (or
``?last_event_id=``) resumes where it left off (``dita.gateway.events``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import Response
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from dita.gateway.errors import field_error
from dita.gateway.models import ErrorAnswer, error_answers, integer_id
from dita.gateway.responses import EventStreamResponse
from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def events(
    state: CurrentState,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    last_event_id: Annotated[int | None, Query(ge=0), BeforeValidator(integer_id)] = None,
) -> Response:
    resume = last_event_id
    if last_event_id_header is not None and last_event_id_header.strip():
        text = last_event_id_header.strip()
        try:
            # int() also reads "1_0" and other scripts' digits; the query's rule instead.
            resume = integer_id(text)
        except PydanticCustomError:
            shown = last_event_id_header[:32]
            raise field_error(
                "Last-Event-ID",
                f"Last-Event-ID must be an event id (integer), got {shown!r}",
                where="header",
            ) from None
        if resume < 0:
            raise field_error("Last-Event-ID", "Last-Event-ID must be >= 0", where="header", value=text)
    settings, broadcaster = state.settings, state.broadcaster
    if broadcaster.clients >= settings.sse_max_clients:
        # Each client costs every publish (on the kernel's thread) a frame and holds a buffer.
        state.metrics.sse_refused.inc()
        raise HTTPException(
            503,
            f"too many event stream clients: the limit is {settings.sse_max_clients} (sse_max_clients)",
            headers={"Retry-After": "5"},
        )
    sub = broadcaster.subscribe(resume)
    return EventStreamResponse(broadcaster, sub, settings.sse_keepalive_seconds, state.metrics)


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/events",
        events,
        methods=["GET"],
        summary="Server-sent events; reconnect with Last-Event-ID (or ?last_event_id=) to resume",
        response_class=Response,
        responses={
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **error_answers(422),
            503: {
                "model": ErrorAnswer,
                "description": "sse_max_clients streams are open; retry after Retry-After seconds",
            },
        },
    )
