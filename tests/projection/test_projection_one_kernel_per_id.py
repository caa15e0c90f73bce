"""Two kernels of one id attached at once to one projection: one is taken, the other refused, so
no kernel is replaced while it goes on tracking changes no one drains."""

from __future__ import annotations

import threading
import time
from typing import Any

from dita import ExecutionKernel, InMemoryProjection


class _SlowToTrack(ExecutionKernel):
    """A kernel whose tracking takes a moment to turn on: the window between check and take."""

    def set_projection_enabled(self, enabled: bool) -> Any:
        time.sleep(0.2)
        return super().set_projection_enabled(enabled)


def test_two_kernels_of_one_id_attached_at_once_take_one_and_refuse_the_other() -> None:
    projection = InMemoryProjection()
    kernels = [_SlowToTrack(max_slots=1, kernel_id="desk") for _ in range(2)]
    start = threading.Barrier(2)
    refused: list[BaseException] = []

    def attach(kernel: ExecutionKernel) -> None:
        start.wait()
        try:
            projection.attach(kernel)
        except ValueError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=attach, args=(k,)) for k in kernels]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [str(e) for e in refused] == ["kernel_id 'desk' is already attached to this projection"]
    assert len(projection._kernels) == 1
