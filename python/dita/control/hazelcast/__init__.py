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

An entry listener applies changes as they happen (well under a second). When the cluster is
unreachable the kernel keeps its last known control state, logs that it does, and
``status()`` says so; on reconnect the entries are read again and anything missed is applied.

A write (``write_entry``, ``HazelcastControlPlane.set``, `dita control set`) ends within its
timeout (``WRITE_TIMEOUT_S``) whichever request the cluster leaves unanswered (a member frozen
answers none until the others declare it dead, a minute or more), raising
``ControlWriteUnconfirmed``, which says whether the write itself went out. A global write
(an emergency halt) whose read of every entry is left unanswered goes on at half its timeout
with the global entry alone, stamped a little ahead, and says which kernels it may not reach.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import Future, LifecycleState, Map, cluster_settings, connect_client
from dita._kernel import ControlMode, Verbosity
from dita._numbers import within
from dita._text import is_utf8, shortened
from dita.control import GLOBAL, check_kernel_id, normalize_change
from dita.control.hazelcast.entries import (
    CONTROL_FIELDS,
    CONTROL_PLANE_MAP,
    _control_map,
    _control_value,
    _decode,
    _validate_kernel_id,
)
from dita.control.hazelcast.kept_mode import _kept_mode, _KeptMode
from dita.control.hazelcast.stamps import (
    _field_stamp,
    _stamp_number,
    _stamps_held,
    _superseded,
    effective_control,
)
from dita.control.hazelcast.writing import (
    UNANSWERED_WHY,
    WRITE_TIMEOUT_S,
    ControlPlaneUnavailable,
    ControlWriteUnconfirmed,
    write_entry,
)
from dita.projection.hazelcast.kernel_borrow import kernel_reads
from dita.projection.hazelcast.map_reads import Undecodable, add_entry_listener_decoded, entries_decoded

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = [
    "CONTROL_FIELDS",
    "CONTROL_PLANE_MAP",
    "UNANSWERED_WHY",
    "WRITE_TIMEOUT_S",
    "ControlPlaneUnavailable",
    "ControlWriteUnconfirmed",
    "HazelcastControlPlane",
    "effective_control",
    "normalize_change",
    "write_entry",
]

_log = logging.getLogger(__name__)

READ_LATE_S = 10.0
"""How long a request of the plane's worker (the read of every entry, the listener's
registration, a look-up) may go unanswered before it is logged: a member frozen, or with stuck
partition threads, answers none until the others declare it dead, a minute or more. The worker
applies what the events bring meanwhile, so a HALTED is not held up by it."""


class HazelcastControlPlane:
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
        self._entries: dict[str, dict[str, Any]] = {}  # last known entries by key
        self._applied_at: dict[str, dict[str, float]] = {}  # kernel id -> field -> set_at applied
        self._kept: dict[str, _KeptMode] = {}  # kernel id -> the tight mode it recovered, set by itself
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
        self._client = connect_client(
            self.cluster_members, self.cluster_name, lifecycle_listener=self._on_lifecycle
        )
        self._worker = threading.Thread(target=self._run, name="dita-hazelcast-control", daemon=True)
        self._worker.start()

    # --- connection ------------------------------------------------------------------------

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

    def _apply_pending(self) -> None:
        """Apply the changes of the kernels whose entries changed (or that were busy)."""
        with self._lock:
            pending, self._pending = self._pending, set()
            kernels = [(kid, self._kernels[kid]) for kid in pending if kid in self._kernels]
        for kid, kernel in kernels:
            self._apply(kid, kernel)
        if self._pending:
            time.sleep(0.002)  # a kernel was mid-call in another thread: try again shortly
            self._wake.set()

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
                for key, entry in entries.items():
                    self._note_bad_stamps_locked(key, entry)
                self._forget_removed_stamps_locked(known)  # entries removed while we were away
                kernels = list(self._kernels.items())
        finally:
            with self._lock:
                self._arrived = None
        for kid, kernel in kernels:
            self._apply(kid, kernel)
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

    def _on_entry(self, event: Any) -> None:
        # Runs on the client's reactor thread: it never touches a kernel (a kernel busy in
        # another thread would raise here and take the connection down); the worker applies.
        if isinstance(event.key, Undecodable):
            _log.warning(
                "control plane: skipped an event of %s, its key not one this client decodes",
                CONTROL_PLANE_MAP,
            )
            return
        key = str(event.key)
        if isinstance(event.value, Undecodable):
            # As a read of every entry counts it: not there (kernels keep what they run).
            _log.warning(
                "control entry %r: event skipped, its value is %s: the entry counts as removed",
                key,
                event.value.why(),
            )
            self._on_removed(event)
            return
        entry = _decode(key, event.value)  # never raises: that would close the client's connection
        with self._lock:
            if self._arrived is not None:
                # Judged against the read when it is stored, not against what we knew before
                # it: after a member restart that may be an entry the cluster no longer holds.
                self._arrived[key] = entry
            known = self._entries.get(key, {})
            # A late event must not replace a newer entry already read by a resync.
            if _superseded(entry, known):
                return
            self._entries[key] = entry
            self._note_bad_stamps_locked(key, entry)
            self._record_blocked_locked(key, entry)
            if key == GLOBAL:
                self._pending.update(self._kernels)
            elif key in self._kernels:
                self._pending.add(key)
        self._wake.set()

    def _on_removed(self, event: Any) -> None:
        # An entry removed (or evicted) no longer counts. Kernels keep what they run: a removal
        # sets nothing, but a kernel attached later, or a later change, no longer sees it.
        if isinstance(event.key, Undecodable):
            return  # no entry of ours: its key is not one this client wrote
        key = str(event.key)
        with self._lock:
            self._removed_locked(key)
            if self._arrived is not None:
                self._arrived[key] = None
        self._wake.set()

    def _note_bad_stamps_locked(self, key: str, entry: Mapping[str, Any]) -> None:
        """Log each field of ``entry`` whose value no kernel takes (typed by hand), and each
        whose stamp is there but not a finite number (``1e999`` reads as infinity), once per
        entry and field while it stays so."""
        for field in CONTROL_FIELDS:
            try:
                if field in entry:
                    _control_value(field, entry[field])
                self._bad_stamps.pop((key, field), None)
            except ValueError as exc:
                shown = shortened(repr(entry[field]))
                if self._bad_stamps.get((key, field)) != shown:
                    self._bad_stamps[(key, field)] = shown
                    _log.error(
                        "control entry %s: %s %s ignored: %s (the newest valid %s of the entries counts)",
                        key,
                        field,
                        shown,
                        exc,
                        field,
                    )
            name = f"{field}_at"
            bad = field in entry and name in entry and _stamp_number(entry[name]) is None
            if not bad:
                self._bad_stamps.pop((key, name), None)
                continue
            shown = shortened(repr(entry[name]))
            if self._bad_stamps.get((key, name)) == shown:
                continue
            self._bad_stamps[(key, name)] = shown
            at = entry[name]
            number = isinstance(at, int | float) and not isinstance(at, bool) and math.isfinite(at)
            _log.warning(
                "control entry %s: %s %s is not %s: its %s %s counts as never set "
                "(never newer than a stamped value)",
                key,
                name,
                shown,
                "a time after 1970" if number else "a finite number",
                field,
                shortened(repr(entry[field])),
            )

    def _removed_locked(self, key: str) -> None:
        self._entries.pop(key, None)
        for gone in [b for b in self._bad_stamps if b[0] == key]:
            del self._bad_stamps[gone]
        self._forget_removed_stamps_locked()
        # Writes that arrived before this removal without competing with it were made after it.
        self._unblock_locked(key)

    def _record_blocked_locked(self, key: str, entry: Mapping[str, Any]) -> None:
        """Note the fields of ``entry`` stamped below an entry they compete with (see _blocked),
        and have the worker look that entry up in the cluster."""
        others = [k for k in self._entries if k != key] if key == GLOBAL else [GLOBAL]
        for field in CONTROL_FIELDS:
            for stale in [b for b in self._blocked if b[:2] == (key, field)]:
                del self._blocked[stale]
            at = _field_stamp(entry, field)
            if at is None:
                continue  # no stamp: never newer than anything (see effective_control)
            stamps = [(_field_stamp(self._entries[k], field), k) for k in others if k in self._entries]
            for s, by in stamps:
                if s is not None and s > at:
                    self._blocked[(key, field, by)] = at
                    self._verify.add(by)

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

    def _unblock_locked(self, removed: str) -> None:
        """Apply the writes ``removed`` blocked: their kernels take them as new."""
        for (key, field, by), at in list(self._blocked.items()):
            if by != removed:
                continue
            del self._blocked[(key, field, by)]
            entry = self._entries.get(key)
            if entry is None or _field_stamp(entry, field) != at:
                continue  # replaced since (or removed): the newer state is already in place
            kid = removed if key == GLOBAL else key  # a global write was blocked for that kernel only
            applied = self._applied_at.get(kid)
            if applied is None:
                continue
            applied[field] = min(applied.get(field, -1.0), math.nextafter(at, -math.inf))
            self._pending.add(kid)

    def _on_cleared(self, event: Any) -> None:
        with self._lock:
            self._entries = {}
            self._blocked.clear()
            self._bad_stamps.clear()
            self._forget_removed_stamps_locked()
            if self._arrived is not None:
                # A resync's read is out and may predate the clear: read once more after it.
                self._resync_needed = True
        self._wake.set()

    def _forget_removed_stamps_locked(self, known: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Lower each kernel's last applied stamps to the newest its entries still hold.

        A writer stamps past the entries in the map only (``_stamp_after``): once the entry a
        kernel's value came from is removed, a later write from a clock behind that entry's
        stamp is stamped below what the kernel last applied, and would be ignored (a global
        HALTED unheeded). Lowered to what the remaining entries hold, nothing is re-applied
        (a removal sets nothing) and every later write is taken.

        ``known``: the entries before a resync's read. A value the read holds that they did
        not was written while we were away, after the entry it replaces was removed (a member
        restart, too): lowered just below it, so the kernel takes it."""
        for kid, applied in self._applied_at.items():
            held = effective_control([self._entries[k] for k in (GLOBAL, kid) if k in self._entries])
            seen = {} if known is None else _stamps_held([known[k] for k in (GLOBAL, kid) if k in known])
            for field, at in applied.items():
                newest = held[field][1] if field in held else -1.0
                if at <= newest:
                    continue
                new = known is not None and newest > 0 and newest not in seen.get(field, ())
                applied[field] = math.nextafter(newest, -math.inf) if new else newest

    def _apply(self, kid: str, kernel: ExecutionKernel) -> None:
        """Apply to ``kernel`` every field set more recently than what it last got from us."""
        with self._lock:
            if self._kernels.get(kid) is not kernel:
                # Detached since the worker took it: left alone (checked under the lock detach
                # takes, so no kernel changes once its detach returns). Changed, the change
                # counted as applied under its id, and a kernel attached next under it never
                # took the change.
                return
            entries = [self._entries[k] for k in (GLOBAL, kid) if k in self._entries]
            applied = self._applied_at.setdefault(kid, {})
            kept = self._kept.get(kid)
            change: dict[str, Any] = {}
            stamps: dict[str, float] = {}
            for field, (value, at) in effective_control(entries).items():
                if at <= applied.get(field, -1.0):
                    continue
                if field == "mode" and kept is not None and kept.loosened_by(value, at):
                    applied[field] = at  # said once, not on every event
                    _log.warning(kept.said(kid, value, at))
                    continue
                try:
                    change.update(normalize_change(**{field: value}))
                except (ValueError, TypeError) as exc:
                    applied[field] = at  # reported once, not on every event
                    _log.error("control entry for %s ignored: %s", kid, exc)
                    continue
                stamps[field] = at
            if not change:
                return
            try:
                with kernel_reads():
                    current = kernel.control()
                    # Only real changes reach the kernel: each one is a journaled control change.
                    differing = {f: v for f, v in change.items() if _current_value(current, f) != v}
                    if differing:
                        keys = sorted(k for k in (GLOBAL, kid) if k in self._entries)
                        kernel.update_control(**differing, source="hazelcast:" + ",".join(keys))
            except RuntimeError:
                # The kernel stayed busy in a call on another thread past its wait (10 s) or is
                # being closed: not applied yet, so the worker retries it in a moment instead of
                # dropping a HALTED.
                self._pending.add(kid)
                self._wake.set()
                return
            except Exception as exc:
                applied.update(stamps)
                _log.error("control change %s refused by kernel %s: %s", change, kid, exc)
                return
            applied.update(stamps)
        if differing:
            _log.info("kernel %s control updated from the cluster: %s", kid, differing)

    # --- the ControlPlane protocol ---------------------------------------------------------

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
            if kept is not None:
                self._kept[kid] = kept
        if self._synced.wait(self.attach_timeout):
            self._apply(kid, kernel)
            return
        with self._lock:
            # Under the lock with the resync's look at _lost: either the resync is done (nothing
            # to warn of; its read may predate this kernel, so apply it here too), or it finds
            # _lost set and logs the recovery as a warning too, after this one.
            if self._synced.is_set():
                self._apply(kid, kernel)
                return
            with self._conn_lock:
                self._lost = True
            _log.warning(
                "control plane %s unreachable: kernel %s starts on its local control state %s",
                self.cluster_members,
                kid,
                kernel.control().get("mode"),
            )

    def detach(self, kernel: ExecutionKernel) -> None:
        self._detach(kernel)

    def _detach(self, kernel: ExecutionKernel) -> bool:
        """Removes ``kernel``; True if it was attached and no kernel is left (decided with the
        removal, so two kernels released at once cannot both see the other and leave the plane
        open)."""
        with self._lock:
            # By identity, as the in-memory plane: a kernel detached before and closed now must
            # not take along the kernel attached under its id since.
            if self._kernels.get(kernel.kernel_id) is not kernel:
                return False  # detached before: the plane is the caller's now, left open
            del self._kernels[kernel.kernel_id]
            self._applied_at.pop(kernel.kernel_id, None)
            self._kept.pop(kernel.kernel_id, None)
            return not self._kernels

    def release(self, kernel: ExecutionKernel) -> None:
        """What ``ExecutionKernel.close()`` calls: stop serving ``kernel`` and, when it was the
        last one attached, close. Kernels sharing this plane keep it until the last closes."""
        with self._lock:
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
        self._client.shutdown()

    def set(
        self,
        kernel_id: str | None = None,
        *,
        mode: ControlMode | str | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Write a change for ``kernel_id`` (None: every kernel); raises when the cluster is away
        (a new plane first waits up to ``attach_timeout`` for its connection), ControlWriteUnconfirmed
        when it leaves the write unanswered for ``write_timeout`` seconds (a global write made
        without reading every entry, ``write_entry`` says, is logged as a warning), ValueError for a bad
        value or when an entry holds a stamp no write can be stamped after, and RuntimeError once
        the plane is closed."""
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
                self._client, kernel_id, change, updated_by=self.updated_by, timeout=self.write_timeout
            )
        except (ControlPlaneUnavailable, ValueError):
            # ValueError: an entry holds a stamp no write can follow, and says which;
            # ControlWriteUnconfirmed: not answered within write_timeout, saying if it went out.
            raise
        except Exception as exc:
            raise ControlPlaneUnavailable(f"could not write control entry {key!r}: {exc}") from exc

    def entries(self) -> dict[str, dict[str, Any]]:
        """The entries as last seen (a local copy; may be stale while disconnected, see status())."""
        with self._lock:
            return {k: dict(v) for k, v in self._entries.items()}

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def status(self) -> dict[str, Any]:
        with self._lock:
            kernels = {kid: k.control() for kid, k in self._kernels.items()}
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


def _current_value(control: Mapping[str, Any], field: str) -> Any:
    value = control.get(field)
    return getattr(value, "name", value)
