"""What one publishing cycle sends for each kernel, and the batch of writes it is out in until
the cluster confirms them all (or the next cycle goes ahead of it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel


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


LATE_WRITES_MAX_S = 10.0
"""The most a cycle's writes may stay unconfirmed before the next cycle goes ahead anyway
(less when twice ``invocation_timeout`` is less): the client bounds a request only when an error
comes back, and a member that takes requests and answers none (stuck partition threads, its
heartbeats still answered) would hold the cycle, and every later one, for good. Well under
LIVE_WITHIN_S, so the accounts are rewritten before readers take a live kernel for gone."""
