"""``HazelcastControlPlane``: what a kernel (attach, detach, release) and an operator's code
(set, entries, status, close) use. Its constructor, fields and connection are
``PlaneConnection``'s (connection.py); the worker thread is ``PlaneWorker`` (worker.py), which
takes the map's events with ``EntryEvents`` and applies them with ``KernelUpdates``."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import Future
from dita._kernel import ControlMode, Verbosity
from dita.control import GLOBAL, check_kernel_id, normalize_change
from dita.control.hazelcast.entries import _control_map, _decode, _validate_kernel_id
from dita.control.hazelcast.kept_mode import _kept_mode
from dita.control.hazelcast.kernel_updates import KernelApplier
from dita.control.hazelcast.stamps import control_values
from dita.control.hazelcast.worker import PlaneWorker
from dita.control.hazelcast.writing import ControlPlaneUnavailable, write_entry

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


class HazelcastControlPlane(PlaneWorker):
    """Keeps attached kernels' control state in step with the ``dita_control_plane`` map.

    ``attach`` waits up to ``attach_timeout`` seconds for the cluster so that a kernel started
    while trading is halted starts halted; if the cluster is unreachable it starts on its
    local control state and says so.

    The map's events are how a change arrives; every ``resync_interval`` seconds (10) the
    entries are read again as well, so a change whose event never reached this client (a
    member that failed with it in flight, one the client was not yet connected to) is applied
    within that time, not at the entry's next change.

    ``set`` gives the cluster ``write_timeout`` seconds (10) to answer its write.
    """

    def attach(self, kernel: ExecutionKernel) -> None:
        kid = kernel.kernel_id
        # The key of every kernel's entry: `dita control set --kernel '*'` would resume every
        # kernel to resume this one.
        check_kernel_id(kid)
        kept = _kept_mode(kernel)
        with self._lock:
            # Under the lock: a close() racing this either finds the kernel (and lets it go
            # with the others) or is seen here.
            if self._closing:
                raise RuntimeError("HazelcastControlPlane is closed: make a new one to attach kernels")
            if kid in self._kernels:
                raise ValueError(f"kernel_id {kid!r} is already attached to this control plane")
            self._kernels[kid] = kernel
            self._appliers[kid] = KernelApplier(self, kid, kernel)
            if kept is not None:
                self._kept[kid] = kept
        deadline = time.monotonic() + self.attach_timeout
        if self._entries_of(kid, deadline):
            self._apply(kid, kernel)
            return
        with self._lock:
            # Under the lock with the resync's look at _lost: either the resync is done (nothing
            # to warn of; its read may predate this kernel, so apply it here too), or it finds
            # _lost set and logs the recovery as a warning too, after this one.
            synced = self._synced.is_set()
            if not synced:
                with self._conn_lock:
                    self._lost = True
                    connected = self._connected.is_set()
                if connected:
                    _log.warning(
                        "control plane %s connected, but its read of entries %r and %r is unanswered "
                        "after %.0fs (a member takes requests and does not answer them): kernel %s "
                        "starts on its local control state %s",
                        self.cluster_members,
                        GLOBAL,
                        kid,
                        self.attach_timeout,
                        kid,
                        kernel.control().get("mode"),
                    )
                else:
                    _log.warning(
                        "control plane %s unreachable: kernel %s starts on its local control state %s",
                        self.cluster_members,
                        kid,
                        kernel.control().get("mode"),
                    )
        if synced:
            self._apply(kid, kernel)  # outside the plane's lock: an apply takes it after its own

    def _entries_of(self, kid: str, deadline: float) -> bool:
        """Whether the plane knows by ``deadline`` (monotonic) what the cluster holds for kernel
        ``kid``: it is in sync, or ``kid``'s entry and the global one were read on their own.

        The plane's first read is of every entry, and a member that takes requests and answers
        none (frozen: a GC pause, a stalled VM) leaves it unanswered until the others declare it
        dead, a minute and more; the two entries a kernel runs may be on a member that answers."""
        if self._synced.is_set():
            return True
        if not self._connected.wait(max(deadline - time.monotonic(), 0.0)):
            return self._synced.is_set()
        read: Future[dict[Any, Any]] = _control_map(self._client).continue_with(
            lambda proxy: proxy.result().get_all([GLOBAL, kid])
        )
        answered = threading.Event()
        read.add_done_callback(lambda _: answered.set())
        while not answered.is_set():
            if self._synced.wait(min(0.05, max(deadline - time.monotonic(), 0.0))):
                return True
            if time.monotonic() >= deadline:
                return False
        try:
            entries = read.result()
        except Exception as exc:  # an undecodable value, a lost connection: the full read decides
            _log.debug("control plane could not read entries %r and %r: %s", GLOBAL, kid, exc)
            return self._synced.is_set()
        for key, value in entries.items():
            self._take_entry(str(key), _decode(str(key), value))
        if not self._synced.is_set():
            _log.info(
                "control plane %s: kernel %s takes its entry and the global one, read on their own; "
                "the read of every entry is not answered yet",
                self.cluster_members,
                kid,
            )
        return True

    def detach(self, kernel: ExecutionKernel) -> None:
        self._detach(kernel)

    def controls(self, kernel_id: str, kernel: ExecutionKernel) -> bool:
        """Whether ``kernel`` (attached under ``kernel_id``) takes this plane's entries: attached
        and not closed. Read by the projection, which says so in the kernel's control state."""
        return not self._closing and self._kernels.get(kernel_id) is kernel

    def _applying(self, kernel: ExecutionKernel) -> contextlib.AbstractContextManager[Any]:
        """The lock ``kernel``'s changes are applied under, to take before the plane's own (as
        the applier takes them): held, no change is being made to the kernel."""
        with self._lock:
            applier = self._appliers.get(kernel.kernel_id)
        return applier.lock if applier is not None and applier.kernel is kernel else contextlib.nullcontext()

    def _detach(self, kernel: ExecutionKernel) -> bool:
        """Removes ``kernel``; True if it was attached and no kernel is left (decided with the
        removal, so two kernels released at once cannot both see the other and leave the plane
        open). Waits for a change being applied to it: none is made once this returns."""
        with self._applying(kernel), self._lock:
            # By identity, as the in-memory plane: a kernel detached before and closed now must
            # not take along the kernel attached under its id since.
            if self._kernels.get(kernel.kernel_id) is not kernel:
                return False  # detached before: the plane is the caller's now, left open
            del self._kernels[kernel.kernel_id]
            applier = self._appliers.pop(kernel.kernel_id, None)
            if applier is not None:
                applier.stop()
            self._applied_at.pop(kernel.kernel_id, None)
            self._kept.pop(kernel.kernel_id, None)
            self._modes_taken.pop(kernel.kernel_id, None)
            if kernel.kernel_id in self._refusing:
                self._refusing.discard(kernel.kernel_id)
                _log.info(
                    "kernel %s detached taking no more input: the control change it refused is dropped",
                    kernel.kernel_id,
                )
            return not self._kernels

    def release(self, kernel: ExecutionKernel) -> None:
        """What ``ExecutionKernel.close()`` calls: stop serving ``kernel`` and, when it was the
        last one attached, close. Kernels sharing this plane keep it until the last closes."""
        with self._applying(kernel), self._lock:
            # Closing is decided with the removal: a kernel attaching meanwhile (a restart on
            # another thread) would be attached once the last one is gone, then dropped by the
            # close without a word, no halt reaching it. It is refused, as after the close.
            if not self._detach(kernel) or self._closing:
                return
            self._closing = True
        self._shut()

    def _shut(self) -> None:
        """Stop the worker, drop the kernels and shut the client, ``_closing`` set."""
        self._wake.set()
        if self._worker is not threading.current_thread():
            self._worker.join(timeout=5.0)
        with self._lock:
            self._kernels.clear()
            appliers = list(self._appliers.values())
            self._appliers.clear()
        for applier in appliers:
            applier.stop()
        self._client.shutdown()

    def set(
        self,
        kernel_id: str | None = None,
        *,
        mode: ControlMode | str | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
        only_if: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        """Write a change for ``kernel_id`` (None: every kernel) and return the entry; with
        ``only_if``, only when it holds for the values the entries give the kernel on the write's
        read, with their stamps (``write_entry``), else None and nothing written. Raises when the
        cluster is away (a new plane first waits up to ``attach_timeout`` for its connection),
        ControlWriteUnconfirmed when it leaves the write unanswered for ``write_timeout`` seconds
        (a global write made without reading every entry, ``write_entry`` says, is logged as a
        warning), ValueError for a bad value or when an entry holds a stamp no write can be
        stamped after, and RuntimeError once the plane is closed."""
        change = normalize_change(mode, verbosity, debug_clickhouse_enabled)
        if not change:
            raise ValueError("nothing to set: give mode, verbosity or debug_clickhouse_enabled")
        key = _validate_kernel_id(kernel_id)
        if self._closing:
            # Closed with its last kernel, say: its client is gone, not the cluster.
            raise RuntimeError("HazelcastControlPlane is closed: make a new one to set entries")
        if not self._ever_connected.is_set():
            # A new plane's client connects in the background: give it the time attach() gives
            # it, or `HazelcastControlPlane().set(...)` said "unreachable" with the cluster up.
            # Once it has been connected, a lost cluster fails at once.
            self._ever_connected.wait(self.attach_timeout)
        if not self._connected.is_set():
            raise ControlPlaneUnavailable(
                f"control plane {self.cluster_members} is unreachable; nothing was set"
            )
        try:
            return write_entry(
                self._client,
                kernel_id,
                change,
                updated_by=self.updated_by,
                timeout=self.write_timeout,
                only_if=only_if,
            )
        except (ControlPlaneUnavailable, ValueError):
            # ValueError: an entry holds a stamp no write can follow, and says which;
            # ControlWriteUnconfirmed: not answered within write_timeout, saying if it went out.
            raise
        except Exception as exc:
            raise ControlPlaneUnavailable(f"could not write control entry {key!r}: {exc}") from exc

    def given(self, kernel_id: str) -> dict[str, Any]:
        """The control values the entries as last seen give kernel ``kernel_id`` (its own and the
        global one, the newer stamp winning per field); stale while disconnected."""
        with self._lock:
            held = [self._entries[k] for k in (GLOBAL, kernel_id) if k in self._entries]
        return control_values(held)

    def entries(self) -> dict[str, dict[str, Any]]:
        """The entries as last seen (a local copy; may be stale while disconnected, see status())."""
        with self._lock:
            return {k: dict(v) for k, v in self._entries.items()}

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def status(self) -> dict[str, Any]:
        with self._lock:
            attached = list(self._kernels.items())
        # Read outside the plane's lock: a kernel another thread holds would hold up the events.
        kernels = {kid: k.control() for kid, k in attached}
        connected = self._connected.is_set()
        return {
            "connected": connected,
            "in_sync": self._synced.is_set(),
            "cluster_members": list(self.cluster_members),
            # While disconnected the kernels run their last known state, marked here.
            "holding_last_known_state": not self._synced.is_set(),
            "disconnected_since": None if connected else self._disconnected_since,
            "last_sync_at": self._last_sync_at,
            "last_error": self._last_error,
            "kernels": kernels,
        }

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._shut()
