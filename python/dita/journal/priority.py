"""Lowering the CPU priority of the journal's threads, so they yield the CPU to a strategy's.

On Linux a nice value belongs to a thread. chDB, where the process may raise priorities
again (CAP_SYS_NICE), puts a thread it ran a query on back to nice 0 when the query set
``os_threads_nice_value_query``; so a journal thread lowers itself again after such calls.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["lower_thread_priority"]

log = logging.getLogger(__name__)

# Per thread: the nice value it had when it first lowered itself.
_started_at = threading.local()


def lower_thread_priority(nice: int | None) -> None:
    """Give the calling thread ``nice``, or the nice value it started with if that is higher
    (never a higher priority than it was given). None, or not Linux: nothing changes."""
    if nice is None or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        if not hasattr(_started_at, "nice"):
            _started_at.nice = os.getpriority(os.PRIO_PROCESS, tid)
        want = max(nice, _started_at.nice)
        if os.getpriority(os.PRIO_PROCESS, tid) != want:
            os.setpriority(os.PRIO_PROCESS, tid, want)
    except OSError as exc:  # not permitted here: run at the priority given
        log.debug("could not lower the priority of %s: %r", threading.current_thread().name, exc)
