"""What the dita.kernel logger says of a failed checkpoint once the log itself failed (a full disk
fails both): not that trading goes on and the log is whole, since the kernel refuses every input
until the process is restarted."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from dita import ExecutionKernel
from dita._kernel import WalError


def test_a_checkpoint_failure_warned_of_after_the_log_failed_says_the_kernel_refuses_input(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wal_dir = tmp_path / "wal"
    kernel = ExecutionKernel(
        max_slots=2, kernel_id="log-fails", wal_dir=str(wal_dir), fsync="always", wal_checkpoint_every=5
    )
    # A directory where the checkpoint at seq 5 writes its temporary file: that checkpoint fails.
    (wal_dir / "ckpt-00000000000000000005.ckpt.tmp").mkdir()
    for i in range(5):
        kernel.mark_price("BTC", 100.0 + i)
    # Then the log fails: its segment is moved away.
    (segment,) = wal_dir.glob("seg-*.wal")
    os.rename(segment, tmp_path / "archived.wal")
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        with pytest.raises((WalError, OSError)):
            kernel.wal_sync()  # waits for the checkpoint, then meets the log's failure
    info = kernel.wal_info()
    assert info is not None and info["poisoned"] is not None and info["checkpoint_failures"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "dita.kernel"]
    assert len(warnings) == 1, warnings
    said = warnings[0]
    assert "checkpoint" in said and "log-fails" in said, said
    assert "trading goes on" not in said and "the log is whole" not in said, said
    assert "refuses every input" in said and "restart the process" in said, said
    assert segment.name in said, f"the log's failure is not named: {said}"
    with pytest.raises((WalError, OSError)):
        kernel.close()
