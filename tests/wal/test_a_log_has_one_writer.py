"""A log has one writer while its kernel runs, whatever happens to its LOCK file: an operator
clearing what looks like a stale lock, or a restore copying an old LOCK over it, lets no second
process open the log (two writers append to one segment, break its chain and hand out the same
client ids)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from wal_workload import make_kernel, run, run_child

from dita._kernel import wal_verify

SECOND_KERNEL = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from wal_workload import make_kernel
    try:
        k = make_kernel(Path(sys.argv[1]), fsync="always")
    except Exception as exc:
        print(json.dumps({"opened": False, "error": f"{type(exc).__name__}: {exc}"}))
    else:
        k.close()
        print(json.dumps({"opened": True}))
    """
)


@pytest.mark.parametrize("lock_file", ["removed", "replaced"])
def test_a_second_process_cannot_open_a_running_kernels_log_whatever_became_of_its_lock_file(
    tmp_path: Path, lock_file: str
) -> None:
    wal_dir = tmp_path / "wal"
    first = make_kernel(wal_dir, fsync="always")
    for _ in run(first, 1, 20):
        pass
    lock = wal_dir / "LOCK"
    if lock_file == "removed":
        lock.unlink()
    else:
        restored = tmp_path / "LOCK"
        restored.write_text("pid 1\n")
        os.replace(restored, lock)
    second = run_child(SECOND_KERNEL, wal_dir)
    assert not second["opened"], "a second writer opened the log of a running kernel"
    assert "WalError" in second["error"] and "locked by another writer" in second["error"], second
    for _ in run(first, 3, 10):  # the first kernel trades on
        pass
    seq = first.seq
    first.close()
    assert wal_verify(wal_dir)["last_seq"] == seq
