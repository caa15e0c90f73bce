"""The paper run's state file is written atomically and durably."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dita.cli import _state


def test_the_state_file_reaches_the_disk_before_its_name_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Renamed before its bytes were synced, a power cut could leave the name on an empty or
    # torn file, which `dita paper --wal-dir` refuses to continue from.
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append("sync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "sync file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        steps.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(_state.os, "fsync", fsync)
    monkeypatch.setattr(_state.os, "replace", replace)
    path = _state.write_state_file(tmp_path / "run", {"kernel_id": "k1", "seq": 7})
    assert steps == ["sync file", "rename", "sync dir"]
    assert json.loads(path.read_text()) == {"kernel_id": "k1", "seq": 7}
    assert [p.name for p in path.parent.iterdir()] == ["k1.json"]  # no temporary file left
