"""Reading a kernel from off the hot path (the publisher, the control plane's worker) without
taking it from the strategy's thread in the middle of a call."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

GUARD_KERNEL_READS = True
_reads_lock = threading.Lock()
_reads_open = 0  # reads under way, in any thread
_reads_disabled_gc = False  # the first of them turned the collector off (so the last turns it on)


@contextlib.contextmanager
def kernel_reads() -> Iterator[None]:
    """Hold off the garbage collector while this thread reads a kernel from off the hot path.

    A native kernel call borrows the kernel; if the interpreter switched threads in the middle
    of one, the strategy's next call would fail with "Already borrowed". Native code only lets
    go of the GIL when Python code runs, and the one way Python code runs inside these reads
    is a collection triggered by their allocations running finalizers, so none may start.

    Reads of several threads (the publisher, the control plane's listener) may overlap: the
    collector comes back on when the last of them ends, and only if it was on before the first.
    """
    global _reads_open, _reads_disabled_gc
    if not GUARD_KERNEL_READS:
        yield
        return
    with _reads_lock:
        if _reads_open == 0:
            _reads_disabled_gc = gc.isenabled()
            if _reads_disabled_gc:
                gc.disable()
        _reads_open += 1
    try:
        yield
    finally:
        with _reads_lock:
            _reads_open -= 1
            if _reads_open == 0 and _reads_disabled_gc:
                _reads_disabled_gc = False
                gc.enable()
