"""``update_control(..., if_mode=)`` changes the control only while the kernel runs the mode its
caller read: a change made in between (an operator's halt) is not overwritten. One that does
not apply changes nothing, its sequence number and log record included, and returns None; an
``if_mode`` that is no mode is refused naming it, nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dita import ExecutionKernel


def test_a_change_applies_while_the_kernel_runs_the_mode_read_and_is_replayed(tmp_path: Path) -> None:
    kernel = ExecutionKernel(max_slots=1, kernel_id="if-mode", wal_dir=str(tmp_path))
    read = kernel.control()["mode"]
    changed = kernel.update_control(mode="REDUCE_ONLY", source="dead-man", if_mode=read)
    assert changed is not None
    assert (changed["mode"], changed["source"], changed["updated_seq"]) == ("REDUCE_ONLY", "dead-man", 1)
    assert kernel.seq == 1
    expected = kernel.control()
    kernel.close()
    again = ExecutionKernel(max_slots=1, kernel_id="if-mode", wal_dir=str(tmp_path))
    assert again.control() == expected
    again.close()


def test_a_change_after_another_changes_nothing_and_returns_none(tmp_path: Path) -> None:
    kernel = ExecutionKernel(max_slots=1, kernel_id="if-mode", wal_dir=str(tmp_path))
    read = kernel.control()["mode"]
    kernel.update_control(mode="HALTED", source="operator")  # lands after the read
    halted, seq = kernel.control(), kernel.seq
    trip = kernel.update_control(mode="REDUCE_ONLY", verbosity="DEBUG", source="dead-man", if_mode=read)
    assert trip is None
    assert kernel.update_control({"mode": "REDUCE_ONLY"}, if_mode=read) is None
    assert kernel.control() == halted
    assert kernel.seq == seq
    info = kernel.wal_info()
    assert info is not None and info["last_seq"] == seq
    kernel.close()


@pytest.mark.parametrize(
    ("if_mode", "error", "message"),
    [
        ("LIVEE", ValueError, 'invalid if_mode: unknown ControlMode "LIVEE"; expected one of LIVE, PAPER'),
        (3, TypeError, "invalid if_mode: expected ControlMode or its name as str, got int"),
    ],
)
@pytest.mark.parametrize("as_dict", [False, True], ids=["fields", "update-dict"])
def test_an_if_mode_that_is_no_mode_is_refused_naming_it_and_changes_nothing(
    if_mode: Any, error: type[Exception], message: str, as_dict: bool
) -> None:
    kernel = ExecutionKernel(max_slots=1)
    before, seq = kernel.control(), kernel.seq
    with pytest.raises(error, match=message):
        if as_dict:
            kernel.update_control({"mode": "HALTED", "source": "operator"}, if_mode=if_mode)
        else:
            kernel.update_control(mode="HALTED", source="operator", if_mode=if_mode)
    assert kernel.control() == before
    assert kernel.seq == seq
