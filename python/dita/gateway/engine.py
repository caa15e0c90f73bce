"""The order engine behind ``dita stdio``: ORDER/CANCEL/QUERY/MARK commands on a kernel.

``OrderEngine`` takes each command and answers QUERY and MARK itself; the rest lives one
behaviour a file:

- ``session_orders``: the order records and what the engine keeps about them, the orders
  working when the session started taken over;
- ``order_entry``: ORDER, matched to the position it closes or given a free slot;
- ``cancels``: CANCEL, and the stop's cancel of every order still working;
- ``venue_events``: the venue's news between commands (``poll``);
- ``execution_reports``: what the client is told of an order's outcome, its fills and its end.
"""

from __future__ import annotations

from typing import Any

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL
from dita.gateway.cancels import _Cancels, kernel_error
from dita.gateway.order_entry import _OrderEntry
from dita.gateway.protocol import CancelCommand, Command, MarkCommand, OrderCommand, QueryCommand
from dita.gateway.session_orders import Emit, OrderRecord
from dita.gateway.venue_events import _VenueEvents
from dita.kernel import FILL_TRIGGERS, applied_events
from dita.venues._events import PolledEvents, input_refused, input_stopped, kernel_busy, live_order

__all__ = [
    "FILL_TRIGGERS",
    "TERMINAL",
    "Emit",
    "OrderEngine",
    "OrderRecord",
    "PolledEvents",
    "applied_events",
    "input_refused",
    "input_stopped",
    "kernel_busy",
    "kernel_error",
    "live_order",
]


class OrderEngine(_OrderEntry, _Cancels, _VenueEvents):
    """Turns protocol commands into kernel intents and kernel outcomes into events.

    ``remember`` bounds the order records kept for QUERY: past it the oldest finished orders
    are forgotten (working orders are always kept), their client ids still refused as used
    (``ForgottenIds``: the last million forgotten).
    """

    # --- dispatch ------------------------------------------------------------------------

    def handle(self, cmd: Command) -> None:
        if isinstance(cmd, OrderCommand):
            self._order(cmd)
        elif isinstance(cmd, CancelCommand):
            self._cancel(cmd)
        elif isinstance(cmd, QueryCommand):
            self._query(cmd)
        else:
            self._mark(cmd)

    # --- QUERY and MARK ------------------------------------------------------------------

    def _query(self, cmd: QueryCommand) -> None:
        result: Any
        if cmd.target == "ORDER":
            assert cmd.client_id is not None
            rec = self.orders.get(cmd.client_id)
            if rec is None:
                self._unknown(cmd.client_id)
                return
            result = rec.to_dict()
        elif cmd.target == "ORDERS":
            result = [rec.to_dict() for rec in self._working.values()]
        elif cmd.target == "ACCOUNT":
            result = self.kernel.account()
        else:
            result = [_slot_summary(s) for s in self.kernel.slots()]
        target = cmd.target if cmd.target != "ORDER" else cmd.client_id
        self._emit("query_received", {"query": target, "result": result})

    def _mark(self, cmd: MarkCommand) -> None:
        try:
            self._marks.mark(cmd.symbol, cmd.price)
        except ValueError as exc:
            # The kernel bounds prices (at most 1e15): bad input, not an engine fault.
            self.error("INVALID_FIELD", f"MARK refused: {exc}", field="price", value=cmd.price)
            return
        self._last_price[cmd.symbol] = cmd.price
        self._emit("account", {"symbol": cmd.symbol, "mark_price": cmd.price, **self.kernel.account()})


def _slot_summary(slot: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "slot_id",
        "fsm_state",
        "trade_id",
        "asset",
        "side",
        "size",
        "entry_price",
        "unrealized_pnl",
        "realized_pnl",
        "fees_paid",
    )
    return {k: slot.get(k) for k in keys}
