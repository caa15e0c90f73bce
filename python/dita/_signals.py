"""SIGTERM handled as Ctrl-C, for the commands that must close cleanly when a service
manager, a container or `kill` stops them (`dita paper`, `dita stdio`, `dita shadow`)."""

from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

__all__ = [
    "SignalWakeup",
    "Terminated",
    "closing",
    "held",
    "ignore_sigterm_once_closed",
    "installed",
    "rearm",
    "signal_wakeup",
    "sigterm_as_interrupt",
    "unread_dropped",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is, as Python raises KeyboardInterrupt on Ctrl-C."""


# Whether a SIGTERM now raises Terminated: from sigterm_as_interrupt() until the first one,
# or until closing() says the run is over.
_armed = False
# Inside held(): a SIGTERM is kept for the end of the block instead of raised in its middle.
_holding = False
_held = False
_held_interrupt = False  # a Ctrl-C kept the same way
# Whether our handler is installed (rearm() arms only then).
_installed = False
# A SIGTERM that came after closing(): not raised, kept for rearm() to tell.
_late = False
# Whether this process is the `dita` program (see ignore_sigterm_once_closed).
_program = False


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM stop the run as Ctrl-C does, so that the kernel closes (journal rows
    written, `closed_at` in the projection) and the command ends as it would at its normal
    end, instead of the process dying half-way. Only a SIGTERM during the run interrupts:
    one sent again, or first, once the run closes (see :func:`closing`) does not cut the
    closing short. Returns the function that puts the previous handler back."""
    global _armed, _installed, _late
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers can only be set from the main thread
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        return lambda: None  # whoever started us asked for SIGTERM to be ignored

    def on_sigterm(signum: int, frame: Any) -> None:
        global _armed, _held, _late
        if _holding and (_held or (_held_interrupt and _armed)):
            # A second signal inside held() (a Ctrl-C kept before it counts too: kept as well, the
            # SIGTERM would leave the run hanging until a third): the block does not end, so now.
            raise Terminated
        if _armed:
            _armed = False
            if _holding:
                _held = True
            else:
                raise Terminated
        else:
            _late = True

    _armed = _installed = True
    _late = False
    signal.signal(signal.SIGTERM, on_sigterm)
    # Ctrl-C as Python's own handler does it, except inside held(): a count of written bytes
    # lost to a KeyboardInterrupt raised just after the write would have the bytes written twice.
    own_sigint = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if own_sigint:
        signal.signal(signal.SIGINT, _on_sigint)

    def restore() -> None:
        global _armed, _installed
        _armed = _installed = False
        # None: a handler set outside Python; the default is the nearest we can put back.
        back = signal.SIG_DFL if previous is None else previous
        signal.signal(signal.SIGTERM, signal.SIG_IGN if _program and back is signal.SIG_DFL else back)
        if own_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    return restore


@contextmanager
def unread_dropped() -> Iterator[None]:
    """For a line said on stderr during a stop: one whose reader is gone (a closed pipe, `2>&1 |
    tee` with the tee ended by the same Ctrl-C; a hung-up terminal) is dropped, since raising for
    it would cut the stop short and lose the run's last state. Other write errors are raised (EIO
    on a file is a disk's)."""
    try:
        yield
    except OSError as exc:
        if not (exc.errno == errno.EPIPE or (exc.errno == errno.EIO and os.isatty(2))):
            raise


def ignore_sigterm_once_closed() -> None:
    """For the `dita` program, before its command runs: a command that handles SIGTERM (`dita
    paper`, `dita stdio`) puts it back ignored, not as its default, once it has closed. A
    SIGTERM sent again in the process's last moments (the interpreter's teardown) would end it
    by the signal, status 143 where the stop promised 0; ignored as the handler is put back, not
    once the command returned, no instant between the two is left for one. Nothing for a
    command that does not handle it, nor for a process embedding dita (its handler is its own)."""
    global _program
    _program = True


def _on_sigint(signum: int, frame: Any) -> None:
    global _held_interrupt
    if _holding and not _held_interrupt and not _held:
        _held_interrupt = True
    else:
        # Outside held(), or a second Ctrl-C inside it, or one after a SIGTERM it kept: a block
        # that does not end (a strategy in a loop) must still be stoppable.
        raise KeyboardInterrupt


def closing() -> None:
    """The run is over (its end, Ctrl-C or a SIGTERM): from here a SIGTERM is ignored until
    the previous handler is put back. A supervisor that closes the input and sends SIGTERM at
    once reaches the process while it closes; raised there, the signal cut the close short
    (last state unsaved, exit status 130). Nothing when SIGTERM is not handled here."""
    global _armed, _late
    _armed = _late = False


def rearm() -> bool:
    """Let a SIGTERM interrupt again after :func:`closing`, for a step of the closing that
    may wait on someone else (a client that does not read) and that a SIGTERM should end.
    Call :func:`closing` after the step. Nothing when SIGTERM is not handled here. Returns
    whether a SIGTERM came since :func:`closing` (ignored then): the step is to be bounded as
    after one, or a supervisor's only SIGTERM, sent as the input closed, would be lost."""
    global _armed, _late
    came, _late = _late, False
    _armed = _installed
    return came


def installed() -> bool:
    """Whether SIGTERM and Ctrl-C are handled here (:func:`sigterm_as_interrupt` is on), so
    that :func:`held` has an effect."""
    return _installed


@contextmanager
def held() -> Iterator[None]:
    """A SIGTERM during the block raises Terminated at its end, not in its middle (a Ctrl-C,
    KeyboardInterrupt, too, while :func:`sigterm_as_interrupt` is on): for a
    write whose result must be kept (how many bytes went out), which a signal raised
    between the call's return and the assignment would lose, or a data row a run counts as
    handled once its strategies saw it. A second signal inside the block (a Ctrl-C after a
    SIGTERM, or the reverse, too) raises at once, so a block that does not end can still be
    stopped; a SIGTERM after :func:`closing` is ignored there as elsewhere."""
    global _holding, _held, _held_interrupt
    if threading.current_thread() is not threading.main_thread():
        # Signals interrupt the main thread only: a block on another (dita live's strategies)
        # is never cut by one, and one kept for the block's end would be raised there instead.
        yield
        return
    _holding = True
    try:
        yield
    finally:
        # An exception of the block's own (a broken pipe) ends the run anyway: it wins.
        _holding = False
        signalled, _held = _held, False
        interrupted, _held_interrupt = _held_interrupt, False
    if signalled:
        raise Terminated
    if interrupted:
        raise KeyboardInterrupt


class SignalWakeup:
    """The read end of the process's signal wake-up descriptor while :func:`signal_wakeup` is on:
    readable once a signal came, for a wait to watch beside its own descriptor."""

    def __init__(self, fd: int, passed_on_to: int) -> None:
        self.fd = fd
        self._passed_on_to = passed_on_to  # the wake-up descriptor set before, -1 for none

    def take(self) -> None:
        """Empty it once its signals' handlers have run (or been kept, inside :func:`held`), so
        the next wait waits again. The bytes go on to the descriptor set before: an asyncio loop
        learns of its own signals from them."""
        while True:
            try:
                told = os.read(self.fd, 512)
            except BlockingIOError:
                return
            if not told:
                return
            if self._passed_on_to >= 0:
                with suppress(OSError):  # full, or closed by its owner: its signals are its own
                    os.write(self._passed_on_to, told)


@contextmanager
def signal_wakeup() -> Iterator[SignalWakeup | None]:
    """The process's signal wake-up descriptor (``signal.set_wakeup_fd``) for the block: a
    signal that lands just before a wait starts, or on another thread, interrupts no system
    call, and its handler would run only when the wait ended by itself (never, for a quiet
    stdin). None off the main thread, where no handler runs."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)  # a signal handler must never block on a full pipe
        previous = -1
        try:
            # Whole: a Ctrl-C between the set and the try would leave a closed descriptor set.
            with held() if _installed else nullcontext():
                previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
            yield SignalWakeup(read_end, previous)
        finally:
            with held() if _installed else nullcontext():
                signal.set_wakeup_fd(previous)
            SignalWakeup(read_end, previous).take()  # the signals since the last wait, passed on
    finally:
        os.close(read_end)
        os.close(write_end)
