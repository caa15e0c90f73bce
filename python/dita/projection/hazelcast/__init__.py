"""Hazelcast projection: every kernel's slots, account and control state in cluster maps.

Maps (values are HazelcastJsonValue holding the dicts of ``snapshot()`` plus ``kernel_id``
and ``projected_at``, the publisher's wall-clock time of the write):

- ``dita_slots``    key ``<kernel_id>:<slot_id>``
- ``dita_accounts`` key ``<kernel_id>``; ``closed_at`` is null while the kernel runs and the
  time of its clean close afterwards (readers take it for stopped at once);
  ``input_refused_reason`` is null while the kernel takes input and says why once it takes none
  (its write-ahead log failed, say), so readers do not take it for trading
- ``dita_control``  key ``<kernel_id>``: the control state the kernel is running with

SQL mappings of the same names expose the scalar fields as columns (``json-flat``); the
``*_json`` mappings (``dita_slots_json`` ...) expose the whole value as ``this`` (JSON) for
nested fields such as ``active_entry_order``.

The hot path never waits for Hazelcast: the kernel only marks keys dirty, and one publisher
thread drains them (``publish_dirty``) and writes the latest value per key, so a burst of
updates to one slot between two cycles costs one write. When the cluster is away the
publisher stops draining (the kernel's dirty set is bounded by ``max_slots``), and when a
connection is back it republishes everything, because a restarted cluster may have lost
the maps; so it does when a member leaves while the others keep the client (two members lost
at once take the partitions whose two copies they held). Each kernel is also republished in
full every ``full_resync_interval`` seconds (300), one kernel a cycle: an entry another writer
left in the maps is put right then, not only when that slot changes.

A kernel id may come back with fewer slots (a restart with a smaller ``max_slots``): on
attach, and again on each connect, the entries of that kernel id numbered at or above its
``max_slots`` are removed on the members (``remove_all`` with a predicate on the
``kernel_id`` and ``slot_id`` fields), else their last state would stay in the map for good.
A removal the members refuse (an entry of that id whose slot_id is not a number) is said and
tried again later; the writes beside it go on.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import (
    DEFAULT_CLUSTER_MEMBERS,
    DEFAULT_CLUSTER_NAME,
    MEMBER_LIST_WAIT_S,
    REACTOR_POLL_S,
    SHUTDOWN_WAIT_S,
    BlockingMap,
    Future,
    HazelcastClient,
    HazelcastError,
    HazelcastJsonValue,
    HazelcastSerializationError,
    IllegalStateError,
    LifecycleState,
    Map,
    cluster_settings,
    combine_futures,
    connect_client,
    default_cluster_name,
    shutdown_client,
)
from dita._numbers import within
from dita._text import shortened
from dita.control import check_kernel_id
from dita.projection import publish_dirty
from dita.projection.hazelcast.answers import Unanswered, answered_by
from dita.projection.hazelcast.kernel_borrow import kernel_reads
from dita.projection.hazelcast.liveness import (
    CLOCKS_AGREE_WITHIN_S,
    LIVE_WITHIN_S,
    clock_note,
    closed_at,
    input_refused,
    live_kernels,
    projection_age,
)
from dita.projection.hazelcast.map_reads import (
    Undecodable,
    add_entry_listener_decoded,
    entries_decoded,
    get_decoded,
    json_object,
    read_map,
    read_maps,
    shown_value,
)
from dita.projection.hazelcast.maps import (
    ACCOUNTS_MAP,
    CONTROL_MAP,
    SLOTS_MAP,
    slots_beyond,
    strip_projection_fields,
    to_json_value,
)
from dita.projection.hazelcast.sql_mappings import create_mappings, mapping_ddl

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = [
    "ACCOUNTS_MAP",
    "CLOCKS_AGREE_WITHIN_S",
    "CONTROL_MAP",
    "DEFAULT_CLUSTER_MEMBERS",
    "DEFAULT_CLUSTER_NAME",
    "LIVE_WITHIN_S",
    "MEMBER_LIST_WAIT_S",
    "REACTOR_POLL_S",
    "SHUTDOWN_WAIT_S",
    "SLOTS_MAP",
    "BlockingMap",
    "Future",
    "HazelcastClient",
    "HazelcastError",
    "HazelcastJsonValue",
    "HazelcastProjection",
    "HazelcastSerializationError",
    "IllegalStateError",
    "LifecycleState",
    "Map",
    "Unanswered",
    "Undecodable",
    "add_entry_listener_decoded",
    "answered_by",
    "clock_note",
    "closed_at",
    "cluster_settings",
    "connect_client",
    "create_mappings",
    "default_cluster_name",
    "entries_decoded",
    "get_decoded",
    "input_refused",
    "json_object",
    "kernel_reads",
    "live_kernels",
    "mapping_ddl",
    "projection_age",
    "read_map",
    "read_maps",
    "shown_value",
    "shutdown_client",
    "slots_beyond",
    "strip_projection_fields",
    "to_json_value",
]

_log = logging.getLogger(__name__)


FIRST_CONNECT_WAIT_S = 5.0
"""How long a projection's first connection may take before it is said to be missing; a kernel
closed sooner waits that long for it (the client connects in the background, in tens of
milliseconds to a live member), else a short run left no trace in the maps."""


@dataclass(frozen=True)
class _Written:
    """What one cycle sent for one kernel, booked when the cluster confirms it."""

    kernel_id: str
    drained_at: float
    updates: int
    writes: int
    full: bool
    account: bool
    drained: bool = True  # False for a heartbeat between cycles: only the account, if due
    closed_at: float | None = None  # the account written says the kernel closed then
    again: bool = False  # a closed kernel published again (see HazelcastProjection._closed_again)


class _Skipped:
    """What ``_publish_kernel`` gives for a kernel the cycle took and then left alone: detached, or
    replaced under its id, since. Nothing was sent, so there is nothing to book (no staleness
    sample, no write) and nothing failed."""


_SKIPPED = _Skipped()


@dataclass(eq=False)
class _Batch:
    """The writes of one cycle (or one heartbeat), out until the cluster confirms them all."""

    written: list[_Written]
    ok: bool  # every kernel was drained
    heartbeat: bool
    sent_at: float  # monotonic
    # A later batch went out while this one was late: its writes may land after that one's,
    # older values over newer ones, so its kernels are published again in full when it completes.
    overtaken: bool = False
    # Kernels of this batch whose closing record (``closed_at``) went out after it, with the
    # kernel and that time: closed, they are no longer published, so they are published again
    # in full, closed_at set, when this batch completes (its older account would take it back).
    closed_since: dict[str, tuple[ExecutionKernel, float]] = field(default_factory=dict)


FULL_RESYNC_S = 300.0
"""How often each kernel is published in full by default (``full_resync_interval``): the
projection writes only what changed, so an entry another writer left in the maps would stay
wrong until that slot changed."""


PRUNE_RETRY_S = 30.0
"""How long after a removal of slots beyond max_slots the members refused it is tried again."""


LATE_WRITES_MAX_S = 10.0
"""The most a cycle's writes may stay unconfirmed before the next cycle goes ahead anyway
(less when twice ``invocation_timeout`` is less): the client bounds a request only when an error
comes back, and a member that takes requests and answers none (stuck partition threads, its
heartbeats still answered) would hold the cycle, and every later one, for good. Well under
LIVE_WITHIN_S, so the accounts are rewritten before readers take a live kernel for gone."""


class HazelcastProjection:
    """Projects attached kernels into Hazelcast maps from one background publisher thread.

    ``interval`` is the publishing period in seconds: the staleness of a healthy projection
    is at most about one interval plus the write time. ``max_duty`` caps the share of CPU
    time the publisher thread takes (it waits ``busy * (1 - max_duty) / max_duty`` after a
    cycle that kept it busy), so heavy churn raises staleness instead of slowing the
    strategy. ``stats()`` reports staleness.

    ``full_resync_interval``: every that many seconds each kernel is published in full (every
    slot, its account and control), not only what changed: an entry another writer put in the
    maps (a slot written by hand) stays wrong for at most that long, not until that slot
    changes. One kernel a cycle at most, the one due longest, so many kernels due together are
    spread over cycles. None turns it off.
    """

    def __init__(
        self,
        cluster_members: str | Sequence[str] | None = None,
        cluster_name: str | None = None,
        *,
        interval: float = 0.1,
        heartbeat: float = 5.0,
        max_duty: float = 0.1,
        invocation_timeout: float = 5.0,
        full_resync_interval: float | None = FULL_RESYNC_S,
    ) -> None:
        if not within(interval, 0.001, 60):
            raise ValueError(f"interval must be between 0.001 and 60 seconds, got {interval!r}")
        if full_resync_interval is not None and not within(full_resync_interval, 0.1, 86_400):
            raise ValueError(
                "full_resync_interval must be between 0.1 and 86400 seconds, or None to turn the "
                f"periodic full rewrite off, got {full_resync_interval!r}"
            )
        # None: $DITA_HAZELCAST_MEMBERS / $DITA_HAZELCAST_CLUSTER, else the local dev member.
        self.cluster_members, self.cluster_name = cluster_settings(cluster_members, cluster_name)
        # Readers (`dita status`, `dita control set --wait`) take a kernel whose account is older
        # than LIVE_WITHIN_S for gone: a slower heartbeat would show idle live kernels as stopped.
        most = LIVE_WITHIN_S / 2
        if isinstance(heartbeat, bool) or not isinstance(heartbeat, int | float) or not 0 < heartbeat <= most:
            raise ValueError(
                f"heartbeat must be a positive number of seconds, at most {most:g} s (a kernel whose "
                f"account is older than {LIVE_WITHIN_S:g} s is taken for gone), got {heartbeat!r}"
            )
        if isinstance(max_duty, bool) or not isinstance(max_duty, int | float) or not 0 < max_duty <= 1:
            raise ValueError(f"max_duty must be a fraction in (0, 1], got {max_duty!r}")
        # NaN or inf would let a call to a member that stopped answering wait for ever.
        if isinstance(invocation_timeout, bool) or not isinstance(invocation_timeout, int | float):
            raise ValueError(f"invocation_timeout must be a number of seconds, got {invocation_timeout!r}")
        if not 0 < invocation_timeout < math.inf:
            raise ValueError(
                f"invocation_timeout must be a positive finite number of seconds, got {invocation_timeout!r}"
            )
        self.interval = float(interval)
        self.max_duty = float(max_duty)
        self.heartbeat = float(heartbeat)
        self.full_resync_interval = None if full_resync_interval is None else float(full_resync_interval)
        # Monotonic time of each attached kernel's last full publish (sent), for the periodic one.
        self._full_at: dict[str, float] = {}
        self._account_written: dict[str, float] = {}  # monotonic time of each kernel's last account write
        # The input_refused_reason each kernel's last account write sent: a change is written at once.
        self._refused_sent: dict[str, str | None] = {}
        # Kernels closing cleanly, with the wall-clock time of their close: their last account
        # write carries it as closed_at, so readers take them for stopped at once.
        self._closing: dict[str, float] = {}
        # Kernels closed (detached) whose writes of before their close landed after their closing
        # record, with their close time: published again in full, closed_at set, until confirmed.
        self._closed_again: dict[str, tuple[ExecutionKernel, float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cycle_done = threading.Condition(self._lock)
        self._kernels: dict[str, ExecutionKernel] = {}
        self._resync: set[str] = set()
        # Kernels whose entries beyond max_slots (left by an earlier run with more slots) are
        # still to be removed; kept until a cycle that removed them has been confirmed.
        self._prune: set[str] = set()
        self._prune_retry_at: dict[str, float] = {}  # monotonic; after a removal that failed
        self._prune_error = ""  # the last removal's failure, "" once one succeeds
        self._prune_said = False  # a refused removal was warned of, until one succeeds
        self._mappings_made = False
        self._mappings_retry_at = 0.0
        self._mapping_error = ""
        self._connected = False
        self._lost_at: float | None = None  # when a connection was lost, until the next one
        self._ever_connected = False
        self._started = time.monotonic()
        self._started_wall = time.time()
        self._cycles = 0
        self._ok_cycles = 0
        self._updates = 0
        self._writes = 0
        self._resyncs = 0
        self._errors = 0
        self._busy = 0
        self._inflight: _Batch | None = None  # the last batch of writes, until confirmed
        # A batch past its deadline, still out; at most one, so a member that answers nothing
        # does not gather requests without end (a second late batch holds the cycles again).
        self._late: _Batch | None = None
        self._late_after = min(2.0 * invocation_timeout, LATE_WRITES_MAX_S)
        self._late_writes = 0
        self._late_since: float | None = None  # sent_at of the first late batch, until one is on time
        self._cpu = 0.0  # CPU seconds the publisher thread has used
        self._last_error = ""
        self._last_ok_drain: dict[str, float] = {}  # monotonic start of the last published drain
        self._staleness: deque[float] = deque(maxlen=8192)
        self._next_cycle_at = time.monotonic()  # when the publisher's pause ends (monotonic)
        self._client = connect_client(
            self.cluster_members,
            self.cluster_name,
            lifecycle_listener=self._on_lifecycle,
            invocation_timeout=invocation_timeout,
        )
        # A member that leaves may take the only copy of some partitions (two members lost at
        # once, with one backup), the client staying connected to the others: no reconnect, so
        # without this no resync, and their slots missing until each one changed.
        self._client.cluster_service.add_listener(member_removed=self._on_member_removed)
        # Map proxies are created on the cluster, so only once connected (by the publisher).
        self._maps: tuple[Map[str, HazelcastJsonValue], ...] | None = None
        self._thread = threading.Thread(target=self._run, name="dita-hazelcast-projection", daemon=True)
        self._thread.start()

    # --- lifecycle -------------------------------------------------------------------------

    def _on_lifecycle(self, state: str) -> None:
        # Runs on the client's reactor thread: only flip flags, the publisher does the work.
        if state == LifecycleState.CONNECTED:
            with self._lock:
                first = not self._ever_connected
                self._ever_connected = True
                self._connected = True
                self._resync.update(self._kernels)
                # The removal may never have reached this cluster (a merge after a split brain
                # brings back entries the other side removed).
                self._prune.update(self._kernels)
                self._prune_retry_at.clear()
                self._mappings_made = False  # a restarted cluster has lost its SQL catalog
                self._mappings_retry_at = 0.0
                lost_at, self._lost_at = self._lost_at, None
            if lost_at is None:
                _log.info("hazelcast projection connected to %s; resyncing", self.cluster_members)
            elif first:  # after "cannot reach": a warning too, as below
                _log.warning(
                    "hazelcast projection reached %s after %.0fs; publishing every key",
                    ", ".join(self.cluster_members),
                    time.time() - lost_at,
                )
            else:
                # The loss was a warning: so is its end, or the last words an operator reads
                # say the cluster is still lost.
                _log.warning(
                    "hazelcast projection reconnected to %s after %.0fs; resyncing every key",
                    self.cluster_members,
                    time.time() - lost_at,
                )
            self._wake.set()
        elif state == LifecycleState.DISCONNECTED:
            with self._lock:
                self._connected = False
            if self._stop.is_set():
                return  # our own shutdown
            with self._lock:
                self._lost_at = self._lost_at or time.time()
            _log.warning(
                "hazelcast projection lost %s; kernels keep trading, maps resync on reconnect",
                self.cluster_members,
            )

    def _on_member_removed(self, member: Any) -> None:
        # Runs on the client's reactor thread: only flag the kernels, the publisher writes.
        with self._lock:
            if self._stop.is_set() or not self._connected or not self._kernels:
                return  # a lost connection resyncs on its own when it is back
            self._resync.update(self._kernels)
        _log.info(
            "hazelcast projection: member %s left cluster %r; publishing every key again (it may "
            "have held the only copy of some)",
            getattr(member, "address", member),
            self.cluster_name,
        )
        self._wake.set()

    @property
    def connected(self) -> bool:
        return self._connected

    def _connected_for_close(self) -> bool:
        """Whether the cluster is connected, waiting for the first connection while it may still
        be under way (up to FIRST_CONNECT_WAIT_S after the start): a kernel closed just after
        it started would otherwise leave nothing in the maps."""
        deadline = self._started + FIRST_CONNECT_WAIT_S
        while not self._ever_connected and not self._stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._connected

    def _say_unreached(self) -> None:
        """Warn once when the first connection has not come within FIRST_CONNECT_WAIT_S: the
        client retries in silence, and operators would see nothing of the kernels."""
        with self._lock:
            if self._ever_connected or self._lost_at is not None or self._stop.is_set():
                return
            if time.monotonic() < self._started + FIRST_CONNECT_WAIT_S:
                return
            self._lost_at = self._started_wall  # so the first connection is said as a warning too
        _log.warning(
            "hazelcast projection cannot reach cluster %r at %s; kernels keep trading, every key is "
            "published once it is reached",
            self.cluster_name,
            ", ".join(self.cluster_members),
        )

    def attach(self, kernel: ExecutionKernel) -> None:
        kid = kernel.kernel_id
        check_kernel_id(kid)  # `*`: the control entries' key of every kernel, in dita_control too
        if self._stop.is_set():
            raise RuntimeError("HazelcastProjection is closed: make a new one to attach kernels")
        with self._lock:
            if kid in self._kernels:
                raise ValueError(f"kernel_id {kid!r} is already attached to this projection")
        # Tracking starts before the first (full) publish, so no change can fall in between.
        kernel.set_projection_enabled(True)
        with self._lock:
            closed = self._stop.is_set()  # closed meanwhile: it would never be served
            if not closed:
                self._kernels[kid] = kernel
                self._closed_again.pop(kid, None)  # the new kernel's full publish replaces it
                self._resync.add(kid)
                self._prune.add(kid)
                self._last_ok_drain.setdefault(kid, time.monotonic())
        if closed:
            kernel.set_projection_enabled(False)
            raise RuntimeError("HazelcastProjection is closed: make a new one to attach kernels")
        self._wake.set()

    def detach(self, kernel: ExecutionKernel) -> None:
        """Publish ``kernel``'s last changes (briefly, as a close does, without ``closed_at``) and
        stop projecting it; the other kernels stay. Never drained again, it would otherwise
        leave the maps with the state of the last cycle before."""
        # Not from inside a cycle (a kernel's call the publisher made): no cycle can run then.
        if self._thread is not threading.current_thread():
            self._publish_last(kernel, closing=False)
        self._detach(kernel)

    def _publish_last(self, kernel: ExecutionKernel, *, closing: bool) -> bool:
        """Publish ``kernel``'s last changes before it leaves, briefly, as a close does
        (``_flush_for_close``); ``closing``, with its account's ``closed_at`` set. False when
        the cluster is not reached (said) or did not confirm them; True when they were, or the
        kernel is not attached."""
        kid = kernel.kernel_id
        with self._lock:
            attached = self._kernels.get(kid) is kernel
        if not attached:
            return True
        if not self._connected_for_close():
            gone = f" (readers take it for gone {LIVE_WITHIN_S:g}s after its last projection)"
            _log.warning(
                "hazelcast projection: kernel %s %s while cluster %r is not reached: its last changes "
                "are not published%s",
                kid,
                "closed" if closing else "detached",
                self.cluster_name,
                gone if closing else "",
            )
            return False
        if not closing:
            return self._flush_for_close(detached=kid)
        with self._lock:
            if self._kernels.get(kid) is kernel:
                self._closing[kid] = time.time()
        return self._flush_for_close()

    def _detach(self, kernel: ExecutionKernel) -> bool:
        """Removes ``kernel``; True if it was attached and no kernel is left (decided with the
        removal, so two kernels released at once cannot both see the other and leave the
        projection open)."""
        kid = kernel.kernel_id
        with self._lock:
            # By identity, as the control plane: a kernel detached before and closed now must
            # not take along the kernel attached under its id since.
            # And one detached before is not served: its close leaves the projection, the
            # caller's now (moved to another kernel, say), open.
            if self._kernels.get(kid) is not kernel:
                return False
            del self._kernels[kid]
            self._resync.discard(kid)
            self._prune.discard(kid)
            self._prune_retry_at.pop(kid, None)
            self._last_ok_drain.pop(kid, None)
            self._full_at.pop(kid, None)
            self._closing.pop(kid, None)
            self._refused_sent.pop(kid, None)
            empty = not self._kernels
        kernel.set_projection_enabled(False)
        return empty

    def release(self, kernel: ExecutionKernel) -> None:
        """What ``ExecutionKernel.close()`` calls: publish ``kernel``'s last changes with its
        account's ``closed_at`` set (readers take it for stopped, not for running until its
        heartbeat is stale), stop serving it and, when it was the last one attached, close.
        Kernels sharing this projection keep it until the last closes."""
        flushed = self._publish_last(kernel, closing=True)
        if self._detach(kernel):
            self._close(flush=flushed)

    def _flush_for_close(self, detached: str | None = None) -> bool:
        """``sync`` for a close: 5 s, and on while cycles keep completing (a kernel of tens of
        thousands of slots takes longer than that to write, and its closing account comes
        last), up to 60 s; a cluster that answers nothing (a frozen member) gets the 5 s only.
        ``detached``: the id of a kernel detached, not closed (for the warning)."""
        deadline = time.monotonic() + 60.0
        while True:
            with self._lock:
                # Confirmed writes only: cycles are also counted while disconnected, after a
                # failed write, and when there was nothing to write.
                before = (self._ok_cycles, self._writes)
            if self.sync(timeout=5.0):
                return True
            with self._lock:
                progressed = (self._ok_cycles, self._writes) != before and self._connected
            if not progressed or time.monotonic() >= deadline:
                if detached is not None:
                    _log.warning(
                        "hazelcast projection: kernel %s detached before its last changes were "
                        "published (%s)",
                        detached,
                        self._last_error or "the cluster did not confirm the writes in time",
                    )
                    return False
                _log.warning(
                    "hazelcast projection: kernels closed before their last changes were published "
                    "(%s): their accounts may not say they closed; readers take them for gone %gs "
                    "after their last projection",
                    self._last_error or "the cluster did not confirm the writes in time",
                    LIVE_WITHIN_S,
                )
                return False

    # --- publishing ------------------------------------------------------------------------

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.is_set():
            self._rest(pause)
            if self._stop.is_set():
                break
            cpu = time.thread_time()
            try:
                self._cycle()
            except Exception as exc:  # the publisher must outlive anything a cycle throws
                self._record_error(exc)
            # The publisher shares the interpreter with the strategy: cap its share so a burst
            # of dirty slots costs staleness (reported) rather than strategy throughput.
            busy = time.thread_time() - cpu
            self._cpu += busy
            pause = max(self.interval, busy * (1.0 - self.max_duty) / self.max_duty)

    def _rest(self, pause: float) -> None:
        """Wait ``pause`` seconds, or until woken (``sync``). A pause the duty cap made longer
        than half a heartbeat (a cycle that wrote tens of thousands of slots) is broken up by
        heartbeats of the accounts alone: one write a kernel, so readers do not take a live
        kernel for gone (its account older than LIVE_WITHIN_S) while its slots wait."""
        self._next_cycle_at = time.monotonic() + pause
        step = self.heartbeat / 2
        while True:
            remaining = self._next_cycle_at - time.monotonic()
            if self._wake.wait(max(0.0, min(remaining, step))):
                break
            if remaining <= step or self._stop.is_set():
                break
            cpu = time.thread_time()
            try:
                self._cycle(accounts_only=True)
            except Exception as exc:
                self._record_error(exc)
            self._cpu += time.thread_time() - cpu
        self._wake.clear()

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors += 1
            first = not self._last_error
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._resync.update(self._kernels)
        if self._stop.is_set():
            return  # writes cut short by our own shutdown
        log = _log.warning if first else _log.debug
        log("hazelcast projection write failed (%s); will resync", self._last_error)

    def _cycle(self, accounts_only: bool = False) -> None:
        self._leave_late_writes()
        with self._lock:
            kernels = list(self._kernels.items())
            connected = self._connected
            inflight = self._inflight is not None
        if accounts_only and (not connected or inflight or self._maps is None):
            return  # a heartbeat waits for the connection and the cycle's writes, as they do
        if not connected:
            self._say_unreached()
            with self._cycle_done:
                self._cycles += 1
                self._cycle_done.notify_all()
            return
        if inflight:
            return  # the last cycle's writes are still out; the kernels keep coalescing meanwhile
        if not accounts_only:
            self._due_full_resync()
        if self._maps is None:
            get_map = self._client.get_map
            self._maps = (get_map(SLOTS_MAP), get_map(ACCOUNTS_MAP), get_map(CONTROL_MAP))
        if kernels and not self._mappings_made and time.monotonic() >= self._mappings_retry_at:
            self._make_mappings(kernels[0][1])
        ok = True
        futures: list[Future[Any]] = []
        written: list[_Written] = []
        with self._lock:
            again = [] if accounts_only else [(kid, *c) for kid, c in self._closed_again.items()]
        by_id = dict(kernels)
        for kid, kernel, closed in [(kid, kernel, None) for kid, kernel in kernels] + again:
            issued = self._publish_kernel(kid, kernel, accounts_only, closed_again=closed)
            if isinstance(issued, _Skipped):
                continue
            if issued is None:
                ok = False
                continue
            by_id[kid] = kernel
            futures.extend(issued[0])
            written.append(issued[1])
        if not futures:
            if not accounts_only:
                self._finish_cycle(ok, written)
            return
        batch = _Batch(written, ok, accounts_only, time.monotonic())
        with self._lock:
            self._inflight = batch
            late = self._late
            if late is not None:
                late.overtaken = True
                sent_before = {w.kernel_id for w in late.written}
                for w in written:
                    if w.closed_at is not None and w.kernel_id in sent_before:
                        late.closed_since[w.kernel_id] = (by_id[w.kernel_id], w.closed_at)
        # Completion is handled on the client's I/O thread, so the publisher does not have to be
        # scheduled again just to collect replies (each hand-off of the GIL costs the strategy).
        combine_futures(futures).add_done_callback(lambda done: self._on_written(done, batch))

    def _due_full_resync(self) -> None:
        """Mark for a full publish the kernel whose last one is the oldest, when it is older than
        ``full_resync_interval``: one a cycle, so kernels attached together (due together) are
        rewritten over as many cycles, not all in one."""
        every = self.full_resync_interval
        if every is None:
            return
        now = time.monotonic()
        with self._lock:
            due = [
                (at, kid)
                for kid, at in self._full_at.items()
                if kid not in self._resync and now - at >= every
            ]
            if due:
                self._resync.add(min(due)[1])

    def _leave_late_writes(self) -> None:
        """Let the next cycle go ahead of writes out for longer than ``_late_after``, once at a time."""
        now = time.monotonic()
        with self._lock:
            batch = self._inflight
            if batch is None or self._late is not None or now - batch.sent_at < self._late_after:
                return
            self._late, self._inflight = batch, None
            self._late_writes += 1
            first = self._late_since is None
            if first:
                self._late_since = batch.sent_at
        # Once until writes are confirmed in time again: a member slow all along says it once.
        (_log.warning if first else _log.debug)(
            "hazelcast projection: writes to cluster %r at %s not confirmed after %.1fs (a member "
            "takes requests and does not answer them); publishing goes on, and kernels %s are "
            "published again in full if those writes complete after newer ones",
            self.cluster_name,
            ", ".join(self.cluster_members),
            now - batch.sent_at,
            sorted({w.kernel_id for w in batch.written}),
        )

    def _on_written(self, done: Future[Any], batch: _Batch) -> None:
        written, ok, heartbeat = batch.written, batch.ok, batch.heartbeat
        with self._lock:
            late = batch is self._late
            if late:
                self._late = None
            elif batch is self._inflight:
                self._inflight = None
        if late:
            self._on_late_written(done, batch)
            return
        exc = done.exception()
        if exc is not None:
            self._record_error(exc)  # marks every kernel for a full resync: the drained keys are gone
            if not heartbeat:
                with self._cycle_done:
                    self._cycles += 1
                    self._cycle_done.notify_all()
            return
        with self._lock:
            late_since = self._late_since if self._late is None else None
            if late_since is not None:
                self._late_since = None
        if late_since is not None and not self._stop.is_set():
            # The delay was a warning: so is its end, or the last word an operator reads says stuck.
            _log.warning(
                "hazelcast projection: writes to cluster %r are confirmed again, %.1fs after the "
                "first that was late was sent",
                self.cluster_name,
                time.monotonic() - late_since,
            )
        if heartbeat:
            self._book_heartbeat(written)
            return
        self._finish_cycle(ok, written)

    def _on_late_written(self, done: Future[Any], batch: _Batch) -> None:
        """A late batch completed: booked as any other unless a later one went out meanwhile, whose
        values it may have overwritten with older ones: then its kernels are published in full."""
        took = time.monotonic() - batch.sent_at
        exc = done.exception()
        with self._lock:
            if not self._stop.is_set():  # else said by the close (no write can follow it)
                # Whatever its answer: a write that failed may still have been applied.
                for kid, closed in batch.closed_since.items():
                    if kid not in self._kernels:  # else the kernel attached since publishes itself
                        self._closed_again[kid] = closed
        if not batch.overtaken and exc is None and batch.heartbeat:
            self._book_heartbeat(batch.written)
        elif not batch.overtaken and exc is None:
            self._finish_cycle(batch.ok, batch.written)
        elif exc is None:
            with self._lock:
                for w in batch.written:
                    self._updates += w.updates
                    self._writes += w.writes
                    if w.kernel_id in self._kernels:
                        self._resync.add(w.kernel_id)
        else:
            self._record_error(exc)  # marks every kernel for a full resync
        _log.debug(
            "hazelcast projection: late writes to cluster %r %s after %.1fs",
            self.cluster_name,
            "confirmed" if exc is None else "failed",
            took,
        )
        self._wake.set()

    def _book_heartbeat(self, written: list[_Written]) -> None:
        with self._lock:  # only the accounts: not a cycle a sync() may wait for
            for w in written:
                if w.account:
                    self._account_written[w.kernel_id] = w.drained_at
                self._updates += w.updates
                self._writes += w.writes

    def _finish_cycle(self, ok: bool, written: list[_Written]) -> None:
        done = time.monotonic()
        with self._cycle_done:
            for w in written:
                if w.account:
                    self._account_written[w.kernel_id] = w.drained_at
                previous = self._last_ok_drain.get(w.kernel_id, w.drained_at)
                if w.kernel_id in self._kernels:
                    # Not for a kernel detached while these writes were out: it would hold
                    # staleness_s at the age of its last drain for good.
                    self._last_ok_drain[w.kernel_id] = w.drained_at
                # A change made just after the previous drain became visible only now.
                self._staleness.append(done - previous)
                self._updates += w.updates
                self._writes += w.writes
                self._resyncs += w.full
                if w.again and self._closed_again.get(w.kernel_id, (None, None))[1] == w.closed_at:
                    del self._closed_again[w.kernel_id]
            self._cycles += 1
            if ok:
                self._ok_cycles += 1
                self._last_error = ""
            self._cycle_done.notify_all()

    def _retry_prune(self, kid: str) -> None:
        with self._lock:
            if kid in self._kernels:
                self._prune.add(kid)

    def _pruned(self, removal: Future[Any], kid: str, max_slots: int) -> Future[None]:
        """``removal`` (of ``kid``'s slots beyond ``max_slots``) completing without error either way:
        its failure is said and tried again in PRUNE_RETRY_S (at once on a reconnect), not taken
        for a failed write. The members refuse the whole removal when one entry of that kernel
        id has a slot_id that is not a number (another format, or typed by hand), and every
        cycle's writes would fail with it, every kernel's, for as long as that entry stays."""

        def settle(done: Future[Any]) -> None:
            exc = done.exception()
            # The member's own message, without the Java stack trace the client appends to it.
            first_line = next(iter(str(exc).strip().splitlines()), "")
            why = shortened(f"{type(exc).__name__}: {first_line}")
            with self._lock:
                if exc is None:
                    self._prune_error = ""
                    self._prune_said = False
                    return
                self._prune_error = f"kernel {kid!r}: {why}"
                if kid in self._kernels:
                    self._prune.add(kid)
                    self._prune_retry_at[kid] = time.monotonic() + PRUNE_RETRY_S
                # A warning once, when the members refused it (not when the connection went).
                say = self._connected and not self._prune_said and not self._stop.is_set()
                self._prune_said = self._prune_said or say
            if self._stop.is_set():
                return  # cut short by our own shutdown
            (_log.warning if say else _log.debug)(
                "hazelcast projection could not remove the %s entries of kernel %r numbered %d and "
                "above (an entry there of another format?): %s; publishing goes on, the removal is "
                "tried again in %gs",
                SLOTS_MAP,
                kid,
                max_slots,
                why,
                PRUNE_RETRY_S,
            )

        return removal.continue_with(settle)

    def _make_mappings(self, kernel: ExecutionKernel) -> None:
        # SQL is for operators; a cluster without it must not stop the maps from updating.
        try:
            create_mappings(self._client, kernel, timeout=self._late_after)
        except RuntimeError:
            return  # the kernel was mid-call in another thread: next cycle
        except Exception as exc:
            self._mappings_retry_at = time.monotonic() + 30.0
            if not self._mapping_error:
                _log.warning("hazelcast projection could not create SQL mappings: %s", exc)
            self._mapping_error = f"{type(exc).__name__}: {exc}"
        else:
            self._mappings_made = True
            self._mapping_error = ""

    def _publish_kernel(
        self,
        kid: str,
        kernel: ExecutionKernel,
        accounts_only: bool = False,
        closed_again: float | None = None,
    ) -> tuple[list[Future[Any]], _Written] | _Skipped | None:
        """Drain one kernel and send its writes; None when it could not be drained this time,
        ``_SKIPPED`` when it is no longer the one to publish (nothing sent, nothing to book).
        ``accounts_only``: a heartbeat between cycles, nothing drained, the account written
        when it is due. ``closed_again``: a kernel closed at that time, published in full again."""
        # ``kid`` is cached: even reading kernel.kernel_id fails while another thread is inside it.
        with self._lock:
            if closed_again is None and self._kernels.get(kid) is not kernel:
                # Detached since the cycle took it (closed, its closing record confirmed): a write
                # now would say nothing of its close, and take closed_at back. Booked as written, it
                # would give a staleness sample of a kernel no longer served.
                return _SKIPPED
            if closed_again is not None and self._closed_again.get(kid, (None,))[0] is not kernel:
                # A kernel attached under its id since the cycle took it (attach() let it go): the
                # closed one's account, closed_at set, would go over the new kernel's.
                return _SKIPPED
            full = closed_again is not None or (kid in self._resync and not accounts_only)
            if not accounts_only and closed_again is None:
                self._resync.discard(kid)
                if full:
                    self._full_at[kid] = time.monotonic()
            closed_at = self._closing.get(kid) if closed_again is None else closed_again
        drained_at = time.monotonic()
        try:
            with kernel_reads():
                slots: dict[str, dict[str, Any]]
                account: dict[str, Any] | None
                control: dict[str, Any] | None
                if accounts_only:
                    slots, account, control = {}, None, None
                else:
                    slots, account, control = publish_dirty(kernel, full=full)
                max_slots = kernel.max_slots
                due = drained_at - self._account_written.get(kid, 0.0) >= self.heartbeat
                refused = kernel.input_refused_reason()
                with self._lock:
                    refused_changed = refused != self._refused_sent.get(kid)
                if account is None and (due or closed_at is not None or refused_changed):
                    # A periodic rewrite keeps projected_at fresh: a live idle kernel is not a dead
                    # one; a closing kernel's last write says it closed; a failed log, that it no
                    # longer trades, which marks nothing dirty.
                    account = kernel.account()
        except RuntimeError:
            # The kernel is mid-call in another thread (its venue is Python code): try again
            # next cycle, in full since part of the dirty set may already have been drained.
            with self._lock:
                if not accounts_only and closed_again is None:  # a closed one is tried again as is
                    self._resync.add(kid)
                self._busy += 1
            return None
        with self._lock:
            prune = kid in self._prune and not accounts_only
            prune = prune and time.monotonic() >= self._prune_retry_at.get(kid, 0.0)
            if prune:
                self._prune.discard(kid)
        now = time.time()
        assert self._maps is not None
        slots_map, accounts_map, control_map = self._maps
        futures: list[Future[Any]] = []
        try:
            if prune:
                # On the members, without reading keys; it cannot meet the put_all below,
                # which writes only slots under max_slots. Waited for, but its failure is its own.
                removal = slots_map.remove_all(slots_beyond(kid, max_slots))
                futures.append(self._pruned(removal, kid, max_slots))
            if slots:
                values = {}
                for key, value in slots.items():
                    value["kernel_id"] = kid
                    value["projected_at"] = now
                    values[key] = to_json_value(value)
                futures.append(slots_map.put_all(values))
            if account is not None:
                account["kernel_id"] = kid
                account["projected_at"] = now
                account["closed_at"] = closed_at
                account["input_refused_reason"] = refused
                futures.append(accounts_map.set(kid, to_json_value(account)))
                with self._lock:
                    self._refused_sent[kid] = refused
            if control is not None:
                control["kernel_id"] = kid
                control["projected_at"] = now
                futures.append(control_map.set(kid, to_json_value(control)))
        except Exception as exc:
            if prune:
                self._retry_prune(kid)
            self._record_error(exc)  # marks every kernel for a full resync: the drained keys are gone
            return None
        updates = len(slots) + (account is not None) + (control is not None)
        return futures, _Written(
            kid,
            drained_at,
            updates,
            len(futures),
            full,
            account is not None,
            drained=not accounts_only,
            closed_at=closed_at if account is not None else None,
            again=closed_again is not None,
        )

    def sync(self, timeout: float | None = 10.0) -> bool:
        """Publish every dirty key now; True when a full cycle succeeded within ``timeout``
        (False at once on a closed projection: no cycle runs any more)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cycle_done:
            # The cycle that is running may have drained before our caller's last change.
            target = self._ok_cycles + 2
            while self._ok_cycles < target:
                if self._stop.is_set():
                    return False
                self._wake.set()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cycle_done.wait(min(remaining, 0.1) if remaining is not None else 0.1)
        return True

    def flush(self, timeout: float | None = 10.0) -> None:
        """Publish every dirty key now (waits at most ``timeout``; never raises when the cluster is away)."""
        self.sync(timeout)

    def close(self) -> None:
        """Publish what is left (briefly, if the cluster is up), stop the publisher, release the client."""
        self._close(flush=True)

    def _close(self, flush: bool) -> None:
        """``close``; ``flush`` False when a kernel's release just tried and the cluster did not
        answer (a second wait of its own would double the time a close takes)."""
        if self._stop.is_set():
            return
        with self._lock:
            attached = sorted(self._kernels)
            again = bool(self._closed_again)
        if flush and (attached or again) and self._connected_for_close():
            self.sync(timeout=5.0)
        elif flush and attached:
            _log.warning(
                "hazelcast projection closed while cluster %r is not reached: the last changes of "
                "kernels %s are not published",
                self.cluster_name,
                attached,
            )
        with self._lock:
            self._stop.set()  # under the lock: a late batch completing now leaves its kernels to this
            late = self._late
            exposed = sorted({*(late.closed_since if late is not None else ()), *self._closed_again})
        if exposed:
            # The member may still apply those writes: nothing can publish the kernels again then.
            _log.warning(
                "hazelcast projection closed while writes of kernels %s sent before they closed are "
                "unconfirmed or landed after their closing record (a member takes requests and does "
                "not answer them): applied late, they take closed_at back from those accounts, and "
                "readers take the kernels for running until their projection is %gs old",
                exposed,
                LIVE_WITHIN_S,
            )
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
        with self._lock:
            kernels = list(self._kernels.values())
            self._kernels.clear()
        for kernel in kernels:
            kernel.set_projection_enabled(False)
        self._client.shutdown()

    # --- reporting -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters and staleness (seconds).

        ``staleness_s`` is the current bound: a change made now would be visible within it
        when healthy (the wait until the next cycle, when the duty cap holds the publisher off
        after a busy one), and while the cluster is away it grows with the time since the last
        successful publish (``publish_age_s``, the age of the oldest kernel's last published
        drain). ``staleness_p50_s``/``p99_s``/``max_s`` are over recent cycles.
        """
        now = time.monotonic()
        with self._lock:
            samples = sorted(self._staleness)
            oldest = min(self._last_ok_drain.values(), default=now)
            stats: dict[str, Any] = {
                "connected": self._connected,
                "kernels": len(self._kernels),
                "cycles": self._cycles,
                "ok_cycles": self._ok_cycles,
                "updates_published": self._updates,
                "writes": self._writes,
                "resyncs": self._resyncs,
                "errors": self._errors,
                "kernel_busy": self._busy,
                "publisher_cpu_s": self._cpu,
                "last_error": self._last_error,
                "pending_resync": sorted(self._resync),
                # Batches of writes the next cycle went ahead of, unconfirmed after _late_after s,
                # and how long the one still out has been waiting (0: none).
                "late_writes": self._late_writes,
                "late_write_age_s": 0.0 if self._late is None else now - self._late.sent_at,
                "mapping_error": self._mapping_error,
                # The last removal of slots beyond max_slots that failed ("" once one succeeds).
                "prune_error": self._prune_error,
                # The age of the oldest published drain, or the wait until the next cycle when
                # the duty cap holds it off longer: a change made now is visible within that.
                "staleness_s": max(now - oldest, self._next_cycle_at - now),
                "publish_age_s": now - oldest,
            }
        stats["staleness_p50_s"] = _percentile(samples, 0.50)
        stats["staleness_p99_s"] = _percentile(samples, 0.99)
        stats["staleness_max_s"] = samples[-1] if samples else 0.0
        return stats

    def reset_stats(self) -> None:
        with self._lock:
            self._staleness.clear()
            self._updates = self._writes = self._errors = 0
            self._cpu = 0.0


def _percentile(sorted_samples: Sequence[float], q: float) -> float:
    if not sorted_samples:
        return 0.0
    index = min(len(sorted_samples) - 1, max(0, math.ceil(q * len(sorted_samples)) - 1))
    return sorted_samples[index]
