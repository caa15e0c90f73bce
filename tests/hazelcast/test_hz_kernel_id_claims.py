"""One projection at a time holds a kernel id in the cluster (``dita_kernel_claims``), so two
kernels of one id never overwrite each other's slots, account and control entries. A holder taken
for gone is taken over, as readers take a kernel for gone."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from hz_helpers import eventually, expected, make_venue, projected

from attach_race import attach_at_once
from dita import ExecutionKernel, KernelIntent
from dita.projection.hazelcast import HazelcastJsonValue, HazelcastProjection, publisher, publishing_cycle
from dita.projection.hazelcast.claims import CLAIMS_MAP
from dita.services.hazelcast import HazelcastMember

# A holder on another machine.
_OTHER: dict[str, Any] = {"holder": "desk-7 pid 4242", "host": "desk-7", "pid": 4242}


def _projection(member: HazelcastMember, **kwargs: Any) -> HazelcastProjection:
    projection = HazelcastProjection([member.address], member.cluster_name, interval=0.01, **kwargs)
    assert projection.sync(timeout=30)  # connected: the claim is made by attach itself
    return projection


def _claim_by_hand(hz_client: Any, kernel_id: str, **fields: Any) -> None:
    value = {"kernel_id": kernel_id, "token": "by-hand", "projected_at": time.time(), **fields}
    hz_client.get_map(CLAIMS_MAP).blocking().put(kernel_id, HazelcastJsonValue(json.dumps(value)))


def _holder(hz_client: Any, kernel_id: str) -> dict[str, Any] | None:
    value = hz_client.get_map(CLAIMS_MAP).blocking().get(kernel_id)
    return None if value is None else dict(json.loads(value.to_string()))


def test_two_clients_attaching_one_kernel_id_at_once_admit_one_and_refuse_the_other(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    projections = [_projection(hz_member), _projection(hz_member)]
    kernels = [ExecutionKernel(max_slots=1, kernel_id=kernel_id) for _ in projections]
    start = threading.Barrier(2)
    outcomes: list[BaseException | None] = [None, None]

    def attach(n: int) -> None:
        start.wait()
        try:
            projections[n].attach(kernels[n])
        except BaseException as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=attach, args=(n,)) for n in (0, 1)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        refused = [exc for exc in outcomes if exc is not None]
        assert len(refused) == 1, outcomes
        winner = outcomes.index(None)
        assert isinstance(refused[0], ValueError)
        holder = f"{socket.gethostname()} pid {os.getpid()}"
        assert f"kernel_id {kernel_id!r} is already projected by {holder}" in str(refused[0])
        assert [p.stats()["kernels"] for p in projections] == [int(n == winner) for n in (0, 1)]
        assert kernels[1 - winner].projection_changes() == ({}, None, None)  # the loser tracks nothing
        assert projections[winner].sync(timeout=30)
        assert (_holder(hz_client, kernel_id) or {})["pid"] == os.getpid()
    finally:
        for kernel in kernels:
            kernel.close()
        for projection in projections:
            projection.close()
    assert _holder(hz_client, kernel_id) is None  # released by the close: the id is free at once


def test_a_kernel_id_held_by_a_live_process_elsewhere_is_refused_naming_it(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    _claim_by_hand(hz_client, kernel_id, **_OTHER)
    projection = _projection(hz_member)
    try:
        said = rf"kernel_id '{kernel_id}' is already projected by desk-7 pid 4242"
        with pytest.raises(ValueError, match=said):
            ExecutionKernel(max_slots=1, kernel_id=kernel_id, projection=projection)
        assert projection.stats()["kernels"] == 0
        assert (_holder(hz_client, kernel_id) or {})["holder"] == "desk-7 pid 4242"  # left as it was
    finally:
        projection.close()
        hz_client.get_map(CLAIMS_MAP).blocking().remove(kernel_id)


def test_a_kernel_id_whose_holder_went_silent_is_taken_over(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A holder that crashed on another machine stops renewing its claim: after LIVE_WITHIN_S
    (30 s) it is taken for gone, as readers take its kernel for gone."""
    silent = time.time() - 31
    _claim_by_hand(hz_client, kernel_id, **_OTHER, projected_at=silent)
    projection = _projection(hz_member)
    caplog.set_level(logging.WARNING, logger="dita.projection.hazelcast")
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id, projection=projection)
    try:
        assert (_holder(hz_client, kernel_id) or {})["pid"] == os.getpid()
        assert f"kernel {kernel_id} taken over from desk-7 pid 4242, taken for gone" in caplog.text
    finally:
        kernel.close()
        projection.close()


def test_a_kernel_id_whose_holder_died_on_this_machine_is_taken_over_at_once(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A restart after a crash need not wait for the crashed process's claim to grow stale."""
    said_pid = [sys.executable, "-c", "import os; print(os.getpid())"]
    dead = subprocess.run(said_pid, capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    host = socket.gethostname()
    _claim_by_hand(hz_client, kernel_id, holder=f"{host} pid {pid}", host=host, pid=pid)
    projection = _projection(hz_member)
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id, projection=projection)
    try:
        assert (_holder(hz_client, kernel_id) or {})["pid"] == os.getpid()
    finally:
        kernel.close()
        projection.close()


def test_a_holder_whose_id_was_taken_over_stops_projecting_it(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A holder cut off past LIVE_WITHIN_S is taken over; back, it finds out at its next renewal
    and leaves the entries to the new holder instead of overwriting them."""
    projection = _projection(hz_member, heartbeat=0.2)
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id, projection=projection)
    try:
        assert projection.stats()["kernels"] == 1
        _claim_by_hand(hz_client, kernel_id, **_OTHER)
        caplog.set_level(logging.ERROR, logger="dita.projection.hazelcast")
        assert eventually(lambda: projection.stats()["kernels"] == 0)
        assert f"hazelcast projection stops projecting kernel {kernel_id}" in caplog.text
        assert "already projected by desk-7 pid 4242" in caplog.text
        assert (_holder(hz_client, kernel_id) or {})["holder"] == "desk-7 pid 4242"
    finally:
        kernel.close()
        projection.close()
        hz_client.get_map(CLAIMS_MAP).blocking().remove(kernel_id)


def test_two_kernels_of_one_id_attached_at_once_to_one_projection_take_one(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    """The id is reserved under the projection's lock before the kernel's tracking is turned on,
    so the second cannot pass the check while the first turns it on."""
    projection = _projection(hz_member)
    try:
        said = f"kernel_id {kernel_id!r} is already attached to this projection"
        assert attach_at_once(projection, kernel_id, timeout=30) == [said]
        assert projection.stats()["kernels"] == 1
    finally:
        projection.close()


class _BusyKernel(ExecutionKernel):
    """A kernel held by another thread's call past its wait when its tracking is turned on or off
    (``busy_on``), and ``on_enable`` run first when it is turned on."""

    busy_on: tuple[bool, ...] = ()
    on_enable: Any = None

    def set_projection_enabled(self, enabled: bool) -> Any:
        if enabled and self.on_enable is not None:
            self.on_enable()
        if enabled in self.busy_on:
            raise RuntimeError("ExecutionKernel is busy in another thread (waited 10 s)")
        return super().set_projection_enabled(enabled)


def test_an_attach_refused_by_a_busy_kernel_leaves_its_id_free(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """The id is claimed before the kernel's tracking is turned on: a kernel too busy to turn it on
    leaves nothing attached, and its id free to the retry and to every other process."""
    projection = _projection(hz_member)
    busy = _BusyKernel(max_slots=1, kernel_id=kernel_id)
    busy.busy_on = (True,)
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id)
    try:
        with pytest.raises(RuntimeError, match="busy in another thread"):
            projection.attach(busy)
        assert projection.stats()["kernels"] == 0
        assert _holder(hz_client, kernel_id) is None
        projection.attach(kernel)
        assert (_holder(hz_client, kernel_id) or {})["pid"] == os.getpid()
    finally:
        busy.close()
        kernel.close()
        projection.close()


def test_an_attach_the_projection_closed_under_leaves_its_id_to_this_process(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    """A projection closed while a kernel attaches gives its claim up, the kernel too busy to turn
    its tracking back off: another projection of this process takes the id."""
    projection = _projection(hz_member)
    busy = _BusyKernel(max_slots=1, kernel_id=kernel_id)
    busy.busy_on = (False,)
    busy.on_enable = projection.close
    later = _projection(hz_member)
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id)
    try:
        with pytest.raises(RuntimeError, match="HazelcastProjection is closed"):
            projection.attach(busy)
        later.attach(kernel)
        assert later.stats()["kernels"] == 1
    finally:
        busy.busy_on = ()
        busy.close()
        kernel.close()
        later.close()


def test_a_projection_closed_on_another_thread_during_an_attach_leaves_the_id_free_in_the_cluster(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A close that runs between the attach's claim and its check after it leaves the client to
    the attach, which removes its claim before shutting the client down: removed by neither, the
    claim kept a restart of that id, in another process, refused for 30 s."""
    projection = _projection(hz_member)
    kernel = _BusyKernel(max_slots=1, kernel_id=kernel_id)
    closer = threading.Thread(target=projection.close)

    def close_and_wait() -> None:
        assert (_holder(hz_client, kernel_id) or {})["pid"] == os.getpid()  # claimed already
        closer.start()
        closer.join(30)

    kernel.on_enable = close_and_wait
    try:
        with pytest.raises(RuntimeError, match="HazelcastProjection is closed"):
            projection.attach(kernel)
        assert not closer.is_alive()
        assert _holder(hz_client, kernel_id) is None
        assert not projection._client.lifecycle_service.is_running()  # shut down by the attach
        assert kernel.projection_changes() == ({}, None, None)  # its tracking turned back off
    finally:
        kernel.close()
        projection.close()


def test_a_close_that_ends_after_an_attach_under_it_removes_every_claim(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """The attach under way removes its own claim and leaves the client to the close still
    removing the claims of the kernels it served: shut down by the attach, it left those claims
    for 30 s."""
    projection = _projection(hz_member)
    served = ExecutionKernel(max_slots=1, kernel_id=f"{kernel_id}-a", projection=projection)
    attaching = _BusyKernel(max_slots=1, kernel_id=f"{kernel_id}-b")
    closer = threading.Thread(target=projection.close)
    releasing, attached = threading.Event(), threading.Event()
    release_claims = projection._release_claims

    def release_after_the_attach(held: Any) -> None:
        if threading.current_thread() is closer:
            releasing.set()
            attached.wait(30)
        release_claims(held)

    def close_until_it_releases() -> None:
        closer.start()
        assert releasing.wait(30)

    projection._release_claims = release_after_the_attach  # type: ignore[method-assign]
    attaching.on_enable = close_until_it_releases
    try:
        with pytest.raises(RuntimeError, match="HazelcastProjection is closed"):
            projection.attach(attaching)
        attached.set()
        closer.join(30)
        assert not closer.is_alive()
        assert [_holder(hz_client, f"{kernel_id}-{n}") for n in "ab"] == [None, None]
        assert not projection._client.lifecycle_service.is_running()  # shut down by the close
    finally:
        attached.set()
        served.close()
        attaching.close()
        projection.close()


def _entry(kernel_id: str, slot_id: int) -> KernelIntent:
    n = f"{kernel_id}-{slot_id}"
    return KernelIntent(f"{n}-e", f"{n}-t", slot_id, "BTC-USD", "LONG", "ENTER", 60_000.0, 0.01)


def test_a_detach_refused_by_a_busy_kernel_leaves_it_attached_and_a_retry_detaches_it(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """Tracking is turned off before the kernel leaves: too busy for that, it stays attached,
    projected and its id held, and the error says so. Taken off regardless, it kept tracking
    changes nobody read, and a second detach found nothing to do."""
    projection = _projection(hz_member)
    busy = _BusyKernel(max_slots=2, kernel_id=kernel_id, venue=make_venue())
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id)
    try:
        projection.attach(busy)
        busy.busy_on = (False,)
        said = rf"kernel_id '{kernel_id}' stays attached to this projection.*busy in another thread"
        with pytest.raises(RuntimeError, match=said):
            projection.detach(busy)
        assert projection.stats()["kernels"] == 1
        assert busy.process_intent(_entry(kernel_id, 0)).accepted
        assert projection.sync(timeout=30)
        assert projected(hz_client, kernel_id) == expected(busy.snapshot())  # still projected
        assert (_holder(hz_client, kernel_id) or {})["pid"] == os.getpid()
        busy.busy_on = ()
        projection.detach(busy)
        assert projection.stats()["kernels"] == 0
        assert busy.process_intent(_entry(kernel_id, 1)).accepted
        assert busy.projection_changes()[0] == {}  # its slots' changes no longer tracked
        assert _holder(hz_client, kernel_id) is None
        projection.attach(kernel)
        assert projection.stats()["kernels"] == 1
    finally:
        busy.busy_on = ()
        busy.close()
        kernel.close()
        projection.close()


def test_a_close_with_a_busy_kernel_frees_every_id_and_turns_the_other_kernels_tracking_off(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A projection closed while a kernel of its is too busy to turn its tracking off gives the
    claims up, turns the other kernels' tracking off and names the busy one at WARNING, without
    raising, so no kernel after the busy one is left tracking."""
    projection = _projection(hz_member)
    busy = _BusyKernel(max_slots=2, kernel_id=kernel_id, venue=make_venue())
    other = ExecutionKernel(max_slots=2, kernel_id=f"{kernel_id}-b", venue=make_venue())
    try:
        projection.attach(busy)
        projection.attach(other)
        busy.busy_on = (False,)
        with caplog.at_level(logging.WARNING, logger="dita.projection.hazelcast"):
            projection.close()
        assert f"kernels ['{kernel_id}'] were busy in another call" in caplog.text
        assert [_holder(hz_client, k) for k in (kernel_id, f"{kernel_id}-b")] == [None, None]
        assert other.process_intent(_entry(f"{kernel_id}-b", 0)).accepted
        assert other.projection_changes()[0] == {}  # its tracking is off
    finally:
        busy.busy_on = ()
        busy.close()
        other.close()
        projection.close()


def test_a_busy_kernel_closing_leaves_its_projection_named_at_warning_and_closes_it_as_the_last(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel's close takes it off its projection whatever its state: too busy to turn its
    tracking off, it leaves, named at WARNING, its id freed and, the last kernel, the projection
    closed, without raising; raised, the projection stayed open with no kernel to close it."""
    projection = _projection(hz_member)
    busy = _BusyKernel(max_slots=2, kernel_id=kernel_id, venue=make_venue(), projection=projection)
    try:
        busy.busy_on = (False,)
        with caplog.at_level(logging.WARNING, logger="dita.projection.hazelcast"):
            busy.close()
        said = f"hazelcast projection detached a kernel while kernels ['{kernel_id}'] were busy"
        assert said in caplog.text
        assert projection.stats()["kernels"] == 0
        assert _holder(hz_client, kernel_id) is None
        assert not projection._client.lifecycle_service.is_running()  # closed with its last kernel
    finally:
        busy.busy_on = ()
        busy.close()
        projection.close()


def test_a_kernel_detached_while_the_publisher_claims_its_id_leaves_the_id_free(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel attached unclaimed is claimed by the publisher; detached while that claim is out,
    its detach finds none to remove, so the claim written then is removed once it is answered:
    left, it would keep the id from every other process for 30 s."""
    projection = _projection(hz_member)
    kernel = ExecutionKernel(max_slots=1, kernel_id=kernel_id)
    detached = threading.Event()

    def unanswered(*_: Any, **__: Any) -> Any:
        raise TimeoutError("the claim is not answered")  # attach leaves it to the publisher

    def claim_then_detach(claims: Any, kid: str, token: str, timeout: float) -> Any:
        held = real_claim(claims, kid, token, timeout)
        if kid == kernel_id and not detached.is_set():
            projection.detach(kernel)
            detached.set()
        return held

    real_claim = publishing_cycle.claim
    monkeypatch.setattr(publisher, "claim", unanswered)
    monkeypatch.setattr(publishing_cycle, "claim", claim_then_detach)
    try:
        projection.attach(kernel)
        assert detached.wait(30)
        assert projection.sync(timeout=30)
        assert projection.stats()["kernels"] == 0
        assert _holder(hz_client, kernel_id) is None
    finally:
        kernel.close()
        projection.close()
