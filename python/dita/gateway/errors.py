"""The gateway's error answers: a request that does not fit (422, naming each field and value),
a slot's cancel or exit meant for a trade the slot no longer holds (409), and a kernel that
cannot take the request (503, saying whether to send it again)."""

from __future__ import annotations

import math
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from dita._files import GivenTwice
from dita._kernel import VenueAnswerNotLogged, WalError
from dita._text import shortened
from dita.gateway.events import unicode_text
from dita.gateway.lane import GatewayStopped
from dita.gateway.protocol import NoFloatHolds
from dita.gateway.responses import SafeJSONResponse
from dita.gateway.state import GatewayState
from dita.venues._events import input_refused, input_stopped, kernel_busy, live_order

__all__ = ["OtherTrade", "expect_trade", "field_error", "install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(OtherTrade, _other_trade)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(OSError, _kernel_failed)
    app.add_exception_handler(WalError, _kernel_failed)
    app.add_exception_handler(RuntimeError, _kernel_unavailable)


# How many validation errors one 422 lists.
ERRORS_LISTED = 20


def field_error(field: str, msg: str, where: str = "body", value: Any = None) -> RequestValidationError:
    """A 422 naming ``field`` (in the body, or ``where``) and, when given, the value refused."""
    error: dict[str, Any] = {"loc": (where, field), "msg": msg, "type": "value_error"}
    if value is not None:
        error["input"] = value
    return RequestValidationError([error])


class OtherTrade(Exception):
    """A slot's cancel or exit named ``trade_id`` while the slot holds another trade, or none."""

    def __init__(self, slot: dict[str, Any], trade_id: str) -> None:
        self.trade_id = trade_id
        self.slot_trade_id = str(slot.get("trade_id") or "") or None
        holds = f"holds trade {self.slot_trade_id!r}" if self.slot_trade_id else "holds no trade"
        super().__init__(
            f"trade_id {trade_id!r} is not the trade on slot {slot['slot_id']}, which {holds}"
            f" ({slot.get('fsm_state')}); nothing was sent: read the slot again"
        )


def expect_trade(
    state: GatewayState, slot: dict[str, Any], trade_id: str | None, intent_id: str | None
) -> None:
    """Raises ``OtherTrade`` when the request named ``trade_id`` and the slot holds another
    trade, or none: a click on a page read before the slot moved on must not cancel or close
    the trade that came after. A retry of an intent the kernel took for that trade (its
    ``intent_taken``) goes on: it is answered ``DUPLICATE_INTENT`` with its first outcome,
    which the client needs."""
    if trade_id is None or trade_id == slot.get("trade_id"):
        return
    first = state.first_outcomes.get(intent_id) if intent_id is not None else None
    # Taken is the kernel's fact, not what the answer told: a cancel the venue throttled is
    # answered accepted: false, yet the kernel took its id; one it refused took nothing.
    for_that_trade = first is not None and first["trade_id"] == trade_id
    if for_that_trade and intent_id is not None and state.kernel.intent_taken(intent_id):
        return
    raise OtherTrade(slot, trade_id)


async def _other_trade(request: Request, exc: OtherTrade) -> Response:
    answer = {
        "detail": str(exc),
        "field": "trade_id",
        "trade_id": exc.trade_id,
        "slot_trade_id": exc.slot_trade_id,
    }
    return SafeJSONResponse(answer, status_code=409)


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    if isinstance(exc.body, bytes):
        # FastAPI parses a body as JSON only under a JSON content type and otherwise validates
        # the raw text, which reads as "should be a valid dictionary" about a body that may well
        # be one (`curl -d` sends a form type): name the header instead.
        exc = _content_type_error(request.headers.get("content-type"))
    found = exc.errors()
    # The first few name what is wrong; thousands (a body of unknown fields) would make an
    # answer of megabytes, built on the event loop.
    errors = [_clean_error(e) for e in found[:ERRORS_LISTED]]
    message = "; ".join(_describe(e) for e in errors)
    if len(found) > ERRORS_LISTED:
        message += f"; and {len(found) - ERRORS_LISTED} more errors"
    return SafeJSONResponse({"detail": errors, "message": message}, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, GivenTwice):
        # Its value given again, as stdio's INVALID_JSON names it (a list or object left out),
        # at its path: a key twice inside metadata is not the intent's own field.
        error = {
            "loc": ("body", *cause.path, cause.key),
            "msg": f"the key {shortened(cause.key, 64)!r} is given more than once",
            "type": "duplicate_key",
            "input": cause.then,
        }
        return await _invalid(request, RequestValidationError([error]))
    if exc.status_code == 400 and isinstance(cause, ValueError | RecursionError):
        # FastAPI answers a body json.loads() raised on past JSONDecodeError (not UTF-8, nested
        # too deeply, an integer too long) with a bare 400: it is a body that is not JSON like
        # any other.
        error = {"loc": ("body",), "msg": "JSON decode error", "type": "json_invalid"}
        return await _invalid(
            request, RequestValidationError([{**error, "ctx": {"error": _unreadable(cause)}}])
        )
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the first route on the path only: GET for
        # /v1/control, as if PUT were not there.
        allowed = {
            method
            for route in request.app.routes
            if route.matches(request.scope)[0] != Match.NONE
            for method in getattr(route, "methods", None) or ()
        }
        exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(sorted(allowed))})
    return await http_exception_handler(request, exc)


async def _kernel_failed(request: Request, exc: Exception) -> Response:
    # Its log failed (WalError, or the OSError of the write that failed it): the kernel refuses
    # every input from then on, and a bare 500 would tell no client why. Whether an OSError
    # failed it is the kernel's to say (wal_info), asked off the event loop: the kernel, held by
    # another thread, would make every request, /healthz included, wait up to 10 s.
    state: GatewayState = request.app.state.gateway
    try:
        refused = isinstance(exc, WalError) or await anyio.to_thread.run_sync(
            input_refused, state.kernel, exc
        )
    except RuntimeError as busy:  # held past its wait: whether the log failed is not known
        if not kernel_busy(busy):
            raise
        refused = False
    if not refused:
        raise exc
    if isinstance(exc, VenueAnswerNotLogged):
        # What reached the venue, which the caller must know: the order may be live there.
        live = live_order(exc)
        return SafeJSONResponse({"detail": str(exc), "venue_answer_not_logged": live}, status_code=503)
    detail = (
        f"the kernel takes no more input: its write-ahead log failed ({type(exc).__name__}:"
        f" {exc}); a new kernel on its wal_dir recovers from the log"
    )
    return SafeJSONResponse({"detail": detail}, status_code=503)


async def _kernel_unavailable(request: Request, exc: Exception) -> Response:
    # The kernel busy in another thread's call past its wait, or closed (closing), or the
    # gateway stopped: a bare 500 would tell no client whether to send the request again.
    if isinstance(exc, GatewayStopped):
        detail = f"the gateway takes no more input: it stopped ({exc}); not retryable until served again"
        return SafeJSONResponse({"detail": detail}, status_code=503)
    if kernel_busy(exc):
        detail = (
            f"the kernel is busy in another call ({exc}); retryable: send the request again (an"
            " intent under the same intent_id: one the kernel took is refused DUPLICATE_INTENT)"
        )
        return SafeJSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})
    state: GatewayState = request.app.state.gateway
    if input_stopped(state.kernel, exc):
        detail = (
            f"the kernel takes no more input: it is closed or closing ({exc}); not retryable on"
            " this gateway: a new kernel on its wal_dir takes it"
        )
        return SafeJSONResponse({"detail": detail}, status_code=503)
    raise exc


def _content_type_error(content_type: str | None) -> RequestValidationError:
    msg = "the body must be sent as application/json"
    error: dict[str, Any] = {"loc": ("header", "Content-Type"), "type": "content_type"}
    if content_type is None:
        return RequestValidationError([{**error, "msg": f"{msg} (no Content-Type header was sent)"}])
    return RequestValidationError([{**error, "msg": msg, "input": content_type}])


def _unreadable(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (bad byte at offset {exc.start})"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]  # the int digit limit's message ends with a hint for Python code


def _describe(error: dict[str, Any]) -> str:
    loc = error["loc"]
    if error["type"] == "json_invalid":
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return f"body is not valid JSON{where}: {error.get('reason') or error['msg']}"
    field = ".".join(str(p) for p in loc[1:]) if len(loc) > 1 else str(loc[0]) if loc else "request"
    shown = ""
    if "input" in error and not isinstance(error["input"], dict):
        shown = f" (got {_json_scalar(error['input'])})"
    return f"{field}: {error['msg']}{shown}"


def _json_scalar(value: Any) -> str:
    """A refused value as the client sent it: JSON's null, true and false, else Python's repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# A bound's key in a validation error's ctx, and its words in pydantic's message.
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "greater than or equal to"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "less than or equal to"),
}


def _message(error: Any) -> str:
    """pydantic's message, a float bound it would write out in full as its shortest exact text:
    the kernel's least price is 2.2250738585072014e-308, not a decimal of over 300 digits."""
    kind = _BOUNDS.get(str(error.get("type", "")))
    bound = (error.get("ctx") or {}).get(kind[0]) if kind is not None else None
    if kind is not None and isinstance(bound, float) and "e" in repr(bound):
        return f"Input should be {kind[1]} {bound!r}"
    return str(error.get("msg", ""))


def _clean_error(error: Any) -> dict[str, Any]:
    """A validation error in plain JSON: location, message, type and a short copy of the input
    (a long number as its text cut short; a lone surrogate as its escape, ``unicode_text``)."""
    out: dict[str, Any] = {
        "loc": [unicode_text(p) if isinstance(p, str) else p for p in error.get("loc", ())],
        "msg": unicode_text(_message(error)),
        "type": str(error.get("type", "")),
    }
    if "input" in error and error.get("type") != "missing":  # a missing value's input is None
        value: Any = error["input"]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, NoFloatHolds):
            value = value.text  # a JSON number no float holds, as it was sent
        if isinstance(value, int | float) and not isinstance(value, bool) and len(str(value)) > 64:
            value = shortened(str(value), 64)  # a 4000-digit integer
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # NaN or 1e999 in the body: as text, where JSON would write null
        if isinstance(value, str):
            out["input"] = unicode_text(value[:128])
        elif isinstance(value, int | float | bool) or value is None:
            out["input"] = value
    ctx = error.get("ctx") or {}
    if out["type"] == "json_invalid" and "error" in ctx:
        out["reason"] = str(ctx["error"])
    return out
