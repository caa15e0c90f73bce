"""`dita services hazelcast status|stop --port P`: the member `start` recorded on P (another
cluster name, its state under another --home) is the one they act on, as without --port; a
port some other process holds is said so, and a stop that stopped nothing there fails."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.services.hazelcast import HazelcastMember, free_port
from dita.services.member_file import member_file, read_member_file

runner = CliRunner()


@pytest.fixture()
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory of the test's own, and no cluster named by the environment."""
    monkeypatch.setenv("DITA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("DITA_HAZELCAST_CLUSTER", raising=False)
    return tmp_path / "state"


def _services(*args: str) -> tuple[int, str, str]:
    done = runner.invoke(app, ["services", "hazelcast", *args])
    return done.exit_code, done.stdout, done.stderr


@pytest.fixture()
def listener() -> Iterator[int]:
    """A port a process other than any member listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_status_and_stop_by_port_act_on_the_member_recorded_on_it(
    state_dir: Path, hz_jars: list[Path], tmp_path: Path
) -> None:
    port, name = free_port(), f"desk-{uuid.uuid4().hex[:6]}"
    home = tmp_path / "home"
    (home / "jars").mkdir(parents=True)
    for jar in hz_jars:
        (home / "jars" / jar.name).symlink_to(jar)
    start = [
        "services",
        "hazelcast",
        "start",
        "--port",
        str(port),
        "--cluster-name",
        name,
        "--home",
        str(home),
    ]
    # In a process of its own: the member it starts outlives it, as from a shell.
    started = subprocess.run(
        [sys.executable, "-m", "dita", *start], capture_output=True, text=True, timeout=300
    )
    try:
        assert started.returncode == 0, started.stderr
        code, out, err = _services("status", "--port", str(port))
        assert code == 0, (out, err)
        state = json.loads(out)
        assert state["running"] and state["cluster_name"] == name and not state["port_held_by_another"]
        assert f"the member recorded in {member_file(state_dir)}: 127.0.0.1:{port}, cluster '{name}'" in err
        # Another port is another member's: the record is not read for it.
        other = free_port()
        code, out, err = _services("status", "--port", str(other), "--home", str(home))
        assert code == 3 and json.loads(out)["address"] == f"127.0.0.1:{other}", out
        assert "recorded" not in err, err
        code, out, err = _services("stop", "--port", str(port))
        assert code == 0 and f"stopped the member on 127.0.0.1:{port}" in out, (out, err)
        assert read_member_file(state_dir) is None
    finally:
        HazelcastMember(port=port, cluster_name=name, home=home).stop(kill=True)


def test_a_port_held_by_another_process_is_said_and_its_stop_fails(state_dir: Path, listener: int) -> None:
    held = f"127.0.0.1:{listener} is held by another process, not the member of cluster 'dita'"
    code, out, err = _services("status", "--port", str(listener))
    assert code == 3 and f"warning: {held}" in err, (out, err)
    state = json.loads(out)
    assert state["running"] is False and state["port_held_by_another"] is True
    code, out, err = _services("stop", "--port", str(listener))
    assert code == 1 and "no member running" not in out + err, (code, out, err)
    assert f"error: {held}" in err and err.rstrip().endswith("nothing stopped"), err
