"""The original kernel's views of a kernel: a slot (``SlotView``, with its metadata,
``SlotMetadata``, written through in place), the kernel's state (``KernelState``: the slots'
views, the trades and working orders by id) and its control (``ControlSnapshot``). A slot's view
reads the kernel on every access and writes what is assigned into it, checked there: a refusal
raises naming the field and the value, and changes nothing. ``dita.kernel`` exports these too."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelCore, TradeSlot, VenueOrder

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["ControlSnapshot", "KernelState", "SlotMetadata", "SlotView"]

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
# until it changes or assigns slot metadata otherwise (see ``SlotMetadata._just_augmented``).
_augmented = threading.local()


def forget_augmented() -> None:
    """This thread changed slot metadata otherwise than by ``|=``: an assignment of the dict of
    its last ``|=`` is its own again (a restore), not the tail of ``view.metadata |= x``."""
    _augmented.last = None


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
        forget_augmented()
        with _metadata_lock(self._kernel):
            state = self._kernel.slot_state(self._slot_id)
            self._refuse_another_trade(state)
            new = dict(state.metadata)  # a slot's own metadata is read-only
            before = dict(new)
            result = getattr(new, method)(*args, **kwargs)
            # A call that changed nothing (setdefault of a key held, pop of a missing key with a
            # default, update() of nothing) is a read: it logs no input and works on a closed
            # kernel. Compared by identity, so 1 -> True or 1 -> 1.0 still counts as a change.
            if new.keys() != before.keys() or any(new[k] is not before[k] for k in before):
                try:
                    # Written only while the slot holds the trade read: another thread's exit
                    # and entry since the read would get this trade's metadata otherwise.
                    self._kernel.set_slot_metadata(self._slot_id, new, if_trade=self._trade)
                except RuntimeError:
                    self._refuse_another_trade(self._kernel.slot_state(self._slot_id))
                    raise
            dict.clear(self)
            dict.update(self, new)
        return result

    def _refuse_another_trade(self, state: TradeSlot) -> None:
        """Raises RuntimeError when ``state``, the slot now, holds another trade than the one
        this was read for (or none)."""
        now = _trade_of(state)
        if now != self._trade:
            another = "another " if now[0] and self._trade[0] else ""
            raise RuntimeError(
                f"slot {self._slot_id}'s metadata was read when it held {_named(self._trade)}; "
                f"it now holds {another}{_named(now)}: nothing changed (read it again: "
                f"kernel.slot({self._slot_id}).metadata)"
            )

    def _held_by(self, kernel: KernelCore, slot_id: int) -> bool:
        """Whether this is ``kernel``'s metadata of ``slot_id`` and holds what the slot does."""
        return (
            self._kernel is kernel
            and self._slot_id == slot_id
            and _same_values(self, kernel.slot_state(slot_id).metadata)
        )

    def _just_augmented(self, last: Any, kernel: KernelCore, slot_id: int) -> bool:
        """Whether this is ``kernel``'s metadata of ``slot_id`` and ``last``, what this thread's
        last ``|=`` changed with no slot metadata changed or assigned by it since (written through
        already): ``view.metadata |= x`` assigns it back once, and writing it again would undo
        another thread's change made in between. This thread's own change or assignment ends it:
        a dict changed so, kept, and assigned back after either (a restore) is written."""
        return last is not None and last() is self and self._kernel is kernel and self._slot_id == slot_id

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


# The slot fields a view writes through ``set_slot_fields`` (checked there with every slot,
# nothing changed on a refusal), by the name assigned: each is the slot dict's field of the same name,
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


# How many times ``consume_exit_leg`` reads the slot again when its leg moved under it.
_CONSUME_TRIES = 100


class SlotView:
    """A live view of one slot, the original kernel's ``TradeSlot``: reads the kernel's current
    state on every access, and assigning a field writes it into the kernel.

    ``metadata`` and ``exit_leg_ratios`` write through their own setters (``metadata`` when
    changed in place too); every other field through ``set_slot_fields``, which checks the slot
    with the others as ``load_slots`` does, in one step: a value it refuses raises, naming the
    field and the value, and changes nothing. ``seen_event_ids`` and ``slot_id`` are the
    kernel's own.
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
            last, _augmented.last = getattr(_augmented, "last", None), None
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
            try:
                self._kernel.set_slot_exit_leg_ratios(self.slot_id, value)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"cannot set slot {self.slot_id}'s {name} to {value!r}: {exc}") from exc
        elif name in _LOADED_FIELDS:
            self._load({_LOADED_FIELDS[name]: _loaded_value(_LOADED_FIELDS[name], value)}, name, value)
        else:
            raise AttributeError(f"slot field {name!r} is the kernel's own and cannot be set")

    def _load(self, changes: Mapping[str, Any], name: str, value: Any) -> None:
        """Writes ``changes`` (slot dict fields) into this slot, the other slots as the kernel
        holds them, in one step of the kernel's (``set_slot_fields``): an input another thread
        applies meanwhile, a fill, is kept. A refusal raises the kernel's error naming the field
        ``name`` and the ``value`` given; nothing changed."""
        try:
            self._kernel.set_slot_fields(self.slot_id, dict(changes))
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"cannot set slot {self.slot_id}'s {name} to {value!r}: {exc}") from exc

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"slot field {name!r} cannot be deleted (assign metadata={{}} to empty it)")

    def __eq__(self, other: object) -> bool:
        """A view of the same slot of the same kernel, as the original's slot object was itself:
        ``kernel.free_slot() in kernel.state.slots`` holds. Against a ``TradeSlot`` (a copy kept
        from an earlier bar), the slot as it is now: an unchanged slot equals its copy."""
        if isinstance(other, TradeSlot):
            return self.state() == other
        if not isinstance(other, SlotView):
            return NotImplemented
        return self._kernel is other._kernel and self.slot_id == other.slot_id

    def __hash__(self) -> int:
        # The slot id alone, as a TradeSlot's hash: a view equals a copy of its slot.
        return hash(self.slot_id)

    def __copy__(self) -> TradeSlot:
        """The slot as it is now (``slot_state``), as a copy of the original's data class kept
        it: another live view would read the kernel's later state."""
        return self.state()

    def __deepcopy__(self, memo: dict[int, Any]) -> TradeSlot:
        return self.state()

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Pickles as its copy (the slot as it is now), as the original's data class pickled:
        the kernel behind the view is no part of what a strategy saves."""
        return self.state().__reduce__()

    def to_dict(self) -> dict[str, Any]:
        return self._kernel.slot_dict(self.slot_id)

    def is_free(self) -> bool:
        """Whether the slot takes a new trade (what ``free_slot()`` offers)."""
        return self.state().is_free()

    def is_open(self) -> bool:
        """Whether the slot holds a position."""
        return self.state().is_open()

    def next_exit_ratio(self) -> float | None:
        """The share of the initial size the kernel's next leg EXIT closes, as the kernel sizes
        that exit: the active leg's share less what exits took of it, on the lot grid; the whole
        position for the last leg, past the legs, or where the rest would be below the venue's
        floor (legs [0.25, 0.25] of 1.0, the first leg filled: 0.75). A slot holding nothing
        says its active leg's ratio, None past its legs."""
        return self.state().next_exit_ratio()

    def mark_price(self, price: float) -> None:
        """Marks the slot's asset at ``price`` (``ExecutionKernel.mark_price``: every slot of
        the asset follows, as one market price values them all). A slot without an asset has
        nothing to mark, but the price is checked all the same: a bad one raises as on an
        open slot."""
        asset = self.state().asset
        if asset:
            self._kernel.mark_price(asset, price)
        else:
            self._kernel._check_mark_price(price)

    def consume_exit_leg(self) -> float | None:
        """Counts the active exit leg as done: the next leg exit sends the next one. Returns the
        ratio of the leg consumed; None when every leg was done (nothing changes). The slot
        taken by another trade meanwhile raises RuntimeError, nothing changed."""
        with _metadata_lock(self._kernel):  # two views' consumes each count their own leg
            trade = _trade_of(self.state())
            for _ in range(_CONSUME_TRIES):
                state = self.state()
                if _trade_of(state) != trade:
                    raise RuntimeError(
                        f"slot {self.slot_id} held {_named(trade)} when its exit leg was to be "
                        f"consumed; it now holds {_named(_trade_of(state))}: nothing changed"
                    )
                if state.active_leg_index >= len(state.exit_leg_ratios):
                    return None
                ratio = state.exit_leg_ratios[state.active_leg_index]
                leg = state.active_leg_index + 1
                try:
                    # Only over the state read: a fill another thread books meanwhile may end the
                    # leg itself, or the trade and let another in; read again then.
                    self._kernel.set_slot_fields(
                        self.slot_id,
                        {"active_leg_index": leg, "leg_taken": 0.0},
                        if_trade=trade,
                        if_leg=state.active_leg_index,
                    )
                except RuntimeError:
                    moved = self.state()
                    if _trade_of(moved) == trade and moved.active_leg_index == state.active_leg_index:
                        raise  # not the leg moving under it (a closed kernel, a failed log)
                    continue
                return ratio
        raise RuntimeError(
            f"slot {self.slot_id}'s exit leg moved under each of {_CONSUME_TRIES} consumes: nothing changed"
        )

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
