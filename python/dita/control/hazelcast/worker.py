"""The plane's worker thread: it reads every entry after each (re)connect and every
``resync_interval`` seconds (an event may be lost), registers the entry listener, applies what
the events bring while a request of its own is out, and looks up the entries that blocked a
write."""

from __future__ import annotations

import logging
import time
from typing import Any

from dita._hazelcast_client import Future, Map
from dita.control.hazelcast.entries import CONTROL_PLANE_MAP, _control_map, _decode
from dita.control.hazelcast.entry_events import EntryEvents
from dita.control.hazelcast.kernel_updates import KernelUpdates
from dita.control.hazelcast.stamps import _superseded
from dita.control.hazelcast.writing import ControlPlaneUnavailable
from dita.projection.hazelcast.map_reads import add_entry_listener_decoded, entries_decoded

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


READ_LATE_S = 10.0
"""How long a request of the plane's worker (the read of every entry, the listener's
registration, a look-up) may go unanswered before it is logged: a member frozen, or with stuck
partition threads, answers none until the others declare it dead, a minute or more. The worker
applies what the events bring meanwhile, so a HALTED is not held up by it."""


class PlaneWorker(EntryEvents, KernelUpdates):
    """The worker thread's loop, its reads of every entry and its look-ups."""

    def _run(self) -> None:
        next_read = time.monotonic() + self.resync_interval
        while not self._closing:
            wait = 0.5
            if self._synced.is_set() and self._connected.is_set():
                # Only then is a periodic read made and next_read moved on: waiting for a
                # past next_read while the cluster is away would spin this thread at full CPU.
                wait = min(wait, max(next_read - time.monotonic(), 0.0))
            self._wake.wait(wait)
            self._wake.clear()
            if self._closing:
                break
            # The periodic read, once the first one after connecting has been made.
            periodic = (
                not self._resync_needed
                and self._synced.is_set()
                and self._connected.is_set()
                and time.monotonic() >= next_read
            )
            if (self._resync_needed or periodic) and self._connected.is_set():
                self._resync_needed = False
                next_read = time.monotonic() + self.resync_interval
                try:
                    self._sync_all(periodic=periodic)
                except Exception as exc:
                    if self._closing:
                        break
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    _log.warning("control plane resync failed (%s); retrying", self._last_error)
                    self._resync_needed = True
                    time.sleep(0.5)
                    self._wake.set()
            with self._lock:
                verify, self._verify = self._verify, set()
            if verify and self._connected.is_set():
                self._verify_blockers(verify)
            self._apply_pending()

    def _answer(self, future: Future[Any], what: str) -> Any:
        """The result of a request of the worker's, applying what events bring while it is out.

        The worker does not just wait on its reads: a member that answers none (frozen, or its
        partition threads stuck, while the others deliver events) would hold back a HALTED the
        events bring for a minute and more, until the cluster declares that member dead, with
        nothing said. Said once it has been out READ_LATE_S, and again when it is answered."""
        future.add_done_callback(lambda _: self._wake.set())
        sent = time.monotonic()
        late = waited = False
        while not future.done():
            waited = True
            if self._closing:
                raise ControlPlaneUnavailable("control plane closed while a request was out")
            self._wake.wait(0.5)
            self._wake.clear()
            self._apply_pending()
            if not late and not future.done() and time.monotonic() - sent >= READ_LATE_S:
                late = True
                _log.warning(
                    "control plane %s: %s not answered after %.0fs (a member takes requests and does "
                    "not answer them); changes the entry events bring are still applied, a change "
                    "whose event is lost waits for the answer",
                    self.cluster_members,
                    what,
                    time.monotonic() - sent,
                )
        if waited:
            self._wake.set()  # a wake-up the loop above took may have been meant for the worker's loop
        if late:
            _log.warning(
                "control plane %s: %s answered after %.0fs",
                self.cluster_members,
                what,
                time.monotonic() - sent,
            )
        return future.result()

    def _sync_all(self, periodic: bool = False) -> None:
        """Reads every entry and applies what changed: after each (re)connect, and every
        ``resync_interval`` seconds (``periodic``)."""
        with self._conn_lock:
            losses = self._losses  # a loss after this: the read may predate it
        cp_map: Map[str, Any] = self._answer(
            _control_map(self._client), f"the proxy of map {CONTROL_PLANE_MAP}"
        )
        if self._listener_id is None:
            # The client re-registers listeners on its own after a reconnect.
            # Its events' values decoded by us: one the client cannot decode, decoded by the client,
            # closed its connection (every kernel cut off, the plane "unreachable") until it reconnected.
            self._listener_id = self._answer(
                add_entry_listener_decoded(
                    cp_map,
                    added_func=self._on_entry,
                    updated_func=self._on_entry,
                    merged_func=self._on_entry,
                    removed_func=self._on_removed,
                    evicted_func=self._on_removed,
                    expired_func=self._on_removed,
                    clear_all_func=self._on_cleared,
                    evict_all_func=self._on_cleared,
                ),
                "the registration of the entry listener",
            )
        with self._lock:
            self._arrived = {}
            known = dict(self._entries)  # what kernels were given before this read
        try:
            # An entry this client cannot decode is skipped and logged as an error, as one that is
            # not a JSON object is: it sets nothing, so a kernel whose entry it is keeps its mode.
            every = entries_decoded(cp_map, _log.error)
            read = self._answer(every, f"the read of every entry of {CONTROL_PLANE_MAP}")
            entries = {str(k): _decode(str(k), v) for k, v in read}
            with self._lock:
                # An event that came while the read was out may be newer than the read: keep it.
                for key, arrived in self._arrived.items():
                    if arrived is None:
                        entries.pop(key, None)  # removed after the read
                    elif not _superseded(arrived, entries.get(key, {})):
                        entries[key] = arrived
                # Entries the read found changed that no event brought, during the read or before.
                missed = sorted(
                    k
                    for k in set(known) | set(entries)
                    if k not in self._arrived and known.get(k) != entries.get(k)
                )
                self._entries = entries
                for gone in [b for b in self._bad_stamps if b[0] not in entries]:
                    del self._bad_stamps[gone]
                for said in [u for u in self._unstamped if u[0] not in entries]:
                    del self._unstamped[said]
                for key, entry in entries.items():
                    self._note_bad_stamps_locked(key, entry)
                self._forget_removed_stamps_locked(known)  # entries removed while we were away
                kernels = list(self._kernels.items())
        finally:
            with self._lock:
                self._arrived = None
        self._apply_all(kernels)
        # attach() sets _lost too, under _lock, when a kernel starts with the cluster away.
        with self._lock, self._conn_lock:
            current = self._losses == losses and self._connected.is_set()
            if current:
                lost_since, self._disconnected_since = self._disconnected_since, None
                synced_at = self._last_sync_at = time.time()
                self._last_error = ""
                lost, self._lost = self._lost, False
                if lost:
                    # The loss was a warning ("unreachable"): so is its end, said before the plane
                    # reads as in sync, so that whoever waited for it (wait_synced) finds it said.
                    _log.warning(
                        "control plane %s reachable again after %.0fs: %d entries read, kernels %s in sync",
                        self.cluster_members,
                        synced_at - (lost_since or synced_at),
                        len(entries),
                        sorted(kid for kid, _ in kernels),
                    )
                self._synced.set()
        if not current:
            # The connection went after the read was sent: what it read was applied, but the
            # plane is not in sync (status() says so) until the read the next connection makes.
            _log.debug("control plane %s: connection lost during a resync", self.cluster_members)
            return
        if lost:
            return  # said above
        if periodic and missed:
            # Also an event still on its way when the read was made: it comes to nothing then.
            _log.info(
                "control plane %s: entries %s changed with no event received; applied from a periodic read",
                self.cluster_members,
                missed,
            )
        elif periodic:
            _log.debug("control plane %s in sync: %d entries", self.cluster_members, len(entries))
        else:
            _log.info("control plane %s in sync: %d entries", self.cluster_members, len(entries))

    def _verify_blockers(self, keys: set[str]) -> None:
        """Look up in the cluster the entries that blocked a write: one that is gone was removed
        before the write was made (its removal event is late), so the write is the latest word."""
        try:
            cp_map: Map[str, Any] = self._answer(
                _control_map(self._client), f"the proxy of map {CONTROL_PLANE_MAP}"
            )
        except Exception as exc:  # the removal events, when they come, do the same
            _log.debug("control plane could not look up entries %s: %s", sorted(keys), exc)
            return
        for key in keys:
            with self._lock:
                asked = self._entries.get(key)  # the entry the answer is about
            try:
                present = self._answer(cp_map.contains_key(key), f"the look-up of entry {key!r}")
            except Exception as exc:  # the removal event, when it comes, does the same
                _log.debug("control plane could not look up entry %s: %s", key, exc)
                continue
            with self._lock:
                if not present:
                    # Only the entry asked about: one written again since (its event came while
                    # the answer was on its way) is newer than the answer.
                    if asked is not None and self._entries.get(key) is asked:
                        self._removed_locked(key)
                    continue
                # Still there: the writes it blocks were made before it, and stay superseded
                # when it is removed later (a removal sets nothing).
                for blocked in [b for b in self._blocked if b[2] == key]:
                    del self._blocked[blocked]
