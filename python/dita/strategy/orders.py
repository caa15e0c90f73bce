"""What a strategy's order helpers make and read: the CANCEL of a slot's working order
(``cancel_intent``), the intent fields ``buy`` and ``sell`` refuse as metadata, the checks of
``exit``'s arguments, the stages of a free slot, and a fill of one of its orders (``Fill``)."""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

from dita._kernel import KernelCore, KernelIntent, OrderType, TradeSlot, TradeStage
from dita._lots import exit_closes_whole
from dita._numbers import is_real, only_a_flag
from dita._text import shortened
from dita.risk import KERNEL_MAX


def cancel_intent(
    intent_id: str, trade_id: str, slot: TradeSlot, *, reason: str, timestamp: float
) -> KernelIntent:
    """The CANCEL of ``slot``'s working order under ``trade_id``: a strategy's own, or the
    backtest's at a blown account's halt."""
    return KernelIntent(
        intent_id,
        trade_id,
        slot.slot_id,
        slot.asset,
        slot.side,
        "CANCEL",
        0.0,
        0.0,
        reason=reason,
        timestamp=timestamp,
    )


class Fill(NamedTuple):
    """One fill of one of the strategy's orders, as the kernel accepted it."""

    trade_id: str
    slot_id: int
    asset: str
    side: str  # BUY or SELL
    price: float
    size: float  # what the kernel booked of it (a venue's running total gives the increase)
    fee: float | None  # as the venue stated it; of a fill booked in part, the share charged
    ts: float
    closed: bool  # the fill closed the trade (its slot reached CLOSED)


FREE_STAGES = frozenset({"IDLE", "CLOSED"})

INTENT_FIELDS = frozenset(inspect.signature(KernelIntent).parameters) - {"asset", "exit_leg_ratios", "reason"}
"""``KernelIntent`` fields ``buy``/``sell`` do not take as keywords (all but those they take
by name): passed as metadata they would be ignored by the order, so they are refused. Read
from the constructor's signature, so a field added to it is refused too."""


def leg_flag(leg: object) -> bool:
    """``exit``'s ``leg`` checked as a flag (a bool, or the int 0 or 1, as the kernel takes one):
    read by its truth, ``leg="no"`` sent a leg exit and ``leg=None`` the whole position."""
    try:
        return only_a_flag(leg)
    except ValueError:
        raise TypeError(
            f"exit(): leg must be True or False (or the int 0 or 1), got {type(leg).__name__} "
            f"{shortened(repr(leg), 80)}"
        ) from None


def exit_price(price: object) -> bool:
    """Whether ``price`` is one the kernel takes as an exit's reference price: a real number (not
    a bool), finite, above 0 and within its bound."""
    return is_real(price) and math.isfinite(price) and 0.0 < price <= KERNEL_MAX


def exits_all(kernel: KernelCore, slot: TradeSlot) -> bool:
    """Whether ``slot``'s working exit is a market order for what is left of the position, as
    ``kernel`` sends a whole exit (a leg's leaves the rest open once it fills; a limit's may
    never fill)."""
    order = slot.active_exit_order
    if order is None:
        return True  # nothing the strategy could cancel
    if order.order_type == OrderType.LIMIT:
        return False
    return exit_closes_whole(kernel, slot.asset, slot.size, order.size - order.filled_size)


def is_free_stage(stage: TradeStage) -> bool:
    return stage.name in FREE_STAGES
