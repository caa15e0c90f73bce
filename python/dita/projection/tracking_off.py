"""Turning off the change tracking of a kernel that a closing projection finds held by another
thread's call past its wait: from a thread of its own, at the first chance, unless a projection
attaches the kernel first. Left on, the kernel marks every change for a projection that no longer
drains it, until its next attach."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RETRY_S", "cancel_turn_off", "turn_off_when_free"]

_log = logging.getLogger("dita.projection")

RETRY_S = 0.01
"""The pause between two tries; each try itself waits for the kernel (10 s) before it gives up."""


@dataclass
class _TurnOff:
    kernel: Any
    done: Callable[[], None]
    attempt: threading.Lock = field(default_factory=threading.Lock)  # held while a try is under way
    cancelled: bool = False


_pending: dict[int, _TurnOff] = {}  # id(kernel) -> its turn-off; the entry holds the kernel
_pending_lock = threading.Lock()


def turn_off_when_free(kernel: Any, done: Callable[[], None]) -> None:
    """Turn ``kernel``'s tracking off as soon as it is free, then call ``done`` (also when a
    projection attached it first, or the kernel refused for another reason, said)."""
    entry = _TurnOff(kernel, done)
    with _pending_lock:
        _pending[id(kernel)] = entry
    name = f"dita-tracking-off-{kernel.kernel_id}"
    threading.Thread(target=_turn_off, args=(entry,), name=name, daemon=True).start()


def cancel_turn_off(kernel: Any) -> None:
    """Called before a projection turns ``kernel``'s tracking on: a turn-off still pending must
    not undo it. Waits for a try under way to end."""
    with _pending_lock:
        entry = _pending.pop(id(kernel), None)
    if entry is not None:
        with entry.attempt:
            entry.cancelled = True


def _turn_off(entry: _TurnOff) -> None:
    try:
        while not _tried(entry):
            time.sleep(RETRY_S)
    finally:
        with _pending_lock:
            if _pending.get(id(entry.kernel)) is entry:
                del _pending[id(entry.kernel)]
        entry.done()


def _tried(entry: _TurnOff) -> bool:
    """One try; False when the kernel is still busy."""
    with entry.attempt:
        if entry.cancelled:
            return True
        try:
            entry.kernel.set_projection_enabled(False)
        except RuntimeError:  # busy in another call past its wait
            return False
        except Exception as exc:
            _log.warning(
                "projection: the change tracking of kernel %s was not turned off: %s",
                entry.kernel.kernel_id,
                exc,
            )
        return True
