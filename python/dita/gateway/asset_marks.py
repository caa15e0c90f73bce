"""A mark as both front ends make it: of an asset under its upper-case name
(``protocol.asset_name``), and under every other spelling of it a slot held when the front end
started; and those slots by asset (``engaged_sides``), which the stdio engine matches orders
against."""

from __future__ import annotations

from dita._kernel import TradeSlot
from dita.gateway.protocol import asset_name
from dita.kernel import ExecutionKernel

__all__ = ["AssetMarks", "engaged_sides", "engaged_slots"]


def engaged_slots(kernel: ExecutionKernel) -> list[TradeSlot]:
    """The slots holding a position or working an order (one whose outcome is unknown too), by
    slot id, read without visiting every slot (a kernel may have 100,000)."""
    engaged = set(kernel.open_slot_ids())
    engaged.update(order.slot_id for order in kernel.open_orders())
    return [kernel.slot_state(slot_id) for slot_id in sorted(engaged)]


def engaged_sides(engaged: list[TradeSlot]) -> dict[str, dict[int, str]]:
    """The ``engaged`` slots by asset under its upper-case name: slot_id -> its side's name, the
    oldest entry first."""
    sides: dict[str, dict[int, str]] = {}
    for state in sorted(engaged, key=lambda state: (state.entry_time_s, state.slot_id)):
        sides.setdefault(asset_name(state.asset), {})[state.slot_id] = state.side.name
    return sides


class AssetMarks:
    """Marks an asset under its upper-case name and under each other spelling of it
    (``btcusdt``) that a slot held a position or worked an order in when this was made: a kernel
    continued from an older log may hold slots under a spelling a mark of BTCUSDT alone does not
    reach. Read once, from the engaged slots only (``engaged_slots``, or those given): an ENTER
    over either front end names its asset in upper case, so no later trade adds a spelling."""

    def __init__(self, kernel: ExecutionKernel, engaged: list[TradeSlot] | None = None) -> None:
        self._kernel = kernel
        self._spellings: dict[str, list[str]] = {}
        for state in engaged_slots(kernel) if engaged is None else engaged:
            held, name = state.asset, asset_name(state.asset)
            if held != name and held not in self._spellings.get(name, ()):
                self._spellings.setdefault(name, []).append(held)

    def mark(self, asset: str, price: float) -> tuple[int, list[str]]:
        """Marks ``asset`` at ``price``, then its other spellings: how many open slots that
        revalued, and the names marked, ``asset`` first. The kernel's refusal of the price
        raises at ``asset``, before anything is marked."""
        marked = self._kernel.mark_price(asset, price)
        names = [asset]
        for held in self._spellings.get(asset_name(asset), ()):
            if held != asset:
                marked += self._kernel.mark_price(held, price)
                names.append(held)
        return marked, names
