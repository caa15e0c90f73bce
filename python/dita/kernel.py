"""ExecutionKernel: the native kernel plus its side-effect components.

The hot methods (``process_intent``, ``on_venue_event``, ``mark_price``) are the native
ones, inherited unchanged, so a call costs no Python frame. This class wires the journal,
projection and control plane, and names a generator's error in the batch calls (one frame a
batch), off the hot path.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import logging
import operator
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from dita._kernel import (
    KernelCore,
    KernelEventKind,
    KernelIntent,
    KernelOutcome,
    KernelTransition,
    TradeSlot,
    VenueEvent,
    VenueOrder,
)
from dita._numbers import integer_named, past_slot_ids
from dita._reading import read_items
from dita._text import shortened
from dita.control import check_kernel_id
from dita.logs import order_ids
from dita.reconcile import ENDED_LOOKUPS, ReconciliationReport, reconcile_with_venue

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from dita._kernel import MetaValue

__all__ = [
    "FILL_TRIGGERS",
    "ControlSnapshot",
    "ExecutionKernel",
    "KernelState",
    "SlotView",
    "applied_events",
    "booked_events",
    "booked_fill",
    "event_with",
]

_log = logging.getLogger("dita.kernel")

# A wait at exit for other threads' venue calls this long or longer is told (a WARNING).
_EXIT_WAIT_TOLD = 0.01


# The triggers of a transition a fill made: a fill books one, whether it completes its order
# or not, or comes after its order ended.
FILL_TRIGGERS = ("FILL", "PARTIAL_FILL", "LATE_FILL")


_ENDED_BY_A_FILL = ("EXPIRED", "CANCEL_ACK")  # how a fill ending its order short ends it


def _paired(
    outcome: KernelOutcome, events: Sequence[VenueEvent]
) -> list[tuple[KernelTransition, int, dict[str, Any]]]:
    """Each transition of ``outcome`` a venue event made, with the index in ``events`` of the
    event that made it and, for a fill, the transition's details (what it booked), oldest
    first."""
    # Paired by id, kind and, for a fill, price then size: a venue that gives two events one id
    # (an ack and a reject, a fill resent with another size) has the kernel refuse one, and
    # pairing by id alone would report a reject of an order the kernel works. A refused fill's
    # id stays free (beyond its order, then within it): pairing by price alone would report the
    # refused one, its fee and fill id.
    used: set[int] = set()
    paired: list[tuple[KernelTransition, int, dict[str, Any]]] = []
    # Read once: each read of a native event's field makes a new Python object.
    ids_and_kinds = [(e.event_id, e.kind.name) for e in events]
    for t in outcome.transitions:
        event_id = t.event_id
        if not event_id:
            continue
        fill = t.trigger in FILL_TRIGGERS
        kind = "FILL" if fill else t.trigger
        # A throttled cancel (a rate limit on an order the venue holds) moves the order as a
        # refused cancel does, under the rate limit's id: unpaired, its reason would go untold.
        kinds = (kind, "RATE_LIMITED") if kind == "CANCEL_REJECT" else (kind,)
        booked = t.details if fill else {}
        same = [
            i
            for i, (id_, kind_of) in enumerate(ids_and_kinds)
            if i not in used and id_ == event_id and kind_of in kinds
        ]
        priced = [i for i in same if events[i].price == booked.get("fill_price")]
        sized = (
            i
            for i in priced
            if events[i].filled_size == booked.get("filled_size") or events[i].size == booked.get("fill_qty")
        )
        i = next(sized, priced[0] if priced else same[0] if same else None)
        if i is None and kind in _ENDED_BY_A_FILL and paired and paired[-1][0].event_id == event_id:
            # A fill that says its order is over short of its size ends it with a
            # transition of its own: made by that fill, which is not applied twice by it.
            last = paired[-1][1]
            if ids_and_kinds[last][1] == "FILL":
                paired.append((t, last, booked))
            continue
        if i is not None:
            used.add(i)
            paired.append((t, i, booked))
    return paired


def applied_events(
    outcome: KernelOutcome, reported: Sequence[VenueEvent] | None = None
) -> list[tuple[KernelTransition, VenueEvent]]:
    """The venue events ``outcome`` applied, each with the transition it made, oldest first;
    ``reported``: the events ``outcome`` answers (a polled one), besides those it carries.

    ``reported`` may hold events the kernel refused (a fill sent twice or beyond its order, one
    with a NaN price, an event for an order it does not know; an answer's refused events are
    left out of the outcome's own): they moved nothing, so they are neither a fill nor an
    order's end to report."""
    events = [*(reported or ()), *outcome.emitted_events]
    return [(t, events[i]) for t, i, _ in _paired(outcome, events)]


def booked_fill(event: VenueEvent, booked: Mapping[str, Any]) -> tuple[float, float | None]:
    """The size and fee the kernel booked of fill ``event``, ``booked`` being the details of
    the transition it made: its ``fill_qty``, and the fee the kernel charged of a report booked
    in part (its ``fee_charged``, said only of those), else the event's own ``fee`` (None when
    the venue stated none). What a strategy and a gateway client hear of a fill, alike.

    A fill snapped to what its order had left, or a reconciliation's, books less than reported
    yet is charged its whole fee: no earlier report paid a part of it."""
    qty = booked.get("fill_qty")
    charged = booked.get("fee_charged")
    return (
        qty if isinstance(qty, float) else event.size,
        charged if isinstance(charged, float) else event.fee,
    )


def event_with(event: VenueEvent, changes: Mapping[str, Any]) -> VenueEvent:
    """``event`` made again with ``changes`` (its constructor's arguments; ``side`` the order's,
    as its ``to_dict()`` says it), keeping the trade's side and the venue's payload it carries."""
    made = {**event.to_dict(), **changes}
    made["order_side"] = made.pop("side")
    return VenueEvent(**made, side=event.side, raw_payload=event.raw_payload or None)


def booked_events(outcome: KernelOutcome, reported: Sequence[VenueEvent] = ()) -> list[VenueEvent]:
    """``reported`` and then the events ``outcome`` carries, each fill at the size and fee the
    kernel booked of it (``booked_fill``). A venue stating only its running total (``size``
    0), or resending a fill merged with the next, books other than the event says: heard as
    sent, a strategy summing its fills would hold what the kernel does not, and pay the overlap
    of a report booked in part twice."""
    events = [*reported, *outcome.emitted_events]
    if not any(e.kind == KernelEventKind.FILL for e in events):
        return events  # the transitions are not read (each read builds them anew)
    for _, i, booked_as in _paired(outcome, events):
        event = events[i]
        size, fee = booked_fill(event, booked_as)
        if size != event.size or "fee_charged" in booked_as:
            events[i] = event_with(event, {"size": size, "fee": fee})
    return events


# Serializes the metadata writes of kernels made without ExecutionKernel.__init__ (see
# ``_metadata_lock``); each ExecutionKernel has its own.
_METADATA_LOCK = threading.RLock()


def _metadata_lock(kernel: KernelCore) -> Any:
    """The lock a change of ``kernel``'s slot metadata is made under: a change in place reads
    the metadata and writes it back, so two threads doing so at once would each write back what
    they read, and the other's change (or an assignment made meanwhile) would be lost without a
    word."""
    return getattr(kernel, "_metadata_write", None) or _METADATA_LOCK


def _same_values(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether ``a`` and ``b`` hold the same keys with values of the same type and value (so
    1, 1.0 and True differ, as they do to the kernel)."""
    return a.keys() == b.keys() and all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


def _trade_of(state: TradeSlot) -> tuple[str, float]:
    """Which trade slot ``state`` holds: its id and entry time (an ENTER sets both; a trade id
    may be used again by a later trade, at another time)."""
    return (state.trade_id, state.entry_time_s)


def _named(trade: tuple[str, float]) -> str:
    return f"trade {trade[0]!r}" if trade[0] else "no trade"


# Per thread, the SlotMetadata its last ``|=`` changed (a weak reference: it holds its kernel),
# until it assigns slot metadata (see ``SlotMetadata._just_augmented``).
_augmented = threading.local()


class SlotMetadata(dict[str, Any]):
    """A slot's metadata as ``SlotView.metadata`` reads it: a dict that writes each change in
    place through to the kernel (validated there; a refused change changes nothing), so
    ``kernel.slot(0).metadata["stop"] = 95.0`` is kept, not lost in a copy. Copies are plain dicts.
    A change is made under the kernel's metadata lock, so changes from several threads are all
    kept. It belongs to the trade it was read for: changed once the slot holds another trade
    (or none), it raises RuntimeError and changes nothing (it would write into the other trade's)."""

    __slots__ = ("__weakref__", "_kernel", "_slot_id", "_trade")

    def __init__(self, kernel: KernelCore, slot_id: int) -> None:
        state = kernel.slot_state(slot_id)
        super().__init__(state.metadata)
        self._kernel = kernel
        self._slot_id = slot_id
        self._trade = _trade_of(state)

    def _change(self, method: str, *args: Any, **kwargs: Any) -> Any:
        # Applied to the kernel's current metadata, so a change made elsewhere since this
        # dict was read is kept; read and written under the lock, so one made meanwhile is too.
        with _metadata_lock(self._kernel):
            state = self._kernel.slot_state(self._slot_id)
            now = _trade_of(state)
            if now != self._trade:
                another = "another " if now[0] and self._trade[0] else ""
                raise RuntimeError(
                    f"slot {self._slot_id}'s metadata was read when it held {_named(self._trade)}; "
                    f"it now holds {another}{_named(now)}: nothing changed (read it again: "
                    f"kernel.slot({self._slot_id}).metadata)"
                )
            new = state.metadata
            before = dict(new)
            result = getattr(new, method)(*args, **kwargs)
            # A call that changed nothing (setdefault of a key held, pop of a missing key with a
            # default, update() of nothing) is a read: it logs no input and works on a closed
            # kernel. Compared by identity, so 1 -> True or 1 -> 1.0 still counts as a change.
            if new.keys() != before.keys() or any(new[k] is not before[k] for k in before):
                self._kernel.set_slot_metadata(self._slot_id, new)
            dict.clear(self)
            dict.update(self, new)
        return result

    def _held_by(self, kernel: KernelCore, slot_id: int) -> bool:
        """Whether this is ``kernel``'s metadata of ``slot_id`` and holds what the slot does."""
        return (
            self._kernel is kernel
            and self._slot_id == slot_id
            and _same_values(self, kernel.slot_state(slot_id).metadata)
        )

    def _just_augmented(self, last: Any, kernel: KernelCore, slot_id: int) -> bool:
        """Whether this is ``kernel``'s metadata of ``slot_id`` and ``last``, what this thread's
        last ``|=`` changed with no metadata assigned by it since (written through already):
        ``view.metadata |= x`` assigns it back once, and writing it again would undo another
        thread's change made in between. Any assignment ends it: a dict changed so, kept, and
        assigned back after another assignment (a restore) is written."""
        return last is self and self._kernel is kernel and self._slot_id == slot_id

    def __setitem__(self, key: str, value: Any) -> None:
        self._change("__setitem__", key, value)

    def __delitem__(self, key: str) -> None:
        self._change("__delitem__", key)

    def __ior__(self, other: Any) -> SlotMetadata:  # type: ignore[override,misc]
        self._change("update", other)
        _augmented.last = weakref.ref(self)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._change("update", *args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        return self._change("setdefault", key, default)

    def pop(self, key: str, *default: Any) -> Any:
        return self._change("pop", key, *default)

    def popitem(self) -> tuple[str, Any]:
        return self._change("popitem")  # type: ignore[no-any-return]

    def clear(self) -> None:
        self._change("clear")

    def copy(self) -> dict[str, Any]:
        return dict(self)

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


# The slot fields a view writes through ``load_slots`` (checked there with every slot, nothing
# changed on a refusal), by the name assigned: each is the slot dict's field of the same name,
# but the seconds (``*_s``) and ``last_mark_price``, which it keeps as the times and ``mark_price``.
_LOADED_FIELDS = {
    "trade_id": "trade_id",
    "asset": "asset",
    "side": "side",
    "entry_price": "entry_price",
    "size": "size",
    "initial_size": "initial_size",
    "leverage": "leverage",
    "entry_time": "entry_time",
    "entry_time_s": "entry_time",
    "unrealized_pnl": "unrealized_pnl",
    "realized_pnl": "realized_pnl",
    "fees_paid": "fees_paid",
    "closed": "closed",
    "active_leg_index": "active_leg_index",
    "leg_taken": "leg_taken",
    "active_entry_order": "active_entry_order",
    "active_exit_order": "active_exit_order",
    "fsm_state": "fsm_state",
    "close_reason": "close_reason",
    "last_event_time": "last_event_time",
    "last_event_time_s": "last_event_time",
    "last_mark_price": "mark_price",
}


def _loaded_value(field: str, value: Any) -> Any:
    """``value`` as a slot dict holds ``field``: an order as its dict, a time not given (None)
    as 0; the rest as given, for ``load_slots`` to check."""
    if field in ("active_entry_order", "active_exit_order") and isinstance(value, VenueOrder):
        return value.to_dict()
    if field in ("entry_time", "last_event_time") and value is None:
        return 0.0
    return value


class SlotView:
    """A live view of one slot, the original kernel's ``TradeSlot``: reads the kernel's current
    state on every access, and assigning a field writes it into the kernel.

    ``metadata`` and ``exit_leg_ratios`` write through their own setters (``metadata`` when
    changed in place too); every other field through ``load_slots`` with all the slots, as the
    kernel checks a loaded slot: a value it refuses raises, naming the field and the value, and
    changes nothing. ``seen_event_ids`` and ``slot_id`` are the kernel's own.
    """

    __slots__ = ("_kernel", "slot_id")
    _kernel: KernelCore
    slot_id: int

    def __init__(self, kernel: KernelCore, slot_id: int) -> None:
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "slot_id", slot_id)

    def state(self) -> TradeSlot:
        return self._kernel.slot_state(self.slot_id)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            # An unset slot (a view made by copy or pickle without __init__) reads as missing:
            # looking up _kernel here again would recurse without end.
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name == "metadata":
            return SlotMetadata(self._kernel, self.slot_id)
        return getattr(self._kernel.slot_state(self.slot_id), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "metadata":
            # Taken by every assignment of this thread's, of whatever value.
            ref, _augmented.last = getattr(_augmented, "last", None), None
            last = None if ref is None else ref()
            with _metadata_lock(self._kernel):
                # ``view.metadata |= x`` changes the metadata in place, then assigns it back:
                # written through already, it is not written (and logged) again, nor over a
                # change another thread made in between.
                if isinstance(value, SlotMetadata) and (
                    value._just_augmented(last, self._kernel, self.slot_id)
                    or value._held_by(self._kernel, self.slot_id)
                ):
                    return
                self._kernel.set_slot_metadata(self.slot_id, value)
        elif name == "exit_leg_ratios":
            self._kernel.set_slot_exit_leg_ratios(self.slot_id, value)
        elif name in _LOADED_FIELDS:
            self._load({_LOADED_FIELDS[name]: _loaded_value(_LOADED_FIELDS[name], value)}, name, value)
        else:
            raise AttributeError(f"slot field {name!r} is the kernel's own and cannot be set")

    def _load(self, changes: Mapping[str, Any], name: str, value: Any) -> None:
        """Writes ``changes`` into this slot's dict and loads every slot back (``load_slots``),
        under the metadata lock, so no other view's write is lost in between. A refusal raises
        the kernel's error naming the field ``name`` and the ``value`` given; nothing changed."""
        with _metadata_lock(self._kernel):
            slots = self._kernel.slots()
            slots[self.slot_id].update(changes)
            try:
                self._kernel.load_slots(slots)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"cannot set slot {self.slot_id}'s {name} to {value!r}: {exc}") from exc

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"slot field {name!r} cannot be deleted (assign metadata={{}} to empty it)")

    def __copy__(self) -> SlotView:
        return SlotView(self._kernel, self.slot_id)

    def to_dict(self) -> dict[str, Any]:
        return self._kernel.slot_dict(self.slot_id)

    def is_free(self) -> bool:
        """Whether the slot takes a new trade (what ``free_slot()`` offers)."""
        return self.state().is_free()

    def is_open(self) -> bool:
        """Whether the slot holds a position."""
        return self.state().is_open()

    def next_exit_ratio(self) -> float | None:
        """The share of the initial size the next leg exit closes; None once every leg is done."""
        return self.state().next_exit_ratio()

    def mark_price(self, price: float) -> None:
        """Marks the slot's asset at ``price`` (``ExecutionKernel.mark_price``: every slot of
        the asset follows, as one market price values them all). A slot without an asset has
        nothing to mark."""
        asset = self.state().asset
        if asset:
            self._kernel.mark_price(asset, price)

    def consume_exit_leg(self) -> float | None:
        """Counts the active exit leg as done: the next leg exit sends the next one. Returns the
        ratio of the leg consumed; None when every leg was done (nothing changes)."""
        state = self.state()
        ratio = state.next_exit_ratio()
        if ratio is not None:
            leg = state.active_leg_index + 1
            self._load({"active_leg_index": leg, "leg_taken": 0.0}, "active_leg_index", leg)
        return ratio

    def __repr__(self) -> str:
        s = self.state()
        return (
            f"SlotView(slot_id={s.slot_id}, fsm_state={s.fsm_state.name}, asset={s.asset!r}, size={s.size})"
        )


class ControlSnapshot(dict[str, Any]):
    """The kernel's control as a dict, as the original kernel's ``control`` property gave it;
    calling it gives it again, as dita's ``control()`` does."""

    __slots__ = ()

    def __call__(self) -> ControlSnapshot:
        return self


class KernelState:
    """The original kernel's ``kernel.state``: the slots' views and the trades and working
    orders by id, each read from the kernel when asked."""

    __slots__ = ("_kernel",)

    def __init__(self, kernel: ExecutionKernel) -> None:
        self._kernel = kernel

    @property
    def slots(self) -> list[SlotView]:
        return [SlotView(self._kernel, i) for i in range(self._kernel.max_slots)]

    @property
    def active_trade_index(self) -> dict[str, int]:
        """The trades the slots hold and have not closed, by trade id."""
        return {
            s["trade_id"]: s["slot_id"]
            for s in self._kernel.slots()
            if s["trade_id"] and s["fsm_state"] not in ("IDLE", "CLOSED")
        }

    @property
    def venue_order_index(self) -> dict[str, int]:
        """The slot of each working order the venue gave an id, by that id."""
        return self._orders_by("venue_order_id")

    @property
    def client_order_index(self) -> dict[str, int]:
        """The slot of each working order, by its client order id."""
        return self._orders_by("client_order_id")

    def _orders_by(self, key: str) -> dict[str, int]:
        index: dict[str, int] = {}
        for s in self._kernel.slots():
            for order in (s["active_entry_order"], s["active_exit_order"]):
                if order is not None and order[key]:
                    index[order[key]] = s["slot_id"]
        return index


# The kernels not closed, by id (weakly held: a subclass need not be hashable), whose input one
# exit hook stops. A hook per kernel would grow CPython's atexit list for good (an unregistered
# entry stays a hole that every later unregister scans), so each close would get slower with
# every kernel made.
_unclosed: weakref.WeakValueDictionary[int, ExecutionKernel] = weakref.WeakValueDictionary()
_unclosed_lock = threading.Lock()
# The components (journals) whose own exit hook runs after that one, as it was registered after.
_hooked_before: weakref.WeakSet[Any] = weakref.WeakSet()
_hook_registered: list[bool] = []


def _watch_at_exit(kernel: ExecutionKernel, components: Sequence[Any]) -> None:
    """Stop ``kernel``'s input at exit if nobody closes it, before the exit hooks of its
    ``components`` (a journal closes its own at exit: the answers applied at the stop go there):
    the one hook is registered again, after theirs, only for a component it does not yet precede."""
    with _unclosed_lock:
        _unclosed[id(kernel)] = kernel
        later = [
            c for c in components if getattr(c, "_exit_hook", None) is not None and c not in _hooked_before
        ]
        if _hook_registered and not later:
            return
        atexit.unregister(_stop_unclosed_at_exit)
        atexit.register(_stop_unclosed_at_exit)  # last registered, run first
        _hook_registered[:] = [True]
        for component in later:
            with contextlib.suppress(TypeError):  # not weakly referable: registered again next time
                _hooked_before.add(component)


def _stop_unclosed_at_exit() -> None:
    for kernel in list(_unclosed.values()):
        _stop_at_exit(kernel)


def _stop_at_exit(kernel: ExecutionKernel) -> None:
    """At interpreter exit, stop the input of a kernel nobody closed, once the venue calls under
    way on other threads (daemon ones) have had their answers applied and logged. A thread left
    inside a Python venue call would wake while the interpreter finalizes and be made to exit
    through the kernel's Rust frames: the process would abort and the venue's answer go unlogged."""
    started = time.monotonic()
    try:
        if kernel.input_refused_reason() is not None:
            return  # closed, or its log failed: it takes no input to wait for
        kernel.stop_input()  # waits up to 10 s for the calls under way
    except RuntimeError as exc:
        _log.error(
            "kernel %r was not closed, and at exit: %s; a venue call still under way on another "
            "thread is left unanswered (reconcile its orders with the venue on restart)",
            kernel.kernel_id,
            exc,
            extra=order_ids(kernel),
        )
        return
    waited = time.monotonic() - started
    if waited >= _EXIT_WAIT_TOLD:  # else no call was under way worth telling of
        _log.warning(
            "kernel %r was not closed: its input stopped at exit after %.1f s waiting for the venue "
            "calls under way on other threads, whose answers are applied and logged",
            kernel.kernel_id,
            waited,
            extra=order_ids(kernel),
        )


def _bounded(undo: Any, component: Any) -> dict[str, Any]:
    """The timeout to undo an attach with: the component's ``close_timeout`` when its
    ``detach`` takes one. A ClickHouse journal's detach waits without end for its rows by
    default, so a refused construction with ClickHouse away would never return."""
    timeout = getattr(component, "close_timeout", None)
    try:
        takes = "timeout" in inspect.signature(undo).parameters
    except (TypeError, ValueError):
        takes = False
    return {"timeout": timeout} if takes and timeout is not None else {}


def _tell_recovery(kernel: KernelCore) -> None:
    """Warns of what the open of the kernel's write-ahead log cut off, skipped or removed
    (docs/reference/log-format.md, "Damage"), so a kernel a service opens tells of the records
    its restart dropped, not only in ``wal_info()["recovery"]``."""
    info = kernel.wal_info()
    # A subclass may answer wal_info() in its own terms (a test's disk that fills, say).
    recovery = info.get("recovery") if isinstance(info, dict) else None
    if not isinstance(recovery, dict):
        return
    torn = recovery["torn_tail"]
    if torn is not None:
        _log.warning(
            "kernel %r: cut a torn record off its write-ahead log: %s at byte %d, %d bytes (it would "
            "have been seq %d); the kernel goes on from seq %d, its last whole record",
            kernel.kernel_id,
            torn["segment"],
            torn["offset"],
            torn["bytes_dropped"],
            torn["seq"],
            recovery["last_seq"],
            extra=order_ids(kernel, seq=recovery["last_seq"]),
        )
    for skipped in recovery["skipped_checkpoints"]:
        path, reason = skipped["path"], skipped["reason"]
        _log.warning(
            "kernel %r: skipped a checkpoint of its write-ahead log: %s; recovered from %s",
            kernel.kernel_id,
            reason if path in reason else f"{path}: {reason}",
            "the start of the log"
            if recovery["checkpoint_seq"] is None
            else f"checkpoint {recovery['checkpoint_seq']}",
            extra=order_ids(kernel),
        )
    for path in recovery["removed_temp_files"]:
        _log.warning(
            "kernel %r: removed %s, a write of its write-ahead log cut short before its rename",
            kernel.kernel_id,
            path,
            extra=order_ids(kernel),
        )


class ExecutionKernel(KernelCore):
    """One strategy's execution kernel.

    ``ExecutionKernel(max_slots=10, venue=None, journal=None, projection=None,
    control_plane=None, kernel_id=None)``. Without a venue the kernel uses a default
    ``MockVenueAdapter`` (acknowledge and fill at once). The original kernel's keywords are
    taken too: ``account`` (the seed capital), ``projection_client`` and ``zinc_plane`` (None:
    dita's projection and control plane are ``projection`` and ``control_plane``).
    """

    def __new__(
        cls,
        max_slots: int | None = None,
        venue: Any = None,
        journal: Any = None,
        projection: Any = None,
        control_plane: Any = None,
        kernel_id: str | None = None,
        **kwargs: Any,
    ) -> Self:
        # `*` keys the control plane's entry for every kernel: refused before the native
        # constructor makes the write-ahead log, so the refusal leaves nothing behind.
        check_kernel_id(kernel_id)
        made: Self = super().__new__(  # type: ignore[assignment]  # the stub says KernelCore
            cls, max_slots, venue, journal, projection, control_plane, kernel_id, **kwargs
        )
        return made

    def __init__(
        self,
        max_slots: int = 10,
        venue: Any = None,
        journal: Any = None,
        projection: Any = None,
        control_plane: Any = None,
        kernel_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        # The native __new__ has already validated and consumed every argument.
        _tell_recovery(self)
        self._metadata_write = threading.RLock()  # see _metadata_lock
        self.journal = journal
        self.projection = projection
        self.control_plane = control_plane
        attached: list[Any] = []
        try:
            for component in (control_plane, journal, projection):
                if component is not None:
                    component.attach(self)
                    attached.append(component)
        except BaseException:
            # A component refused (a journal holding rows above this kernel's seq, say): the
            # ones attached before would keep this half-made kernel, and with it its log's
            # lock, so a corrected retry on the same wal_dir would find the log locked.
            self._abandon(attached)
            raise
        _watch_at_exit(self, attached)

    def attach_control_plane(self, control_plane: Any) -> None:
        """Attaches ``control_plane`` after construction, as ``control_plane=`` would: what the
        cluster sets applies over what was set before (a run's mode label), and the kernel
        detaches it on close."""
        self.control_plane = control_plane
        control_plane.attach(self)
        _watch_at_exit(self, [control_plane])

    def _abandon(self, attached: list[Any]) -> None:
        """Undo the attaches of a kernel whose construction failed and release its log."""
        self.stop_input()
        try:
            for component in reversed(attached):
                with contextlib.suppress(Exception):  # the attach's own error is the one to see
                    # Detached, not closed: the caller made it, and may retry with it.
                    undo = getattr(component, "detach", None) or getattr(component, "release", None)
                    if undo is not None:
                        undo(self, **_bounded(undo, component))
        finally:
            self.close_core()

    def slot(self, slot_id: int) -> SlotView:
        self.slot_state(slot_id)  # raises IndexError naming the slot id when out of range
        # Kept as an int: a numpy int64 taken as the slot id is not kept as the view's.
        return SlotView(self, operator.index(slot_id))

    def slot_state(self, slot_id: int) -> TradeSlot:
        try:
            return super().slot_state(slot_id)
        except ValueError:
            self._no_slot_past_64_bits(slot_id)
            raise

    def slot_dict(self, slot_id: int) -> dict[str, Any]:
        try:
            return super().slot_dict(slot_id)
        except ValueError:
            self._no_slot_past_64_bits(slot_id)
            raise

    def _no_slot_past_64_bits(self, slot_id: Any) -> None:
        """Raises IndexError, as for any other slot id out of range, when ``slot_id`` is an
        integer past the 64 bits the bindings read a slot id in (they raise ValueError, as for
        what is no integer): the original kernel's ``slot()`` raises IndexError for every
        integer it has no slot for, and a caller catching it must not meet another error."""
        if past_slot_ids(slot_id):
            named = shortened(str(integer_named(int(slot_id))), 60)
            last = self.max_slots - 1
            raise IndexError(
                f"slot_id {named} out of range (kernel has {self.max_slots} slots: 0 to {last})"
            ) from None

    def free_slot(self) -> SlotView | None:
        """The view of the first slot free for a new trade, or None (``free_slot_id()``: its id)."""
        slot_id = self.free_slot_id()
        return None if slot_id is None else SlotView(self, slot_id)

    @property
    def state(self) -> KernelState:
        """The slots' views and the trades and working orders by id (the original kernel's)."""
        return KernelState(self)

    @property
    def control(self) -> ControlSnapshot:
        """The current control (mode, verbosity, freeze, ...) as a dict; ``control()`` too."""
        return ControlSnapshot(KernelCore.control(self))

    def process_intents(
        self, intents: Iterable[KernelIntent] | Mapping[str, Any]
    ) -> dict[str, npt.NDArray[np.generic]]:
        """The native ``process_intents``; an iterator's (a generator's) own error is raised as
        ``ArgumentReadError`` naming the item it came at, no intent taken."""
        if isinstance(intents, Iterator):
            intents = read_items("process_intents()", "intents", intents)
        return super().process_intents(intents)

    def load_slots(self, slots: Iterable[Mapping[str, Any]]) -> int:
        """The native ``load_slots``; an iterator's own error is raised as ``ArgumentReadError``
        naming the item it came at, no slot changed."""
        if isinstance(slots, Iterator):
            slots = read_items("load_slots()", "slots", slots)
        return super().load_slots(slots)

    def reconcile_from_slots(self, slots: Iterable[Mapping[str, Any]]) -> KernelOutcome:
        """The native ``reconcile_from_slots``, an iterator's error raised as ``load_slots`` does."""
        if isinstance(slots, Iterator):
            slots = read_items("reconcile_from_slots()", "slots", slots)
        return super().reconcile_from_slots(slots)

    def set_slot_metadata(self, slot_id: int, metadata: Mapping[str, MetaValue]) -> None:
        """Replaces slot ``slot_id``'s metadata (validated; a refusal changes nothing), under the
        metadata lock: a change in place another thread is making meanwhile (``SlotView``) would
        write the older content back over it."""
        with _metadata_lock(self):
            try:
                super().set_slot_metadata(slot_id, metadata)
            except ValueError:
                self._no_slot_past_64_bits(slot_id)
                raise

    def set_metadata(self, slot_id: int, metadata: Mapping[str, MetaValue]) -> None:
        self.set_slot_metadata(slot_id, metadata)

    def set_slot_exit_leg_ratios(self, slot_id: int, ratios: Sequence[float]) -> None:
        try:
            super().set_slot_exit_leg_ratios(slot_id, ratios)
        except ValueError:
            self._no_slot_past_64_bits(slot_id)
            raise

    def set_exit_legs(self, slot_id: int, ratios: Sequence[float]) -> None:
        self.set_slot_exit_leg_ratios(slot_id, ratios)

    def reconcile_with_venue(
        self,
        *,
        cancel_unknown: bool = True,
        cancel_foreign_orders: bool = False,
        only_in_doubt: bool = False,
        ended_lookups: int = ENDED_LOOKUPS,
    ) -> ReconciliationReport:
        """Compare working orders and positions with the venue and resolve the differences
        into explicit events (see ``dita.reconcile``). Run it after a restart on a WAL.
        Orders at the venue this kernel did not issue are left alone unless
        ``cancel_foreign_orders``; ``only_in_doubt`` settles the orders in doubt alone;
        ``ended_lookups`` bounds the orders ended without the venue's filled size that are
        looked up (those it lists need none)."""
        return reconcile_with_venue(
            self,
            cancel_unknown=cancel_unknown,
            cancel_foreign_orders=cancel_foreign_orders,
            only_in_doubt=only_in_doubt,
            ended_lookups=ended_lookups,
        )

    def close(self) -> None:
        """Stop taking input, flush and detach the control plane, journal and projection (each
        closes with the last kernel it serves), then sync and release the write-ahead log.

        Input stops first, once the venue calls under way have had their answers applied, so
        those answers reach the journal and projection too. Reads still work afterwards;
        closing twice is harmless; closing from inside this kernel's own venue call raises
        RuntimeError and changes nothing."""
        self.stop_input()
        _unclosed.pop(id(self), None)
        failed: BaseException | None = None
        try:
            # The log durable first: a journal takes the rows of the inputs the log holds, and
            # records its progress up to there (a log that failed raises at close_core below).
            with contextlib.suppress(Exception):
                self.wal_sync()
            for component in (self.control_plane, self.journal, self.projection):
                if component is None:
                    continue
                # One that raises (or a Ctrl-C in it) is raised once the others are released:
                # stopping there would keep the journal from the last rows and the projection
                # from the last state.
                try:
                    # A component several kernels share (it has release()) stays with the others.
                    release = getattr(component, "release", None)
                    if release is not None:
                        release(self)
                    else:
                        component.close()
                except BaseException as exc:
                    failed = failed or exc
            if failed is not None:
                raise failed
        finally:
            # Under fsync="batch"/"none" the newest inputs may still be buffered: make them
            # durable, then stop the log's thread and drop its lock so the wal_dir opens again.
            self.close_core()

    def __enter__(self) -> ExecutionKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
