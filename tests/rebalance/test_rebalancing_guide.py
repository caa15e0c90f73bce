"""The rebalancing guide's example runs as written: its targets file, its commands in order."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "rebalancing.md"


def test_the_guides_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    (csv_block,) = re.findall(r"```csv\n(.*?)```", text, re.S)
    (commands,) = re.findall(r"```sh\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)
    Path("targets.csv").write_text(csv_block)
    outputs = []
    for line in commands.strip().splitlines():
        args = shlex.split(line)
        assert args[0] == "dita"
        result = CliRunner().invoke(app, args[1:])
        assert result.exit_code == 0, (line, result.output)
        outputs.append(result.output)
    assert "dry run" in outputs[0]
    version = hashlib.sha256(csv_block.encode()).hexdigest()[:12]
    assert f"rebalance:run-42:{version}:BTCUSDT:buy" in outputs[2] and "chain OK" in outputs[2]
