"""Trading mode, journal verbosity and the ClickHouse debug switch: ``GET`` and ``PUT
/v1/control``. With a cluster control plane the change goes through the plane, so every
kernel of the cluster sees it; the answer is what this kernel then runs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
from fastapi import Depends, FastAPI, HTTPException, Response

from dita.control import ControlChangeRefused
from dita.gateway.auth import require_token
from dita.gateway.models import LAST_EVENT_ID_HEADER, ControlRequest, ErrorAnswer, error_answers, read_answer
from dita.gateway.state import CurrentState, GatewayState

__all__ = ["CONTROL_APPLY_S", "add_routes", "change_control"]

CONTROL_APPLY_S = 2.0  # how long PUT /v1/control waits for a cluster control plane to apply a change


async def get_control(state: CurrentState, response: Response) -> dict[str, Any]:
    control, last_event_id = await state.read(state.kernel.control)
    response.headers[LAST_EVENT_ID_HEADER] = str(last_event_id)
    return control


async def put_control(state: CurrentState, change: ControlRequest) -> dict[str, Any]:
    return await change_control(state, change.model_dump(exclude_unset=True))


async def change_control(state: GatewayState, fields: dict[str, Any]) -> dict[str, Any]:
    """Make the change, through the cluster's control plane when there is one; answers the
    control state the kernel then runs (HTTPException 409 or 503 when it is not made)."""
    plane = getattr(state.kernel, "control_plane", None)
    if plane is not None:
        return await _change_through_plane(state, plane, fields)

    def change_here() -> dict[str, Any]:
        state.kernel.update_control(**fields, source="gateway")
        state.metrics.control_changes.inc()
        return state.announce_control()

    return await state.lane.run(change_here)


async def _change_through_plane(state: GatewayState, plane: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """A cluster plane writes over the network (off the event loop) and its listener applies the
    change a moment later: wait for it, so the answer is what the kernel runs."""
    kernel, kernel_id = state.kernel, state.kernel_id
    try:
        await anyio.to_thread.run_sync(lambda: plane.set(kernel_id, **fields))
    except ControlChangeRefused as exc:  # stored, but this kernel (closing) refused it
        raise HTTPException(503, f"control change not applied: {exc}") from None
    except RuntimeError as exc:  # ControlPlaneUnavailable
        if getattr(exc, "sent", False):  # ControlWriteUnconfirmed: out, unanswered
            raise HTTPException(503, f"control change not confirmed: {exc}") from None
        raise HTTPException(503, f"control plane unavailable, nothing changed: {exc}") from None
    except ValueError as exc:  # an entry in the cluster no write can follow, named
        raise HTTPException(409, f"control entry not written, nothing changed: {exc}") from None
    deadline = time.monotonic() + CONTROL_APPLY_S
    control = await state.lane.run(kernel.control)
    while _unapplied(fields, control) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        control = await state.lane.run(kernel.control)
    pending = _unapplied(fields, control)
    if pending:
        # A 200 says the change is made: a HALTED taken for done while the kernel trades is worse.
        running = {name: control.get(name) for name in pending}
        raise HTTPException(
            503,
            f"control change not applied: kernel {kernel_id!r} runs {running}, not"
            f" {pending}, {CONTROL_APPLY_S:g} s after the plane's entry was stored (it may"
            " apply it later; GET /v1/control says what it runs)",
        )
    state.metrics.control_changes.inc()
    return await state.lane.run(state.announce_control)


def _unapplied(fields: dict[str, Any], control: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if control.get(name) != value}


_PLANE_CONFLICT = (
    "An entry in the cluster's control plane holds a stamp no write can "
    "follow (set by hand), named; nothing changed"
)
_NOT_CHANGED = (
    "The cluster's control plane is away, nothing changed; or its write went "
    "out unconfirmed (a member not answering: it may still take effect); or the kernel "
    "refused the change (closing) or had not applied it within 2 s, the plane's entry stored; "
    "or the kernel takes no more input (its write-ahead log failed, or it is closed); or it "
    "is busy in another call (retryable, with Retry-After)"
)


def add_routes(app: FastAPI) -> None:
    app.add_api_route(
        "/v1/control",
        get_control,
        methods=["GET"],
        summary="Trading mode, journal verbosity, ClickHouse debug switch",
        responses={**read_answer(), **error_answers(422, 503)},
    )
    app.add_api_route(
        "/v1/control",
        put_control,
        methods=["PUT"],
        dependencies=[Depends(require_token)],
        summary="Change the control state (mode switch etc.)",
        responses={
            **error_answers(401, 408, 413, 422),
            409: {"model": ErrorAnswer, "description": _PLANE_CONFLICT},
            503: {"model": ErrorAnswer, "description": _NOT_CHANGED},
        },
    )
