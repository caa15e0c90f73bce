"""The kernel's lane: one worker thread makes every kernel call of the gateway's requests and
its polling, one at a time, in the order they came.

A worker per request would race its commands, and the kernel refuses a second caller as busy
after 10 s; a call made on the event loop would stall every request while another thread held
the kernel or a venue took its time to answer. So the event loop keeps answering (``/healthz``,
the event streams) while the lane waits for the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from dita._text import shortened
from dita.gateway.responses import response_abandoned

__all__ = ["LANE_STOP_QUIET_S", "GatewayStopped", "KernelLane", "kernel_lock"]

# The HTTP gateway logs under one name, that of the module embedders serve: dita.gateway.app.
log = logging.getLogger("dita.gateway.app")

T = TypeVar("T")

# How long a call may hold the kernel's lane at the stop before the stop says it waits for it.
LANE_STOP_QUIET_S = 0.2


class GatewayStopped(RuntimeError):
    """A call for the kernel after the app's lifespan ended (its lane shut down): answered 503.
    The kernel is not closed: its embedder closes it, or serves the app again."""


# One lock per kernel, held by a lane for each call it makes: two lanes over one kernel (an app
# served again while a call its last stop gave up on still runs, or two apps made for one
# kernel) take turns instead of calling it at once, the second waiting 10 s and answering busy.
_kernel_locks: dict[int, threading.Lock] = {}
_kernel_locks_guard = threading.Lock()


def kernel_lock(kernel: Any) -> threading.Lock:
    """The lock every lane over ``kernel`` holds while it calls it."""
    with _kernel_locks_guard:
        lock = _kernel_locks.get(id(kernel))
        if lock is None:
            lock = _kernel_locks[id(kernel)] = threading.Lock()
            with contextlib.suppress(TypeError):  # not weakly referable: kept for the process
                weakref.finalize(kernel, _kernel_locks.pop, id(kernel), None)
        return lock


def _new_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="dita-gateway-kernel")


class KernelLane:
    """The worker thread every kernel call of one app goes through (see the module's doc)."""

    def __init__(self, kernel: Any, kernel_id: str) -> None:
        self.kernel_id = kernel_id
        self._executor = _new_executor()
        self._lock = kernel_lock(kernel)  # shared with every other lane over this kernel
        # .loop: the event loop of the call the lane runs; .call: the call's number, which names
        # the events it publishes as one in the event streams' buffers.
        self._running = threading.local()
        self._calls = itertools.count(1)
        # When the call the lane runs began (monotonic), None while it runs none.
        self.call_started: float | None = None
        # Why the lane takes no more calls, None while it takes them: "closed" once the stop
        # queued the kernel's close on it, "stopped" once a lifespan's end shut it down.
        self.ended: Literal["closed", "stopped"] | None = None
        self.stopped_reason = (
            "the gateway stopped: its server's lifespan ended and its kernel lane is shut down (the"
            f" kernel {kernel_id!r} is not closed by it: its embedder's to close)"
        )

    def open(self) -> None:
        """A new lane at a lifespan's start, when an earlier lifespan's end shut the lane down
        (the app served again, as a TestClient per test does); the kernel still takes input."""
        if self.ended == "stopped":
            self._executor = _new_executor()
            self.ended = None

    def running_loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop of the request whose call runs on this thread; None off the lane."""
        loop: asyncio.AbstractEventLoop | None = getattr(self._running, "loop", None)
        return loop

    def running_call(self) -> int | None:
        """The number of the call the lane runs on this thread; None off the lane."""
        call: int | None = getattr(self._running, "call", None)
        return call

    def _with_lock(
        self, call: Callable[[], T], loop: asyncio.AbstractEventLoop, began: threading.Event | None = None
    ) -> Callable[[], T]:
        """``call`` as the lane runs it, holding the kernel's lock (``began`` set once it has it)."""

        def run() -> T:
            with self._lock:
                if began is not None:
                    began.set()  # before the lane is marked held: a held lane is another call's
                self._running.loop = loop
                self._running.call = next(self._calls)
                self.call_started = time.monotonic()
                try:
                    return call()
                finally:
                    self.call_started = None
                    self._running.loop = self._running.call = None

        return run

    def queue(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """``call`` queued on the lane now, after the calls queued before it."""
        if self.ended == "stopped":
            raise GatewayStopped(self.stopped_reason)  # a 503 that says so, not a bare 500
        if self.ended is not None:
            # input_stopped() reads this as closed: a 503 that says so, not a bare 500.
            raise RuntimeError(
                f"kernel {self.kernel_id!r} is closed: the gateway stopped (its lane is shut down)"
            )
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._with_lock(call, loop))

    async def run(self, call: Callable[[], T]) -> T:
        """``call``'s result, run on the lane after the calls queued before it."""
        try:
            return await self.queue(call)
        except asyncio.CancelledError:
            if self.ended is not None:
                # The stop gave up on the call ahead of this one, closed the request's connection
                # and ended the event loop: uvicorn's traceback of the cancel would read as a
                # fault (the stop's ERROR says what was not done).
                response_abandoned.set(True)
            raise

    async def run_at_stop(self, call: Callable[[], Any], deadline: float, what: str) -> Future[Any] | None:
        """``call`` queued on the lane at the stop: its future once it ran, or None when another
        call held the lane past ``deadline`` (monotonic; a warning named the one under way): it
        stays queued. A lane free at the deadline, or held by a call begun under 0.2 s before,
        still begins it (the stop's grace may have gone to the connections), up to 0.2 s past
        ``deadline`` (quick calls queued one after another may hold it for all of them). Once
        begun it is waited for to its end (a close that flushes a journal must not be cut short).
        Not an asyncio future: one the stop gave up on is set once the loop is closed, and its
        error is logged (``what`` names it)."""
        began = threading.Event()
        future = self._executor.submit(self._with_lock(call, asyncio.get_running_loop(), began))
        warned = False
        while True:
            since = self.call_started  # read before began: a call under way then is not this one
            if began.is_set():
                break
            now = time.monotonic()
            # Said before any give-up below, so a loop slowed past the deadline (a loaded host)
            # that gives up at its first look still says what the stop waited for.
            if not warned and since is not None and now - since > LANE_STOP_QUIET_S:
                warned = True
                log.warning(
                    "stopping: waiting up to %.1f s more (stop_grace_seconds) for the call that has held"
                    " the kernel's lane for %.1f s (a venue's submit or cancel not answered?), before %s",
                    max(deadline - now, 0.0), now - since, what,
                )  # fmt: skip
            if since is not None and now >= deadline and now - since > LANE_STOP_QUIET_S:
                break  # held past the deadline by a call that is no quick read about to return
            if now >= deadline + LANE_STOP_QUIET_S:
                break  # quick calls queued one after another: each looked about to return
            await asyncio.sleep(0.01)
        if not began.is_set():
            future.add_done_callback(functools.partial(_log_late_error, what))
            return None
        while not future.done():
            await asyncio.sleep(0.01)
        return future

    def shut_down(self, wait: bool = True) -> None:
        """No more calls; the thread ends once the calls queued are done (``wait``: waits for it)."""
        self._executor.shutdown(wait=wait)


def _log_late_error(what: str, future: Future[Any]) -> None:
    """Log the error of ``what``, queued on the lane at a stop that gave up on the call ahead
    of it, once it ran: its future is read by nobody, and the log said it would be done."""
    exc = None if future.cancelled() else future.exception()
    if exc is not None:
        log.error(
            "stopping: %s, once the call that held the kernel's lane returned, raised %s: %s",
            what,
            type(exc).__name__,
            shortened(str(exc), 300),
        )
