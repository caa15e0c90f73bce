"""The control plane's connection to the cluster, and the state every part of it shares: the
constructor checks the settings, sets the fields, connects the client and starts the worker
thread (``PlaneWorker._run``). The client's callback only flips flags; the worker reads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import LifecycleState, cluster_settings, connect_client
from dita._numbers import within
from dita._text import is_utf8
from dita.control.hazelcast.kept_mode import _KeptMode
from dita.control.hazelcast.writing import WRITE_TIMEOUT_S

if TYPE_CHECKING:
    from dita.control.hazelcast.kernel_updates import KernelApplier
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


class PlaneConnection:
    """The fields of ``HazelcastControlPlane`` (see there), its client and its connection's ups
    and downs; the worker thread's loop is ``PlaneWorker._run``."""

    def __init__(
        self,
        cluster_members: str | Sequence[str] | None = None,
        cluster_name: str | None = None,
        *,
        attach_timeout: float = 3.0,
        updated_by: str = "dita",
        resync_interval: float = 10.0,
        write_timeout: float = WRITE_TIMEOUT_S,
    ) -> None:
        if not within(attach_timeout, 0, 300):
            raise ValueError(f"attach_timeout must be between 0 and 300 seconds, got {attach_timeout!r}")
        if not within(resync_interval, 0.1, 3600):
            raise ValueError(f"resync_interval must be between 0.1 and 3600 seconds, got {resync_interval!r}")
        if not within(write_timeout, 0, 300) or write_timeout == 0:
            raise ValueError(f"write_timeout must be above 0 and up to 300 seconds, got {write_timeout!r}")
        if not isinstance(updated_by, str) or not updated_by.strip() or not is_utf8(updated_by):
            raise ValueError(f"updated_by must name who writes entries in UTF-8 text, got {updated_by!r}")
        # None: $DITA_HAZELCAST_MEMBERS / $DITA_HAZELCAST_CLUSTER, else the local dev member.
        self.cluster_members, self.cluster_name = cluster_settings(cluster_members, cluster_name)
        self.attach_timeout = float(attach_timeout)
        self.resync_interval = float(resync_interval)
        self.write_timeout = float(write_timeout)
        self.updated_by = updated_by
        self._lock = threading.RLock()
        self._kernels: dict[str, ExecutionKernel] = {}
        self._appliers: dict[str, KernelApplier] = {}  # kernel id -> its applier (kernel_updates.py)
        self._entries: dict[str, dict[str, Any]] = {}  # last known entries by key
        self._applied_at: dict[str, dict[str, float]] = {}  # kernel id -> field -> set_at applied
        self._modes_taken: dict[str, str] = {}  # kernel id -> the mode it last took from its entries
        self._kept: dict[str, _KeptMode] = {}  # kernel id -> the tight mode it recovered, set by itself
        self._refusing: set[str] = set()  # kernels said to take no more input: a change waits
        self._connected = threading.Event()
        self._ever_connected = threading.Event()
        self._synced = threading.Event()
        self._closing = False
        self._disconnected_since: float | None = time.time()
        self._lost = False  # a connection was lost (not our own close) and not synced since
        # Connections lost so far: a resync whose read was sent before a loss does not mark the
        # plane in sync (its answer came, the connection went before it ended). The reactor
        # thread takes only this lock, never held for long; with _lock, it is taken second.
        self._losses = 0
        self._conn_lock = threading.Lock()
        self._last_sync_at: float | None = None
        self._last_error = ""
        self._listener_id: str | None = None
        self._wake = threading.Event()
        self._resync_needed = False
        self._pending: set[str] = set()  # kernels whose entries changed (or that were busy)
        # Events during a resync's read, by key; None: the entry was removed.
        self._arrived: dict[str, dict[str, Any] | None] | None = None
        # Fields of arrived entries stamped below an entry they compete with, as
        # (key, field, competing key) -> stamp: the writer did not see that entry, so it was
        # removed in the cluster and its removal event is still on its way (events of two
        # partitions come in any order), or it was written after them. A global write may
        # compete with several kernels' entries: one record each, for that kernel.
        self._blocked: dict[tuple[str, str, str], float] = {}
        self._verify: set[str] = set()  # competing keys to look up in the cluster
        # Values no kernel takes, as (key, field), and stamps that are not finite numbers, as
        # (key, "<field>_at"), -> the value logged: each is logged once, not on every event.
        self._bad_stamps: dict[tuple[str, str], str] = {}
        # Values without a stamp that differ from what a kernel runs, as (key, field) -> the value
        # logged: a kernel that took a stamped value never takes them, said once while so.
        self._unstamped: dict[tuple[str, str], str] = {}
        self._client = connect_client(
            self.cluster_members, self.cluster_name, lifecycle_listener=self._on_lifecycle
        )
        self._worker = threading.Thread(target=self._run, name="dita-hazelcast-control", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        raise NotImplementedError  # the worker's loop: PlaneWorker._run

    def _on_lifecycle(self, state: str) -> None:
        # Runs on the client's reactor thread: blocking calls there would deadlock.
        if state == LifecycleState.CONNECTED:
            self._connected.set()
            self._ever_connected.set()
            self._resync_needed = True
            self._wake.set()
        elif state == LifecycleState.DISCONNECTED:
            with self._conn_lock:
                self._losses += 1
                self._connected.clear()
                self._synced.clear()
                if self._closing:
                    return
                self._disconnected_since = time.time()
                self._lost = True
            _log.warning(
                "control plane %s unreachable: kernels %s keep their last known control state",
                self.cluster_members,
                sorted(self._kernels),
            )
