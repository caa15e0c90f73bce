"""Server-sent event fan-out with resume and a bounded buffer per client.

Each event is serialised once into its SSE frame and the same bytes go to every client.
A short history lets a client that reconnects with ``Last-Event-ID`` pick up where it left
off; one that fell further behind than the history gets a ``reset`` event and should
reload its state. The history holds at most ``history`` frames and ``history_bytes`` bytes,
the oldest going first. A client whose buffer fills (it reads slower than events arrive) is
dropped and disconnected. A buffer is counted in kernel calls, not events: one call (a mark
over many slots, a flatten) may publish thousands at once, and a client that read every
earlier call's must not be dropped for that. So a slow reader's buffer holds the events of at
most ``client_buffer`` calls, and beyond the oldest and the newest call's at most ``client_buffer_bytes``
bytes. Its stream holds more beside it: the frames it is writing (up to 64, taken from the
buffer) and, on resume, its replay (frames of the history). Frames are shared with the history,
but one a client holds outlives it there. Both bounds are in bytes as well as in count, as an
event's size follows the slots' metadata.
``close()`` ends every stream when the server stops.

Ids go on across server runs: a run starts counting from its start time in microseconds,
so every id an earlier run gave out is below every id of this run (as long as the runs
together publish fewer than one event per microsecond and the wall clock does not step
back between them), and a client resuming with one is told to ``reset``. The ids stay
integers below 2**53 (exact in JSON and JavaScript) until the year 2255. They cannot
restart at 1: a browser's ``EventSource`` sends back only the last id it saw, so an id the
new run has also given out would resume the client in the middle of a stream it never saw.

Everything runs on the event loop thread but ``publish_later``: ``publish`` never awaits, so
the kernel's caller is never held up by a client. ``publish_later`` gives an event its id on
the thread that publishes it (the kernel's lane), so a read there after it answers an id at or
above the event's, and sends it on the event loop; every event goes out in the order of its id.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from dita._numbers import finite_json

__all__ = ["Broadcaster", "Subscriber", "encode_json", "encode_json_bytes", "unicode_text"]


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def unicode_text(text: str) -> str:
    """``text`` with each lone surrogate (JSON can escape one: ``"\\ud800"``) written out as
    its escape, ``\\ud800`` as six characters: text a strict JSON parser takes."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def _unicode(value: Any) -> Any:
    if isinstance(value, str):
        return unicode_text(value)
    if isinstance(value, dict):
        return {unicode_text(str(k)): _unicode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unicode(v) for v in value]
    return value


def encode_json_bytes(obj: Any) -> bytes:
    """Compact strict JSON: non-finite floats become null, unknown types their str, lone
    surrogates their escape as text (``unicode_text``)."""
    try:
        return orjson.dumps(obj, default=str, option=_JSON_OPTIONS)
    except TypeError:
        # orjson stops at integers beyond 64 bits (a client can send one) and at lone
        # surrogates (json writes those as "\ud800", which strict parsers refuse).
        clean = _unicode(finite_json(obj))
        return json.dumps(clean, default=str, separators=(",", ":"), allow_nan=False).encode()


def encode_json(obj: Any) -> str:
    return encode_json_bytes(obj).decode()


class _CallFrames:
    """The frames of one kernel call a client's buffer holds, and their bytes."""

    __slots__ = ("call", "frames", "size")

    def __init__(self, call: object) -> None:
        self.call = call
        self.frames = 0
        self.size = 0


class Subscriber:
    """One connected client: its pending frames, the kernel calls they came from and their
    bytes, and whether its stream must end (``stop``): dropped for lagging (``dropped``) or the
    server is stopping."""

    __slots__ = ("calls", "dropped", "queue", "queued_bytes", "replay", "stop")

    def __init__(self, replay: list[bytes]) -> None:
        self.replay = replay
        # Unbounded: ``hold`` says when the client is behind, and the broadcaster drops it then.
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.queued_bytes = 0
        self.calls: deque[_CallFrames] = deque()  # of the frames queued, oldest first
        self.stop = asyncio.Event()
        self.dropped = False

    def hold(self, frame: bytes, call: object, most_calls: int, most_bytes: int) -> bool:
        """Queue ``frame`` of kernel call ``call``; False when the client is behind: it holds the
        frames of more than ``most_calls`` calls, or beyond the oldest and the newest call's more
        than ``most_bytes`` bytes. One call's events never put a client behind that is reading
        the call before it."""
        if not self.calls or self.calls[-1].call != call:
            self.calls.append(_CallFrames(call))
        latest = self.calls[-1]
        latest.frames += 1
        latest.size += len(frame)
        self.queued_bytes += len(frame)
        self.queue.put_nowait(frame)
        between = self.queued_bytes - self.calls[0].size - (latest.size if len(self.calls) > 1 else 0)
        return len(self.calls) <= most_calls and between <= most_bytes

    def _taken(self, frame: bytes) -> None:
        if not self.calls:  # dropped meanwhile: ``clear`` let go of every frame's count
            return
        self.queued_bytes -= len(frame)
        oldest = self.calls[0]
        oldest.frames -= 1
        oldest.size -= len(frame)
        if not oldest.frames:
            self.calls.popleft()

    async def next_frame(self, timeout: float) -> bytes:
        """The next frame, waited for up to ``timeout`` seconds (then TimeoutError)."""
        return await asyncio.wait_for(self._take(), timeout=timeout)

    async def _take(self) -> bytes:
        # Taken and counted out in one step: wait_for runs this in a task of its own, and a
        # publish between the two would count a frame the client has read (and may drop it).
        frame = await self.queue.get()
        self._taken(frame)
        return frame

    def take_ready(self, frames: deque[bytes], most: int) -> None:
        """Move the frames waiting to ``frames`` while it holds fewer than ``most``."""
        while not self.queue.empty() and len(frames) < most:
            frame = self.queue.get_nowait()
            self._taken(frame)
            frames.append(frame)

    def clear(self) -> None:
        """Free every frame held: a client dropped may never read again."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.calls.clear()
        self.queued_bytes = 0


class Broadcaster:
    def __init__(
        self,
        *,
        history: int = 10_000,
        client_buffer: int = 1_000,
        history_bytes: int = 64 << 20,
        client_buffer_bytes: int = 16 << 20,
        on_drop: Callable[[], None] | None = None,
        start_id: int | None = None,
    ) -> None:
        """``start_id``: the id before the first event (default: now in microseconds)."""
        bounds = {
            "history": history,
            "client_buffer": client_buffer,
            "history_bytes": history_bytes,
            "client_buffer_bytes": client_buffer_bytes,
        }
        for name, bound in bounds.items():
            if bound < 1:
                raise ValueError(f"{name} must be >= 1, got {bound}")
        self.client_buffer = client_buffer
        self.client_buffer_bytes = client_buffer_bytes
        self.history_limit = history
        self.history_bytes_limit = history_bytes
        # The last id given: an event given it on another thread may be on its way to the loop.
        self.last_id = time.time_ns() // 1000 if start_id is None else start_id
        self._ids = threading.Lock()
        self._on_the_way = 0  # events given their id by publish_later, not yet sent
        self._sent_id = self.last_id  # the id of the last event sent
        self._history: deque[tuple[int, bytes]] = deque()
        self.history_bytes = 0
        self._subscribers: set[Subscriber] = set()
        self._on_drop = on_drop
        self.dropped_clients = 0
        self.closed = False

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    @property
    def history_events(self) -> int:
        return len(self._history)

    @property
    def buffered_bytes(self) -> int:
        """The bytes of the frames the clients' buffers hold."""
        return sum(sub.queued_bytes for sub in self._subscribers)

    def publish(self, event_type: str, data: dict[str, Any], call: object = None) -> int:
        """Send one event to every client (on the event loop); returns its id. ``call`` names the
        kernel call that published it: a client's buffer counts one call's events as one (None: a
        call of its own). Behind events of ``publish_later`` on their way, it goes after them."""
        with self._ids:
            self.last_id += 1
            event_id = self.last_id
            if self._on_the_way:
                self._on_the_way += 1
                asyncio.get_running_loop().call_soon(self._send_on_the_way, event_id, event_type, data, call)
                return event_id
        self._send(event_id, event_type, data, call)
        return event_id

    def publish_later(
        self, loop: asyncio.AbstractEventLoop, event_type: str, data: dict[str, Any], call: object = None
    ) -> int:
        """``publish`` from another thread: the event's id is given now, the event sent on ``loop``
        after the events given ids before it. Raises RuntimeError (nothing sent) once ``loop``
        is closed."""
        with self._ids:
            event_id = self.last_id + 1
            # Scheduled under the lock: the loop runs the events in the order of their ids.
            loop.call_soon_threadsafe(self._send_on_the_way, event_id, event_type, data, call)
            self.last_id = event_id
            self._on_the_way += 1
        return event_id

    def _send_on_the_way(self, event_id: int, event_type: str, data: dict[str, Any], call: object) -> None:
        with self._ids:
            self._on_the_way -= 1
        self._send(event_id, event_type, data, call)

    def _send(self, event_id: int, event_type: str, data: dict[str, Any], call: object) -> None:
        self._sent_id = event_id
        body = {"id": event_id, "type": event_type, "ts": time.time(), **data}
        frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event_type.encode(), encode_json_bytes(body))
        self._keep(event_id, frame)
        if call is None:
            call = object()
        for sub in list(self._subscribers):
            if not sub.hold(frame, call, self.client_buffer, self.client_buffer_bytes):
                self._drop(sub)

    def _keep(self, event_id: int, frame: bytes) -> None:
        """Add ``frame`` to the history, the oldest going while it holds too many or too much."""
        history = self._history
        history.append((event_id, frame))
        self.history_bytes += len(frame)
        while len(history) > self.history_limit or (
            self.history_bytes > self.history_bytes_limit and history
        ):
            self.history_bytes -= len(history.popleft()[1])

    def subscribe(self, last_event_id: int | None = None) -> Subscriber:
        """Register a client. With ``last_event_id`` it first gets every event after it."""
        replay: list[bytes] = []
        if last_event_id is not None and last_event_id > self.last_id:
            # An id this server never gave out (the clock stepped back between runs): the
            # client's state is from another run.
            replay.append(self._reset(last_event_id, self.last_id + 1))
        elif last_event_id is not None and last_event_id < self.last_id:
            oldest = self._history[0][0] if self._history else self._sent_id + 1
            if last_event_id + 1 < oldest:  # events are gone, or the id is from an earlier run
                replay.append(self._reset(last_event_id, oldest))
            replay.extend(frame for eid, frame in self._history if eid > last_event_id)
        sub = Subscriber(replay)
        if self.closed:
            sub.stop.set()
        else:
            self._subscribers.add(sub)
        return sub

    @staticmethod
    def _reset(last_event_id: int, oldest: int) -> bytes:
        reset = {"type": "reset", "last_event_id": last_event_id, "oldest_available": oldest}
        return f"event: reset\ndata: {encode_json(reset)}\n\n".encode()

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def close(self) -> None:
        """End every stream, now and later: the server is stopping, and a stream never ends
        by itself (the server would wait for it for ever)."""
        self.closed = True
        for sub in list(self._subscribers):
            self._subscribers.discard(sub)
            sub.stop.set()

    def _drop(self, sub: Subscriber) -> None:
        # Free the frames at once: the client may never read again.
        self._subscribers.discard(sub)
        sub.dropped = True
        sub.clear()
        sub.stop.set()
        self.dropped_clients += 1
        if self._on_drop is not None:
            self._on_drop()
