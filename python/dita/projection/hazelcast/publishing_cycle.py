"""The publisher thread: a cycle every ``interval`` that sends every kernel's changes in one
batch, its CPU share capped by ``max_duty`` (a long pause is broken up by heartbeats of the
accounts alone), a full rewrite of one kernel when its ``full_resync_interval`` is due, and the
SQL mappings made once connected."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import Future, HazelcastJsonValue, Map, combine_futures
from dita.projection.hazelcast.batches import _Batch, _Skipped, _Written
from dita.projection.hazelcast.claims import CLAIMS_MAP, KernelIdClaimed, claim, forget, renewed
from dita.projection.hazelcast.kernel_writes import KernelWrites
from dita.projection.hazelcast.maps import ACCOUNTS_MAP, CONTROL_MAP, SLOTS_MAP
from dita.projection.hazelcast.sql_mappings import create_mappings
from dita.projection.hazelcast.write_confirmations import WriteConfirmations

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.projection.hazelcast")  # one logger for the package, as docs name it


class PublishingCycle(KernelWrites, WriteConfirmations):
    """The publisher thread's loop and one cycle of it."""

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
        kernel for gone (its account older than LIVE_WITHIN_S) while its slots wait. Each is
        the account its last cycle wrote, of the kernel state of the slots in the maps."""
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
        kernels = self._claimed(kernels)
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

    def _claimed(self, kernels: list[tuple[str, ExecutionKernel]]) -> list[tuple[str, ExecutionKernel]]:
        """The kernels among ``kernels`` whose id this projection holds: claims still to make
        (attached with the cluster away, or checked after a reconnect) are made, a kernel whose
        id another holder took is no longer projected (said), and claims due are renewed."""
        with self._lock:
            unclaimed = [(kid, k) for kid, k in kernels if kid in self._unclaimed]
        claims: Map[str, Any] = self._client.get_map(CLAIMS_MAP)  # as the cycle's own maps
        for kid, kernel in unclaimed:
            with self._lock:
                token = self._tokens.get(kid)
            if token is None:
                continue  # detached since
            try:
                held = claim(claims, kid, token, timeout=self._late_after)
            except KernelIdClaimed as exc:
                _log.error("hazelcast projection stops projecting kernel %s: %s", kid, exc)
                forget(token)
                with self._lock:
                    self._claims.pop(kid, None)  # another's now: never removed by this one
                self._detach(kernel)
                continue
            except Exception as exc:
                self._record_error(exc)
                continue
            with self._lock:
                attached = self._tokens.get(kid) == token
                if attached:
                    self._claims[kid] = held
                    self._claim_renewed[kid] = time.monotonic()
                    self._unclaimed.discard(kid)
            if not attached:  # detached while claiming: its detach found no claim to remove
                self._release_claims({kid: (token, held)})
        now = time.monotonic()
        with self._lock:
            due = [
                (kid, self._claims[kid])
                for kid, _ in kernels
                if kid in self._claims
                and kid not in self._unclaimed
                and now - self._claim_renewed.get(kid, 0.0) >= self.heartbeat
            ]
            for kid, _ in due:
                self._claim_renewed[kid] = now
            mine = [(kid, k) for kid, k in kernels if kid not in self._unclaimed and kid in self._kernels]
        for kid, value in due:
            self._renew(claims, kid, value)
        return mine

    def _renew(self, claims: Map[str, Any], kid: str, value: HazelcastJsonValue) -> None:
        new = renewed(value)
        claims.replace_if_same(kid, value, new).add_done_callback(
            lambda done: self._on_renewed(done, kid, value, new)
        )

    def _on_renewed(
        self, done: Future[bool], kid: str, value: HazelcastJsonValue, new: HazelcastJsonValue
    ) -> None:
        # On the client's reactor thread: only books the answer; the publisher claims again.
        if done.exception() is not None:
            return  # unanswered: the next renewal tries again
        with self._lock:
            if self._claims.get(kid) is not value:
                return  # claimed again or detached since
            if done.result():
                self._claims[kid] = new
            else:  # taken over while this one was silent, or lost with a restarted member
                self._unclaimed.add(kid)
                self._wake.set()

    def _detach(self, kernel: ExecutionKernel) -> bool:
        raise NotImplementedError  # HazelcastProjection._detach

    def _release_claims(self, held: dict[str, tuple[str, HazelcastJsonValue | None]]) -> None:
        raise NotImplementedError  # HazelcastProjection._release_claims

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
