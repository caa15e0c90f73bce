"""Work run on several threads at once, as a loaded host runs them: for the tests that show a
race (the kernel's wrapper, venues called from several threads)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def threads_switch_often() -> Iterator[None]:
    """Another thread gets in between any two bytecodes, as on a loaded host."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def together(*work: Callable[[], None]) -> None:
    """Runs each of ``work`` on its own thread, started together, threads switching often;
    raises the first failure on the caller's thread."""
    start = threading.Barrier(len(work))
    failures: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        start.wait()
        try:
            job()
        except BaseException as exc:  # raised on the caller's thread below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    with threads_switch_often():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if failures:
        raise failures[0]
