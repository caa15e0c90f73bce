"""The kernel's orders as it holds them now: read again once the venue answered, since its stream
may have reported into the kernel meanwhile."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dita._kernel import VenueOrder
from dita.venues._events import answered

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel


def _working_order(kernel: ExecutionKernel, slot_id: int, client_order_id: str) -> VenueOrder | None:
    """The slot's order by this client id while it works (a missed fill may have completed it)."""
    slot = kernel.slot_state(slot_id)
    for o in (slot.active_entry_order, slot.active_exit_order):
        if o is not None and o.client_order_id == client_order_id:
            return o
    return None


def _as_booked(kernel: ExecutionKernel, mine: VenueOrder, theirs: VenueOrder, booked: bool) -> VenueOrder:
    """``mine`` as the kernel holds it now: working, awaited or ended without the venue's figure;
    else (an ended order whose wait the fill settled) ``mine`` with the venue's id and, when its
    missed fill was ``booked``, the venue's filled size and average price."""
    coid = mine.client_order_id
    held = [_working_order(kernel, mine.slot_id, coid), *kernel.awaited_orders()]
    held.extend(kernel.orders_ended_without_figure())
    found = next((o for o in held if o is not None and o.client_order_id == coid), None)
    if found is not None:
        return found
    return _with_listed_fill(mine, theirs, booked)


def _with_listed_fill(mine: VenueOrder, theirs: VenueOrder, booked: bool) -> VenueOrder:
    """``mine`` with the venue's id and, when its missed fill is ``booked``, the filled size and
    average price of the venue's ``theirs`` where it counts more filled."""
    filled, average = mine.filled_size, mine.avg_fill_price
    if booked and theirs.filled_size > filled:
        filled, average = theirs.filled_size, theirs.avg_fill_price
    venue_order_id = mine.venue_order_id or theirs.venue_order_id
    return answered(mine, venue_order_id, mine.status, min(filled, mine.size), average)


def _held_now(kernel: ExecutionKernel, mine: VenueOrder, seq: int) -> VenueOrder:
    """``mine`` as the kernel holds it once the venue answered, when anything reached the kernel
    while it was asked (its seq moved from ``seq``): a fill the venue's stream reported meanwhile
    (another thread) would otherwise count in the missed fill, which the kernel would then take
    in part, at the whole order's average price. Working, awaited or ended without the venue's
    figure; else ``mine`` (read only when the seq moved: each read lists every slot's orders)."""
    if kernel.seq == seq:
        return mine
    coid = mine.client_order_id
    held = [_working_order(kernel, mine.slot_id, coid), *kernel.awaited_orders()]
    held.extend(kernel.orders_ended_without_figure())
    return next((o for o in held if o is not None and o.client_order_id == coid), mine)


def _still_working(kernel: ExecutionKernel, slot_id: int, client_order_id: str) -> bool:
    return _working_order(kernel, slot_id, client_order_id) is not None
