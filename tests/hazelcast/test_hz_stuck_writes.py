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
from dita.projection.hazelcast import ACCOUNTS_MAP, HazelcastProjection, closed_at, read_map
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


class HeldAccounts:
    """The projection's ``dita_accounts`` proxy, holding the next account write of one kernel once
    ``hold`` is set: out on the wire, not yet applied (a member that takes it and answers later).
    ``land`` applies it then, older values over whatever was written since, and answers it."""

    def __init__(self, real: Any, kernel_id: str) -> None:
        self.real, self.kernel_id = real, kernel_id
        self.hold = False
        self.held: tuple[Any, Any, Any] | None = None  # key, value, the answer the projection waits for

    def set(self, key: str, value: Any) -> Any:
        from hazelcast.future import Future

        if self.hold and key == self.kernel_id and self.held is None:
            self.held = (key, value, Future())
            return self.held[2]
        return self.real.set(key, value)

    def land(self) -> None:
        assert self.held is not None
        key, value, answer = self.held
        self.real.set(key, value).result()
        answer.set_result(None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _held_projection(hz_member: HazelcastMember, kernel_id: str) -> tuple[HazelcastProjection, HeldAccounts]:
    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=0.01, invocation_timeout=0.5
    )
    assert _wait_for(lambda: projection._maps is not None)
    slots, accounts, control = projection._maps
    held = HeldAccounts(accounts, kernel_id)
    projection._maps = (slots, held, control)  # type: ignore[assignment]
    return projection, held


def _hold_an_account_write(
    kernel: ExecutionKernel, projection: HazelcastProjection, held: HeldAccounts
) -> None:
    """The kernel's next account write held past the point the projection goes ahead of it."""
    held.hold = True
    kernel.set_seed_capital(1_000.0)  # its account changes: the next cycle writes it
    assert _wait_for(lambda: held.held is not None)
    assert _wait_for(lambda: projection.stats()["late_writes"] == 1)


def test_late_writes_landing_after_a_kernel_closed_do_not_take_its_close_back(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """An account write held by the member past the late limit, and the kernel closed meanwhile: its
    closing record (``closed_at``) went out after, and the held write, older, landed on it. The
    kernel detached, nothing published it again: its account said it ran (until it went stale).
    Once the held write lands, the closed kernel is published again in full, ``closed_at`` set."""
    projection, held = _held_projection(hz_member, kernel_id)
    other = ExecutionKernel(max_slots=1, projection=projection, kernel_id=f"{kernel_id}-other")
    kernel = ExecutionKernel(max_slots=2, venue=make_venue(), projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=WAIT_S)
        _hold_an_account_write(kernel, projection, held)
        kernel.close()
        account = read_map(hz_client, ACCOUNTS_MAP)[kernel_id]
        closed = closed_at(account)
        assert closed is not None and account["seed_capital"] == 1_000.0
        held.land()  # the older write, closed_at null, lands over the closing record
        assert _wait_for(lambda: closed_at(read_map(hz_client, ACCOUNTS_MAP)[kernel_id]) == closed)
        assert projected(hz_client, kernel_id) == expected(kernel.snapshot())
    finally:
        kernel.close()
        other.close()


def test_a_projection_closed_with_writes_out_of_a_closed_kernel_says_its_close_may_be_taken_back(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The projection closed with the kernel (its last one): nothing can publish it again once the
    held write lands, so the close says so, naming the kernel."""
    projection, held = _held_projection(hz_member, kernel_id)
    kernel = ExecutionKernel(max_slots=2, venue=make_venue(), projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=WAIT_S)
        _hold_an_account_write(kernel, projection, held)
    finally:
        kernel.close()
    assert closed_at(read_map(hz_client, ACCOUNTS_MAP)[kernel_id]) is not None
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    said = [m for m in warned if "take closed_at back" in m]
    assert len(said) == 1, warned
    assert f"kernels [{kernel_id!r}]" in said[0] and "sent before they closed" in said[0]


def test_a_cycle_that_took_a_kernel_before_it_closed_does_not_take_its_close_back(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that listed the kernels just before a closing kernel was detached wrote that
    kernel's account after, its heartbeat due, without closed_at (dropped at the detach): the
    kernel read as running."""
    import threading

    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=0.01, heartbeat=0.05
    )
    other_id = f"{kernel_id}-other"
    detaching, parked, detached = threading.Event(), threading.Event(), threading.Event()
    real_publish, real_detach = projection._publish_kernel, projection._detach

    def publish(kid: str, kernel: ExecutionKernel, *args: Any, **kwargs: Any) -> Any:
        if kid == other_id and detaching.is_set() and not parked.is_set():
            parked.set()  # this cycle listed the closing kernel (still attached), after `other`
            assert detached.wait(WAIT_S)
        return real_publish(kid, kernel, *args, **kwargs)

    def detach(kernel: ExecutionKernel) -> bool:
        if kernel.kernel_id == kernel_id:
            detaching.set()
            assert parked.wait(WAIT_S)
            time.sleep(0.1)  # its heartbeat due again
        try:
            return real_detach(kernel)
        finally:
            if kernel.kernel_id == kernel_id:
                detached.set()

    monkeypatch.setattr(projection, "_publish_kernel", publish)
    monkeypatch.setattr(projection, "_detach", detach)
    other = ExecutionKernel(max_slots=1, projection=projection, kernel_id=other_id)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=WAIT_S)
        kernel.close()
        assert projection.sync(timeout=WAIT_S)  # the cycle let go after the detach is done
        assert closed_at(read_map(hz_client, ACCOUNTS_MAP)[kernel_id]) is not None
    finally:
        kernel.close()
        other.close()


def test_a_closed_kernel_republished_does_not_write_over_a_kernel_attached_since_under_its_id(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that took a closed kernel to publish again (its close taken back by a late write)
    and a kernel attached under its id before the cycle wrote it: the closed kernel's account,
    ``closed_at`` set, went over the new kernel's, which read as closed until its own publish."""
    projection, held = _held_projection(hz_member, kernel_id)
    other = ExecutionKernel(max_slots=1, projection=projection, kernel_id=f"{kernel_id}-other")
    old = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    new: list[ExecutionKernel] = []
    written: list[Any] = []
    real_publish, real_set = projection._publish_kernel, held.set

    def publish(kid: str, kernel: ExecutionKernel, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("closed_again") is not None and not new:
            # The cycle took the closed kernel; a kernel of its id is attached before it writes.
            new.append(ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id))
        return real_publish(kid, kernel, *args, **kwargs)

    def record(key: str, value: Any) -> Any:
        if key == kernel_id and new:
            written.append(value.loads())
        return real_set(key, value)

    try:
        assert projection.sync(timeout=WAIT_S)
        old.close()
        monkeypatch.setattr(projection, "_publish_kernel", publish)
        monkeypatch.setattr(held, "set", record)
        closed = closed_at(read_map(hz_client, ACCOUNTS_MAP)[kernel_id])
        with projection._lock:  # as a late write landing after its closing record leaves it
            projection._closed_again[kernel_id] = (old, closed)
        projection._wake.set()
        assert _wait_for(lambda: bool(new))
        assert projection.sync(timeout=WAIT_S)
        assert written and [closed_at(a) for a in written] == [None] * len(written), written
        assert closed_at(read_map(hz_client, ACCOUNTS_MAP)[kernel_id]) is None
    finally:
        for kernel in new:
            kernel.close()
        old.close()
        other.close()


class UnansweredSql:
    """The client's SQL service of a member that takes every statement and answers none."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def execute(self, sql: str, *params: Any, **kwargs: Any) -> Any:
        from hazelcast.future import Future

        self.sent.append(sql)
        return Future()  # never answered


def test_an_sql_mapping_the_member_never_answers_does_not_stall_the_projection(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """The mappings are made on the publisher's thread at its first cycle: a statement left
    unanswered held that thread, so nothing was ever published, without a word."""
    projection = HazelcastProjection(
        [hz_member.address], hz_member.cluster_name, interval=0.01, invocation_timeout=1.0
    )
    sql = UnansweredSql()
    projection._client._sql_service = sql
    kernel = ExecutionKernel(max_slots=4, venue=make_venue(), projection=projection, kernel_id=kernel_id)
    try:
        assert _wait_for(lambda: len(projected(hz_client, kernel_id)["slots"]) == 4), (
            "nothing published while a mapping statement went unanswered"
        )
        error = projection.stats()["mapping_error"]
        assert "not answered within 2s" in error, error
        assert sql.sent[0].split("(")[0].strip() in error  # names the statement left unanswered
        assert len(sql.sent) == 1  # the rest are not sent after it; tried again later
    finally:
        kernel.close()
