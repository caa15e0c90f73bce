"""The event history and every client's buffer are bounded in bytes as well as in count: an
event's size follows the slots' metadata, so with large metadata a bound in count alone let the
gateway grow by hundreds of MiB. The figures are in /metrics."""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path

import httpx
import orjson
import pytest

from dita.gateway.events import Broadcaster
from gateway.helpers import AUTH, TOKEN
from gateway.test_cli import serve

PAD = "x" * 1000


def test_the_history_keeps_at_most_its_bytes_the_oldest_going_first() -> None:
    b = Broadcaster(history=10_000, history_bytes=10_000, start_id=0)
    for i in range(100):
        b.publish("slot", {"slot_id": i, "pad": PAD})
    assert b.history_bytes <= 10_000
    assert 5 <= b.history_events < 10
    # A client resuming from an event no longer kept is told to reset, then gets what is kept.
    sub = b.subscribe(last_event_id=50)
    assert sub.replay[0].startswith(b"event: reset")
    assert len(sub.replay) == b.history_events + 1


def test_a_client_lagging_past_its_bytes_is_dropped_and_one_keeping_up_is_not() -> None:
    async def scenario() -> None:
        b = Broadcaster(history=100, client_buffer=1_000, client_buffer_bytes=5_000)
        slow, fast = b.subscribe(), b.subscribe()
        for i in range(20):
            b.publish("slot", {"slot_id": i, "pad": PAD})
            fast.take_ready(deque(), 1_000)  # keeps up
            assert slow.queued_bytes <= 5_000 + 2 * 1_200  # the bound, and its oldest and newest call
        assert slow.dropped and slow.queued_bytes == 0 and slow.queue.empty()
        assert not fast.dropped and fast.queued_bytes == 0
        assert b.buffered_bytes == 0

    asyncio.run(scenario())


def test_a_frame_larger_than_the_buffer_reaches_a_client_that_read_every_other() -> None:
    async def scenario() -> None:
        b = Broadcaster(client_buffer_bytes=100)
        sub = b.subscribe()
        b.publish("slot", {"slot_id": 0, "pad": PAD})
        assert not sub.dropped
        frames: deque[bytes] = deque()
        sub.take_ready(frames, 10)
        assert b"x" * 1000 in frames[0] and sub.queued_bytes == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("field", ["history", "client_buffer", "history_bytes", "client_buffer_bytes"])
def test_a_bound_below_one_is_refused_naming_it(field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be >= 1, got 0"):
        Broadcaster(**{field: 0})  # type: ignore[arg-type]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_gateway_fed_large_slots_stays_within_its_history_bytes() -> None:
    """100 slots with the most metadata an intent may carry (32 keys of 256 characters): each
    mark publishes a frame of about 10 KB per slot. Bounded by count alone, 150 marks grow the
    history past 100 MiB; bounded at 4 MiB, the gateway's resident memory stays near it."""
    metadata = {f"k{i:02d}": "m" * 256 for i in range(32)}
    env = {"DITA_GATEWAY_SSE_HISTORY_BYTES": str(4 << 20), "DITA_GATEWAY_TOKEN": TOKEN}
    with serve("--max-slots", "100", "--seed-capital", "1e12", env=env) as (proc, url):
        with httpx.Client(base_url=url, timeout=30) as client:
            for slot in range(100):
                intent = {
                    "action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1,
                    "reference_price": 100, "slot_id": slot, "metadata": metadata,
                }  # fmt: skip
                assert client.post("/v1/intents", json=intent, headers=AUTH).status_code == 200
            client.post("/v1/marks", json={"asset": "BTC", "price": 100.5}, headers=AUTH)
            before = _rss_mib(proc.pid)
            for i in range(150):
                answer = client.post("/v1/marks", json={"asset": "BTC", "price": 101 + i % 7}, headers=AUTH)
                assert answer.status_code == 200, answer.text
            grown = _rss_mib(proc.pid) - before
            metrics = client.get("/metrics").text
    figures = dict(
        line.split(" ", 1) for line in metrics.splitlines() if line.startswith("dita_gateway_sse_history")
    )
    assert float(figures["dita_gateway_sse_history_bytes"]) <= 4 << 20
    assert float(figures["dita_gateway_sse_history_bytes_limit"]) == 4 << 20
    assert float(figures["dita_gateway_sse_history_events"]) < 10_000
    assert grown < 40, f"the gateway grew by {grown:.0f} MiB"


def test_the_event_frames_are_counted_as_sent() -> None:
    b = Broadcaster(start_id=0)
    b.publish("account", {"capital": 1.0})
    (event_id, frame) = b._history[0]
    assert b.history_bytes == len(frame) and orjson.loads(frame.split(b"data: ", 1)[1])["id"] == event_id
