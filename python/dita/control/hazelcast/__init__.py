"""Cluster-wide control plane in Hazelcast: one write halts every kernel.

Operators write entries into the map ``dita_control_plane``: key ``*`` (every kernel) or a
kernel id. An entry holds any of ``mode``, ``verbosity`` and ``debug_clickhouse_enabled``,
each with the wall-clock time it was set (``mode_at`` ...), or just past the newest stamp it
competes with when the writer's clock is behind that one. Only those stamps order writes
(``updated_at`` says who wrote last), and one that is not a finite number after 1970 counts as
missing.
A kernel runs, field by field, the most recently set value of its own entry and the global
one, so ``set --mode HALTED`` (global) halts everyone, and a later ``set --kernel K --mode
LIVE`` resumes only K, whatever the operators' clocks say.

A kernel restarted on its log in REDUCE_ONLY or HALTED set outside the cluster (a dead-man trip
whose entry could not be written, the gateway) keeps that mode over an entry that would loosen it
and was stamped before the mode was set (the time its log recorded): a later write loosens it.

What each kernel actually runs with is projected separately (map ``dita_control``, written by
``HazelcastProjection``), so operators can see a change take effect.

An entry listener applies changes as they happen (well under a second), each kernel's on a
thread of its own: a kernel another thread holds keeps only its own change waiting. When the cluster is
unreachable the kernel keeps its last known control state, logs that it does, and
``status()`` says so; on reconnect the entries are read again and anything missed is applied.

A write (``write_entry``, ``HazelcastControlPlane.set``, `dita control set`) ends within its
timeout (``WRITE_TIMEOUT_S``) whichever request the cluster leaves unanswered (a member frozen
answers none until the others declare it dead, a minute or more), raising
``ControlWriteUnconfirmed``, which says whether the write itself went out. A global write
(an emergency halt) whose read of every entry is left unanswered goes on at half its timeout
with the global entry alone, stamped a little ahead, and says which kernels it may not reach.
A global write reads every entry again once written, and is made again past a kernel's entry
written meanwhile by a clock ahead (``GlobalWriteOutrun`` when that keeps happening).

One file per part, read in this order:

- ``plane.py``: :class:`HazelcastControlPlane`, what a kernel and an operator's code use.
- ``connection.py``: its fields, its client, the connection's ups and downs.
- ``worker.py``: the worker thread: every entry read after each (re)connect and periodically.
- ``entry_events.py``: the map's events: entries changed, removed, cleared, blocked writes.
- ``kernel_updates.py``: what each kernel runs, applied to it by its own applier thread.
- ``kept_mode.py``: a tight mode a kernel recovered from its log, kept over older entries.
- ``writing.py``: ``write_entry``, the write of an entry within its timeout, and its errors.
- ``stamps.py``: how stamps order writes, for readers and writers.
- ``entries.py``: the map, an entry's key and fields, and what a bad one is read as.

The worker's and the writer's timings (``READ_LATE_S``, ``READ_BACK_AFTER_S``) are read in the
module that defines them, so they are set there.
"""

from dita.control import normalize_change
from dita.control.hazelcast.entries import CONTROL_FIELDS, CONTROL_PLANE_MAP
from dita.control.hazelcast.plane import HazelcastControlPlane
from dita.control.hazelcast.stamps import effective_control
from dita.control.hazelcast.writing import (
    UNANSWERED_WHY,
    WRITE_TIMEOUT_S,
    ControlPlaneUnavailable,
    ControlWriteUnconfirmed,
    GlobalWriteOutrun,
    write_entry,
)

__all__ = [
    "CONTROL_FIELDS",
    "CONTROL_PLANE_MAP",
    "UNANSWERED_WHY",
    "WRITE_TIMEOUT_S",
    "ControlPlaneUnavailable",
    "ControlWriteUnconfirmed",
    "GlobalWriteOutrun",
    "HazelcastControlPlane",
    "effective_control",
    "normalize_change",
    "write_entry",
]
