"""The control plane: trading mode, journal verbosity and the ClickHouse debug switch.

A kernel holds its control state natively (``kernel.update_control``); a control plane is
whatever pushes changes into it. The in-memory one serves one process; the Hazelcast one
(``dita.control.hazelcast``) lets one write halt every kernel in a cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dita._kernel import ControlMode, Verbosity

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = ["GLOBAL", "ControlPlane", "InMemoryControlPlane", "normalize_change"]

GLOBAL = "*"
"""Kernel id of the entry that applies to every kernel without an entry of its own."""


def _enum_name(field: str, value: Any, enum: Any) -> str:
    name = getattr(value, "name", value)
    if not isinstance(name, str):
        raise ValueError(f"{field} must be a name such as {enum.__name__} names, got {value!r}")
    try:
        parsed: str = enum.parse(name.upper()).name
    except Exception:
        choices = ", ".join(n for n in dir(enum) if n.isupper())
        raise ValueError(f"{field} must be one of {choices}, got {value!r}") from None
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
        if not isinstance(debug_clickhouse_enabled, bool):
            raise ValueError(
                f"debug_clickhouse_enabled must be true or false, got {debug_clickhouse_enabled!r}"
            )
        change["debug_clickhouse_enabled"] = debug_clickhouse_enabled
    return change


@runtime_checkable
class ControlPlane(Protocol):
    def attach(self, kernel: ExecutionKernel) -> None:
        """Apply the current control state to ``kernel`` and keep it applied as it changes."""

    def set(
        self,
        kernel_id: str | None = None,
        *,
        mode: ControlMode | str | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Change the entry of ``kernel_id`` (None: the global entry)."""

    def close(self) -> None: ...


class InMemoryControlPlane:
    """Control for the kernels of one process: a change is applied to them at once."""

    def __init__(self) -> None:
        self._kernels: dict[str, ExecutionKernel] = {}
        self.entries: dict[str, dict[str, Any]] = {}

    def attach(self, kernel: ExecutionKernel) -> None:
        self._kernels[kernel.kernel_id] = kernel
        for key in (GLOBAL, kernel.kernel_id):
            if key in self.entries:
                kernel.update_control(**self.entries[key], source="control-plane")

    def set(
        self,
        kernel_id: str | None = None,
        *,
        mode: ControlMode | str | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
    ) -> dict[str, Any]:
        key = kernel_id or GLOBAL
        # Validated here too, so a bad value is refused even before any kernel is attached.
        change = normalize_change(mode, verbosity, debug_clickhouse_enabled)
        targets = (
            list(self._kernels.values())
            if key == GLOBAL
            else [self._kernels[key]]
            if key in self._kernels
            else []
        )
        for kernel in targets:
            kernel.update_control(**change, source="control-plane")  # validates before storing
        self.entries.setdefault(key, {}).update(change)
        return dict(self.entries[key])

    def close(self) -> None:
        self._kernels.clear()
