"""CANCEL, and the stop's cancel of every order still working: a kernel CANCEL intent on the
order's slot, answered as the order's other commands are."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL
from dita._kernel import KernelCommandType, KernelEventKind, KernelIntent, TradeSide
from dita.gateway.cancel_answers import cancel_refusal
from dita.gateway.execution_reports import _ExecutionReports
from dita.gateway.protocol import CancelCommand
from dita.gateway.session_orders import OrderRecord
from dita.kernel import ExecutionKernel
from dita.venues._events import input_refused

__all__ = ["kernel_error"]


class _Cancels(_ExecutionReports):
    """CANCEL and the stop: ``OrderEngine``'s cancels."""

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
            # The slot's own spelling (the symbol is upper-cased): the kernel refuses a CANCEL
            # naming another asset. A free slot's is empty, which names its order's.
            asset=state.asset,
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
                    details=dict(outcome.details),
                ),
            )
            return
        # Taken, and the venue refused or throttled it (the order works on, or may): told
        # refused, by the rule HTTP answers it by.
        self._apply(rec, outcome, fees_before, refused=cancel_refusal(outcome.to_dict()))

    def cancel_working(
        self, each: Callable[[], AbstractContextManager[Any]] = nullcontext, *, leave_prior: bool = False
    ) -> None:
        """At the session's stop: cancel every order still working, those working when the session
        started too unless ``leave_prior``, each answered as a CANCEL is (without cancel_received:
        the client sent none), inside ``each()``. Positions stay open."""
        self.line = None
        for rec in list(self._working.values()):
            if leave_prior and rec.prior:
                continue
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


def kernel_error(kernel: ExecutionKernel, exc: BaseException) -> bool:
    """Whether ``exc``, raised while a command was handled, is the kernel's: not an OSError of
    the output (a stream without a descriptor is written as each event is told)."""
    return not isinstance(exc, OSError) or input_refused(kernel, exc)
