"""The member script: config, start/stop/status, and its CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dita.cli import services as services_cli
from dita.services.hazelcast import (
    _CONFIG_ARG,
    HAZELCAST_VERSION,
    MAIN_CLASS,
    HazelcastMember,
    client_can_connect,
    free_port,
)


def _cli(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    services_cli.register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_session_member_runs_and_start_is_idempotent(hz_member: HazelcastMember, hz_jars: list[Path]) -> None:
    assert [j.name for j in hz_jars] == [
        f"hazelcast-{HAZELCAST_VERSION}.jar",
        f"hazelcast-sql-{HAZELCAST_VERSION}.jar",
    ]
    status = hz_member.status()
    assert status["running"] is True and status["accepting_clients"] is True
    assert status["address"] == f"127.0.0.1:{hz_member.port}"
    pid = status["pid"]
    assert hz_member.start() == pid  # already running: found, not started twice
    assert client_can_connect(hz_member.address, hz_member.cluster_name)
    assert not client_can_connect(hz_member.address, "some-other-cluster", timeout=1.0)


def test_member_config_binds_loopback_with_sql_and_backups(tmp_path: Path) -> None:
    member = HazelcastMember(port=5799, peer_ports=(5798,), cluster_name="c1", home=tmp_path)
    xml = member.config_xml()
    assert "<cluster-name>c1</cluster-name>" in xml
    assert "<interface>127.0.0.1</interface>" in xml
    assert '<property name="hazelcast.socket.bind.any">false</property>' in xml
    assert '<port auto-increment="false">5799</port>' in xml
    assert "<member>127.0.0.1:5798</member>" in xml and "<member>127.0.0.1:5799</member>" in xml
    assert '<jet enabled="true"' in xml
    assert "<backup-count>1</backup-count>" in xml
    assert member.state_dir == tmp_path / "run" / "c1-5799"


def _listening_on(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp and tcp6 give them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, port_hex = local.rsplit(":", 1)
            if int(port_hex, 16) == port and state == "0A":  # 0A: LISTEN
                found.add(host)
    return found


def test_the_member_listens_on_loopback_only(hz_member: HazelcastMember) -> None:
    """The member listened on every interface ([::]:port) though its config names 127.0.0.1:
    open-source Hazelcast has no authentication, so anyone reaching the machine could write the
    control entries and un-halt kernels."""
    listening = _listening_on(hz_member.port)
    # 127.0.0.1 in /proc's byte order, as an IPv4 address or an IPv6 socket's ::ffff:127.0.0.1
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}
    assert listening and listening <= loopback, listening
    assert client_can_connect(hz_member.address, hz_member.cluster_name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "port must be a TCP port between 1 and 65535, got 0"),
        ({"port": "5701"}, "port must be a TCP port between 1 and 65535, got '5701'"),
        ({"peer_ports": (70000,)}, r"peer_ports\[0\] must be a TCP port between 1 and 65535, got 70000"),
        ({"cluster_name": "a b"}, "cluster_name must be 1-64 letters.*got 'a b'"),
        ({"heap_mb": 8}, "heap_mb must be an integer of at least 64, got 8"),
    ],
)
def test_bad_member_settings_are_refused(kwargs: dict[str, object], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        HazelcastMember(home=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_a_busy_port_is_refused_before_starting(hz_member: HazelcastMember, tmp_path: Path) -> None:
    from dita.services.hazelcast import ServiceError

    intruder = HazelcastMember(port=hz_member.port, cluster_name="intruder", state_dir=tmp_path)
    with pytest.raises(ServiceError, match=f"port {hz_member.port} .* already in use"):
        intruder.start()
    assert hz_member.is_running()


def test_cli_status_and_stop_without_a_member(tmp_path: Path) -> None:
    port = str(free_port())
    code, out = _cli("services", "hazelcast", "status", "--port", port, "--home", str(tmp_path))
    assert code == 3
    assert json.loads(out)["running"] is False
    code, out = _cli("services", "hazelcast", "stop", "--port", port, "--home", str(tmp_path))
    assert code == 0 and "no member running" in out
    code, out = _cli("services", "hazelcast", "start", "--port", "0", "--home", str(tmp_path))
    assert code == 2 and "port must be a TCP port between 1 and 65535, got 0" in out


def test_a_stale_pid_file_naming_another_member_is_not_taken_for_ours(
    hz_jars: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pid file outlives its member (a reboot, a SIGKILL) and its pid may since belong to
    another member: status must not call ours running, nor stop kill the other one."""
    monkeypatch.chdir(tmp_path)
    other = HazelcastMember(  # a relative state dir
        port=free_port(), cluster_name="other", state_dir=Path("other"), exit_with_parent=True
    )
    other.start()
    try:
        ours = HazelcastMember(port=free_port(), cluster_name="ours", state_dir=tmp_path / "ours")
        ours.pid_file.parent.mkdir(parents=True)
        ours.pid_file.write_text(f"{other.pid()}\n")
        assert ours.pid() is None
        assert ours.status(check_client=False)["running"] is False
        assert ours.stop(timeout=5) is False
        assert not ours.pid_file.exists()
        # The other member is still found by its own state dir, however it is spelled.
        again = HazelcastMember(port=other.port, cluster_name="other", state_dir=tmp_path / "other")
        assert again.pid() == other.pid()
        assert again.status()["accepting_clients"] is True
    finally:
        other.stop(kill=True)


def test_cli_takes_the_cluster_name_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """$DITA_HAZELCAST_CLUSTER names the cluster here as for status, control, paper and serve;
    --cluster-name still wins, and a bad variable exits 2 naming it."""
    port = str(free_port())
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", "env-cluster")
    code, out = _cli("services", "hazelcast", "status", "--port", port, "--home", str(tmp_path))
    assert code == 3
    status = json.loads(out)
    assert status["cluster_name"] == "env-cluster"
    assert Path(status["state_dir"]).name == f"env-cluster-{port}"
    code, out = _cli(
        "services", "hazelcast", "status", "--port", port, "--home", str(tmp_path), "--cluster-name", "flag"
    )
    assert code == 3 and json.loads(out)["cluster_name"] == "flag"
    code, out = _cli("services", "hazelcast", "stop", "--port", port, "--home", str(tmp_path))
    assert code == 0 and "no member running" in out
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", "a b")
    code, out = _cli("services", "hazelcast", "status", "--port", port, "--home", str(tmp_path))
    assert code == 2 and "$DITA_HAZELCAST_CLUSTER: cluster_name must be 1-64 letters" in out
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", "env-cluster")
    from dita.services.hazelcast import main

    capsys.readouterr()
    assert main(["status", "--port", port, "--home", str(tmp_path)]) == 3
    assert json.loads(capsys.readouterr().out)["cluster_name"] == "env-cluster"
    code, out = _cli("services", "hazelcast", "status", "--port", port, "--cluster-name", "a b")
    assert code == 2 and "--cluster-name: cluster_name must be 1-64 letters" in out


def _fake_member(config_file: Path) -> subprocess.Popen[bytes]:
    """A process with a member's command line for ``config_file`` (all that pid() and the
    watchdog read of it), without a JVM."""
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", MAIN_CLASS, f"{_CONFIG_ARG}{config_file}"]
    )
    # Popen returns as the exec begins; /proc shows the new command line a moment later (longer
    # on a loaded machine), and a member's is read long after its start.
    cmdline = Path(f"/proc/{fake.pid}/cmdline")
    deadline = time.monotonic() + 10
    while MAIN_CLASS.encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    return fake


def test_a_member_under_a_home_not_utf8_is_found_and_stopped(tmp_path: Path) -> None:
    """Its command line, read with the bytes not UTF-8 replaced, never matched its config path:
    status said no member ran, and stop said so too and removed the pid file, leaving it running."""
    member = HazelcastMember(port=free_port(), cluster_name="c", home=tmp_path / os.fsdecode(b"home-\xff"))
    assert member.state_dir is not None
    member.state_dir.mkdir(parents=True)
    fake = _fake_member(member.config_file)
    try:
        member.pid_file.write_text(f"{fake.pid}\n")
        assert member.pid() == fake.pid
        assert member.stop(timeout=5) is True
        assert fake.wait(5) == -signal.SIGTERM
    finally:
        fake.kill()
        fake.wait()


def test_a_tied_member_under_a_state_dir_not_utf8_dies_with_its_starter(tmp_path: Path) -> None:
    """The watchdog encoded the config argument as strict UTF-8: it died at once, and the member
    outlived its starter."""
    member = HazelcastMember(
        port=free_port(),
        cluster_name="c",
        state_dir=tmp_path / os.fsdecode(b"state-\xff"),
        exit_with_parent=True,
    )
    fake = _fake_member(member.config_file)
    try:
        member._start_watchdog(fake.pid)
        member._end_watchdog()  # the pipe closes, as when the starter exits
        assert fake.wait(10) == -signal.SIGKILL
    finally:
        fake.kill()
        fake.wait()
