"""The control plane: trading mode, journal verbosity and the ClickHouse debug switch.

A kernel holds its control state natively (``kernel.update_control``); a control plane is
whatever pushes changes into it. The in-memory one serves one process; the Hazelcast one
(``dita.control.hazelcast``) lets one write halt every kernel in a cluster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dita._kernel import ControlMode, Verbosity
from dita._numbers import is_flag
from dita._shared import ClosesWithTheLastKernel
from dita._text import KERNEL_ID_BYTES, kernel_id_flaw, shortened

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = [
    "GLOBAL",
    "MODE_TIGHTNESS",
    "ControlChangeRefused",
    "ControlPlane",
    "InMemoryControlPlane",
    "check_kernel_id",
    "entry_key",
    "enum_names",
    "kernel_id_problem",
    "normalize_change",
]

GLOBAL = "*"
"""Kernel id of the entry that applies to every kernel without an entry of its own."""

MODE_TIGHTNESS = {"REDUCE_ONLY": 1, "HALTED": 2}
"""How far each mode holds trading back (any other: 0). A dead-man trip only tightens a mode, and
a kernel restarted in a tight mode of its own is not loosened by an entry written before it."""


def enum_names(enum: Any) -> str:
    """The member names of a kernel enum (``ControlMode``, ``Verbosity``), for a refusal."""
    return ", ".join(n for n in dir(enum) if n.isupper())


def _enum_name(field: str, value: Any, enum: Any) -> str:
    name = getattr(value, "name", value)
    try:
        if not isinstance(name, str):
            raise TypeError(name)  # a number or a bool: refused as a misspelt name is
        parsed: str = enum.parse(name.upper()).name
    except Exception:
        raise ValueError(f"{field} must be one of {enum_names(enum)}, got {value!r}") from None
    return parsed


def normalize_change(
    mode: ControlMode | str | None = None,
    verbosity: Verbosity | str | None = None,
    debug_clickhouse_enabled: bool | None = None,
) -> dict[str, Any]:
    """Validate a control change; ValueError names the field and the value. Unset fields are left out."""
    change: dict[str, Any] = {}
    if mode is not None:
        change["mode"] = _enum_name("mode", mode, ControlMode)
    if verbosity is not None:
        change["verbosity"] = _enum_name("verbosity", verbosity, Verbosity)
    if debug_clickhouse_enabled is not None:
        if not is_flag(debug_clickhouse_enabled):
            raise ValueError(
                f"debug_clickhouse_enabled must be true or false, got {debug_clickhouse_enabled!r}"
            )
        # numpy's bool as Python's: the change is stored as JSON.
        change["debug_clickhouse_enabled"] = bool(debug_clickhouse_enabled)
    return change


def check_kernel_id(kernel_id: object, hint: str = ": give the kernel another id") -> None:
    """ValueError naming ``kernel_id`` when it is ``*``, the key of the entry for every kernel: a
    kernel of that id read and wrote the global entry as its own (resumed alone, it resumed every
    kernel). Its other keys (``<kernel_id>`` and ``<kernel_id>:<slot_id>``) hold any other id
    unambiguously; the kernel checks the rest (1-200 bytes, no white space or NUL)."""
    if isinstance(kernel_id, str) and kernel_id == GLOBAL:
        raise ValueError(f"kernel_id {kernel_id!r} is the control plane's entry for every kernel{hint}")


def kernel_id_problem(kernel_id: str) -> str | None:
    """Why no kernel can take ``kernel_id`` as its own, or None: the kernel's rule
    (``kernel_id_flaw``), or ``*``, the control plane's entry for every kernel. Settings and
    commands check it before anything is made; the kernel would refuse it once its log is open."""
    flaw = kernel_id_flaw(kernel_id)
    if flaw is not None:
        return f"{flaw}: a kernel id is 1-{KERNEL_ID_BYTES} bytes of UTF-8 without white space or NUL"
    if kernel_id == GLOBAL:
        return "it is the control plane's entry for every kernel: give the kernel another id"
    return None


def entry_key(kernel_id: str | None) -> str:
    """The entry a change for ``kernel_id`` goes to: None is the global entry ``*``.

    An empty kernel id is refused rather than read as global: a blank id from a config or the
    environment must not un-halt every kernel. So is ``*``: the global entry is None's, and a
    change meant for a kernel of that id must not reach every kernel. So is an id no kernel can
    have (white space, a NUL, over 200 bytes): a halt for ``"k1\\n"`` (an id read from a file) would
    be stored where no kernel reads it, and k1 would trade on.
    """
    if kernel_id is None:
        return GLOBAL
    if not isinstance(kernel_id, str) or not kernel_id.strip():
        raise ValueError(
            "kernel_id must be a non-empty string (or None for every kernel), got "
            f"{shortened(repr(kernel_id))}"
        )
    check_kernel_id(kernel_id, ", not a kernel's: pass None to change it")
    why = kernel_id_flaw(kernel_id)
    if why is not None:
        raise ValueError(
            f"kernel_id {shortened(repr(kernel_id))} is no kernel's ({why}: a kernel id is "
            f"1-{KERNEL_ID_BYTES} bytes of UTF-8 without white space or NUL); nothing was set"
        )
    return kernel_id


@runtime_checkable
class ControlPlane(Protocol):
    def attach(self, kernel: ExecutionKernel) -> None:
        """Apply the current control state to ``kernel`` and keep it applied as it changes."""

    def detach(self, kernel: ExecutionKernel) -> None:
        """Stop applying changes to ``kernel``; the other attached kernels are untouched."""

    def set(
        self,
        kernel_id: str | None = None,
        *,
        mode: ControlMode | str | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
        only_if: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        """Change the entry of ``kernel_id`` (None: the global entry) and return it. ``only_if``:
        the change is made only when it holds for the control values the entries give the kernel
        (its own and the global one; for the global entry, its own) as the change is made, else
        nothing is changed and None returned."""

    def close(self) -> None:
        """Detach every kernel and release the plane."""


class ControlChangeRefused(RuntimeError):
    """A change the plane stored and applied to the kernels that took it, refused by others
    (a kernel closing, or one whose log failed), each named in the message."""


class InMemoryControlPlane(ClosesWithTheLastKernel):
    """Control for the kernels of one process: a change is applied to them at once.

    As in the Hazelcast plane, a kernel runs, field by field, the most recently set value of
    its own entry and the global one, whether it was attached before or after those sets.
    Its calls may come from several threads: each is made whole before the next (a kernel
    attached while a halt is being set would miss it, and of two sets at once the one stored
    first could reach the kernels last).
    """

    def __init__(self) -> None:
        # Held through each call, the kernels' update_control included (which waits for a
        # kernel busy in another call, up to its 10 s): reentrant, for a call made from inside one.
        self._lock = threading.RLock()
        self._kernels: dict[str, ExecutionKernel] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        # Per entry and field, the order in which it was set (a counter, not the clock).
        self._set_order: dict[str, dict[str, int]] = {}
        self._sets = 0

    def attach(self, kernel: ExecutionKernel) -> None:
        kid = kernel.kernel_id
        check_kernel_id(kid)
        with self._lock:
            if kid in self._kernels:
                raise ValueError(f"kernel_id {kid!r} is already attached to this control plane")
            self._kernels[kid] = kernel
            change = self._effective(kid)
            if change:
                kernel.update_control(**change, source="control-plane")

    def detach(self, kernel: ExecutionKernel) -> None:
        with self._lock:
            if self._kernels.get(kernel.kernel_id) is kernel:
                del self._kernels[kernel.kernel_id]

    def release(self, kernel: ExecutionKernel) -> None:
        # The detach and the look at what is left in one step: a kernel attached in between (a
        # restart on another thread) would be dropped by the close, and no halt would reach it.
        with self._lock:
            super().release(kernel)

    def given(self, kernel_id: str) -> dict[str, Any]:
        """The control values the entries give kernel ``kernel_id`` now (its own and the global
        one, the one set last winning per field)."""
        with self._lock:
            return self._effective(kernel_id)

    def _effective(self, kernel_id: str) -> dict[str, Any]:
        """Per field, the most recently set value of the global entry and ``kernel_id``'s."""
        latest: dict[str, tuple[int, Any]] = {}
        for key in (GLOBAL, kernel_id):
            order = self._set_order.get(key, {})
            for field, value in self.entries.get(key, {}).items():
                if field not in latest or order[field] > latest[field][0]:
                    latest[field] = (order[field], value)
        return {field: value for field, (_, value) in latest.items()}

    def set(
        self,
        kernel_id: str | None = None,
        *,
        mode: ControlMode | str | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
        only_if: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        key = entry_key(kernel_id)
        # Validated here too, so a bad value is refused even before any kernel is attached.
        change = normalize_change(mode, verbosity, debug_clickhouse_enabled)
        with self._lock:
            if only_if is not None and not only_if(self._effective(key)):
                return None
            return self._set(key, change)

    def _set(self, key: str, change: dict[str, Any]) -> dict[str, Any]:
        targets = (
            list(self._kernels.values())
            if key == GLOBAL
            else [self._kernels[key]]
            if key in self._kernels
            else []
        )
        # Stored first and applied to every kernel even when one refuses (one closing, one
        # whose log failed): a global HALTED stopped at the first such kernel left the kernels
        # after it trading, and kernels attached later did not start halted.
        self.entries.setdefault(key, {}).update(change)
        order = self._set_order.setdefault(key, {})
        for field in change:
            self._sets += 1
            order[field] = self._sets
        refused: list[tuple[str, Exception]] = []
        for kernel in targets:
            try:
                kernel.update_control(**change, source="control-plane")
            except Exception as exc:
                refused.append((kernel.kernel_id, exc))
        if refused:
            named = "; ".join(f"kernel {kid!r}: {exc}" for kid, exc in refused)
            raise ControlChangeRefused(
                f"control change {change} is stored and applied to the other kernels, "
                f"but {len(refused)} refused it: {named}"
            ) from refused[0][1]
        return dict(self.entries[key])

    def close(self) -> None:
        with self._lock:
            self._kernels.clear()
