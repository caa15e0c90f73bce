"""Whether a working exit closes the whole position: the kernel sends a whole-position exit on
the asset's lot grid (rounded down, off the grid), so an exit of that size is the whole close.
Read by flatten all (``dita.gateway.flatten``) and ``Strategy.close`` alike."""

from __future__ import annotations

import math

from dita._kernel import KernelCore

__all__ = ["exit_closes_whole", "whole_exit_size"]


def _lot_step(kernel: KernelCore, asset: str) -> float:
    """The asset's lot step as the kernel sizes exits by: its market limits, else the exchange
    config's (the kernel's fallback for an asset with none)."""
    limits = kernel.market_limits(asset)
    if limits is not None:
        return float(limits.get("lot_step") or 0.0)
    return float(kernel.exchange_config().get("lot_step") or 0.0)


def whole_exit_size(kernel: KernelCore, asset: str, size: float) -> float:
    """What the kernel sends to exit a position of ``size`` in ``asset``: ``size`` rounded down
    to the lot step, or ``size`` itself when under one lot (nothing else would close it)."""
    step = _lot_step(kernel, asset)
    if step <= 0.0 or size <= 0.0:
        return size
    # Within float error of a whole count of lots is that count (0.3 / 0.1 is 2.9999999999999996).
    lots = math.floor(size / step + 1e-9)
    return lots * step if lots > 0 else size


def exit_closes_whole(kernel: KernelCore, asset: str, size: float, left: float) -> bool:
    """Whether an exit with ``left`` still to fill closes all of a position of ``size``: it
    covers what the kernel sends for the whole position, within float error."""
    whole = whole_exit_size(kernel, asset, size)
    return left >= whole - 1e-9 * max(1.0, whole)
