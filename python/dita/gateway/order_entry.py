"""ORDER: a client's order on a symbol and side, turned into a kernel intent on a slot.

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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dita._kernel import (
    KernelCommandType,
    KernelDiagnosticCode,
    KernelIntent,
    OrderType,
    TradeSide,
    TradeStage,
    VenueAnswerNotLogged,
)
from dita.gateway.execution_reports import _ExecutionReports
from dita.gateway.protocol import OrderCommand, asset_name
from dita.gateway.session_orders import OrderRecord, log
from dita.logs import order_ids
from dita.risk import KERNEL_MAX

# Stages of a slot that an opposite order must not go around, as it would open the other side
# beside it: an exit working, or an entry whose order may still fill (whatever it filled so far).
_EXITING = (TradeStage.EXIT_REQUESTED, TradeStage.EXIT_SENT, TradeStage.EXIT_WORKING)
_ENTERING = (TradeStage.ORDER_REQUESTED, TradeStage.ORDER_SENT, TradeStage.ENTRY_WORKING)


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


class _OrderEntry(_ExecutionReports):
    """ORDER: ``OrderEngine``'s orders, each an ENTER or an EXIT intent."""

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
            self._used(cmd.client_id, kept)
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
        if outcome.diagnostic_code == KernelDiagnosticCode.DUPLICATE_INTENT and not outcome.accepted:
            # The kernel took an intent under this id before: an order of an earlier session on
            # its log, or another caller's. The id is used, as one of this session's is, and the
            # line changes nothing.
            self.orders.pop(rec.client_id, None)
            self._finish(rec)
            self._used(
                cmd.client_id,
                " (by an intent the kernel took: an earlier session's order, or another caller's)",
            )
            return
        if outcome.accepted:
            # Only a price the kernel took prices later MKT orders: a refused order changes nothing.
            if cmd.price is not None:
                self._last_price[cmd.symbol] = cmd.price
            if rec.action == "ENTER":
                rec.slot_id = planned.slot_id
                self._positions.setdefault(cmd.symbol, {})[planned.slot_id] = planned.side.name
        self._received(rec)
        self._apply(rec, outcome, position.fees_paid if position is not None else 0.0)  # ENTER starts afresh

    def _used(self, client_id: str, by: str) -> None:
        self.error(
            "DUPLICATE_CLIENT_ID",
            f"client_id {client_id!r} was already used{by}",
            field="client_id",
            value=client_id,
        )

    def _received(self, rec: OrderRecord) -> None:
        self._forget_oldest_orders()
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
