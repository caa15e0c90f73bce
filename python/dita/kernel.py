"""ExecutionKernel: the native kernel plus its side-effect components.

The hot methods (``process_intent``, ``on_venue_event``, ``mark_price``) are the native
ones, inherited unchanged, so a call costs no Python frame. This class only wires the
journal, projection and control plane, which run off the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelCore, TradeSlot
from dita.reconcile import ReconciliationReport, reconcile_with_venue

if TYPE_CHECKING:
    from dita._kernel import MetaValue

__all__ = ["ExecutionKernel", "SlotView"]


class SlotView:
    """A live view of one slot: reads the kernel's current state on every access.

    ``metadata`` and ``exit_leg_ratios`` write through to the kernel (validated there);
    every other field is read-only because it is owned by the state machine.
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
        return getattr(self._kernel.slot_state(self.slot_id), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "metadata":
            self._kernel.set_slot_metadata(self.slot_id, value)
        elif name == "exit_leg_ratios":
            self._kernel.set_slot_exit_leg_ratios(self.slot_id, value)
        else:
            raise AttributeError(f"slot field {name!r} is owned by the kernel and cannot be set")

    def to_dict(self) -> dict[str, Any]:
        return self._kernel.slot_dict(self.slot_id)

    def __repr__(self) -> str:
        s = self.state()
        return (
            f"SlotView(slot_id={s.slot_id}, fsm_state={s.fsm_state.name}, asset={s.asset!r}, size={s.size})"
        )


class ExecutionKernel(KernelCore):
    """One strategy's execution kernel.

    ``ExecutionKernel(max_slots=10, venue=None, journal=None, projection=None,
    control_plane=None, kernel_id=None)``. Without a venue the kernel uses a default
    ``MockVenueAdapter`` (acknowledge and fill at once).
    """

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
        self.journal = journal
        self.projection = projection
        self.control_plane = control_plane
        for component in (control_plane, journal, projection):
            if component is not None:
                component.attach(self)

    def slot(self, slot_id: int) -> SlotView:
        self.slot_state(slot_id)  # raises IndexError naming the slot id when out of range
        return SlotView(self, slot_id)

    def set_metadata(self, slot_id: int, metadata: Mapping[str, MetaValue]) -> None:
        self.set_slot_metadata(slot_id, metadata)

    def set_exit_legs(self, slot_id: int, ratios: Sequence[float]) -> None:
        self.set_slot_exit_leg_ratios(slot_id, ratios)

    def reconcile_with_venue(
        self, *, cancel_unknown: bool = True, only_in_doubt: bool = False
    ) -> ReconciliationReport:
        """Compare working orders and positions with the venue and resolve the differences
        into explicit events (see ``dita.reconcile``). Run it after a restart on a WAL.
        ``only_in_doubt`` settles the orders in doubt alone."""
        return reconcile_with_venue(self, cancel_unknown=cancel_unknown, only_in_doubt=only_in_doubt)

    def close(self) -> None:
        """Stop taking input, flush and detach the control plane, journal and projection (each
        closes with the last kernel it serves), then sync and release the write-ahead log.

        Input stops first, once the venue calls under way have had their answers applied, so
        those answers reach the journal and projection too. Reads still work afterwards;
        closing twice is harmless; closing from inside this kernel's own venue call raises
        RuntimeError and changes nothing."""
        self.stop_input()
        try:
            for component in (self.control_plane, self.journal, self.projection):
                if component is None:
                    continue
                # A component several kernels share (it has release()) stays with the others.
                release = getattr(component, "release", None)
                if release is not None:
                    release(self)
                else:
                    component.close()
        finally:
            # Under fsync="batch"/"none" the newest inputs may still be buffered: make them
            # durable, then stop the log's thread and drop its lock so the wal_dir opens again.
            self.close_core()

    def __enter__(self) -> ExecutionKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
