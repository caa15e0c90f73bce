"""One kernel's writes in a cycle: what changed drained from the kernel (``publish_dirty``),
each entry encoded with the fields the projection adds, the account rewritten when its
heartbeat is due, and the entries beyond ``max_slots`` an earlier run left removed."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import Future
from dita._text import shortened
from dita.projection import publish_dirty
from dita.projection.hazelcast.batches import _SKIPPED, _Skipped, _Written
from dita.projection.hazelcast.connection import ProjectionConnection
from dita.projection.hazelcast.kernel_borrow import kernel_reads
from dita.projection.hazelcast.maps import SLOTS_MAP, slots_beyond, to_json_value

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

_log = logging.getLogger("dita.projection.hazelcast")  # one logger for the package, as docs name it


PRUNE_RETRY_S = 30.0
"""How long after a removal of slots beyond max_slots the members refused it is tried again."""


class KernelWrites(ProjectionConnection):
    """How the publisher drains one kernel and sends its writes."""

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

    def _cluster_control(self, kid: str, kernel: ExecutionKernel, closing: bool = False) -> bool:
        """Whether ``kernel`` takes the control entries of this projection's cluster: a
        ``HazelcastControlPlane`` of the same cluster name and a member in common serves it (or,
        ``closing``, is its plane: a close lets the plane go first). A kernel without one runs its
        own control state, which no `dita control set` reaches."""
        plane = getattr(kernel, "control_plane", None)
        controls = getattr(plane, "controls", None)
        if controls is None or getattr(plane, "cluster_name", None) != self.cluster_name:
            return False
        members = getattr(plane, "cluster_members", ())
        return not set(members).isdisjoint(self.cluster_members) and (closing or bool(controls(kid, kernel)))

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
                due = drained_at - self._account_written.get(kid, 0.0) >= self.heartbeat
                refused = kernel.input_refused_reason()
                # A kernel taking no input (closing) has let its plane go: its state says what it ran under.
                cluster_control = self._cluster_control(kid, kernel, closing=refused is not None)
                with self._lock:
                    refused_changed = refused != self._refused_sent.get(kid)
                    control_due = cluster_control != self._cluster_control_sent.get(kid)
                # A periodic rewrite keeps projected_at fresh: a live idle kernel is not a dead
                # one; a closing kernel's last write says it closed; a failed log, that it no
                # longer trades, which marks nothing dirty.
                rewrite = due or closed_at is not None or refused_changed
                slots: dict[str, dict[str, Any]]
                account: dict[str, Any] | None
                control: dict[str, Any] | None
                if accounts_only:
                    slots, account, control = {}, None, None
                    if rewrite:
                        with self._lock:
                            sent = self._account_sent.get(kid)
                        # As the last cycle wrote it, of the state of the slots in the maps.
                        account = kernel.account() if sent is None else dict(sent)
                else:
                    # The rewritten account read with the slots: read after them, it could hold
                    # an input whose slots this cycle does not write.
                    slots, account, control = publish_dirty(kernel, full=full, with_account=rewrite)
                    if control is None and control_due:
                        control = dict(kernel.control())
                max_slots = kernel.max_slots
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
                with self._lock:
                    self._account_sent[kid] = dict(account)
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
                control["cluster_control"] = cluster_control
                futures.append(control_map.set(kid, to_json_value(control)))
                with self._lock:
                    self._cluster_control_sent[kid] = cluster_control
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
