"""Projections: the latest state of every slot, account and control entry, for operators.

The hot path only marks keys dirty inside the Rust kernel. A projection takes what changed
with ``kernel.projection_changes()``, drained and read in one call so one cycle publishes one
kernel state, and publishes the latest value per key, so a burst of updates to one slot costs
one write. Keys: slots ``<kernel_id>:<slot_id>``, accounts and
control ``<kernel_id>``. Values are the dicts of ``snapshot()`` (same field names).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dita._shared import ClosesWithTheLastKernel
from dita.control import check_kernel_id

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["InMemoryProjection", "Projection", "publish_dirty", "tracking_off"]

_log = logging.getLogger("dita.projection")


@runtime_checkable
class Projection(Protocol):
    """What ExecutionKernel needs of a projection."""

    def attach(self, kernel: ExecutionKernel) -> None:
        """Start projecting this kernel (turn its dirty tracking on, publish everything once)."""

    def flush(self, timeout: float | None = None) -> None:
        """Publish every dirty key now."""

    def close(self) -> None: ...


def publish_dirty(
    kernel: ExecutionKernel, *, full: bool = False, with_account: bool = False
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]:
    """Collect the latest values of what changed in ``kernel`` since the last call, all of one
    kernel state (a strategy's input on another thread lands before or after all of them).

    Returns (slots by key, account or None, control or None). ``full`` returns everything,
    for a resync after the projection target was away; ``with_account`` the account even
    when it did not change (a heartbeat's rewrite).
    """
    slots, account, control = kernel.projection_changes(full=full, with_account=with_account)
    # Keyed by the id each dict carries: reading kernel.kernel_id waits while another thread
    # is inside the kernel, which this call, without full or with_account, never does.
    by_key = {f"{slot['kernel_id']}:{sid}": slot for sid, slot in slots.items()}
    return by_key, account, control


def tracking_off(
    kernels: Iterable[ExecutionKernel], log: logging.Logger, projection: str, event: str = "closed"
) -> None:
    """Turn off the change tracking of ``kernels`` ``projection`` no longer serves, as it
    ``event`` (closed, or detached a closing kernel). One held by another thread's call past its
    wait keeps it on, named at WARNING: a close cannot wait for it, and tracking marks at most
    one flag a slot, until the kernel's next attach."""
    busy: list[str] = []
    for kernel in kernels:
        try:
            kernel.set_projection_enabled(False)
        except RuntimeError:
            busy.append(kernel.kernel_id)
    if busy:
        log.warning(
            "%s %s while kernels %s were busy in another call: their change tracking stays on "
            "until they are attached again (it marks each changed slot once)",
            projection,
            event,
            sorted(busy),
        )


class InMemoryProjection(ClosesWithTheLastKernel):
    """Dict-backed projection; publishing happens on ``flush()`` in the caller's thread."""

    def __init__(self) -> None:
        self.slots: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.control: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self._kernels: dict[str, ExecutionKernel] = {}
        self._lock = threading.Lock()

    def attach(self, kernel: ExecutionKernel) -> None:
        """Start projecting ``kernel``; a second kernel under an attached id is refused (the two
        wrote over each other's entries), and the slots an earlier kernel of that id had beyond
        this one's ``max_slots`` are dropped (their last state, an open position say, stayed)."""
        kid = kernel.kernel_id
        check_kernel_id(kid)  # `*`: the control entries' key of every kernel, in dita_control too
        with self._lock:
            # Checked and taken in one step: two attaches of one id at once both passed the check.
            if kid in self._kernels:
                raise ValueError(f"kernel_id {kid!r} is already attached to this projection")
            for key in [key for key in self.slots if _slot_number(key, kid) >= kernel.max_slots]:
                del self.slots[key]
            kernel.set_projection_enabled(True)
            self._kernels[kid] = kernel
        self._publish(kernel, full=True)

    def _publish(self, kernel: ExecutionKernel, *, full: bool = False) -> None:
        # Collected and written under one lock: a flush that collected a slot, overtaken by
        # another thread's flush of a newer value, wrote its older one last, and the slot, no
        # longer dirty, kept it.
        with self._lock:
            slots, account, control = publish_dirty(kernel, full=full)
            self.slots.update(slots)
            self.writes += len(slots)
            if account is not None:
                self.accounts[kernel.kernel_id] = account
                self.writes += 1
            if control is not None:
                self.control[kernel.kernel_id] = control
                self.writes += 1

    def flush(self, timeout: float | None = None) -> None:
        for kernel in list(self._kernels.values()):
            self._publish(kernel)

    def detach(self, kernel: ExecutionKernel) -> None:
        """Publish ``kernel``'s last changes and stop projecting it; the other kernels stay. A
        kernel held by another thread's call past its wait stays attached (RuntimeError)."""
        kid = kernel.kernel_id
        # By identity: a kernel detached before and closed now leaves the one attached since.
        if self._kernels.get(kid) is kernel:
            self._publish(kernel)
            kernel.set_projection_enabled(False)
            del self._kernels[kid]

    def _detach_closing(self, kernel: ExecutionKernel) -> None:
        """``detach`` for ``kernel``'s close, which it leaves whatever its state: held by another
        thread's call past its wait, its tracking stays on, named at WARNING (``tracking_off``)."""
        if self._kernels.get(kernel.kernel_id) is kernel:
            self._publish(kernel)
            del self._kernels[kernel.kernel_id]
            tracking_off([kernel], _log, "in-memory projection", "detached a kernel")

    def close(self) -> None:
        self.flush()
        tracking_off(self._kernels.values(), _log, "in-memory projection")
        self._kernels.clear()


def _slot_number(key: str, kernel_id: str) -> int:
    """The slot number of a slot key of ``kernel_id`` (``<kernel_id>:<slot_id>``), -1 for another
    kernel's key (``k1:2:0`` is kernel ``k1:2``'s, not ``k1``'s)."""
    kid, sep, number = key.rpartition(":")
    return int(number) if sep and kid == kernel_id and number.isascii() and number.isdigit() else -1
