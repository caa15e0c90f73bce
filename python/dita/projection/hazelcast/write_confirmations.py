"""The cluster's confirmation of a cycle's writes: booked when it comes (staleness, counts,
accounts written), and a batch out too long left to finish in the background, its kernels
published again in full when it lands after newer writes."""

from __future__ import annotations

import logging
import time
from typing import Any

from dita._hazelcast_client import Future
from dita.projection.hazelcast.batches import _Batch, _Written
from dita.projection.hazelcast.connection import ProjectionConnection

_log = logging.getLogger("dita.projection.hazelcast")  # one logger for the package, as docs name it


class WriteConfirmations(ProjectionConnection):
    """What the publisher does when the cluster answers a batch of writes, or does not."""

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
