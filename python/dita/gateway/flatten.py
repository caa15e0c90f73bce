"""Closing the book from the gateway: the intents of a slot's exit at market and of its cancel,
and what "flatten all" does to each slot (``flatten_plan``), read from the slots' dicts and the
kernel's lot steps.

Flatten all cancels every working order except a market exit of what is left of the position
(already the close it would place), and every order in doubt (it may still work at the venue),
then closes every position with a reduce-only market EXIT of its whole size. The route
(``routes/book.py``) halts the kernel first, so nothing enters while it closes: the kernel
takes EXIT and CANCEL in HALTED.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from dita._kernel import KernelCommandType, KernelCore, KernelIntent, TradeSide
from dita._lots import exit_closes_whole

OPERATOR_RUN = "operator"  # the source_run of the exits an operator places from the gateway

__all__ = [
    "OPERATOR_RUN",
    "FlattenPlan",
    "cancel_intent",
    "exit_intent",
    "exit_price",
    "flatten_plan",
    "working_order",
]


def _trade_side(slot: dict[str, Any]) -> TradeSide:
    side = str(slot.get("side") or "FLAT")
    return TradeSide.parse(side if side in ("LONG", "SHORT") else "LONG")


def exit_price(slot: dict[str, Any]) -> float:
    """The price a market exit is sized and checked at: the slot's mark, else its entry price,
    else its working order's reference price; 0.0 when it knows none (an idle slot)."""
    for price in (
        slot.get("mark_price"),
        slot.get("entry_price"),
        (working_order(slot) or {}).get("reference_price"),
    ):
        if isinstance(price, int | float) and price > 0.0:
            return float(price)
    return 0.0


def exit_intent(
    slot: dict[str, Any], intent_id: str | None, reason: str, reference_price: float | None = None
) -> KernelIntent:
    """A market EXIT of the slot's whole position (the kernel sends it reduce-only)."""
    return KernelIntent(
        intent_id=intent_id or uuid.uuid4().hex,
        trade_id=str(slot.get("trade_id") or "none"),
        slot_id=int(slot["slot_id"]),
        asset=str(slot.get("asset") or ""),
        side=_trade_side(slot),
        action=KernelCommandType.EXIT,
        reference_price=reference_price if reference_price is not None else exit_price(slot),
        # The whole size, not the next exit leg's share (0.0 would take one leg only).
        target_size=float(slot.get("size") or 0.0),
        order_type="MARKET",
        reason=reason,
        # In LIVE the kernel asks every exit for the run it comes from: this one is the operator's.
        metadata={"source_run": OPERATOR_RUN},
    )


def cancel_intent(slot: dict[str, Any], intent_id: str | None, reason: str) -> KernelIntent:
    """A CANCEL of the order working on the slot."""
    return KernelIntent(
        intent_id=intent_id or uuid.uuid4().hex,
        trade_id=str(slot.get("trade_id") or "none"),
        slot_id=int(slot["slot_id"]),
        asset=str(slot.get("asset") or ""),
        side=_trade_side(slot),
        action=KernelCommandType.CANCEL,
        reference_price=0.0,
        target_size=0.0,
        reason=reason,
    )


def working_order(slot: dict[str, Any]) -> dict[str, Any] | None:
    """The order working on the slot (its entry's or its exit's), None when there is none."""
    order = slot.get("active_entry_order") or slot.get("active_exit_order")
    return order if isinstance(order, dict) else None


def _closing_at_market(kernel: KernelCore, slot: dict[str, Any]) -> bool:
    """Whether the slot's working exit closes its whole position: a market order, no cancel
    asked, whose size left covers what the kernel sends for the whole position (a leg's, or an
    EXIT of part, leaves the rest open)."""
    order = slot.get("active_exit_order")
    if not isinstance(order, dict) or order.get("order_type") != "MARKET" or order.get("cancel_requested"):
        return False
    left = float(order.get("size") or 0.0) - float(order.get("filled_size") or 0.0)
    return exit_closes_whole(kernel, str(slot.get("asset") or ""), float(slot.get("size") or 0.0), left)


@dataclass
class FlattenPlan:
    """What flatten all does, slot by slot: the slots whose working order it cancels, those
    whose position it closes, and those whose market exit already closes it (left as they are)."""

    cancels: list[int] = field(default_factory=list)
    exits: list[int] = field(default_factory=list)
    closing: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "working_orders": len(self.cancels),
            "positions": len(self.exits),
            "cancel_slots": self.cancels,
            "exit_slots": self.exits,
            "closing_slots": self.closing,
        }


def flatten_plan(kernel: KernelCore, slots: list[dict[str, Any]]) -> FlattenPlan:
    """The plan for these slots of ``kernel`` as they are now. A slot whose entry is cancelled keeps what of
    it filled: the position is closed after the cancel (``exits`` counts it already)."""
    plan = FlattenPlan()
    for slot in slots:
        slot_id = int(slot["slot_id"])
        order = working_order(slot)
        if _closing_at_market(kernel, slot):
            plan.closing.append(slot_id)
            continue
        # An order in doubt takes a cancel again: the venue may have throttled the one asked.
        if (order is not None and not order.get("cancel_requested")) or slot.get("order_in_doubt"):
            plan.cancels.append(slot_id)
        filled = float(slot.get("size") or 0.0) > 0.0
        entry = slot.get("active_entry_order")
        if isinstance(entry, dict):
            filled = float(entry.get("filled_size") or 0.0) > 0.0 or filled
        if filled:
            plan.exits.append(slot_id)
    return plan
