"""Intents, events and a venue written as the original kernel's strategy code wrote them:
keyword arguments, enums built from text, timezone-aware datetimes (imported by module name:
pytest puts this directory on sys.path)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from dita import (
    KernelCommandType,
    KernelEventKind,
    KernelIntent,
    TradeSide,
    TradeStage,
    VenueEvent,
    VenueEventStatus,
    VenueOrder,
)

_ids = itertools.count(1)

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A timezone-aware moment ``seconds`` after the test's start, as the original kernel's
    strategies stamped their intents and events."""
    return START + timedelta(seconds=seconds)


def original_intent(action: str, slot_id: int, when: datetime, **fields: Any) -> KernelIntent:
    """A KernelIntent with every field the original kernel's had, by keyword, its enums from text."""
    n = next(_ids)
    values: dict[str, Any] = {
        "timestamp": when,
        "intent_id": f"intent-{n}",
        "trade_id": f"trade-{slot_id}",
        "slot_id": slot_id,
        "asset": "BTCUSDT",
        "side": TradeSide("LONG"),
        "action": KernelCommandType(action),
        "reference_price": 100.0,
        "target_size": 1.0 if action == "ENTER" else 0.0,
        "leverage": 1.0,
        "exit_leg_ratios": (1.0,),
        "reason": "signal",
        "metadata": {"strategy": "original"},
        "stage": TradeStage("IDLE"),
        "order_type": "MARKET",
        "limit_price": 0.0,
    }
    values.update(fields)
    return KernelIntent(**values)


class HandDrivenVenue:
    """A venue as the original kernel's strategies wrote one: ``submit`` and
    ``cancel(order, reason="")`` returning VenueEvents. It acknowledges what it is sent; the
    test fills, duplicates and cancels by hand, reading the orders by the original names."""

    name = "hand-driven"

    def __init__(self) -> None:
        self.orders: dict[str, VenueOrder] = {}
        self.filled: dict[str, float] = {}
        self.cancel_reasons: list[str] = []
        self.now = START
        self._events = itertools.count(1)

    def event(self, order: VenueOrder, kind: str, status: str, **fields: Any) -> VenueEvent:
        return VenueEvent(
            timestamp=self.now,
            event_id=fields.pop("event_id", f"hand-{next(self._events)}"),
            trade_id=order.internal_trade_id,
            slot_id=order.slot_id,
            kind=KernelEventKind(kind),
            status=VenueEventStatus(status),
            venue_order_id=f"v-{order.venue_client_id}",
            venue_client_id=order.venue_client_id,
            side=order.side,
            asset=order.asset,
            raw_payload={"venue": self.name, "kind": kind},
            **fields,
        )

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        self.orders[order.venue_client_id] = order
        self.filled[order.venue_client_id] = 0.0
        return [self.event(order, "ORDER_ACK", "ACKED")]

    def cancel(self, order: VenueOrder, reason: str = "") -> list[VenueEvent]:
        self.cancel_reasons.append(reason)
        done = self.filled[order.venue_client_id]
        return [self.event(order, "CANCEL_ACK", "CANCELED", filled_size=done, reason=reason or "canceled")]

    def fill(self, client_id: str, size: float, price: float) -> VenueEvent:
        """A fill of ``size`` at ``price`` of the order ``client_id``, counted."""
        order = self.orders[client_id]
        self.filled[client_id] += size
        done = self.filled[client_id]
        left = max(order.intended_size - done, 0.0)
        status = "FILLED" if left <= 1e-12 else "PARTIALLY_FILLED"
        return self.event(
            order, "FILL", status, price=price, size=size, filled_size=done, remaining_size=left
        )
