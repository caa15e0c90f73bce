"""A frame the event stream's pump has taken off a client's queue no longer counts in the
client's buffer, even while the pump waits to resume: Python 3.11's asyncio.wait_for runs the
wait in a task of its own, and a lane's events come by call_soon_threadsafe, so a publish can
land between the two. Counted there, the frame the client read would put a client that kept
up over its bound (dropped), and the pump would then count out of an emptied buffer (an
IndexError out of the event stream's response)."""

from __future__ import annotations

import asyncio

from dita.gateway.events import Broadcaster


async def _publish_while_the_pump_resumes() -> tuple[bool, BaseException | bytes]:
    broadcaster = Broadcaster(client_buffer=1, start_id=0)
    sub = broadcaster.subscribe()
    pump = asyncio.create_task(sub.next_frame(5))
    await asyncio.sleep(0)  # the pump waits on the queue
    broadcaster.publish("slot", {"n": 1}, call=1)
    while not sub.queue.empty():  # the wait takes the frame; the pump has not resumed yet
        await asyncio.sleep(0)
    assert not pump.done()
    broadcaster.publish("slot", {"n": 2}, call=2)  # the next kernel call's event
    try:
        got: BaseException | bytes = await pump
    except Exception as exc:
        got = exc
    return sub.dropped, got


def test_a_client_that_read_every_earlier_call_is_kept_and_its_pump_does_not_raise() -> None:
    dropped, got = asyncio.run(_publish_while_the_pump_resumes())
    assert not isinstance(got, Exception), f"next_frame raised {type(got).__name__}: {got}"
    assert got.startswith(b"id: 1\n")
    assert not dropped, "dropped while it held one call's events (sse_client_buffer=1)"


def test_a_frame_taken_after_its_client_was_dropped_counts_nothing() -> None:
    async def drop_then_take() -> bytes:
        broadcaster = Broadcaster(client_buffer=1, start_id=0)
        sub = broadcaster.subscribe()
        broadcaster.publish("slot", {"n": 1}, call=1)
        frame = sub.queue.get_nowait()  # taken, not counted out yet
        broadcaster.publish("slot", {"n": 2}, call=2)  # two calls counted: dropped, buffer cleared
        assert sub.dropped and not sub.calls
        sub._taken(frame)
        assert sub.queued_bytes == 0
        return frame

    assert asyncio.run(drop_then_take()).startswith(b"id: 1\n")
