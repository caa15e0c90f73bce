"""``HazelcastProjection``: what a kernel and its caller use (attach, detach, release, sync,
close, stats). Its constructor, fields and connection are ``ProjectionConnection``'s
(connection.py); the publisher thread is ``PublishingCycle`` (publishing_cycle.py), which
writes each kernel with ``KernelWrites`` and books the cluster's answers with
``WriteConfirmations``."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import HazelcastJsonValue
from dita.control import check_kernel_id
from dita.projection import tracking_off
from dita.projection.hazelcast.answers import answered_by
from dita.projection.hazelcast.claims import KernelIdClaimed, claim, claims_map, forget, new_token
from dita.projection.hazelcast.liveness import LIVE_WITHIN_S
from dita.projection.hazelcast.publishing_cycle import PublishingCycle

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.projection.hazelcast")  # one logger for the package, as docs name it


class HazelcastProjection(PublishingCycle):
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

    def attach(self, kernel: ExecutionKernel) -> None:
        """Start projecting ``kernel``. Its id is claimed in the cluster first (``claims.py``):
        ValueError naming the holder when another projection, alive, holds it. A cluster not
        reached within FIRST_CONNECT_WAIT_S of the projection's start lets the kernel attach; the
        claim is made before its first write, and a refusal then stops its projection, said."""
        kid = kernel.kernel_id
        check_kernel_id(kid)  # `*`: the control entries' key of every kernel, in dita_control too
        with self._lock:
            # Checked with the reservation: a close sees every attach it must leave the client to.
            if self._stop.is_set():
                raise RuntimeError("HazelcastProjection is closed: make a new one to attach kernels")
            # Reserved under the lock: two attaches of one id at once would both pass the check.
            if kid in self._kernels or kid in self._attaching:
                raise ValueError(f"kernel_id {kid!r} is already attached to this projection")
            self._attaching.add(kid)
        try:
            closed = self._attach_claimed(kernel, kid)
        finally:
            with self._lock:
                self._attaching.discard(kid)
                shut_down = self._claims_released and not self._attaching
            if shut_down:
                self._client.shutdown()  # the close ended first: the last attach shuts it down
        if closed:
            raise RuntimeError("HazelcastProjection is closed: make a new one to attach kernels")
        self._wake.set()

    def _attach_claimed(self, kernel: ExecutionKernel, kid: str) -> bool:
        """``attach`` past its checks: the id claimed, the tracking turned on, the kernel served.
        True when the projection closed meanwhile, tracking turned back off and the claim removed
        (the client is kept for that while the attach is under way)."""
        token = new_token()
        held = self._claim_at_attach(kid, token)
        try:
            # Tracking starts before the first (full) publish, so no change can fall in between.
            kernel.set_projection_enabled(True)
        except BaseException:
            self._release_claims({kid: (token, held)})  # busy past its wait: the id stays free
            raise
        with self._lock:
            closed = self._stop.is_set()  # closed meanwhile: it would never be served
            if not closed:
                self._kernels[kid] = kernel
                self._tokens[kid] = token
                if held is None:
                    self._unclaimed.add(kid)
                else:
                    self._claims[kid] = held
                    self._claim_renewed[kid] = time.monotonic()
                self._closed_again.pop(kid, None)  # the new kernel's full publish replaces it
                self._resync.add(kid)
                self._prune.add(kid)
                self._last_ok_drain.setdefault(kid, time.monotonic())
        if closed:
            try:
                tracking_off([kernel], _log, "hazelcast projection")
            finally:
                self._release_claims({kid: (token, held)})
        return closed

    def _claim_at_attach(self, kid: str, token: str) -> HazelcastJsonValue | None:
        """The claim of ``kid`` made for ``token``; None when the cluster cannot be asked now."""
        if not self._connected_for_close():
            return None
        try:
            return claim(claims_map(self._client, self._late_after), kid, token, timeout=self._late_after)
        except KernelIdClaimed:
            raise
        except Exception as exc:  # unanswered or connection lost: claimed before the first write
            _log.debug("hazelcast projection: claim of kernel %s left to the publisher: %s", kid, exc)
            return None

    def _release_claims(self, held: dict[str, tuple[str, HazelcastJsonValue | None]]) -> None:
        """Remove the claims given (kernel id -> token, entry), each only if still the one written:
        the next kernel of that id attaches at once, not once the claim is stale."""
        for kid, (token, value) in held.items():
            forget(token)
            if value is None or not self._connected:
                continue
            try:
                claims = claims_map(self._client, self._late_after)
                removal = claims.remove_if_same(kid, value)
                answered_by(removal, time.monotonic() + self._late_after, f"the removal of claim {kid!r}")
            except Exception as exc:  # left to grow stale: taken over LIVE_WITHIN_S after its renewal
                _log.debug("hazelcast projection: claim of kernel %s not removed: %s", kid, exc)

    def detach(self, kernel: ExecutionKernel) -> None:
        """Publish ``kernel``'s last changes (briefly, as a close does, without ``closed_at``) and
        stop projecting it; the other kernels stay. Never drained again, it would otherwise
        leave the maps with the state of the last cycle before. A kernel held by another
        thread's call past its wait, its tracking not turned off, stays attached (projected, its
        id claimed): RuntimeError says so, and a detach once it is free takes it off."""
        # Not from inside a cycle (a kernel's call the publisher made): no cycle can run then.
        if self._thread is not threading.current_thread():
            self._publish_last(kernel, closing=False)
        kid = kernel.kernel_id
        with self._lock:
            attached = self._kernels.get(kid) is kernel
        if not attached:
            return
        try:
            # Turned off while still served: a kernel that refuses it is left whole, not left
            # tracking changes that no projection reads.
            kernel.set_projection_enabled(False)
        except Exception as exc:
            raise RuntimeError(
                f"kernel_id {kid!r} stays attached to this projection, projected and its id claimed: "
                f"its change tracking was not turned off ({exc}); detach it again once it is free"
            ) from exc
        self._detach(kernel, tracking_on=False)

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

    def _detach(self, kernel: ExecutionKernel, *, tracking_on: bool = True) -> bool:
        """Removes ``kernel`` and turns its tracking off (``tracking_on`` False: off already),
        but that of a kernel busy in another call (``tracking_off``), which leaves all the same;
        True if it was attached and no kernel is left (decided with the removal, so two kernels
        released at once cannot both see the other and leave the projection open)."""
        kid = kernel.kernel_id
        with self._lock:
            # By identity, as the control plane: a kernel detached before and closed now must
            # not take along the kernel attached under its id since.
            # And one detached before is not served: its close leaves the projection, the
            # caller's now (moved to another kernel, say), open.
            if self._kernels.get(kid) is not kernel:
                return False
            del self._kernels[kid]
            token = self._tokens.pop(kid, "")
            held = {kid: (token, self._claims.pop(kid, None))}
            self._claim_renewed.pop(kid, None)
            self._unclaimed.discard(kid)
            self._resync.discard(kid)
            self._prune.discard(kid)
            self._prune_retry_at.pop(kid, None)
            self._last_ok_drain.pop(kid, None)
            self._full_at.pop(kid, None)
            self._closing.pop(kid, None)
            self._refused_sent.pop(kid, None)
            self._cluster_control_sent.pop(kid, None)
            self._account_sent.pop(kid, None)
            empty = not self._kernels
        try:
            if tracking_on:
                tracking_off([kernel], _log, "hazelcast projection", "detached a kernel")
        finally:
            self._release_claims(held)
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
        """Publish what is left (briefly, if the cluster is up), stop the publisher, turn off the
        kernels' change tracking (but that of one busy in another call, ``tracking_off``),
        release the client (an attach under way releases it as it ends, its claim removed first)."""
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
            held = {kid: (token, self._claims.get(kid)) for kid, token in self._tokens.items()}
            self._kernels.clear()
            self._tokens.clear()
            self._claims.clear()
        try:
            tracking_off(kernels, _log, "hazelcast projection")
        finally:
            self._release_claims(held)
            with self._lock:
                # An attach under way removes its own claim with this client: whichever ends
                # last, this close or an attach, shuts it down (else the claim stays for 30 s).
                self._claims_released = True
                shut_down = not self._attaching
            if shut_down:
                self._client.shutdown()

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
