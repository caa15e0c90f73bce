"""The stdio engine's orders and what it keeps about them (``_SessionOrders``, the base of
``OrderEngine``): ``OrderRecord``, what the engine knows about one client order; the records kept
for QUERY, the oldest finished ones forgotten past a bound; the working ones; the order each of
the kernel's client order ids names; the slots per symbol that may hold a position.

The orders working when the session starts (an embedder's, or recovered from the kernel's log)
are the session's to manage as its own: each is listed under the kernel's client order id, a
CANCEL takes it, and the stop cancels it, unless the embedder asks to leave them working (a
resting stop that protects a position). A log has one writer, so nobody else manages them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dita._kernel import AccountEvent, OrderType, VenueOrder
from dita.gateway.asset_marks import AssetMarks, engaged_sides, engaged_slots
from dita.gateway.forgotten_ids import ForgottenIds
from dita.gateway.protocol import asset_name, client_id_fits
from dita.kernel import ExecutionKernel
from dita.venues._events import PolledEvents

__all__ = ["Emit", "OrderRecord"]

Emit = Callable[[str, dict[str, Any]], None]
"""Receives (event type, fields); the writer adds ``seq`` and ``ts``."""

# One logger for the engine's files, under the name docs/reference/logging.md gives it.
log = logging.getLogger("dita.gateway.engine")


@dataclass(slots=True)
class OrderRecord:
    """What the engine knows about one client order."""

    client_id: str
    side: str
    symbol: str
    qty: float
    price: float | None
    action: str  # ENTER or EXIT
    slot_id: int | None = None
    trade_id: str = ""
    status: str = "NEW"
    filled_qty: float = 0.0
    avg_price: float = 0.0
    diagnostic: str = ""
    reason: str = ""
    # The kernel's client order id of this order (its SUBMIT's), which the venue's events name.
    order_id: str = ""
    prior: bool = False  # working when the session started: an embedder's, or a replayed log's

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "side": self.side,
            "symbol": self.symbol,
            "qty": self.qty,
            "price": self.price if self.price is not None else "MKT",
            "action": self.action,
            "slot_id": self.slot_id,
            "trade_id": self.trade_id,
            "status": self.status,
            "filled_qty": self.filled_qty,
            "avg_price": self.avg_price,
            "diagnostic": self.diagnostic,
            "reason": self.reason,
        }


class _SessionOrders:
    """The state of ``OrderEngine``, and the bookkeeping of its order records."""

    def __init__(self, kernel: ExecutionKernel, emit: Emit, *, remember: int = 100_000) -> None:
        self.kernel = kernel
        self._emit = emit
        self._remember = remember
        # The slots engaged when the session started, read once: a MARK reaches those an older
        # log left under another spelling of its symbol, and an order is matched against them.
        engaged = engaged_slots(kernel)
        self._marks = AssetMarks(kernel, engaged)
        self.orders: OrderedDict[str, OrderRecord] = OrderedDict()
        # The client ids of the orders forgotten: a reuse is refused as one of a kept order is.
        self.forgotten = ForgottenIds()
        self._working: dict[str, OrderRecord] = {}
        # The kernel's client order id -> its order's record: a venue's event goes to the order
        # it names, also one of another slot than the command's, or one the engine finished.
        self._by_order: dict[str, OrderRecord] = {}
        # slot -> its fees_paid when its news was last told, whichever order it was about: a
        # later fill's fee, when the venue gives none, is what the slot paid since. (Kept per
        # order, an entry's late fill was charged the fees of its exit's fills told meanwhile.)
        self._told_fees: dict[int | None, float] = {}
        # symbol -> {slot_id: TradeSide name} of the slots that may hold a position in it (oldest
        # first): those engaged when the session started, then those this engine opened.
        self._positions: dict[str, dict[int, str]] = engaged_sides(engaged)
        self._last_price: dict[str, float] = {}
        self.line: int | None = None  # input line being handled, named in error events
        # Polled venue events the kernel raised on (busy), given to it first at the next poll.
        self._polled = PolledEvents()
        # Account events the kernel raised on (busy), as the polled ones.
        self._account_waiting: deque[AccountEvent] = deque()
        for state in engaged:
            self._told_fees[state.slot_id] = state.fees_paid
        for order in kernel.open_orders():
            self._take_over(order)

    def _take_over(self, order: VenueOrder) -> None:
        """Lists ``order``, working when the session started, as a session order: under the
        kernel's client order id, or one naming its slot where that id is not one a command can
        send (an embedder's kernel id with a ``/``, or over 64 characters)."""
        client_id = order.client_order_id
        if not client_id_fits(client_id) or client_id in self.orders:
            client_id = base = f"slot-{order.slot_id}-{'entry' if order.is_entry else 'exit'}"
            copies = 1
            while client_id in self.orders:  # a kernel's own id of this spelling: never seen
                copies += 1
                client_id = f"{base}-{copies}"
        rec = OrderRecord(
            client_id=client_id,
            side=order.order_side.name,
            symbol=asset_name(order.asset),
            qty=order.size,
            price=order.price if order.order_type == OrderType.LIMIT else None,
            action="ENTER" if order.is_entry else "EXIT",
            slot_id=order.slot_id,
            trade_id=order.trade_id,
            status=order.status.name,
            filled_qty=order.filled_size,
            avg_price=order.avg_fill_price,
            order_id=order.client_order_id,
            prior=True,
        )
        self.orders[client_id] = rec
        self._working[client_id] = rec
        self._by_order[rec.order_id] = rec

    def error(self, code: str, message: str, **extra: Any) -> None:
        fields: dict[str, Any] = {"code": code, "message": message}
        if self.line is not None:
            fields["line"] = self.line
        fields.update(extra)
        self._emit("error", fields)

    def _unknown(self, client_id: str) -> None:
        forgotten = (
            f": it ended and is forgotten (the engine keeps the last {self._remember:,} orders)"
            if client_id in self.forgotten
            else ""
        )
        self.error(
            "UNKNOWN_CLIENT_ID",
            f"no order with client_id {client_id!r}{forgotten}",
            field="client_id",
            value=client_id,
        )

    def _remember_order(self, rec: OrderRecord) -> None:
        self.orders[rec.client_id] = rec
        self._working[rec.client_id] = rec

    def _forget_oldest_orders(self) -> None:
        """Forget the oldest finished orders past ``remember``; working ones move to the back and
        stay findable. Run once an order is received: a line refused changes nothing."""
        spins = 0
        while len(self.orders) > self._remember and spins < len(self._working) + 1:
            client_id, oldest = self.orders.popitem(last=False)
            if client_id in self._working:
                self.orders[client_id] = oldest
                spins += 1
                continue
            self.forgotten.add(client_id)
            if self._by_order.get(oldest.order_id) is oldest:
                del self._by_order[oldest.order_id]

    def _finish(self, rec: OrderRecord) -> None:
        self._working.pop(rec.client_id, None)
