"""A write of a control entry ends within its timeout, whichever request the cluster leaves
unanswered, and says whether the write itself went out; a change the cluster never answers is
not a halt an operator may take for done, nor one to wait a minute for.

Requests are left unanswered two ways: by maps in memory whose calls never complete (no
member), and by the session's member, whose write of a key another client holds locked is
parked without a reply (as on a member whose partition threads are stuck)."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import Any

import pytest
import typer
from hazelcast.future import Future, ImmediateFuture
from typer.testing import CliRunner

import dita.control.hazelcast as control_hz
from dita.cli import control as control_cli
from dita.control.hazelcast import (
    CONTROL_PLANE_MAP,
    ControlPlaneUnavailable,
    ControlWriteUnconfirmed,
    HazelcastControlPlane,
    stamps,
    worker,
    write_entry,
    writing,
)
from dita.projection.hazelcast import HazelcastJsonValue
from dita.services.hazelcast import HazelcastMember

TIMEOUT_S = 0.5
WITHIN_S = 15.0  # the timeout, with room for a loaded machine; what it replaces waited a minute (or 30 s)


class Unanswered:
    """A map whose calls named in ``stuck`` are sent and never answered; the others answer from
    ``values`` at once. With ``applies`` a write is applied all the same, its answer held back (as
    the client holds a write's answer until the member keeping its backup acknowledges it)."""

    def __init__(self, stuck: set[str], values: dict[str, Any] | None = None, applies: bool = False) -> None:
        self.stuck = stuck
        self.values: dict[str, Any] = dict(values or {})
        self.sent: list[str] = []
        self.written: dict[str, Any] = {}
        self.applies = applies

    def _answer(self, call: str, value: Any) -> Any:
        self.sent.append(call)
        return Future() if call in self.stuck else ImmediateFuture(value)

    def get(self, key: str) -> Any:
        return self._answer("get", self.values.get(key))

    def entry_set(self) -> Any:
        return self._answer("entry_set", list(self.values.items()))

    def put_if_absent(self, key: str, value: Any) -> Any:
        self.written[key] = value
        if self.applies:
            self.values[key] = value
        return self._answer("put_if_absent", None)

    def replace_if_same(self, key: str, old: Any, new: Any) -> Any:
        self.written[key] = new
        if self.applies:
            self.values[key] = new
        return self._answer("replace_if_same", True)


class Client:
    """A client whose map is ``cp_map``; with ``proxy_stuck`` getting the map's proxy never
    returns (a member that does not answer the proxy's creation)."""

    def __init__(self, cp_map: Unanswered, proxy_stuck: bool = False) -> None:
        self.cp_map = cp_map
        self.proxy_stuck = threading.Event() if proxy_stuck else None

    def get_map(self, name: str) -> Unanswered:
        assert name == CONTROL_PLANE_MAP
        if self.proxy_stuck is not None:
            self.proxy_stuck.wait(60)
        return self.cp_map


def _halted(at: float) -> HazelcastJsonValue:
    return HazelcastJsonValue(json.dumps({"mode": "HALTED", "mode_at": at}))


@pytest.mark.parametrize(
    ("kernel_id", "stuck", "waited_for"),
    [
        (
            None,
            {"entry_set", "get"},
            "the read of every entry of dita_control_plane, and then of entry '*' alone,",
        ),
        ("k1", {"get"}, "the read of entries 'k1' and '*' of dita_control_plane"),
    ],
    ids=["global", "kernel"],
)
def test_a_read_never_answered_ends_the_write_at_its_timeout_writing_nothing(
    kernel_id: str | None, stuck: set[str], waited_for: str
) -> None:
    cp_map = Unanswered(stuck)
    started = time.monotonic()
    with pytest.raises(ControlWriteUnconfirmed) as refused:
        write_entry(Client(cp_map), kernel_id, {"mode": "HALTED"}, timeout=TIMEOUT_S)  # type: ignore[arg-type]
    assert TIMEOUT_S <= time.monotonic() - started < WITHIN_S
    key = kernel_id or "*"
    assert str(refused.value) == (
        f"control entry {key!r} not written: {waited_for} not answered within 0.5s (a member not "
        "answering: frozen, or its partition threads stuck, until the others declare it dead); "
        "nothing was written"
    )
    assert refused.value.sent is False and refused.value.key == key
    assert refused.value.change == {"mode": "HALTED"}
    assert not {"put_if_absent", "replace_if_same"} & set(cp_map.sent)  # no write went out


@pytest.mark.parametrize("present", [False, True], ids=["global-new", "global-replaced"])
@pytest.mark.parametrize("warned", [False, True], ids=["logged", "to-warn"])
def test_a_global_write_whose_read_of_every_entry_is_unanswered_writes_the_global_entry_alone(
    present: bool, warned: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The emergency stop: a global write reads every entry (each kernel's stamps compete with
    it), and a member frozen leaves that read unanswered until the others declare it dead, a
    minute and more, while the global entry's own partition may be on a live member. At half the
    timeout the write reads the global entry alone and stamps past it and past the writer's clock
    by CLOCKS_AGREE_WITHIN_S, so it beats a kernel's entry stamped by a clock up to that far ahead;
    and it says which kernels it may not reach, naming the stamp."""
    from dita.projection.hazelcast import CLOCKS_AGREE_WITHIN_S

    clock = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
    monkeypatch.setattr(stamps, "_wall_clock", lambda: clock)  # where _stamp_after reads it
    # The global entry's own stamp one second ahead of this clock: the write's stamp is past it.
    cp_map = Unanswered({"entry_set"}, {"*": _halted(clock + 1.0)} if present else {})
    said: list[str] = []
    started = time.monotonic()
    entry = write_entry(
        Client(cp_map),  # type: ignore[arg-type]
        None,
        {"mode": "HALTED"},
        timeout=1.0,
        **({"warn": said.append} if warned else {}),
    )
    took = time.monotonic() - started
    assert 0.5 <= took < WITHIN_S, took  # half the timeout, then the global entry alone
    # Past the entry's own stamp (just past it), or past the clock, by CLOCKS_AGREE_WITHIN_S.
    stamp = (math.nextafter(clock + 1.0, math.inf) if present else clock) + CLOCKS_AGREE_WITHIN_S
    assert entry["mode"] == "HALTED" and entry["mode_at"] == stamp and entry["updated_at"] == stamp
    assert cp_map.sent == ["entry_set", "get", "replace_if_same" if present else "put_if_absent"]
    assert json.loads(cp_map.written["*"].to_string())["mode_at"] == stamp
    shown = "2027-01-15 08:00:03.000 UTC" if present else "2027-01-15 08:00:02.000 UTC"
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    message = said[0] if warned else logged[0]
    assert (said, logged) == (([message], []) if warned else ([], [message]))
    assert message == (
        "control entry '*': mode=HALTED written without reading the entries of individual kernels "
        "(the read of every entry of dita_control_plane not answered within 0.5s: a member not "
        "answering: frozen, or its partition threads stuck, until the others declare it dead): "
        f"stamped {shown}, 2s past the later of this clock and the entry's own stamp, so it beats a "
        "kernel's entry stamped by a clock up to 2s ahead; a kernel whose own entry was stamped "
        f"later than {shown} keeps its own value"
    )


def test_a_kernels_write_still_needs_its_reads() -> None:
    """Only the global entry is written without its reads: a kernel's entry composes with the
    global one, whose read is the write's to make."""
    cp_map = Unanswered({"get"}, {"*": _halted(time.time())})
    with pytest.raises(ControlWriteUnconfirmed, match="nothing was written"):
        write_entry(Client(cp_map), "k1", {"mode": "LIVE"}, timeout=TIMEOUT_S)  # type: ignore[arg-type]
    assert cp_map.written == {}


def test_a_map_proxy_never_got_ends_the_write_at_its_timeout_writing_nothing() -> None:
    """Getting the map's proxy the first time asks a member, and the client waits for its answer
    without a limit."""
    client = Client(Unanswered(set()), proxy_stuck=True)
    started = time.monotonic()
    try:
        with pytest.raises(ControlWriteUnconfirmed, match="the proxy of map dita_control_plane not answered"):
            write_entry(client, None, {"mode": "HALTED"}, timeout=TIMEOUT_S)  # type: ignore[arg-type]
    finally:
        assert client.proxy_stuck is not None
        client.proxy_stuck.set()
    assert time.monotonic() - started < WITHIN_S
    assert client.cp_map.sent == []


@pytest.mark.parametrize(
    ("kernel_id", "present", "write"),
    [(None, False, "put_if_absent"), ("k1", True, "replace_if_same")],
    ids=["global-new", "kernel-replaced"],
)
def test_a_write_never_answered_says_it_went_out_and_may_still_take_effect(
    kernel_id: str | None, present: bool, write: str
) -> None:
    key = kernel_id or "*"
    cp_map = Unanswered({write}, {key: _halted(time.time() - 60)} if present else {})
    started = time.monotonic()
    with pytest.raises(ControlWriteUnconfirmed) as refused:
        write_entry(Client(cp_map), kernel_id, {"mode": "LIVE"}, timeout=TIMEOUT_S)  # type: ignore[arg-type]
    assert time.monotonic() - started < WITHIN_S
    assert str(refused.value) == (
        f"control entry {key!r}: the write of mode=LIVE went out and was not confirmed within 0.5s "
        "(a member not answering: frozen, or its partition threads stuck, until the others declare "
        "it dead): it may still take effect when the member answers, or not"
    )
    assert refused.value.sent is True
    assert cp_map.sent[-1] == write


@pytest.mark.parametrize(
    ("kernel_id", "present", "write"),
    [(None, False, "put_if_absent"), ("k1", True, "replace_if_same")],
    ids=["global-new", "kernel-replaced"],
)
def test_a_write_the_owner_holds_is_confirmed_by_reading_it_back(
    kernel_id: str | None, present: bool, write: str
) -> None:
    """With the member keeping an entry's backup frozen, its owner writes it and answers at once,
    but the client holds that answer until the backup is acknowledged, 5 s (its
    operation_backup_timeout): a global halt written at half its timeout, past its read of every
    entry, was unconfirmed at its end. The entry read back from its owner confirms it."""
    key = kernel_id or "*"
    cp_map = Unanswered({write}, {key: _halted(time.time() - 60)} if present else {}, applies=True)
    started = time.monotonic()
    entry = write_entry(Client(cp_map), kernel_id, {"mode": "LIVE"}, timeout=5.0)  # type: ignore[arg-type]
    took = time.monotonic() - started
    assert writing.READ_BACK_AFTER_S <= took < 5.0, took  # confirmed by the read back, not at the timeout
    assert entry["mode"] == "LIVE"
    assert json.loads(cp_map.values[key].to_string()) == entry
    assert cp_map.sent[cp_map.sent.index(write) :][:2] == [write, "get"]


def test_a_write_read_back_holding_another_value_is_not_taken_for_written() -> None:
    """Read back, the entry is another's (the write lost its compare-and-set to it, its answer
    held back): the write is not confirmed by it, and ends unconfirmed at its timeout."""
    cp_map = Unanswered({"replace_if_same"}, {"k1": _halted(time.time() - 60)})
    with pytest.raises(ControlWriteUnconfirmed, match=r"went out and was not confirmed within 1\.5s"):
        write_entry(Client(cp_map), "k1", {"mode": "LIVE"}, timeout=1.5)  # type: ignore[arg-type]
    assert cp_map.sent.count("get") >= 3  # its own read, and read back while its answer was out


def test_the_plane_set_ends_at_its_write_timeout(hz_member: HazelcastMember, hz_client: Any) -> None:
    """``HazelcastControlPlane.set`` (what `PUT /v1/control` calls) against a member that parks
    the write: ControlWriteUnconfirmed (a ControlPlaneUnavailable) at ``write_timeout``."""
    key = f"t-locked-{time.monotonic_ns()}"
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name, write_timeout=TIMEOUT_S)
    entries.lock(key)
    try:
        assert plane.wait_synced(timeout=30)
        started = time.monotonic()
        with pytest.raises(ControlWriteUnconfirmed, match=r"went out and was not confirmed within 0\.5s"):
            plane.set(key, mode="HALTED")
        assert time.monotonic() - started < WITHIN_S
        assert issubclass(ControlWriteUnconfirmed, ControlPlaneUnavailable)
    finally:
        entries.unlock(key)
        plane.close()
        entries.remove(key)


def test_bad_write_timeouts_are_refused() -> None:
    for bad in (0, -1.0, float("nan"), float("inf"), True, "10", 301):
        with pytest.raises(
            ValueError, match=rf"write_timeout must be above 0 and up to 300 seconds, got {bad!r}"
        ):
            HazelcastControlPlane(["127.0.0.1:1"], write_timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=rf"timeout must be above 0 and up to 300 seconds, got {bad!r}"):
            write_entry(Client(Unanswered(set())), None, {"mode": "HALTED"}, timeout=bad)  # type: ignore[arg-type]


def _cli(*args: str) -> Any:
    app = typer.Typer()
    control_cli.register(app)
    return CliRunner().invoke(app, list(args))


def test_cli_set_whose_write_the_member_parks_exits_3_saying_it_went_out(
    hz_member: HazelcastMember, hz_client: Any
) -> None:
    key = f"t-locked-{time.monotonic_ns()}"
    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    entries = hz_client.get_map(CONTROL_PLANE_MAP).blocking()
    entries.lock(key)
    try:
        started = time.monotonic()
        result = _cli(
            "control", "set", "--mode", "HALTED", "--kernel", key, "--new-kernel", "--timeout", "1", *where
        )
        took = time.monotonic() - started
    finally:
        entries.unlock(key)
    try:
        assert took < 1 + 2 + WITHIN_S, took  # the timeout, the client's shutdown (2 s at most)
        assert result.exit_code == 3, result.output
        assert f"set {key}" not in result.stdout
        assert (
            f"error: Hazelcast cluster {hz_member.cluster_name!r} at {hz_member.address}: control entry "
            f"{key!r}: the write of mode=HALTED went out and was not confirmed within 1s"
        ) in result.stderr, result.stderr
        assert "it may still take effect when the member answers, or not" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        entries.remove(key)  # the parked write may land once the lock is gone


@pytest.mark.parametrize("command", [["set", "--mode", "HALTED"], ["show"]], ids=["set", "show"])
@pytest.mark.parametrize("timeout", ["nan", "0", "-3", "inf", "301"])
def test_cli_refuses_a_bad_timeout_before_connecting(command: list[str], timeout: str) -> None:
    result = _cli("control", *command, "--timeout", timeout, "--cluster", "127.0.0.1:1")
    assert result.exit_code == 2, result.output  # 3 would mean it tried the cluster
    assert f"--timeout={float(timeout)!r} must be above 0 and up to 300 seconds" in result.stderr


def test_cli_set_bounds_its_checks_and_its_wait_too(
    hz_member: HazelcastMember, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads `set` makes besides the write (the kernel's check, what `--wait` waits on) go to
    every member as well: each ends at its deadline, saying what is known. So do `show`'s, the
    command that says whether a halt not confirmed was written."""
    from dita.projection.hazelcast import map_reads

    where = ("--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name)
    real_read_map = map_reads.read_map
    stuck = threading.Event()
    stuck_maps = {"dita_accounts"}

    def read_map(client: Any, name: str, warn: Any = None) -> Any:
        if name in stuck_maps:
            stuck.wait(30)
        return real_read_map(client, name, warn)

    monkeypatch.setattr(map_reads, "read_map", read_map)  # where read_maps looks it up
    try:
        started = time.monotonic()
        result = _cli("control", "set", "--mode", "HALTED", "--kernel", "k-never", "--timeout", "0.5", *where)
        assert time.monotonic() - started < 2 + WITHIN_S
        assert result.exit_code == 3, result.output
        assert "the read of dita_accounts not answered within 0.5s" in result.stderr, result.stderr
        assert "nothing was written" in result.stderr
        key = f"t-wait-{time.monotonic_ns()}"
        stuck_maps = {"dita_control"}
        started = time.monotonic()
        new = ("--kernel", key, "--new-kernel")
        result = _cli("control", "set", "--mode", "HALTED", *new, "--wait", "0.5", *where)
        assert time.monotonic() - started < 1 + 2 + WITHIN_S
        assert result.exit_code == 4, result.output
        assert f"set {key}: mode=HALTED" in result.stdout
        assert (
            "error: the entry was written; which kernels applied it is unknown: the read of dita_control "
            "not answered within 0.5s"
        ) in result.stderr, result.stderr
        stuck_maps = {"dita_control_plane"}
        started = time.monotonic()
        result = _cli("control", "show", "--timeout", "0.5", *where)
        assert time.monotonic() - started < 2 + WITHIN_S
        assert result.exit_code == 3, result.output
        assert (
            f"error: Hazelcast cluster {hz_member.cluster_name!r} at {hz_member.address}: the read of "
            "dita_control_plane not answered within 0.5s (a member not answering"
        ) in result.stderr, result.stderr
    finally:
        stuck.set()


def test_cli_set_says_its_default_timeout() -> None:
    assert control_hz.WRITE_TIMEOUT_S == 10.0  # as docs/reference/configuration.md says
    assert control_cli._WRITE_TIMEOUT_S == control_hz.WRITE_TIMEOUT_S  # kept apart for a quick --help


def test_the_planes_worker_says_a_map_proxy_not_got_and_closes_at_once(
    hz_member: HazelcastMember, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker got the map's proxy with the client's ``get_map``, which waits for a member's
    answer without a limit: it hung there without a word, applying nothing (a kernel busy at a
    change waits on it to retry), and a close waited 5 s for it."""
    from hazelcast import HazelcastClient

    real_get_map = HazelcastClient.get_map
    released = threading.Event()

    def get_map(self: Any, name: str) -> Any:
        if name == CONTROL_PLANE_MAP:
            released.wait(30)
        return real_get_map(self, name)

    monkeypatch.setattr(HazelcastClient, "get_map", get_map)
    monkeypatch.setattr(worker, "READ_LATE_S", 0.3)
    plane = HazelcastControlPlane([hz_member.address], hz_member.cluster_name, attach_timeout=0)
    try:
        said = (
            f"control plane ('{hz_member.address}',): the proxy of map {CONTROL_PLANE_MAP} not answered after"
        )

        def warned() -> bool:
            return any(said in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)

        deadline = time.monotonic() + 10
        while not warned() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert warned(), [r.getMessage() for r in caplog.records]
        assert plane.status()["in_sync"] is False
    finally:
        started = time.monotonic()
        plane.close()
        took = time.monotonic() - started
        released.set()
    assert took < 2.5, f"the close took {took:.1f} s while the proxy was not got"
