"""What the stdio engine tells the client about its orders (``order_update``, ``fill`` and
``account`` events): a refusal, the kernel's answer to an order's or a cancel's command, and the
venue events the kernel applied (acks, fills, ends, a throttled cancel), each told to the order
it names, also one of another slot than the command's."""

from __future__ import annotations

import logging
import math
from typing import Any

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL
from dita._kernel import KernelEventKind, KernelOutcome, KernelTransition, VenueEvent
from dita.gateway.cancel_answers import CANCEL_REFUSALS, QTY_EPS, refusal_reason
from dita.gateway.session_orders import OrderRecord, _SessionOrders, log
from dita.kernel import FILL_TRIGGERS, applied_events, booked_fill
from dita.logs import order_ids

_STATUS_BY_KIND = {
    KernelEventKind.ORDER_ACK: "ACKNOWLEDGED",
    KernelEventKind.CANCEL_ACK: "CANCELED",
    KernelEventKind.REJECT: "REJECTED",
    KernelEventKind.EXPIRED: "EXPIRED",
    KernelEventKind.RATE_LIMITED: "REJECTED",
}


def _completes(trigger: str, remaining: float) -> bool:
    """Whether a fill of ``trigger`` completes its order, as the kernel judged it: FILL does,
    PARTIAL_FILL does not (a lot short of an order of 1e9 is within 1e-9 of its size, and the
    kernel keeps it working), and a late fill of an ended order does when nothing is left."""
    if trigger == "LATE_FILL":
        return remaining <= QTY_EPS
    return trigger == "FILL"


class _ExecutionReports(_SessionOrders):
    """Tells the client what the kernel did with an order: ``OrderEngine``'s reports."""

    def _refuse(self, rec: OrderRecord, diagnostic: str, reason: str, details: Any = None) -> None:
        rec.status, rec.diagnostic, rec.reason = "REJECTED", diagnostic, reason
        self._finish(rec)
        fields = self._update_fields(rec, diagnostic=diagnostic, reason=reason)
        if details:
            fields["details"] = details
        self._emit("order_update", fields)

    def _apply(
        self,
        rec: OrderRecord,
        outcome: KernelOutcome,
        fees_before: float = 0.0,
        refused: tuple[str, str] | None = None,
    ) -> None:
        """Tell the client what ``outcome``, the kernel's answer to ``rec``'s command, did;
        ``refused``: the diagnostic and the venue's words of a cancel it refused or throttled."""
        if not outcome.accepted:
            details = dict(outcome.details)
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
        self._tell(rec, outcome, fees_before, refused=refused)

    def _tell(
        self,
        rec: OrderRecord | None,
        outcome: KernelOutcome,
        fees_before: float = 0.0,
        reported: list[VenueEvent] | None = None,
        refused: tuple[str, str] | None = None,
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
            own = owner is rec
            self._tell_order(
                owner,
                pairs,
                outcome if own else None,
                before[owner.slot_id],
                fills_on,
                refused if own else None,
            )
        if fills_on:
            self._emit("account", self.kernel.account())

    def _tell_order(
        self,
        rec: OrderRecord,
        applied: list[tuple[KernelTransition, VenueEvent]],
        outcome: KernelOutcome | None,
        fees_before: float,
        fills_on: dict[int, int],
        refused: tuple[str, str] | None = None,
    ) -> None:
        """``rec``'s venue events ``applied``; ``outcome``: the answer to its own command;
        ``refused``: that command's, a cancel, refused or throttled by the venue."""
        events = [e for _, e in applied]
        # A submit or cancel that raised, or answered with what is not a list of events: the
        # kernel took the intent and keeps the order in flight; its details name the venue's
        # error, and go to the client as the HTTP gateway's outcome gives them.
        details = dict(outcome.details) if outcome is not None else {}
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
            if refused is not None and event.kind.name in CANCEL_REFUSALS:
                continue  # told once, below, as the cancel's refusal
            if transition.trigger in FILL_TRIGGERS:
                # What the kernel booked, as a strategy hears it; when the venue states no fee,
                # the kernel's prediction for this fill, told when it is the slot's only fill.
                booked = dict(transition.details)  # read once: each read builds them anew
                qty, fee = booked_fill(event, booked)
                if fee is None and fills == 1:
                    fee = fee_total
                self._fill(rec, event, qty, fee, stage, booked, transition.trigger)
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
        if refused is not None:
            # As a cancel the kernel refuses is told: the order's status kept, the venue's own
            # words where it said any, on its record too (QUERY tells them).
            code, words = refused
            rec.diagnostic, rec.reason = code, words or refusal_reason(code, "")
            fields = self._update_fields(
                rec, stage=stage, diagnostic=code, reason=rec.reason, details=details or None
            )
            self._emit("order_update", fields)
        elif outcome is not None and (not events or fault):
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
        trigger: str,
    ) -> None:
        """Tell fill ``event`` of ``rec``: ``qty`` and ``fee`` as the kernel booked them (a fill
        resent in part books only the part no earlier report covered), ``booked`` the details
        of its transition, ``trigger`` its move."""
        total = rec.filled_qty + qty
        if total > 0.0:
            rec.avg_price = (rec.avg_price * rec.filled_qty + event.price * qty) / total
        rec.filled_qty = float(booked.get("filled_size", total))
        order_size = float(booked.get("order_size", rec.qty))
        remaining = max(order_size - rec.filled_qty, 0.0)
        if _completes(trigger, remaining):
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
