"""`dita audit verify` and `dita wal replay` print the log's kernel id as `dita status` does: a
control character in it (the kernel takes an id holding ESC) as its escape, not sent to the
operator's terminal, where ``\\x1b[2K`` erased the line that names the kernel."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import app

KERNEL_ID = "k\x1b[2Kx\u202e"


def _log(tmp_path: Path) -> Path:
    wal = tmp_path / "wal"
    ExecutionKernel(max_slots=2, kernel_id=KERNEL_ID, wal_dir=str(wal)).close()
    return wal


def test_audit_verify_shows_a_control_character_of_the_kernel_id_escaped(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "verify", str(_log(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "kernel     k\\x1b[2Kx\\u202e" in result.stdout, result.stdout
    # --json keeps the id as it is (JSON escapes it).
    as_json = CliRunner().invoke(app, ["audit", "verify", str(_log(tmp_path / "j")), "--json"])
    assert json.loads(as_json.stdout)["kernel_id"] == KERNEL_ID


def test_wal_replay_shows_a_control_character_of_the_kernel_id_escaped(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["wal", "replay", str(_log(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "kernel k\\x1b[2Kx\\u202e recovered at seq 0" in result.stdout, result.stdout
    snapshot = json.loads(result.stdout.split("\n", 1)[1])
    assert snapshot["kernel_id"] == KERNEL_ID
