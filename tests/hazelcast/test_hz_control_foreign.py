"""A control entry another client wrote with a serializer of its own: the control plane's reads
skip it, naming it, and read every other entry."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from hz_helpers import FOREIGN_TYPE_ID, Foreign, ForeignSerializer, eventually, mode
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import control as control_cli
from dita.control.hazelcast import CONTROL_PLANE_MAP, HazelcastControlPlane, write_entry
from dita.projection.hazelcast import HazelcastClient
from dita.services.hazelcast import HazelcastMember

WHY = f"not a value this client can decode (serializer type id {FOREIGN_TYPE_ID})"


@pytest.fixture()
def foreign(hz_member: HazelcastMember, hz_client: Any) -> Iterator[Any]:
    """The control entries' map as another application's client sees it, cleared before and after
    (a global HALTED left behind would halt the next test's kernels)."""
    writer = HazelcastClient(
        cluster_name=hz_member.cluster_name,
        cluster_members=[hz_member.address],
        custom_serializers={Foreign: ForeignSerializer},
    )
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    entries.clear()
    try:
        yield writer.get_map(CONTROL_PLANE_MAP).blocking()
    finally:
        entries.clear()
        writer.shutdown()


def _plane(member: HazelcastMember) -> HazelcastControlPlane:
    return HazelcastControlPlane([member.address], member.cluster_name)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_another_entry_no_reader_can_decode_is_skipped_naming_it(
    hz_member: HazelcastMember, hz_client: Any, foreign: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One such value failed the decoding of the whole read: a kernel never read its entries (a
    global HALTED did not reach it, the plane retried forever), and a global write (`dita control
    set` without --kernel, an emergency halt) failed. The entry is skipped, named; the rest is read."""
    other = f"{kernel_id}-other"
    foreign.set(other, Foreign())
    said: list[str] = []
    write_entry(hz_client, None, {"mode": "HALTED"}, warn=said.append)
    assert said == [f"skipped entry {other!r} of {CONTROL_PLANE_MAP}: {WHY}"]
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert mode(kernel) == "HALTED"
        assert plane.status()["in_sync"] and plane.status()["last_error"] == ""
        assert f"skipped entry {other!r} of {CONTROL_PLANE_MAP}: {WHY}" in "\n".join(_errors(caplog))
        assert set(plane.entries()) == {"*"}
        where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
        app = typer.Typer()
        control_cli.register(app)
        result = CliRunner().invoke(app, ["control", "set", "--mode", "REDUCE_ONLY", *where])
        assert result.exit_code == 0, result.output
        assert f"warning: skipped entry {other!r} of {CONTROL_PLANE_MAP}: {WHY}" in result.stderr
        assert eventually(lambda: mode(kernel) == "REDUCE_ONLY")
    finally:
        kernel.close()


@pytest.mark.parametrize("which", ["own", "*"])
def test_a_kernel_whose_entry_no_reader_can_decode_keeps_its_mode_and_says_so(
    hz_member: HazelcastMember,
    hz_client: Any,
    foreign: Any,
    kernel_id: str,
    which: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its own entry (or the global one) undecodable, a kernel does as with an entry that is not a
    JSON object: the entry is logged as an error and sets nothing. A HALTED kernel stays HALTED,
    not LIVE; one starting is in its own local mode, said."""
    key = kernel_id if which == "own" else "*"
    write_entry(hz_client, key, {"mode": "HALTED"})
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert mode(kernel) == "HALTED"
        foreign.set(key, Foreign())
        plane._synced.clear()  # what a reconnect (or the periodic read) does: read every entry
        plane._resync_needed = True
        plane._wake.set()
        assert plane.wait_synced(timeout=20)
        assert plane.status()["last_error"] == ""
        assert f"skipped entry {key!r} of {CONTROL_PLANE_MAP}: {WHY}" in "\n".join(_errors(caplog))
        assert key not in plane.entries()
        assert mode(kernel) == "HALTED"
    finally:
        kernel.close()
    caplog.clear()
    again = ExecutionKernel(max_slots=2, control_plane=_plane(hz_member), kernel_id=kernel_id)
    try:
        assert mode(again) == "PAPER"  # its own default: nothing it could read sets another
        assert f"skipped entry {key!r} of {CONTROL_PLANE_MAP}: {WHY}" in "\n".join(_errors(caplog))
    finally:
        again.close()
