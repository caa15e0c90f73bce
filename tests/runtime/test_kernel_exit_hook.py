"""The exit hook that stops the input of a kernel nobody closed is one for all kernels. Each
kernel registered its own: CPython's atexit list never shrinks (an unregistered entry stays as
a hole, scanned by every later unregister), so a process making kernels one after another (a
parameter sweep of backtests, a test suite) grew it by one entry per kernel for good, and each
close scanned all of them: closing got slower with every kernel ever made."""

from __future__ import annotations

import atexit
import subprocess
import sys
import textwrap

from dita import ExecutionKernel


def test_kernels_made_and_closed_leave_no_exit_hook_behind() -> None:
    ExecutionKernel(max_slots=1).close()  # the hook for every kernel, registered once
    before = atexit._ncallbacks()
    for _ in range(50):
        ExecutionKernel(max_slots=1).close()
    assert atexit._ncallbacks() == before


def test_kernels_left_open_leave_no_exit_hook_each() -> None:
    kept = [ExecutionKernel(max_slots=1)]
    before = atexit._ncallbacks()
    try:
        kept += [ExecutionKernel(max_slots=1) for _ in range(50)]
        assert atexit._ncallbacks() == before
    finally:
        for kernel in kept:
            kernel.close()


SCRIPT = textwrap.dedent(
    """
    import atexit
    import functools

    from dita import ExecutionKernel


    class Kernel(ExecutionKernel):
        def stop_input(self):
            print("stopped", self.kernel_id, flush=True)
            super().stop_input()


    class Journal:
        # Registers its exit hook when made, as ClickHouseJournal does (it closes the journal).
        def __init__(self, name):
            self._exit_hook = functools.partial(print, "journal closed", name, flush=True)
            atexit.register(self._exit_hook)

        def attach(self, kernel):
            pass

        def close(self):
            pass


    first = Kernel(max_slots=1, kernel_id="first", journal=Journal("a"))
    closed = ExecutionKernel(max_slots=1, kernel_id="closed")
    second = Kernel(max_slots=1, kernel_id="second", journal=Journal("b"))
    closed.close()
    """
)


def test_open_kernels_are_stopped_at_exit_before_their_journals_close() -> None:
    """Each kernel left open stops its input at exit before its journal closes (the venue
    answers applied at the stop reach it), also a journal made after the first kernel; a kernel
    closed is not stopped again."""
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sorted(lines) == ["journal closed a", "journal closed b", "stopped first", "stopped second"]
    assert lines.index("stopped first") < lines.index("journal closed a"), lines
    assert lines.index("stopped second") < lines.index("journal closed b"), lines
