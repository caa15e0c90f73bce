"""`dita services hazelcast status --cluster-name <another>` on the recorded member's port: that
member runs under its own name, which the status goes by, the name given said not to be it;
under the name given it read as a member refusing clients (exit 3), a healthy one taken for broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.services.hazelcast import HazelcastMember
from dita.services.member_file import write_member_file


def test_status_of_the_recorded_member_under_another_name_goes_by_its_own(
    hz_member: HazelcastMember, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = hz_member.pid()
    assert pid is not None
    write_member_file(tmp_path, hz_member, pid)
    monkeypatch.setenv("DITA_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("DITA_HAZELCAST_CLUSTER", raising=False)
    args = ["services", "hazelcast", "status", "--port", str(hz_member.port), "--cluster-name", "typo"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    assert state["cluster_name"] == hz_member.cluster_name and state["accepting_clients"] is True
    said = f"--cluster-name 'typo' is not the cluster of the member recorded on {hz_member.address}"
    assert said in result.stderr and repr(hz_member.cluster_name) in result.stderr, result.stderr
