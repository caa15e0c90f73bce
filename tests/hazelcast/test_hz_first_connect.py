"""A projection's first connection: a kernel closed before it came, a cluster never reached."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from hz_helpers import projected

from dita import ExecutionKernel, KernelIntent
from dita.projection.hazelcast import ACCOUNTS_MAP, HazelcastProjection, LifecycleState, connection, read_map
from dita.services.hazelcast import HazelcastMember, free_port


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the projection warned (the client's own connection warnings left out)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "dita.projection.hazelcast"
    ]


def _wait_for(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def test_a_kernel_closed_just_after_a_slow_first_connection_still_publishes_its_last_state(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client connects in the background: a kernel closed before that (a short script,
    a backtest) skipped the flush, so the maps never held any of it, and nothing said so. Its
    attach waits for the first connection (to claim its id), and its close publishes."""
    real_on_lifecycle = HazelcastProjection._on_lifecycle

    def late_connect(self: HazelcastProjection, state: str) -> None:
        if state != LifecycleState.CONNECTED:
            real_on_lifecycle(self, state)
            return
        # The connection is reported half a second late, as from a slow network.
        threading.Timer(0.5, real_on_lifecycle, (self, state)).start()

    monkeypatch.setattr(HazelcastProjection, "_on_lifecycle", late_connect)
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 0, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
    assert kernel.process_intent(enter).state.name == "POSITION_OPEN"
    kernel.close()
    rows = projected(hz_client, kernel_id)
    assert rows["slots"] and rows["slots"][0]["fsm_state"] == "POSITION_OPEN", rows
    assert read_map(hz_client, ACCOUNTS_MAP)[kernel_id]["closed_at"] is not None


def test_a_cluster_never_reached_is_said_and_so_is_a_close_that_published_nothing(
    kernel_id: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A projection whose cluster never answered said nothing at all (the client retries in
    silence): operators were blind to the kernel, and its close dropped its state quietly."""
    monkeypatch.setattr(connection, "FIRST_CONNECT_WAIT_S", 0.2)
    caplog.set_level(logging.WARNING, logger="dita.projection.hazelcast")
    address = f"127.0.0.1:{free_port()}"
    projection = HazelcastProjection([address], "nobody-home", interval=0.01)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        assert _wait_for(lambda: any("cannot reach" in m for m in _warnings(caplog)), timeout=30)
        said = next(m for m in _warnings(caplog) if "cannot reach" in m)
        assert address in said and "nobody-home" in said, said
        assert sum("cannot reach" in m for m in _warnings(caplog)) == 1  # once, not every cycle
    finally:
        kernel.close()
    closed = [m for m in _warnings(caplog) if kernel_id in m]
    assert closed and "not published" in closed[-1], _warnings(caplog)


def test_a_cluster_reached_late_says_so_as_a_warning(
    member_factory: Any, kernel_id: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After "cannot reach", the last word an operator reads must not stay "cannot reach"."""
    monkeypatch.setattr(connection, "FIRST_CONNECT_WAIT_S", 0.2)
    caplog.set_level(logging.WARNING, logger="dita.projection.hazelcast")
    member: HazelcastMember = member_factory("dita-late-proj", free_port())
    projection = HazelcastProjection([member.address], member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    try:
        assert _wait_for(lambda: any("cannot reach" in m for m in _warnings(caplog)), timeout=30)
        member.start()
        assert projection.sync(timeout=60)
        last = _warnings(caplog)[-1]
        assert "reached" in last and member.address in last, _warnings(caplog)
    finally:
        kernel.close()
