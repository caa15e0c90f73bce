"""Fixtures for the Hazelcast tests: a real member started here, on a free loopback port.

One member serves the whole session (a JVM start is the expensive part); tests that stop
or kill members start their own. Nothing is assumed to be running beforehand, and every
member is tied to the test process (``exit_with_parent``): a run killed before its teardown
leaves none running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dita.control.hazelcast import CONTROL_PLANE_MAP
from dita.projection.hazelcast import connect_client
from dita.services.hazelcast import HazelcastMember, fetch_jars, free_port


@pytest.fixture(scope="session")
def hz_jars() -> list[Path]:
    # Fetched by `make hazelcast-jar`; fetched here too so the suite also runs on its own.
    return fetch_jars()


@pytest.fixture(scope="session")
def hz_member(hz_jars: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HazelcastMember]:
    member = HazelcastMember(
        port=free_port(),
        cluster_name="dita-test",
        state_dir=tmp_path_factory.mktemp("hz-session"),
        exit_with_parent=True,
    )
    member.start()
    yield member
    member.stop()


@pytest.fixture(scope="session")
def hz_address(hz_member: HazelcastMember) -> str:
    return hz_member.address


@pytest.fixture(scope="session")
def hz_client(hz_member: HazelcastMember) -> Iterator[Any]:
    client = connect_client([hz_member.address], hz_member.cluster_name, block=True, connect_timeout=30)
    yield client
    client.shutdown()


@pytest.fixture()
def kernel_id() -> str:
    """A kernel id no other test uses, so tests sharing the member never see each other's keys."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def member_factory(hz_jars: list[Path], tmp_path: Path) -> Iterator[Any]:
    """Start extra members (for fault tests); every one still running is killed afterwards."""
    started: list[HazelcastMember] = []

    def make(cluster_name: str, port: int | None = None, peer_ports: tuple[int, ...] = ()) -> HazelcastMember:
        port = port or free_port()
        member = HazelcastMember(
            port=port,
            cluster_name=cluster_name,
            peer_ports=peer_ports,
            state_dir=tmp_path / f"member-{port}",
            exit_with_parent=True,
        )
        started.append(member)
        return member

    yield make
    for member in started:
        member.stop(kill=True)


@pytest.fixture()
def traded(hz_member: HazelcastMember, kernel_id: str) -> Iterator[Any]:
    """A kernel with one fill (an open position), projected and still running."""
    from dita import ExecutionKernel, KernelIntent
    from dita.projection.hazelcast import HazelcastProjection

    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(max_slots=2, projection=projection, kernel_id=kernel_id)
    kernel.set_seed_capital(1_000.0)
    enter = KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 0, "ETH-USD", "LONG", "ENTER", 3_000.0, 0.1)
    assert kernel.process_intent(enter).state.name == "POSITION_OPEN"
    assert projection.sync(timeout=30)
    yield kernel
    kernel.close()


@pytest.fixture()
def clean_control_entries(hz_client: Any) -> Iterator[None]:
    """Entries are cluster-wide: a global HALTED left behind would halt the next test's kernels."""
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    entries.clear()
    yield
    entries.clear()
