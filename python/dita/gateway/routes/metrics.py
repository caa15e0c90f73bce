"""Prometheus metrics at ``/metrics``."""

from __future__ import annotations

import anyio
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dita.gateway.state import CurrentState

__all__ = ["add_routes"]


async def prometheus_metrics(state: CurrentState) -> Response:
    # Off the event loop: the scrape reads the kernel's counters, which waits for the kernel.
    text = await anyio.to_thread.run_sync(generate_latest, state.metrics.registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


def add_routes(app: FastAPI) -> None:
    app.add_api_route("/metrics", prometheus_metrics, methods=["GET"], include_in_schema=False)
