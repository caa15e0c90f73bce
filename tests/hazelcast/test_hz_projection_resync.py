"""The projection's periodic full rewrite of each kernel (``full_resync_interval``), and a kernel
detached while a cycle had it in hand.

The projection writes only the slots that changed: a slot entry another writer put there by
hand (or a stale copy a member brought back) stayed wrong until that slot changed, for good on
an idle slot. Each kernel is now rewritten in full every ``full_resync_interval`` seconds, one
kernel a cycle at most, so the cost is spread over cycles."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from hz_helpers import eventually, strip

from dita import ExecutionKernel, KernelIntent
from dita.projection import publish_dirty
from dita.projection.hazelcast import SLOTS_MAP, HazelcastProjection, to_json_value
from dita.services.hazelcast import HazelcastMember

WAIT_S = 20.0


def _forge_slot(hz_client: Any, kernel_id: str, slot_id: int) -> dict[str, Any]:
    """A foreign writer's value for ``kernel_id:slot_id``: an open position the kernel never had."""
    forged = {
        "kernel_id": kernel_id,
        "slot_id": slot_id,
        "fsm_state": "POSITION_OPEN",
        "asset": "FORGED-USD",
        "size": 42.0,
        "projected_at": time.time(),
    }
    hz_client.get_map(SLOTS_MAP).blocking().put(f"{kernel_id}:{slot_id}", to_json_value(forged))
    return forged


def _slot(hz_client: Any, kernel_id: str, slot_id: int) -> dict[str, Any]:
    value = hz_client.get_map(SLOTS_MAP).blocking().get(f"{kernel_id}:{slot_id}")
    return dict(value.loads()) if value is not None else {}


def test_a_slot_written_by_hand_is_overwritten_within_the_full_resync_interval(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=0.01, full_resync_interval=0.5
    )
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        kernel.set_seed_capital(1_000.0)
        enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 0, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
        assert kernel.process_intent(enter).accepted
        assert projection.sync(timeout=WAIT_S)
        truth = {1: kernel.slot_dict(1), 0: kernel.slot_dict(0)}
        with pytest.MonkeyPatch.context() as paused:
            # No rewrite falls due while the forgery is written and read back, and the sync lets
            # one already due land first: else a resync between the two hides the forgery.
            paused.setattr(projection, "_due_full_resync", lambda: None)
            assert projection.sync(timeout=WAIT_S)
            # Read before the forgery: a resync between it and a later read would fix the slot
            # uncounted.
            resyncs = projection.stats()["resyncs"]
            forged = _forge_slot(hz_client, kernel_id, 1)  # an idle slot: nothing marks it dirty
            assert _slot(hz_client, kernel_id, 1)["asset"] == forged["asset"]
        assert eventually(lambda: strip(_slot(hz_client, kernel_id, 1)) == truth[1], timeout=WAIT_S)
        assert strip(_slot(hz_client, kernel_id, 0)) == truth[0]
        # Counted once the member's answer to the rewrite is in, which may come after the
        # rewrite itself is read above.
        assert eventually(lambda: projection.stats()["resyncs"] > resyncs, timeout=WAIT_S)
    finally:
        kernel.close()


def test_without_a_full_resync_the_slot_written_by_hand_stays(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """None turns the periodic rewrite off: only what changes is written (the test above would
    pass for another reason otherwise)."""
    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=0.01, full_resync_interval=None
    )
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=WAIT_S)
        forged = _forge_slot(hz_client, kernel_id, 1)
        time.sleep(1.5)
        assert projection.sync(timeout=WAIT_S)
        assert _slot(hz_client, kernel_id, 1)["asset"] == forged["asset"]
    finally:
        kernel.close()


def test_the_periodic_rewrites_are_spread_one_kernel_a_cycle(
    hz_member: HazelcastMember, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kernels attached together come due together: each cycle rewrites one of them at most, and
    every one of them is rewritten in turn."""
    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=0.01, full_resync_interval=0.3
    )
    kernels = [
        ExecutionKernel(max_slots=4, projection=projection, kernel_id=f"{kernel_id}-{n}") for n in range(4)
    ]
    cycle = [0]
    fulls: dict[int, list[str]] = defaultdict(list)
    recording = threading.Event()
    real_cycle = projection._cycle

    def counted_cycle(accounts_only: bool = False) -> None:
        if not accounts_only:
            cycle[0] += 1
        real_cycle(accounts_only)

    def recorded(kernel: ExecutionKernel, *, full: bool = False, with_account: bool = False) -> Any:
        if full and recording.is_set():
            fulls[cycle[0]].append(kernel.kernel_id)
        return publish_dirty(kernel, full=full, with_account=with_account)

    def rewrites() -> list[str]:
        return [kid for kids in list(fulls.values()) for kid in list(kids)]

    try:
        assert projection.sync(timeout=WAIT_S)  # the full publish of each at attach, all at once
        monkeypatch.setattr(projection, "_cycle", counted_cycle)
        monkeypatch.setattr("dita.projection.hazelcast.kernel_writes.publish_dirty", recorded)
        recording.set()
        # Each kernel falls due every 0.3 s: on a loaded machine cycles come slower, not fewer.
        assert eventually(lambda: all(rewrites().count(k.kernel_id) >= 2 for k in kernels), timeout=WAIT_S), (
            dict(fulls)
        )
        recording.clear()
        assert max(len(kids) for kids in fulls.values()) == 1, dict(fulls)
        assert {k.kernel_id for k in kernels} == set(rewrites())
    finally:
        for kernel in kernels:
            kernel.close()


@pytest.mark.parametrize("bad", [0, -1.0, True, "5", math.nan, math.inf, 100_000.0])
def test_a_bad_full_resync_interval_is_refused_naming_it(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"full_resync_interval") as raised:
        HazelcastProjection(["127.0.0.1:1"], "nobody", full_resync_interval=bad)
    assert repr(bad) in str(raised.value)


def test_a_kernel_detached_after_the_cycle_took_it_is_not_booked_as_written(
    hz_member: HazelcastMember, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that listed a kernel detached before it published it wrote nothing for it, yet
    booked it as written: a staleness sample, and the cycle counted a publish of it."""
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    armed, skipped = threading.Event(), threading.Event()
    samples: list[int] = []
    real_publish = projection._publish_kernel

    def publish(kid: str, published: ExecutionKernel, *args: Any, **kwargs: Any) -> Any:
        if kid == kernel_id and armed.is_set() and not skipped.is_set():
            projection._detach(published)  # detached after this cycle listed it
            samples.append(len(projection._staleness))
            issued = real_publish(kid, published, *args, **kwargs)
            skipped.set()
            return issued
        return real_publish(kid, published, *args, **kwargs)

    try:
        assert projection.sync(timeout=WAIT_S)
        monkeypatch.setattr(projection, "_publish_kernel", publish)
        cycles = projection.stats()["cycles"]
        armed.set()
        assert skipped.wait(WAIT_S)
        assert eventually(lambda: projection.stats()["cycles"] > cycles + 2, timeout=WAIT_S)
        assert len(projection._staleness) == samples[0]
        assert projection.stats()["kernels"] == 0
    finally:
        kernel.close()
