"""The operator page at ``/``: one HTML file that reads the API and follows the event stream."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

__all__ = ["add_routes"]


@functools.cache
def _page() -> str:
    return resources.files("dita.gateway").joinpath("static/index.html").read_text(encoding="utf-8")


async def operator_page() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"cache-control": "no-store"})


def add_routes(app: FastAPI) -> None:
    app.add_api_route("/", operator_page, methods=["GET"], include_in_schema=False)
