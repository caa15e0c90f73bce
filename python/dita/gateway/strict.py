"""What a route reads beyond its schema's fields, read strictly: a JSON body that gives no key
twice, each query parameter and declared header at most once, no query parameter the route
does not name, and no body where the route takes none (but the heartbeat). Taken, each would be
a guess (which of two values, or that a parameter or body left unread meant nothing): a request
that does not say one thing is a 422 naming the parameter, the header or the body, before the
route runs."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from dita._files import loads_one_value_each
from dita._text import shortened
from dita.gateway.protocol import json_float

__all__ = ["StrictRoute"]

# A beat says the strategy is alive whatever it carries: refused, a live strategy whose beats
# carry a body would trip the dead-man switch.
_BODY_IGNORED = frozenset({"POST /v1/heartbeat"})


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        # Starlette's json.loads keeps the last of two equal keys, acting on a value the client
        # may not have meant ("side" twice); stdio refuses them with the same check. The body
        # is UTF-8 (a BOM let through): json.loads of bytes would read UTF-16 and UTF-32 too.
        # A number no float holds stays its text, as stdio keeps it (``json_float``).
        if not hasattr(self, "_json"):
            text = (await self.body()).decode("utf-8-sig")
            self._json = loads_one_value_each(text, parse_float=json_float)
        return self._json


class StrictRoute(APIRoute):
    """A route whose JSON body may not give a key twice, at any depth (``one_value_each``); on a
    route of the schema, a query parameter or declared header given twice, a query parameter
    the route does not take, and a body where it takes none (but ``_BODY_IGNORED``'s) are refused."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checked = self.include_in_schema  # the operator page and /metrics take what comes
        query = {field.alias for field in _params(self.dependant, "query_params")}
        headers = sorted({str(field.alias) for field in _params(self.dependant, "header_params")})
        name = f"{'/'.join(sorted(self.methods or ()))} {self.path}"
        takes_body = self.body_field is not None or name in _BODY_IGNORED

        async def strict(request: Request) -> Response:
            request = _StrictJSONRequest(request.scope, request.receive)
            if checked:
                problems = _query_problems(request, query, name) + _header_problems(request, headers)
                if not takes_body:
                    problems += _body_problems(await request.body(), name)
                if problems:
                    raise RequestValidationError(problems)
            return await handler(request)

        return strict


def _params(dependant: Dependant, kind: str) -> list[Any]:
    """The parameters of ``kind`` (``query_params``, ``header_params``) of a route's
    dependant and of every dependency it has."""
    found = list(getattr(dependant, kind))
    for sub in dependant.dependencies:
        found += _params(sub, kind)
    return found


def _query_problems(request: Request, taken: set[str], route: str) -> list[dict[str, Any]]:
    """A parameter ``route`` does not take, or one given more than once: which of two values
    is meant is not for the gateway to guess (Starlette keeps the last)."""
    given: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        given.setdefault(key, []).append(value)
    problems: list[dict[str, Any]] = []
    for key, values in given.items():
        if key not in taken:
            takes = f"it takes {', '.join(sorted(taken))}" if taken else "it takes none"
            msg = f"{route} takes no query parameter {shortened(key, 64)!r}; {takes}"
            problems.append(_problem("query", key, msg, "extra_forbidden", values[0]))
        elif len(values) > 1:
            problems.append(_problem("query", key, _repeated(values), "repeated", values))
    return problems


def _header_problems(request: Request, declared: list[str]) -> list[dict[str, Any]]:
    """A header the route reads (``Last-Event-ID``) given more than once (FastAPI reads the first)."""
    problems: list[dict[str, Any]] = []
    for header in declared:
        values = request.headers.getlist(header)
        if len(values) > 1:
            problems.append(_problem("header", header, _repeated(values), "repeated", values))
    return problems


def _repeated(values: list[str]) -> str:
    shown = ", ".join(repr(shortened(value, 32)) for value in values[:4])
    return f"given {len(values)} times ({shown}{', ...' if len(values) > 4 else ''}); give it once"


def _body_problems(body: bytes, route: str) -> list[dict[str, Any]]:
    """A body sent to a route that takes none. ``{}`` and ``null`` hold no field, and are taken."""
    if not body.strip():
        return []
    try:
        sent = loads_one_value_each(body.decode("utf-8-sig"), parse_float=json_float)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, a key twice, nested too deeply
        sent = ...
    if sent is None or sent == {}:
        return []
    msg = f"{route} takes no body; send none (or {{}})"
    if isinstance(sent, dict):
        return [_problem("body", key, msg, "extra_forbidden", value) for key, value in sent.items()]
    text = body.decode("utf-8", "replace")
    return [{"loc": ("body",), "msg": msg, "type": "extra_forbidden", "input": text}]


def _problem(where: str, name: str, msg: str, kind: str, value: Any) -> dict[str, Any]:
    return {"loc": (where, name), "msg": msg, "type": kind, "input": value}
