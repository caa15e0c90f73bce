"""An event stream client is dropped for falling behind, never because one kernel call (a mark
over many slots, a flatten) published more events than its buffer holds: the buffer counts
kernel calls, and bytes beyond the oldest call's."""

from __future__ import annotations

import asyncio
from collections import deque

import httpx

from dita.gateway.events import Broadcaster
from gateway.helpers import AUTH, enter, read_sse, start_server
from gateway.test_http import metric

PAD = "x" * 1000


def test_a_client_keeping_up_gets_a_burst_larger_than_its_buffer() -> None:
    """A mark over 40 open slots publishes the account and 40 slots in one call: with
    sse_client_buffer 1, a buffer counted in events would drop a client reading every event at
    the second."""
    live = start_server(max_slots=40, sse_client_buffer=1)
    try:
        c = live.client
        for i in range(40):
            assert enter(c, asset="BTC", intent_id=f"e{i}")["accepted"]
        with httpx.Client(base_url=live.url, timeout=10.0) as sse, sse.stream("GET", "/v1/events") as stream:
            lines = stream.iter_lines()
            c.post("/v1/marks", json={"asset": "BTC", "price": 101}, headers=AUTH).raise_for_status()
            events = read_sse(lines, 41)
            assert [e.event for e in events] == ["account", *["slot"] * 40]
            assert sorted(e.data["slot_id"] for e in events[1:]) == list(range(40))
            # Still connected: the next call's events come too.
            c.put("/v1/control", json={"verbosity": "QUIET"}, headers=AUTH).raise_for_status()
            (control,) = read_sse(lines, 1)
            assert control.event == "control"
        assert metric(c.get("/metrics").text, "dita_gateway_sse_dropped_clients_total") == 0
    finally:
        live.stop()


def test_a_client_holding_more_calls_than_its_buffer_is_dropped() -> None:
    async def scenario() -> None:
        b = Broadcaster(client_buffer=3, client_buffer_bytes=64 << 10)
        slow, fast = b.subscribe(), b.subscribe()
        for call in range(3):
            for i in range(50):  # each call's burst is far beyond 3 events
                b.publish("slot", {"slot_id": i}, call)
            fast.take_ready(deque(), 1_000)
        assert not slow.dropped and slow.queue.qsize() == 150
        b.publish("account", {"capital": 1.0}, 3)  # a fourth call it has not read
        assert slow.dropped and slow.queue.empty() and slow.queued_bytes == 0
        assert not fast.dropped and b.clients == 1

    asyncio.run(scenario())


def test_bytes_are_counted_beyond_the_oldest_and_the_newest_call_a_client_holds() -> None:
    async def scenario() -> None:
        b = Broadcaster(client_buffer=100, client_buffer_bytes=5_000)
        sub = b.subscribe()
        for i in range(20):  # one call of 20 KB: the client read every other
            b.publish("slot", {"slot_id": i, "pad": PAD}, 1)
        for i in range(20):  # another of 20 KB, the client still reading the first
            b.publish("slot", {"slot_id": i, "pad": PAD}, 2)
        assert not sub.dropped and sub.queued_bytes > 40_000
        for i in range(5):  # 5 KB of a third call: the second is now between the two
            b.publish("slot", {"slot_id": i, "pad": PAD}, 3)
        assert sub.dropped and b.buffered_bytes == 0

    asyncio.run(scenario())


def test_a_client_one_event_behind_takes_a_burst_beyond_its_bytes() -> None:
    async def scenario() -> None:
        b = Broadcaster(client_buffer=100, client_buffer_bytes=5_000)
        sub = b.subscribe()
        b.publish("slot", {"slot_id": 0, "pad": PAD}, 1)  # not read yet
        for i in range(40):  # a mark over 40 slots: 40 KB in one call
            b.publish("slot", {"slot_id": i, "pad": PAD}, 2)
        assert not sub.dropped and sub.queue.qsize() == 41

    asyncio.run(scenario())


def test_events_published_outside_a_call_count_one_each() -> None:
    async def scenario() -> None:
        b = Broadcaster(client_buffer=2)
        sub = b.subscribe()
        b.publish("control", {"mode": "HALTED"})
        b.publish("control", {"mode": "LIVE"})
        assert not sub.dropped
        b.publish("control", {"mode": "HALTED"})
        assert sub.dropped

    asyncio.run(scenario())
