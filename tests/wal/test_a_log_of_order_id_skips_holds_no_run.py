"""Each open after a stop that was not clean records the client order ids it skips. Starts killed
before their first record leave a log of those skips only, which holds no run: the next start is
a fresh kernel (``holds_a_run``), not one continued with no capital and no label. Any input of a
run (its seed capital, fees, risk limits, a label) makes the log one to continue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crashed_log import close_as_a_crash_leaves_it
from dita import ExecutionKernel
from dita.cli.recovered import holds_a_run, recovered_seq


def _opened(wal_dir: Path) -> ExecutionKernel:
    return ExecutionKernel(kernel_id="k", wal_dir=str(wal_dir), fsync="batch", max_slots=4)


def _killed_thrice_before_a_record(wal_dir: Path) -> None:
    for _ in range(3):
        close_as_a_crash_leaves_it(_opened(wal_dir))


def test_a_log_of_order_id_skips_holds_no_run(tmp_path: Path) -> None:
    _killed_thrice_before_a_record(tmp_path / "wal")
    with _opened(tmp_path / "wal") as kernel:
        assert recovered_seq(kernel) > 0  # the skips are records
        assert not holds_a_run(kernel)


@pytest.mark.parametrize(
    "set_up",
    [
        lambda k: k.set_seed_capital(1_000.0),
        lambda k: k.set_exchange_config({"taker_rate": 0.002}),
        lambda k: k.set_risk_limits({"max_notional_total": 5.0}),
        lambda k: k.update_control(mode="LIVE", source="dita-live"),
        lambda k: k.update_control(verbosity="DEBUG", source="operator"),
    ],
    ids=["seed capital", "fees", "risk limits", "label", "verbosity"],
)
def test_a_log_holding_an_input_of_a_run_after_its_skips_is_continued(
    tmp_path: Path, set_up: Callable[[Any], None]
) -> None:
    _killed_thrice_before_a_record(tmp_path / "wal")
    with _opened(tmp_path / "wal") as kernel:
        set_up(kernel)
    with _opened(tmp_path / "wal") as kernel:
        assert holds_a_run(kernel)


def test_a_kernel_without_a_log_holds_no_run() -> None:
    assert not holds_a_run(ExecutionKernel(kernel_id="k", max_slots=4))
