"""An open that fails after its log is open for appends (here: the migration checkpoint of an
earlier build's log, refused by a file-size limit, as a nearly full disk would) leaves the log
as uncleanly stopped as it found it: no clean-stop file, so the next open still skips the client
order ids that lost records may have held."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dita import ExecutionKernel

FIXTURE = Path(__file__).parent / "fixtures" / "version_40" / "stopped_cleanly"
PYTHON = Path(__file__).parents[2] / "python"

OPEN_UNDER_A_FILE_SIZE_LIMIT = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))  # a clean-stop file fits, a checkpoint not
from dita import ExecutionKernel
try:
    ExecutionKernel(kernel_id="fixture-40", wal_dir=sys.argv[1])
except Exception as e:
    print("refused:", type(e).__name__, e)
    sys.exit(3)
print("opened")
"""


def test_an_open_that_fails_leaves_no_clean_stop_and_the_next_skips_order_ids(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    shutil.copytree(FIXTURE, wal)
    assert not (wal / "clean-stop").exists()  # an earlier build's log: not stopped cleanly
    env = {**os.environ, "PYTHONPATH": str(PYTHON)}
    failed = subprocess.run(
        [sys.executable, "-c", OPEN_UNDER_A_FILE_SIZE_LIMIT, str(wal)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert not (wal / "clean-stop").exists(), (wal / "clean-stop").read_text()

    kernel = ExecutionKernel(kernel_id="fixture-40", wal_dir=str(wal))
    try:
        info = kernel.wal_info()
        assert info is not None
        assert info["recovery"]["order_ids_skipped_through"] is not None
    finally:
        kernel.close()
