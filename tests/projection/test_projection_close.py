"""A projection's close turns off the change tracking of every kernel it served, but one held by
another thread's call past its wait: that one is named at WARNING and the close does not raise.
So does a kernel's own close, which takes it off its projection."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, InMemoryProjection


class _BusyToTurnOff(ExecutionKernel):
    """A kernel held by another thread's call past its wait when its tracking is turned off."""

    busy = False

    def set_projection_enabled(self, enabled: bool) -> Any:
        if self.busy and not enabled:
            raise RuntimeError("ExecutionKernel is busy in another thread (waited 10 s)")
        return super().set_projection_enabled(enabled)


def test_an_in_memory_projection_closed_with_a_busy_kernel_turns_the_others_tracking_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    projection = InMemoryProjection()
    busy = _BusyToTurnOff(max_slots=1, kernel_id="busy")
    other = ExecutionKernel(max_slots=1, kernel_id="other")
    try:
        projection.attach(busy)
        projection.attach(other)
        busy.busy = True
        with caplog.at_level(logging.WARNING, logger="dita.projection"):
            projection.close()
        assert "in-memory projection closed while kernels ['busy'] were busy" in caplog.text
        other.set_slot_metadata(0, {"desk": "a"})  # marks slot 0 changed while tracking
        assert other.projection_changes()[0] == {}  # its tracking is off
    finally:
        busy.busy = False
        busy.close()
        other.close()


def test_a_busy_kernel_closing_leaves_its_in_memory_projection_named_at_warning_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    projection = InMemoryProjection()
    busy = _BusyToTurnOff(max_slots=1, kernel_id="busy", projection=projection)
    other = ExecutionKernel(max_slots=1, kernel_id="other", projection=projection)
    try:
        busy.busy = True
        with caplog.at_level(logging.WARNING, logger="dita.projection"):
            busy.close()
        assert "in-memory projection detached a kernel while kernels ['busy'] were busy" in caplog.text
        assert not projection.serves(busy) and projection.serves(other)
        other.close()
        assert not projection.serves(other)  # the last kernel closed the projection
    finally:
        busy.busy = False
        busy.close()
        other.close()
