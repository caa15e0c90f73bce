"""HazelcastControlPlane and `dita control` against a real member."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

import pytest
import typer
from hz_helpers import Child, btc_entry, eventually, mode
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import control as control_cli
from dita.control import ControlPlane
from dita.control.hazelcast import (
    CONTROL_PLANE_MAP,
    ControlPlaneUnavailable,
    HazelcastControlPlane,
    write_entry,
)
from dita.projection.hazelcast import HazelcastProjection, to_json_value
from dita.services.hazelcast import HazelcastMember, free_port

pytestmark = pytest.mark.usefixtures("clean_control_entries")


def _plane(member: HazelcastMember, **kwargs: Any) -> HazelcastControlPlane:
    return HazelcastControlPlane([member.address], member.cluster_name, **kwargs)


def _read_then(plane: HazelcastControlPlane, act: Callable[[], None]) -> type:
    """A map proxy for ``plane``'s client whose entry read runs ``act`` after the read is taken
    and before it is handed back (as a change the listener delivers while a resync reads)."""
    from hazelcast.future import ImmediateFuture

    real_get_map = plane._client.get_map

    class ReadThen:
        def __init__(self, name: str) -> None:
            self.real = real_get_map(name)

        def entry_set(self) -> Any:
            read = self.real.entry_set().result()
            act()
            return ImmediateFuture(read)

    return ReadThen


def write_ahead(
    monkeypatch: pytest.MonkeyPatch,
    hz_client: Any,
    seconds: float,
    *writes: tuple[str | None, dict[str, Any]],
) -> None:
    """Operator A's writes, ``(kernel id or None for all, fields)``, stamped by a clock
    ``seconds`` ahead of the others'."""
    from dita.control.hazelcast import stamps

    with monkeypatch.context() as ahead:
        ahead.setattr(stamps, "_wall_clock", lambda: time.time() + seconds)  # where _stamp_after reads it
        for key, fields in writes:
            write_entry(hz_client, key, fields, updated_by="operator-a")


def deliver_removals_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """The member's order for two partitions, forced: a removal's event reaches the plane
    half a second after later writes to other keys."""
    import threading

    real_on_removed = HazelcastControlPlane._on_removed

    def late(self: HazelcastControlPlane, event: Any) -> None:
        threading.Timer(0.5, real_on_removed, (self, event)).start()

    monkeypatch.setattr(HazelcastControlPlane, "_on_removed", late)


def test_halt_reaches_a_kernel_in_another_process(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    child = Child(
        "control",
        "--address",
        hz_member.address,
        "--cluster",
        hz_member.cluster_name,
        "--kernel-id",
        kernel_id,
    )
    ready = child.next()
    assert ready == {"ready": True, "mode": "PAPER", "status": True}  # a kernel's default mode
    written_at = time.time()
    write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="test")
    halted = child.next()
    assert halted["mode"] == "HALTED"
    assert halted["source"] == "hazelcast:*"
    # HALTED refuses new entries; exits and cancels still work.
    assert halted["enter"] == "MODE_BLOCKED"
    assert halted["cancel"] == "OK"
    assert halted["exit"] == "OK"
    assert halted["slot0"] == "EXIT_WORKING"  # the exit order is out
    assert halted["slot1"] == "IDLE"  # the resting entry is canceled
    print(
        f"HALTED reached the other process {1000 * (halted['seen_at'] - written_at):.1f} ms after the write"
    )
    write_entry(hz_client, kernel_id, {"mode": "PAPER"}, updated_by="test")
    resumed = child.next()
    assert resumed["mode"] == "PAPER"
    assert resumed["source"] == f"hazelcast:*,{kernel_id}"
    assert child.finish() == 0


def test_global_and_kernel_entries_compose_latest_first(hz_member: HazelcastMember, kernel_id: str) -> None:
    plane = _plane(hz_member)
    assert isinstance(plane, ControlPlane)
    a = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=f"{kernel_id}-a")
    b = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=f"{kernel_id}-b")
    try:
        assert plane.wait_synced(timeout=30)  # attach reads a kernel's own entries; every entry follows
        plane.set(mode="HALTED")
        assert eventually(lambda: mode(a) == mode(b) == "HALTED")
        plane.set(a.kernel_id, mode="LIVE")
        assert eventually(lambda: mode(a) == "LIVE")
        assert mode(b) == "HALTED"
        plane.set(mode="REDUCE_ONLY", verbosity="DEBUG")
        assert eventually(lambda: mode(a) == mode(b) == "REDUCE_ONLY")
        assert a.control()["verbosity"] == b.control()["verbosity"] == "DEBUG"
        assert a.control()["debug_clickhouse_enabled"] is True  # the kernel's default
        plane.set(b.kernel_id, debug_clickhouse_enabled=False)
        assert eventually(lambda: b.control()["debug_clickhouse_enabled"] is False)
        assert a.control()["debug_clickhouse_enabled"] is True
        assert plane.entries()["*"]["mode"] == "REDUCE_ONLY"
    finally:
        a.close()
        b.close()


def test_a_kernel_started_while_halted_starts_halted(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    write_entry(hz_client, None, {"mode": "HALTED"})
    kernel = ExecutionKernel(max_slots=2, control_plane=_plane(hz_member), kernel_id=kernel_id)
    try:
        assert mode(kernel) == "HALTED"  # applied inside attach, before the first intent
        enter = btc_entry(kernel_id)
        assert kernel.process_intent(enter).diagnostic_code.name == "MODE_BLOCKED"
    finally:
        kernel.close()


def test_a_kernel_named_like_the_global_entry_is_refused(hz_member: HazelcastMember, kernel_id: str) -> None:
    # `*` keys the entry of every kernel: a kernel of that id could not be resumed alone.
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        with pytest.raises(ValueError, match=r"kernel_id '\*' is the control plane's entry for every kernel"):
            ExecutionKernel(max_slots=2, control_plane=plane, kernel_id="*")
        # Nothing attached, and the plane still serves the kernel it had.
        assert list(plane._kernels) == [kernel_id]
        plane.set(kernel_id, mode="HALTED")
        assert eventually(lambda: mode(kernel) == "HALTED")
    finally:
        kernel.close()


def test_bad_changes_are_refused_and_change_nothing(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        plane.set(kernel_id, mode="REDUCE_ONLY")
        assert eventually(lambda: mode(kernel) == "REDUCE_ONLY")
        before = plane.entries()
        with pytest.raises(ValueError, match=r"mode must be one of .*got 'BOGUS'"):
            plane.set(kernel_id, mode="BOGUS")
        with pytest.raises(ValueError, match=r"verbosity must be one of .*got 'LOUD'"):
            plane.set(kernel_id, verbosity="LOUD")
        with pytest.raises(ValueError, match=r"debug_clickhouse_enabled must be true or false, got 'yes'"):
            plane.set(kernel_id, debug_clickhouse_enabled="yes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"kernel_id must be a non-empty string \(or None .*\), got ''"):
            plane.set("", mode="HALTED")
        # Refused here, not by the client mid-write as ControlPlaneUnavailable ("utf-8").
        with pytest.raises(ValueError, match=r"kernel_id 'k\\udcff' is no kernel's \(it is not UTF-8 "):
            plane.set("k\udcff", mode="HALTED")
        with pytest.raises(ValueError, match="nothing to set"):
            plane.set(kernel_id)
        assert plane.entries() == before
        # An entry typed by hand with a bad value is ignored (and logged); the kernel keeps its mode.
        cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
        cp_map.put(kernel_id, to_json_value({"mode": "FULL_THROTTLE", "mode_at": time.time()}))
        assert eventually(lambda: plane.entries()[kernel_id].get("mode") == "FULL_THROTTLE")
        assert mode(kernel) == "REDUCE_ONLY"
        plane.set(kernel_id, mode="HALTED")
        assert eventually(lambda: mode(kernel) == "HALTED")
    finally:
        kernel.close()


def test_unreachable_cluster_keeps_the_local_state_and_says_so(kernel_id: str) -> None:
    plane = HazelcastControlPlane([f"127.0.0.1:{free_port()}"], "nobody-home", attach_timeout=0.2)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        kernel.update_control(mode="REDUCE_ONLY", source="local")
        status = plane.status()
        assert status["connected"] is False
        assert status["holding_last_known_state"] is True
        assert status["disconnected_since"] is not None
        assert status["kernels"][kernel_id]["mode"] == "REDUCE_ONLY"
        with pytest.raises(ControlPlaneUnavailable, match="unreachable; nothing was set"):
            plane.set(mode="HALTED")
        enter = btc_entry(kernel_id)
        assert kernel.process_intent(enter).diagnostic_code.name == "MODE_BLOCKED"  # REDUCE_ONLY still holds
    finally:
        kernel.close()


def test_a_plane_whose_cluster_is_away_waits_between_its_rounds() -> None:
    """The worker waits for its next periodic read only while it can make one: with the
    cluster away that read never came, the wait for a time already past was no wait, and the
    thread spun at full CPU beside the kernel's. Counted by its rounds, not by a clock."""

    class CountedEvent(threading.Event):
        rounds = 0

        def wait(self, timeout: float | None = None) -> bool:
            CountedEvent.rounds += 1
            return super().wait(timeout)

    plane = HazelcastControlPlane(
        [f"127.0.0.1:{free_port()}"], "nobody-home", attach_timeout=0, resync_interval=0.1
    )
    try:
        plane._wake = CountedEvent()
        time.sleep(1.5)  # fifteen resync intervals, about three half-second rounds
        assert plane.status()["connected"] is False
        assert CountedEvent.rounds < 20, CountedEvent.rounds
    finally:
        plane.close()


def test_bad_control_plane_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"attach_timeout must be between 0 and 300 seconds, got -1"):
        HazelcastControlPlane(["127.0.0.1:1"], attach_timeout=-1)
    with pytest.raises(ValueError, match=r"updated_by must name who writes entries in UTF-8 text, got ''"):
        HazelcastControlPlane(["127.0.0.1:1"], updated_by="")
    # Written into every entry, and read back as text no terminal can show.
    with pytest.raises(ValueError, match=r"in UTF-8 text, got 'op\\udcff'"):
        HazelcastControlPlane(["127.0.0.1:1"], updated_by="op\udcff")
    with pytest.raises(ValueError, match=r"host:port, got 'localhost'"):
        HazelcastControlPlane(["localhost"])
    for bad in (0, -1.0, float("nan"), True, "10"):
        with pytest.raises(
            ValueError, match=rf"resync_interval must be between 0.1 and 3600 seconds, got {bad!r}"
        ):
            HazelcastControlPlane(["127.0.0.1:1"], resync_interval=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("resync_interval", [0.3, 3600.0])
def test_a_halt_whose_event_never_arrives_is_applied_by_the_periodic_read(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, resync_interval: float
) -> None:
    """Events of the map are not guaranteed (a member failing with one in flight, one the
    client had not connected to yet): with the plane's listener gone, a global HALTED reaches
    the kernel through the read made every ``resync_interval`` seconds, and only through it."""
    plane = _plane(hz_member, resync_interval=resync_interval)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert plane.wait_synced(10)
        listener = plane._listener_id
        assert listener is not None
        assert plane._client.get_map(CONTROL_PLANE_MAP).remove_entry_listener(listener).result()
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="test")
        if resync_interval < 1:
            assert eventually(lambda: mode(kernel) == "HALTED", timeout=10)
            assert plane.entries()["*"]["mode"] == "HALTED"
            assert kernel.process_intent(btc_entry(kernel_id)).diagnostic_code.name == "MODE_BLOCKED"
        else:
            # Without the read, nothing brings it: what the short interval's case stands on.
            time.sleep(2.0)
            assert mode(kernel) == "PAPER"
    finally:
        kernel.close()


def _cli(*args: str) -> Any:
    app = typer.Typer()
    control_cli.register(app)
    return CliRunner().invoke(app, list(args))


def test_cli_set_and_show(hz_member: HazelcastMember, kernel_id: str) -> None:
    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(
        max_slots=2, projection=projection, control_plane=_plane(hz_member), kernel_id=kernel_id
    )
    try:
        assert projection.sync(timeout=30)  # `set --kernel` refuses an id no kernel is projected under
        result = _cli("control", "set", "--mode", "HALTED", "--kernel", kernel_id, "--wait", "10", *where)
        assert result.exit_code == 0, result.output
        assert f"applied by: {kernel_id}" in result.output
        assert mode(kernel) == "HALTED"
        result = _cli("control", "show", "--json", *where)
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert shown["entries"][kernel_id]["mode"] == "HALTED"
        assert shown["entries"][kernel_id]["updated_by"] == "dita-cli"
        assert shown["kernels"][kernel_id]["mode"] == "HALTED"
        result = _cli("control", "show", *where)
        assert result.exit_code == 0 and kernel_id in result.output
        result = _cli("control", "set", "--mode", "SIDEWAYS", *where)
        assert result.exit_code == 2
        assert "--mode 'SIDEWAYS' must be one of HALTED, LIVE" in result.output
        result = _cli("control", "set", *where)
        assert result.exit_code == 2 and "nothing to set" in result.output
        assert "*" not in json.loads(_cli("control", "show", "--json", *where).stdout)["entries"]
        # --wait fails (exit 4) when the named kernel never shows the change.
        result = _cli(
            "control", "set", "--mode", "HALTED", "--kernel", f"{kernel_id}-gone", "--new-kernel",
            "--wait", "0.3", *where,
        )  # fmt: skip
        assert result.exit_code == 4
        assert f"not applied within 0.3s by: {kernel_id}-gone" in result.output
    finally:
        kernel.close()


def test_cli_set_line_shows_a_kernel_id_escaped(hz_member: HazelcastMember, kernel_id: str) -> None:
    """The id is the user's: one holding an escape sequence (a title change, a screen clear) is
    written as its escapes on the `set` line, as the warning and `show` write it."""
    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    odd = f"{kernel_id}\x1b]0;pwned\x07\x1b[2J"
    result = _cli("control", "set", "--mode", "HALTED", "--kernel", odd, "--new-kernel", *where)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output, repr(result.output)
    assert f"set {kernel_id}\\x1b]0;pwned\\x07\\x1b[2J: mode=HALTED" in result.stdout


def test_cli_set_for_a_kernel_on_a_cluster_that_knows_none_is_refused_saying_none_are_known(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """On a fresh cluster (or one holding only the global entry) the refusal's list of the ids
    nearest the typo asked for none and crashed with a traceback."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP

    for name in (ACCOUNTS_MAP, CONTROL_MAP, CONTROL_PLANE_MAP):
        hz_client.get_map(name).blocking().clear()
    write_entry(hz_client, None, {"mode": "HALTED"})
    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    try:
        result = _cli("control", "set", "--mode", "LIVE", "--kernel", kernel_id, *where)
    finally:
        hz_client.get_map(CONTROL_PLANE_MAP).blocking().clear()
    assert result.exit_code == 1, (result.output, result.exception)
    assert f"error: no kernel '{kernel_id}' is known in this cluster" in result.stderr
    assert "the kernels known are (none)" in result.stderr


def test_cli_set_of_a_global_live_warns_that_paper_runs_then_refuse_their_intents(
    hz_member: HazelcastMember, hz_client: Any
) -> None:
    """A global resume to LIVE reaches `dita paper` runs too, whose intents carry no source
    run: LIVE's provenance rule refuses them all. The write is made, and said with a warning."""
    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    try:
        result = _cli("control", "set", "--mode", "LIVE", *where)
        assert result.exit_code == 0, result.output
        assert "set every kernel (*): mode=LIVE" in result.stdout
        assert "`dita paper` runs included" in result.stderr and "--mode PAPER" in result.stderr
        halted = _cli("control", "set", "--mode", "HALTED", *where)
        assert halted.exit_code == 0 and "dita paper" not in halted.stderr, halted.output
    finally:
        hz_client.get_map(CONTROL_PLANE_MAP).blocking().clear()


def test_cli_set_for_a_kernel_that_is_not_running_says_so(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A mistyped or crashed kernel id must not read as halted. An id no kernel of the cluster
    was ever projected under (a typo) is refused, exit 1, naming it and the kernels known, and
    nothing is written (it exited 0, the operator taking a typo for a halted kernel); with
    `--new-kernel` the entry is written for a kernel to start under that id, with a warning. A
    crashed kernel's entry is written (it takes it when it starts again), with a warning, and
    `--wait` does not report its last projected mode as applied."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP

    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    known = f"{kernel_id}-known"
    # More kernels than the refusal names, all sorting before it: the nearest ids are named first
    # (a sorted list named the first 20, and the typo's own kernel went unnamed).
    others = [f"a-{n:02}-{kernel_id}" for n in range(25)]
    accounts = hz_client.get_map(ACCOUNTS_MAP).blocking()
    for name in (known, *others):
        accounts.set(name, to_json_value({"equity": 0.0}))
    try:
        result = _cli("control", "set", "--mode", "HALTED", "--kernel", f"{kernel_id}-typo", *where)
    finally:
        for name in (known, *others):
            accounts.remove(name)
    assert result.exit_code == 1, result.output
    assert f"error: no kernel '{kernel_id}-typo' is known in this cluster" in result.stderr
    assert "nothing was written" in result.stderr and known in result.stderr
    assert "set " not in result.stdout
    assert hz_client.get_map(CONTROL_PLANE_MAP).blocking().get(f"{kernel_id}-typo") is None
    result = _cli(
        "control", "set", "--mode", "HALTED", "--kernel", f"{kernel_id}-new", "--new-kernel", *where
    )
    assert result.exit_code == 0, result.output
    assert f"set {kernel_id}-new: mode=HALTED" in result.output
    assert f"warning: no kernel '{kernel_id}-new' is projected in this cluster" in result.output
    assert hz_client.get_map(CONTROL_PLANE_MAP).blocking().get(f"{kernel_id}-new") is not None
    # A kernel killed while halted: its projection still says HALTED, an hour old.
    dead = f"{kernel_id}-dead"
    gone = time.time() - 3600
    hz_client.get_map(CONTROL_MAP).blocking().set(
        dead, to_json_value({"mode": "HALTED", "projected_at": gone})
    )
    hz_client.get_map(ACCOUNTS_MAP).blocking().set(dead, to_json_value({"equity": 0.0, "projected_at": gone}))
    result = _cli("control", "set", "--mode", "HALTED", "--kernel", dead, "--wait", "0.3", *where)
    assert result.exit_code == 4, result.output
    assert "applied by" not in result.output
    # The age is counted from the command's own clock: over a second late on a busy machine.
    assert re.search(rf"warning: kernel '{dead}' is not running \(no projection for 36\d\ds", result.output)
    assert f"not applied within 0.3s by: {dead} (not running)" in result.output
    # A running kernel: no warning.
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(
        max_slots=1, projection=projection, control_plane=_plane(hz_member), kernel_id=kernel_id
    )
    try:
        assert projection.sync(timeout=30)
        result = _cli("control", "set", "--mode", "HALTED", "--kernel", kernel_id, "--wait", "10", *where)
        assert result.exit_code == 0, result.output
        assert f"applied by: {kernel_id}" in result.output and "warning" not in result.output
    finally:
        kernel.close()


def test_cli_set_again_for_a_kernel_given_an_entry_ahead_of_its_start_is_not_refused(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel halted ahead of its start (`--new-kernel`) has an entry of its own: a second
    `set` for it (to change its verbosity before it starts, say) was refused as a typo until
    it started. Its id is known by its entry (a typo still is not). The accounts are read once
    for the check and the warning."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, map_reads

    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    ahead = f"{kernel_id}-ahead"
    first = _cli("control", "set", "--mode", "HALTED", "--kernel", ahead, "--new-kernel", *where)
    assert first.exit_code == 0, first.output
    reads: list[str] = []
    read_map = map_reads.read_map

    def counted(client: Any, map_name: str, warn: Any = None) -> dict[str, dict[str, Any]]:
        reads.append(map_name)
        return read_map(client, map_name, warn)

    monkeypatch.setattr(map_reads, "read_map", counted)  # where read_maps looks it up
    again = _cli("control", "set", "--verbosity", "DEBUG", "--kernel", ahead, *where)
    assert again.exit_code == 0, again.output
    assert f"set {ahead}: verbosity=DEBUG" in again.output
    assert f"warning: no kernel '{ahead}' is projected in this cluster" in again.output
    entry = hz_client.get_map(CONTROL_PLANE_MAP).blocking().get(ahead)
    assert entry is not None and (entry.loads()["mode"], entry.loads()["verbosity"]) == ("HALTED", "DEBUG")
    assert reads.count(ACCOUNTS_MAP) == 1, reads
    typo = _cli("control", "set", "--mode", "HALTED", "--kernel", f"{kernel_id}-typo", *where)
    assert typo.exit_code == 1, typo.output
    assert f"error: no kernel '{kernel_id}-typo' is known" in typo.stderr


def test_cli_set_kernel_star_is_the_global_entry_and_by_must_name_someone(
    member_factory: Any, kernel_id: str
) -> None:
    """`--kernel '*'` writes the global entry (the key `*`): it is every kernel, not a kernel
    to warn about or to wait for. An empty `--by` is refused, as `updated_by` is in Python.
    A member of its own: `--wait` waits for every kernel projected as running, and on the shared
    member another test's kernel, detached without a control plane, reads as running for 30 s."""
    hz_member: HazelcastMember = member_factory("dita-star")
    hz_member.start()
    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(
        max_slots=1, projection=projection, control_plane=_plane(hz_member), kernel_id=kernel_id
    )
    try:
        assert projection.sync(timeout=30)
        result = _cli("control", "set", "--verbosity", "QUIET", "--kernel", "*", "--wait", "10", *where)
        assert result.exit_code == 0, result.output
        assert "set every kernel (*): verbosity=QUIET" in result.output and "warning" not in result.output
        assert kernel_id in result.output.split("applied by:")[1]
    finally:
        kernel.close()
    result = _cli("control", "set", "--mode", "HALTED", "--by", " ", *where)
    assert result.exit_code == 2
    assert "--by must name who sets it, got ' '" in result.output
    assert "mode" not in json.loads(_cli("control", "show", "--json", *where).stdout)["entries"]["*"]


def test_cli_show_tells_running_kernels_from_gone_ones(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """`show` lists the state each kernel runs with: one that crashed an hour ago (its entries
    outlive it) must not be listed like a running one."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP

    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    dead = f"{kernel_id}-dead"
    gone = time.time() - 3600
    hz_client.get_map(CONTROL_MAP).blocking().set(dead, to_json_value({"mode": "LIVE", "projected_at": gone}))
    hz_client.get_map(ACCOUNTS_MAP).blocking().set(dead, to_json_value({"equity": 0.0, "projected_at": gone}))
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        shown = json.loads(_cli("control", "show", "--json", *where).stdout)
        assert kernel_id in shown["running"] and dead not in shown["running"]
        assert dead in shown["kernels"]  # still listed, with the state it last ran
        table = _cli("control", "show", *where)
        assert table.exit_code == 0, table.output
        assert re.search(rf"{dead}: not running \(no projection for 36\d\ds", table.output), table.output
        assert f"{kernel_id}: not running" not in table.output
    finally:
        kernel.close()


def test_cli_skips_entries_that_are_not_json_objects_and_names_quiet_kernels(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """Values typed by hand (a list, a number, text) in any of the three maps ended `control
    show` and `control set --wait` in a traceback, though `status` skips them: each is named
    once and the rest is shown. A kernel quiet for over 10 s that already shows the value is
    named with its last projection: quiet, it may be dead rather than applying anything."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP

    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    quiet = f"{kernel_id}-quiet"
    at = time.time() - 15
    stray = {
        CONTROL_PLANE_MAP: (f"{kernel_id}-list", "[1, 2]"),
        CONTROL_MAP: (f"{kernel_id}-number", "42"),
        ACCOUNTS_MAP: (f"{kernel_id}-text", "not json {"),
    }
    for name, (key, value) in stray.items():
        hz_client.get_map(name).blocking().set(key, value)
    hz_client.get_map(CONTROL_MAP).blocking().set(
        quiet, to_json_value({"mode": "HALTED", "projected_at": at})
    )
    hz_client.get_map(ACCOUNTS_MAP).blocking().set(quiet, to_json_value({"equity": 0.0, "projected_at": at}))
    try:
        for args in (("show",), ("show", "--json")):
            result = _cli("control", *args, *where)
            assert result.exit_code == 0, result.output
            for name, (key, _) in stray.items():
                assert (
                    result.stderr.count(f"warning: skipped entry {key!r} of {name}: not a JSON object") == 1
                )
        shown = json.loads(result.stdout)
        assert quiet in shown["kernels"] and not any(key in shown["kernels"] for key, _ in stray.values())
        # The age is the command's own reading of the clock, after the reads above: the rounded
        # ages from before and after it bound it.
        before = time.time()
        result = _cli("control", "set", "--mode", "HALTED", "--kernel", quiet, "--wait", "1", *where)
        after = time.time()
        assert result.exit_code == 0, result.output
        named = re.search(rf"applied by: {quiet} \(last projected (\d+)s ago\)", result.stdout)
        assert named, result.stdout
        assert round(before - at) <= int(named[1]) <= round(after - at), (before - at, result.stdout)
        assert result.stderr.count(f"skipped entry {stray[ACCOUNTS_MAP][0]!r}") == 1
    finally:
        for name, (key, _) in stray.items():
            hz_client.get_map(name).blocking().remove(key)
        for name in (CONTROL_MAP, ACCOUNTS_MAP, CONTROL_PLANE_MAP):
            hz_client.get_map(name).blocking().remove(quiet)


def test_cli_reports_an_unreachable_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "0.5")  # not the 5 s default: nobody is home
    result = _cli("control", "show", "--cluster", f"127.0.0.1:{free_port()}", "--cluster-name", "nobody-home")
    assert result.exit_code == 3
    assert "cannot reach Hazelcast cluster 'nobody-home'" in result.output
    result = _cli("control", "set", "--mode", "HALTED", "--cluster", "not-an-address")
    assert result.exit_code == 2 and "'not-an-address'" in result.output


def test_a_conditional_write_sees_what_the_entries_give_the_kernel_and_refused_writes_nothing(
    hz_client: Any, kernel_id: str
) -> None:
    write_entry(hz_client, kernel_id, {"verbosity": "DEBUG"})
    write_entry(hz_client, None, {"mode": "HALTED"})
    seen: list[dict[str, Any]] = []
    refused = write_entry(hz_client, kernel_id, {"mode": "LIVE"}, only_if=lambda g: seen.append(g) or False)
    assert refused is None
    # Each value with its stamp, the writer's clock: the dead-man switch tells a newer one by it.
    assert seen == [{"mode": "HALTED", "mode_at": ANY, "verbosity": "DEBUG", "verbosity_at": ANY}]
    assert all(isinstance(seen[0][f], float) for f in ("mode_at", "verbosity_at"))
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    assert "mode" not in entries.get(kernel_id).loads()
    written = write_entry(hz_client, None, {"mode": "PAPER"}, only_if=lambda g: g["mode"] == "HALTED")
    assert written is not None and entries.get("*").loads()["mode"] == "PAPER"


def test_cli_set_whose_entry_keeps_changing_says_so_and_exits_3(
    hz_member: HazelcastMember, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose every compare-and-set lost to another writer ended `set` in a traceback."""

    def kept_changing(*args: Any, **kwargs: Any) -> Any:
        raise ControlPlaneUnavailable("control entry '*' kept changing under us; try again")

    monkeypatch.setattr("dita.control.hazelcast.write_entry", kept_changing)  # where `set` finds it
    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    result = _cli("control", "set", "--mode", "HALTED", *where)
    assert result.exit_code == 3, (result.output, result.exception)
    assert "control entry '*' kept changing under us; try again; nothing was written" in result.stderr


class _HeldVenue:
    """A Python venue whose submit waits until released: the kernel is mid-call meanwhile."""

    name = "held"

    def __init__(self) -> None:
        import threading

        self.entered = threading.Event()
        self.release = threading.Event()

    def submit(self, order: Any) -> list[Any]:
        self.entered.set()
        self.release.wait(30)
        return []

    def cancel(self, order: Any) -> list[Any]:
        return []

    def open_orders(self) -> list[Any]:
        return []

    def positions(self) -> dict[str, float]:
        return {}


def test_halt_arriving_while_the_kernel_is_mid_call_is_applied_not_dropped(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    import threading

    venue = _HeldVenue()
    plane = _plane(hz_member)
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(
        max_slots=2, venue=venue, projection=projection, control_plane=plane, kernel_id=kernel_id
    )
    enter = btc_entry(kernel_id)
    strategy = threading.Thread(target=kernel.process_intent, args=(enter,))
    try:
        strategy.start()
        assert venue.entered.wait(10)
        plane.set(kernel_id, mode="HALTED")
        time.sleep(0.2)  # let the change arrive while the venue call is still in progress
        venue.release.set()
        strategy.join(10)
        assert eventually(lambda: mode(kernel) == "HALTED")
        assert projection.sync(timeout=30)
        assert kernel.slot_state(0).fsm_state.name != "IDLE"  # the intent went through meanwhile
    finally:
        venue.release.set()
        kernel.close()


def test_cli_global_wait_skips_kernels_whose_projection_is_dead(member_factory: Any) -> None:
    """Projected entries outlive their kernel (a crash cannot remove them): a global
    `set --wait` must wait for the live kernels, not fail for ever on one gone an hour ago."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, connect_client

    member = member_factory("dita-wait-dead")
    member.start()
    where = ("--cluster", member.address, "--cluster-name", member.cluster_name)
    client = connect_client([member.address], member.cluster_name, block=True, connect_timeout=30)
    gone = time.time() - 3600
    for name, value in ((CONTROL_MAP, {"mode": "PAPER"}), (ACCOUNTS_MAP, {"equity": 0.0})):
        client.get_map(name).blocking().set("k-dead", to_json_value({**value, "projected_at": gone}))
    projection = HazelcastProjection([member.address], member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(
        max_slots=2, projection=projection, control_plane=_plane(member), kernel_id="k-live"
    )
    try:
        assert projection.sync(timeout=20)
        result = _cli("control", "set", "--mode", "HALTED", "--wait", "10", *where)
        assert result.exit_code == 0, result.output
        assert "applied by: k-live" in result.output and "k-dead" in result.output  # named as skipped
        assert mode(kernel) == "HALTED"
    finally:
        kernel.close()
        client.shutdown()


def test_cli_global_wait_says_how_long_a_kernel_it_waited_for_has_been_quiet(member_factory: Any) -> None:
    """A kernel killed 20 s ago is still waited for (taken for gone after 30 s): the exit 4 must
    say its projection is that old, so the operator does not read it as a halt refused."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, connect_client

    member = member_factory("dita-wait-quiet")
    member.start()
    where = ("--cluster", member.address, "--cluster-name", member.cluster_name)
    client = connect_client([member.address], member.cluster_name, block=True, connect_timeout=30)
    try:
        quiet = time.time() - 20
        for name, value in ((CONTROL_MAP, {"mode": "PAPER"}), (ACCOUNTS_MAP, {"equity": 0.0})):
            client.get_map(name).blocking().set("k-quiet", to_json_value({**value, "projected_at": quiet}))
        result = _cli("control", "set", "--mode", "HALTED", "--wait", "0.3", *where)
        assert result.exit_code == 4, result.output
        assert re.search(r"not applied within 0.3s by: k-quiet \(last projected 2\ds ago\)", result.output)
    finally:
        client.shutdown()


def test_cli_set_wait_losing_the_cluster_says_the_entry_was_written(member_factory: Any) -> None:
    """The member dies while `set --wait` waits: an error saying what is known (the entry was
    written, who applied it is not), exit 3 as for a cluster not reached, not a traceback."""
    import threading

    member = member_factory("dita-wait-lost")
    member.start()
    where = ("--cluster", member.address, "--cluster-name", member.cluster_name)
    killer = threading.Timer(2.0, member.stop, kwargs={"kill": True})
    killer.start()
    try:
        new = ("--kernel", "k-never", "--new-kernel")  # no kernel runs under it
        result = _cli("control", "set", "--mode", "HALTED", *new, "--wait", "60", *where)
    finally:
        killer.join()
    assert result.exit_code == 3, result.output
    assert "set k-never: mode=HALTED" in result.output
    assert "lost Hazelcast cluster 'dita-wait-lost'" in result.output
    assert "the entry was written" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_status_does_not_call_a_gone_kernel_running(hz_member: HazelcastMember, hz_client: Any) -> None:
    """Its projected entries outlive a stopped or crashed kernel: status must not show it running."""
    from dita.cli import status as status_cli
    from dita.projection.hazelcast import ACCOUNTS_MAP

    kid = f"k-gone-{free_port()}"
    account = {"equity": 5.0, "projected_at": time.time() - 3600}
    hz_client.get_map(ACCOUNTS_MAP).blocking().set(kid, to_json_value(account))
    app = typer.Typer()
    status_cli.register(app)
    args = ["status", "--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    result = CliRunner().invoke(app, [*args, "--kernel", kid, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["running"] is False


def test_status_says_how_long_a_running_kernel_has_been_quiet(
    hz_member: HazelcastMember, hz_client: Any
) -> None:
    """A kernel killed 20 s ago still counts as running (30 s, LIVE_WITHIN_S), but status must
    say its last projection is that old rather than show it like a live one."""
    from dita.cli import status as status_cli
    from dita.projection.hazelcast import ACCOUNTS_MAP

    quiet, fresh = f"k-quiet-{free_port()}", f"k-fresh-{free_port()}"
    accounts = hz_client.get_map(ACCOUNTS_MAP).blocking()
    accounts.set(quiet, to_json_value({"equity": 5.0, "projected_at": time.time() - 20}))
    accounts.set(fresh, to_json_value({"equity": 5.0, "projected_at": time.time()}))
    app = typer.Typer()
    status_cli.register(app)
    args = ["status", "--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    result = CliRunner().invoke(app, [*args, "--kernel", quiet, "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["running"] is True
    assert re.match(r"last projected 2\ds ago \(", row["note"]), row["note"]
    table = CliRunner().invoke(app, [*args, "--kernel", quiet])
    assert re.search(rf"{quiet}: last projected 2\ds ago", table.output), table.output
    (row,) = json.loads(CliRunner().invoke(app, [*args, "--kernel", fresh, "--json"]).stdout)
    assert row["running"] is True and row["note"] == ""


def test_an_entry_that_is_not_json_is_logged_and_blocks_nothing(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A value typed by hand that is not JSON must not stop a global HALTED from reaching a
    starting kernel, nor take the listener's connection down, nor stop `set` overwriting it."""
    from dita.projection.hazelcast import HazelcastJsonValue

    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    cp_map.put(f"{kernel_id}-typo", HazelcastJsonValue('{"mode": "HALTED"'))
    write_entry(hz_client, None, {"mode": "HALTED"})
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert mode(kernel) == "HALTED"
        assert plane.wait_synced(timeout=30)  # the typo is another kernel's entry: read after attach
        assert f"control entry {kernel_id}-typo ignored: not a JSON object" in caplog.text
        cp_map.put(kernel_id, HazelcastJsonValue("REDUCE_ONLY"))  # the listener sees it
        assert eventually(lambda: f"control entry {kernel_id} ignored: not a JSON object" in caplog.text)
        plane.set(kernel_id, mode="LIVE")  # overwrites the bad value
        assert eventually(lambda: mode(kernel) == "LIVE")
        status = plane.status()
        assert status["connected"] and status["in_sync"]
    finally:
        kernel.close()


def test_a_change_arriving_while_a_resync_reads_the_entries_is_not_lost(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listener can deliver a HALTED after the resync's read has been taken and before it is
    stored: the older read must not replace it (it would stay lost until the next reconnect)."""
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)

    def halt() -> None:
        write_entry(hz_client, None, {"mode": "HALTED"})
        assert eventually(lambda: plane.entries().get("*", {}).get("mode") == "HALTED")

    ReadThenHalt = _read_then(plane, halt)
    try:
        assert mode(kernel) == "PAPER"
        assert plane.wait_synced(timeout=30)  # the first read of every entry is not the one raced
        monkeypatch.setattr(plane._client, "get_map", ReadThenHalt)
        plane._synced.clear()
        plane._resync_needed = True  # as after a reconnect
        plane._wake.set()
        assert plane.wait_synced(timeout=20)
        assert eventually(lambda: mode(kernel) == "HALTED", timeout=10.0)
        assert plane.entries()["*"]["mode"] == "HALTED"
    finally:
        monkeypatch.undo()
        kernel.close()


def test_the_latest_write_wins_whatever_the_operators_clocks_say(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator whose clock is behind the one who wrote last must still halt the kernels:
    stamps are taken from the wall clock only while it is past every stamp they compete with."""

    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        # Operator A's clock runs a minute ahead: a global LIVE, then LIVE for this kernel.
        write_ahead(
            monkeypatch,
            hz_client,
            60.0,
            (None, {"mode": "LIVE"}),
            (kernel_id, {"mode": "LIVE", "verbosity": "DEBUG"}),
        )
        assert eventually(lambda: mode(kernel) == "LIVE")
        # Operator B, on the right time, halts every kernel: a later write, so it wins.
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-b")
        assert eventually(lambda: mode(kernel) == "HALTED")
        # ... and B resumes this kernel alone, in its own entry, after the global HALTED.
        write_entry(hz_client, kernel_id, {"mode": "REDUCE_ONLY"}, updated_by="operator-b")
        assert eventually(lambda: mode(kernel) == "REDUCE_ONLY")
        assert kernel.control()["verbosity"] == "DEBUG"  # a field B did not write stays A's
        stamps = {k: v["mode_at"] for k, v in plane.entries().items()}
        assert stamps[kernel_id] > stamps["*"]
    finally:
        kernel.close()


def test_a_removed_entry_stops_counting(hz_member: HazelcastMember, hz_client: Any, kernel_id: str) -> None:
    """An entry removed from the map (or the map cleared) must leave the plane's entries too: a
    kernel attached afterwards would otherwise start on a HALTED nobody asks for any more."""
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    first = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=f"{kernel_id}-a")
    late = None
    try:
        plane.set(mode="HALTED")
        plane.set(first.kernel_id, verbosity="DEBUG")
        assert eventually(lambda: set(plane.entries()) == {"*", first.kernel_id})
        cp_map.remove("*")
        assert eventually(lambda: set(plane.entries()) == {first.kernel_id})
        late = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=f"{kernel_id}-b")
        assert mode(late) == "PAPER"  # not the removed HALTED
        cp_map.clear()
        assert eventually(lambda: plane.entries() == {})
        plane.set(mode="REDUCE_ONLY")  # entries written afterwards still arrive
        assert eventually(lambda: mode(first) == mode(late) == "REDUCE_ONLY")
    finally:
        first.close()
        if late is not None:
            late.close()


def test_a_removal_arriving_while_a_resync_reads_the_entries_is_not_undone(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read taken before a removal must not bring the removed entry back."""
    plane = _plane(hz_member)
    assert plane.wait_synced(timeout=20)
    plane.set(mode="HALTED")
    assert eventually(lambda: "*" in plane.entries())

    def remove() -> None:
        hz_client.get_map(CONTROL_PLANE_MAP).blocking().remove("*")
        assert eventually(lambda: "*" not in plane.entries())

    ReadThenRemove = _read_then(plane, remove)
    try:
        monkeypatch.setattr(plane._client, "get_map", ReadThenRemove)
        plane._synced.clear()
        plane._resync_needed = True  # as after a reconnect
        plane._wake.set()
        assert plane.wait_synced(timeout=20)
        monkeypatch.undo()
        assert plane.entries() == {}
        kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
        assert mode(kernel) == "PAPER"  # not the removed HALTED
        kernel.close()
    finally:
        monkeypatch.undo()
        plane.close()


def _events_while_away(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, list[Any]]:
    """A plane cut off from the cluster (or behind a member that restarts) gets no events: while
    the returned flag is set, the entry events of planes made from now on are dropped, and
    listed."""
    away = threading.Event()
    missed: list[Any] = []
    for name in ("_on_entry", "_on_removed"):
        real = getattr(HazelcastControlPlane, name)

        def handler(self: HazelcastControlPlane, event: Any, real: Any = real) -> None:
            if away.is_set():
                missed.append(event)
            else:
                real(self, event)

        monkeypatch.setattr(HazelcastControlPlane, name, handler)
    return away, missed


def _resync(plane: HazelcastControlPlane) -> None:
    """What a reconnect makes the plane do: read every entry again and apply them."""
    plane._synced.clear()
    plane._resync_needed = True
    plane._wake.set()
    assert plane.wait_synced(timeout=20)


def test_a_halt_written_while_the_plane_was_away_after_the_entry_it_follows_went_is_taken(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a kernel is cut off from the cluster, the global entry it runs is removed (a member
    restart does that too) and an operator whose clock is behind that entry's stamp halts every
    kernel. The resync after the reconnect reads a HALTED the kernel never saw, and applies it:
    were its applied stamp lowered to the HALTED's own, as for a value it already ran, it would
    keep trading LIVE."""
    away, missed = _events_while_away(monkeypatch)
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        # Operator A, whose clock runs a minute ahead, resumes every kernel.
        write_ahead(monkeypatch, hz_client, 60.0, (None, {"mode": "LIVE"}))
        assert eventually(lambda: mode(kernel) == "LIVE")
        away.set()
        cp_map.remove("*")
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-b")
        assert eventually(lambda: len(missed) == 2)
        away.clear()
        _resync(plane)
        assert eventually(lambda: mode(kernel) == "HALTED", timeout=10.0)
        # A removal while away still sets nothing: the kernel keeps what it runs.
        away.set()
        cp_map.remove("*")
        assert eventually(lambda: len(missed) == 3)
        away.clear()
        _resync(plane)
        assert plane.entries() == {}
        assert mode(kernel) == "HALTED"
    finally:
        kernel.close()


def test_a_halt_written_while_a_resync_reads_after_a_member_restart_is_not_lost(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted member has lost the entries without removal events, so until the resync has
    read the plane still holds the old ones. A HALTED from a clock behind the old global entry's
    stamp that arrives while the read is out looked older than that stale entry: it was
    dropped, the read (taken before it) did not hold it, and the kernel kept trading LIVE."""
    away, missed = _events_while_away(monkeypatch)
    real_on_entry = HazelcastControlPlane._on_entry
    halt_seen = threading.Event()

    def on_entry(self: HazelcastControlPlane, event: Any) -> None:
        real_on_entry(self, event)
        halt_seen.set()

    monkeypatch.setattr(HazelcastControlPlane, "_on_entry", on_entry)
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)

    def halt() -> None:
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-b")
        assert halt_seen.wait(timeout=10)

    real_get_map = plane._client.get_map
    ReadThenHalt = _read_then(plane, halt)
    try:
        write_ahead(monkeypatch, hz_client, 60.0, (None, {"mode": "LIVE"}))
        assert eventually(lambda: mode(kernel) == "LIVE")
        # The member restarts: the entry is gone, and no removal event says so.
        away.set()
        cp_map.remove("*")
        assert eventually(lambda: len(missed) == 1)
        away.clear()
        halt_seen.clear()
        assert plane.entries()["*"]["mode"] == "LIVE"
        monkeypatch.setattr(plane._client, "get_map", ReadThenHalt)
        _resync(plane)
        monkeypatch.setattr(plane._client, "get_map", real_get_map)
        assert plane.entries()["*"]["mode"] == "HALTED"
        assert eventually(lambda: mode(kernel) == "HALTED", timeout=10.0)
    finally:
        monkeypatch.undo()
        kernel.close()


def test_a_write_after_a_removed_entry_takes_effect_whatever_its_clock(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel that ran a field from an entry since removed must still take a later write of
    it: the removed entry's stamp no longer competes, so a writer whose clock is behind it
    stamps the write by its own clock. Compared with the stamp the kernel last applied, from
    the removed entry, the write would be ignored: a global HALTED would go unheeded."""

    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        # Operator A, whose clock runs a minute ahead, resumes this kernel.
        write_ahead(monkeypatch, hz_client, 60.0, (kernel_id, {"mode": "LIVE"}))
        assert eventually(lambda: mode(kernel) == "LIVE")
        cp_map.remove(kernel_id)  # the kernel keeps LIVE: a removal sets nothing
        assert eventually(lambda: kernel_id not in plane.entries())
        # Operator B, on the right time, halts every kernel: the latest write.
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-b")
        assert eventually(lambda: mode(kernel) == "HALTED")
        # The same after the whole map is cleared.
        write_ahead(monkeypatch, hz_client, 120.0, (kernel_id, {"verbosity": "DEBUG"}))
        assert eventually(lambda: kernel.control()["verbosity"] == "DEBUG")
        cp_map.clear()
        assert eventually(lambda: plane.entries() == {})
        write_entry(hz_client, kernel_id, {"verbosity": "QUIET"}, updated_by="operator-b")
        assert eventually(lambda: kernel.control()["verbosity"] == "QUIET")
    finally:
        kernel.close()


def test_a_write_reaching_a_kernel_before_the_removal_it_followed_is_not_skipped(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries of different keys live in different partitions, whose events the member sends
    independently: a write made after a removal may reach the kernel first. It was written
    without the removed entry to compete with, so it is the latest word once the removal is
    seen. Were the removal to lower the kernel's applied stamp to the write's, the write would
    never be applied (here the kernel would stay HALTED after an operator resumed it)."""

    deliver_removals_late(monkeypatch)
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        # Operator A, whose clock runs a minute ahead, halts every kernel.
        write_ahead(monkeypatch, hz_client, 60.0, (None, {"mode": "HALTED"}))
        assert eventually(lambda: mode(kernel) == "HALTED")
        # Operator B, on the right time, lifts it and resumes this kernel.
        cp_map.remove("*")
        write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="operator-b")
        assert eventually(lambda: "*" not in plane.entries())
        assert eventually(lambda: mode(kernel) == "LIVE", timeout=10.0)
        # A removal still sets nothing: without a later write the kernel keeps what it runs.
        cp_map.remove(kernel_id)
        assert eventually(lambda: kernel_id not in plane.entries())
        time.sleep(0.2)
        assert mode(kernel) == "LIVE"
    finally:
        kernel.close()


def test_a_write_superseded_while_the_entry_it_lost_to_stood_stays_so_after_its_removal(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """The other side of the test above: a write stamped below an entry that is still in the
    map lost to it; removing that entry later sets nothing, so the kernel stays HALTED."""
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator-a")
        assert eventually(lambda: mode(kernel) == "HALTED")
        older = {"kernel_id": kernel_id, "mode": "LIVE", "mode_at": time.time() - 60.0}
        cp_map.put(kernel_id, to_json_value(older))  # as a write that reached us out of order
        assert eventually(lambda: kernel_id in plane.entries())
        # The plane has looked up "*" in the cluster and found it there: only then is the
        # write superseded for good (a removal seen first unblocks it, as the test above says).
        assert eventually(lambda: not plane._blocked), plane._blocked
        cp_map.remove("*")
        assert eventually(lambda: "*" not in plane.entries())
        time.sleep(0.2)
        assert mode(kernel) == "HALTED"
    finally:
        kernel.close()


def _paper_run(hz_member: HazelcastMember, kernel_id: str, tmp_path: Any) -> dict[str, Any]:
    """`dita paper` over the sample into the member's cluster: the state file it leaves."""
    from dita.cli import app

    paper = [
        "paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed",
        "--state-dir", str(tmp_path), "--kernel-id", kernel_id,
        "--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name,
    ]  # fmt: skip
    result = CliRunner().invoke(app, paper)
    assert result.exit_code == 0, result.stderr
    state: dict[str, Any] = json.loads((tmp_path / f"{kernel_id}.json").read_text())
    return state


def test_a_paper_run_attached_to_the_cluster_obeys_its_control_plane(
    hz_member: HazelcastMember, kernel_id: str, tmp_path: Any
) -> None:
    """`dita paper --hazelcast` projects into the cluster, so `dita control set --mode HALTED`
    must halt it like any other kernel there (and `--wait` must see it applied): a run
    started while its entry says HALTED opens no trade, and the state shows the mode."""
    plane = _plane(hz_member)
    try:
        assert eventually(lambda: plane.status()["connected"])
        plane.set(kernel_id, mode="HALTED")
    finally:
        plane.close()
    state = _paper_run(hz_member, kernel_id, tmp_path)
    assert state["control"]["mode"] == "HALTED"
    assert state["control"]["source"] == f"hazelcast:{kernel_id}"
    assert state["fills"] == [] and state["account"]["open_positions"] == 0


def test_a_paper_run_keeps_its_paper_label_when_the_cluster_sets_no_mode(
    hz_member: HazelcastMember, kernel_id: str, tmp_path: Any
) -> None:
    state = _paper_run(hz_member, kernel_id, tmp_path)
    assert state["control"]["mode"] == "PAPER" and state["control"]["source"] == "dita-paper"
    assert state["fills"]


def test_a_new_plane_sets_at_once_as_operations_md_shows(hz_member: HazelcastMember, hz_client: Any) -> None:
    """`HazelcastControlPlane().set(kernel_id=None, mode="HALTED")` is the documented one-liner:
    the client connects in the background, and `set` right after construction said the
    cluster was unreachable and set nothing while the member was up."""
    plane = _plane(hz_member)
    try:
        written = plane.set(mode="HALTED")
    finally:
        plane.close()
    assert written["mode"] == "HALTED"
    entry = json.loads(hz_client.get_map(CONTROL_PLANE_MAP).blocking().get("*").to_string())
    assert entry["mode"] == "HALTED"


def test_a_plane_closed_with_its_last_kernel_says_so_rather_than_blame_the_cluster(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A kernel's close() closes the plane it was the last kernel of: a script that kept the
    plane to write entries was told the cluster was unreachable, with the member up."""
    plane = _plane(hz_member)
    ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id).close()
    with pytest.raises(RuntimeError, match="HazelcastControlPlane is closed") as refused:
        plane.set(mode="HALTED")
    assert not isinstance(refused.value, ControlPlaneUnavailable)
    assert hz_client.get_map(CONTROL_PLANE_MAP).blocking().get("*") is None


def test_a_global_write_before_the_removals_of_several_kernel_entries_reaches_every_kernel(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A global write that reaches the plane before the removals of two kernels' entries it
    followed (stamped below both: its writer's clock is behind) is the latest word for both
    kernels, not only for the one whose entry was stamped latest."""

    deliver_removals_late(monkeypatch)
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    other_id = f"{kernel_id}-b"
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    other = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=other_id)
    try:
        # Operator A, whose clock runs a minute ahead, halts both kernels one by one.
        for kid, ahead_s in ((kernel_id, 60.0), (other_id, 61.0)):
            write_ahead(monkeypatch, hz_client, ahead_s, (kid, {"mode": "HALTED"}))
        assert eventually(lambda: mode(kernel) == "HALTED" and mode(other) == "HALTED")
        # Operator B, on the right time, lifts both and resumes every kernel.
        cp_map.remove(kernel_id)
        cp_map.remove(other_id)
        write_entry(hz_client, None, {"mode": "LIVE"}, updated_by="operator-b")
        assert eventually(lambda: kernel_id not in plane.entries() and other_id not in plane.entries())
        assert eventually(lambda: mode(other) == "LIVE", timeout=10.0)
        assert eventually(lambda: mode(kernel) == "LIVE", timeout=10.0)
    finally:
        kernel.close()
        other.close()


def test_an_entry_written_again_while_the_plane_looks_it_up_is_kept(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plane looks up the entry a write lost to; the cluster answers it is gone, but by the
    time the answer is read the entry was written again and its event has come: the lookup
    must not take that new entry for the removed one (the kernel would ignore a new HALTED)."""

    real_on_removed = HazelcastControlPlane._on_removed
    held: list[Any] = []
    answered = threading.Event()
    monkeypatch.setattr(HazelcastControlPlane, "_on_removed", lambda self, event: held.append(event))
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    real_get_map = plane._client.get_map

    class Answer:
        """The lookup's future, its answer read through ``result()`` (the plane waits for it
        with ``done()`` and ``add_done_callback``, applying events meanwhile)."""

        def __init__(self, future: Any) -> None:
            self.future = future

        def done(self) -> bool:
            return bool(self.future.done())

        def add_done_callback(self, callback: Any) -> None:
            self.future.add_done_callback(lambda _: callback(self))

        def result(self) -> Any:
            present = self.future.result()
            if not present and held:
                # The removal's event comes, then the entry is written again, before the
                # answer is read.
                real_on_removed(plane, held.pop())
                write_ahead(monkeypatch, hz_client, 120.0, (None, {"mode": "HALTED"}))
                assert eventually(lambda: plane.entries().get("*", {}).get("mode") == "HALTED")
                answered.set()
            return present

    class Lookups:
        def __init__(self, real: Any) -> None:
            self.real = real

        def contains_key(self, key: Any) -> Answer:
            return Answer(self.real.contains_key(key))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    try:
        write_ahead(monkeypatch, hz_client, 60.0, (None, {"mode": "HALTED"}))
        assert eventually(lambda: mode(kernel) == "HALTED")
        monkeypatch.setattr(plane._client, "get_map", lambda name: Lookups(real_get_map(name)))
        cp_map.remove("*")
        write_entry(hz_client, kernel_id, {"mode": "LIVE"}, updated_by="operator-b")
        # The new entry's event is in when the answer is read; the plane acts on the answer at once.
        assert answered.wait(30)
        time.sleep(0.3)
        assert plane.entries().get("*", {}).get("mode") == "HALTED"
        assert eventually(lambda: mode(kernel) == "HALTED", timeout=10.0)
    finally:
        kernel.close()


def test_a_halt_after_another_clients_entry_in_milliseconds_reaches_the_kernels(
    hz_member: HazelcastMember, hz_client: Any, kernel_id: str
) -> None:
    """A Java tool wrote the global entry with `updated_at` in milliseconds (currentTimeMillis):
    every later `set --mode HALTED`, stamped in seconds, looked older and was dropped."""
    from dita.projection.hazelcast import HazelcastJsonValue

    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = _plane(hz_member)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        tool = {"verbosity": "NORMAL", "verbosity_at": time.time(), "updated_at": int(time.time() * 1000)}
        cp_map.put("*", HazelcastJsonValue(json.dumps(tool)))
        assert eventually(lambda: "*" in plane.entries())
        write_entry(hz_client, None, {"mode": "HALTED"}, updated_by="operator")
        assert eventually(lambda: mode(kernel) == "HALTED")
        enter = btc_entry(kernel_id)
        assert kernel.process_intent(enter).diagnostic_code.name == "MODE_BLOCKED"
    finally:
        kernel.close()


def test_cli_show_json_stays_json_with_numbers_typed_by_hand(
    hz_member: HazelcastMember, hz_client: Any
) -> None:
    """NaN and 1e999 typed into an entry were printed as NaN and Infinity: not JSON."""
    from dita.projection.hazelcast import HazelcastJsonValue

    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    typed = '{"mode": "HALTED", "mode_at": NaN, "updated_at": 1e999}'
    hz_client.get_map(CONTROL_PLANE_MAP).blocking().put("typed", HazelcastJsonValue(typed))
    result = _cli("control", "show", "--json", *where)
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    shown = json.loads(result.stdout, parse_constant=refuse)
    assert shown["entries"]["typed"] == {"mode": "HALTED", "mode_at": "nan", "updated_at": "inf"}
    table = _cli("control", "show", *where)
    assert table.exit_code == 0 and "typed" in table.stdout


def test_cli_set_refuses_to_follow_a_stamp_no_time_is_after(
    hz_member: HazelcastMember, hz_client: Any
) -> None:
    """Just past the largest float is infinity, which was written as null: a stamp every kernel
    counts as missing, so the HALTED was ignored while `set` said it was set."""
    from dita.projection.hazelcast import HazelcastJsonValue

    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    cp_map = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    typed = HazelcastJsonValue('{"mode": "LIVE", "mode_at": 1.7976931348623157e308}')
    cp_map.put("*", typed)
    result = _cli("control", "set", "--mode", "HALTED", *where)
    assert result.exit_code == 2, result.output
    assert (
        "error: control entry '*' not written: mode_at of entry '*' is 1.7976931348623157e+308"
        in result.stderr
    )
    assert "remove entry '*' (or its mode_at) and set again" in result.stderr
    assert cp_map.get("*").to_string() == typed.to_string()
    plane = _plane(hz_member)
    try:
        with pytest.raises(ValueError, match="the largest time a stamp can hold"):
            plane.set(mode="HALTED")
        cp_map.remove("*")  # as the error says: then the write goes through
        assert plane.set(mode="HALTED")["mode"] == "HALTED"
    finally:
        plane.close()


def test_a_change_the_worker_took_for_a_kernel_detached_meanwhile_is_not_applied_to_it(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    """The worker takes the kernels to apply a change to under the lock and applies it after:
    a kernel detached in between was still changed, and the change counted as applied under its
    id, so a kernel attached next under that id never took it and traded while its entry said
    HALTED."""
    plane = _plane(hz_member)
    keeper = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=f"{kernel_id}-keeper")
    old = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    before = mode(old)
    taken, detached, done = threading.Event(), threading.Event(), threading.Event()
    real_apply = plane._apply
    tester = threading.current_thread()  # attach applies on the caller's thread

    def held_apply(kid: str, kernel: ExecutionKernel) -> bool:
        # The plane's apply for ``old``, held until ``old`` is detached: the interleaving forced.
        if kernel is old and threading.current_thread() is not tester:
            taken.set()
            detached.wait(10)
            applied = real_apply(kid, kernel)
            done.set()
            return applied
        return real_apply(kid, kernel)

    plane._apply = held_apply  # type: ignore[method-assign]
    new = None
    try:
        plane.set(kernel_id, mode="HALTED")
        assert taken.wait(10)
        plane.detach(old)
        detached.set()
        assert done.wait(10)
        assert mode(old) == before != "HALTED"  # detached: no longer the plane's to change
        new = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
        assert mode(new) == "HALTED"  # its entry says so
        assert mode(keeper) == before
    finally:
        detached.set()
        if new is not None:
            new.close()
        old.close()
        keeper.close()


def test_closing_a_detached_kernel_leaves_the_one_attached_under_its_id(
    hz_member: HazelcastMember, kernel_id: str
) -> None:
    """A kernel detached and then closed is released from the plane by its id: the kernel
    attached under that id since was dropped with it, and heard no change after."""
    plane = _plane(hz_member)
    keeper = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=f"{kernel_id}-keeper")
    old = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    plane.detach(old)
    new = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        old.close()
        plane.set(kernel_id, mode="HALTED")
        assert eventually(lambda: mode(new) == "HALTED")
        assert plane.status()["kernels"][kernel_id]["mode"] == "HALTED"
    finally:
        new.close()
        old.close()
        keeper.close()
