"""The Hazelcast commands say which cluster they talk to and where each part of it came from,
and find the member `dita services hazelcast start` recorded without options."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.services.hazelcast import HazelcastMember, free_port
from dita.services.member_file import member_file, read_member_file, write_member_file

runner = CliRunner()


@pytest.fixture()
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory of the test's own, and no cluster named by the environment."""
    monkeypatch.setenv("DITA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("DITA_HAZELCAST_MEMBERS", raising=False)
    monkeypatch.delenv("DITA_HAZELCAST_CLUSTER", raising=False)
    return tmp_path / "state"


def _dita(*args: str) -> subprocess.CompletedProcess[str]:
    """A command in a process of its own: the member it starts outlives it, as from a shell."""
    return subprocess.run([sys.executable, "-m", "dita", *args], capture_output=True, text=True, timeout=300)


def _said(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("Hazelcast cluster "))


def test_start_records_the_member_and_the_other_commands_find_it_without_options(
    state_dir: Path, hz_jars: list[Path], tmp_path: Path
) -> None:
    """The member on another port and cluster: `dita control show` reaches it with no option,
    saying so; `dita status --hazelcast` takes its cluster name for that address; stop removes
    the record."""
    port, name = free_port(), f"desk-{uuid.uuid4().hex[:6]}"
    home = [("--home"), str(tmp_path / "home")]
    # The jars already fetched: the member's own home only holds its state.
    (tmp_path / "home" / "jars").mkdir(parents=True)
    for jar in hz_jars:
        (tmp_path / "home" / "jars" / jar.name).symlink_to(jar)
    started = _dita("services", "hazelcast", "start", "--port", str(port), "--cluster-name", name, *home)
    try:
        assert started.returncode == 0, started.stderr
        address = f"127.0.0.1:{port}"
        assert f"dita control: --cluster {address} --cluster-name {name}" in started.stdout
        assert f"--hazelcast {address} --hz-cluster {name}" in started.stdout
        record = read_member_file(state_dir)
        assert record is not None and (record.address, record.cluster_name) == (address, name)
        assert record.pid > 0

        shown = runner.invoke(app, ["control", "show", "--json"])
        assert shown.exit_code == 0, shown.output
        where = f"the member file {member_file(state_dir)}"
        assert _said(shown.stderr) == (
            f"Hazelcast cluster '{name}' (from {where}) at {address} (from {where})"
        )

        status = runner.invoke(app, ["status", "--hazelcast", address, "--json"])
        assert status.exit_code == 0, status.output
        assert (
            _said(status.stderr)
            == f"Hazelcast cluster '{name}' (from {where}) at {address} (from --hazelcast)"
        )

        # `status` and `stop` without options: the member recorded, its state wherever --home put it.
        state = _dita("services", "hazelcast", "status")
        assert state.returncode == 0, state.stderr
        assert json.loads(state.stdout)["address"] == address and json.loads(state.stdout)["running"]
        assert f"the member recorded in {member_file(state_dir)}: {address}, cluster '{name}'" in state.stderr
    finally:
        stopped = _dita("services", "hazelcast", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the member on 127.0.0.1:{port}" in stopped.stdout
    assert not member_file(state_dir).exists()


def test_options_and_environment_are_named_as_the_source(
    state_dir: Path, hz_member: HazelcastMember, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = runner.invoke(
        app,
        [
            "control",
            "show",
            "--json",
            "--cluster",
            hz_member.address,
            "--cluster-name",
            hz_member.cluster_name,
        ],
    )
    assert given.exit_code == 0, given.output
    assert _said(given.stderr) == (
        f"Hazelcast cluster '{hz_member.cluster_name}' (from --cluster-name) at {hz_member.address}"
        " (from --cluster)"
    )
    monkeypatch.setenv("DITA_HAZELCAST_MEMBERS", hz_member.address)
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", hz_member.cluster_name)
    from_env = runner.invoke(app, ["control", "show", "--json"])
    assert from_env.exit_code == 0, from_env.output
    assert _said(from_env.stderr) == (
        f"Hazelcast cluster '{hz_member.cluster_name}' (from $DITA_HAZELCAST_CLUSTER) at "
        f"{hz_member.address} (from $DITA_HAZELCAST_MEMBERS)"
    )
    json.loads(from_env.stdout)  # the JSON on stdout, the line on stderr


def test_a_member_file_naming_a_member_that_is_gone_is_said_and_not_used(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    member = HazelcastMember(port=free_port(), cluster_name="gone-desk", home=tmp_path / "home")
    write_member_file(state_dir, member, int(ended.stdout))
    # A name of its own, so the default address reaches no cluster another run may have there.
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", f"nobody-{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "1")
    result = runner.invoke(app, ["control", "show"])
    assert result.exit_code == 3, result.output
    assert (
        f"warning: {member_file(state_dir)} names the Hazelcast member {member.address} of cluster "
        f"'gone-desk', which is gone (pid {int(ended.stdout)} is not running): not used"
    ) in result.stderr
    assert _said(result.stderr).endswith("at 127.0.0.1:5701 (from default)")


def test_a_damaged_member_file_is_said_and_not_used(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    member_file(state_dir).parent.mkdir(parents=True)
    member_file(state_dir).write_text("{not json")
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", f"nobody-{uuid.uuid4().hex[:6]}")
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "1")
    result = runner.invoke(app, ["control", "show"])
    assert result.exit_code == 3, result.output
    assert f"warning: {member_file(state_dir)}: not a member file" in result.stderr
    assert _said(result.stderr).endswith("(from default)")
