"""The gateway's routes, one module per resource. Each module's ``add_routes(app)`` adds its
routes to the app itself (not through ``include_router``, whose nested router would hide
them from the token's gate, the 405's Allow header and the latency labels, which read
``app.routes``). ``RESOURCES`` lists them in the order the schema shows them."""

from __future__ import annotations

from dita.gateway.routes import (
    account,
    book,
    control,
    events,
    health,
    heartbeat,
    intents,
    marks,
    metrics,
    orders,
    page,
    slots,
)

__all__ = ["RESOURCES"]

RESOURCES = (page, health, metrics, slots, orders, account, control, heartbeat, intents, book, marks, events)
