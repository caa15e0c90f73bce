"""A kernel id of ``*``, the control plane's key of the entry for every kernel, is refused wherever a
kernel id is taken: a kernel of that id read and wrote the global entry as its own (resumed alone, it
resumed every kernel). Refused naming the field and the value, nothing made, attached or written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dita import ExecutionKernel, InMemoryControlPlane, InMemoryProjection
from dita._kernel import KernelCore

KERNEL_SAID = r"kernel_id '\*' is the control plane's entry for every kernel: give the kernel another id"
SET_SAID = r"kernel_id '\*' is the control plane's entry for every kernel, not a kernel's: pass None"


def test_a_kernel_named_like_the_global_entry_is_refused_before_its_log_is_made(tmp_path: Path) -> None:
    wal = tmp_path / "wal"
    with pytest.raises(ValueError, match=KERNEL_SAID):
        ExecutionKernel(max_slots=1, kernel_id="*", wal_dir=str(wal))
    assert not wal.exists()
    with pytest.raises(ValueError, match=KERNEL_SAID):
        ExecutionKernel(1, None, None, None, None, "*")  # given by position
    # An id that holds a `*` among other characters is a kernel's own key.
    assert ExecutionKernel(max_slots=1, kernel_id="desk-*").kernel_id == "desk-*"


def _log_of_id_star(tmp_path: Path) -> str:
    """A write-ahead log of kernel id ``*``, as an earlier version made one."""
    wal = str(tmp_path / "wal")
    KernelCore(max_slots=1, kernel_id="*", wal_dir=wal).close_core()
    return wal


def test_a_kernel_of_id_star_from_an_earlier_log_is_refused_by_the_projection_and_the_plane(
    tmp_path: Path,
) -> None:
    """Its log still opens (its state is read), but no projection or control plane takes it."""
    wal = _log_of_id_star(tmp_path)
    before = sorted(os.listdir(wal))
    projection, plane = InMemoryProjection(), InMemoryControlPlane()
    with pytest.raises(ValueError, match=KERNEL_SAID):
        ExecutionKernel(max_slots=1, wal_dir=wal, projection=projection)
    with pytest.raises(ValueError, match=KERNEL_SAID):
        ExecutionKernel(max_slots=1, wal_dir=wal, control_plane=plane)
    assert not (projection.slots or projection.accounts or projection.control or projection._kernels)
    assert (plane.entries, plane._kernels) == ({}, {})
    assert sorted(os.listdir(wal)) == before
    kernel = ExecutionKernel(max_slots=1, wal_dir=wal)  # the log is free again, and still opens
    assert kernel.kernel_id == "*"
    kernel.close()


def test_a_kernel_core_of_id_star_is_refused_by_the_in_memory_projection() -> None:
    core = KernelCore(max_slots=1, kernel_id="*")
    projection = InMemoryProjection()
    with pytest.raises(ValueError, match=KERNEL_SAID):
        projection.attach(core)  # type: ignore[arg-type]
    assert (projection.slots, projection.accounts, projection.writes) == ({}, {}, 0)
    assert core.projection_changes() == ({}, None, None)  # tracking was never turned on


def test_a_change_for_kernel_id_star_is_refused_not_taken_for_every_kernel() -> None:
    """`set("*", mode="LIVE")`, meant for a kernel of that id, resumed every kernel."""
    plane = InMemoryControlPlane()
    kernel = ExecutionKernel(max_slots=1, kernel_id="k", control_plane=plane)
    plane.set(mode="HALTED")
    with pytest.raises(ValueError, match=SET_SAID):
        plane.set("*", mode="LIVE")
    assert plane.entries == {"*": {"mode": "HALTED"}}
    assert kernel.control()["mode"] == "HALTED"


def test_dita_paper_refuses_kernel_id_star_before_making_its_state_directory(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dita.cli import app

    state, bars = tmp_path / "state", tmp_path / "bars.csv"
    bars.write_text("timestamp,asset,open,high,low,close,volume\n1704067200,BTCUSDT,100,101,99,100,1000\n")
    args = ["paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", str(bars), "--max-speed"]
    result = CliRunner().invoke(app, [*args, "--kernel-id", "*", "--state-dir", str(state)])
    assert result.exit_code == 2, result.output
    assert "--kernel-id '*': it is the control plane's entry for every kernel" in result.output
    assert not state.exists()
