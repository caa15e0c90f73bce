"""``set_journal_enabled`` and ``set_projection_enabled`` take a flag as every entry point
does (a bool, Python's or numpy's, or the int 0 or 1 of a database row); they refused 0 and 1
with PyO3's "'int' object cannot be cast as 'bool'", which named no value."""

from __future__ import annotations

import numpy as np
import pytest

from dita import ExecutionKernel, KernelCommandType, KernelIntent, TradeSide


def _enter(kernel: ExecutionKernel, n: int) -> None:
    outcome = kernel.process_intent(
        KernelIntent(f"i{n}", f"t{n}", 0, "BTCUSDT", TradeSide.LONG, KernelCommandType.ENTER, 100.0, 1.0)
    )
    assert outcome.accepted, outcome


@pytest.mark.parametrize("on, off", [(1, 0), (True, False), (np.bool_(True), np.bool_(False))])
def test_the_journal_outbox_takes_a_flag_as_every_entry_point_does(on: object, off: object) -> None:
    kernel = ExecutionKernel(max_slots=1, kernel_id="flags-journal")
    kernel.set_journal_enabled(on)  # type: ignore[arg-type]
    _enter(kernel, 1)
    assert any(kernel.drain_journal().values())
    kernel.set_journal_enabled(off)  # type: ignore[arg-type]
    assert not any(kernel.drain_journal().values())


@pytest.mark.parametrize("on", [1, True])
def test_the_projection_takes_a_flag_as_every_entry_point_does(on: object) -> None:
    kernel = ExecutionKernel(max_slots=1, kernel_id="flags-projection")
    kernel.set_projection_enabled(on)  # type: ignore[arg-type]
    kernel.projection_changes()
    _enter(kernel, 1)
    slots, _, _ = kernel.projection_changes()
    assert list(slots) == [0]


@pytest.mark.parametrize("method", ["set_journal_enabled", "set_projection_enabled"])
@pytest.mark.parametrize("value", [2, -1, 1.0, "yes", None])
def test_what_is_no_flag_is_refused_naming_the_argument_and_the_value(method: str, value: object) -> None:
    kernel = ExecutionKernel(max_slots=1, kernel_id="flags-refused")
    before = kernel.snapshot()
    with pytest.raises(TypeError) as raised:
        getattr(kernel, method)(value)
    message = str(raised.value)
    assert "enabled" in message and repr(value) in message, message
    assert kernel.snapshot() == before
