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

__all__ = ["GLOBAL", "ControlPlane", "InMemoryControlPlane"]

GLOBAL = "*"
"""Kernel id of the entry that applies to every kernel without an entry of its own."""


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
        change: dict[str, Any] = {}
        # Validated here too, so a bad value is refused even before any kernel is attached.
        if mode is not None:
            change["mode"] = mode if isinstance(mode, ControlMode) else ControlMode.parse(mode)
        if verbosity is not None:
            change["verbosity"] = (
                verbosity if isinstance(verbosity, Verbosity) else Verbosity.parse(verbosity)
            )
        if debug_clickhouse_enabled is not None:
            if not isinstance(debug_clickhouse_enabled, bool):
                raise TypeError(
                    f"invalid debug_clickhouse_enabled: expected bool, got {debug_clickhouse_enabled!r}"
                )
            change["debug_clickhouse_enabled"] = debug_clickhouse_enabled
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
