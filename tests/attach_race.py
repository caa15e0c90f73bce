"""Two kernels of one id attached at once to one projection, each slow to turn its tracking on:
the window between a projection's check of the id and its take. Shared by the in-memory and the
Hazelcast projections' tests."""

from __future__ import annotations

import threading
import time
from typing import Any

from dita import ExecutionKernel


class SlowToTrack(ExecutionKernel):
    """A kernel whose tracking takes a moment to turn on."""

    def set_projection_enabled(self, enabled: bool) -> Any:
        time.sleep(0.2)
        return super().set_projection_enabled(enabled)


def attach_at_once(projection: Any, kernel_id: str, timeout: float) -> list[str]:
    """Attach two ``SlowToTrack`` kernels of ``kernel_id`` to ``projection`` from two threads
    released together; the refusals (ValueError) as text."""
    kernels = [SlowToTrack(max_slots=1, kernel_id=kernel_id) for _ in range(2)]
    start = threading.Barrier(2)
    refused: list[str] = []

    def attach(kernel: ExecutionKernel) -> None:
        start.wait()
        try:
            projection.attach(kernel)
        except ValueError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=attach, args=(k,)) for k in kernels]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return refused
