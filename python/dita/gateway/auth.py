"""The bearer token of the mutating endpoints: reads are open, anything that changes the
kernel needs ``Authorization: Bearer <token>``."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match, Router

from dita.gateway.responses import ASGIApp, Receive, Scope, Send, send_json
from dita.gateway.state import CurrentState

__all__ = ["BEARER", "UNAUTHORIZED", "TokenGate", "require_token", "token_matches"]

UNAUTHORIZED = "missing or wrong bearer token (header Authorization: Bearer <token>)"

# A security scheme, not a plain header parameter: the schema then says the mutating endpoints
# take a bearer token (auto_error off: require_token's 401 names the header it wants).
BEARER = HTTPBearer(auto_error=False, description="The gateway's token (setting `token`)")


def token_matches(credentials: str, token: str) -> bool:
    return secrets.compare_digest(credentials.strip().encode(), token.encode())


def _bearer_credentials(authorization: str | None) -> str:
    """The credentials of ``Authorization: Bearer <credentials>`` as HTTPBearer reads them
    ("" for no header, another scheme or nothing after it)."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return ""
    return credentials


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0").strip() not in ("", "0")


async def require_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    state: CurrentState,
) -> None:
    """The dependency of every mutating route. TokenGate answers first (before the body is
    parsed); this declares the scheme in the schema and stays as a second check."""
    value = credentials.credentials if credentials is not None else ""
    if not token_matches(value, state.token):
        raise HTTPException(status_code=401, detail=UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


class TokenGate:
    """Answers 401 to a request for a mutating route without the bearer token, from its headers,
    before its body is read (``BodyLimit`` is inside it) or parsed: FastAPI parses and validates
    a body before it runs any dependency, so a body that is not JSON would get 422, and one
    that never ends 408, from a client without the token. The routes of ``router`` that depend
    on ``require_token`` need it (a full match only: a wrong method is still 405)."""

    def __init__(self, app: ASGIApp, token: str, router: Router) -> None:
        self.app = app
        self.token = token
        self.router = router
        self._protected: list[BaseRoute] = []

    def protected(self) -> list[BaseRoute]:
        if not self._protected:  # found at the first request, once every route is added
            self._protected.extend(
                r
                for r in self.router.routes
                if isinstance(r, APIRoute) and any(d.dependency is require_token for d in r.dependencies)
            )
        return self._protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(r.matches(scope)[0] == Match.FULL for r in self.protected()):
            headers = Headers(scope=scope)
            if not token_matches(_bearer_credentials(headers.get("authorization")), self.token):
                answer = [(b"www-authenticate", b"Bearer")]
                if _has_body(headers):
                    # Its body is not read: a client dripping it would hold the connection for ever.
                    answer.append((b"connection", b"close"))
                await send_json(send, 401, {"detail": UNAUTHORIZED}, tuple(answer))
                return
        await self.app(scope, receive, send)
