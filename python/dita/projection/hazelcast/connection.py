"""The projection's connection to the cluster, and the state every part of the publisher
shares: the constructor checks the settings, sets the fields, connects the client and starts
the publisher thread (``PublishingCycle._run``). The client's callbacks only flip flags here;
the publisher does the work."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import (
    HazelcastJsonValue,
    LifecycleState,
    Map,
    cluster_settings,
    connect_client,
)
from dita._numbers import within
from dita.projection.hazelcast.batches import LATE_WRITES_MAX_S, _Batch
from dita.projection.hazelcast.liveness import LIVE_WITHIN_S

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.projection.hazelcast")  # one logger for the package, as docs name it


FIRST_CONNECT_WAIT_S = 5.0
"""How long a projection's first connection may take before it is said to be missing; a kernel
closed sooner waits that long for it (the client connects in the background, in tens of
milliseconds to a live member), else a short run left no trace in the maps."""


FULL_RESYNC_S = 300.0
"""How often each kernel is published in full by default (``full_resync_interval``): the
projection writes only what changed, so an entry another writer left in the maps would stay
wrong until that slot changed."""


class ProjectionConnection:
    """The fields of ``HazelcastProjection`` (see there), its client and its connection's ups and
    downs; the publisher thread's loop is ``PublishingCycle._run``."""

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
        # The cluster_control each kernel's last control write sent: a change is written at once.
        self._cluster_control_sent: dict[str, bool] = {}
        # Each kernel's account as its last cycle read it, with the slots that cycle wrote: what
        # a heartbeat between cycles writes again (the kernel's account now may hold an input
        # whose slots wait for the next cycle).
        self._account_sent: dict[str, dict[str, Any]] = {}
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
        self._attaching: set[str] = set()  # kernel ids being attached (claimed), held until done
        # Set by a close once it removed its claims: the client is shut down by whichever of it
        # and the attaches under way ends last.
        self._claims_released = False
        # Each attached kernel's claim of its id in the cluster (claims.py): the token of its
        # attach, the entry last written, and when it was renewed (monotonic).
        self._tokens: dict[str, str] = {}
        self._claims: dict[str, HazelcastJsonValue] = {}
        self._claim_renewed: dict[str, float] = {}
        # Kernels whose claim is to be made, or checked after a reconnect, before their next write.
        self._unclaimed: set[str] = set()
        self._invocation_timeout = float(invocation_timeout)
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

    def _run(self) -> None:
        raise NotImplementedError  # the publisher's loop: PublishingCycle._run

    def _on_lifecycle(self, state: str) -> None:
        # Runs on the client's reactor thread: only flip flags, the publisher does the work.
        if state == LifecycleState.CONNECTED:
            with self._lock:
                first = not self._ever_connected
                self._ever_connected = True
                self._connected = True
                self._resync.update(self._kernels)
                # A claim may have been taken over while away (or lost with a restarted member).
                self._unclaimed.update(self._kernels)
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
