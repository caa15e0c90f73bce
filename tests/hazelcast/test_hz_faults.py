"""Faults with real members: a member dies mid-run and returns; one of two members is killed."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hz_helpers import expected, make_venue, mixed_workload, projected, run_dita

from dita import ExecutionKernel
from dita.control.hazelcast import CONTROL_PLANE_MAP, HazelcastControlPlane, write_entry
from dita.projection.hazelcast import HazelcastProjection, connect_client
from dita.services.hazelcast import HazelcastMember, free_port


def _cluster(member_factory: Any, name: str, size: int) -> tuple[list[HazelcastMember], list[str]]:
    """``size`` members of cluster ``name``, started at once (each start waits for its JVM), and
    their addresses."""
    ports = tuple(free_port() for _ in range(size))
    members: list[HazelcastMember] = [member_factory(name, p, ports) for p in ports]
    starters = [threading.Thread(target=m.start) for m in members]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    return members, [m.address for m in members]


def _pair_with_owners(
    member_factory: Any, name: str
) -> tuple[list[HazelcastMember], list[str], Any, Callable[[str], str]]:
    """A cluster of two members, a client of both with the partition table known, and ``owner``:
    the address of the member that owns a key's partition (a key of the control entries lives
    there, and a member frozen answers no request of it)."""
    members, addresses = _cluster(member_factory, name, 2)
    client = connect_client(addresses, name, block=True, connect_timeout=30)
    deadline = time.monotonic() + 60
    while len(client.cluster_service.get_members()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(client.cluster_service.get_members()) == 2
    # The map's proxy made now, on both members, and the partitions assigned to the two of them
    # (on the first request that needs them: no migration follows, both have joined).
    client.get_map(CONTROL_PLANE_MAP).blocking().size()
    client.get_map("dita_warmup").blocking().put("k", "v")
    partitions = client.partition_service

    def owner(key: str) -> str:
        uuid = str(partitions.get_partition_owner(partitions.get_partition_id(key)))
        by_uuid = {
            str(m.uuid): f"{m.address.host}:{m.address.port}" for m in client.cluster_service.get_members()
        }
        return by_uuid.get(uuid, "")

    while not owner("*") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert owner("*") in addresses
    return members, addresses, client, owner


def _dita(args: list[str], *, within: float = 30) -> tuple[float, subprocess.CompletedProcess[str]]:
    """`dita args` run as an operator does, with a 5 s connect wait (``run_dita``)."""
    return run_dita(args, connect_s=5, within=within)


def _trade_while(kernel: ExecutionKernel, busy: threading.Thread, seed: int) -> int:
    """Trade in chunks until ``busy`` is done; return how many intents were accepted meanwhile."""
    accepted = 0
    while True:
        outcomes = mixed_workload(kernel, rounds=50, seed=seed)
        accepted += sum(n for k, n in outcomes.items() if k.endswith(":OK") and not k.startswith("account"))
        seed += 1
        if not busy.is_alive():
            return accepted


def test_member_stopped_mid_run_and_restarted(
    member_factory: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    member: HazelcastMember = member_factory("dita-fault")
    member.start()
    projection = HazelcastProjection([member.address], member.cluster_name, interval=0.01)
    plane = HazelcastControlPlane([member.address], member.cluster_name)
    kernel = ExecutionKernel(
        max_slots=16, venue=make_venue(4), projection=projection, control_plane=plane, kernel_id=kernel_id
    )
    try:
        plane.set(kernel_id, verbosity="DEBUG")
        deadline = time.monotonic() + 10
        while kernel.control()["verbosity"] != "DEBUG" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert kernel.control()["verbosity"] == "DEBUG"
        mixed_workload(kernel, rounds=300, seed=1)
        assert projection.sync(timeout=30)

        # The member dies while the strategy is trading; trading goes on without it.
        killer = threading.Thread(target=lambda: (time.sleep(0.2), member.stop(kill=True)))
        killer.start()
        assert _trade_while(kernel, killer, seed=100) > 0
        down_until = time.monotonic() + 1.0
        while time.monotonic() < down_until:
            mixed_workload(kernel, rounds=20, seed=int(down_until))
        down = projection.stats()
        assert down["connected"] is False
        # Staleness is reported as growing: nothing has reached the cluster for over a second.
        assert down["staleness_s"] >= 1.0
        status = plane.status()
        assert status["connected"] is False and status["holding_last_known_state"] is True
        assert kernel.control()["verbosity"] == "DEBUG"  # the last known state holds

        # It comes back (empty: a restarted member has lost its maps) while trading continues.
        restarter = threading.Thread(target=member.start)
        restarter.start()
        assert _trade_while(kernel, restarter, seed=500) > 0
        assert member.is_running()
        mixed_workload(kernel, rounds=200, seed=900)
        assert projection.sync(timeout=60)
        assert plane.wait_synced(timeout=30)
        stats = projection.stats()
        assert stats["connected"] is True and stats["resyncs"] >= 2
        client = connect_client([member.address], member.cluster_name, block=True, connect_timeout=30)
        try:
            assert projected(client, kernel_id) == expected(kernel.snapshot())
        finally:
            client.shutdown()
        assert plane.status()["holding_last_known_state"] is False
        # The loss was logged as a warning (what a CLI shows): so is the recovery, or the
        # last words on an operator's screen say the cluster is still lost.
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("hazelcast projection lost" in m for m in warned), warned
        assert any("hazelcast projection reconnected" in m for m in warned), warned
        assert any("control plane" in m and "unreachable" in m for m in warned), warned
        assert any("control plane" in m and "reachable again" in m for m in warned), warned
        # The entry listener works again on the restarted member.
        plane.set(kernel_id, verbosity="QUIET")
        deadline = time.monotonic() + 10
        while kernel.control()["verbosity"] != "QUIET" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert kernel.control()["verbosity"] == "QUIET"
    finally:
        kernel.close()


def test_two_member_cluster_loses_nothing_when_one_is_killed(member_factory: Any, kernel_id: str) -> None:
    (first, second), addresses = _cluster(member_factory, "dita-pair", 2)
    client = connect_client(addresses, "dita-pair", block=True, connect_timeout=30)
    try:
        deadline = time.monotonic() + 60
        while len(client.cluster_service.get_members()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(client.cluster_service.get_members()) == 2

        projection = HazelcastProjection(addresses, "dita-pair", interval=0.01)
        kernel = ExecutionKernel(
            max_slots=32, venue=make_venue(8), projection=projection, kernel_id=kernel_id
        )
        mixed_workload(kernel, rounds=1_500, seed=8)
        assert projection.sync(timeout=30)
        projection.close()  # nothing may repair the maps after the kill: they must hold on their own
        want = expected(kernel.snapshot())
        assert projected(client, kernel_id) == want

        # The killed member owned some of the keys (primaries), so their backups are what is read.
        owners = {
            str(m.uuid): f"{m.address.host}:{m.address.port}" for m in client.cluster_service.get_members()
        }
        partitions = client.partition_service
        owned_by_first = [
            key
            for key in want["slot_keys"]
            if owners.get(str(partitions.get_partition_owner(partitions.get_partition_id(key))))
            == first.address
        ]
        assert owned_by_first

        first.stop(kill=True)
        deadline = time.monotonic() + 60
        while len(client.cluster_service.get_members()) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(client.cluster_service.get_members()) == 1
        assert projected(client, kernel_id) == want

        # And the survivor takes a new projection of the kernel's later state.
        survivor = HazelcastProjection([second.address], "dita-pair", interval=0.01)
        kernel.projection = survivor
        survivor.attach(kernel)
        mixed_workload(kernel, rounds=300, seed=9)
        assert survivor.sync(timeout=30)
        assert projected(client, kernel_id) == expected(kernel.snapshot())
        kernel.close()
    finally:
        client.shutdown()


def test_a_kernel_started_while_the_cluster_is_away_says_when_it_is_reached(
    member_factory: Any, kernel_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The start's warning ("unreachable: kernel ... starts on its local control state") was
    followed only by an info line once the cluster came, so with warnings shown (a CLI) the
    last word on the control plane stayed "unreachable" while the kernel obeyed it."""
    member: HazelcastMember = member_factory("dita-late", free_port())
    plane = HazelcastControlPlane([member.address], member.cluster_name, attach_timeout=0.2)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        member.start()
        assert plane.wait_synced(timeout=60)
        plane.set(mode="HALTED")
        deadline = time.monotonic() + 10
        while kernel.control()["mode"] != "HALTED" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert kernel.control()["mode"] == "HALTED"
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        warned = [m for m in warned if m.startswith("control plane")]
        assert f"unreachable: kernel {kernel_id} starts on its local control state PAPER" in warned[0], warned
        assert "reachable again after" in warned[-1] and f"kernels ['{kernel_id}'] in sync" in warned[-1], (
            warned
        )
    finally:
        kernel.close()


def test_a_close_while_the_member_is_frozen_does_not_wait_out_its_minute(
    member_factory: Any, kernel_id: str
) -> None:
    """A clean close waits for its closing account on while writes are confirmed (a kernel of
    tens of thousands of slots). Progress was counted in cycles, which also run while the
    member is frozen (nothing confirmed): the close waited its full 60 s, the publisher and
    sync() waking each other all the while, and the projection's own close 5 s more."""
    member: HazelcastMember = member_factory("dita-frozen")
    member.start()
    projection = HazelcastProjection([member.address], "dita-frozen", interval=0.01)
    kernel = ExecutionKernel(max_slots=8, projection=projection, kernel_id=kernel_id)
    assert projection.sync(timeout=30)
    pid = member.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        kernel.mark_price("ETH-USD", 3_000.0)
        started = time.monotonic()
        kernel.close()
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert took < 12, f"the close took {took:.1f} s against a frozen member"  # 5 s, and margin for load


def test_a_halt_is_applied_while_a_frozen_member_leaves_the_periodic_read_unanswered(
    member_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The plane's worker both reads every entry (every resync_interval) and applies what the
    events bring. A member frozen (a GC pause, a stalled VM) answers no read of its partitions for
    a minute and more, until the others declare it dead; the worker waited that long on the read,
    so a HALTED the live member delivered at once reached the kernel 60 s late, and nothing said so."""
    members, addresses = _cluster(member_factory, "dita-frozen-pair", 2)
    writer = connect_client(addresses, "dita-frozen-pair", block=True, connect_timeout=30)
    plane = HazelcastControlPlane(addresses, "dita-frozen-pair", resync_interval=0.5)
    kernel: ExecutionKernel | None = None
    frozen_pid: int | None = None
    try:
        deadline = time.monotonic() + 60
        while len(writer.cluster_service.get_members()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        # The map's proxy made now (a new one is made on a random member), and the partition
        # table known.
        writer.get_map(CONTROL_PLANE_MAP)
        writer.get_map("dita_warmup").blocking().put("k", "v")
        partitions = writer.partition_service

        def owner(key: str) -> str:
            uuid = str(partitions.get_partition_owner(partitions.get_partition_id(key)))
            by_uuid = {
                str(m.uuid): f"{m.address.host}:{m.address.port}"
                for m in writer.cluster_service.get_members()
            }
            return by_uuid.get(uuid, "")

        while not owner("*") and time.monotonic() < deadline:
            time.sleep(0.1)
        live = owner("*")
        assert live in addresses
        # The kernel's own entry where the global one is: every write of the HALTED goes to the
        # live member, and only the read of every entry meets the frozen one.
        kid = next(k for k in (f"frozen-{i}" for i in range(1_000)) if owner(k) == live)
        kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kid)
        assert plane.wait_synced(timeout=30)
        frozen = next(m for m in members if m.address != live)
        frozen_pid = frozen.pid()
        assert frozen_pid is not None
        os.kill(frozen_pid, signal.SIGSTOP)
        # Past the clients' heartbeat timeout (6 s), they have closed their connections to the
        # frozen member: the periodic read out now went to the live one, which waits on the
        # frozen member's partitions.
        time.sleep(8.0)
        write_entry(writer, kid, {"mode": "HALTED"})
        written = time.monotonic()
        while kernel.control()["mode"] != "HALTED" and time.monotonic() < written + 10:
            time.sleep(0.02)
        assert kernel.control()["mode"] == "HALTED", (
            f"the HALTED was not applied within 10 s of its write ({plane.status()})"
        )
        # And the read left unanswered is said, or the periodic read's promise fails unseen.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            if any("not answered after" in m for m in warned):
                break
            time.sleep(0.1)
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("control plane" in m and "not answered after" in m for m in warned), warned
    finally:
        if frozen_pid is not None:
            os.kill(frozen_pid, signal.SIGCONT)
        if kernel is not None:
            kernel.close()
        plane.close()
        writer.shutdown()


def test_a_kernel_started_with_a_frozen_member_takes_a_global_halt_its_entries_hold(
    member_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel started while one member of two is frozen (a GC pause, a stalled VM) took nothing
    from the cluster: the plane's first read is of every entry, which the frozen member leaves
    unanswered until the other declares it dead, a minute and more. The kernel started PAPER
    under a global HALTED held by the live member, logging "unreachable" while connected. It reads
    its own entry and the global one on their own; when one of them is on the frozen member, it
    says that read is unanswered."""
    name = "dita-frozen-start"
    (one, other), _, client, owner = _pair_with_owners(member_factory, name)
    live, frozen = (one, other) if owner("*") == one.address else (other, one)
    on_live = next(k for k in (f"live-{i}" for i in range(1_000)) if owner(k) == live.address)
    on_frozen = next(k for k in (f"frozen-{i}" for i in range(1_000)) if owner(k) == frozen.address)
    write_entry(client, None, {"mode": "HALTED"})
    write_entry(client, on_frozen, {"verbosity": "NORMAL"})  # some entry for the full read to meet
    pid = frozen.pid()
    assert pid is not None
    kernels: list[ExecutionKernel] = []
    plane: HazelcastControlPlane | None = None
    os.kill(pid, signal.SIGSTOP)
    try:
        plane = HazelcastControlPlane([live.address], name, attach_timeout=5)
        kernels.append(ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=on_live))
        assert kernels[0].control()["mode"] == "HALTED", plane.status()
        kernels.append(ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=on_frozen))
        assert kernels[1].control()["mode"] == "PAPER"  # its entry unread: the local state
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        warned = [m for m in warned if m.startswith("control plane")]
        assert not [m for m in warned if on_live in m], warned
        assert [m for m in warned if "unreachable" in m] == [], warned
        assert any(
            f"connected, but its read of entries '*' and {on_frozen!r} is unanswered after 5s" in m
            and f"kernel {on_frozen} starts on its local control state PAPER" in m
            for m in warned
        ), warned
    finally:
        os.kill(pid, signal.SIGCONT)
        for kernel in kernels:
            kernel.close()
        if plane is not None:
            plane.close()
        client.shutdown()


def test_slots_lost_with_two_of_three_members_are_published_again(
    member_factory: Any, kernel_id: str
) -> None:
    """With one backup, two members lost at once take the partitions whose two copies they held.
    The projection stays connected to the third member, so no reconnect resynced it: the slots
    of those partitions stayed missing (an open position not shown) until each slot changed."""
    members, addresses = _cluster(member_factory, "dita-trio", 3)
    client = connect_client(addresses, "dita-trio", block=True, connect_timeout=30)
    projection = HazelcastProjection(addresses, "dita-trio", interval=0.01)
    kernel: ExecutionKernel | None = None
    try:
        deadline = time.monotonic() + 60
        while len(client.cluster_service.get_members()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(client.cluster_service.get_members()) == 3
        # 64 slots: a key is lost with a third of the partitions, so some are.
        kernel = ExecutionKernel(
            max_slots=64, venue=make_venue(3), projection=projection, kernel_id=kernel_id
        )
        mixed_workload(kernel, rounds=600, seed=3)
        assert projection.sync(timeout=30)
        want = expected(kernel.snapshot())
        assert projected(client, kernel_id) == want
        for member in members[:2]:
            member.stop(kill=True)
        deadline = time.monotonic() + 60
        while len(client.cluster_service.get_members()) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(client.cluster_service.get_members()) == 1
        assert projection.stats()["connected"] is True  # no reconnect: the survivor kept the client
        # The kernel does nothing more: only the projection can put the lost slots back.
        deadline = time.monotonic() + 30
        while projected(client, kernel_id) != want and time.monotonic() < deadline:
            time.sleep(0.2)
        got = projected(client, kernel_id)
        assert got["slot_keys"] == want["slot_keys"], (
            f"{len(got['slot_keys'])} of {len(want['slot_keys'])} slots"
        )
        assert got == want
    finally:
        if kernel is not None:
            kernel.close()
        else:
            projection.close()
        client.shutdown()


def test_a_connection_lost_as_a_resync_ends_is_not_taken_for_in_sync(
    member_factory: Any, kernel_id: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resync's read answered just before the connection went: the resync then marked the plane
    in sync and logged "reachable again" after the "unreachable" warning, so status() said
    in_sync with connected false, and once the cluster did come back nothing said so."""
    from dita.control.hazelcast import worker

    member: HazelcastMember = member_factory("dita-resync-lost")
    member.start()
    plane = HazelcastControlPlane([member.address], member.cluster_name, resync_interval=0.5)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kernel_id)
    try:
        assert plane.wait_synced(timeout=30)
        plane.set(kernel_id, verbosity="DEBUG")
        armed, fired = threading.Event(), threading.Event()
        decode = worker._decode

        def decode_then_lose_the_member(key: str, value: Any) -> dict[str, Any]:
            # The worker's periodic read has its answer: the member goes before the resync ends.
            if armed.is_set() and threading.current_thread().name == "dita-hazelcast-control":
                armed.clear()
                member.stop(kill=True)
                deadline = time.monotonic() + 20
                while plane.status()["connected"] and time.monotonic() < deadline:
                    time.sleep(0.01)
                fired.set()
            return decode(key, value)

        monkeypatch.setattr(worker, "_decode", decode_then_lose_the_member)  # as _sync_all reads it
        armed.set()
        assert fired.wait(timeout=30)
        time.sleep(1.0)  # the resync that read before the loss has ended
        status = plane.status()
        assert status["connected"] is False
        assert status["in_sync"] is False and status["holding_last_known_state"] is True, status
        assert status["disconnected_since"] is not None, status
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        said = [m for m in said if m.startswith("control plane")]
        assert "unreachable" in said[-1], said

        member.start()
        assert plane.wait_synced(timeout=60)
        said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        said = [m for m in said if m.startswith("control plane")]
        assert "reachable again" in said[-1], said
        assert kernel.control()["verbosity"] == "DEBUG"
    finally:
        kernel.close()


def test_a_set_with_a_frozen_member_ends_within_its_timeout_saying_nothing_was_written(
    member_factory: Any,
) -> None:
    """A global `dita control set` reads every entry (the stamps it must beat) before it writes,
    and `--kernel` first reads the kernels' accounts. With one of two members frozen (SIGSTOP: a
    GC pause, a stalled VM) those reads went unanswered until the other member declared it dead,
    a minute later: the operator's halt hung that long, without a word. Each command now ends at
    its --timeout (exit 3) saying nothing was written, and nothing was. The member frozen here
    holds the global entry's partition: a global write cannot go through it (one that does not
    hold it is the next test's)."""
    from dita.control.hazelcast import ControlWriteUnconfirmed

    (one, other), _, client, owner = _pair_with_owners(member_factory, "dita-frozen-set")
    frozen, live = (one, other) if owner("*") == one.address else (other, one)
    pid = frozen.pid()
    assert pid is not None
    runs: list[tuple[list[str], float, subprocess.CompletedProcess[str]]] = []
    thawed = False
    try:
        os.kill(pid, signal.SIGSTOP)
        # Only the live member given: the command connects to it and meets the frozen one in the cluster.
        where = ["--cluster", live.address, "--cluster-name", "dita-frozen-set", "--timeout", "2"]
        for target in ([], ["--kernel", "k-frozen", "--new-kernel"]):
            args = ["control", "set", "--mode", "HALTED", *target, *where]
            runs.append((args, *_dita(args)))
        # The API too, on a client that was connected to the frozen member when it froze.
        started = time.monotonic()
        with pytest.raises(ControlWriteUnconfirmed, match="nothing was written") as refused:
            write_entry(client, None, {"mode": "HALTED"}, timeout=1.0)
        assert time.monotonic() - started < 5
        assert refused.value.sent is False
        assert "the read of every entry of dita_control_plane, and then of entry '*' alone," in str(
            refused.value
        )
        # A reader of the maps ends at its --timeout too, showing what it read (nothing here: each
        # map's read waits on every member) and naming what it could not (`orders` and `pnl` read
        # them as `status` does: test_hz_cli_read_timeout.py).
        hz = ["--hazelcast", live.address, "--hz-cluster", "dita-frozen-set", "--timeout", "2"]
        reads = {"status": _dita(["status", *hz])}
        os.kill(pid, signal.SIGCONT)
        thawed = True
        # Nothing was written, as the commands said.
        entries = client.get_map(CONTROL_PLANE_MAP).blocking()
        assert entries.get("*") is None and entries.get("k-frozen") is None
    finally:
        if not thawed:
            os.kill(pid, signal.SIGCONT)
        client.shutdown()
    for args, took, done in runs:
        said = f"`dita {' '.join(args)}`: {done.returncode} {done.stdout!r} {done.stderr!r}"
        # 2 s, the client's shutdown (at most 2 s) and a Python start, with margin for a loaded host.
        assert took < 15, f"{said} took {took:.1f} s"
        assert done.returncode == 3, said
        assert "not answered within 2s" in done.stderr, said
        assert "nothing was written" in done.stderr, said
        assert "Traceback" not in done.stderr, said
        assert "set " not in done.stdout, said  # no line saying it was set
    for command, (took, done) in reads.items():
        said = f"`dita {command}`: {done.returncode} {done.stdout!r} {done.stderr!r}"
        assert took < 15, f"{said} took {took:.1f} s"  # it waited about a minute
        assert done.returncode == 3, said
        assert (
            f"error: Hazelcast cluster 'dita-frozen-set' at {live.address}: the reads of dita_accounts, "
            "dita_control and dita_slots not answered within 2s (a member not answering"
        ) in done.stderr, said
        assert "Traceback" not in done.stderr, said
        assert "no running kernels found" not in done.stdout, said


def test_a_global_halt_goes_through_with_a_frozen_member_that_does_not_hold_its_entry(
    member_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emergency stop with one member frozen: the global write's read of every entry waits on
    the frozen member, so `dita control set --mode HALTED` failed at its --timeout with nothing
    written, while the global entry's own partition was on the live member. It writes that entry
    alone past half its timeout, stamped 2 s past its clock, so a kernel whose own entry (on the
    frozen member, unread) was stamped by a clock 1 s ahead still takes the HALTED; and it says
    which kernels it may not reach."""
    from dita.control.hazelcast import stamps

    name = "dita-frozen-halt"
    (one, other), addresses, client, owner = _pair_with_owners(member_factory, name)
    live, frozen = (one, other) if owner("*") == one.address else (other, one)
    # The kernel's own entry on the member to be frozen: the halt cannot read it.
    kid = next(k for k in (f"halt-{i}" for i in range(1_000)) if owner(k) == frozen.address)
    plane = HazelcastControlPlane(addresses, name)
    kernel = ExecutionKernel(max_slots=2, control_plane=plane, kernel_id=kid)
    pid = frozen.pid()
    assert pid is not None
    thawed = False
    try:
        assert plane.wait_synced(timeout=30)
        # Resumed alone by an operator whose clock runs 1 s ahead.
        with monkeypatch.context() as ahead:
            ahead.setattr(stamps, "_wall_clock", lambda: time.time() + 1.0)  # where _stamp_after reads it
            write_entry(client, kid, {"mode": "REDUCE_ONLY"})
        deadline = time.monotonic() + 10
        while kernel.control()["mode"] != "REDUCE_ONLY" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kernel.control()["mode"] == "REDUCE_ONLY"
        os.kill(pid, signal.SIGSTOP)
        args = ["control", "set", "--mode", "HALTED", "--cluster", live.address, "--cluster-name", name]
        took, done = _dita([*args, "--timeout", "4"])
        said = f"{done.returncode} {done.stdout!r} {done.stderr!r}"
        assert done.returncode == 0, said
        assert done.stdout == "set every kernel (*): mode=HALTED\n", said
        assert (
            "warning: control entry '*': mode=HALTED written without reading the entries of individual "
            "kernels (the read of every entry of dita_control_plane not answered within 2s"
        ) in done.stderr, said
        assert re.search(
            r"a kernel whose own entry was stamped later than \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC "
            "keeps its own value",
            done.stderr,
        ), said
        assert "Traceback" not in done.stderr, said
        assert took < 15, f"{said} took {took:.1f} s"  # 2 s, the shutdown, a Python start
        deadline = time.monotonic() + 10
        while kernel.control()["mode"] != "HALTED" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kernel.control()["mode"] == "HALTED", plane.status()
        os.kill(pid, signal.SIGCONT)
        thawed = True
    finally:
        if not thawed:
            os.kill(pid, signal.SIGCONT)
        kernel.close()
        plane.close()
        client.shutdown()
