"""What the user stream and the market stream share: a connection run on a thread of its own
with its own asyncio loop, started once, stopped by waking whatever it waits on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

__all__ = ["PingSeen", "StreamThread"]

log = logging.getLogger("dita.venues.ccxt")

# How long a stopped stream may take to end by itself before what it awaits is cancelled.
_STOP_GRACE_S = 1.0


class PingSeen:
    """When a connection's last ping was first seen, on the monotonic clock: ccxt stamps a ping
    (``last_message_at``) on the wall clock, and a clock set back would make an old one new."""

    def __init__(self) -> None:
        self._stamp: Any = None
        self.at = 0.0

    def look(self, stamp: Any, now: float) -> float:
        """``stamp`` (the ping's, as ccxt keeps it) looked at ``now``: the time it was first seen."""
        if stamp != self._stamp:
            self._stamp, self.at = stamp, now
        return self.at


class StreamThread:
    """A stream (``what``: "user stream", "market stream") of venue ``name`` whose ``_main``
    runs on its own thread and loop. ``_pause`` waits, and ``stop`` wakes it (``_wake``); a
    ``_main`` still at work ``_STOP_GRACE_S`` after is cancelled."""

    def __init__(self, name: str, what: str) -> None:
        self.name = name
        self._what = what
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None

    def start(self) -> None:
        """Start the stream's thread (once)."""
        if self._thread is None:
            thread_name = f"{self.name}-{self._what.replace(' ', '-')}"
            self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Close the connection and end the thread."""
        self._stopping.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass  # the loop closed since: its thread is ending
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._woken_main())
        finally:
            loop.close()

    async def _woken_main(self) -> None:
        self._wake = asyncio.Event()  # made on the stream's loop, which it wakes
        main = asyncio.ensure_future(self._main())
        woken = asyncio.ensure_future(self._wake.wait())
        await asyncio.wait({main, woken}, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        if not main.done():
            # Stopped mid-request (a dial, a clock sync, a slow exchange): the request is given
            # up, not awaited, so ``stop`` ends within its join.
            await asyncio.wait({main}, timeout=_STOP_GRACE_S)
            main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main

    async def _main(self) -> None:
        raise NotImplementedError

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or until the stream is stopped."""
        assert self._wake is not None
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _close(self, exchange: Any) -> None:
        try:
            await asyncio.wait_for(exchange.close(), 5.0)
        except Exception as exc:
            log.debug("closing the %s's exchange: %s", self._what, exc)
