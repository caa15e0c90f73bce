"""SSE fan-out: every client gets every event once, resume replays exactly what was missed,
and a client that stops reading is dropped with its buffer freed."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from collections.abc import MutableMapping
from typing import Any

import orjson
import pytest

from dita.gateway.events import Broadcaster, Subscriber, encode_json


def frames_of(sub: Subscriber) -> list[dict[str, object]]:
    """The events waiting for ``sub``, taken as its stream takes them."""
    frames: deque[bytes] = deque()
    sub.take_ready(frames, 1_000_000)
    return [orjson.loads(frame.split(b"data: ", 1)[1]) for frame in frames]


def test_ids_go_on_from_the_start_time_so_an_earlier_run_s_ids_get_reset() -> None:
    async def scenario() -> None:
        before = time.time_ns() // 1000
        b = Broadcaster(history=5, client_buffer=100)
        assert before <= b.last_id <= time.time_ns() // 1000 < 2**53
        # Before any event: an earlier run's id is reset; this run's start id is up to date.
        early = b.subscribe(last_event_id=b.last_id - 1)
        assert len(early.replay) == 1 and early.replay[0].startswith(b"event: reset")
        assert b.subscribe(last_event_id=b.last_id).replay == []
        start = b.last_id
        assert [b.publish("slot", {"slot_id": i}) for i in range(3)] == [start + 1, start + 2, start + 3]
        kept = [f"id: {start + i}".encode() for i in (1, 2, 3)]
        for old_id in (1, 2, 6, start - 1):  # ids an earlier run gave out
            sub = b.subscribe(last_event_id=old_id)
            assert sub.replay[0].startswith(b"event: reset")
            reset = json.loads(sub.replay[0].split(b"data: ", 1)[1])
            assert reset["last_event_id"] == old_id and reset["oldest_available"] == start + 1
            assert [f.split(b"\n", 1)[0] for f in sub.replay[1:]] == kept
        assert [f.split(b"\n", 1)[0] for f in b.subscribe(last_event_id=start).replay] == kept

    asyncio.run(scenario())


def test_fan_out_resume_and_reset() -> None:
    async def scenario() -> None:
        b = Broadcaster(history=5, client_buffer=100, start_id=0)
        first = b.subscribe()
        second = b.subscribe()
        ids = [b.publish("slot", {"slot_id": i}) for i in range(3)]
        assert ids == [1, 2, 3]
        for sub in (first, second):
            got = frames_of(sub)
            assert [e["id"] for e in got] == [1, 2, 3]
            assert [e["slot_id"] for e in got] == [0, 1, 2]
        b.unsubscribe(second)
        b.publish("control", {"mode": "HALTED"})
        assert second.queue.empty() and first.queue.qsize() == 1

        resumed = b.subscribe(last_event_id=2)
        assert [f.split(b"\n", 1)[0] for f in resumed.replay] == [b"id: 3", b"id: 4"]
        assert b.subscribe(last_event_id=4).replay == []
        for i in range(5):
            b.publish("slot", {"slot_id": i})  # ids 5..9; history keeps 5..9
        restarted = b.subscribe(last_event_id=500)  # an id from before a server restart
        assert len(restarted.replay) == 1 and restarted.replay[0].startswith(b"event: reset")
        late = b.subscribe(last_event_id=1)
        assert late.replay[0].startswith(b"event: reset")
        assert [f.split(b"\n", 1)[0] for f in late.replay[1:]] == [f"id: {i}".encode() for i in range(5, 10)]

    asyncio.run(scenario())


def test_slow_client_is_dropped_and_its_buffer_freed() -> None:
    async def scenario() -> None:
        drops: list[int] = []
        b = Broadcaster(history=10, client_buffer=4, on_drop=lambda: drops.append(1))
        slow = b.subscribe()
        fast = b.subscribe()
        for i in range(10):
            b.publish("slot", {"slot_id": i, "pad": "x" * 1000})
            frames_of(fast)  # the fast client keeps up
            assert slow.queue.qsize() <= 4  # never more than the buffer
        assert slow.dropped and slow.stop.is_set() and slow.queue.empty()
        assert not fast.dropped and b.clients == 1 and drops == [1] and b.dropped_clients == 1

    asyncio.run(scenario())


def test_close_ends_every_stream_now_and_later() -> None:
    async def scenario() -> None:
        b = Broadcaster(history=10, client_buffer=4)
        subs = [b.subscribe(), b.subscribe()]
        b.close()
        assert all(s.stop.is_set() and not s.dropped for s in subs) and b.clients == 0
        late = b.subscribe()
        assert late.stop.is_set() and b.clients == 0
        b.publish("slot", {"slot_id": 0})  # kept for nobody, refused by nobody
        assert all(s.queue.empty() for s in [*subs, late])

    asyncio.run(scenario())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="client_buffer"):
        Broadcaster(client_buffer=0)


def test_frames_are_strict_json() -> None:
    assert encode_json({"x": math.nan, "y": math.inf, "z": 1.5}) == '{"x":null,"y":null,"z":1.5}'
    # Integers past 64 bits (a client can send them) still encode, as do non-finite floats beside them.
    assert (
        encode_json({"big": 10**30, "x": [math.nan]}) == '{"big":1000000000000000000000000000000,"x":[null]}'
    )


def _stream_at_stop(client_reads_again: bool) -> tuple[list[dict[str, Any]], bool]:
    """An event stream whose client stopped reading (its socket full: every send of the stream's
    body waits, as uvicorn's waits for the socket to drain, the replayed event's first) while
    more events queue for it; then the server stops. Returns the events sent and whether the
    stream was ended."""
    from dita.gateway.app import EventStreamResponse
    from dita.gateway.metrics import GatewayMetrics

    async def scenario() -> tuple[list[bytes], bool]:
        b = Broadcaster(history=10, client_buffer=10, start_id=0)
        for i in range(2):
            b.publish("slot", {"slot_id": i})
        sub = b.subscribe(last_event_id=1)  # resumes: event 2 is replayed
        sent: list[MutableMapping[str, Any]] = []
        readable = asyncio.Event()

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body":
                await readable.wait()
            sent.append(message)

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()  # the client stays connected
            raise AssertionError("unreachable")

        response = EventStreamResponse(b, sub, 15.0, GatewayMetrics(None))
        task = asyncio.create_task(response({"type": "http"}, receive, send))
        for _ in range(20):
            await asyncio.sleep(0)  # the replayed event's send now waits for the client
        for i in range(2, 5):
            b.publish("slot", {"slot_id": i})  # queued for the client: ids 3 to 5
        b.close()  # the stop
        await asyncio.sleep(0.05)
        if client_reads_again:
            readable.set()
        await asyncio.wait_for(task, 5)
        bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
        ended = bool(sent) and sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        return bodies, ended

    bodies, ended = asyncio.run(scenario())
    parts = [part for body in bodies for part in body.split(b"\n\n") if part.startswith(b"id: ")]
    return [orjson.loads(part.split(b"data: ", 1)[1]) for part in parts], ended


def test_a_stop_sends_the_events_queued_for_a_client_before_ending_its_stream() -> None:
    """At a stop, a client behind by a few events (its socket full for a moment) got the end
    of the stream without them, the frame being written and those queued dropped: a clean end
    that told it nothing was missing, and the events gone with the server."""
    events, ended = _stream_at_stop(client_reads_again=True)
    assert [e["id"] for e in events] == [2, 3, 4, 5]
    assert ended


def test_a_stop_gives_up_a_client_that_does_not_read_without_ending_its_stream() -> None:
    """One that does not read within the second is cut off, not ended: it can tell it missed
    the rest, and it does not hold the stop."""
    started = time.monotonic()
    events, ended = _stream_at_stop(client_reads_again=False)
    assert events == [] and not ended
    assert time.monotonic() - started < 4
