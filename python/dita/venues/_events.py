"""Building VenueEvents from orders, shared by the Python venues; and the polled events the
kernel has not taken yet (``PolledEvents``), shared by the runtime and the gateways.

Event ids are deterministic (venue name plus a per-venue count, or the venue's own ids) so
two runs over the same input produce the same stream, and a re-sent event is recognised by
the kernel's idempotency memory. A kernel recovered from its write-ahead log calls its
venue's ``resume(seq)``, and the counts are then marked ``s<seq>``: a venue started afresh
counts from 1 again, and unmarked, its first answers would meet ids the recovered kernel
remembers and be refused as duplicates, their fills lost.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dita._kernel import (
    KernelEventKind,
    KernelOutcome,
    KernelSeverity,
    OrderSide,
    VenueAnswerNotLogged,
    VenueEvent,
    VenueOrder,
    VenueOrderStatus,
    WalError,
)

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = [
    "FLAT_WITHIN",
    "STUCK_AFTER",
    "BoundedIdSet",
    "OrderEvents",
    "PolledEvents",
    "RecentOrders",
    "answered",
    "input_refused",
    "input_stopped",
    "kernel_busy",
    "move",
    "require_order",
    "signed",
]

log = logging.getLogger(__name__)

# How many times in a row the kernel (or ``PolledEvents.take``'s ``before``) may raise the same
# event, not busy nor closed, before it is set aside: kept at the head, it would hold every later
# fill of its venue back for good.
STUCK_AFTER = 3

# A position left within this share of the largest it or a fill moving it has been since it was
# last flat is float dust of fills that net to zero (0.1 + 0.2 - 0.3 leaves 5.6e-17), read as flat.
FLAT_WITHIN = 1e-12


def require_order(order: object, call: str = "submit") -> None:
    """TypeError naming ``order`` unless it is a VenueOrder: a venue's ``submit`` (or ``call``)
    refuses anything else before it counts it (counted, it would take a venue order id, moving the
    next order's on)."""
    if not isinstance(order, VenueOrder):
        raise TypeError(f"{call} takes a VenueOrder, got {order!r}")


def signed(side: OrderSide, size: float) -> float:
    """Position change of a fill: buys add, sells subtract."""
    return size if side == OrderSide.BUY else -size


def move(positions: dict[str, float], peaks: dict[str, float], asset: str, delta: float) -> None:
    """Move ``positions[asset]`` by a fill of signed size ``delta``: exactly 0.0 when what is
    left is within FLAT_WITHIN of the largest the position or a fill has been since it was last
    flat (``peaks[asset]``, kept here). The dust is of the sums at that size, not the last
    fill's: 0.1 + 0.2 closed by sells of 0.29999 and 0.00001 leaves 6.6e-17, which the last fill's
    dust would list as held."""
    before = positions.get(asset, 0.0)
    after = before + delta
    peak = max(peaks.get(asset, 0.0), abs(before), abs(delta))
    if abs(after) <= peak * FLAT_WITHIN:
        after = 0.0
    positions[asset] = after
    peaks[asset] = max(peak, abs(after)) if after != 0.0 else 0.0


def answered(
    order: VenueOrder, venue_order_id: str, status: VenueOrderStatus, filled: float, avg_price: float
) -> VenueOrder:
    """``order`` as a venue's ``order_status`` answers it: its venue id, status, filled size
    and average fill price, the rest as it was sent."""
    return VenueOrder(
        order.client_order_id,
        order.slot_id,
        order.trade_id,
        order.asset,
        order.order_side,
        order.order_type,
        order.price,
        order.size,
        venue_order_id=venue_order_id,
        reduce_only=order.reduce_only,
        reference_price=order.reference_price,
        timestamp=order.created_at,
        filled_size=filled,
        avg_fill_price=avg_price,
        status=status,
        is_entry=order.is_entry,
    )


class BoundedIdSet:
    """Remembers the last ``capacity`` ids (oldest forgotten first), so fill deduplication
    never grows without bound on a long-running venue."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity!r}")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, item: str) -> bool:
        """Record ``item``; True when it was new."""
        if item in self._ids:
            return False
        self._ids[item] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)


T = TypeVar("T")


class RecentOrders(Generic[T]):
    """What a venue keeps of the last ``capacity`` orders it put here, by client order id
    (the oldest forgotten first), for ``order_status`` to answer after the order ended."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity!r}")
        self._capacity = capacity
        self._items: OrderedDict[str, T] = OrderedDict()

    def put(self, client_order_id: str, item: T) -> None:
        self._items[client_order_id] = item
        self._items.move_to_end(client_order_id)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def get(self, client_order_id: str) -> T | None:
        return self._items.get(client_order_id)

    def __len__(self) -> int:
        return len(self._items)


class OrderEvents:
    """Makes the events of one venue, naming them ``<venue>-e<n>`` (``<venue>-s<seq>-e<n>``
    once :meth:`resume` was called, one ``-s<seq>`` per call) and its orders ``<venue>-<n>`` alike."""

    def __init__(self, venue_name: str) -> None:
        self.venue_name = venue_name
        self._seq = 0
        self._order_seq = 0
        self._prefix = venue_name

    def resume(self, seq: int) -> None:
        """Mark every later id with ``seq``, the seq of the kernel recovered from its log beside
        this venue (the kernel calls its venue's ``resume``). Every input moves the seq on, so
        each run that gave the kernel an event is marked apart from the next. The marks add up:
        with kernels sharing the venue, keeping only the last one's seq would repeat the last run's
        mark when that kernel had been idle while another traded, and the other refuse it all."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq must be an int >= 0, got {seq!r}")
        if seq:
            self._prefix = f"{self._prefix}-s{seq}"

    @property
    def marks(self) -> str:
        """The ``-s<seq>`` marks :meth:`resume` added, as this run's ids carry them ('' before any)."""
        return self._prefix[len(self.venue_name) :]

    def next_id(self) -> str:
        self._seq += 1
        return f"{self._prefix}-e{self._seq}"

    @property
    def last_id(self) -> str:
        """The id :meth:`next_id` gave last, under the marks as they are now (``-e0`` before any)."""
        return f"{self._prefix}-e{self._seq}"

    def venue_order_id(self) -> str:
        """A new order's venue id (its fills' ids build on it)."""
        self._order_seq += 1
        return f"{self._prefix}-{self._order_seq}"

    def make(
        self,
        order: VenueOrder,
        kind: KernelEventKind,
        status: VenueOrderStatus,
        *,
        venue_order_id: str,
        timestamp: float,
        price: float = 0.0,
        size: float = 0.0,
        filled_size: float = 0.0,
        reason: str = "",
        fill_id: str = "",
        fee: float | None = None,
        retry_after: float = 0.0,
        event_id: str | None = None,
        metadata: dict[str, str | int | float | bool | None] | None = None,
    ) -> VenueEvent:
        remaining = max(order.size - filled_size, 0.0)
        if status in (VenueOrderStatus.CANCELED, VenueOrderStatus.EXPIRED, VenueOrderStatus.REJECTED):
            remaining = 0.0
        return VenueEvent(
            event_id if event_id is not None else self.next_id(),
            order.trade_id,
            order.slot_id,
            kind,
            status,
            venue_order_id=venue_order_id,
            venue_client_id=order.client_order_id,
            side=order.side,
            order_side=order.order_side,
            asset=order.asset,
            price=price,
            size=size,
            filled_size=filled_size,
            remaining_size=remaining,
            reason=reason,
            metadata=metadata,
            timestamp=timestamp,
            fill_id=fill_id,
            fee=fee,
            retry_after=retry_after,
        )


def input_refused(kernel: ExecutionKernel, exc: BaseException) -> bool:
    """Whether ``exc``, raised by a call of ``kernel``, says it takes no more input: its
    write-ahead log failed (WalError; OSError from the write that failed it)."""
    if isinstance(exc, WalError):
        return True
    if not isinstance(exc, OSError):
        return False
    info = kernel.wal_info()
    return bool(info and info.get("poisoned"))


def input_stopped(kernel: ExecutionKernel, exc: BaseException) -> bool:
    """Whether ``exc``, raised by a call of ``kernel``, says it takes no more input for good:
    its log failed (``input_refused``), or it is closed or closing (``stop_input``, ``close``)."""
    return input_refused(kernel, exc) or (isinstance(exc, RuntimeError) and " is closed: " in str(exc))


def kernel_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is the kernel's refusal of a call while another thread's call held it
    past its wait (10 s): the call may well be taken if made again."""
    return isinstance(exc, RuntimeError) and str(exc).startswith("kernel busy in another call")


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


class PolledEvents:
    """The events a venue gave (its polls, or its answers to market data: the paper venue's
    fills of resting orders) that the kernel has not taken yet, oldest first.

    A venue hands each event over once (CcxtVenue): one the kernel raised on (busy in another
    thread's call) waits here with those after it, and is given to the kernel first next
    time, before the venue's newer news. Dropped, its fill would never be booked. One the kernel
    (or ``before``) raises on ``stuck_after`` times in a row, busy or closed aside, is no
    passing refusal: it is set aside in ``stuck`` (with its error, named at ERROR), for
    reconciliation, and the events after it are taken. Kept at the head, it would hold every
    later fill of the venue back for good."""

    def __init__(self, stuck_after: int = STUCK_AFTER) -> None:
        if isinstance(stuck_after, bool) or not isinstance(stuck_after, int) or stuck_after < 1:
            raise ValueError(f"stuck_after must be a whole number >= 1, got {stuck_after!r}")
        self.waiting: deque[Any] = deque()
        # The events set aside, each with its error's text ("RuntimeError: ..."), oldest first.
        self.stuck: list[tuple[Any, str]] = []
        self.stuck_after = stuck_after
        # The event at the head the kernel last raised on, and how many times in a row.
        self._failing: Any = None
        self._failures = 0

    def take(
        self,
        kernel: ExecutionKernel,
        events: list[Any],
        applied: Callable[[Any, KernelOutcome], None],
        unfit: Callable[[Any, Exception], None],
        before: Callable[[Any], None] | None = None,
        set_aside: Callable[[Any, Exception], None] | None = None,
    ) -> None:
        """Give ``kernel`` the events waiting, then ``events``: ``applied(event, outcome)`` for
        each it took, ``unfit(event, exc)`` for one it raised ValueError or TypeError on (not a
        VenueEvent: the adapter's bug, skipped). ``before(event)``, when given, is called just
        before the kernel is given each (to read what the kernel holds then). Any other
        exception (of the kernel or of ``before``) is raised, the event it was raised on and
        those after it kept waiting (taking one again that the kernel applied before it raised
        is harmless: the kernel refuses an event id it has taken); but the ``stuck_after``-th
        time in a row on one event (its busy and closed refusals not counted), the event is set
        aside (``stuck``, an ERROR naming it, ``set_aside(event, exc)`` when given) and the
        events after it are taken, nothing raised."""
        self.waiting.extend(events)
        while self.waiting:
            event = self.waiting[0]
            asked = False  # the kernel was asked: what ``before`` raises is no fault of the event's
            try:
                if before is not None:
                    before(event)
                asked = True
                outcome = kernel.on_venue_event(event)
            except Exception as exc:
                if asked and isinstance(exc, ValueError | TypeError):
                    self._taken()
                    unfit(event, exc)
                    continue
                if not self._stuck(kernel, event, exc):
                    raise
                if set_aside is not None:
                    set_aside(event, exc)
                continue
            self._taken()
            if not outcome.accepted and event.kind == KernelEventKind.FILL:
                _refused_fill(event, outcome)
            applied(event, outcome)

    def _taken(self) -> None:
        """The event at the head leaves the queue."""
        self.waiting.popleft()
        self._failing, self._failures = None, 0

    def _stuck(self, kernel: ExecutionKernel, event: Any, exc: Exception) -> bool:
        """Count ``exc`` raised on ``event``, the head; True when that set it aside."""
        if kernel_busy(exc) or input_stopped(kernel, exc):
            return False  # a busy kernel takes it later; a closed one takes nothing
        if event is not self._failing:
            self._failing, self._failures = event, 0
        self._failures += 1
        if self._failures < self.stuck_after:
            return False
        self._taken()
        failure = f"{type(exc).__name__}: {exc}"
        self.stuck.append((event, failure))
        log.error(
            "venue event %s raised %s %d times in a row (not a busy kernel): set aside, to reconcile"
            " (reconcile_with_venue), and the %d after it given to the kernel",
            _described(event),
            failure[:300],
            self.stuck_after,
            len(self.waiting),
        )
        return True

    def described(self) -> str:
        """What the events waiting are, to be logged: each one's id, kind, slot and, for a
        fill, its size and price."""
        return ", ".join(_described(e) for e in self.waiting)

    def described_stuck(self) -> str:
        """What the events set aside are (as ``described``), each with its error."""
        return ", ".join(f"{_described(e)}: {failure[:200]}" for e, failure in self.stuck)

    def drop(self) -> str:
        """Forget the events waiting (the kernel takes no more input); what they were, to be
        logged (``described``). Those set aside stay in ``stuck``."""
        described = self.described()
        self.waiting.clear()
        self._failing, self._failures = None, 0
        return described


def _refused_fill(event: VenueEvent, outcome: KernelOutcome) -> None:
    """A fill the kernel refused as an error, named at ERROR: the venue reports each trade once,
    so the position, its fee and the account miss it until reconciled. A duplicate (a warning)
    was booked already."""
    if outcome.severity not in (KernelSeverity.ERROR, KernelSeverity.CRITICAL):
        return
    log.error(
        "venue fill %s, trade %s, refused by the kernel (%s %s): not booked, and the venue reports"
        " it once; to reconcile (reconcile_with_venue)",
        _described(event),
        event.fill_id or "(none)",
        outcome.diagnostic_code.name,
        str(dict(outcome.details))[:300],
    )


def _described(event: Any) -> str:
    if not isinstance(event, VenueEvent):
        return repr(event)[:80]
    text = f"{event.event_id} ({event.kind.name}, slot {event.slot_id}, order {event.venue_client_id}"
    if event.kind == KernelEventKind.FILL:
        text += f", {event.size:g} at {event.price:g}"
    return text + ")"
