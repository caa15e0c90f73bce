"""A control entry another client wrote with a serializer of its own: the control plane's reads
skip it, naming it, and read every other entry."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from hazelcast.config import IntType
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
        assert mode(kernel) == "HALTED"  # from its own entries, read before attach returns
        assert plane.wait_synced(timeout=30)  # the read of every entry follows
        assert plane.status()["last_error"] == ""
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
    write_entry(hz_client, kernel_id if which == "own" else None, {"mode": "HALTED"})
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert mode(kernel) == "HALTED"
        assert plane.wait_synced(timeout=30)  # attach returns once its own entries are read
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
    again_plane = _plane(hz_member)
    again = ExecutionKernel(max_slots=2, control_plane=again_plane, kernel_id=kernel_id)
    try:
        assert mode(again) == "PAPER"  # its own default: nothing it could read sets another
        assert again_plane.wait_synced(timeout=30)
        assert f"skipped entry {key!r} of {CONTROL_PLANE_MAP}: {WHY}" in "\n".join(_errors(caplog))
    finally:
        again.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


REPLACED = (
    f"control entry {{key!r}}: replaced a value this client cannot decode (serializer type id "
    f"{FOREIGN_TYPE_ID}, another client's)"
)


@pytest.mark.parametrize("how", ["write_entry", "plane"])
def test_a_global_halt_replaces_an_undecodable_global_entry_and_says_so(
    hz_member: HazelcastMember,
    hz_client: Any,
    foreign: Any,
    kernel_id: str,
    how: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The global entry written by another client's serializer: a global HALTED (its write put the
    entry if absent, and the answer, that entry, could not be decoded) failed as "unavailable",
    every time, so no operator could halt the cluster. It replaces that entry, said as a warning."""
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        foreign.set("*", Foreign())
        if how == "write_entry":
            written = write_entry(hz_client, None, {"mode": "HALTED"})
        else:
            written = plane.set(mode="HALTED")
        assert written["mode"] == "HALTED"
        assert eventually(lambda: mode(kernel) == "HALTED")
        stored = hz_client.get_map(CONTROL_PLANE_MAP).blocking().get("*")
        assert stored.loads()["mode"] == "HALTED"
        said = [m for m in _warnings(caplog) if "replaced a value" in m]
        assert len(said) == 1 and said[0].startswith(REPLACED.format(key="*")), _warnings(caplog)
        assert "mode=HALTED" in said[0]
    finally:
        kernel.close()


def test_a_kernel_s_write_goes_through_an_undecodable_global_entry_and_replaces_its_own(
    hz_member: HazelcastMember, hz_client: Any, foreign: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel's write reads its own entry and the global one: either undecodable failed it as
    "unavailable". The global one, unread, is skipped, named; its own is replaced, named."""
    foreign.set("*", Foreign())
    foreign.set(kernel_id, Foreign())
    written = write_entry(hz_client, kernel_id, {"mode": "HALTED"})
    assert written["mode"] == "HALTED"
    assert hz_client.get_map(CONTROL_PLANE_MAP).blocking().get(kernel_id).loads()["mode"] == "HALTED"
    said = _warnings(caplog)
    assert f"skipped entry '*' of {CONTROL_PLANE_MAP}: {WHY}" in said, said
    assert [m for m in said if m.startswith(REPLACED.format(key=kernel_id))], said
    assert isinstance(foreign.get("*"), Foreign)  # the global entry is not this write's


@pytest.mark.parametrize("which", ["*", "own"])
def test_a_halt_replaces_a_number_another_client_stored_as_a_long(
    hz_member: HazelcastMember, hz_client: Any, foreign: Any, kernel_id: str, which: str
) -> None:
    """A number a Java client stored is a Long, which this client reads back as an int and sends
    as an INT: the write's compare-and-set, given that, never matched the entry, and after 50 tries
    the halt failed ("kept changing under us") until someone removed the entry by hand. It is
    replaced, by the bytes the member holds, through `dita control set` too."""
    java_like = HazelcastClient(
        cluster_name=hz_member.cluster_name,
        cluster_members=[hz_member.address],
        default_int_type=IntType.LONG,
    )
    key = "*" if which == "*" else kernel_id
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    try:
        java_like.get_map(CONTROL_PLANE_MAP).blocking().put(key, 1)
        written = write_entry(hz_client, None if which == "*" else kernel_id, {"mode": "HALTED"})
        assert written["mode"] == "HALTED"
        assert entries.get(key).loads()["mode"] == "HALTED"
        java_like.get_map(CONTROL_PLANE_MAP).blocking().put(key, 2)
        where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
        app = typer.Typer()
        control_cli.register(app)
        args = ["control", "set", "--mode", "REDUCE_ONLY", *where]
        if which == "own":
            args += ["--kernel", kernel_id, "--new-kernel"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (result.output, result.exception)
        assert entries.get(key).loads()["mode"] == "REDUCE_ONLY"
    finally:
        java_like.shutdown()


@pytest.mark.parametrize("which", ["own", "*", "other"])
def test_an_event_of_an_undecodable_value_is_skipped_and_the_connection_kept(
    hz_member: HazelcastMember,
    hz_client: Any,
    foreign: Any,
    kernel_id: str,
    which: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client decoded an event's value before the plane's listener saw it, and the failure
    closed the client's connection: every such write took the plane away ("unreachable") until it
    reconnected, and a HALTED written meanwhile waited for the resync. The event is skipped, said;
    the entry counts as gone, as a read counts it; the connection stays."""
    key = {"own": kernel_id, "*": "*", "other": f"{kernel_id}-other"}[which]
    write_entry(hz_client, None if key == "*" else key, {"mode": "REDUCE_ONLY"})
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert mode(kernel) == ("PAPER" if which == "other" else "REDUCE_ONLY")
        assert plane.wait_synced(timeout=30)  # the listener is added by the read of every entry
        foreign.set(key, Foreign())
        skipped = f"control entry {key!r}: event skipped, its value is {WHY}"
        assert eventually(lambda: any(m.startswith(skipped) for m in _warnings(caplog))), _warnings(caplog)
        assert eventually(lambda: key not in plane.entries())
        write_entry(hz_client, None, {"mode": "HALTED"})  # an event, with the connection still there
        assert eventually(lambda: mode(kernel) == "HALTED")
        assert plane.wait_synced(timeout=30) and plane.status()["connected"]
        said = _warnings(caplog)
        assert not [m for m in said if "unreachable" in m or "reachable again" in m], said
    finally:
        kernel.close()
