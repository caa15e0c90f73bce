"""The dead-man switch in the HTTP gateway: heartbeats and intents keep the strategy heard
from; silence past the limit puts the kernel in REDUCE_ONLY, checked on the gateway's poll."""

from __future__ import annotations

import logging
import time
import types
from typing import Any

import pytest
from tests.gateway.helpers import AUTH, ENTER_ONE, start_server, wait_until

from dita.runtime.dead_man import DeadManSettings, DeadManSwitch


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


POLL_S = 0.5  # the gateway's round (polling.CONTROL_WATCH_S)


def test_the_strategy_silent_past_its_limit_puts_the_kernel_in_reduce_only() -> None:
    clock = FakeClock()
    settings = DeadManSettings(strategy_silence_s=30)
    live = start_server(max_slots=2, dead_man=lambda kernel: DeadManSwitch(kernel, settings, clock=clock))
    try:
        c = live.client
        assert c.post("/v1/heartbeat").status_code == 401
        beat = c.post("/v1/heartbeat", headers=AUTH)
        assert beat.status_code == 200, beat.text
        assert beat.json()["dead_man"]["limits_s"] == {"strategy": 30.0}
        clock.now += 20
        assert c.post("/v1/heartbeat", headers=AUTH).status_code == 200
        clock.now += 20
        assert c.post("/v1/intents", json=ENTER_ONE, headers=AUTH).status_code == 200

        def silent_s() -> float:
            return float(c.get("/v1/dead-man").json()["dead_man"]["silent_s"]["strategy"])

        # The intent seen by a check (the kernel's count of intents moved) before the clock moves
        # on: a check that came later would hear it 20 s late. 20 s silent until then.
        wait_until(lambda: silent_s() == 0.0)
        clock.now += 20  # 60 s since the start, 20 since the intent
        time.sleep(3 * POLL_S)
        assert c.get("/v1/control").json()["mode"] == "PAPER"
        clock.now += 11
        control = wait_until(lambda: (r := c.get("/v1/control").json())["mode"] == "REDUCE_ONLY" and r)
        assert control["source"] == "dead-man switch: the strategy process silent for 31.0s (limit 30s)"
        status = c.get("/v1/dead-man").json()["dead_man"]
        assert status["tripped"] == ["strategy"]
        (trip,) = status["trips"]
        assert (trip["source"], trip["silent_s"], trip["limit_s"], trip["action"]) == (
            "strategy",
            31.0,
            30.0,
            "REDUCE_ONLY",
        )
    finally:
        live.stop()


def test_without_a_switch_a_heartbeat_is_taken_and_says_so() -> None:
    live = start_server(max_slots=1)
    try:
        assert live.client.post("/v1/heartbeat", headers=AUTH).json() == {"dead_man": None}
        assert live.client.get("/v1/dead-man").json() == {"dead_man": None}
    finally:
        live.stop()


def test_a_check_that_keeps_raising_is_logged_once_until_one_passes(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    readable = {"now": False}

    def stream_status() -> Any:
        if not readable["now"]:
            raise ConnectionError("user stream: no state yet (reconnecting)")
        return types.SimpleNamespace(since_last_frame_s=0.0)

    settings = DeadManSettings(streams_silence_s=60)
    switch = lambda kernel: DeadManSwitch(kernel, settings, clock=clock, stream_status=stream_status)  # noqa: E731

    def said() -> int:
        return sum("dead-man switch's check raised" in r.getMessage() for r in caplog.records)

    caplog.set_level(logging.ERROR, logger="dita")
    live = start_server(max_slots=1, dead_man=switch)
    try:
        wait_until(lambda: said() == 1)
        time.sleep(4 * POLL_S)
        assert said() == 1
        readable["now"] = True
        time.sleep(3 * POLL_S)
        readable["now"] = False
        wait_until(lambda: said() == 2)
    finally:
        live.stop()
