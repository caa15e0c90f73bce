"""ExecutionKernel: the native kernel plus its side-effect components.

The hot methods (``process_intent``, ``on_venue_event``, ``mark_price``) are the native
ones, inherited unchanged, so a call costs no Python frame. This class wires the journal,
projection and control plane, and names a generator's error in the batch calls (one frame a
batch), off the hot path.

The original kernel's views of it (``SlotView``, ``KernelState``, ``ControlSnapshot``) are in
``dita.slot_views``; what an outcome applied and booked (``applied_events``, ``booked_events``) in
``dita.outcome_events``. Both are exported from here too.
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

from dita._kernel import KernelCore, KernelIntent, KernelOutcome, TradeSlot
from dita._numbers import integer_named, past_slot_ids
from dita._reading import read_items
from dita._text import shortened
from dita.control import check_kernel_id
from dita.logs import order_ids
from dita.outcome_events import FILL_TRIGGERS, applied_events, booked_events, booked_fill, event_with
from dita.reconcile import ENDED_LOOKUPS, ReconciliationReport, reconcile_with_venue
from dita.slot_views import ControlSnapshot, KernelState, SlotView, _metadata_lock, forget_augmented

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from dita._kernel import MetaValue, _SlotWithDict

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
    """Warns of what the open of the kernel's write-ahead log cut off, skipped or removed, and of the
    client order ids it skipped after a stop that was not clean
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
    full = recovery.get("full_last_segment")
    if full is not None:
        _log.warning(
            "kernel %r: its write-ahead log ends in %s, which reached wal_segment_bytes (%d of %d bytes) "
            "with no segment after it: the newest segment(s) may be lost (a copy or restore that "
            "missed them), their records with them, unless the process stopped right after that "
            "write; the kernel goes on from seq %d: put a lost segment back, or run "
            "reconcile_with_venue() before trading",
            kernel.kernel_id,
            full["segment"],
            full["bytes"],
            full["segment_bytes"],
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
    skipped_through = recovery.get("order_ids_skipped_through")
    if skipped_through is not None:
        _log.warning(
            "kernel %r: its write-ahead log did not end in a clean stop (a crash of the process or the "
            "machine, or a log an earlier build wrote), and a crash of the machine can lose the records "
            "of the last orders sent: the client order ids they may have had are skipped; the next "
            "order's is %r",
            kernel.kernel_id,
            f"{kernel.kernel_id}-{skipped_through + 1}",
            extra=order_ids(kernel),
        )
    for path in recovery["removed_temp_files"]:
        _log.warning(
            "kernel %r: removed %s, a write of its write-ahead log cut short before its rename",
            kernel.kernel_id,
            path,
            extra=order_ids(kernel),
        )


def _tell_held_assets(kernel: KernelCore) -> None:
    """Gives a venue that takes them (``note_held_assets``) the assets the kernel holds a position
    or works an order in: the ccxt venue takes a market under two names, and the kernel keys caps
    and positions by the name, so a kernel recovered from its log fixes the name of each market."""
    note_held = getattr(kernel.venue, "note_held_assets", None)
    if not callable(note_held):
        return
    engaged = set(kernel.open_slot_ids())
    engaged.update(order.slot_id for order in kernel.open_orders())
    assets = sorted({kernel.slot_state(slot_id).asset for slot_id in engaged})
    if assets:
        note_held(assets)


def _tell_venue_of(kernel: ExecutionKernel) -> None:
    """Gives a venue that takes it (``note_kernel``) the kernel built over it: a ``VenueRouter``
    reads its open trades before it moves an asset to another venue."""
    note_kernel = getattr(kernel.venue, "note_kernel", None)
    if callable(note_kernel):
        note_kernel(kernel)


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
        _tell_held_assets(self)
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
            _tell_venue_of(self)  # last: a venue keeps no kernel whose construction failed
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

    def load_slots(self, slots: Iterable[Mapping[str, Any] | _SlotWithDict]) -> int:
        """The native ``load_slots``; an iterator's own error is raised as ``ArgumentReadError``
        naming the item it came at, no slot changed."""
        if isinstance(slots, Iterator):
            slots = read_items("load_slots()", "slots", slots)
        return super().load_slots(slots)

    def reconcile_from_slots(self, slots: Iterable[Mapping[str, Any] | _SlotWithDict]) -> KernelOutcome:
        """The native ``reconcile_from_slots``, an iterator's error raised as ``load_slots`` does."""
        if isinstance(slots, Iterator):
            slots = read_items("reconcile_from_slots()", "slots", slots)
        return super().reconcile_from_slots(slots)

    def set_slot_metadata(
        self, slot_id: int, metadata: Mapping[str, MetaValue], *, if_trade: tuple[str, float] | None = None
    ) -> None:
        """Replaces slot ``slot_id``'s metadata (validated; a refusal changes nothing), under the
        metadata lock: a change in place another thread is making meanwhile (``SlotView``) would
        write the older content back over it. With ``if_trade`` (trade id, entry time in
        seconds) only while the slot holds that trade: RuntimeError otherwise, nothing changed."""
        forget_augmented()
        with _metadata_lock(self):
            try:
                super().set_slot_metadata(slot_id, metadata, if_trade=if_trade)
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
        RuntimeError and changes nothing. A Ctrl-C (or SystemExit) while it waits for a venue
        call or a component is raised once every component and the log are released."""
        failed: BaseException | None = None

        def keep(exc: BaseException) -> None:
            """The first failure is raised at the end; one after it is logged, not lost."""
            nonlocal failed
            if failed is None:
                failed = exc
            else:
                _log.error("closing kernel %s, after %r: %r", self.kernel_id, failed, exc, exc_info=exc)

        try:
            self.stop_input()
        except Exception:
            raise  # refused (inside its own venue call, or busy): nothing changed
        except BaseException as exc:
            # A Ctrl-C raised as the wait for the venue calls returns: input has stopped.
            keep(exc)
        _unclosed.pop(id(self), None)
        try:
            # The log durable first: a journal takes the rows of the inputs the log holds, and
            # records its progress up to there.
            try:
                self.wal_sync()
            except Exception:
                pass  # a log that failed raises at close_core below
            except BaseException as exc:  # a Ctrl-C: kept as a component's is
                keep(exc)
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
                    keep(exc)
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
