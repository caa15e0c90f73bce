"""``dita stdio``: a kernel driven over stdin/stdout, one command in per line, one NDJSON
event out per line (docs/reference/stdio-protocol.md).

Nothing a client sends can stop the engine: a line that cannot be read or acted on gives an
``error`` event naming the problem and the next line is read as usual. A venue that reports
later (``poll_events``) is polled after a read's commands and while stdin is idle, once
``POLL_SECONDS`` have passed since the last poll ended. EOF on
stdin, Ctrl-C and SIGTERM cancel the orders still working (``leave_prior_orders`` leaves those
working when the session started) and end the session with an ``engine_stopped`` event and exit
status 0. A kernel that takes no more input (its
write-ahead log failed) ends it as they do, but with ``"reason":"kernel_failed"`` and status 1.
"""

from __future__ import annotations

import math
import os
import select
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, BinaryIO

from dita._kernel import VenueAnswerNotLogged, __version__
from dita._signals import SignalWakeup, Terminated, closing, held, installed, rearm, signal_wakeup
from dita.gateway.engine import OrderEngine, input_refused, kernel_error
from dita.gateway.events import encode_json_bytes
from dita.gateway.protocol import MAX_LINE_BYTES, ProtocolError, line_too_long, parse_line
from dita.kernel import ExecutionKernel

# The fewest seconds from the end of one poll of a venue reporting later to the next.
from dita.venues import POLL_SECONDS

__all__ = ["FLUSH_BYTES", "POLL_SECONDS", "PROTOCOL", "STOP_GRACE_SECONDS", "NdjsonWriter", "run_stdio"]

PROTOCOL = "dita-stdio/1"
_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which some editors and Windows tools write first
# After Ctrl-C or SIGTERM, how long the client has to read the rest of the output before it
# is given up and the kernel closes: a supervisor's own grace period (10 s for Docker) is longer.
STOP_GRACE_SECONDS = 2.0
# The most output the engine holds for a client before it writes it, between two commands: the
# answers of one read (64 KiB of `QUERY ORDERS` lines) held until its last line, a flood cost
# memory of the answers' size, gigabytes for a wide book.
FLUSH_BYTES = 1 << 20


class OutputAbandoned(Exception):
    """The client did not read the rest of the output in time."""


class KernelFailed(Exception):
    """The kernel takes no more input (its write-ahead log failed): the session ends."""


class NdjsonWriter:
    """Numbers and timestamps events and writes each as one JSON line.

    On a file descriptor it keeps the lines not yet written itself, so that the end of a
    session can give up what a client does not read (a full pipe) and say how many events
    that was; a stream without one (``io.BytesIO``) is written to as it is."""

    def __init__(self, out: BinaryIO, wakeup: SignalWakeup | None = None) -> None:
        self._out = out
        self._wakeup = wakeup
        self.seq = 0
        self.errors = 0
        self._pending = bytearray()  # written lines the client has not taken yet
        try:
            self._fd: int | None = out.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            self._fd = None
        else:
            out.flush()  # whatever the stream holds goes first

    def emit(self, event_type: str, fields: dict[str, Any]) -> None:
        self.seq += 1
        if event_type == "error":
            self.errors += 1
        event = {"type": event_type, "seq": self.seq, "ts": time.time(), **fields}
        line = encode_json_bytes(event) + b"\n"
        if self._fd is None:
            self._out.write(line)
        else:
            self._pending += line

    def pending_bytes(self) -> int:
        """Bytes of output not written yet."""
        return len(self._pending)

    def undelivered(self) -> int:
        """Events not (wholly) written yet: a JSON line holds no newline but its last byte."""
        return self._pending.count(b"\n")

    def flush(self, deadline: float | None = None) -> None:
        """Write every pending line, waiting for the client as long as it takes, or until
        ``deadline`` (``time.monotonic()``), then raises OutputAbandoned. A SIGTERM raises
        Terminated while it waits, never after a write whose bytes were not yet counted."""
        if self._fd is None:
            self._out.flush()
            return
        view = memoryview(self._pending)
        done = 0
        try:
            while done < len(view):
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not _ready(self._fd, select.POLLOUT, self._wakeup, timeout):
                    if deadline is None or time.monotonic() < deadline:
                        continue  # a signal whose handler did not raise
                    raise OutputAbandoned
                # A pipe with room takes PIPE_BUF bytes without blocking, whatever the client does.
                with held():
                    done += os.write(self._fd, view[done : done + select.PIPE_BUF])
        finally:
            view.release()
            del self._pending[:done]


_READER_GONE = (BrokenPipeError, ConnectionResetError)
"""How writing stdout fails when its reader went away: a pipe's closed, a socket's reset."""


def run_stdio(
    kernel: ExecutionKernel, stdin: BinaryIO, stdout: BinaryIO, *, leave_prior_orders: bool = False
) -> int:
    """Serve one session; returns the process exit status.

    A clean stop cancels the orders still working. With ``leave_prior_orders`` those the kernel
    worked when the session started (placed before this call, or recovered from its log) are left
    working, a resting exit that protects a position among them; the session's own are cancelled.
    A Ctrl-C or SIGTERM ends the session at any moment but one: before the first read of a
    buffered ``stdin`` (``sys.stdin.buffer``), it waits for that read. Pass ``stdin``'s ``raw``
    stream, as ``dita stdio`` does, to have it end that wait too.
    """
    with signal_wakeup() as wakeup:
        return _serve(kernel, stdin, stdout, leave_prior_orders, wakeup)


def _serve(
    kernel: ExecutionKernel, stdin: BinaryIO, stdout: BinaryIO, leave_prior: bool, wakeup: SignalWakeup | None
) -> int:
    lineno = 0
    pending = b""  # the start of a line whose end has not arrived yet
    skipping = 0  # bytes of an overlong line dropped so far (0: not in one)
    at_start = True  # no byte of the stream taken yet but (part of) a byte order mark

    polled = getattr(kernel.venue, "poll_events", None) is not None
    poll_at = -math.inf  # when the venue is polled next (time.monotonic())

    def poll() -> None:
        nonlocal poll_at
        try:
            _poll(engine)
        finally:
            # From its end, and not after every read: a poll slower than the interval (a
            # throttled exchange) made every read poll again, back to back, commands waiting.
            poll_at = time.monotonic() + POLL_SECONDS

    def idle() -> None:
        poll()
        writer.flush()

    read = _reader(stdin, idle if polled else None, lambda: poll_at - time.monotonic(), wakeup)
    reason = "eof"
    failure: KernelFailed | None = None
    set_up = False  # the writer and the engine made, engine_started told
    try:
        # In the try: a signal that comes while the session is set up, or its first line written,
        # still gets the last. Whole: one raised in the middle of the emit took its seq and lost
        # the line (a gap in seq).
        with _whole():
            writer = NdjsonWriter(stdout, wakeup)
            engine = OrderEngine(kernel, writer.emit)
            writer.emit(
                "engine_started",
                {
                    "protocol": PROTOCOL,
                    "version": __version__,
                    "kernel_id": kernel.kernel_id,
                    "max_slots": kernel.max_slots,
                    "mode": kernel.control().get("mode"),
                },
            )
            set_up = True
        writer.flush()
        while True:
            # Take whatever has arrived, answer every whole line in it, then flush once (and
            # at FLUSH_BYTES on the way): a piped script is answered in large writes, an
            # interactive client at once.
            chunk = read(_CHUNK)
            if not chunk:
                break
            if at_start:
                pending += chunk
                if _BOM.startswith(pending):
                    continue  # the mark may still be on its way, a byte at a time
                pending, at_start = pending.removeprefix(_BOM), False
                chunk = b""
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for raw in lines:
                lineno += 1
                if skipping:
                    _too_long(engine, lineno, skipping + len(raw))
                    skipping = 0
                else:
                    _handle_line(engine, raw, lineno)
                if writer.pending_bytes() >= FLUSH_BYTES:
                    writer.flush()  # a client that floods waits for its answers to be taken
            if len(pending) > MAX_LINE_BYTES:
                skipping += len(pending)
                pending = b""
            if polled and time.monotonic() >= poll_at:
                writer.flush()  # the commands' answers first: a slow poll must not hold them
                poll()
            writer.flush()
        if at_start:
            pending = pending.removeprefix(_BOM)  # a stream of the mark alone
        if pending or skipping:
            lineno += 1
            if skipping:
                _too_long(engine, lineno, skipping + len(pending))
            else:
                _unfinished(engine, pending, lineno)
    except _READER_GONE:
        return 0  # nobody is left to tell
    except OSError as exc:  # stdout on a full disk, a device error: the events cannot go out
        return _io_failed(exc)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM when sigterm_as_interrupt() is on
        if not set_up:
            raise  # a second signal while the session was set up: it ends at once, as held() says
        reason = "terminated" if isinstance(exc, Terminated) else "interrupted"
    except KernelFailed as exc:  # no more input is read: the kernel would refuse every line
        failure = exc
    finally:
        closing()  # a SIGTERM from here on must not cut engine_stopped or the kernel's close short
    interrupted, failure = _cancel_working(engine, failure, leave_prior=leave_prior)
    stopped: dict[str, Any] = {"reason": reason}
    if failure is not None:
        stopped = {"reason": "kernel_failed", "message": str(failure)}
    stopped.update(lines=lineno, events=writer.seq + 1, errors=writer.errors)
    writer.emit("engine_stopped", stopped)
    code = _deliver_the_rest(writer, stopped=stopped["reason"] != "eof" or interrupted)
    if failure is not None:
        print(f"dita stdio: the kernel takes no more input: {failure}", file=sys.stderr, flush=True)
        return 1
    return code


def _ready(fd: int, events: int, wakeup: SignalWakeup | None, timeout: float | None) -> bool:
    """Whether ``fd`` is ready for ``events`` (select.POLLIN, POLLOUT) within ``timeout`` seconds
    (None: no bound); False too when a signal came first and its handler did not raise. poll,
    not select: a process with over 1024 descriptors open has numbers select cannot take."""
    poller = select.poll()
    poller.register(fd, events)
    if wakeup is not None:
        poller.register(wakeup.fd, select.POLLIN)
    ready = dict(poller.poll(None if timeout is None else math.ceil(timeout * 1000)))
    if wakeup is not None and wakeup.fd in ready:
        wakeup.take()
    return fd in ready


def _reader(
    stdin: BinaryIO,
    idle: Callable[[], None] | None,
    idle_in: Callable[[], float],
    wakeup: SignalWakeup | None,
) -> Callable[[int], bytes]:
    """``stdin``'s read of whatever has arrived, b"" only at EOF; while nothing arrives on a
    descriptor, ``idle`` is called once the ``idle_in()`` seconds (asked before each wait: the
    time until the next call is due) have passed. On a non-blocking descriptor
    (O_NONBLOCK, which a parent sharing its own stdin may have set) read1 gives b"" also when
    nothing has arrived yet: taken for EOF, it would end the session before the first command."""
    read1 = getattr(stdin, "read1", None)
    read: Callable[[int], bytes] = read1 or stdin.read
    try:
        fd: int | None = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    # Whether the stream's own buffer is empty, so that a descriptor with nothing to read means
    # nothing has arrived. Not known at first (bytes it took before the session); after a read
    # it is: the first is read1(-1), which hands out all that is buffered however large the
    # buffer (read1(size) left what a buffer over ``size`` held unread while the descriptor was
    # quiet), and read1 with nothing buffered reads the descriptor itself, buffering nothing.
    # Taken as empty only when a read gave less than asked, a full read (a client's 64 KiB
    # burst, a full pipe) had the next read wait for input without polling the venue.
    # A raw stream (dita stdio's) buffers nothing: its first read waits as the later ones do,
    # so a signal just before it still ends the session.
    drained = read1 is None

    def wait(fd: int) -> None:
        """Until a byte or EOF (when b"" is EOF) is there to read, or a signal's handler raised."""
        while not _ready(fd, select.POLLIN, wakeup, None if idle is None else max(0.0, idle_in())):
            if idle is not None and idle_in() <= 0:
                idle()

    def take(size: int) -> bytes | None:
        try:
            return read(size)
        except ConnectionResetError:
            # A socket whose client went away: its input has ended, as a pipe's writer that
            # died ends it. Raised as an I/O error, it would end the session without engine_stopped.
            # Around the read only: idle() writing stdout (a socket too) raises it for a reader
            # gone, which taken for EOF would make a clean stop that cancels the working orders.
            return b""

    def read_arrived(size: int) -> bytes:
        nonlocal drained
        if drained and fd is not None:
            wait(fd)  # not in read1: a signal just before its read would not interrupt it
        chunk = take(size if drained or read1 is None else -1)
        if not chunk and fd is not None and not os.get_blocking(fd):
            wait(fd)
            chunk = take(size)
        drained = True
        return chunk or b""  # a raw stream's read gives None for "nothing yet"

    return read_arrived


def _io_failed(exc: OSError) -> int:
    """Exit status 1, said on stderr: a traceback told a full disk as if it were a bug."""
    where = f": {exc.filename}" if exc.filename else ""  # a kernel's log file, not stdout
    print(
        f"dita stdio: the session ended on an I/O error: {exc.strerror or exc}{where}",
        file=sys.stderr,
        flush=True,
    )
    return 1


def _deliver_the_rest(writer: NdjsonWriter, *, stopped: bool) -> int:
    """The last output; a client that does not read it must not keep the engine from
    closing. After EOF it gets as long as it takes, until a SIGTERM (or Ctrl-C); after
    either, STOP_GRACE_SECONDS, whether it came before EOF or after (a supervisor closing
    stdin and stopping the engine at once). What is left then is given up, said on stderr.
    Returns the exit status: 1 when the output failed (not a reader gone: 0)."""
    deadline = time.monotonic() + STOP_GRACE_SECONDS if stopped else None
    try:
        # A SIGTERM ends the wait, not the kernel's close that follows. One that came while the
        # orders were canceled (a supervisor's, as it closed stdin) was ignored then: it bounds
        # the wait now, or the engine would wait for ever on a client that does not read.
        if rearm() and deadline is None:
            deadline = time.monotonic() + STOP_GRACE_SECONDS
        try:
            writer.flush(deadline)
        except KeyboardInterrupt:
            if deadline is not None:
                raise
            writer.flush(time.monotonic() + STOP_GRACE_SECONDS)  # a second signal ends it
    except _READER_GONE:
        pass  # nobody is left to tell
    except OSError as exc:
        return _io_failed(exc)
    except (OutputAbandoned, KeyboardInterrupt) as exc:
        if not writer.undelivered():
            return 0  # the signal came just after the last byte went out
        why = (
            f"within {STOP_GRACE_SECONDS:g} s of the stop"
            if isinstance(exc, OutputAbandoned)
            else "before the engine was stopped"
        )
        print(
            f"dita stdio: {writer.undelivered()} events not delivered: the client did not read them {why}",
            file=sys.stderr,
            flush=True,
        )
    finally:
        closing()
    return 0


def _whole() -> AbstractContextManager[Any]:
    """A step taken whole as a command is: a signal during it ends the session after it, so a
    fill the kernel booked is told; a second one ends it at once."""
    return held() if installed() else nullcontext()


def _poll(engine: OrderEngine) -> None:
    """The venue's later news, taken whole as a command is: a fill booked is told."""
    _taken_whole(engine, engine.poll)


def _taken_whole(engine: OrderEngine, step: Callable[[], None]) -> None:
    """``step`` (a command, a poll) taken whole, an exception the kernel raised on it told as
    an ENGINE_ERROR, whatever its type (a RuntimeError: busy in another call, closed), so no
    error of the kernel's ends the session with a traceback. One saying the kernel takes no
    more input (its log failed) then raises KernelFailed."""
    with _whole():
        try:
            step()
        except Exception as exc:
            if not kernel_error(engine.kernel, exc):
                raise  # writing stdout
            if isinstance(exc, VenueAnswerNotLogged):
                # Not "the line changes nothing": the order reached the venue.
                engine.tell_answer_not_logged(exc)
                raise KernelFailed(f"{type(exc).__name__}: {exc}") from exc
            engine.error("ENGINE_ERROR", f"{type(exc).__name__}: {exc}")
            if input_refused(engine.kernel, exc):
                raise KernelFailed(f"{type(exc).__name__}: {exc}") from exc


def _cancel_working(
    engine: OrderEngine, failure: KernelFailed | None, *, leave_prior: bool
) -> tuple[bool, KernelFailed | None]:
    """At a clean stop: the venue's last news, then a cancel for each order still working (but
    those working when the session started, with ``leave_prior``), since nobody manages them
    once the session is over, then its news once more (a venue that
    reports later answers a cancel there, or a fill that beat it). A Ctrl-C during it gives up
    the steps not yet taken, once the step under way is told. A kernel that failed (``failure``,
    or in a poll here) is polled no more: news it cannot apply would be lost; the cancels are
    still tried. Returns whether a Ctrl-C came, and the failure."""
    try:
        failure = failure or _last_poll(engine)
        engine.cancel_working(_whole, leave_prior=leave_prior)
        failure = failure or _last_poll(engine)
    except KeyboardInterrupt:
        return True, failure
    return False, failure


def _last_poll(engine: OrderEngine) -> KernelFailed | None:
    """A poll at the stop; the kernel's failure, if it raised one."""
    try:
        _poll(engine)
    except KernelFailed as exc:
        return exc
    return None


def _too_long(engine: OrderEngine, lineno: int, size: int) -> None:
    engine.line = lineno
    _protocol_error(engine, line_too_long(size))


def _unfinished(engine: OrderEngine, raw: bytes, lineno: int) -> None:
    """The input ended inside a line: its writer may have died mid-write (``MARK BTCUSDT 5``
    of ``MARK BTCUSDT 50000``), so it is not acted on. A blank or comment line is left alone."""
    engine.line = lineno
    text = raw.decode("utf-8", "replace")
    if not text.strip() or text.lstrip().startswith("#"):
        return
    _protocol_error(
        engine,
        ProtocolError(
            "INCOMPLETE_LINE",
            "the input ended inside this line (no newline after it): not acted on",
            field="line",
            value=text,
        ),
    )


def _protocol_error(engine: OrderEngine, exc: ProtocolError) -> None:
    # Told whole, as a command's events are: a signal raised in the middle of the emit took the
    # event's seq and lost its line, a gap in seq.
    with _whole():
        engine.error(exc.code, exc.message, **({"field": exc.field, "value": exc.value} if exc.field else {}))


def _handle_line(engine: OrderEngine, raw: bytes, lineno: int) -> None:
    engine.line = lineno
    if len(raw) > MAX_LINE_BYTES:
        # Bytes, before decoding: a line gets the same answer whether it came in one read or many.
        _too_long(engine, lineno, len(raw))
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The value is the line with its bad bytes escaped (`\xff`), cut as any value is: null
        # named no value, and a client sending many lines could not tell which went wrong.
        _protocol_error(
            engine,
            ProtocolError(
                "INVALID_ENCODING",
                f"line is not UTF-8 (bad byte at offset {exc.start})",
                field="line",
                value=raw.decode("utf-8", "backslashreplace"),
            ),
        )
        return
    try:
        command = parse_line(text)
    except ProtocolError as exc:
        _protocol_error(engine, exc)
        return
    if command is None:
        return
    # A command is whole or not taken: a SIGTERM or Ctrl-C raised just after the kernel books
    # a fill would cut its fill event off, a fill the client never hears of. Held, it ends the
    # session once the command's events are out; a second signal ends it at once.
    # The kernel refuses programmer errors with exceptions; a client's line must not end the session.
    _taken_whole(engine, lambda: engine.handle(command))
