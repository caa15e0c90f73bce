"""A read's X-Last-Event-Id is at or above the id of every event a lane call before it published:
a lane call's events are given their ids on the lane, as they are published, and sent to the
streams later on the event loop, in the order of their ids (an event published on the loop
meanwhile goes after them)."""

from __future__ import annotations

import asyncio
import threading
import time

from dita import ExecutionKernel
from dita.gateway.config import GatewaySettings
from dita.gateway.events import Broadcaster
from dita.gateway.state import GatewayState


def test_a_read_after_a_lane_call_that_published_carries_an_id_at_or_above_its_event() -> None:
    async def scenario() -> tuple[int, int]:
        kernel = ExecutionKernel(max_slots=2, kernel_id="r206-last-event-id")
        kernel.set_seed_capital(1e6)
        state = GatewayState(kernel, GatewaySettings(token="t" * 32))
        go = threading.Event()

        def change_and_publish() -> None:  # a POST /v1/intents, a polling round
            go.wait(5)
            state.publish("slot", kernel.slot_dict(0))

        changed = state.lane.queue(change_and_publish)
        read = asyncio.ensure_future(state.read(lambda: kernel.slot_dict(0)))  # GET /v1/slots/0
        await asyncio.sleep(0)  # the read is queued behind the change
        go.set()
        time.sleep(0.3)  # the event loop busy (other requests, streams) while the lane runs both
        await changed
        _, read_id = await read
        await asyncio.sleep(0.05)
        event_id = state.broadcaster.last_id  # the id the change's slot event was given
        kernel.close()
        return read_id, event_id

    read_id, event_id = asyncio.run(scenario())
    # The read ran after the call that published the event: it holds that event's state, and a
    # client keeping "an event above the read's id over the read" must not prefer the event.
    assert read_id >= event_id


def test_an_event_published_on_the_loop_goes_after_a_lane_event_on_its_way() -> None:
    async def scenario() -> list[bytes]:
        broadcaster = Broadcaster(start_id=100)
        sub = broadcaster.subscribe()
        loop = asyncio.get_running_loop()
        lane = threading.Thread(target=broadcaster.publish_later, args=(loop, "slot", {"slot_id": 0}))
        lane.start()
        lane.join()
        assert broadcaster.last_id == 101  # given on the lane, not yet sent
        assert broadcaster.publish("control", {"mode": "HALTED"}) == 102
        frames = [await sub.next_frame(1.0), await sub.next_frame(1.0)]
        assert broadcaster.subscribe(last_event_id=100).replay == frames
        return frames

    first, second = asyncio.run(scenario())
    assert first.startswith(b"id: 101\nevent: slot\n")
    assert second.startswith(b"id: 102\nevent: control\n")
