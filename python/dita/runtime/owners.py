"""Which strategy owns each trade, and which orders work (``TradeOwners``): a venue event
reaches the strategy whose trade it names, and the venues are handed data and polled while an
order works."""

from __future__ import annotations

import re
from typing import Any

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL_STATUSES
from dita.runtime.strategies import StrategyHandle, trade_strategies
from dita.strategy import FREE_STAGES

# How many freed trades keep their owner for a late fill (the kernel keeps one ended order
# per slot, so more than a few thousand slots' worth is never needed).
RELEASED_MEMORY = 10_000
# The counts ending a runtime's trade id: the restart mark's seq (if any), then the run's count.
_COUNTS = re.compile(r"(?:-r(\d+))?-t(\d+)\Z")


def _id_counts(trade_id: str) -> tuple[int, int]:
    found = _COUNTS.search(trade_id)
    return (int(found[1] or 0), int(found[2])) if found else (0, 0)


class TradeOwners:
    """The strategy owning each open trade (``owners``, by trade id), the owners of trades that
    freed their slot (``freed``, newest last: a venue may still send a fill for a trade's ended
    order, which the kernel applies, reopening the position), and the client ids of the orders
    the venues work (``working``)."""

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel
        self.owners: dict[str, StrategyHandle] = {}
        self.freed: dict[str, StrategyHandle] = {}
        self.working: set[str] = set()
        # The kernel's ``seq`` when its open orders were last read (``any_order_works``); a
        # kernel without ``seq`` or ``open_orders`` works the runtime's orders alone.
        self._orders_read_at: int | None = None
        self._reads_orders = isinstance(getattr(kernel, "seq", None), int) and hasattr(kernel, "open_orders")
        self.any_order_works()

    def any_order_works(self) -> bool:
        """Whether an order works: ``working``, with the orders the kernel works that the
        runtime did not send taken into it (the gateway's on the same kernel, a trade of a
        strategy renamed or removed across a restart, an ENTER built by hand), so the venues
        are handed every data point while they work (held back, a resting order would miss the
        bar that reaches its price). Asked as each call hands data in (a replay's chunk of rows
        is one call); the kernel's orders are read again only once it took input since."""
        if self.working or not self._reads_orders:
            return bool(self.working)
        seq = self._kernel.seq
        if seq == self._orders_read_at:
            return False
        self._orders_read_at = seq
        self.working.update(order.client_order_id for order in self._kernel.open_orders())
        return bool(self.working)

    def owner_of(self, trade_id: str) -> StrategyHandle | None:
        """The strategy whose trade ``trade_id`` is: held, or freed from its slot (a trade
        adopted after a restart with its order in doubt is freed); None when nobody's."""
        if not trade_id:
            return None
        return self.owners.get(trade_id) or self.freed.get(trade_id)

    def hold(self, trade_id: str, handle: StrategyHandle, asset: str, slot_id: int) -> None:
        """``handle``'s strategy holds trade ``trade_id`` on slot ``slot_id``."""
        self.owners[trade_id] = handle
        handle.strategy._track_open(asset, slot_id, trade_id)

    def free(self, trade_id: str, handle: StrategyHandle, asset: str, slot_id: int) -> None:
        """Trade ``trade_id`` freed its slot: its owner is remembered for a late fill."""
        handle.strategy._track_free(asset, slot_id, trade_id)
        self.owners.pop(trade_id, None)
        self.remember_freed(trade_id, handle)

    def remember_freed(self, trade_id: str, handle: StrategyHandle) -> None:
        self.freed[trade_id] = handle
        if len(self.freed) > RELEASED_MEMORY:
            del self.freed[next(iter(self.freed))]

    def adopt(self, handle: StrategyHandle) -> None:
        """Give the strategy back the trades the kernel holds under its trade ids (a kernel
        recovered from its write-ahead log): its ``position``/``busy``/``close`` see them and
        their fills reach it, instead of it opening a second position beside them (one whose
        entry is in doubt too: its slot is free, yet the order may fill). A freed slot's trade
        is remembered as freed: a late fill of its ended order reopens it, and without its owner
        that position would be nobody's (the strategy would never close it)."""
        slots = getattr(self._kernel, "slots", None)
        if not callable(slots):
            return
        every = slots()
        whose = trade_strategies(every)
        held = [s for s in every if whose.get(s.get("trade_id") or "") == handle.name]
        # Taken back in the order the trades opened, as a run that went on holds them: ``close``
        # exits them in that order, and a venue fills a bar's orders oldest first. The kernel
        # keeps when each was asked (``entry_time``); those asked at one time are in the order
        # of their ids' counts (the restart mark's seq, then the run's count).
        held.sort(key=lambda s: (s.get("entry_time") or 0.0, *_id_counts(s["trade_id"])))
        for s in held:
            trade_id = s["trade_id"]
            if trade_id in self.owners:
                continue
            if s.get("fsm_state") in FREE_STAGES and not s.get("order_in_doubt"):
                self.remember_freed(trade_id, handle)
                continue
            self.hold(trade_id, handle, s["asset"], s["slot_id"])
            slot = self._kernel.slot_state(s["slot_id"])
            for order in (slot.active_entry_order, slot.active_exit_order):
                if order is not None and order.status.name not in TERMINAL_STATUSES:
                    self.working.add(order.client_order_id)
