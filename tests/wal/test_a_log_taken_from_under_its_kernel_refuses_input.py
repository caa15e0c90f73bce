"""A log taken from under its running kernel (its directory removed by a cleanup run on the wrong
path, its segment moved away by an archive step) fails as after an I/O error: records written
to a file no directory holds are in no log a restart reads, so none is acknowledged as durable,
every further input is refused, and close() raises. Otherwise the restart is a new kernel at
seq 1, its positions and orders forgotten and its client ids issued again."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from wal_workload import make_kernel, run, step

from dita import ExecutionKernel
from dita._kernel import WalError

GONE = "removed or moved out of the log directory"


def _trade(kernel: ExecutionKernel, seed: int, steps: int) -> None:
    for _ in run(kernel, seed, steps):
        pass


def _take_away(wal_dir: Path, segment: Path, how: str) -> None:
    if how == "directory removed":
        shutil.rmtree(wal_dir)
    else:
        os.rename(segment, wal_dir.parent / "archived.wal")


@pytest.mark.parametrize("how", ["directory removed", "segment moved away"])
@pytest.mark.parametrize("fsync", ["always", "batch", "none"])
def test_a_kernel_whose_log_was_taken_away_acknowledges_no_input_as_durable(
    tmp_path: Path, fsync: str, how: str
) -> None:
    wal_dir = tmp_path / "wal"
    kernel = make_kernel(wal_dir, fsync=fsync)
    _trade(kernel, 1, 50)
    durable = kernel.wal_sync()
    (segment,) = sorted(wal_dir.glob("seg-*.wal"))
    _take_away(wal_dir, segment, how)
    with pytest.raises((WalError, OSError), match=GONE):
        _trade(kernel, 2, 50)
        kernel.wal_sync()
    info = kernel.wal_info()
    assert info is not None
    assert info["durable_seq"] == durable
    assert GONE in info["poisoned"] and str(segment) in info["poisoned"]
    seq = kernel.seq
    with pytest.raises(WalError, match=GONE):
        step(kernel, random.Random(3), 1_000)
    assert kernel.seq == seq, "an input was applied that the log refused"
    with pytest.raises((WalError, OSError), match=GONE):
        kernel.close()


@pytest.mark.parametrize("fsync", ["batch", "none"])
def test_close_of_a_kernel_whose_log_directory_was_just_removed_raises(tmp_path: Path, fsync: str) -> None:
    """Before the log's thread noticed: the clean stop's checkpoint and sync meet it."""
    wal_dir = tmp_path / "wal"
    kernel = make_kernel(wal_dir, fsync=fsync)
    _trade(kernel, 1, 50)
    shutil.rmtree(wal_dir)
    with pytest.raises((WalError, OSError), match=GONE):
        kernel.close()
