"""A member that takes a write and never answers it, while it answers everything else.

The client's ``invocation_timeout`` bounds a request only when an error comes back: a write
parked on the member (here: on a key another client holds locked, as a member whose partition
threads are stuck) had no reply and no error, so the cycle that sent it stayed outstanding and
no later cycle ran: nothing the kernel did afterwards was published, without a word.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from hz_helpers import expected, make_venue, mixed_workload, projected

from dita import ExecutionKernel
from dita.projection.hazelcast import ACCOUNTS_MAP, HazelcastProjection
from dita.services.hazelcast import HazelcastMember

WAIT_S = 30.0  # for what should come within seconds; the member parks the write for longer


def _wait_for(check: Any, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_write_the_member_never_answers_does_not_stall_the_projection(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = hz_client.get_map(ACCOUNTS_MAP).blocking()
    accounts.lock(kernel_id)  # the projection's write of this kernel's account is parked on the member
    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=0.01, invocation_timeout=1.0
    )
    kernel = ExecutionKernel(max_slots=16, venue=make_venue(), projection=projection, kernel_id=kernel_id)
    locked = True
    try:
        # The first cycle's slots arrive; its account write does not.
        assert _wait_for(lambda: len(projected(hz_client, kernel_id)["slots"]) == 16)
        mixed_workload(kernel, rounds=200, seed=3)
        want = expected(kernel.snapshot())
        # A later cycle publishes the slots changed since, though the account write is still out.
        assert _wait_for(lambda: projected(hz_client, kernel_id)["slots"] == want["slots"]), (
            "no cycle ran after the write that got no reply"
        )
        assert projected(hz_client, kernel_id)["account"] is None
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        late = [m for m in warned if "not confirmed" in m]
        assert len(late) == 1, warned
        assert f"writes to cluster {hz_member.cluster_name!r} at {hz_member.address} not confirmed" in late[0]
        assert projection.stats()["late_writes"] == 1
        accounts.unlock(kernel_id)
        locked = False
        # Once the member answers, every key is published again, the late account write included.
        assert projection.sync(timeout=WAIT_S)
        assert _wait_for(lambda: projected(hz_client, kernel_id) == expected(kernel.snapshot()))
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert "are confirmed again" in warned[-1], warned
        assert projection.stats()["late_write_age_s"] == 0.0
    finally:
        if locked:
            accounts.unlock(kernel_id)
        kernel.close()
