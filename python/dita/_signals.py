"""SIGTERM handled as Ctrl-C, for the commands that must close cleanly when a service
manager, a container or `kill` stops them (`dita paper`, `dita stdio`)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Terminated", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is, as Python raises KeyboardInterrupt on Ctrl-C."""


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM stop the run as Ctrl-C does, so that the kernel closes (journal rows
    written, `closed_at` in the projection) and the command ends as it would at its normal
    end, instead of the process dying half-way. Only the first SIGTERM interrupts: one sent
    again while the run closes does not cut the closing short. Returns the function that
    puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers can only be set from the main thread
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        return lambda: None  # whoever started us asked for SIGTERM to be ignored
    fired = False

    def on_sigterm(signum: int, frame: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Terminated

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        # None: a handler set outside Python; the default is the nearest we can put back.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

    return restore
