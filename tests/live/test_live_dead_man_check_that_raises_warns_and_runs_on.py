"""A live run whose dead-man check raises (the trip's kernel call refused, the kernel busy in
another thread's call past its wait) says so as a warning, once, and trades on: the next check
makes the trip. Ending the run on it would stop the strategies the switch watches, the trip's
mode never set."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from bare_run import bare_run

from dita import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch
from dita.strategy import Bar, Strategy


class BusyOnce(ExecutionKernel):
    """A kernel another thread holds past the wait the first time a trip asks it for a change."""

    busy = True

    def update_control(self, *args: Any, **kwargs: Any) -> Any:
        if self.busy and kwargs.get("source", "").startswith("dead-man switch"):
            self.busy = False
            raise RuntimeError("kernel busy: another thread has been inside the kernel for 10 s")
        return super().update_control(*args, **kwargs)


class SilentPlane:
    """A control plane whose last successful read of the cluster is long past."""

    def status(self) -> dict[str, Any]:
        return {"last_sync_at": 0.0}


class Counts(Strategy[Any]):
    def on_start(self) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1


class Bars:
    """A bar every 10 ms until the run is asked to stop."""

    def items(self, should_stop: Callable[[], bool], not_before: float) -> Iterator[Bar]:
        ts = 1.7e9
        while not should_stop():
            ts += 1.0
            time.sleep(0.01)
            yield Bar("AAA", ts, 100.0, 101.0, 99.0, 100.0, 1.0)

    def close(self) -> None:
        return None


def _eventually(done: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    return done()


def test_a_dead_man_check_that_raises_is_warned_of_once_and_the_run_trips_at_the_next() -> None:
    kernel = BusyOnce(max_slots=2, kernel_id="live-dead-man-busy")
    kernel.set_seed_capital(10_000.0)
    kernel.update_control(mode="LIVE", source="operator")
    runtime = TradingRuntime(kernel, [])
    strategy = Counts(name="counts")
    runtime.add_strategy(strategy)
    said: list[str] = []
    run = bare_run(runtime, said, Bars())
    run.dead_man = DeadManSwitch(
        kernel, DeadManSettings(control_plane_silence_s=0.5), control_plane=SilentPlane()
    )
    with kernel:
        run.start()
        try:
            assert _eventually(lambda: kernel.control()["mode"] == "REDUCE_ONLY"), said
            bars_at_the_trip = strategy.bars
            assert _eventually(lambda: strategy.bars > bars_at_the_trip)  # it trades on
        finally:
            run.stop()
            run.dead_man.close()
        assert run.failure is None, said
        warned = [line for line in said if "dead-man switch's check raised" in line]
        assert len(warned) == 1 and "kernel busy" in warned[0] and warned[0].startswith("warning:"), said
        assert [t["source"] for t in run.dead_man.status()["trips"]] == ["control_plane"]
