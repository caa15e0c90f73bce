"""The order engine behind ``dita stdio``: ORDER/CANCEL/QUERY/MARK commands on a kernel.

Orders are per symbol and side; the kernel thinks in slots. The mapping (docs/reference/stdio-protocol.md):

- An order whose side is opposite to an open position on the same symbol closes it: SELL
  against an open LONG, BUY against an open SHORT. It becomes an EXIT intent on that slot
  (the oldest such position first). A smaller quantity exits part of it; a larger one is
  refused (QTY_EXCEEDS_POSITION) because flipping through zero takes two orders. With no
  open one, an opposite position still being closed (EXIT_WORKING) or still being entered,
  filled in part or not yet at all (ENTRY_WORKING), refuses it rather than opening the other
  side.
- Otherwise it opens a new trade: an ENTER intent, LONG for BUY and SHORT for SELL, on the
  kernel's first free slot (NO_FREE_SLOT when every slot is busy).

The engine keeps, per symbol, the slots that may hold a position in it: those holding a
position or an order when the session started, then those it opened. Finding a position reads
one slot per candidate rather than every slot per order.

The orders working when the session starts (an embedder's, or recovered from the kernel's log)
are the session's to manage as its own: each is listed under the kernel's client order id, a
CANCEL takes it, and the stop cancels it. A log has one writer, so nobody else manages them.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL
from dita._kernel import (
    AccountEvent,
    KernelCommandType,
    KernelEventKind,
    KernelIntent,
    KernelOutcome,
    KernelTransition,
    OrderType,
    TradeSide,
    TradeStage,
    VenueAnswerNotLogged,
    VenueEvent,
    VenueOrder,
)
from dita.gateway.asset_marks import AssetMarks, engaged_sides, engaged_slots
from dita.gateway.forgotten_ids import ForgottenIds
from dita.gateway.protocol import (
    CancelCommand,
    Command,
    MarkCommand,
    OrderCommand,
    QueryCommand,
    asset_name,
    client_id_fits,
)
from dita.kernel import FILL_TRIGGERS, ExecutionKernel, applied_events, booked_fill
from dita.logs import order_ids
from dita.risk import KERNEL_MAX
from dita.venues import poll_once
from dita.venues._events import PolledEvents, input_refused, input_stopped, kernel_busy
from dita.venues.account_events import take_account_events

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

Emit = Callable[[str, dict[str, Any]], None]
"""Receives (event type, fields); the writer adds ``seq`` and ``ts``."""

log = logging.getLogger("dita.gateway.engine")

# Stages of a slot that an opposite order must not go around, as it would open the other side
# beside it: an exit working, or an entry whose order may still fill (whatever it filled so far).
_EXITING = (TradeStage.EXIT_REQUESTED, TradeStage.EXIT_SENT, TradeStage.EXIT_WORKING)
_ENTERING = (TradeStage.ORDER_REQUESTED, TradeStage.ORDER_SENT, TradeStage.ENTRY_WORKING)

_STATUS_BY_KIND = {
    KernelEventKind.ORDER_ACK: "ACKNOWLEDGED",
    KernelEventKind.CANCEL_ACK: "CANCELED",
    KernelEventKind.REJECT: "REJECTED",
    KernelEventKind.EXPIRED: "EXPIRED",
    KernelEventKind.RATE_LIMITED: "REJECTED",
}


@dataclass(frozen=True, slots=True)
class _OpenPosition:
    """An open position an opposite order closes."""

    slot_id: int
    trade_id: str
    asset: str  # as the slot holds it: an older log's spelling (btcusdt) too
    side: str
    size: float
    fees_paid: float


@dataclass(frozen=True, slots=True)
class _BusyPosition:
    """An opposite position an order must not go around: being closed, or still being entered."""

    slot_id: int
    stage: TradeStage
    trade_id: str
    size: float  # filled so far


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


class OrderEngine:
    """Turns protocol commands into kernel intents and kernel outcomes into events.

    ``remember`` bounds the order records kept for QUERY: past it the oldest finished orders
    are forgotten (working orders are always kept), their client ids still refused as used
    (``ForgottenIds``: the last million forgotten).
    """

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
        )
        self.orders[client_id] = rec
        self._working[client_id] = rec
        self._by_order[rec.order_id] = rec

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

    def error(self, code: str, message: str, **extra: Any) -> None:
        fields: dict[str, Any] = {"code": code, "message": message}
        if self.line is not None:
            fields["line"] = self.line
        fields.update(extra)
        self._emit("error", fields)

    # --- ORDER ---------------------------------------------------------------------------

    def _order(self, cmd: OrderCommand) -> None:
        for name, number in (("qty", cmd.qty), ("price", cmd.price)):
            # Refused here as MARK refuses it, so the client id stays free for the corrected order.
            # Parsed input never gets here (protocol.py refuses it first): a guard for commands built in code.
            if number is not None and number > KERNEL_MAX:
                self.error(
                    "INVALID_FIELD",
                    f"ORDER refused: invalid {name}: {number!r} (must be at most {KERNEL_MAX:g})",
                    field=name,
                    value=number,
                )
                return
        if cmd.client_id in self.orders or cmd.client_id in self.forgotten:
            kept = "" if cmd.client_id in self.orders else " (by an order that ended and is no longer kept)"
            self.error(
                "DUPLICATE_CLIENT_ID",
                f"client_id {cmd.client_id!r} was already used{kept}",
                field="client_id",
                value=cmd.client_id,
            )
            return
        position, busy = self._opposite_position(cmd)
        rec = OrderRecord(
            client_id=cmd.client_id,
            side=cmd.side,
            symbol=cmd.symbol,
            qty=cmd.qty,
            price=cmd.price,
            action="EXIT" if position is not None else "ENTER",
        )
        self._remember_order(rec)
        if position is not None:
            rec.slot_id, rec.trade_id = position.slot_id, position.trade_id
        else:
            # Its slot is the one the kernel takes it on: a refused ENTER claims none.
            rec.trade_id = cmd.client_id
        planned = self._intent(cmd, position, busy)
        if not isinstance(planned, KernelIntent):
            self._received(rec)
            self._refuse(rec, *planned)
            return
        try:
            outcome = self.kernel.process_intent(planned)
        except VenueAnswerNotLogged:
            # The order reached the venue: it stays listed and its client id taken, and the
            # session tells what the venue answered (``tell_answer_not_logged``) as it stops.
            if rec.action == "ENTER":
                rec.slot_id = planned.slot_id
            self._received(rec)
            raise
        except Exception:
            # The kernel refused it by raising (an ENGINE_ERROR): the line changes nothing, so
            # its order is not listed as working and its client id stays free.
            self.orders.pop(rec.client_id, None)
            self._finish(rec)
            raise
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "ORDER %s %s %s: %s, %s",
                rec.client_id,
                planned.action.name,
                rec.symbol,
                outcome.state.name,
                outcome.diagnostic_code.name,
                extra=order_ids(self.kernel, outcome=outcome, gateway_client_id=rec.client_id),
            )
        if outcome.accepted:
            # Only a price the kernel took prices later MKT orders: a refused order changes nothing.
            if cmd.price is not None:
                self._last_price[cmd.symbol] = cmd.price
            if rec.action == "ENTER":
                rec.slot_id = planned.slot_id
                self._positions.setdefault(cmd.symbol, {})[planned.slot_id] = planned.side.name
        self._received(rec)
        self._apply(rec, outcome, position.fees_paid if position is not None else 0.0)  # ENTER starts afresh

    def _received(self, rec: OrderRecord) -> None:
        self._emit(
            "order_received",
            {
                "client_id": rec.client_id,
                "side": rec.side,
                "symbol": rec.symbol,
                "qty": rec.qty,
                "price": rec.price if rec.price is not None else "MKT",
                "action": rec.action,
                "slot_id": rec.slot_id,
            },
        )

    def _intent(
        self,
        cmd: OrderCommand,
        position: _OpenPosition | None,
        busy: _BusyPosition | None,
    ) -> KernelIntent | tuple[str, str]:
        """The kernel intent for ``cmd``, or why the engine refuses it (diagnostic, reason)."""
        if position is None and busy is not None:
            return self._busy_refusal(cmd, busy)
        reference = cmd.price if cmd.price is not None else self._last_price.get(cmd.symbol)
        if reference is None:
            return (
                "NO_REFERENCE_PRICE",
                f"no price known for {cmd.symbol}: send a priced order or MARK {cmd.symbol} <PRICE> first",
            )
        order_type = OrderType.MARKET if cmd.price is None else OrderType.LIMIT
        limit_price = cmd.price if cmd.price is not None else 0.0
        if position is not None:
            size = position.size
            if cmd.qty > size * (1.0 + 1e-9):
                return (
                    "QTY_EXCEEDS_POSITION",
                    f"{cmd.side} {cmd.qty} exceeds the open {position.side} of {size} {cmd.symbol} on slot"
                    f" {position.slot_id}; close it first, then open the other side",
                )
            return KernelIntent(
                intent_id=cmd.client_id,
                trade_id=position.trade_id,
                slot_id=position.slot_id,
                # The kernel takes an exit naming the slot's own spelling of the asset only.
                asset=position.asset,
                side=position.side,
                action=KernelCommandType.EXIT,
                reference_price=reference,
                target_size=min(cmd.qty, size),
                order_type=order_type,
                limit_price=limit_price,
                reason="stdio",
            )
        free = self.kernel.free_slot_id()
        if free is None:
            return "NO_FREE_SLOT", f"all {self.kernel.max_slots} slots are busy"
        return KernelIntent(
            intent_id=cmd.client_id,
            trade_id=cmd.client_id,
            slot_id=free,
            asset=cmd.symbol,
            side=TradeSide.LONG if cmd.side == "BUY" else TradeSide.SHORT,
            action=KernelCommandType.ENTER,
            reference_price=reference,
            target_size=cmd.qty,
            order_type=order_type,
            limit_price=limit_price,
            reason="stdio",
        )

    def _busy_refusal(self, cmd: OrderCommand, busy: _BusyPosition) -> tuple[str, str]:
        """Why ``cmd`` is refused rather than opening the other side beside ``busy``: doing so
        while this side is still being closed, or still being entered, is rarely meant."""
        opposite = f"the {'LONG' if cmd.side == 'SELL' else 'SHORT'} {cmd.symbol} on slot {busy.slot_id}"
        action = "ENTER" if busy.stage in _ENTERING else "EXIT"
        # The session's orders include those working when it started; an order another thread
        # placed on the kernel since is not one of them.
        working = next(
            (
                r
                for r in self._working.values()
                if r.action == action and r.slot_id == busy.slot_id and r.trade_id == busy.trade_id
            ),
            None,
        )
        if action == "EXIT":
            if working is None:
                return "EXIT_WORKING", (
                    f"{opposite} already has an exit working, placed on the kernel outside this session;"
                    " wait for it"
                )
            return "EXIT_WORKING", (
                f"{opposite} already has an exit working, order {working.client_id!r}; wait for it or"
                f" CANCEL {working.client_id} first"
            )
        filled = "partly filled" if busy.size > 0.0 else "nothing filled yet"
        if working is None:
            return "ENTRY_WORKING", (
                f"{opposite} is still being entered by an order of trade {busy.trade_id!r} placed on the"
                f" kernel outside this session ({filled}); wait for it to fill, then close it"
            )
        return "ENTRY_WORKING", (
            f"{opposite} is still being entered by order {working.client_id!r}, {filled}; CANCEL"
            f" {working.client_id} first (or wait for it to fill), then close what filled"
        )

    def _opposite_position(self, cmd: OrderCommand) -> tuple[_OpenPosition | None, _BusyPosition | None]:
        """The oldest open position ``cmd`` closes, and else an opposite position that is
        still being closed or entered."""
        slots = self._positions.get(cmd.symbol)
        if not slots:
            return None, None
        wanted = "LONG" if cmd.side == "SELL" else "SHORT"
        stale: list[int] = []
        found: _OpenPosition | None = None
        busy: _BusyPosition | None = None
        for slot_id in slots:
            state = self.kernel.slot_state(slot_id)
            stage = state.fsm_state
            if stage in (TradeStage.IDLE, TradeStage.CLOSED) or asset_name(state.asset) != cmd.symbol:
                stale.append(slot_id)
                continue
            if state.side.name != wanted:
                continue
            if stage == TradeStage.POSITION_OPEN and state.size > 0.0:
                found = _OpenPosition(
                    slot_id, state.trade_id, state.asset, wanted, state.size, state.fees_paid
                )
                break
            if busy is None and (stage in _ENTERING or (stage in _EXITING and state.size > 0.0)):
                busy = _BusyPosition(slot_id, stage, state.trade_id, state.size)
        for slot_id in stale:
            del slots[slot_id]
        return found, busy

    # --- CANCEL --------------------------------------------------------------------------

    def _cancel(self, cmd: CancelCommand) -> None:
        rec = self.orders.get(cmd.client_id)
        if rec is None:
            self._unknown(cmd.client_id)
            return
        self._emit("cancel_received", {"client_id": rec.client_id, "slot_id": rec.slot_id})
        if rec.status in TERMINAL or rec.slot_id is None:
            self._emit(
                "order_update",
                self._update_fields(
                    rec, diagnostic="ORDER_CLOSED", reason=f"cancel refused: order is {rec.status}"
                ),
            )
            return
        self._send_cancel(rec, "stdio cancel")

    def _send_cancel(self, rec: OrderRecord, why: str) -> None:
        assert rec.slot_id is not None
        state = self.kernel.slot_state(rec.slot_id)
        intent = KernelIntent(
            intent_id=f"{rec.client_id}:cancel:{time.monotonic_ns()}",
            trade_id=rec.trade_id,
            slot_id=rec.slot_id,
            asset=rec.symbol,
            side=state.side if state.side != TradeSide.FLAT else ("LONG" if rec.side == "BUY" else "SHORT"),
            action=KernelCommandType.CANCEL,
            reference_price=rec.price or self._last_price.get(rec.symbol, 0.0),
            target_size=0.0,
            reason=why,
        )
        fees_before = state.fees_paid
        outcome = self.kernel.process_intent(intent)
        if not outcome.accepted:
            # A throttled cancel is refused with the venue's answer: its words, where it gave any.
            said = (e.reason for e in outcome.emitted_events if e.kind == KernelEventKind.RATE_LIMITED)
            self._emit(
                "order_update",
                self._update_fields(
                    rec,
                    diagnostic=outcome.diagnostic_code.name,
                    reason=next((r for r in said if r), "cancel refused"),
                    details=outcome.details,
                ),
            )
            return
        self._apply(rec, outcome, fees_before)

    # --- the venue's later news, and the stop ---------------------------------------------

    def poll(self) -> None:
        """Apply what the venue learned since the last poll (fills of resting orders, the
        outcome of a submit that raised) and tell the client as a command's answers are told.
        Nothing for a venue without ``poll_events`` (the native mock answers at once)."""
        poll_events = getattr(self.kernel.venue, "poll_events", None)
        if poll_events is None:
            return
        self.line = None

        def applied(event: VenueEvent, outcome: KernelOutcome) -> None:
            # A rate limit is refused, yet it ends an order the venue never acknowledged (or is a
            # throttled cancel): told, as a command's answer tells it.
            if outcome.applied:
                self._tell(None, outcome, reported=[event])

        def unfit(event: Any, exc: Exception) -> None:
            self.error("VENUE_ERROR", f"the venue's poll_events gave {type(exc).__name__}: {exc}")

        def set_aside(event: VenueEvent, exc: Exception) -> None:
            # The kernel raised on it poll after poll: after the ENGINE_ERRORs about it, silence
            # read as the event taken, when it waits for reconciling (a fill never booked).
            fill = f", {event.size:g} at {event.price:g}" if event.kind == KernelEventKind.FILL else ""
            self.error(
                "ENGINE_ERROR",
                f"venue event {event.event_id} ({event.kind.name}, slot {event.slot_id}{fill}): the"
                f" kernel raised on it {self._polled.stuck_after} polls in a row ({type(exc).__name__}:"
                f" {exc}); set aside, not applied, to reconcile (reconcile_with_venue); the events"
                " after it are applied",
            )

        try:
            if self._polled.waiting:
                # Those the kernel raised on last time first; while it still does, the venue
                # keeps its newer news.
                self._polled.take(self.kernel, [], applied, unfit, set_aside=set_aside)
            # A venue's fault (a raise; None or one event for a list, which would end the session
            # on a TypeError with its orders left working at the venue) must not end the session.
            events, problem = poll_once(poll_events)
            if problem:
                self.error("VENUE_ERROR", problem)
                return
            self._polled.take(self.kernel, events, applied, unfit, set_aside=set_aside)
            # The account's news the venue holds (a user stream's balance): logged if refused.
            account = take_account_events(self.kernel, self.kernel.venue, self._account_waiting)
            if account.problem:
                self.error("VENUE_ERROR", account.problem)
        except Exception as exc:
            if input_stopped(self.kernel, exc):
                self.error(
                    "ENGINE_ERROR",
                    f"the kernel takes no more input ({type(exc).__name__}: {exc}): the venue events"
                    f" not applied, to reconcile by hand: {self._polled.drop()}",
                )
            raise  # the client is told (ENGINE_ERROR); those kept wait for the next poll

    def tell_answer_not_logged(self, exc: VenueAnswerNotLogged) -> None:
        """Tell the client that the order ``exc`` names reached the venue, though the log could
        not record the venue's answer, and whether it is live there (``venue_answer_not_logged``)."""
        rec = next(
            (r for r in self.orders.values() if r.slot_id == exc.slot_id and r.trade_id == exc.trade_id),
            None,
        )
        self._emit(
            "venue_answer_not_logged",
            {
                "client_id": rec.client_id if rec is not None else None,
                **live_order(exc),
                "message": str(exc),
            },
        )

    def cancel_working(self, each: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
        """At the session's stop: cancel every order still working, those working when the session
        started too, each answered as a CANCEL is (without cancel_received: the client sent none),
        inside ``each()``. Positions stay open."""
        self.line = None
        for rec in list(self._working.values()):
            if rec.slot_id is not None and rec.status not in TERMINAL:
                with each():
                    try:
                        self._send_cancel(rec, "stdio stop")
                    except Exception as exc:
                        # Any the kernel raised (busy, closed, its log failed): each order's cancel is
                        # tried. RuntimeError or WalError cut the stop short: no engine_stopped.
                        if not kernel_error(self.kernel, exc):
                            raise
                        self.error("ENGINE_ERROR", f"{type(exc).__name__}: {exc}", client_id=rec.client_id)

    def _owner(
        self, transition: KernelTransition, event: VenueEvent, rec: OrderRecord | None
    ) -> OrderRecord | None:
        """The order a venue event the kernel applied is about: the one it names, else the
        command's order on that slot, else the order working there."""
        owner = self._by_order.get(event.venue_client_id)
        if owner is not None and owner.slot_id == transition.slot_id:
            return owner
        if rec is not None and rec.slot_id == transition.slot_id and rec.trade_id == transition.trade_id:
            return rec
        return next(
            (
                r
                for r in self._working.values()
                if r.slot_id == transition.slot_id and r.trade_id == transition.trade_id
            ),
            None,
        )

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

    # --- outcomes ------------------------------------------------------------------------

    def _refuse(self, rec: OrderRecord, diagnostic: str, reason: str, details: Any = None) -> None:
        rec.status, rec.diagnostic, rec.reason = "REJECTED", diagnostic, reason
        self._finish(rec)
        fields = self._update_fields(rec, diagnostic=diagnostic, reason=reason)
        if details:
            fields["details"] = details
        self._emit("order_update", fields)

    def _apply(self, rec: OrderRecord, outcome: KernelOutcome, fees_before: float = 0.0) -> None:
        """Tell the client what ``outcome``, the kernel's answer to ``rec``'s command, did."""
        if not outcome.accepted:
            details = outcome.details
            # A venue's refusal (a rate limit) has its words on the event, not in the details.
            venue_reason = next((e.reason for _, e in applied_events(outcome) if e.reason), None)
            said = details.get("reason") or details.get("message") or venue_reason
            reason = str(said or outcome.diagnostic_code.name)
            self._refuse(rec, outcome.diagnostic_code.name, reason, details)
            return
        for t in outcome.transitions:
            if t.trigger == "SUBMIT" and t.intent_id == rec.client_id and t.details.get("client_order_id"):
                rec.order_id = str(t.details["client_order_id"])
                self._by_order[rec.order_id] = rec
        self._tell(rec, outcome, fees_before)

    def _tell(
        self,
        rec: OrderRecord | None,
        outcome: KernelOutcome,
        fees_before: float = 0.0,
        reported: list[VenueEvent] | None = None,
    ) -> None:
        """Tell the client what the accepted ``outcome`` did: to ``rec``, the order whose command
        it answers (None for a polled event, ``reported``), then to each other order one of its
        venue events names (a fill of an order resting on another slot, reported with this one's)."""
        # Only what the kernel applied: a refused event (a fill sent twice, a reject of an order
        # the kernel does not know) would report a fill or an end the kernel never booked.
        told: dict[str, tuple[OrderRecord, list[tuple[KernelTransition, VenueEvent]]]] = {}
        if rec is not None:
            told[rec.client_id] = (rec, [])
        for t, e in applied_events(outcome, reported):
            owner = self._owner(t, e, rec)
            if owner is not None:
                told.setdefault(owner.client_id, (owner, []))[1].append((t, e))
        fills_on: dict[int, int] = {}  # slot -> fills booked on it by this outcome
        for _, pairs in told.values():
            for t, _ in pairs:
                if t.trigger in FILL_TRIGGERS:
                    fills_on[t.slot_id] = fills_on.get(t.slot_id, 0) + 1
        # Read before any is told: each order's tell moves its slot's mark.
        before = {o.slot_id: self._told_fees.get(o.slot_id, 0.0) for o, _ in told.values()}
        if rec is not None:
            before[rec.slot_id] = fees_before
        for owner, pairs in told.values():
            self._tell_order(owner, pairs, outcome if owner is rec else None, before[owner.slot_id], fills_on)
        if fills_on:
            self._emit("account", self.kernel.account())

    def _tell_order(
        self,
        rec: OrderRecord,
        applied: list[tuple[KernelTransition, VenueEvent]],
        outcome: KernelOutcome | None,
        fees_before: float,
        fills_on: dict[int, int],
    ) -> None:
        """``rec``'s venue events ``applied``; ``outcome``: the answer to its own command."""
        events = [e for _, e in applied]
        # A submit or cancel that raised, or answered with what is not a list of events: the
        # kernel took the intent and keeps the order in flight; its details name the venue's
        # error, and go to the client as the HTTP gateway's outcome gives them.
        details = outcome.details if outcome is not None else {}
        fault = details.get("venue_error") or details.get("venue_answer_error")
        if fault:
            rec.diagnostic, rec.reason = "VENUE_ERROR", str(fault)
        stage: str | None = None
        fee_total: float | None = None
        working: set[str] = set()  # the kernel's ids of the slot's orders still working
        if rec.slot_id is not None:
            # One read of the slot serves every event of this command.
            state = self.kernel.slot_state(rec.slot_id)
            stage = state.fsm_state.name
            fee_total = state.fees_paid - fees_before
            orders = (state.active_entry_order, state.active_exit_order)
            working = {o.client_order_id for o in orders if o is not None}
            self._told_fees[rec.slot_id] = state.fees_paid
        fills = fills_on.get(rec.slot_id, 0) if rec.slot_id is not None else 0
        for transition, event in applied:
            if transition.trigger in FILL_TRIGGERS:
                # What the kernel booked, as a strategy hears it; when the venue states no fee,
                # the kernel's prediction for this fill, told when it is the slot's only fill.
                booked = transition.details  # read once: each read builds them anew
                qty, fee = booked_fill(event, booked)
                if fee is None and fills == 1:
                    fee = fee_total
                self._fill(rec, event, qty, fee, stage, booked)
            elif event.kind == KernelEventKind.RATE_LIMITED and event.venue_client_id in working:
                # The venue held the order, so the kernel kept it: a throttled cancel.
                rec.diagnostic = "RATE_LIMITED"
                rec.reason = event.reason or rec.reason
                self._emit("order_update", self._update_fields(rec, stage=stage))
            else:
                # An ack after a fill (a venue reordering its reports) is older news: it does
                # not take the order back to ACKNOWLEDGED.
                kind = event.kind
                if kind == KernelEventKind.FILL:
                    # A fill that ended its order short (FILLED, nothing remaining): the
                    # end's own transition, an expiry, or a cancel's ack with a cancel asked.
                    kind = getattr(KernelEventKind, transition.trigger, kind)
                if not (kind == KernelEventKind.ORDER_ACK and rec.filled_qty > 0.0):
                    rec.status = _STATUS_BY_KIND.get(kind, rec.status)
                if event.reason:
                    rec.reason = event.reason
                if event.kind == KernelEventKind.RATE_LIMITED:
                    rec.diagnostic = "RATE_LIMITED"
                # The venue's own words (a reject's or expiry's reason) go out with the update.
                self._emit("order_update", self._update_fields(rec, stage=stage, reason=event.reason or None))
        if outcome is not None and (not events or fault):
            # Sent and accepted; the venue has not answered yet, or its answer failed.
            fields = self._update_fields(rec, stage=stage)
            if fault:
                fields.update(diagnostic=rec.diagnostic, reason=rec.reason, details=details)
            self._emit("order_update", fields)
        if rec.status in TERMINAL:
            self._finish(rec)

    def _fill(
        self,
        rec: OrderRecord,
        event: VenueEvent,
        qty: float,
        fee: float | None,
        stage: str | None,
        booked: dict[str, Any],
    ) -> None:
        """Tell fill ``event`` of ``rec``: ``qty`` and ``fee`` as the kernel booked them (a fill
        resent in part books only the part no earlier report covered), ``booked`` the details
        of its transition."""
        total = rec.filled_qty + qty
        if total > 0.0:
            rec.avg_price = (rec.avg_price * rec.filled_qty + event.price * qty) / total
        rec.filled_qty = float(booked.get("filled_size", total))
        order_size = float(booked.get("order_size", rec.qty))
        remaining = max(order_size - rec.filled_qty, 0.0)
        if remaining <= order_size * 1e-9:
            rec.status = "FILLED"
        elif rec.status not in TERMINAL:
            # A late fill of a canceled or expired order: it stays ended, with more filled.
            rec.status = "PARTIALLY_FILLED"
        if math.isfinite(event.price) and event.price > 0.0:
            self._last_price[rec.symbol] = event.price
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "fill of ORDER %s: %s at %s, fee %s",
                rec.client_id,
                qty,
                event.price,
                fee,
                extra=order_ids(self.kernel, event=event, gateway_client_id=rec.client_id),
            )
        self._emit(
            "fill",
            {
                "client_id": rec.client_id,
                "slot_id": rec.slot_id,
                "symbol": rec.symbol,
                "side": rec.side,
                "price": event.price,
                "qty": qty,
                "filled_qty": rec.filled_qty,
                "remaining_qty": remaining,
                "fee": fee,
                "fill_id": event.fill_id,
            },
        )
        self._emit("order_update", self._update_fields(rec, stage=stage))

    @staticmethod
    def _update_fields(rec: OrderRecord, **extra: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "client_id": rec.client_id,
            "status": rec.status,
            "action": rec.action,
            "slot_id": rec.slot_id,
            "filled_qty": rec.filled_qty,
            "avg_price": rec.avg_price,
        }
        fields.update({k: v for k, v in extra.items() if v is not None})
        return fields

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
        # Forget the oldest finished orders; working ones move to the back and stay findable.
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


def kernel_error(kernel: ExecutionKernel, exc: BaseException) -> bool:
    """Whether ``exc``, raised while a command was handled, is the kernel's: not an OSError of
    the output (a stream without a descriptor is written as each event is told)."""
    return not isinstance(exc, OSError) or input_refused(kernel, exc)


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


def live_order(exc: VenueAnswerNotLogged) -> dict[str, Any]:
    """The order ``exc`` names, the venue's answer as received, and whether the order is live."""
    return {
        "client_order_id": exc.client_order_id,
        "venue_order_id": exc.venue_order_id,
        "slot_id": exc.slot_id,
        "trade_id": exc.trade_id,
        "answer": [event.to_dict() for event in exc.answer],
        "logged": exc.logged,
        "live": exc.live,
    }
